"""The reporting dashboard and each survey's distribution summary, as admin pages.

Served through admin.site.admin_view (see reporting/urls.py): staff only, anonymous users go to
the admin login. The views read selectors from reporting.summary and draw with reporting.charts.

Permissions: a figure counts rows of some models, and is shown only to users who may view those
rows in the admin: no count reveals more than the lists it sums up.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from distributions.models import Survey
from reporting.charts import Series, bar_chart, funnel_chart
from reporting.summary import (
    FUNNEL_RULES,
    RUN_STATUS_LABELS,
    WINDOW_DAYS,
    ChannelSummary,
    invitation_funnel,
    recent_surveys,
    runs_per_day_by_status,
    survey_channel_summary,
    survey_daily_responses,
)

# A survey's summary names the survey and counts its invitations by how far they got (the
# invitation list shows the same statuses one by one).
SUMMARY_PERMISSIONS = ("distributions.view_survey", "distributions.view_invitation")
# The dashboard's sections: runs per day by status; the funnel of invitations; links to summaries.
RUNS_CHART_PERMISSIONS = ("workflows.view_run",)
FUNNEL_PERMISSIONS = ("distributions.view_invitation",)
DAY_FORMAT = "%b %d"
# Runs by status, in the colours people expect: green succeeded, vermilion failed, greys for
# the ones that never ran a task.
RUN_STATUS_COLORS = {
    "queued": "#56B4E9",
    "running": "#0072B2",
    "succeeded": "#009E73",
    "failed": "#D55E00",
    "conditions_not_met": "#999999",
    "skipped": "#CC79A7",
}


def dashboard(request):
    """The sections the user may see; 403 when none."""
    user = request.user
    context = {
        **admin.site.each_context(request),
        "title": "Reporting dashboard",
        "window_days": WINDOW_DAYS,
        "runs_chart": _runs_chart() if user.has_perms(RUNS_CHART_PERMISSIONS) else None,
        "funnel_chart": _funnel_chart() if user.has_perms(FUNNEL_PERMISSIONS) else None,
        "funnel_rules": FUNNEL_RULES.items(),
        "show_summaries": user.has_perms(SUMMARY_PERMISSIONS),
    }
    if context["runs_chart"] is None and context["funnel_chart"] is None and not context["show_summaries"]:
        raise PermissionDenied
    if context["show_summaries"]:
        context["surveys"] = recent_surveys()
    return TemplateResponse(request, "reporting/dashboard.html", context)


def _runs_chart() -> str:
    runs = runs_per_day_by_status()
    return bar_chart(
        title=f"Workflow runs per day by status (last {WINDOW_DAYS} days)",
        categories=[day.strftime(DAY_FORMAT) for day in runs.days],
        series=[
            Series(RUN_STATUS_LABELS[status], counts, RUN_STATUS_COLORS.get(status, ""))
            for status, counts in runs.by_status.items()
        ],
        stacked=True,
        x_label="Day the run was created",
        y_label="Runs",
    )


def _funnel_chart() -> str:
    return funnel_chart(
        title=f"Invitation funnel (invitations created in the last {WINDOW_DAYS} days)",
        steps=[(step.label, step.count) for step in invitation_funnel()],
    )


def survey_summary(request, survey_id: int):
    if not request.user.has_perms(SUMMARY_PERMISSIONS):
        raise PermissionDenied
    survey = get_object_or_404(Survey, pk=survey_id)
    channels = survey_channel_summary(survey=survey)
    daily = survey_daily_responses(survey=survey, channels=[summary.channel for summary in channels])
    context = {
        **admin.site.each_context(request),
        "title": f"Distribution summary of {survey}",
        "survey": survey,
        "opts": Survey._meta,
        "distributions_url": _distributions_url(request, survey),
        "window_days": WINDOW_DAYS,
        "rows": [_summary_row(summary.label, summary) for summary in channels],
        "total": _summary_row("All channels", _total(channels)) if len(channels) > 1 else None,
        "charts": [
            bar_chart(
                title=f"{series.label}: responses per day (last {WINDOW_DAYS} days)",
                categories=[day.strftime(DAY_FORMAT) for day in series.days],
                series=[Series("Started", series.started), Series("Finished", series.finished)],
                x_label="Day",
                y_label="Responses",
            )
            for series in daily
        ],
    }
    return TemplateResponse(request, "reporting/survey_summary.html", context)


def _distributions_url(request, survey: Survey) -> str:
    """The survey's Distributions page, or "" for a user that page refuses (it needs more than this one)."""
    if not admin.site.get_model_admin(Survey).may_open_distributions(request):
        return ""
    return reverse("admin:distributions_survey_distributions", args=[survey.pk])


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _summary_row(label: str, summary: ChannelSummary) -> dict:
    return {
        "label": label,
        "audience": summary.audience,
        "started": summary.started,
        "finished": summary.finished,
        "response_rate": percent(summary.response_rate),
        "completion_rate": percent(summary.completion_rate),
    }


def _total(channels: list[ChannelSummary]) -> ChannelSummary:
    return ChannelSummary(
        channel="",
        audience=sum(summary.audience for summary in channels),
        started=sum(summary.started for summary in channels),
        finished=sum(summary.finished for summary in channels),
    )
