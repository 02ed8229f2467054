"""The pieces of a run's detail page, rendered from templates under admin/reporting/run/."""

from django.template.loader import render_to_string

from distributions.selectors import may_see_survey_links
from reporting.run_selectors import (
    run_conditions_evaluated,
    run_event_fields,
    run_links,
    task_runs_without_survey_links,
)
from workflows.admin.display import value_table
from workflows.conditions import OPERATOR_LABELS
from workflows.models import Run

CONDITION_COLUMNS = ("field", "operator", "expected", "actual", "passed", "note")


def event_fields_html(run: Run) -> str:
    return value_table(run_event_fields(run=run))


def conditions_html(run: Run) -> str:
    rows = [[_condition_cell(row, column) for column in CONDITION_COLUMNS] for row in run.condition_results]
    return render_to_string(
        "admin/reporting/run/conditions.html",
        {"rows": rows, "evaluated": run_conditions_evaluated(run=run), "status": run.get_status_display().lower()},
    )


def _condition_cell(row: dict, column: str):
    # The operator as the workflow page words it, which says whether case mattered; a code this
    # version does not know (a run kept from an older one) as it was stored.
    value = row.get(column)
    return OPERATOR_LABELS.get(value, value) if column == "operator" else value


def task_runs_html(run: Run, request) -> str:
    """Each task attempt's input, output, error and notes. The survey links in them (a distribute
    task's SurveyLink, the email it rendered) open a recipient's survey: in full only for who may
    view invitations, as the invitation's own page shows its link."""
    task_runs = list(run.task_runs.all())
    if not may_see_survey_links(request.user):
        task_runs = task_runs_without_survey_links(task_runs)
    return render_to_string("admin/reporting/run/task_runs.html", {"task_runs": task_runs})


def links_html(run: Run, request) -> str:
    """Each linked page the request's user may open as a link, any other as its label alone."""
    return render_to_string(
        "admin/reporting/run/links.html", {"run": run, "links": run_links(run=run), "request": request}
    )
