import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distributions.models import Invitation, Response
from distributions.services.answers import ANSWER_REQUIRED, CHOOSE_A_RATING, REMOVE_NUL
from tests.factories import make_contact, make_invitation, make_question, make_survey
from tests.pages import texts

pytestmark = pytest.mark.django_db
Status = Invitation.Status


@pytest.fixture
def survey():
    survey = make_survey(name="Your visit", introduction="Hello ${m://FirstName}, about ${e://Field/Store}:")
    make_question(survey=survey, kind="multiple_choice", text="How was it?", choices="Good\nFair\nPoor")
    make_question(survey=survey, kind="rating", text="Recommend us?", required=True)
    make_question(survey=survey, kind="text", text="Anything else?")
    return survey


@pytest.fixture
def invitation(survey):
    contact = make_contact(first_name="Ada", email="ada@example.com", embedded_data={"Store": "Milan"})
    return make_invitation(survey=survey, contact=contact, status=Status.EMAIL_SENT)


def url(invitation):
    return reverse("distributions:survey", args=[invitation.token])


def opt_out_url(invitation):
    return reverse("distributions:opt-out", args=[invitation.token])


def names(survey):
    return [f"q{question.pk}" for question in survey.questions.all()]


def status_of(invitation):
    invitation.refresh_from_db()
    return invitation.status


def question_block(html, name):
    """The markup of one question, from its container to the next one."""
    start = html.index(f'id="{name}"')
    end = html.find('class="question', start)
    return html[start : end if end != -1 else len(html)]


def test_it_serves_the_contract_path(invitation):
    assert url(invitation) == f"/s/{invitation.token}/"
    assert opt_out_url(invitation) == f"/s/{invitation.token}/opt-out/"


def test_it_shows_respondents_the_public_title_not_the_internal_name(client, survey, invitation):
    survey.name = "Q3 CSAT – closed cases (internal)"
    survey.public_title = "How did we do?"
    survey.save()

    html = client.get(url(invitation)).content.decode()

    assert texts(html, "//h1") == ["How did we do?"]
    assert texts(html, "//title") == ["How did we do?"]
    assert "internal" not in html


def test_without_a_public_title_it_shows_a_plain_title_not_the_internal_name(client, survey, invitation):
    survey.name = "Q3 CSAT – closed cases (internal)"
    survey.save()

    html = client.get(url(invitation)).content.decode()

    assert texts(html, "//h1") == ["Survey"]
    assert "internal" not in html


def test_it_renders_every_question_with_accessible_inputs(client, survey, invitation):
    choice, rating, text = names(survey)

    html = client.get(url(invitation)).content.decode()

    assert "<legend>How was it?</legend>" in html
    assert (
        f'<label for="{choice}-2"><input type="radio" id="{choice}-2" name="{choice}" value="2"> Fair</label>' in html
    )
    assert "Recommend us? <span" in question_block(html, rating)
    assert all(f'id="{rating}-{n}" name="{rating}" value="{n}"' in html for n in range(11))
    assert f'id="{rating}-11"' not in html
    assert f'<label for="{text}-text">Anything else?</label>' in html
    assert f'<textarea id="{text}-text" name="{text}"' in html
    assert 'name="viewport"' in html and "<style>" in html


def test_it_pipes_contact_fields_and_embedded_data_into_the_introduction(client, invitation):
    html = client.get(url(invitation)).content.decode()

    assert "Hello Ada, about Milan:" in html


def test_it_escapes_piped_values(client, survey):
    question = survey.questions.get(kind="text")
    question.text = "Thanks ${m://FirstName}, how was ${e://Field/Store}?"
    question.save()
    contact = make_contact(first_name="<script>alert(1)</script>", embedded_data={"Store": '"><img src=x>'})
    invitation = make_invitation(survey=survey, contact=contact)

    html = client.get(url(invitation)).content.decode()

    assert "<script>" not in html
    assert "<img" not in html
    assert "Thanks &lt;script&gt;alert(1)&lt;/script&gt;, how was &quot;&gt;&lt;img src=x&gt;?" in html
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_it_loads_nothing_from_other_sites(client, invitation):
    html = client.get(url(invitation)).content.decode()

    links = re.findall(r'(?:src|href|action)="([^"]*)"', html)
    assert links, "the page has its own links (question anchors, the opt-out page)"
    assert [link for link in links if link.startswith(("http", "//"))] == []
    assert "<script" not in html
    assert "@import" not in html and "url(" not in html


