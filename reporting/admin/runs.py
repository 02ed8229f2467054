"""Workflow Reporting: the runs of every workflow, their detail page, and replay.

The changelist's queries and the indexes serving them (workflows/migrations/0003_reporting_indexes):
- default page:  order by created_at desc, id desc limit 100                        -> run_recent
- source:        where test_event_id is not null ...                                -> run_test (partial)
- status:        where status = %s order by created_at desc ...                     -> run_status_recent
- workflow:      where workflow_id = %s order by created_at desc ...                -> run_workflow_recent
- object:        join workflows_workflow (a few rows) where salesforce_object = %s,
                 walking run_recent newest first
- started from/to: where created_at >= %s and created_at < %s order by created_at desc -> run_recent
- search:        see reporting/run_selectors.py (notification_once, notification_record,
                 contact_email_ci + task_run_contact)
- first error:   one probe per listed row into task_run_attempt_once (run_id, position, attempt)
- pages:         keyset: next/previous/last seek from a boundary (created_at, id), never OFFSET
- row count:     capped or estimated, never a full COUNT(*) (workflows/admin/pagination.py)
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from distributions.admin.display import RequestBoundChangePageMixin, change_link
from reporting.admin.filters import SourceFilter, StartedFilter
from reporting.admin.run_detail import conditions_html, event_fields_html, links_html, task_runs_html
from reporting.run_selectors import runs_search, runs_with_first_error
from workflows.admin.history import ReadOnlyMixin
from workflows.admin.pagination import KeysetPaginationMixin
from workflows.models import Run
from workflows.services.replay import ReplayError, runs_replay

TEST_MARKER = mark_safe('<span class="test-run-marker">Test</span>')


@admin.register(Run)
class RunAdmin(RequestBoundChangePageMixin, KeysetPaginationMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "started",
        "test_marker",
        "workflow",
        "salesforce_object",
        "record_id",
        "status",
        "attempts",
        "replay_of_run",
        "short_error",
    ]
    list_display_links = ["started"]
    list_filter = [
        "status",
        "workflow",
        ("workflow__salesforce_object", admin.AllValuesFieldListFilter),
        StartedFilter,
        SourceFilter,
    ]
    list_select_related = ["workflow", "notification"]
    # Documents the search for the admin's search box; get_search_results does the matching.
    search_fields = ["=notification__notification_id", "=notification__record_id"]
    search_help_text = (
        "A notification id or a Salesforce record id, whole (its 15- or 18-character form), "
        "or a contact's email address."
    )
    ordering = ["-created_at"]
    sortable_by = ["started"]  # other columns have no index to sort a million rows by
    # A page costs its rows' rendering more than its query: 50 rows keep a filtered page as quick
    # at a million runs as at a thousand, where it shows only a few.
    list_per_page = 50
    actions = ["replay"]
    change_form_template = "admin/reporting/run/change_form.html"

    class Media:
        css = {"all": ["reporting/run.css"]}

    fieldsets = [
        (None, {"fields": ["workflow_link", "test_event_note", "status", "status_reason", "attempts", "timings"]}),
        ("Links", {"fields": ["links"]}),
        ("Event fields (the input payload)", {"fields": ["event_fields"]}),
        ("Conditions", {"fields": ["conditions"]}),
        ("Tasks", {"fields": ["task_runs"]}),
    ]
    readonly_fields = [
        "workflow_link",
        "test_event_note",
        "status",
        "status_reason",
        "attempts",
        "timings",
        "links",
        "event_fields",
        "conditions",
        "task_runs",
    ]

    def get_queryset(self, request):
        return runs_with_first_error(super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        return runs_search(runs=queryset, term=search_term), False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Workflow Reporting", **(extra_context or {})})

    # --- columns ---

    @admin.display(description="Started", ordering="created_at")
    def started(self, run):
        return run.created_at

    @admin.display(description="Source")
    def test_marker(self, run):
        # From the row itself: the column says whether, the detail page says who and where to.
        return TEST_MARKER if run.test_event_id else "Salesforce"

    @admin.display(description="Object", ordering=None)
    def salesforce_object(self, run):
        return run.workflow.salesforce_object

    @admin.display(description="Record id")
    def record_id(self, run):
        return run.notification.record_id or "—"

    @admin.display(description="Replay of")
    def replay_of_run(self, run):
        # The id alone, from the row itself: a link per row would cost a URL lookup per row.
        return f"run {run.replay_of_id}" if run.replay_of_id else ""

    @admin.display(description="First error")
    def short_error(self, run):
        return Truncator(run.status_reason or run.first_error or "").chars(80) or "—"

    # --- detail ---

    @admin.display(description="Timings")
    def timings(self, run):
        parts = [
            ("created", run.created_at),
            ("next attempt", run.next_attempt_at),
            ("claimed", run.claimed_at),
            ("finished", run.finished_at),
        ]
        return " · ".join(f"{label} {value:%Y-%m-%d %H:%M:%S}" for label, value in parts if value)

    @admin.display(description="Workflow")
    def workflow_link(self, run):
        return change_link(run.workflow, self.request)

    @admin.display(description="Source")
    def test_event_note(self, run):
        if not run.test_event_id:
            return "Salesforce"
        test_event = run.test_event
        who = f" by {test_event.created_by}" if test_event.created_by else ""
        to = f"; its emails went to {test_event.test_recipient}" if test_event.test_recipient else ""
        return format_html(
            "{} sent from the admin{} on {}{}. Left out of the dashboard's counts.",
            TEST_MARKER,
            who,
            f"{test_event.created_at:%Y-%m-%d %H:%M:%S}",
            to,
        )

    @admin.display(description="Links")
    def links(self, run):
        return links_html(run, self.request)

    @admin.display(description="Event fields")
    def event_fields(self, run):
        return event_fields_html(run)

    @admin.display(description="Conditions")
    def conditions(self, run):
        return conditions_html(run)

    @admin.display(description="Task runs")
    def task_runs(self, run):
        return task_runs_html(run, self.request)

    # --- replay: a new run linked to the original, through the service ---

    def has_replay_permission(self, request):
        # A replay adds a run, copied from one the user must be able to see.
        return request.user.has_perms(("workflows.view_run", "workflows.add_run"))

    @admin.action(description="Replay selected runs with the current workflow", permissions=["replay"])
    def replay(self, request, queryset):
        replays = self._replay(request, queryset)
        if replays is not None:
            count = len(replays)
            self.message_user(
                request, f"{count} run{'s' * (count != 1)} queued again, as new runs linked to the originals."
            )

    def get_urls(self):
        replay_one = self.admin_site.admin_view(self.replay_view)
        return [path("<int:run_id>/replay/", replay_one, name="workflows_run_replay"), *super().get_urls()]

    def replay_view(self, request, run_id):
        if not self.has_replay_permission(request):
            raise PermissionDenied
        run = get_object_or_404(Run, pk=run_id)
        if request.method != "POST":
            return redirect(reverse("admin:workflows_run_change", args=[run.pk]))
        replays = self._replay(request, Run.objects.filter(pk=run.pk))
        if not replays:
            return redirect(reverse("admin:workflows_run_change", args=[run.pk]))
        self.message_user(request, f"Replayed as run {replays[0].pk}, with the workflow's current definition.")
        return redirect(reverse("admin:workflows_run_change", args=[replays[0].pk]))

    def _replay(self, request, runs) -> list[Run] | None:
        try:
            return runs_replay(runs=runs.select_related("workflow", "notification"), user=request.user)
        except ReplayError as error:
            self.message_user(request, str(error), messages.ERROR)
            return None

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_replay"] = self.has_replay_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)
