"""Building a workflow: event URL, WSDL, conditions and the list of its tasks."""

from urllib.parse import urlencode, urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.db.models.constants import LOOKUP_SEP
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from workflows.admin.display import (
    KNOWN_FIELDS_DATALIST,
    MAX_WSDL_BYTES,
    UserNamedAsTextMixin,
    known_event_fields,
    may_see_event_url,
    task_summary,
    warn_about_task,
)
from workflows.admin.piping import add_piped_text_menu
from workflows.admin.test_event import may_send_test_event, test_event_status_view, test_event_view
from workflows.conditions import OPERATOR_HELP
from workflows.models import (
    Condition,
    Task,
    Workflow,
)
from workflows.salesforce.wsdl import InvalidWsdl
from workflows.selectors import (
    LAST_RUNS_LOOKED_AT,
    may_act_as_workflow_owner,
    task_last_attempts,
    workflow_owner_choices,
)
from workflows.services.failure_notices import failure_notice_recipients
from workflows.services.workflow_admin import workflow_rotate_token, wsdl_for_object
from workflows.tasks import registry
from workflows.tasks.forms import PipedTextInput
from workflows.validation import (
    CONDITION_VALUE_SCHEMES,
    condition_field_error,
    condition_value_errors,
    task_order_errors,
)

# A WSDL uploaded with a page that came back with errors is kept, signed, in a hidden field: the
# browser empties the file field, and the admin should not have to choose the file again.
WSDL_KEPT_SALT = "workflows.admin.wsdl-kept"
WSDL_KEPT_MAX_AGE = 24 * 60 * 60