def test_saving_for_later_keeps_the_answers_and_marks_partially_finished(client, survey, invitation):
    choice, rating, text = names(survey)

    answer = client.post(url(invitation), {choice: "2", rating: "", text: "Good coffee", "action": "save"})

    assert answer.status_code == 302 and answer["Location"] == url(invitation) + "?saved"
    assert status_of(invitation) == Status.SURVEY_PARTIALLY_FINISHED
    html = client.get(answer["Location"]).content.decode()
    assert "Your answers are saved" in html
    assert f'id="{choice}-2" name="{choice}" value="2" checked' in html
    assert ">Good coffee</textarea>" in html


def test_saving_for_later_says_until_when_the_link_works(client, survey):
    # Whoever comes back after the link expired finds their answers locked: say the deadline.
    contact = make_contact(first_name="Ada", email="ada@example.com")
    expires = datetime(2031, 3, 5, 17, 30, tzinfo=UTC)
    invitation = make_invitation(survey=survey, contact=contact, expires_at=expires)
    choice, _, _ = names(survey)

    answer = client.post(url(invitation), {choice: "2", "action": "save"}, follow=True)

    assert texts(answer.content, '//*[@role="status"]') == [
        "Your answers are saved. Open this link again to finish the survey, before 5 March 2031, 17:30 UTC."
    ]


def test_submitting_finishes_the_survey_and_thanks(client, survey, invitation):
    survey.thank_you = "Grazie ${m://FirstName}!"
    survey.save()
    choice, rating, text = names(survey)

    answer = client.post(url(invitation), {choice: "1", rating: "9", text: "", "action": "finish"})

    assert answer.status_code == 200
    assert "Grazie Ada!" in answer.content.decode()
    assert status_of(invitation) == Status.SURVEY_FINISHED
    response = Response.objects.get(invitation=invitation)
    assert response.finished_at is not None
    assert response.answers == {choice[1:]: {"number": 1, "text": "Good"}, rating[1:]: 9}


def test_a_finished_survey_cannot_be_answered_again(client, survey, invitation):
    _, rating, _ = names(survey)
    client.post(url(invitation), {rating: "9", "action": "finish"})

    again = client.post(url(invitation), {rating: "1", "action": "finish"})

    assert "You have already answered this survey. Thank you." in again.content.decode()
    assert "<form" not in client.get(url(invitation)).content.decode()
    assert Response.objects.get(invitation=invitation).answers == {rating[1:]: 9}


@pytest.mark.parametrize("repeat_text", ["Great staff", "  Great staff  "])
def test_the_same_submit_sent_twice_is_thanked_again_and_recorded_once(client, survey, invitation, repeat_text):
    # A double click, or a reload of the thank-you page (the browser posts the form again): the
    # respondent's answers are in, so they read the thank-you text (it may hold what they came
    # for, a code or a next step), not that they came too late.
    survey.thank_you = "Your code: ${m://FirstName}-42"
    survey.save()
    choice, rating, text = names(survey)
    client.post(url(invitation), {choice: "1", rating: "9", text: "Great staff", "action": "finish"})

    again = client.post(url(invitation), {choice: "1", rating: "9", text: repeat_text, "action": "finish"})

    assert again.status_code == 200
    assert texts(again.content, "//h1") == ["Your answers are in"]
    assert "Your code: Ada-42" in again.content.decode()
    assert list(invitation.events.filter(kind="finished").values_list("kind", flat=True)) == ["finished"]


@pytest.mark.parametrize("action", ["finish", "save"])
def test_other_answers_sent_after_finishing_are_told_the_survey_was_answered(client, survey, invitation, action):
    choice, rating, text = names(survey)
    client.post(url(invitation), {choice: "1", rating: "9", text: "Great staff", "action": "finish"})

    again = client.post(url(invitation), {choice: "1", rating: "9", text: "Changed my mind", "action": action})

    assert "You have already answered this survey. Thank you." in again.content.decode()
    assert Response.objects.get(invitation=invitation).answers[text[1:]] == "Great staff"


