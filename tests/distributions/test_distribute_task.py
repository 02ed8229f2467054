"""The distribute-survey task: what it sends, and each check before sending (error text or status)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from directory.models import Contact, Membership
from distributions.models import Collaborator, Distribution, FrequencyRule, Invitation, Survey
from tests.factories import (
    case_fields,
    make_distribute_task,
    make_run,
    make_sender_domain,
    make_survey,
    make_user,
    make_workflow,
)
from workflows.models import Run, Task, TaskRun

pytestmark = pytest.mark.django_db

Status = Invitation.Status


@pytest.fixture
def survey():
    make_sender_domain("example.com")
    return make_survey(name="Customer satisfaction")


def distribute(execute, survey, *, owner=None, fields=None, **config):
    workflow = make_workflow(owner=owner or survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, **config)
    return execute(make_run(workflow=workflow, fields=case_fields(**(fields or {}))))


def task_run(run):
    return run.task_runs.get()


def test_it_emails_the_survey_with_the_individual_link(execute, survey, settings):
    run = distribute(execute, survey, reply_to="help@example.com")
    invitation = Invitation.objects.get()
    [message] = mail.outbox
    assert message.from_email == "Customer care <surveys@example.com>"
    assert (message.to, message.reply_to) == (["ada@example.com"], ["help@example.com"])
    assert message.subject == "How did we do with case 00001026?"
    link = f"{settings.PUBLIC_BASE_URL}/s/{invitation.token}/"
    assert message.body == f"Hello Ada, take the survey: {link}"
    assert message.alternatives[0][0] == f'<p>Hello Ada, <a href="{link}">take the survey</a>.</p>'
    assert message.extra_headers["Message-ID"] == invitation.message_id
    assert message.extra_headers["List-Unsubscribe"] == f"<{link}opt-out/>"
    assert invitation.status == Status.EMAIL_SENT
    assert run.status == Run.Status.SUCCEEDED


def test_a_piped_value_s_bidirectional_controls_stay_inside_it_in_the_email(execute, survey, settings):
    # A right-to-left override left open in a Salesforce field would reverse the rest of the
    # subject line and the text after it, link included; the contact keeps the value as it came.
    rlo, pdf = "\u202e", "\u202c"
    fields = {"CaseNumber": f"0001{rlo}", "Customer_First_Name__c": f"Ada {rlo}x"}
    distribute(execute, survey, fields=fields)

    [message] = mail.outbox
    link = f"{settings.PUBLIC_BASE_URL}/s/{Invitation.objects.get().token}/"
    assert message.subject == f"How did we do with case 0001{rlo}{pdf}?"
    assert message.body == f"Hello Ada {rlo}x{pdf}, take the survey: {link}"
    assert message.alternatives[0][0] == f'<p>Hello Ada {rlo}x{pdf}, <a href="{link}">take the survey</a>.</p>'
    assert Contact.objects.get().first_name == f"Ada {rlo}x"


def test_it_outputs_the_contact_distribution_invitation_and_link(execute, survey, settings):
    output = task_run(distribute(execute, survey)).output
    invitation = Invitation.objects.get()
    assert output == {
        "ContactId": str(Contact.objects.get().pk),
        "DistributionId": str(Distribution.objects.get().pk),
        "InvitationId": str(invitation.pk),
        "SurveyLink": f"{settings.PUBLIC_BASE_URL}/s/{invitation.token}/",
        "Outcome": "Sending now",
    }


def test_it_saves_the_contact_with_embedded_data_in_the_mailing_list(execute, survey):
    distribute(execute, survey)
    contact = Contact.objects.get()
    assert (contact.first_name, contact.email, contact.embedded_data) == (
        "Ada",
        "ada@example.com",
        {"Priority": "High"},
    )
    assert Membership.objects.get(contact=contact).mailing_list.name == "Support customers"


def test_it_records_the_distribution_once_per_task_run_with_its_sender(execute, survey):
    run = distribute(execute, survey)
    distribution = Distribution.objects.get()
    assert (distribution.run_id, distribution.task_position, distribution.channel) == (run.pk, 1, "email")
    assert (distribution.from_email, distribution.from_name, distribution.subject) == (
        "surveys@example.com",
        "Customer care",
        "How did we do with case 00001026?",
    )


def emails_to_ada():
    """Survey emails to the contact; the workflow owner's failure notice is not one."""
    return [email for email in mail.outbox if "ada@example.com" in email.to]


def test_it_fails_when_the_survey_is_not_active(execute, survey):
    Survey.objects.filter(pk=survey.pk).update(status=Survey.Status.PAUSED)
    run = distribute(execute, survey)
    assert run.status == Run.Status.FAILED
    assert task_run(run).error == (
        'Survey "Customer satisfaction" is not active (it is paused): activate the survey to distribute it.'
    )
    assert not Invitation.objects.exists() and not Contact.objects.exists() and not emails_to_ada()


def test_it_sends_a_survey_renamed_after_the_task_was_saved(execute, survey):
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey)
    Survey.objects.filter(pk=survey.pk).update(name="Customer satisfaction 2027")
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.SUCCEEDED, task_run(run).error
    assert Distribution.objects.get().survey == survey


