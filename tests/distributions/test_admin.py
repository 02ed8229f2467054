from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distributions.models import DeliveryEvent, Distribution, Invitation, Survey
from distributions.services.responses import invitation_opt_out
from tests.factories import (
    make_contact,
    make_distribution,
    make_invitation,
    make_question,
    make_survey,
    make_survey_field,
    make_survey_response,
    make_user,
)
from tests.pages import result_rows, table_rows, texts

pytestmark = pytest.mark.django_db

Status = Invitation.Status


def survey_action(client, action, *surveys):
    return client.post(
        reverse("admin:distributions_survey_changelist"),
        {"action": action, "_selected_action": [survey.pk for survey in surveys]},
        follow=True,
    )


def distributions_page(client, survey, **params):
    return client.get(reverse("admin:distributions_survey_distributions", args=[survey.pk]), params)


def invite(distribution, status):
    contact = make_contact(email=f"{status}@example.com")
    return make_invitation(distribution=distribution, contact=contact, status=status)


# --- surveys --------------------------------------------------------------------------------


def test_it_lists_surveys_with_status_owner_and_question_count(admin_client):
    survey = make_survey(name="After-case survey", owner=make_user(username="grace"))
    make_question(survey=survey)
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")

    response = admin_client.get(reverse("admin:distributions_survey_changelist"))

    assert result_rows(response.content) == [
        {
            "name": "After-case survey",
            "status": "Active",
            "owner": "grace",
            "question_count": "2",
            "distributions_link": "Distributions",
        }
    ]


def test_it_activates_pauses_and_closes_surveys_through_actions(admin_client):
    survey = make_survey(status=Survey.Status.NEW)
    make_question(survey=survey)

    for action, status in [("activate", "active"), ("pause", "paused"), ("close", "closed"), ("activate", "active")]:
        response = survey_action(admin_client, action, survey)
        survey.refresh_from_db()
        assert survey.status == status
        assert f"Now {Survey.Status(status).label.lower()}: {survey.name}." in response.content.decode()


def test_it_refuses_to_activate_a_survey_without_questions(admin_client):
    survey = make_survey(name="Empty", status=Survey.Status.NEW)

    response = survey_action(admin_client, "activate", survey)

    survey.refresh_from_db()
    assert survey.status == Survey.Status.NEW
    assert "Add at least one question to “Empty” before activating it." in response.content.decode()


def test_it_creates_a_survey_with_questions_fields_and_collaborators(admin_client):
    owner, collaborator = make_user(), make_user()
    data = {
        "name": "Store visit",
        "owner": owner.pk,
        "introduction": "",
        "thank_you": "Thanks!",
        **inline_management("questions", 1),
        "questions-0-position": 1,
        "questions-0-kind": "multiple_choice",
        "questions-0-text": "How was ${e://Field/Store}?",
        "questions-0-choices": "Good\nBad",
        "questions-0-required": "on",
        **inline_management("fields", 1),
        "fields-0-name": "Store",
        "fields-0-default_value": "",
        **inline_management("collaborators", 1),
        "collaborators-0-user": collaborator.pk,
        "collaborators-0-can_distribute": "on",
    }

    response = admin_client.post(reverse("admin:distributions_survey_add"), data)

    assert response.status_code == 302
    survey = Survey.objects.get(name="Store visit")
    assert survey.status == Survey.Status.NEW
    assert survey.questions.get().choice_list() == ["Good", "Bad"]
    assert list(survey.fields.values_list("name", flat=True)) == ["Store"]
    assert survey.collaborators.get().can_distribute is True


def test_it_asks_for_the_options_of_a_multiple_choice_question(admin_client):
    data = {
        "name": "Store visit",
        "owner": make_user().pk,
        "thank_you": "Thanks!",
        **inline_management("questions", 1),
        "questions-0-position": 1,
        "questions-0-kind": "multiple_choice",
        "questions-0-text": "How was it?",
        "questions-0-choices": "  \n",
        **inline_management("fields", 0),
        **inline_management("collaborators", 0),
    }

    response = admin_client.post(reverse("admin:distributions_survey_add"), data)

    assert response.status_code == 200
    assert "A multiple-choice question needs its options, one per line." in response.content.decode()


