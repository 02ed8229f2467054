"""The registry of task kinds. Task.kind holds a registered kind's name."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django import forms

if TYPE_CHECKING:  # context.py imports this module
    from workflows.models import Workflow
    from workflows.tasks.context import TaskContext


class TaskError(Exception):
    """A permanent task failure; the message tells the admin what to fix."""


class TemporaryTaskError(TaskError):
    """A failure that may pass (a provider outage, a lock): the run is retried with backoff."""


@dataclass(frozen=True)
class TaskKind:
    """A kind of task, executed by `run_batch(contexts)` or by `run(context)` (give one of them).

    `run_batch(contexts)` executes the same task for one or more runs at once: all contexts belong
    to the same task of the same workflow (first attempts and retries alike). The engine calls it
    inside a transaction it opened and writes the TaskRun rows in that same transaction. It
    returns, per context and in their order, the outputs dict or the TaskError instance of that
    item (a TemporaryTaskError: retry that run later); an item that fails must have written
    nothing. If it raises (or returns a list of another length, or an item of another type), the
    whole batch is rolled back and each of those runs is executed again as a batch of one, whose
    exception is that run's error. A single run is a batch of one: there is no other path.

    `run(context)`, for a kind that has no use for batches, executes one run's task: it returns the
    outputs, or raises a TaskError (a TemporaryTaskError to be retried later); the engine calls it
    once per run, each in its own transaction with its TaskRun.

    A config links to rows of its installation (a survey) by id, so renaming the row keeps the
    link. An export document names them instead, so it imports elsewhere: `export_config(config)`
    returns the config as a document holds it, and `import_config(config)` the config a document
    holds with names resolved to this installation's ids, raising django's ValidationError (by
    config key) for a name that resolves to no row or to several. Kinds without links omit both.

    `config_warnings(config, workflow)`, optional, lists what would make a saved task fail when it
    runs although its config is valid (a survey not active yet): the admin shows each as a warning,
    not an error, since it may be fixed before the first run.

    `recipient_fields` names the config fields that say who the task sends to, the address
    first (the distribute task: email, then the other fields that find the contact). A kind with
    them reaches real people: sending a test event asks for a confirmation, and a test event's
    test address replaces the first field's value and empties the others for that run only, so
    the contact found and sent to is the test address's, never the person the event names.

    `outputs_kept_on_erasure` names the outputs that hold nothing of the person a task run acted
    on (the product's own ids and labels). When that contact is deleted, every other output of
    the task run is erased (workflows/services/erasure.py): an output that copies the contact's
    phone, email or name, or quotes them in a message, must not be listed. ContactId always stays.

    `contact_fields` names the config fields that find the contact a kind saves (one taking
    `workflows.tasks.contacts.ContactFieldsForm`: `CONTACT_FIELDS`, the email first). A test
    event's test address takes the first one's place and the others are emptied in the same way,
    so a test saves its contact under the test address and never finds and changes the real one;
    sending a test event asks for the test address (or a confirmation) for such a kind too.
    """

    name: str
    label: str
    config_form: type[forms.Form]
    run: Callable[["TaskContext"], dict[str, str]] | None = None
    outputs: tuple[str, ...] = ()
    run_batch: Callable[[list["TaskContext"]], list[dict | TaskError]] | None = None
    export_config: Callable[[dict], dict] | None = None
    import_config: Callable[[dict], dict] | None = None
    config_warnings: Callable[[dict, "Workflow"], list[str]] | None = None
    recipient_fields: tuple[str, ...] = ()
    outputs_kept_on_erasure: tuple[str, ...] = ()
    contact_fields: tuple[str, ...] = ()

    @property
    def test_address_fields(self) -> tuple[str, ...]:
        """The config fields a test event's test address stands in for: it replaces the first
        (the contact's email, else the recipient's address), the others are emptied."""
        return tuple(dict.fromkeys((*self.contact_fields, *self.recipient_fields)))

    def __post_init__(self):
        if (self.run is None) == (self.run_batch is None):
            raise TypeError(f"Task kind {self.name!r}: give it run or run_batch, one of the two.")
        if unknown := set(self.outputs_kept_on_erasure) - set(self.outputs):
            raise TypeError(f"Task kind {self.name!r}: it keeps on erasure outputs it has not: {sorted(unknown)}.")


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