def test_it_fails_when_the_survey_was_deleted(execute, survey):
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey)
    survey.delete()
    run = execute(make_run(workflow=workflow))
    assert task_run(run).error == "The task's survey was deleted: choose another survey in the task."


def test_it_fails_when_a_config_still_names_a_survey_no_single_survey_is_called(execute, survey):
    make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    task = make_distribute_task(workflow=workflow, survey=survey)
    # As saved before surveys were linked by id, left so when two surveys had the name.
    Task.objects.filter(pk=task.pk).update(config={**task.config, "survey": "Customer satisfaction"})
    run = execute(make_run(workflow=workflow))
    assert task_run(run).error == (
        'This task names the survey "Customer satisfaction", which no single survey is called: '
        "choose the survey in the task."
    )


def test_it_fails_when_the_workflow_owner_may_not_distribute_the_survey(execute, survey):
    stranger = make_user(username="bob")
    run = distribute(execute, survey, owner=stranger)
    assert task_run(run).status == TaskRun.Status.FAILED
    assert task_run(run).error == (
        f'The workflow owner bob may not distribute survey "Customer satisfaction", which belongs to '
        f"{survey.owner.username}: ask {survey.owner.username} to add bob as a collaborator with the distribute "
        f"permission, or make {survey.owner.username} the owner of this workflow."
    )
    assert not emails_to_ada()


def test_it_refuses_a_collaborator_without_the_distribute_permission(execute, survey):
    collaborator = make_user()
    Collaborator.objects.create(survey=survey, user=collaborator, can_distribute=False)
    run = distribute(execute, survey, owner=collaborator)
    assert "may not distribute" in task_run(run).error


def test_it_lets_a_collaborator_with_the_distribute_permission_send(execute, survey):
    collaborator = make_user()
    Collaborator.objects.create(survey=survey, user=collaborator, can_distribute=True)
    assert distribute(execute, survey, owner=collaborator).status == Run.Status.SUCCEEDED
    assert len(mail.outbox) == 1


def test_it_fails_when_the_from_domain_is_not_a_sender_domain(execute, survey):
    run = distribute(execute, survey, from_email="news@elsewhere.example")
    assert task_run(run).error == (
        "From address news@elsewhere.example: its domain elsewhere.example is not a sender domain. Add "
        "elsewhere.example under Surveys → Sender domains and mark it verified, or use an address of a "
        "verified domain."
    )
    assert not Invitation.objects.exists()


def test_it_fails_when_the_from_domain_is_not_verified(execute, survey):
    make_sender_domain("pending.example", verified=False)
    run = distribute(execute, survey, from_email="news@pending.example")
    assert "its domain pending.example is not verified yet" in task_run(run).error


def test_it_fails_when_the_reply_to_domain_is_not_verified(execute, survey):
    run = distribute(execute, survey, reply_to="me@gmail.example")
    assert task_run(run).error == (
        "Reply-To address me@gmail.example: its domain gmail.example is not a sender domain, and it is not the "
        f"workflow owner's own email ({survey.owner.email}). Add gmail.example under Surveys → Sender domains "
        "and mark it verified, or use an address of a verified domain."
    )


def test_it_accepts_the_workflow_owners_own_email_as_reply_to(execute):
    make_sender_domain("example.com")
    owner = make_user(email="Owner@Personal.example")
    run = distribute(execute, make_survey(owner=owner), reply_to="owner@personal.example")
    assert run.status == Run.Status.SUCCEEDED
    assert mail.outbox[0].reply_to == ["owner@personal.example"]


def test_it_sends_from_the_default_sender_when_from_is_empty(execute, survey, settings):
    settings.DEFAULT_FROM_EMAIL = "Surveys <surveys@example.com>"
    distribute(execute, survey, from_email="", from_name="")
    assert mail.outbox[0].from_email == "Surveys <surveys@example.com>"


def test_it_fails_naming_the_piped_field_when_the_email_is_missing(execute, survey):
    run = distribute(execute, survey, fields={"ContactEmail": ""})
    assert "Email is required, but ${event://ContactEmail} was empty" in task_run(run).error
    assert not Invitation.objects.exists()


def test_it_fails_naming_the_piped_field_when_the_email_is_malformed(execute, survey):
    run = distribute(execute, survey, fields={"ContactEmail": "ada@"})
    assert task_run(run).error.startswith("Email 'ada@' (from ${event://ContactEmail}) is not a valid email address")


@pytest.mark.parametrize("phone", ["n/a", "(111) 222-3333", "020 7946 0958"])
def test_it_saves_the_contact_without_an_optional_phone_that_does_not_parse_and_sends(execute, survey, phone):
    run = distribute(execute, survey, phone="${event://ContactPhone}", fields={"ContactPhone": phone})
    assert run.status == Run.Status.SUCCEEDED
    contact = Contact.objects.get()
    assert (contact.email, contact.phone) == ("ada@example.com", "")
    [note] = task_run(run).notes
    assert note.startswith(
        f"Phone (from ${{event://ContactPhone}}) left out, the contact was saved without it: {phone!r}"
    )
    [message] = emails_to_ada()
    assert Invitation.objects.get().status == Status.EMAIL_SENT
    assert message.to == ["ada@example.com"]