def inline_management(prefix, total):
    return {
        f"{prefix}-TOTAL_FORMS": total,
        f"{prefix}-INITIAL_FORMS": 0,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


def test_it_warns_when_a_declared_field_differs_only_by_case_from_contacts_data(admin_client):
    survey = make_survey()
    make_survey_field(survey=survey, name="store")
    make_survey_field(survey=survey, name="Region")
    make_contact(email="ada@example.com", embedded_data={"Store": "Milan", "Region": "North"})

    content = admin_client.get(reverse("admin:distributions_survey_change", args=[survey.pk])).content.decode()

    assert "The embedded-data field “store” differs only by case from “Store”" in content
    assert "“Region” differs" not in content


def test_it_does_not_warn_when_declared_names_match_exactly(admin_client):
    survey = make_survey()
    make_survey_field(survey=survey, name="Store")
    make_contact(email="ada@example.com", embedded_data={"Store": "Milan"})

    content = admin_client.get(reverse("admin:distributions_survey_change", args=[survey.pk])).content.decode()

    assert "differs only by case" not in content


def test_the_survey_page_links_to_its_distributions_and_history(admin_client):
    survey = make_survey()

    content = admin_client.get(reverse("admin:distributions_survey_change", args=[survey.pk])).content.decode()

    assert reverse("admin:distributions_survey_distributions", args=[survey.pk]) in content
    assert reverse("reporting:survey_history_csv", args=[survey.pk]) in content


# --- the Distributions page -----------------------------------------------------------------


def test_the_distributions_page_counts_how_far_recipients_got(admin_client):
    survey = make_survey()
    distribution = make_distribution(survey=survey)
    invite(distribution, Status.PENDING)
    invite(distribution, Status.EMAIL_SKIPPED)
    invite(distribution, Status.OPTED_OUT)
    invite(distribution, Status.EMAIL_FAILED)
    invite(distribution, Status.EMAIL_SENT)
    invite(distribution, Status.EMAIL_HARD_BOUNCE)
    invite(distribution, Status.EMAIL_SOFT_BOUNCE)
    invite(distribution, Status.EMAIL_OPENED)
    invite(distribution, Status.SURVEY_STARTED)
    invite(distribution, Status.SURVEY_FINISHED)
    other = invite(make_distribution(survey=survey), Status.SURVEY_FINISHED)

    response = distributions_page(admin_client, survey)

    rows = {row.pk: row for row, _, _ in response.context["distributions"]}
    counts = {
        name: getattr(rows[distribution.pk], name)
        for name in ["audience", "pending", "skipped", "sent", "failed", "bounced", "opened", "started", "finished"]
    }
    assert counts == {
        "audience": 10,
        "pending": 1,
        "skipped": 2,
        "sent": 6,
        "failed": 1,
        "bounced": 2,
        "opened": 3,
        "started": 2,
        "finished": 1,
    }
    assert rows[other.distribution_id].finished == 1


def test_a_recipient_who_opted_out_from_the_email_counts_as_sent_not_skipped(admin_client):
    survey = make_survey()
    distribution = make_distribution(survey=survey)
    received = make_invitation(
        distribution=distribution,
        contact=make_contact(email="reader@example.com"),
        status=Status.EMAIL_SENT,
        sent_at=timezone.now(),
    )
    invitation_opt_out(invitation=received)  # from the email's opt-out link
    invite(distribution, Status.OPTED_OUT)  # opted out before: the recipient rules skipped it

    response = distributions_page(admin_client, survey)

    row = response.context["distributions"][0][0]
    assert (row.audience, row.skipped, row.sent) == (2, 1, 1)
    assert "Opted Out before it was sent" in response.content.decode()


def test_the_distributions_page_links_to_invitations_and_csv_downloads(admin_client):
    distribution = make_distribution()
    invite(distribution, Status.EMAIL_SENT)

    content = distributions_page(admin_client, distribution.survey).content.decode()

    assert f"{reverse('admin:distributions_invitation_changelist')}?distribution={distribution.pk}" in content
    assert reverse("reporting:distribution_history_csv", args=[distribution.pk]) in content
    assert reverse("reporting:survey_history_csv", args=[distribution.survey_id]) in content


def test_the_distributions_page_counts_in_one_query_whatever_the_number_of_distributions(admin_client):
    def queries_for(survey):
        with CaptureQueriesContext(connection) as queries:
            assert distributions_page(admin_client, survey).status_code == 200
        return len(queries)

    small, large = make_survey(), make_survey()
    invite(make_distribution(survey=small), Status.EMAIL_SENT)
    for _ in range(5):
        distribution = make_distribution(survey=large)
        invite(distribution, Status.EMAIL_SENT)
        invite(distribution, Status.SURVEY_FINISHED)

    assert queries_for(large) == queries_for(small)
    with CaptureQueriesContext(connection) as queries:
        distributions_page(admin_client, large)
    assert sum('"distributions_invitation"' in query["sql"] for query in queries.captured_queries) == 1


def test_the_distributions_page_shows_newest_first_a_page_at_a_time(admin_client, monkeypatch):
    monkeypatch.setattr("distributions.admin.surveys.DISTRIBUTIONS_PER_PAGE", 2)
    survey = make_survey()
    created = [make_distribution(survey=survey) for _ in range(3)]

    first = distributions_page(admin_client, survey)
    second = distributions_page(admin_client, survey, p=2)

    assert [row.pk for row, _, _ in first.context["distributions"]] == [created[2].pk, created[1].pk]
    assert first.context["older_page"] == 2
    assert [row.pk for row, _, _ in second.context["distributions"]] == [created[0].pk]
    assert second.context["older_page"] is None and second.context["newer_page"] == 1


@pytest.mark.parametrize("page", ["²", "9" * 5000, "9" * 30])
def test_the_distributions_page_shows_the_first_page_for_a_page_number_it_cannot_use(admin_client, page):
    survey = make_survey()
    distribution = make_distribution(survey=survey)

    response = distributions_page(admin_client, survey, p=page)

    assert [row.pk for row, _, _ in response.context["distributions"]] == [distribution.pk]


# --- invitations, distributions, responses ----------------------------------------------------


def test_the_invitation_list_filters_by_distribution(admin_client):
    distribution = make_distribution()
    mine = invite(distribution, Status.EMAIL_SENT)
    other = invite(make_distribution(), Status.EMAIL_SENT)

    response = admin_client.get(reverse("admin:distributions_invitation_changelist"), {"distribution": distribution.pk})

    shown = [invitation.pk for invitation in response.context["cl"].result_list]
    assert shown == [mine.pk]
    assert other.pk not in shown


@pytest.mark.parametrize("parameter", ["distribution", "survey"])
@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000])
def test_the_invitation_list_opens_with_an_id_that_is_not_plain_digits(admin_client, parameter, value):
    invitation = invite(make_distribution(), Status.EMAIL_SENT)

    response = admin_client.get(reverse("admin:distributions_invitation_changelist"), {parameter: value})

    # As for an id that names nothing, the filter offers no choice and is left out.
    assert [shown.pk for shown in response.context["cl"].result_list] == [invitation.pk]