def test_the_same_submit_long_after_finishing_is_told_the_survey_was_answered(client, survey, invitation):
    # Thanking a repeat says the guess was right: a forwarded link must not tell its reader the answers.
    _, rating, _ = names(survey)
    client.post(url(invitation), {rating: "9", "action": "finish"})
    Response.objects.filter(invitation=invitation).update(finished_at=timezone.now() - timedelta(minutes=11))

    again = client.post(url(invitation), {rating: "9", "action": "finish"})

    assert "You have already answered this survey. Thank you." in again.content.decode()


def test_it_shows_errors_next_to_the_questions_and_keeps_what_was_typed(client, survey, invitation):
    choice, rating, text = names(survey)

    answer = client.post(url(invitation), {choice: "1", rating: "", text: "Kept", "action": "finish"})

    html = answer.content.decode()
    assert answer.status_code == 200
    assert ANSWER_REQUIRED in question_block(html, rating)
    assert ANSWER_REQUIRED not in question_block(html, choice)
    assert 'role="alert"' in html
    assert ">Kept</textarea>" in html
    assert f'id="{choice}-1" name="{choice}" value="1" checked' in html
    assert not Response.objects.filter(invitation=invitation).exists()
    assert status_of(invitation) == Status.EMAIL_SENT


def test_each_error_is_tied_to_its_question_and_the_summary_leads_to_the_field(client, survey, invitation):
    # WCAG 3.3.1 / 1.3.1 without any script: a screen reader hears the error with the field, and
    # the summary's links move to the field itself, where typing or choosing starts.
    choice, rating, text = names(survey)
    survey.questions.filter(kind="text").update(required=True)

    html = client.post(url(invitation), {choice: "9", rating: "", text: "  ", "action": "finish"}).content.decode()

    assert texts(html, "//title") == ["Error: Survey"]
    assert texts(html, '//*[@role="alert"]/@tabindex') == ["-1"]
    assert texts(html, '//*[@role="alert"]/@autofocus') == [""]
    assert texts(html, '//*[@role="alert"]//a/@href') == [f"#{choice}-1", f"#{rating}-0", f"#{text}-text"]
    assert texts(html, f'//div[@id="{rating}"]/fieldset/@aria-describedby') == [f"{rating}-hint {rating}-error"]
    assert texts(html, f'//div[@id="{choice}"]/fieldset/@aria-describedby') == [f"{choice}-error"]
    assert set(texts(html, f'//input[@name="{rating}"]/@aria-invalid')) == {"true"}
    assert len(texts(html, f'//input[@name="{rating}"]/@aria-invalid')) == 11
    assert texts(html, f'//textarea[@name="{text}"]/@aria-invalid') == ["true"]


def test_a_page_without_errors_marks_nothing_invalid(client, survey, invitation):
    _, rating, _ = names(survey)

    html = client.get(url(invitation)).content.decode()

    assert texts(html, "//@aria-invalid") == []
    assert texts(html, '//*[@role="alert"]') == []
    assert texts(html, f'//div[@id="{rating}"]/fieldset/@aria-describedby') == [f"{rating}-hint"]


def test_it_refuses_a_rating_outside_the_scale(client, survey, invitation):
    _, rating, _ = names(survey)

    answer = client.post(url(invitation), {rating: "11", "action": "save"})

    assert CHOOSE_A_RATING in question_block(answer.content.decode(), rating)
    assert not Response.objects.filter(invitation=invitation).exists()


def test_it_asks_to_remove_a_nul_character_instead_of_failing(client, survey, invitation):
    _, rating, text = names(survey)

    answer = client.post(url(invitation), {rating: "9", text: "fine\x00thanks", "action": "finish"})

    assert answer.status_code == 200
    assert REMOVE_NUL in question_block(answer.content.decode(), text)
    assert not Response.objects.filter(invitation=invitation).exists()


