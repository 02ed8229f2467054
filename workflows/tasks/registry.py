"""The registry of task kinds. Task.kind holds a registered kind's name."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django import forms

if TYPE_CHECKING:  # context.py imports this module
    from workflows.tasks.context import TaskContext


class TaskError(Exception):
    """A permanent task failure; the message tells the admin what to fix."""


class TemporaryTaskError(TaskError):
    """A failure that may pass (a provider outage, a lock): the run is retried with backoff."""


@dataclass(frozen=True)
class TaskKind:
    """A kind of task. `run(context)` executes one run's task: it returns the outputs, or raises a
    TaskError (a TemporaryTaskError to be retried later); its writes commit with its TaskRun.

    `run_batch(contexts)`, optional, executes the same task for many runs at once. All contexts
    belong to the same task of the same workflow and are first attempts. The engine calls it inside
    a transaction it opened and writes the TaskRun rows in that same transaction. It returns, per
    context and in their order, the outputs dict or the TaskError instance of that item (a
    TemporaryTaskError: retry that run later); an item that fails must have written nothing. If it
    raises (or returns a list of another length, or an item of another type), the whole batch is
    rolled back and each of those runs is executed alone through `run`. Kinds without it are
    executed one run at a time.
    """

    name: str
    label: str
    config_form: type[forms.Form]
    run: Callable  # run(context: TaskContext) -> dict[str, str] of outputs
    outputs: tuple[str, ...] = ()
    run_batch: Callable[[list["TaskContext"]], list[dict | TaskError]] | None = None


_KINDS: dict[str, TaskKind] = {}


def register(kind: TaskKind) -> None:
    _KINDS[kind.name] = kind


def get(name: str) -> TaskKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise TaskError(f"Unknown task kind {name!r}: the app that provides it is not installed.") from None


def find(name: str) -> TaskKind | None:
    return _KINDS.get(name)


def kinds() -> list[TaskKind]:
    return list(_KINDS.values())


def kind_label(name: str) -> str:
    kind = find(name)
    return kind.label if kind else name


def choices() -> list[tuple[str, str]]:
    return [(kind.name, kind.label) for kind in _KINDS.values()]
