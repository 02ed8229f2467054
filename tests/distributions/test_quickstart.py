"""The quickstart command and the survey part of its demo: survey, sender domain, distribute task."""

import io
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from distributions.management.commands import quickstart
from distributions.models import Invitation, OutboxMessage, Question, SenderDomain, Survey
from distributions.services.demo import DEMO_MOBILE, DEMO_SMS_WORKFLOW, DEMO_SURVEY, demo_survey_seed
from tests.factories import case_fields, make_user, outbound_message
from workflows.models import Run, Workflow
from workflows.selectors import workflow_event_fields
from workflows.services.demo import DEMO_CLOSED_CASE, demo_seed
from workflows.tasks import registry

ROOT = Path(__file__).resolve().parents[2]


def seed():
    owner = make_user()
    workflow = demo_seed(owner=owner)
    return workflow, demo_survey_seed(owner=owner, workflow=workflow)


@pytest.mark.django_db
def test_it_seeds_an_active_survey_with_a_rating_a_choice_and_a_text_question():
    _, survey = seed()
    assert (survey.name, survey.status) == (DEMO_SURVEY, Survey.Status.ACTIVE)
    assert (
        survey.title_for_respondents == DEMO_SURVEY
    )  # the page's heading and the HELP text, as the README's picture shows
    kinds = [question.kind for question in survey.questions.all()]
    assert kinds == [Question.Kind.RATING, Question.Kind.MULTIPLE_CHOICE, Question.Kind.TEXT]


@pytest.mark.django_db
def test_it_declares_the_embedded_data_the_demo_saves_on_the_contact():
    _, survey = seed()
    assert sorted(survey.fields.values_list("name", flat=True)) == ["Origin", "Priority"]


@pytest.mark.django_db
def test_it_verifies_the_domain_of_the_default_sender(settings):
    settings.DEFAULT_FROM_EMAIL = "Surveys <surveys@acme.example>"
    seed()
    assert SenderDomain.objects.get().domain == "acme.example"
    assert SenderDomain.objects.get().verified is True


@pytest.mark.django_db
def test_it_adds_a_third_task_that_emails_the_survey_as_the_admin_form_saves_it():
    workflow, survey = seed()
    task = workflow.tasks.last()
    assert [t.kind for t in workflow.tasks.all()] == ["add_to_directory", "add_to_directory", "distribute_survey"]
    assert set(task.config) == set(registry.get(task.kind).config_form().fields)
    assert task.config["survey"] == survey.pk


@pytest.mark.django_db
def test_it_seeds_the_survey_once_and_does_not_bring_back_a_removed_task():
    owner = make_user()
    workflow = demo_seed(owner=owner)
    demo_survey_seed(owner=owner, workflow=workflow)
    workflow.tasks.filter(kind="distribute_survey").delete()
    assert demo_survey_seed(owner=owner, workflow=workflow) is None
    assert Survey.objects.count() == 1
    assert not workflow.tasks.filter(kind="distribute_survey").exists()


@pytest.mark.django_db
def test_it_adds_no_second_survey_or_task_when_the_demo_survey_was_renamed():
    owner = make_user()
    workflow = demo_seed(owner=owner)
    survey = demo_survey_seed(owner=owner, workflow=workflow)
    Survey.objects.filter(pk=survey.pk).update(name="After-case survey")
    assert demo_survey_seed(owner=owner, workflow=workflow) == survey
    assert list(Survey.objects.values_list("name", flat=True)) == ["After-case survey"]
    assert workflow.tasks.filter(kind="distribute_survey").count() == 1


