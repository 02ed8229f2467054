"""Admin requests carrying a NUL character: refused with a 400, never a 500 from the database."""

import pytest
from django.urls import reverse

from tests.factories import make_user, make_workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(client):
    client.force_login(make_user(is_superuser=True))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/workflows/run/?status=%00",
        "/admin/distributions/invitation/?status=failed%00",
        "/admin/autocomplete/?app_label=distributions&model_name=collaborator&field_name=user&term=%00",
        "/admin/django_q/failure/%00/change/",
    ],
)
def test_it_answers_400_to_a_nul_in_an_admin_url(superuser, url):
    response = superuser.get(url)

    assert response.status_code == 400
    assert b"NUL character" in response.content


def test_it_answers_400_to_a_nul_in_an_admin_form_and_saves_nothing(superuser):
    workflow = make_workflow(name="Case closed")
    url = reverse("admin:workflows_workflow_changelist")

    response = superuser.post(url, {"action": "rotate_tokens", "_selected_action": [f"{workflow.pk}\x00"]})

    assert response.status_code == 400
    assert workflow.token == type(workflow).objects.get().token


def test_it_serves_admin_pages_without_one(superuser):
    assert superuser.get("/admin/workflows/run/?status=failed").status_code == 200


def test_it_leaves_the_survey_page_to_check_its_own_input(client):
    assert client.get("/s/%00/").status_code == 404
