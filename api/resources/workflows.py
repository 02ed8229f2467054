"""Workflows and their runs (this product's extension, in the same conventions):
GET /workflows, GET /workflows/{id}/runs (filtered as in Workflow Reporting),
GET /workflows/{id}/runs/{runId}, POST /workflows/{id}/runs/{runId}/replay.

Workflows and runs are named by their numbers, as Workflow Reporting shows them ("Run 1234").
"""

import datetime

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api.base import ApiView, get_or_404, utc_datetime
from api.envelope import ApiError
from api.idempotency import idempotent
from api.pagination import Page, PageQuerySerializer, page_of
from distributions.selectors import may_see_distribution_links
from reporting.run_selectors import (
    run_conditions_evaluated,
    run_distribution_ids,
    run_event_fields,
    runs_search,
    runs_with_first_error,
    task_runs_without_survey_links,
)
from workflows.models import Run, Workflow
from workflows.services.replay import ReplayError, ReplayNotAllowed, runs_replay


class WorkflowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    isEnabled = serializers.BooleanField(source="enabled")
    salesforceObject = serializers.CharField(source="salesforce_object")
    ownerId = serializers.CharField(source="owner.username", help_text="The owner's username.")
    creationDate = utc_datetime(source="created_at")
    lastModified = utc_datetime(source="updated_at")


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    workflowId = serializers.IntegerField(source="workflow_id")
    status = serializers.CharField(help_text="queued, running, succeeded, failed, conditions_not_met or skipped.")
    statusReason = serializers.CharField(source="status_reason")
    recordId = serializers.CharField(source="notification.record_id", help_text="The Salesforce record's id.")
    attempts = serializers.IntegerField()
    replayOf = serializers.IntegerField(source="replay_of_id", allow_null=True)
    firstError = serializers.CharField(source="first_error", allow_null=True, default=None)
    creationDate = utc_datetime(source="created_at")
    finishedAt = utc_datetime(source="finished_at", allow_null=True)


class ConditionResultSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, default=None)
    operator = serializers.CharField(allow_null=True, default=None)
    expected = serializers.JSONField(allow_null=True, default=None)
    actual = serializers.JSONField(allow_null=True, default=None)
    passed = serializers.BooleanField(allow_null=True, default=None)
    note = serializers.CharField(allow_null=True, default=None)


class TaskAttemptSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    kind = serializers.CharField()
    kindLabel = serializers.CharField(source="kind_label")
    attempt = serializers.IntegerField()
    status = serializers.CharField(help_text="succeeded, failed or retrying.")
    resolvedInput = serializers.DictField(source="resolved_input", child=serializers.JSONField())
    output = serializers.DictField(child=serializers.JSONField())
    error = serializers.CharField()
    notes = serializers.ListField(child=serializers.CharField())
    startedAt = utc_datetime(source="started_at")
    finishedAt = utc_datetime(source="finished_at")
    durationMs = serializers.IntegerField(source="duration_ms")


class RunDetailSerializer(RunSerializer):
    nextAttemptAt = utc_datetime(source="next_attempt_at")
    eventFields = serializers.SerializerMethodField(
        help_text="The notification's fields and _Object, _NotificationId, _OrganizationId."
    )
    conditionsEvaluated = serializers.SerializerMethodField()
    conditions = ConditionResultSerializer(many=True, source="condition_results")
    taskAttempts = TaskAttemptSerializer(many=True, source="task_runs.all")

    def get_eventFields(self, run) -> dict[str, str]:
        return run_event_fields(run=run)

    def get_conditionsEvaluated(self, run) -> bool:
        return run_conditions_evaluated(run=run)


class ReplaySerializer(serializers.Serializer):
    runId = serializers.IntegerField(source="pk", help_text="The new run: a replay is a new run.")
    replayOf = serializers.IntegerField(source="replay_of_id")
    status = serializers.CharField()


def _start_of(day: datetime.date) -> datetime.datetime | None:
    """Midnight of `day` in the site's time zone, or None when it is outside what a datetime can
    hold once in UTC (the first or last days of the calendar): no run is that early or late."""
    try:
        start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        start.astimezone(datetime.UTC)
    except OverflowError:
        return None
    return start


# The one way the documentation writes dates: 01/02/2024 would be read as January 2 by Django's
# default formats, whatever the caller meant.
DATE_FILTER = {
    "input_formats": ["%Y-%m-%d"],
    "error_messages": {"invalid": "Write the date as YYYY-MM-DD, e.g. 2024-03-05."},
}


class RunFilter(django_filters.FilterSet):
    """Workflow Reporting's filters: status, started from/to (dates included, the site's time zone),
    search (a notification or Salesforce record id, or a contact's email address)."""

    status = django_filters.ChoiceFilter(choices=Run.Status.choices)
    # "from" is a Python keyword: the filter is named from_ and declared as "from" below.
    to = django_filters.DateFilter(
        method="filter_to", help_text="Runs started on or before this date (YYYY-MM-DD).", **DATE_FILTER
    )
    search = django_filters.CharFilter(
        method="filter_search", max_length=254, help_text="A notification id, a Salesforce record id or an email."
    )

    def filter_from(self, runs, name, value):
        start = _start_of(value)
        if start is None:  # before the first or after the last instant a datetime holds
            return runs if value.year == datetime.MINYEAR else runs.none()
        return runs.filter(created_at__gte=start)

    def filter_to(self, runs, name, value):
        # The last day of the calendar has no next day: up to it is every run.
        end = None if value == datetime.date.max else _start_of(value + datetime.timedelta(days=1))
        return runs if end is None else runs.filter(created_at__lt=end)

    def filter_search(self, runs, name, value):
        return runs_search(runs=runs, term=value)


