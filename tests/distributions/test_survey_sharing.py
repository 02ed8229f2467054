"""Who owns a survey, and who collaborates on it, decides who may distribute it. So only its owner
(or a superuser) may change them: a staff user who may change surveys must not be able to give
themselves, or anyone, the right to send another's survey."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from distributions.models import Collaborator, Survey
from distributions.selectors import survey_may_distribute
from tests.factories import make_survey, make_user

pytestmark = pytest.mark.django_db


def staff_with(*codenames):
    user = make_user()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="distributions", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return user, client


def management(prefix, total=0, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": total,
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


def survey_form(owner, *, name="Shared survey", collaborator=None):
    """The survey page's POST: no questions or fields; one collaborator row allowed to distribute if given."""
    data = {
        "name": name,
        "public_title": "",
        "owner": owner.pk,
        "introduction": "",
        "thank_you": "Thanks!",
        "sms_introduction": "",
        "sms_thank_you": "",
        **management("questions"),
        **management("fields"),
        **management("collaborators", total=1 if collaborator else 0),
        "_save": "Save",
    }
    if collaborator:
        data |= {"collaborators-0-user": collaborator.pk, "collaborators-0-can_distribute": "on"}
    return data


def change_url(survey):
    return reverse("admin:distributions_survey_change", args=[survey.pk])


def test_a_staff_user_who_may_change_surveys_cannot_take_over_anothers_survey():
    survey = make_survey(owner=make_user(username="owner"))
    editor, client = staff_with("view_survey", "change_survey")

    response = client.post(change_url(survey), survey_form(editor, name="Renamed"))

    assert response.status_code == 302
    survey.refresh_from_db()
    assert (survey.name, survey.owner.username) == ("Renamed", "owner")  # the rest of the form is saved
    assert not survey_may_distribute(survey=survey, user_id=editor.pk)


def test_a_staff_user_who_may_change_surveys_cannot_make_themselves_a_collaborator_on_anothers_survey():
    survey = make_survey(owner=make_user(username="owner"))
    editor, client = staff_with("view_survey", "change_survey", "add_collaborator", "change_collaborator")

    page = client.get(change_url(survey))
    client.post(change_url(survey), survey_form(survey.owner, collaborator=editor))

    assert "collaborators-0-user" not in page.content.decode()  # no row to add one
    assert not Collaborator.objects.filter(survey=survey).exists()
    assert not survey_may_distribute(survey=survey, user_id=editor.pk)


def test_a_staff_user_who_may_add_surveys_owns_those_they_add():
    superuser = make_user(username="root", is_superuser=True)
    author, client = staff_with("view_survey", "add_survey")

    refused = client.post(reverse("admin:distributions_survey_add"), survey_form(superuser))
    added = client.post(reverse("admin:distributions_survey_add"), survey_form(author, name="Mine"))

    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert added.status_code == 302
    assert not Survey.objects.filter(owner=superuser).exists()
    assert Survey.objects.get(name="Mine").owner == author


def test_the_owner_may_share_their_survey_and_hand_it_over():
    owner, client = staff_with("view_survey", "change_survey", "add_collaborator", "change_collaborator")
    survey = make_survey(owner=owner)
    colleague, successor = make_user(username="colleague"), make_user(username="successor")

    shared = client.post(change_url(survey), survey_form(owner, collaborator=colleague))
    row = Collaborator.objects.get(survey=survey)
    handed = client.post(
        change_url(survey),
        {
            **survey_form(successor, collaborator=colleague),
            **management("collaborators", 1, 1),
            "collaborators-0-id": row.pk,
        },
    )

    assert (shared.status_code, handed.status_code) == (302, 302)
    survey.refresh_from_db()
    assert survey.owner == successor
    assert survey_may_distribute(survey=survey, user_id=colleague.pk)


def test_an_owner_who_may_add_collaborators_but_not_change_them_adds_one():
    # Without the permissions to change collaborators or view users, the new row still takes a
    # user: it was offered without one, and saving it failed at the database (500).
    owner, client = staff_with("view_survey", "change_survey", "view_collaborator", "add_collaborator")
    survey = make_survey(owner=owner)
    colleague = make_user(username="colleague")

    page = client.get(change_url(survey)).content.decode()
    response = client.post(change_url(survey), survey_form(owner, collaborator=colleague))

    assert 'name="collaborators-__prefix__-user"' in page
    assert response.status_code == 302
    assert survey_may_distribute(survey=survey, user_id=colleague.pk)