def test_an_expired_link_shows_the_expired_page_and_status(client, survey):
    invitation = make_invitation(
        survey=survey, status=Status.EMAIL_SENT, expires_at=timezone.now() - timedelta(hours=1)
    )

    answer = client.get(url(invitation))

    assert "This link has expired" in answer.content.decode()
    assert "<form" not in answer.content.decode()
    assert status_of(invitation) == Status.LINK_EXPIRED
    assert list(invitation.events.values_list("kind", flat=True)) == ["link_expired"]


def test_posting_to_an_expired_link_saves_nothing(client, survey):
    invitation = make_invitation(survey=survey, expires_at=timezone.now() - timedelta(hours=1))
    _, rating, _ = names(survey)

    answer = client.post(url(invitation), {rating: "5", "action": "finish"})

    assert "This link has expired" in answer.content.decode()
    assert not Response.objects.filter(invitation=invitation).exists()


def test_a_finished_survey_says_so_after_its_link_expires(client, survey, invitation):
    _, rating, _ = names(survey)
    client.post(url(invitation), {rating: "9", "action": "finish"})
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    answer = client.get(url(invitation))

    assert "You have already answered this survey. Thank you." in answer.content.decode()
    assert status_of(invitation) == Status.SURVEY_FINISHED


def test_a_paused_survey_is_not_open_for_now(client, survey, invitation):
    survey.status = "paused"
    survey.save()

    answer = client.get(url(invitation))

    assert texts(answer.content, "//h1") == ["This survey is not open"]
    assert "Please try again later." in answer.content.decode()
    assert "<form" not in answer.content.decode()


def test_a_closed_survey_does_not_ask_to_try_again_later(client, survey, invitation):
    # Closed is for good: sending the respondent back later would waste their time.
    survey.status = "closed"
    survey.save()

    answer = client.get(url(invitation))

    assert texts(answer.content, "//h1") == ["This survey is closed"]
    assert texts(answer.content, "//title") == ["This survey is closed"]
    assert "later" not in answer.content.decode()
    assert "<form" not in answer.content.decode()


@pytest.mark.parametrize("status", [Status.EMAIL_SKIPPED, Status.SMS_SKIPPED, Status.OPTED_OUT])
def test_the_link_of_an_invitation_that_was_never_sent_takes_no_answers(client, survey, status):
    skipped = make_invitation(survey=survey, status=status, status_detail="Duplicate of invitation 1")
    rating = names(survey)[1]

    page = client.get(url(skipped))
    answer = client.post(url(skipped), {rating: "9", "action": "finish"})

    for response in (page, answer):
        assert "This link is no longer valid" in response.content.decode()
        assert "<form" not in response.content.decode()
    assert status_of(skipped) == status  # the skip stays as it was recorded
    assert not Response.objects.filter(invitation=skipped).exists()


def test_an_opt_out_from_the_link_of_a_sent_invitation_still_lets_the_person_answer(client, survey, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(status=Status.OPTED_OUT, sent_at=timezone.now())

    answer = client.get(url(invitation))

    assert "<form" in answer.content.decode()


def test_a_deleted_contact_s_link_says_it_is_no_longer_valid(client, invitation):
    invitation.contact.delete()

    answer = client.get(url(invitation))

    assert "This link is no longer valid" in answer.content.decode()
    assert "This survey is not open" not in answer.content.decode()


def test_an_unknown_link_is_a_plain_404(client):
    answer = client.get("/s/not-a-real-token/")

    assert answer.status_code == 404
    assert "We can't find this survey link" in answer.content.decode()
    assert client.get("/s/not-a-real-token/opt-out/").status_code == 404


@pytest.mark.parametrize("page", [url, opt_out_url])
def test_it_finds_the_invitation_by_the_digest_of_its_token(client, invitation, page):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page(invitation)).status_code == 200

    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert hashlib.sha256(invitation.token.encode()).hexdigest() in sql
    assert invitation.token not in sql