def test_the_invitation_list_says_its_search_matches_whole_addresses_only(admin_client):
    invitation = invite(make_distribution(), Status.EMAIL_SENT)
    url = reverse("admin:distributions_invitation_changelist")

    partial = admin_client.get(url, {"q": invitation.address.split("@")[0]})
    whole = admin_client.get(url, {"q": invitation.address.upper()})

    assert list(partial.context["cl"].result_list) == []
    assert texts(partial.content, '//div[@id="searchbar_helptext"]') == [
        "A whole email address or phone number, a Message-ID or a survey link's token (exact)."
    ]
    assert [shown.pk for shown in whole.context["cl"].result_list] == [invitation.pk]


@pytest.mark.parametrize("typed", ["(415) 555-0100", "+1 415-555-0100", "+14155550100"])
def test_the_invitation_list_finds_a_text_by_its_number_as_people_write_it(admin_client, settings, typed):
    settings.DEFAULT_PHONE_REGION = "US"
    text = make_invitation(
        distribution=make_distribution(channel=Distribution.Channel.SMS), contact=make_contact(phone="+14155550100")
    )
    Invitation.objects.filter(pk=text.pk).update(address="+14155550100")
    invite(make_distribution(), Status.EMAIL_SENT)

    response = admin_client.get(reverse("admin:distributions_invitation_changelist"), {"q": typed})

    assert [shown.pk for shown in response.context["cl"].result_list] == [text.pk]


