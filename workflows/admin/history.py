"""Runs, task runs, notifications and the inbound log: read-only here (Workflow Reporting is the full view)."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from workflows.admin.display import item_list, value_table
from workflows.models import (
    InboundMessage,
    Notification,
    Run,
    TaskRun,
)
from workflows.services.replay import ReplayError, runs_replay


class ReadOnlyMixin:
    """History is appended by the system, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TaskRunInline(ReadOnlyMixin, admin.TabularInline):
    model = TaskRun
    fields = ["position", "kind", "attempt", "status", "error", "resolved_input_table", "output_table", "notes_list"]
    readonly_fields = fields
    extra = 0

    @admin.display(description="Resolved input")
    def resolved_input_table(self, task_run):
        return value_table(task_run.resolved_input)

    @admin.display(description="Output")
    def output_table(self, task_run):
        return value_table(task_run.output)

    @admin.display(description="Notes")
    def notes_list(self, task_run):
        return item_list(task_run.notes)


@admin.register(Run)
class RunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["__str__", "workflow", "status", "created_at", "attempts"]
    list_filter = ["status", "workflow"]
    list_select_related = ["workflow"]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    show_full_result_count = False
    fields = [
        "workflow",
        "notification",
        "replay_of",
        "status",
        "status_reason",
        "attempts",
        "created_at",
        "next_attempt_at",
        "claimed_at",
        "finished_at",
        "event_fields",
        "conditions",
    ]
    readonly_fields = fields
    inlines = [TaskRunInline]
    actions = ["replay"]

    @admin.action(description="Replay selected runs with the current workflow")
    def replay(self, request, queryset):
        try:
            replays = runs_replay(runs=queryset.select_related("workflow", "notification"))
        except ReplayError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        count = len(replays)
        self.message_user(
            request, f"{count} run{'s' * (count != 1)} queued again, as new runs linked to the originals."
        )

    @admin.display(description="Event fields")
    def event_fields(self, run):
        return value_table(run.notification.fields)

    @admin.display(description="Conditions")
    def conditions(self, run):
        if not run.condition_results:
            return "No conditions."
        columns = ("field", "operator", "expected", "actual", "passed", "note")
        cells = ([row.get(column) for column in columns] for row in run.condition_results)
        rows = format_html_join("", "<tr>" + "<td>{}</td>" * len(columns) + "</tr>", cells)
        return format_html(
            "<table><thead><tr><th>Field</th><th>Operator</th><th>Value</th><th>Event value</th><th>Passed</th>"
            "<th>Note</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "status", "http_status", "workflow", "notification_count", "short_reason"]
    list_filter = ["status", "http_status", "workflow"]
    list_select_related = ["workflow"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    show_full_result_count = False
    fields = [
        "received_at",
        "status",
        "http_status",
        "reason",
        "workflow",
        "token_hint",
        "remote_addr",
        "content_type",
        "organization_id",
        "action_id",
        "sobject_type",
        "notification_count",
        "new_notification_count",
        "body_size",
        "body_pre",
    ]
    readonly_fields = fields

    @admin.display(description="Reason")
    def short_reason(self, message):
        return Truncator(message.reason).chars(100)

    @admin.display(description="Body")
    def body_pre(self, message):
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', message.body) if message.body else "—"


@admin.register(Notification)
class NotificationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "workflow", "sobject_type", "record_id", "notification_id"]
    list_filter = ["inbound_message__workflow", "sobject_type"]
    list_select_related = ["inbound_message__workflow"]
    search_fields = ["=record_id", "=notification_id"]
    ordering = ["-id"]
    show_full_result_count = False
    fields = [
        "received_at",
        "workflow",
        "inbound_message",
        "organization_key",
        "notification_id",
        "sobject_type",
        "record_id",
        "field_table",
    ]
    readonly_fields = fields

    @admin.display(description="Workflow")
    def workflow(self, notification):
        return notification.inbound_message.workflow

    @admin.display(description="Fields")
    def field_table(self, notification):
        return value_table(notification.fields)
