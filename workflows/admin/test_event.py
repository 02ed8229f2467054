"""Send a test event from the workflow's page: the form, and the page that follows its run.

Sending one adds runs, as a replay does, so it takes the same permissions: view and add run,
besides seeing the workflow.
"""

from django import forms
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from workflows.admin.display import event_url_for, event_url_masked_in
from workflows.models import Run, TestEvent, Workflow
from workflows.salesforce.values import InvalidValue, check_lexical_form
from workflows.selectors import may_act_as_workflow_owner
from workflows.services.test_events import (
    FieldDefault,
    tasks_reaching_people,
    tasks_saving_contacts,
    test_event_create,
    test_event_fields,
    test_event_runs,
)

TEST_EVENT_PERMISSIONS = ("workflows.view_run", "workflows.add_run")
FIELD_PREFIX = "event__"
REFRESH_SECONDS = 2


def _sent_as(xsd_type: str):
    def validate(value: str) -> None:
        try:
            check_lexical_form(value, xsd_type)
        except InvalidValue as error:
            raise forms.ValidationError(
                f"{error} Salesforce sends this field (xsd:{xsd_type} in the WSDL) only in that form; "
                "leave it empty for no value."
            ) from None

    return validate


class TestEventForm(forms.Form):
    """One text field per event field (named FIELD_PREFIX + API name), more as Name=value lines,
    and, when a task sends to people or saves them as contacts, a test address or the confirmation
    to use the people the event names."""

    more_fields = forms.CharField(
        required=False,
        label="Other fields",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Name=value, one per line, for fields the workflow does not know yet.",
    )
    test_recipient = forms.EmailField(
        required=False,
        label="Test address",
        help_text="For this test only, every task that saves or emails the person the event names uses this "
        "address instead: the contact is saved (and invited) under it, with no external data reference or "
        "phone, so the real contact is neither found nor changed and gets nothing.",
    )
    send_to_people = forms.BooleanField(
        required=False,
        label="No test address: send to the people the event names",
    )

    def __init__(self, *args, fields: list[FieldDefault], reaching_people: list, saving_contacts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.reaching_people = reaching_people
        self.saving_contacts = list(saving_contacts)
        for default in fields:
            kind = f" ({default.salesforce_type})" if default.salesforce_type else ""
            self.fields[FIELD_PREFIX + default.name] = forms.CharField(
                required=False,
                label=f"{default.name}{kind}",
                initial=default.value,
                widget=forms.TextInput(attrs={"size": 50}),
                # Salesforce sends a field only in its type's form: a test with another value tests
                # a message that never comes (its conditions compare it as text, its tasks fail).
                validators=[_sent_as(default.salesforce_type)] if default.salesforce_type else [],
            )
        if not reaching_people and not self.saving_contacts:
            del self.fields["test_recipient"], self.fields["send_to_people"]
        elif not reaching_people:
            self.fields["send_to_people"].label = "No test address: save the contacts the event names"
        # The known fields first, as Salesforce lists them; then the rest of the form.
        self.order_fields([name for name in self.fields if name.startswith(FIELD_PREFIX)])

    def event_fields(self):
        return [self[name] for name in self.fields if name.startswith(FIELD_PREFIX)]

    def recipient_fields(self):
        return [self[name] for name in ("test_recipient", "send_to_people") if name in self.fields]

    def clean_more_fields(self):
        values = {}
        for number, line in enumerate(self.cleaned_data["more_fields"].splitlines(), start=1):
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals or not name.strip():
                raise forms.ValidationError(f"Line {number} is not Name=value: {line.strip()!r}.")
            if FIELD_PREFIX + name.strip() in self.fields:
                # It would replace what its own field says, unchecked against the field's type.
                raise forms.ValidationError(f"Line {number}: {name.strip()} has its own field above: fill it there.")
            values[name.strip()] = value
        return values

    def clean(self):
        cleaned = super().clean()
        if "test_recipient" in self.fields and not cleaned.get("test_recipient") and not cleaned.get("send_to_people"):
            self.add_error("test_recipient", self._confirmation_needed())
        return cleaned

    def _confirmation_needed(self) -> str:
        saving = ", ".join(str(task) for task in self.saving_contacts)
        if not self.reaching_people:
            return (
                f"Task {saving} saves the person the event names as a contact, changing the real contact. Give a "
                "test address, or tick “save the contacts the event names” if their contacts may change."
            )
        tasks = ", ".join(str(task) for task in self.reaching_people)
        also = f" Task {saving} saves them as a contact." if saving else ""
        return (
            f"Task {tasks} emails the person the event names.{also} Give a test address, or tick "
            "“send to the people the event names” if they may get it."
        )

    def message_fields(self) -> dict[str, str]:
        fields = {
            name.removeprefix(FIELD_PREFIX): value
            for name, value in self.cleaned_data.items()
            if name.startswith(FIELD_PREFIX)
        }
        return {**fields, **self.cleaned_data["more_fields"]}


def _check_permission(model_admin, request, workflow: Workflow | None, *, sending: bool = False):
    allowed = model_admin.has_view_or_change_permission(request, workflow) and request.user.has_perms(
        TEST_EVENT_PERMISSIONS
    )
    # A test event runs the workflow's tasks with its owner's rights, on values the sender types.
    if sending and workflow is not None:
        allowed = allowed and may_act_as_workflow_owner(user=request.user, workflow=workflow)
    if not allowed:
        raise PermissionDenied


def may_send_test_event(model_admin, request, workflow: Workflow | None = None) -> bool:
    try:
        _check_permission(model_admin, request, workflow, sending=True)
    except PermissionDenied:
        return False
    return True


def _context(model_admin, request, workflow: Workflow, title: str) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "workflow": workflow,
        "original": workflow,
        "title": title,
    }