@pytest.mark.parametrize("term", ["token", "message_id"])
def test_the_invitation_list_finds_an_invitation_by_its_token_or_message_id(admin_client, term):
    invitation = invite(make_distribution(), Status.EMAIL_SENT)
    Invitation.objects.filter(pk=invitation.pk).update(message_id="<invitation-1@example.com>")
    invitation.refresh_from_db()
    invite(make_distribution(), Status.EMAIL_SENT)

    response = admin_client.get(reverse("admin:distributions_invitation_changelist"), {"q": getattr(invitation, term)})

    assert [shown.pk for shown in response.context["cl"].result_list] == [invitation.pk]


def test_the_invitation_search_reads_only_the_rows_it_finds_through_indexes(admin_client, postgres_only):
    """At a million invitations a search that reads the whole table takes seconds: each of its
    matches must be one an index serves (the planner told not to scan the table shows it)."""
    invite(make_distribution(), Status.EMAIL_SENT)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(reverse("admin:distributions_invitation_changelist"), {"q": "ADA@EXAMPLE.COM"})
    [search] = [query["sql"] for query in queries if "UPPER" in query["sql"] and "LIMIT" in query["sql"]]

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {search}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan on distributions_invitation" not in plan
    assert "invitation_address_ci" in plan


def test_the_invitation_list_filters_by_survey(admin_client):
    survey = make_survey()
    first = invite(make_distribution(survey=survey), Status.EMAIL_SENT)
    second = invite(make_distribution(survey=survey), Status.EMAIL_SENT)
    invite(make_distribution(), Status.EMAIL_SENT)

    response = admin_client.get(reverse("admin:distributions_invitation_changelist"), {"survey": survey.pk})

    assert sorted(invitation.pk for invitation in response.context["cl"].result_list) == [first.pk, second.pk]


def test_the_invitation_page_shows_its_delivery_events_contact_and_status(admin_client, settings):
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"
    invitation = invite(make_distribution(), Status.EMAIL_HARD_BOUNCE)
    DeliveryEvent.objects.create(
        invitation=invitation,
        kind="bounced",
        occurred_at=timezone.now(),
        provider="postmark",
        description="550 mailbox <unknown>",
        data={"smtp": "550"},
    )

    content = admin_client.get(reverse("admin:distributions_invitation_change", args=[invitation.pk])).content.decode()

    assert "Email Hard Bounce" in content
    assert "550 mailbox &lt;unknown&gt;" in content
    assert reverse("admin:directory_contact_change", args=[invitation.contact_id]) in content
    assert f"https://surveys.example.com/s/{invitation.token}/" in content
    assert 'name="_save"' not in content


def test_invitations_cannot_be_edited_in_the_admin(admin_client):
    invitation = invite(make_distribution(), Status.EMAIL_SENT)

    response = admin_client.post(
        reverse("admin:distributions_invitation_change", args=[invitation.pk]), {"status": "survey_finished"}
    )

    invitation.refresh_from_db()
    assert response.status_code == 403
    assert invitation.status == Status.EMAIL_SENT


def response_page_rows(admin_client, response, field):
    page = admin_client.get(reverse("admin:distributions_response_change", args=[response.pk]))
    return table_rows(page.content, f'//div[contains(@class, "field-{field}")]//table')


def test_the_response_page_shows_answers_and_embedded_data(admin_client):
    invitation = invite(make_distribution(), Status.SURVEY_FINISHED)
    question = make_question(survey=invitation.distribution.survey, text="What could we do better?")
    response = make_survey_response(
        invitation=invitation, answers={str(question.pk): "Faster replies"}, embedded_data={"Store": "Milan"}
    )

    assert response_page_rows(admin_client, response, "answer_table") == [
        ["Q1. What could we do better?", "Faster replies"]
    ]
    assert response_page_rows(admin_client, response, "embedded_data_table") == [["Store", "Milan"]]


def test_the_response_page_keeps_the_lines_of_a_text_answer(admin_client):
    # A respondent's paragraphs read as they were typed, not run together into one line.
    invitation = invite(make_distribution(), Status.SURVEY_FINISHED)
    question = make_question(survey=invitation.distribution.survey, text="What could we do better?")
    response = make_survey_response(invitation=invitation, answers={str(question.pk): "Faster replies.\n\nAnd <b>"})

    page = admin_client.get(reverse("admin:distributions_response_change", args=[response.pk])).content.decode()

    assert '<td style="white-space: pre-wrap">Faster replies.\n\nAnd &lt;b&gt;</td>' in page


