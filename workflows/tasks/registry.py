"""The registry of task kinds. Task.kind holds a registered kind's name."""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms


class TaskError(Exception):
    """A permanent task failure; the message tells the admin what to fix."""


class TemporaryTaskError(TaskError):
    """A failure that may pass (a provider outage, a lock): the run is retried with backoff."""


@dataclass(frozen=True)
class TaskKind:
    name: str
    label: str
    config_form: type[forms.Form]
    run: Callable  # run(context: TaskContext) -> dict[str, str] of outputs
    outputs: tuple[str, ...] = ()


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