def test_event_view(model_admin, request, object_id):
    """GET: the form, prefilled from the known fields and the last message. POST: send it."""
    _check_permission(model_admin, request, None)
    workflow = model_admin.get_object(request, unquote(object_id))
    if workflow is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    _check_permission(model_admin, request, workflow, sending=True)
    reaching_people = tasks_reaching_people(workflow=workflow)
    saving_contacts = tasks_saving_contacts(workflow=workflow)
    form = TestEventForm(
        request.POST if request.method == "POST" else None,
        fields=test_event_fields(workflow=workflow),
        reaching_people=reaching_people,
        saving_contacts=saving_contacts,
        initial={"test_recipient": request.user.email},  # your own inbox, until you say otherwise
    )
    if form.is_valid():
        try:
            test_event = test_event_create(
                workflow=workflow,
                fields=form.message_fields(),
                test_recipient=form.cleaned_data.get("test_recipient") or "",
                user=request.user,
            )
        except ValueError as error:  # a name that is no API name, a value XML cannot carry
            form.add_error(None, f"{error}. Correct it and send again.")
        else:
            return redirect("admin:workflows_workflow_test_event_status", workflow.pk, test_event.pk)
    context = {
        **_context(model_admin, request, workflow, f"Send a test event to {workflow}"),
        "form": form,
        "reaching_people": reaching_people,
        "saving_contacts": saving_contacts,
        "fields_source": "declared by the WSDL" if workflow.fields_from_wsdl else "seen in messages so far",
    }
    return TemplateResponse(request, "admin/workflows/workflow/test_event.html", context)


def test_event_status_view(model_admin, request, object_id, test_event_id):
    """Where the test event went and how its run is doing; refreshes itself until it finished."""
    _check_permission(model_admin, request, None)
    test_event = get_object_or_404(TestEvent.objects.select_related("workflow"), pk=test_event_id)
    if str(test_event.workflow_id) != object_id:
        return redirect("admin:workflows_workflow_test_event_status", test_event.workflow_id, test_event.pk)
    _check_permission(model_admin, request, test_event.workflow)
    runs = test_event_runs(test_event=test_event)
    finished = test_event.acknowledged is False or (
        test_event.acknowledged is True and all(run.status in Run.FINISHED for run in runs)
    )
    context = {
        **_context(model_admin, request, test_event.workflow, f"Test event {test_event.pk} of {test_event.workflow}"),
        "test_event": test_event,
        "event_url": event_url_for(model_admin, request, test_event.workflow),
        # Notes stored before tokens were masked in them quote the whole URL.
        "delivery": event_url_masked_in(test_event.delivery, model_admin, request, test_event.workflow),
        "may_send": may_send_test_event(model_admin, request, test_event.workflow),
        "runs": runs,
        "finished": finished,
        "refresh_seconds": None if finished else REFRESH_SECONDS,
    }
    return TemplateResponse(request, "admin/workflows/workflow/test_event_status.html", context)
