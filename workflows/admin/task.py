"""Editing one task: the Task form merged with its kind's config form, so nobody types JSON."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from workflows.admin.display import is_row_id, known_event_fields, task_summary, warn_about_task
from workflows.admin.piping import add_piped_text_menu
from workflows.models import (
    Task,
    Workflow,
)
from workflows.selectors import may_act_as_workflow_owner
from workflows.tasks import registry
from workflows.validation import task_order_errors


class TaskForm(forms.ModelForm):
    """Position plus the kind's config form fields; the config form validates and builds task.config.

    TaskAdmin.get_form subclasses this per kind, copying the config form's fields in (the admin
    only renders declared fields) and setting `task_kind` and `task_workflow`.
    """

    task_kind: registry.TaskKind
    task_workflow: Workflow

    class Meta:
        model = Task
        fields = ["position"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.instance.workflow = self.task_workflow
            self.instance.kind = self.task_kind.name
            last = self.task_workflow.tasks.order_by("-position").values_list("position", flat=True).first()
            self.initial.setdefault("position", (last or 0) + 1)
        self.config_form = self.task_kind.config_form(
            self.data if self.is_bound else None,
            self.files if self.is_bound else None,
            known_event_fields=known_event_fields(self.task_workflow),
        )
        # The config form instance's fields, so anything its __init__ sets up (choices) is kept.
        self.fields.update(self.config_form.fields)
        for name in self.config_form.fields:
            if name in self.instance.config:
                self.initial[name] = self.instance.config[name]

    def clean(self):
        cleaned = super().clean()
        if "position" in cleaned:
            self.config_form.earlier_kinds = [task.kind for task in self._earlier_tasks(cleaned["position"])]
        if not self.config_form.is_valid():
            for name, errors in self.config_form.errors.items():
                field = name if name in self.fields else None
                for error in errors:
                    if error not in self.errors.get(field or NON_FIELD_ERRORS, []):
                        self.add_error(field, error)
            return cleaned
        self.instance.config = self.config_form.to_config()
        if "position" in cleaned:
            # Moved, this task may leave a later one piping ${task://n/...} of a task no longer before it.
            tasks = {(task.position, task.pk): task for task in self.task_workflow.tasks.exclude(pk=self.instance.pk)}
            tasks[cleaned["position"], self.instance.pk or float("inf")] = self.instance
            order = [tasks[key] for key in sorted(tasks)]
            for error in task_order_errors(order, skip=self.instance):
                self.add_error("position", error)
        return cleaned

    def earlier_tasks_as_shown(self) -> list[Task]:
        """The tasks before this one at the position the form shows (the default, or as typed)."""
        position = self["position"].value() if "position" in self.fields else self.instance.position
        try:
            position = int(position)
        except (TypeError, ValueError):
            position = self.instance.position
        return self._earlier_tasks(position)

    def _earlier_tasks(self, position: int) -> list[Task]:
        """Tasks that run before this one, in run order (by position, then creation)."""
        me = (position, self.instance.pk or float("inf"))
        return [task for task in self.task_workflow.tasks.exclude(pk=self.instance.pk) if (task.position, task.pk) < me]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    """Reached from the workflow page ("Add task" links, task change links), so not on the index."""

    list_display = ["__str__", "workflow"]
    list_filter = ["workflow"]
    list_select_related = ["workflow"]
    readonly_fields = ["workflow_link", "kind_label", "event_fields_help", "outputs_help"]

    def has_module_permission(self, request):
        return False

    # Model permissions alone would let a staff user who may add tasks put one on a superuser's
    # workflow, where it runs with the superuser's rights (e.g. sends a survey they may not).
    def has_add_permission(self, request):
        target = self._add_target(request)
        return super().has_add_permission(request) and (target is None or self._editable(request, target[1]))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or self._editable(request, obj.workflow))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or self._editable(request, obj.workflow))

    def _editable(self, request, workflow: Workflow) -> bool:
        return may_act_as_workflow_owner(user=request.user, workflow=workflow)

    def _add_target(self, request) -> tuple[registry.TaskKind, Workflow] | None:
        """The kind and workflow a new task is added for: query string first (the add links), then form."""
        params = {**request.POST.dict(), **request.GET.dict()}
        kind = registry.find(params.get("kind", ""))
        workflow_id = params.get("workflow", "")
        workflow = Workflow.objects.filter(pk=workflow_id).first() if is_row_id(workflow_id) else None
        return (kind, workflow) if kind and workflow else None

    def _target(self, request, obj) -> tuple[registry.TaskKind, Workflow]:
        if obj is not None:
            return registry.find(obj.kind), obj.workflow
        return self._add_target(request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kind, workflow = self._target(request, obj)
        attrs = {**kind.config_form.base_fields, "task_kind": kind, "task_workflow": workflow}
        form = type(f"{kind.name}TaskForm", (TaskForm,), attrs)
        return super().get_form(request, obj, change=change, form=form, **kwargs)

    def get_deleted_objects(self, objs, request):
        """Keep a task that a later task pipes (${task://n/...}): removed, the later one would pipe
        another task's output, or none. Its page says which task and token to change first."""
        deleted = list(objs)
        problems = []
        for workflow in {task.workflow for task in deleted}:
            kept = [task for task in workflow.tasks.all() if task.pk not in {task.pk for task in deleted}]
            problems += task_order_errors(kept)
        if not problems:
            return super().get_deleted_objects(objs, request)
        return [], {}, set(), [*problems, "Change the piped text of these tasks first, then delete this one."]

    def get_fieldsets(self, request, obj=None):
        kind, _ = self._target(request, obj)
        return [
            (None, {"fields": ["workflow_link", "kind_label", "position"]}),
            (kind.label, {"fields": list(kind.config_form().fields)}),
            ("Piped text", {"fields": ["event_fields_help", "outputs_help"]}),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if self._add_target(request) is None:
            return self._choose_kind_view(request)
        return super().add_view(request, form_url, {"show_save_and_add_another": False, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = self.get_object(request, unquote(object_id))
        if task is not None and registry.find(task.kind) is None and self.has_view_or_change_permission(request, task):
            self.message_user(request, task_summary(task), messages.ERROR)
            return redirect("admin:workflows_workflow_change", task.workflow_id)
        extra_context = {"show_save_and_add_another": False, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def _choose_kind_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add task",
            "workflows": Workflow.objects.only("pk", "name"),
            "selected_workflow": request.GET.get("workflow", ""),
            "kinds": registry.choices(),
        }
        return TemplateResponse(request, "admin/workflows/task/choose_kind.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        add_piped_text_menu(
            context,
            request,
            editable=self.has_add_permission(request) if add else self.has_change_permission(request, obj),
            workflow=form.task_workflow,
            earlier_tasks=form.earlier_tasks_as_shown(),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _back_to_workflow(self, request, response, obj):
        if {"_continue", "_addanother", "_popup"} & set(request.POST):
            return response
        return redirect("admin:workflows_workflow_change", obj.workflow_id)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        warn_about_task(self, request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        return self._back_to_workflow(request, super().response_add(request, obj, post_url_continue), obj)

    def response_change(self, request, obj):
        return self._back_to_workflow(request, super().response_change(request, obj), obj)

    @admin.display(description="Workflow")
    def workflow_link(self, task):
        url = reverse("admin:workflows_workflow_change", args=[task.workflow_id])
        return format_html('<a href="{}">{}</a>', url, task.workflow)

    @admin.display(description="Kind")
    def kind_label(self, task):
        return registry.kind_label(task.kind)

    @admin.display(description="Event fields")
    def event_fields_help(self, task):
        fields = task.workflow.known_fields
        if not fields:
            return "None known yet: upload the outbound message's WSDL on the workflow page."
        tokens_ = " ".join(f"${{event://{name}}}" for name in fields)
        source = "declared by the WSDL" if task.workflow.fields_from_wsdl else "seen in messages so far"
        return format_html('{}<p class="help">Fields {}.</p>', tokens_, source)

    @admin.display(description="Outputs")
    def outputs_help(self, task):
        kind = registry.find(task.kind)
        if kind is None or not kind.outputs:
            return "This kind has no outputs."
        tasks = list(task.workflow.tasks.all()) if task.pk else []
        number = str(tasks.index(task) + 1) if task in tasks else "N"
        examples = ", ".join(f"${{task://{number}/{output}}}" for output in kind.outputs)
        where = (
            f"(this task runs as task {number})"
            if task.pk
            else "where N is this task's place in the run order (the first task is 1)"
        )
        return f"Later tasks can pipe {examples} {where}."


# --- History (read-only) -----------------------------------------------------------------------