def test_it_saves_the_phone_extension_of_the_recipient(execute, survey):
    distribute(execute, survey, phone="${event://ContactPhone}", fields={"ContactPhone": "+1 415 555 0100 ext. 12"})
    assert Contact.objects.get().phone == "+14155550100;ext=12"
    assert len(emails_to_ada()) == 1


def test_it_marks_an_unsubscribed_contact_opted_out_and_sends_nothing(execute, survey):
    distribute(execute, survey)
    Contact.objects.update(unsubscribed=True)
    run = distribute(execute, survey, fields={"CaseNumber": "00001027"})
    invitation = Invitation.objects.latest("pk")
    assert (invitation.status, run.status) == (Status.OPTED_OUT, Run.Status.SUCCEEDED)
    assert task_run(run).output["Outcome"].startswith("Opted Out: Ada Lovelace <ada@example.com> has opted out")
    assert task_run(run).output["SurveyLink"] == ""
    assert len(mail.outbox) == 1


def test_it_marks_a_contact_unsubscribed_from_the_mailing_list_opted_out(execute, survey):
    distribute(execute, survey)
    Membership.objects.update(unsubscribed=True)
    distribute(execute, survey, fields={"CaseNumber": "00001027"})
    invitation = Invitation.objects.latest("pk")
    assert invitation.status == Status.OPTED_OUT
    assert invitation.status_detail == "Ada Lovelace <ada@example.com> has opted out of this mailing list: not sent."
    assert len(mail.outbox) == 1


def test_it_skips_the_same_subject_and_body_to_the_same_address_within_12_hours(execute, survey):
    distribute(execute, survey)
    first = Invitation.objects.get()
    run = distribute(execute, survey)
    second = Invitation.objects.latest("pk")
    assert second.status == Status.EMAIL_SKIPPED
    assert second.status_detail.startswith(f"Duplicate of invitation {first.pk} sent at {first.sent_at:%Y-%m-%d %H:%M}")
    assert task_run(run).output["Outcome"].startswith("Email Skipped: Duplicate of invitation")
    assert task_run(run).output["SurveyLink"] == ""  # its link takes no answers: no later task may pass it on
    assert task_run(run).output["InvitationId"] == str(second.pk)
    assert len(mail.outbox) == 1


def test_it_sends_the_same_message_again_after_12_hours(execute, survey):
    distribute(execute, survey)
    Invitation.objects.update(sent_at=timezone.now() - timedelta(hours=12, minutes=1))
    distribute(execute, survey)
    assert Invitation.objects.latest("pk").status == Status.EMAIL_SENT
    assert len(mail.outbox) == 2


def test_it_sends_another_message_to_the_same_address(execute, survey):
    distribute(execute, survey)
    distribute(execute, survey, fields={"CaseNumber": "00001027"})
    assert len(mail.outbox) == 2


def test_it_skips_a_send_over_the_directorys_frequency_rule_naming_the_rule(execute, survey):
    distribute(execute, survey)
    FrequencyRule.objects.create(directory=Contact.objects.get().directory, max_messages=1, period_days=7)
    distribute(execute, survey, fields={"CaseNumber": "00001027"})
    invitation = Invitation.objects.latest("pk")
    assert invitation.status == Status.EMAIL_SKIPPED
    assert invitation.status_detail.startswith(
        'Skipped by the frequency rule "at most 1 messages per 7 days" of directory Default directory: '
        "1 messages went to this contact since"
    )
    assert len(mail.outbox) == 1


def test_it_makes_the_text_part_from_the_html_body_when_the_text_body_is_empty(execute, survey, settings):
    distribute(
        execute, survey, text_body="", html_body="<p>Hi ${m://FirstName} &amp; co,</p><p>${l://SurveyLink?d=Go}</p>"
    )
    token = Invitation.objects.get().token
    assert mail.outbox[0].body == f"Hi Ada & co,\nGo ({settings.PUBLIC_BASE_URL}/s/{token}/)"


def test_it_sets_the_link_expiration_from_the_send_time(execute, survey):
    before = timezone.now()
    distribute(execute, survey, link_expiration_days=7)
    invitation = Invitation.objects.get()
    assert invitation.expires_at - invitation.send_after == timedelta(days=7)
    assert invitation.send_after >= before


def test_it_never_expires_the_link_without_an_expiration(execute, survey):
    distribute(execute, survey)
    assert Invitation.objects.get().expires_at is None


def test_a_frequency_rule_saved_with_a_period_past_the_dates_a_datetime_holds_still_counts(execute, survey):
    # Saved before periods were capped at 3,650 days: it counts the 3,650 days before the send.
    distribute(execute, survey)
    FrequencyRule.objects.create(directory=Contact.objects.get().directory, max_messages=1, period_days=1_000_000)
    run = distribute(execute, survey, fields={"CaseNumber": "00001027"})
    assert run.status == "succeeded"
    assert Invitation.objects.latest("pk").status == Status.EMAIL_SKIPPED
