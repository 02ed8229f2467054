"""The data migration that links distribute tasks to their survey by id instead of by name."""

import importlib

import pytest
from django.apps import apps

from tests.factories import make_distribute_task, make_survey, make_workflow
from workflows.models import Task

pytestmark = pytest.mark.django_db

migration = importlib.import_module("distributions.migrations.0007_distribute_task_survey_by_id")


def task_naming(survey_name: str) -> Task:
    """A distribute task as saved before the migration: its survey by name."""
    task = make_distribute_task(workflow=make_workflow(), survey=make_survey())
    Task.objects.filter(pk=task.pk).update(config={**task.config, "survey": survey_name})
    return task


def survey_of(task: Task):
    task.refresh_from_db()
    return task.config["survey"]


def test_it_links_a_task_to_the_survey_of_its_name():
    survey = make_survey(name="Customer satisfaction")
    task = task_naming("Customer satisfaction")
    migration.names_to_ids(apps, None)
    assert survey_of(task) == survey.pk


def test_it_leaves_a_name_two_surveys_share_for_the_admin_to_choose():
    make_survey(name="Customer satisfaction")
    make_survey(name="Customer satisfaction")
    task = task_naming("Customer satisfaction")
    migration.names_to_ids(apps, None)
    assert survey_of(task) == "Customer satisfaction"


def test_reversed_it_names_the_survey_again():
    survey = make_survey(name="Customer satisfaction")
    task = make_distribute_task(workflow=make_workflow(), survey=survey)
    migration.ids_to_names(apps, None)
    assert survey_of(task) == "Customer satisfaction"
