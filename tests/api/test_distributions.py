from datetime import UTC, datetime

import pytest

from directory.models import Contact
from distributions.models import Collaborator, Invitation
from tests.api.conftest import api_client_for, error, result
from tests.factories import (
    make_contact,
    make_delivery_event,
    make_distribution,
    make_invitation,
    make_survey,
    make_survey_response,
    make_user,
)

pytestmark = pytest.mark.django_db

SENT_AT = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
OPENED_AT = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
FINISHED_AT = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
READ = ("distributions.view_survey", "distributions.view_distribution", "distributions.view_invitation")
HISTORY = (*READ, "distributions.view_response")


def invite(distribution, status, **fields):
    contact = make_contact(email=f"{status}-{distribution.pk}@example.com", first_name="Ada")
    return make_invitation(distribution=distribution, contact=contact, status=status, **fields)


def test_it_lists_a_surveys_distributions_with_their_stats(superuser_api):
    survey = make_survey()
    distribution = make_distribution(survey=survey, subject="How did we do?", from_email="surveys@example.com")
    for status in ("email_sent", "email_opened", "survey_finished", "email_hard_bounce", "email_blocked"):
        invite(distribution, status)
    invite(distribution, "email_complaint")
    invite(distribution, "opted_out")
    make_distribution(survey=make_survey())

    (element,) = result(superuser_api.get("distributions", surveyId=survey.public_id))["elements"]

    assert element["id"] == distribution.public_id
    assert element["surveyId"] == survey.public_id
    assert element["headers"]["subject"] == "How did we do?"
    assert element["stats"] == {
        "sent": 5,
        "failed": 1,
        "started": 1,
        "bounced": 1,
        "opened": 2,
        "skipped": 1,
        "finished": 1,
        "complaints": 1,
        "blocked": 1,
    }


def test_a_recipient_who_opted_out_from_the_message_is_in_the_sent_stats(superuser_api):
    survey = make_survey()
    distribution = make_distribution(survey=survey)
    invite(distribution, "opted_out", sent_at=OPENED_AT)  # sent, then the recipient opted out from it
    invite(make_distribution(survey=survey), "opted_out")  # skipped: opted out before

    elements = result(superuser_api.get("distributions", surveyId=survey.public_id))["elements"]

    stats = {element["id"]: element["stats"] for element in elements}
    assert (stats[distribution.public_id]["sent"], stats[distribution.public_id]["skipped"]) == (1, 0)
    assert [(s["sent"], s["skipped"]) for key, s in stats.items() if key != distribution.public_id] == [(0, 1)]


def test_it_needs_the_survey_id_to_list_distributions(superuser_api):
    response = superuser_api.get("distributions")

    assert response.status_code == 400
    assert "surveyId" in error(response)["fieldErrors"]


def test_it_gets_one_distribution_and_checks_its_survey(superuser_api):
    distribution = make_distribution()

    found = result(superuser_api.get(f"distributions/{distribution.public_id}", surveyId=distribution.survey.public_id))
    elsewhere = superuser_api.get(f"distributions/{distribution.public_id}", surveyId=make_survey().public_id)

    assert found["id"] == distribution.public_id
    assert elsewhere.status_code == 404


def test_the_history_gives_each_recipients_status_link_dates_and_response(superuser_api):
    distribution = make_distribution()
    finished = invite(distribution, "survey_finished", sent_at=SENT_AT)
    make_delivery_event(invitation=finished, kind="opened", occurred_at=OPENED_AT)
    response = make_survey_response(invitation=finished, finished_at=FINISHED_AT)
    pending = invite(distribution, "pending")

    first, second = result(superuser_api.get(f"distributions/{distribution.public_id}/history"))["elements"]

    assert first == {
        "contactId": finished.contact.public_id,
        "status": "Survey Finished",
        "surveyLink": f"http://127.0.0.1:8000/s/{finished.token}/",
        "linkExpiration": None,
        "sentAt": "2024-03-05T09:00:00Z",
        "openedAt": "2024-03-05T09:30:00Z",
        "responseStartedAt": response.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "responseCompletedAt": "2024-03-05T10:00:00Z",
        "responseId": response.public_id,
    }
    assert (second["contactId"], second["status"], second["responseId"]) == (pending.contact.public_id, "Pending", None)