RunFilter.base_filters["from"] = django_filters.DateFilter(
    method="filter_from", help_text="Runs started on or after this date (YYYY-MM-DD).", **DATE_FILTER
)


# The filters as the schema publishes them (drf-spectacular describes a FilterSet's filters only
# for list views, which this view is not in its eyes: it answers a page object, not an array).
RUN_FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=Run.Status.values, description="Runs in this status."),
    OpenApiParameter("from", OpenApiTypes.DATE, description=RunFilter.base_filters["from"].extra["help_text"]),
    OpenApiParameter("to", OpenApiTypes.DATE, description=RunFilter.base_filters["to"].extra["help_text"]),
    OpenApiParameter("search", str, description=RunFilter.base_filters["search"].extra["help_text"]),
]


def _is_number(text: str) -> bool:
    # Within a bigint: a longer number would make PostgreSQL refuse the query instead of finding nothing.
    return text.isascii() and text.isdigit() and len(text) <= 18


def workflow_or_404(workflow_id: str) -> Workflow:
    if not _is_number(workflow_id):
        raise ApiError(f"No workflow {workflow_id}: list them with GET /workflows.", code="NOT_FOUND", status=404)
    return get_or_404(Workflow.objects.all(), f"No workflow {workflow_id}.", pk=int(workflow_id))


def run_or_404(workflow: Workflow, run_id: str) -> Run:
    message = f"No run {run_id} of workflow {workflow.pk}."
    if not _is_number(run_id):
        raise ApiError(message, code="NOT_FOUND", status=404)
    runs = Run.objects.filter(workflow=workflow).select_related("workflow", "notification__inbound_message")
    return get_or_404(runs_with_first_error(runs).prefetch_related("task_runs"), message, pk=int(run_id))


class WorkflowListView(ApiView):
    required_permissions = {"GET": ("workflows.view_workflow",)}

    @extend_schema(
        operation_id="listWorkflows", parameters=[PageQuerySerializer], responses=page_of(WorkflowSerializer)
    )
    def get(self, request):
        page = Page(request, list_name="workflows")
        workflows = Workflow.objects.select_related("owner").order_by("id")
        if page.after is not None:
            workflows = workflows.filter(id__gt=page.after)
        rows = list(workflows[: page.fetch_size])
        return Response(page.result(rows, key=lambda row: row.pk, serialize=lambda row: WorkflowSerializer(row).data))


class RunListView(ApiView, GenericAPIView):
    required_permissions = {"GET": ("workflows.view_workflow", "workflows.view_run")}
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]
    filterset_class = RunFilter
    queryset = Run.objects.none()  # the workflow's runs: get_queryset

    def get_queryset(self):
        return Run.objects.filter(workflow=self.workflow)

    @extend_schema(
        operation_id="listRuns",
        parameters=[*RUN_FILTER_PARAMETERS, PageQuerySerializer],
        responses=page_of(RunSerializer),
    )
    def get(self, request, workflow_id):
        self.workflow = workflow_or_404(workflow_id)
        page = Page(request, list_name="runs")
        runs = runs_with_first_error(self.filter_queryset(self.get_queryset())).select_related("notification")
        if page.after is not None:
            created_at, run_id = page.after
            created_at = parse_datetime(created_at)
            runs = runs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=run_id))
        # Newest first, as Workflow Reporting lists them: the run_workflow_recent index.
        rows = list(runs.order_by("-created_at", "-id")[: page.fetch_size])
        return Response(
            page.result(
                rows,
                key=lambda row: [row.created_at.isoformat(), row.pk],
                serialize=lambda row: RunSerializer(row).data,
            )
        )


class RunDetailView(ApiView):
    required_permissions = {"GET": ("workflows.view_workflow", "workflows.view_run")}

    @extend_schema(operation_id="getRun", responses=RunDetailSerializer)
    def get(self, request, workflow_id, run_id):
        run = run_or_404(workflow_or_404(workflow_id), run_id)
        task_runs = run.task_runs.all()  # the prefetched attempts the serializer reads
        # Whole to who may list those distributions' links (GET /distributions/{id}/links); cut for anyone else.
        if not may_see_distribution_links(
            user=request.user, distribution_ids=run_distribution_ids(task_runs=task_runs)
        ):
            task_runs_without_survey_links(task_runs)
        return Response(RunDetailSerializer(run).data)


class RunReplayView(ApiView):
    # As in Workflow Reporting: a replay adds a run, copied from one the user must be able to see.
    required_permissions = {"POST": ("workflows.view_workflow", "workflows.view_run", "workflows.add_run")}

    @extend_schema(
        operation_id="replayRun",
        summary="Run the stored notification again with the workflow's current definition, as a new run",
        request=None,
        responses={201: ReplaySerializer},
    )
    @idempotent
    def post(self, request, workflow_id, run_id):
        run = run_or_404(workflow_or_404(workflow_id), run_id)
        try:
            (replay,) = runs_replay(runs=[run], user=request.user)
        except ReplayNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        except ReplayError as error:
            raise ApiError(str(error), code="WORKFLOW_DISABLED") from None
        return Response(ReplaySerializer(replay).data, status=201)
