"""What a run's conditions say, and the fields its notification teaches the workflow."""

import logging
from collections.abc import Iterable
from dataclasses import asdict

from django.db import transaction

from workflows.conditions import ConditionRow, Match, Operator, evaluate
from workflows.models import Run, Workflow
from workflows.piping import render
from workflows.services.execution.task_attempts import ending, piping_sources

logger = logging.getLogger(__name__)


def learn_fields(workflow: Workflow, fields: Iterable[str]) -> None:
    """Remember the field names messages carry, for the admin's field list and validation."""
    new = set(fields) - set(workflow.known_fields)
    if not new or workflow.fields_from_wsdl:
        return
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if not locked.fields_from_wsdl:
            locked.known_fields = {**{name: "" for name in new}, **locked.known_fields}
            Workflow.objects.filter(pk=workflow.pk).update(known_fields=locked.known_fields)


def conditions_pass(run: Run) -> tuple[bool, list[dict]]:
    """-> whether the run's conditions pass, and each condition's result as Run.condition_results keeps it."""
    sources = piping_sources(run, {})
    rows = [
        ConditionRow(field=c.field, operator=Operator(c.operator), value=c.value) for c in run.workflow.conditions.all()
    ]
    passed, results = evaluate(
        rows,
        match=Match(run.workflow.condition_match),
        event=run.notification.fields,
        resolve=lambda value: render(value, sources).text,
        field_types=run.workflow.known_fields,
    )
    return passed, [{**asdict(result), "operator": str(result.operator)} for result in results]


def conditions_ending(run: Run) -> dict | None:
    """Evaluate the run's conditions into run.condition_results. -> the run's ending when it stops
    here (conditions not met, or they could not be evaluated), None when its tasks are to run."""
    try:
        passed, run.condition_results = conditions_pass(run)
    except Exception as error:
        # A bug must fail this run visibly: raised, it would kill the job and strand the runs
        # claimed with this one until the reaper requeues them all, to meet the same bug again.
        logger.exception("The conditions of run %s could not be evaluated", run.pk)
        return ending(
            Run.Status.FAILED,
            f"Unexpected error evaluating the conditions ({error.__class__.__name__}: {error}). "
            "The details are in the worker's log; replay the run once it is fixed.",
        )
    return None if passed else ending(Run.Status.CONDITIONS_NOT_MET)
