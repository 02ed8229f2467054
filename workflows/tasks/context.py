"""What a task kind's run() receives: its config, the piped-text sources, and a notebook."""

from dataclasses import dataclass, field

from workflows.piping import PipingSources, render
from workflows.tasks.registry import TaskError


@dataclass
class TaskContext:
    run_id: int
    position: int
    workflow: object  # workflows.models.Workflow; typed loosely to keep kinds free of model imports
    config: dict
    sources: PipingSources
    resolved_input: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # config field -> the value it takes instead of its piped text (a test event's test address)
    overrides: dict[str, str] = field(default_factory=dict)

    def pipe(self, key: str, *, html: bool = False, for_reader: bool = False) -> str:
        """Render one config field's piped text (or return its override). `html`, `for_reader`: as
        workflows.piping.render takes them."""
        if key in self.overrides:
            self.resolved_input[key] = self.overrides[key]
            return self.overrides[key]
        return self.render(self.config.get(key) or "", record_as=key, html=html, for_reader=for_reader)

    def render(self, template: str, *, record_as: str, html: bool = False, for_reader: bool = False) -> str:
        """Render piped text, recording the value and what resolved empty for Workflow Reporting."""
        rendered = render(template, self.sources, html=html, for_reader=for_reader)
        value = rendered.text.strip()
        self.resolved_input[record_as] = value
        for token in rendered.missing:
            note = f"{token} resolved to empty"
            if note not in self.notes:
                self.notes.append(note)
        return value

    def require(self, key: str, label: str) -> str:
        """Like pipe(), but an empty result is a task error naming the field that was piped."""
        value = self.pipe(key)
        if value:
            return value
        template = (self.config.get(key) or "").strip()
        if not template:
            raise TaskError(f"{label} is required: fill the task's {label} field.")
        raise TaskError(
            f"{label} is required, but {template} was empty in this notification. Check that the "
            "Salesforce outbound message sends that field and that the record has a value."
        )