def test_the_links_give_each_recipients_individual_link(superuser_api):
    distribution = make_distribution()
    invitation = invite(distribution, "email_sent")

    (link,) = result(
        superuser_api.get(f"distributions/{distribution.public_id}/links", surveyId=distribution.survey.public_id)
    )["elements"]

    assert link["link"].endswith(f"/s/{invitation.token}/")
    assert (link["contactId"], link["email"], link["status"]) == (
        invitation.contact.public_id,
        invitation.contact.email,
        "Email Sent",
    )


def test_a_link_gives_the_address_it_was_emailed_to_after_the_contact_changed_theirs(superuser_api):
    distribution = make_distribution()
    invitation = invite(distribution, "email_hard_bounce")
    went_to = invitation.address
    Contact.objects.filter(pk=invitation.contact_id).update(email="corrected@example.com")

    (link,) = result(
        superuser_api.get(f"distributions/{distribution.public_id}/links", surveyId=distribution.survey.public_id)
    )["elements"]

    assert (link["email"], link["status"]) == (went_to, "Email Hard Bounce")


@pytest.mark.parametrize("channel", ["sms", "two_way_sms"])
def test_a_texts_link_gives_the_phone_it_went_to_where_an_email_would_be(superuser_api, channel):
    distribution = make_distribution(channel=channel)
    contact = make_contact(email="ada@example.com", phone="+14155550123")
    Invitation.objects.create(distribution=distribution, contact=contact, status="sms_sent", address="+14155550123")

    (link,) = result(
        superuser_api.get(f"distributions/{distribution.public_id}/links", surveyId=distribution.survey.public_id)
    )["elements"]

    # As the history CSV's Email Address column carries it (README, History CSV).
    assert (link["email"], link["status"]) == ("+14155550123", "SMS Sent")


def test_a_deleted_contacts_text_link_names_no_phone(superuser_api):
    distribution = make_distribution(channel="sms")
    contact = make_contact(phone="+14155550123")
    invitation = Invitation.objects.create(distribution=distribution, contact=contact, address="+14155550123")
    invitation.contact.delete()

    (link,) = result(
        superuser_api.get(f"distributions/{distribution.public_id}/links", surveyId=distribution.survey.public_id)
    )["elements"]

    assert (link["contactId"], link["email"]) == (None, "")


@pytest.mark.parametrize("path", ["", "/history", "/links"])
def test_a_user_who_may_not_distribute_the_survey_is_refused(path):
    distribution = make_distribution()
    api = api_client_for(make_user(), *HISTORY)

    response = api.get(f"distributions/{distribution.public_id}{path}", surveyId=distribution.survey.public_id)

    assert response.status_code == 403
    assert error(response)["errorCode"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("can_distribute, status", [(True, 200), (False, 403)])
def test_a_collaborator_needs_the_distribute_permission(can_distribute, status):
    survey = make_survey()
    user = make_user()
    Collaborator.objects.create(survey=survey, user=user, can_distribute=can_distribute)
    make_distribution(survey=survey)

    assert api_client_for(user, *READ).get("distributions", surveyId=survey.public_id).status_code == status


def test_the_survey_owner_sees_its_distributions():
    owner = make_user()
    survey = make_survey(owner=owner)
    make_distribution(survey=survey)

    assert len(result(api_client_for(owner, *READ).get("distributions", surveyId=survey.public_id))["elements"]) == 1


def test_a_deleted_contacts_row_stays_in_the_history_naming_nobody(superuser_api):
    distribution = make_distribution()
    invitation = invite(distribution, "survey_finished")
    invitation.contact.delete()

    (row,) = result(superuser_api.get(f"distributions/{distribution.public_id}/history"))["elements"]

    assert (row["contactId"], row["status"]) == (None, "Survey Finished")
    assert Invitation.objects.get(pk=invitation.pk).address == ""
