"""A run's page (in the admin and through the API) shows the survey links its distribute task made
only to who may see those invitations: a link opens the recipient's survey, answers included, so
the right to troubleshoot runs must not be the right to read and answer everyone's surveys."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from distributions.models import Collaborator, Invitation
from tests.api.conftest import api_client_for, result
from tests.factories import (
    case_fields,
    make_distribute_task,
    make_run,
    make_sender_domain,
    make_survey,
    make_user,
    make_workflow,
)
from workflows.services.execution import run_execute

pytestmark = pytest.mark.django_db

RUN_VIEW = ("workflows.view_run", "workflows.view_workflow")
LINKS_VIEW = ("distributions.view_survey", "distributions.view_distribution", "distributions.view_invitation")


@pytest.fixture
def distributed(django_capture_on_commit_callbacks, settings):
    """(run, invitation) of a run whose task emailed a survey link, executed as the worker does."""
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"
    make_sender_domain("example.com")
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey)
    run = make_run(workflow=workflow, fields=case_fields())
    with django_capture_on_commit_callbacks(execute=True):
        run_execute(run_id=run.pk)
    return run, Invitation.objects.get()


def staff_with(client, *codenames):
    user = make_user()
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
    client.force_login(user)
    return user


def test_the_run_page_cuts_the_survey_links_for_who_may_not_view_invitations(client, distributed):
    run, invitation = distributed
    staff_with(client, *RUN_VIEW)

    page = client.get(reverse("admin:workflows_run_change", args=[run.pk])).content.decode()

    assert invitation.token not in page
    assert f"https://surveys.example.com/s/{invitation.token[:6]}…/" in page  # output, text and html bodies
    assert run.task_runs.get().output["SurveyLink"].endswith(f"/s/{invitation.token}/")  # stored whole


def test_the_run_page_shows_the_survey_links_to_who_may_view_invitations(client, distributed):
    run, invitation = distributed
    staff_with(client, *RUN_VIEW, "distributions.view_invitation")

    page = client.get(reverse("admin:workflows_run_change", args=[run.pk])).content.decode()

    assert f"https://surveys.example.com/s/{invitation.token}/" in page


def run_through_the_api(api, run) -> dict:
    return result(api.get(f"workflows/{run.workflow_id}/runs/{run.pk}"))


def test_the_api_cuts_a_runs_survey_links_for_who_may_not_list_the_distributions_links(distributed):
    run, invitation = distributed
    stranger = make_user()  # all the permissions, but not the survey's owner nor a collaborator who distributes
    for api in (api_client_for(make_user(), *RUN_VIEW), api_client_for(stranger, *RUN_VIEW, *LINKS_VIEW)):
        text = str(run_through_the_api(api, run)["taskAttempts"])

        assert invitation.token not in text
        assert f"https://surveys.example.com/s/{invitation.token[:6]}…/" in text


def test_the_api_shows_a_runs_survey_links_to_the_owner_a_distributing_collaborator_and_a_superuser(distributed):
    run, invitation = distributed
    survey = invitation.distribution.survey
    collaborator = make_user()
    Collaborator.objects.create(survey=survey, user=collaborator, can_distribute=True)
    for user in (survey.owner, collaborator, make_user(is_superuser=True)):
        api = api_client_for(user, *RUN_VIEW, *LINKS_VIEW)

        (attempt,) = run_through_the_api(api, run)["taskAttempts"]

        assert attempt["output"]["SurveyLink"] == f"https://surveys.example.com/s/{invitation.token}/"