@pytest.mark.django_db
def test_it_emails_the_survey_of_a_closed_case_to_the_outbox(client, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "distributions.channels.outbox.OutboxBackend"
    workflow, _ = seed()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(workflow.event_path, outbound_message(case_fields(**DEMO_CLOSED_CASE)), content_type="text/xml")
    assert Run.objects.get().status == Run.Status.SUCCEEDED
    invitation = Invitation.objects.get()
    message = OutboxMessage.objects.get()
    assert message.subject == "How did we do with case 00001026?"
    assert message.to == "ada@example.com"
    assert f"/s/{invitation.token}/" in message.text_body
    assert f'<a href="{settings.PUBLIC_BASE_URL}/s/{invitation.token}/">take the survey</a>' in message.html_body
    assert "Priority High, opened via Web." in message.html_body
    assert message.message_id == invitation.message_id
    assert invitation.status == Invitation.Status.EMAIL_SENT


@pytest.mark.django_db
def test_a_test_event_with_a_test_address_leaves_the_real_contact_of_the_demo_as_it_was(
    client, settings, django_capture_on_commit_callbacks
):
    from directory.models import Contact
    from workflows.services import test_events

    settings.EMAIL_BACKEND = "distributions.channels.outbox.OutboxBackend"
    workflow, _ = seed()
    with django_capture_on_commit_callbacks(execute=True):  # Ada's real case, closed
        client.post(workflow.event_path, outbound_message(case_fields(**DEMO_CLOSED_CASE)), content_type="text/xml")
    ada = Contact.objects.get()
    before = (Contact.objects.filter(pk=ada.pk).values().get(), list(ada.transactions.values()))
    admin = make_user(email="admin@example.com")
    test_event = test_events.test_event_create(
        workflow=workflow, fields={**DEMO_CLOSED_CASE, "Priority": "Low"}, test_recipient=admin.email, user=admin
    )
    header = test_events.test_event_header(test_event=test_event)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(workflow.event_path, test_event.body.encode(), content_type="text/xml", HTTP_X_TEST_EVENT=header)

    run = Run.objects.get(test_event=test_event)
    assert run.status == Run.Status.SUCCEEDED, run.status_reason
    assert (Contact.objects.filter(pk=ada.pk).values().get(), list(ada.transactions.values())) == before
    tester = Contact.objects.get(email="admin@example.com")
    assert (tester.first_name, tester.external_data_reference, tester.embedded_data["Priority"]) == ("Ada", "", "Low")
    assert tester.transactions.count() == 1
    assert OutboxMessage.objects.latest("pk").to == "admin@example.com"


# --- the quickstart command, its children replaced by processes that exit at once -------------


class ExitedProcess:
    """Stands in for a child process that has already exited with `returncode`."""

    started: list[list[str]] = []
    environments: list[dict] = []
    returncode = 0

    def __init__(self, command, env=None):
        self.started.append(command)
        self.environments.append(env)

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        return self.returncode


@pytest.fixture
def children(monkeypatch):
    class Children(ExitedProcess):
        started = []
        environments = []

    monkeypatch.setattr(quickstart.subprocess, "Popen", Children)
    monkeypatch.setattr(quickstart, "address_in_use", lambda addrport: None)  # no server really listens
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    return Children


def run_quickstart(*args):
    out = io.StringIO()
    call_command("quickstart", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_prints_a_working_admin_password_on_the_first_run_only(children):
    first = run_quickstart()
    password = re.search(r"Admin user: admin / (\S+) — shown once", first)[1]
    second = run_quickstart()
    assert password not in second
    assert "admin exists" in second
    assert get_user_model().objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_it_makes_the_admin_show_event_urls_on_the_addrport(children):
    run_quickstart("--addrport", "127.0.0.1:8123")
    assert {env["PUBLIC_BASE_URL"] for env in children.environments} == {"http://127.0.0.1:8123"}


def simulator_command(output: str) -> list[str]:
    return next(shlex.split(line) for line in output.splitlines() if "send_outbound_message" in line)


def simulator_fields(command: list[str]) -> dict[str, str]:
    return dict(command[n + 1].split("=", 1) for n, argument in enumerate(command) if argument == "--field")


@pytest.mark.django_db
def test_it_prints_the_event_url_on_the_addrport_and_a_simulator_command(children):
    output = run_quickstart("--addrport", "127.0.0.1:8123")
    url = f"http://127.0.0.1:8123{Workflow.objects.get(name='Case closed').event_path}"
    assert f"Event URL: {url}" in output.splitlines()
    command = simulator_command(output)
    assert command[command.index("--url") + 1] == url
    assert "Admin:     http://127.0.0.1:8123/admin/" in output.splitlines()


@pytest.mark.django_db
def test_the_simulator_command_sends_every_field_the_demo_workflow_reads(children):
    command = simulator_command(run_quickstart())
    workflow = Workflow.objects.get(name="Case closed")
    read = workflow_event_fields(workflow=workflow)
    assert "ContactId" in read  # piped as the contact's external data reference
    assert simulator_fields(command) == {name: DEMO_CLOSED_CASE[name] for name in read}


@pytest.mark.django_db
def test_the_simulator_command_fills_a_field_an_edited_demo_workflow_pipes(children):
    owner = make_user()
    workflow = demo_seed(owner=owner)
    task = workflow.tasks.first()
    task.config["data_fields"].append(["Score", "${event://Satisfaction_Score__c}"])
    task.config["language"] = "${event://Language__c}"
    task.save()
    fields = simulator_fields(simulator_command(run_quickstart()))
    assert (fields["Satisfaction_Score__c"], fields["Language__c"]) == ("1", "Example Language__c")


@pytest.mark.django_db
def test_the_printed_commands_run_from_any_folder(children, settings):
    output = run_quickstart("--no-worker")
    manage_py = str(Path(settings.BASE_DIR) / "manage.py")
    worker = re.search(r"runs stay queued until `(.+)` runs", output)[1]
    for command in (simulator_command(output), shlex.split(worker)):
        assert command[:2] == [sys.executable, manage_py]
        assert Path(command[1]).is_absolute()


def printed_commands(output: str, name: str) -> list[list[str]]:
    return [shlex.split(line) for line in output.splitlines() if f" {name} " in line]


@pytest.mark.django_db
def test_it_prints_the_sms_workflows_case_and_a_ready_sms_reply_command(children):
    output = run_quickstart("--addrport", "127.0.0.1:8123")
    workflow = Workflow.objects.get(name=DEMO_SMS_WORKFLOW)
    _email_case, sms_case = printed_commands(output, "send_outbound_message")
    assert sms_case[sms_case.index("--url") + 1] == f"http://127.0.0.1:8123{workflow.event_path}"
    assert f"ContactMobile={DEMO_MOBILE}" in sms_case
    [sms_reply] = printed_commands(output, "sms_reply")
    assert sms_reply[2:] == ["sms_reply", "--url", "http://127.0.0.1:8123", "--from", DEMO_MOBILE, "--body", "9"]


@pytest.mark.django_db
def test_it_gives_the_admin_an_email_address_for_failure_notices(children):
    output = run_quickstart()
    assert get_user_model().objects.get(username="admin").email == "admin@example.com"
    assert (
        "Failure notices of the demo workflow are emailed to admin@example.com: see Surveys → Outbox "
        "messages, or give the admin user your own address." in output.splitlines()
    )


@pytest.mark.django_db
def test_it_says_nobody_is_told_of_failures_when_the_admin_has_no_email(children):
    get_user_model().objects.create_superuser("admin", email="", password="a-long-password-1")
    output = run_quickstart()
    assert any(line.startswith("The admin user has no email address") for line in output.splitlines())


@pytest.mark.django_db
def test_a_failed_demo_task_is_emailed_to_the_admin_in_the_outbox(
    children, client, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "distributions.channels.outbox.OutboxBackend"
    run_quickstart()
    Survey.objects.update(status=Survey.Status.PAUSED)  # the survey task fails for good
    workflow = Workflow.objects.get(name="Case closed")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(workflow.event_path, outbound_message(case_fields(**DEMO_CLOSED_CASE)), content_type="text/xml")
    notice = OutboxMessage.objects.get()
    assert (notice.to, notice.subject) == (
        "admin@example.com",
        'Workflow "Case closed": task 3 (XM Directory: distribute survey) failed',
    )


@pytest.mark.django_db
def test_it_runs_the_web_server_and_the_worker(children, settings):
    settings.DEBUG = False
    run_quickstart("--addrport", "127.0.0.1:8123")
    commands = [command[2:] for command in children.started]
    assert commands == [["runserver", "127.0.0.1:8123", "--noreload", "--insecure"], ["qcluster"]]


@pytest.mark.django_db
def test_it_runs_no_worker_with_no_worker(children):
    run_quickstart("--no-worker")
    assert [command[2] for command in children.started] == ["runserver"]


@pytest.mark.django_db
def test_it_fails_when_a_child_exits_with_an_error(children):
    children.returncode = 1
    with pytest.raises(CommandError, match="exited with code 1"):
        run_quickstart()


@pytest.mark.django_db
def test_it_stops_before_printing_anything_when_its_address_is_taken(monkeypatch):
    started = []
    monkeypatch.setattr(quickstart.subprocess, "Popen", lambda *args, **kwargs: started.append(args))
    out = io.StringIO()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=rf"Cannot listen on 127.0.0.1:{port} .*--addrport 127.0.0.1:8001"):
            call_command("quickstart", "--addrport", f"127.0.0.1:{port}", stdout=out)

    assert out.getvalue() == ""
    assert started == []


# --- the real thing ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def running_in_group(group: int) -> list[int]:
    """Pids of the live (not zombie) processes in a process group, from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(pgrp) == group and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def wait_for(check, *, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def first_column(db_path, query):
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            return [row[0] for row in db.execute(query)]
    except sqlite3.Error:
        return []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the child processes in /proc")
def test_it_serves_the_demo_until_interrupted(tmp_path):
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path), "WORKER_COUNT": "1"}
    # As on a fresh clone: no configuration at all.
    for name in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_BASE_URL", "DEBUG", "EMAIL_BACKEND", "DEFAULT_FROM_EMAIL"):
        env.pop(name, None)
    log_path = tmp_path / "quickstart.log"
    with open(log_path, "wb") as log:
        # Its own session: the interrupt below reaches only it, and cleanup can end its whole group.
        process = subprocess.Popen(
            [sys.executable, "manage.py", "quickstart", "--addrport", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/admin/login/"), seconds=120, what="the admin login page")
        # Styled: without collectstatic, runserver serves the admin's CSS itself.
        assert answers(f"http://127.0.0.1:{port}/static/admin/css/base.css")
        output = log_path.read_text()
        assert "No directory at" not in output  # WhiteNoise's notice of an uncollected STATIC_ROOT
        # From another folder, as a second terminal would be.
        subprocess.run(simulator_command(output), cwd=tmp_path, env=env, check=True, timeout=30, capture_output=True)
        db_path = tmp_path / "db.sqlite3"
        contacts = wait_for(
            lambda: first_column(db_path, "select email || ' ' || external_data_reference from directory_contact"),
            seconds=15,
            what="the worker's contact",
        )
        assert contacts == [f"ada@example.com {DEMO_CLOSED_CASE['ContactId']}"]
        [text] = wait_for(
            lambda: first_column(db_path, "select text_body from distributions_outboxmessage"),
            seconds=15,
            what="the survey invitation in the outbox",
        )
        link = re.search(rf"http://127\.0\.0\.1:{port}/s/[\w-]+/", text)[0]
        assert answers(link)
        assert len(running_in_group(process.pid)) >= 3  # quickstart, runserver, qcluster (and its workers)
        assert (tmp_path / "secret_key").stat().st_size > 50  # generated, as no SECRET_KEY was given

        process.send_signal(signal.SIGINT)
        wait_for(
            lambda: process.poll() is not None and not running_in_group(process.pid),
            seconds=15,
            what="quickstart and its children to exit",
        )
        assert process.returncode == 0
    finally:
        if running_in_group(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.mark.parametrize("addrport", ["nonsense", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:", "127.0.0.1:80x"])
def test_it_refuses_an_addrport_that_is_no_address_saying_what_is_expected(addrport, monkeypatch):
    started = []
    monkeypatch.setattr(quickstart.subprocess, "Popen", lambda *args, **kwargs: started.append(args))
    with pytest.raises(
        CommandError, match=rf"--addrport: expected a port from 1 to 65535.*not '{re.escape(addrport)}'"
    ):
        call_command("quickstart", "--addrport", addrport, stdout=io.StringIO())
    assert started == []