def test_the_response_page_shows_each_kind_of_answer_as_the_respondent_chose_it(admin_client):
    invitation = invite(make_distribution(), Status.SURVEY_FINISHED)
    survey = invitation.distribution.survey
    rating = make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    choice = make_question(survey=survey, kind="multiple_choice", text="Was your issue resolved?", choices="Yes\nNo")
    text = make_question(survey=survey, text="What could we do better?")
    # Stored in the order the questions were answered, not the survey's order.
    answers = {str(text.pk): "Faster replies", str(choice.pk): {"number": 1, "text": "Yes"}, str(rating.pk): 9}
    response = make_survey_response(invitation=invitation, answers=answers)

    assert response_page_rows(admin_client, response, "answer_table") == [
        ["Q1. How likely are you to recommend us?", "9"],
        ["Q2. Was your issue resolved?", "Yes"],
        ["Q3. What could we do better?", "Faster replies"],
    ]


def test_the_response_page_keeps_the_answer_to_a_deleted_question(admin_client):
    invitation = invite(make_distribution(), Status.SURVEY_FINISHED)
    question = make_question(survey=invitation.distribution.survey, kind="multiple_choice", choices="Yes\nNo")
    response = make_survey_response(invitation=invitation, answers={str(question.pk): {"number": 2, "text": "No"}})
    question_id = question.pk
    question.delete()

    assert response_page_rows(admin_client, response, "answer_table") == [[f"Question {question_id} (deleted)", "No"]]


@pytest.mark.parametrize(
    "model", ["survey", "distribution", "invitation", "response", "senderdomain", "frequencyrule", "outboxmessage"]
)
def test_every_list_page_opens(admin_client, model):
    distribution = make_distribution()
    invitation = invite(distribution, Status.SURVEY_FINISHED)
    make_survey_response(invitation=invitation, finished_at=timezone.now() - timedelta(minutes=1))

    response = admin_client.get(reverse(f"admin:distributions_{model}_changelist"))

    assert response.status_code == 200


def test_the_invitation_page_shows_the_message_as_rendered_for_the_recipient(admin_client):
    invitation = invite(make_distribution(), Status.EMAIL_SENT)
    Invitation.objects.filter(pk=invitation.pk).update(
        subject="How did we do, Ada?", html_body='<p onclick="x()">Hi <b>Ada</b></p>', text_body="Hi <Ada>"
    )

    content = admin_client.get(reverse("admin:distributions_invitation_change", args=[invitation.pk])).content.decode()

    assert "How did we do, Ada?" in content
    assert 'srcdoc="&lt;base target=&quot;_blank&quot;&gt;&lt;p onclick=&quot;x()&quot;&gt;Hi' in content
    assert '<pre style="white-space: pre-wrap">Hi &lt;Ada&gt;</pre>' in content


def test_distributions_names_only_the_sends_of_surveys_not_the_admin_section(admin_client):
    index = admin_client.get(reverse("admin:index")).content

    section = texts(index, "//div[contains(@class, 'app-distributions')]//caption")
    assert section == ["Surveys"]
    models = texts(index, "//div[contains(@class, 'app-distributions')]//th/a")
    assert "Distributions" in models and "Surveys" in models
    assert texts(index, "//caption[normalize-space()='Distributions']") == []


def test_the_distributions_page_shows_texts_as_their_own_channels_with_their_counts(admin_client):
    survey = make_survey()
    sms = make_distribution(survey=survey, channel=Distribution.Channel.SMS)
    for status in (Status.PENDING, Status.SMS_SKIPPED, Status.OPTED_OUT, Status.SMS_SENT, Status.SMS_DELIVERED):
        invite(sms, status)
    invite(sms, Status.SMS_FAILED)
    invite(sms, Status.SURVEY_FINISHED)
    two_way = make_distribution(survey=survey, channel=Distribution.Channel.TWO_WAY_SMS)
    invite(two_way, Status.SURVEY_STARTED)

    response = distributions_page(admin_client, survey)

    rows = {row.pk: row for row, _, _ in response.context["distributions"]}
    counts = {name: getattr(rows[sms.pk], name) for name in ["audience", "pending", "skipped", "sent", "failed"]}
    assert counts == {"audience": 7, "pending": 1, "skipped": 2, "sent": 3, "failed": 1}
    assert (rows[two_way.pk].sent, rows[two_way.pk].started) == (1, 1)
    content = response.content.decode()
    assert "<td>SMS</td>" in content and "<td>Two-way SMS</td>" in content
