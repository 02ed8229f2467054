"""Shared pieces of the workflows admin: known fields and small HTML renderings."""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.forms.utils import pretty_name
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from directory.forms import KeyValueField
from workflows.models import Task, Workflow
from workflows.selectors import may_act_as_workflow_owner
from workflows.tasks import registry
from workflows.validation import task_warnings

MAX_WSDL_BYTES = 2 * 1024 * 1024
# A row id as links put it in a query string. str.isdigit() would also pass "²" and thousands of
# digits, on which int() and the id lookup raise; 18 digits fit a bigint.
_ROW_ID = re.compile(r"[0-9]{1,18}")
KNOWN_FIELDS_DATALIST = "known-event-fields"


class UserNamedAsTextMixin:
    """For a model admin or inline whose `user_fields` are foreign keys to users. Read-only (on a
    view-only page, or always), Django links such a field to the user's admin page, which staff
    without the rights to view users cannot open: for them each is shown by its `<field>_name`
    display method instead, as text. A subclass's get_readonly_fields must extend super()'s."""

    user_fields: tuple[str, ...] = ()

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self._may_open_user_pages(request):
            return fieldsets
        editable = self._user_fields_editable(request, obj)
        readonly = set(self.get_readonly_fields(request, obj))
        named = {field: f"{field}_name" for field in self.user_fields if field in readonly or not editable}
        return [
            (title, {**options, "fields": [named.get(name, name) for name in options["fields"]]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        # An inline's form takes every field its fieldsets name unless it is read-only.
        return [*super().get_readonly_fields(request, obj), *(f"{field}_name" for field in self.user_fields)]

    def _user_fields_editable(self, request, obj) -> bool:
        if isinstance(self, admin.ModelAdmin):
            return self.has_add_permission(request) if obj is None else self.has_change_permission(request, obj)
        # An inline's new rows need the field whenever it may add: without it, a row was offered
        # and saved without its user, which the database refuses (a 500).
        return self.has_add_permission(request, obj) or self.has_change_permission(request, obj)

    def _may_open_user_pages(self, request) -> bool:
        user_model = get_user_model()
        if not self.admin_site.is_registered(user_model):
            return False
        return self.admin_site.get_model_admin(user_model).has_view_or_change_permission(request)


def is_row_id(text: str) -> bool:
    """Whether a query-string value can be looked up as a row id (ASCII digits, at most 18)."""
    return _ROW_ID.fullmatch(text) is not None


def known_event_fields(workflow: Workflow | None) -> dict[str, str] | None:
    """The fields piped text is checked against (field API name -> XSD type, "" when the WSDL gives
    none): only a WSDL's list is complete enough to refuse. None without a WSDL."""
    if workflow is None or not workflow.fields_from_wsdl:
        return None
    return dict(workflow.known_fields)


def value_table(data: dict) -> str:
    if not data:
        return "—"
    rows = format_html_join(
        "", "<tr><th>{}</th><td>{}</td></tr>", ((key, "(null)" if val is None else val) for key, val in data.items())
    )
    return format_html('<table class="data-table"><tbody>{}</tbody></table>', rows)


# --- Workflow --------------------------------------------------------------------------------


def may_see_event_url(model_admin, request, workflow: Workflow | None) -> bool:
    """Whether the admin shows the workflow's event URL with its token (the endpoint's only
    credential: whoever has it starts runs acting with the owner's permissions). The change
    permission, as rotating the token takes, held by the owner or a superuser; anyone else sees
    the URL masked."""
    return model_admin.has_change_permission(request, workflow) and (
        workflow is None or may_act_as_workflow_owner(user=request.user, workflow=workflow)
    )


def event_url_for(model_admin, request, workflow: Workflow) -> str:
    return workflow.event_url if may_see_event_url(model_admin, request, workflow) else workflow.masked_event_url


def event_url_masked_in(text: str, model_admin, request, workflow: Workflow) -> str:
    """`text` (e.g. a stored delivery note) with the workflow's event URL as this user may see it."""
    if may_see_event_url(model_admin, request, workflow):
        return text
    return workflow.without_token(text)


def task_summary(task: Task, limit: int = 140) -> str:
    """The task's filled-in settings on one line, labelled as in its form."""
    kind = registry.find(task.kind)
    if kind is None:
        return f"Unknown kind {task.kind!r}: the app that provides it is not installed."
    parts = []
    for name, field in kind.config_form().fields.items():
        value = task.config.get(name)
        if not value:
            continue
        if isinstance(field, KeyValueField):
            value = ", ".join(str(row[0]) for row in value)
        elif isinstance(field, forms.ChoiceField):
            # A choice that is gone (a deleted survey) says so, rather than showing its bare id.
            value = dict(field.choices).get(value, f"{value} (no longer exists: choose another)")
        parts.append(f"{field.label or pretty_name(name)}: {value}")
    return Truncator("; ".join(parts)).chars(limit) or "—"


def warn_about_task(model_admin, request, task: Task) -> None:
    """A warning per problem that would fail the saved task's runs although its config is valid."""
    for problem in task_warnings(task):
        model_admin.message_user(
            request, f"Task {task} is saved, but its runs will fail until this is fixed: {problem}", messages.WARNING
        )
