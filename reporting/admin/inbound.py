"""The inbound log (every call to the event endpoint), its notifications, and the calls that failed to start.

Queries and indexes (workflows.InboundMessage.Meta):
- default page: order by received_at desc, id desc limit 100            -> inbound_recent
- status / Failed to start: where status = %s order by received_at desc  -> inbound_status_recent
- HTTP status:  where http_status = %s order by received_at desc         -> inbound_http_status_recent
- workflow:     where workflow_id = %s order by received_at desc         -> inbound_workflow_recent
- received from/to: range on received_at                                 -> inbound_recent
- pages: keyset on (received_at, id) (workflows/admin/pagination.py), never OFFSET
"""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import Truncator

from distributions.admin.display import RequestBoundChangePageMixin, change_link
from reporting.admin.filters import HttpStatusFilter, ReceivedFilter, RefusalHttpStatusFilter
from reporting.models import FailedToStart
from workflows.admin.display import value_table
from workflows.admin.history import ReadOnlyMixin
from workflows.admin.pagination import KeysetPaginationMixin
from workflows.models import InboundMessage, Notification
from workflows.salesforce.values import salesforce_id_forms


@admin.register(InboundMessage)
class InboundMessageAdmin(RequestBoundChangePageMixin, KeysetPaginationMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "status", "http_status", "workflow", "notifications", "short_reason"]
    list_filter = ["status", HttpStatusFilter, "workflow", ReceivedFilter]
    list_select_related = ["workflow"]
    ordering = ["-received_at"]
    sortable_by = ["received_at"]
    list_per_page = 50  # as Workflow Reporting: rendering rows, not the query, is a page's cost
    fields = [
        "received_at",
        "status",
        "http_status",
        "reason",
        "workflow_link",
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

    def get_queryset(self, request):
        # The raw bodies stay in the database until a detail page asks for one.
        return super().get_queryset(request).defer("body")

    @admin.display(description="Workflow")
    def workflow_link(self, message):
        return change_link(message.workflow, self.request) if message.workflow_id else "-"

    @admin.display(description="Notifications (new / in call)")
    def notifications(self, message):
        return f"{message.new_notification_count} / {message.notification_count}"

    @admin.display(description="Reason")
    def short_reason(self, message):
        return Truncator(message.reason).chars(100) or "—"

    @admin.display(description="Body (SessionId removed)")
    def body_pre(self, message):
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', message.body) if message.body else "—"


@admin.register(FailedToStart)
class FailedToStartAdmin(InboundMessageAdmin):
    """Refused calls only (the proxy's manager): wrong URL, organization or object, malformed XML, too big."""

    list_display = ["received_at", "http_status", "short_reason", "workflow", "remote_addr", "sobject_type"]
    list_filter = [RefusalHttpStatusFilter, "workflow", ReceivedFilter]


@admin.register(Notification)
class NotificationAdmin(RequestBoundChangePageMixin, KeysetPaginationMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "workflow", "sobject_type", "record_id", "notification_id"]
    list_select_related = ["inbound_message__workflow"]
    # Exact, case-sensitive matches (Salesforce ids are), served by notification_record and
    # notification_once (notification id first); the admin's "=" lookups would compare upper(...)
    # and miss the indexes.
    search_fields = ["=record_id", "=notification_id"]
    search_help_text = "A Salesforce record id or notification id, whole (its 15- or 18-character form)."
    ordering = ["-id"]
    sortable_by = []
    fields = [
        "received_at",
        "workflow",
        "inbound_message_link",
        "organization_key",
        "notification_id",
        "sobject_type",
        "record_id",
        "field_table",
    ]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        forms = salesforce_id_forms(term)  # as Workflow Reporting's search: 15- and 18-character forms
        return queryset.filter(record_id__in=forms) | queryset.filter(notification_id__in=forms), False

    @admin.display(description="Workflow")
    def workflow(self, notification):
        return notification.inbound_message.workflow

    @admin.display(description="Inbound message")
    def inbound_message_link(self, notification):
        return change_link(notification.inbound_message, self.request)

    @admin.display(description="Fields")
    def field_table(self, notification):
        return value_table(notification.fields)