class WorkflowForm(forms.ModelForm):
    wsdl = forms.FileField(
        required=False,
        label="Outbound message WSDL",
        help_text="In Salesforce, open the outbound message, click “Click for WSDL” and save the file; upload it "
        "here. Its fields become the workflow's known fields and piped text is checked against them.",
    )
    # The fields of the WSDL uploaded with this page when it came back with errors (see above).
    wsdl_kept = forms.CharField(required=False, widget=forms.HiddenInput)
    # The users this form offers, and accepts, as the owner: set by WorkflowAdmin.get_form.
    owner_choices = None

    class Meta:
        model = Workflow
        fields = [
            "name",
            "owner",
            "enabled",
            "salesforce_object",
            "allowed_organization_ids",
            "condition_match",
            "on_task_failure",
            "failure_recipients",
        ]
        widgets = {"allowed_organization_ids": forms.Textarea(attrs={"rows": 3, "cols": 40})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.owner_choices is not None and "owner" in self.fields:
            self.fields["owner"].queryset = self.owner_choices

    def clean(self):
        """Read the WSDL uploaded (or kept) with this save, and give the instance the known fields
        it is saved with, so the page's conditions are checked against them in the same save."""
        cleaned = super().clean()
        self.wsdl_fields = None  # the fields the WSDL of this save declares
        self.forgets_fields = False  # the object changed without a WSDL: the old object's fields go
        salesforce_object = cleaned.get("salesforce_object")
        if not salesforce_object:
            if cleaned.get("wsdl"):  # read against no object, it cannot be kept: the browser empties the field
                self.add_error("wsdl", "Name the Salesforce object above, then choose the WSDL file again.")
            return cleaned
        if cleaned.get("wsdl"):
            self.wsdl_fields = self._uploaded_fields(cleaned["wsdl"], salesforce_object)
        elif cleaned.get("wsdl_kept"):
            self.wsdl_fields = self._kept_fields(cleaned["wsdl_kept"], salesforce_object)
        if self.wsdl_fields is not None:
            self.instance.known_fields, self.instance.fields_from_wsdl = self.wsdl_fields, True
        elif self.instance.pk and self._object_changed(salesforce_object) and self.instance.known_fields:
            self.forgets_fields = True
            self.instance.known_fields, self.instance.fields_from_wsdl = {}, False
        return cleaned

    def _object_changed(self, salesforce_object: str) -> bool:
        # API names are case-insensitive: Case and case are one object, whose fields still hold.
        return (self.initial.get("salesforce_object") or "").casefold() != salesforce_object.casefold()

    def _uploaded_fields(self, upload, salesforce_object: str) -> dict | None:
        if upload.size > MAX_WSDL_BYTES:
            self.add_error("wsdl", f"The file is larger than {MAX_WSDL_BYTES // 1024 // 1024} MB: is it the WSDL?")
            return None
        try:
            return wsdl_for_object(salesforce_object=salesforce_object, data=upload.read()).fields
        except InvalidWsdl as error:
            self.add_error("wsdl", error.reason)
            return None

    def _kept_fields(self, kept: str, salesforce_object: str) -> dict | None:
        try:
            wsdl = signing.loads(kept, salt=WSDL_KEPT_SALT, max_age=WSDL_KEPT_MAX_AGE)
        except signing.BadSignature:  # expired too
            self.add_error("wsdl", "The WSDL uploaded earlier could not be kept: choose the file again.")
            return None
        if wsdl["object"].casefold() != salesforce_object.casefold():
            self.add_error(
                "wsdl",
                f"The WSDL uploaded earlier describes {wsdl['object']} records but the workflow is bound to "
                f"{salesforce_object}: upload the WSDL of this workflow's outbound message.",
            )
            return None
        return wsdl["fields"]

    def keep_wsdl(self) -> bool:
        """On a page that comes back with errors: carry the WSDL of this save to the next one (and
        nothing when this save has none, e.g. its upload was refused). -> whether there was one."""
        if not self.is_bound:
            return False
        fields = getattr(self, "wsdl_fields", None)
        kept = ""
        if fields is not None:
            wsdl = {"object": self.cleaned_data["salesforce_object"], "fields": fields}
            kept = signing.dumps(wsdl, salt=WSDL_KEPT_SALT, compress=True)
        self.data = self.data.copy()
        self.data[self.add_prefix("wsdl_kept")] = kept
        return fields is not None


class ConditionForm(forms.ModelForm):
    class Meta:
        model = Condition
        fields = ["position", "field", "operator", "value"]
        widgets = {
            "field": forms.TextInput(attrs={"list": KNOWN_FIELDS_DATALIST, "size": 30}),
            "value": PipedTextInput(attrs={"size": 40}, schemes=CONDITION_VALUE_SCHEMES),
        }
        help_texts = {"operator": OPERATOR_HELP}

    def __init__(self, *args, for_workflow: Workflow | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.for_workflow = for_workflow

    def clean_field(self):
        field = self.cleaned_data["field"].strip()
        error = condition_field_error(field, known_event_fields=known_event_fields(self.for_workflow))
        if error:
            raise forms.ValidationError(error)
        return field

    def clean_value(self):
        # Fields are cleaned in Meta.fields order: field and operator are in cleaned_data if valid.
        value = self.cleaned_data["value"]
        field_types = self.for_workflow.known_fields if self.for_workflow else {}
        errors = condition_value_errors(
            value,
            operator=self.cleaned_data.get("operator") or "",
            known_event_fields=known_event_fields(self.for_workflow),
            field_type=field_types.get(self.cleaned_data.get("field") or "", ""),
        )
        if errors:
            raise forms.ValidationError(errors)
        return value


class ConditionFormSet(BaseInlineFormSet):
    def get_form_kwargs(self, index):
        # The workflow as this save makes it: the instance the page's WorkflowForm cleans (a new
        # workflow's too), which carries the known fields of a WSDL uploaded in the same save, as
        # WorkflowForm.clean runs before the conditions are cleaned.
        return {**super().get_form_kwargs(index), "for_workflow": self.instance}


class ConditionInline(admin.TabularInline):
    model = Condition
    form = ConditionForm
    formset = ConditionFormSet
    extra = 0
    template = "admin/workflows/workflow/condition_inline.html"
    operator_help = OPERATOR_HELP  # shown under the table, not only as the column's tooltip


class TaskFormSet(BaseInlineFormSet):
    def clean(self):
        """Refuse an order (or a removal) after which a task pipes ${task://n/...} of a task that no
        longer runs before it, or no longer has that output: its runs would pipe nothing."""
        super().clean()
        if any(form.errors for form in self.forms):
            return
        kept = []
        for form in self.forms:
            if form.instance.pk is None or (self.can_delete and self._should_delete_form(form)):
                continue
            kept.append((form.cleaned_data.get("position", form.instance.position), form.instance.pk, form.instance))
        tasks = [task for _, _, task in sorted(kept, key=lambda row: (row[0], row[1]))]
        errors = task_order_errors(tasks)
        if errors:
            raise forms.ValidationError(
                [*errors, "Keep the order, or first change the piped text of these tasks (open each task)."]
            )


class TaskInline(admin.TabularInline):
    """The tasks in run order: position (reorder), kind, settings, last outcome, delete.

    A task is added with the "Add task: <kind>" buttons under the table: they save the workflow
    page (on the add page too, so nothing needs saving first) and open the kind's form, which
    comes back here.
    """

    model = Task
    formset = TaskFormSet
    fields = ["position", "kind_label", "summary", "last_run"]
    readonly_fields = ["kind_label", "summary", "last_run"]
    show_change_link = True
    extra = 0
    template = "admin/workflows/workflow/task_inline.html"

    def has_add_permission(self, request, obj=None):
        return False  # the kind must be chosen first: see the "Add task" buttons under the inline

    # Reordering and deleting tasks is editing them: the owner's (workflows.selectors).
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._editable(request, obj)

    def _editable(self, request, workflow) -> bool:
        return (
            workflow is None or workflow.pk is None or may_act_as_workflow_owner(user=request.user, workflow=workflow)
        )

    def get_formset(self, request, obj=None, **kwargs):
        may_add = request.user.has_perm("workflows.add_task") and self._editable(request, obj)
        self.add_task_kinds = registry.choices() if may_add else []
        self.last_attempts = task_last_attempts(workflow=obj) if obj is not None and obj.pk else {}
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="Kind")
    def kind_label(self, task):
        return registry.kind_label(task.kind)

    @admin.display(description="Settings")
    def summary(self, task):
        return task_summary(task)

    @admin.display(description="Last run")
    def last_run(self, task):
        attempt = self.last_attempts.get(task.pk)
        if attempt is None:
            return f"Not run in the last {LAST_RUNS_LOOKED_AT} runs" if task.pk else "—"
        return format_html(
            '<a href="{}" class="task-outcome task-outcome-{}">{}</a> <span class="help">{}</span>{}',
            reverse("admin:workflows_run_change", args=[attempt.run_id]),
            attempt.status,
            attempt.get_status_display(),
            f"{attempt.finished_at:%Y-%m-%d %H:%M}",
            format_html('<div class="help">{}</div>', Truncator(attempt.error).chars(120)) if attempt.error else "",
        )


@admin.register(Workflow)
class WorkflowAdmin(UserNamedAsTextMixin, admin.ModelAdmin):
    form = WorkflowForm
    user_fields = ("owner",)
    list_display = ["name", "salesforce_object", "enabled", "owner", "updated_at"]
    list_filter = ["enabled", "salesforce_object"]
    list_select_related = ["owner"]
    search_fields = ["name"]
    readonly_fields = ["event_url", "masked_event_url", "known_fields_table", "history_links"]
    # The changelist takes a lookup on any of the model's fields from its query string: one on the
    # token (?token__startswith=...) would spell it out, a character at a time, to whoever may
    # list workflows. The endpoint's only credential is never a filter.
    SECRET_FIELDS = frozenset({"token", "token_digest"})
    fieldsets = [
        (None, {"fields": ["name", "owner", "enabled", "history_links"]}),
        (
            "Event",
            {
                "fields": [
                    "salesforce_object",
                    "event_url",
                    "allowed_organization_ids",
                    "wsdl",
                    "wsdl_kept",
                    "known_fields_table",
                ]
            },
        ),
        ("Conditions and tasks", {"fields": ["condition_match", "on_task_failure", "failure_recipients"]}),
    ]
    inlines = [ConditionInline, TaskInline]
    actions = ["rotate_tokens"]
    change_form_template = "admin/workflows/workflow/change_form.html"

    class Media:
        js = ["workflows/reorder.js"]
        css = {"all": ["workflows/workflow.css"]}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        workflow = self.get_object(request, unquote(object_id)) if request.method == "GET" else None
        # Only on the page itself: a user refused the page must not find a warning on the refusal
        # page or the next one (they name the owner and what the workflow lacks).
        if workflow is not None and self.has_view_or_change_permission(request, workflow):
            self.warn_about_setup(request, workflow)
        return super().change_view(request, object_id, form_url, extra_context)

    def warn_about_setup(self, request, workflow):
        """Warn of what keeps Salesforce's calls or the failure notices from arriving."""
        if urlsplit(settings.PUBLIC_BASE_URL).netloc != request.get_host():
            self.message_user(
                request,
                f"Event URLs start with PUBLIC_BASE_URL ({settings.PUBLIC_BASE_URL}), but this admin is served at "
                f"{request.scheme}://{request.get_host()}. Salesforce must reach the event URL: set "
                "PUBLIC_BASE_URL to the address it should call.",
                messages.WARNING,
            )
        if not failure_notice_recipients(workflow=workflow):
            self.message_user(
                request,
                f"Nobody is told when this workflow's tasks fail: its owner {workflow.owner} has no email address "
                f"and it has no failure recipients. Add failure recipients below, or give {workflow.owner} an "
                "email address under Authentication → Users.",
                messages.WARNING,
            )

    def lookup_allowed(self, lookup, value, request=None):
        return lookup.split(LOOKUP_SEP, 1)[0] not in self.SECRET_FIELDS and super().lookup_allowed(
            lookup, value, request
        )

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if may_see_event_url(self, request, obj):
            return fieldsets
        masked = {"event_url": "masked_event_url"}
        return [
            (title, {**options, "fields": [masked.get(name, name) for name in options["fields"]]})
            for title, options in fieldsets
        ]

    @admin.display(description="Owner")
    def owner_name(self, workflow):
        return str(workflow.owner)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        owners = workflow_owner_choices(user=request.user, workflow=obj)
        return type(form.__name__, (form,), {"owner_choices": owners})

    def get_urls(self):
        rotate = self.admin_site.admin_view(self.rotate_token_view)
        send_test = self.admin_site.admin_view(lambda request, object_id: test_event_view(self, request, object_id))
        test_status = self.admin_site.admin_view(
            lambda request, object_id, test_event_id: test_event_status_view(self, request, object_id, test_event_id)
        )
        return [
            path("<path:object_id>/rotate-token/", rotate, name="workflows_workflow_rotate_token"),
            path("<path:object_id>/test-event/", send_test, name="workflows_workflow_test_event"),
            path(
                "<path:object_id>/test-event/<int:test_event_id>/",
                test_status,
                name="workflows_workflow_test_event_status",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        editable = self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        add_piped_text_menu(context, request, editable=editable, workflow=obj)
        context["can_send_test_event"] = may_send_test_event(self, request, obj)
        # A page that comes back with errors has its file field emptied by the browser: the WSDL
        # is kept for the next save, and the page says so, as the known fields it shows are its.
        form = context["adminform"].form
        if form.keep_wsdl():
            self.message_user(
                request,
                f"The uploaded WSDL ({len(form.wsdl_fields)} {form.cleaned_data['salesforce_object']} fields) is "
                "kept: it is saved with the page once the errors below are fixed. Choose a file only to replace it.",
                messages.WARNING,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        # The form gave obj the known fields of the WSDL of this save (or cleared those of the
        # object it was bound to before): the page's conditions were checked against them.
        super().save_model(request, obj, form, change)
        if form.wsdl_fields is not None:
            self.message_user(
                request,
                f"The WSDL declares {len(obj.known_fields)} {obj.salesforce_object} fields; "
                "piped text and conditions are now checked against them.",
            )
        elif form.forgets_fields:
            self.message_user(
                request,
                f"The known fields belonged to another object and were cleared: upload the {obj.salesforce_object} "
                "outbound message's WSDL.",
                messages.WARNING,
            )

    def response_add(self, request, obj, post_url_continue=None):
        return self._to_new_task(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._to_new_task(request, obj) or super().response_change(request, obj)

    def _to_new_task(self, request, workflow):
        """After an "Add task: <kind>" button saved the page: that kind's form for this workflow."""
        kind = registry.find(request.POST.get("_addtask", ""))
        if kind is None or not request.user.has_perm("workflows.add_task"):
            return None
        query = urlencode({"workflow": workflow.pk, "kind": kind.name})
        self.message_user(request, f"The workflow “{workflow}” was saved: fill in its new task.")
        return redirect(f"{reverse('admin:workflows_task_add')}?{query}")

    def get_deleted_objects(self, objs, request):
        """A workflow with runs is not deleted: Workflow Reporting keeps runs (read-only) until
        retention purges them, so Django would refuse for lack of a permission to delete runs that
        nobody has, and list every run first. Say so, and what to do instead."""
        with_runs = (
            Workflow.objects.filter(pk__in=[workflow.pk for workflow in objs])
            .annotate(run_count=Count("runs"), last_run=Max("runs__created_at"))
            .filter(run_count__gt=0)
            .order_by("name")
        )
        if not with_runs:
            return super().get_deleted_objects(objs, request)
        protected = [
            format_html(
                "“{}” has {} in Workflow Reporting (the last created {}), kept there for {} days "
                "(RETENTION_DAYS): to stop it, untick Enabled instead; it can be deleted once retention has "
                "removed its runs.",
                workflow.name,
                f"{workflow.run_count:,} run{'s' if workflow.run_count != 1 else ''}",
                f"{timezone.localtime(workflow.last_run):%Y-%m-%d %H:%M}",
                settings.RETENTION_DAYS,
            )
            for workflow in with_runs
        ]
        return [], {}, set(), protected

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The owner's permissions may have changed what the tasks can do.
        for task in form.instance.tasks.select_related("workflow__owner"):
            warn_about_task(self, request, task)

    @admin.display(description="Event URL")
    def event_url(self, workflow):
        if not workflow.pk:
            return "Save the workflow to get its event URL."
        rotate_url = reverse("admin:workflows_workflow_rotate_token", args=[workflow.pk])
        context = {"url": workflow.event_url, "rotate_url": rotate_url}
        return render_to_string("admin/workflows/workflow/event_url.html", context)

    @admin.display(description="Event URL")
    def masked_event_url(self, workflow):
        if not workflow.pk:
            return "Save the workflow to get its event URL."
        return format_html(
            '{}<p class="help">The token is shown only to the owner (or a superuser) who may change it.</p>',
            workflow.masked_event_url,
        )

    @admin.display(description="Known fields")
    def known_fields_table(self, workflow):
        return render_to_string("admin/workflows/workflow/known_fields.html", {"workflow": workflow})

    @admin.display(description="Activity")
    def history_links(self, workflow):
        if not workflow.pk:
            return "—"
        query = f"?workflow__id__exact={workflow.pk}"
        return format_html(
            '<a href="{}">Runs</a> · <a href="{}">Inbound messages</a>',
            reverse("admin:workflows_run_changelist") + query,
            reverse("admin:workflows_inboundmessage_changelist") + query,
        )

    @admin.action(description="Rotate the event URL token of selected workflows", permissions=["change"])
    def rotate_tokens(self, request, queryset):
        for workflow in queryset:
            workflow_rotate_token(workflow=workflow)
        self.message_user(request, _ROTATED, messages.WARNING)

    def rotate_token_view(self, request, object_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        workflow = self.get_object(request, unquote(object_id))
        if workflow is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method == "POST":
            workflow_rotate_token(workflow=workflow)
            self.message_user(request, _ROTATED, messages.WARNING)
            return redirect("admin:workflows_workflow_change", workflow.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "workflow": workflow,
            "title": "Rotate the event URL token?",
        }
        return TemplateResponse(request, "admin/workflows/workflow/rotate_token_confirmation.html", context)


_ROTATED = (
    "The event URL changed and the old one no longer works: paste the new URL into the Salesforce "
    "outbound message's Endpoint URL, or its messages will be refused."
)


# --- Task ------------------------------------------------------------------------------------
