"""The pieces of a run's detail page, rendered from templates under admin/reporting/run/."""

from django.template.loader import render_to_string

from reporting.run_selectors import run_links
from workflows.admin.display import value_table
from workflows.models import Run

CONDITION_COLUMNS = ("field", "operator", "expected", "actual", "passed", "note")
EVALUATED = (Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.CONDITIONS_NOT_MET)


def event_fields_html(run: Run) -> str:
    notification = run.notification
    metadata = {
        "_Object": notification.sobject_type,
        "_NotificationId": notification.notification_id,
        "_OrganizationId": run.notification.inbound_message.organization_id or notification.organization_key,
    }
    return value_table({**notification.fields, **metadata})


def conditions_html(run: Run) -> str:
    rows = [[row.get(column) for column in CONDITION_COLUMNS] for row in run.condition_results]
    # Conditions are evaluated (again) at each attempt: before the first, no rows means "not yet".
    evaluated = run.status in EVALUATED or (run.status == Run.Status.QUEUED and run.attempts > 0)
    return render_to_string(
        "admin/reporting/run/conditions.html",
        {"rows": rows, "evaluated": evaluated, "status": run.get_status_display().lower()},
    )


def task_runs_html(run: Run) -> str:
    return render_to_string("admin/reporting/run/task_runs.html", {"task_runs": list(run.task_runs.all())})


def links_html(run: Run) -> str:
    return render_to_string("admin/reporting/run/links.html", {"run": run, "links": run_links(run=run)})