def test_it_refuses_a_post_without_the_csrf_token(survey, invitation):
    csrf_client = Client(enforce_csrf_checks=True)
    _, rating, _ = names(survey)

    refused = csrf_client.post(url(invitation), {rating: "9", "action": "finish"})
    csrf_client.get(url(invitation))
    token = csrf_client.cookies["csrftoken"].value
    accepted = csrf_client.post(url(invitation), {rating: "9", "action": "finish", "csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert status_of(invitation) == Status.SURVEY_FINISHED


def test_the_page_is_not_cached(client, invitation):
    assert "no-store" in client.get(url(invitation))["Cache-Control"]


@pytest.mark.parametrize("page", [url, opt_out_url])
def test_a_head_request_is_answered_as_a_get_and_changes_nothing(client, survey, invitation, page):
    # Link checkers and mail scanners ask with HEAD; a 405 makes the emailed link look broken.
    response = client.head(page(invitation))

    assert response.status_code == 200
    assert not Response.objects.filter(invitation=invitation).exists()
    invitation.contact.refresh_from_db()
    assert (status_of(invitation), invitation.contact.unsubscribed) == (Status.EMAIL_SENT, False)


def test_opting_out_asks_first_then_unsubscribes(client, invitation):
    page = client.get(opt_out_url(invitation)).content.decode()
    assert "Unsubscribe from our surveys?" in page
    assert '<button type="submit"' in page
    assert status_of(invitation) == Status.EMAIL_SENT

    done = client.post(opt_out_url(invitation))

    assert "You are unsubscribed" in done.content.decode()
    assert status_of(invitation) == Status.OPTED_OUT
    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed is True
    assert "<button" not in client.get(opt_out_url(invitation)).content.decode()


def test_the_survey_page_links_to_the_opt_out_page(client, invitation):
    assert f'href="{opt_out_url(invitation)}"' in client.get(url(invitation)).content.decode()


def one_click(invitation_or_path, content_type="application/x-www-form-urlencoded"):
    """POST as a mailbox provider's unsubscribe button does (RFC 8058): no cookie, no CSRF token."""
    path = invitation_or_path if isinstance(invitation_or_path, str) else opt_out_url(invitation_or_path)
    client = Client(enforce_csrf_checks=True)
    if content_type == "multipart/form-data":
        return client.post(path, {"List-Unsubscribe": "One-Click"})
    return client.post(path, "List-Unsubscribe=One-Click", content_type=content_type)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_one_click_unsubscribe_opts_out_without_cookies_or_csrf_token(invitation, content_type):
    answer = one_click(invitation, content_type)

    assert answer.status_code == 200
    assert status_of(invitation) == Status.OPTED_OUT
    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed is True
    assert "one-click" in invitation.events.get(kind="opted_out").description


def test_a_repeated_one_click_unsubscribe_is_answered_and_recorded_once(invitation):
    answers = [one_click(invitation), one_click(invitation)]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert invitation.events.filter(kind="opted_out").count() == 1


def test_a_one_click_unsubscribe_of_an_unknown_link_is_a_404(invitation):
    assert one_click("/s/not-a-real-token/opt-out/").status_code == 404
    assert status_of(invitation) == Status.EMAIL_SENT


def test_the_opt_out_button_is_recorded_as_the_pages_not_one_click(client, invitation):
    client.post(opt_out_url(invitation))

    assert "opt-out page" in invitation.events.get(kind="opted_out").description


def test_a_post_refused_for_its_csrf_token_says_what_to_do_on_a_page_of_the_survey(survey, invitation):
    # A browser blocking cookies, or an admin signing in on another tab (a new CSRF token): the
    # respondent reads why their answers were not taken and goes back to the survey from there,
    # not Django's "CSRF verification failed" page.
    _, rating, _ = names(survey)

    refused = Client(enforce_csrf_checks=True).post(url(invitation), {rating: "9", "action": "finish"})

    html = refused.content.decode()
    assert refused.status_code == 403
    assert texts(html, "//h1") == ["Your answers were not sent"]
    assert "cookies" in html and "CSRF" not in html
    assert texts(html, "//a/@href") == [url(invitation)]
    assert "default-src 'none'" in refused["Content-Security-Policy"]
    assert not Response.objects.filter(invitation=invitation).exists()


def test_a_csrf_refusal_elsewhere_keeps_django_s_page():
    refused = Client(enforce_csrf_checks=True).post(reverse("admin:login"), {"username": "x", "password": "y"})

    assert refused.status_code == 403
    assert "CSRF verification failed" in refused.content.decode()
