"""The quickstart demo: seeding it, a closed Case through it, and the quickstart command itself."""

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

from directory.models import Contact, Directory, MailingList, Transaction
from tests.factories import case_fields, make_user, outbound_message
from workflows.management.commands import quickstart
from workflows.models import Condition, Run, Task, Workflow
from workflows.services.demo import demo_seed
from workflows.tasks import registry

ROOT = Path(__file__).resolve().parents[2]
# The fields of the command quickstart prints.
CLOSED_CASE = {
    "ContactEmail": "ada@example.com",
    "Customer_First_Name__c": "Ada",
    "Customer_Last_Name__c": "Lovelace",
    "IsClosed": "true",
    "Store__c": "Milan",
    "CaseNumber": "00001026",
    "Priority": "High",
    "Origin": "Web",
    "ClosedDate": "2026-11-28T10:00:00.000Z",
    "Subject": "Printer jammed",
}


def counts():
    models = (Workflow, Condition, Task, Directory, MailingList, get_user_model())
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    """Post a message to the workflow's URL; the sync django-q2 runs the job on commit."""

    def send(workflow, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                workflow.event_path, outbound_message(case_fields(**{**CLOSED_CASE, **fields})), content_type="text/xml"
            )
        assert response.status_code == 200
        return response

    return send


@pytest.mark.django_db
def test_it_seeds_the_demo_once():
    owner = make_user()
    first = demo_seed(owner=owner)
    before = counts()
    second = demo_seed(owner=owner)
    assert second == first
    assert counts() == before
    assert (before["Workflow"], before["Condition"], before["Task"], before["MailingList"]) == (1, 1, 2, 1)


@pytest.mark.django_db
def test_it_leaves_an_edited_demo_workflow_as_it_is():
    owner = make_user()
    workflow = demo_seed(owner=owner)
    Workflow.objects.filter(pk=workflow.pk).update(enabled=False)
    workflow.tasks.filter(position=2).delete()
    demo_seed(owner=owner)
    workflow.refresh_from_db()
    assert workflow.enabled is False
    assert workflow.tasks.count() == 1


@pytest.mark.django_db
def test_it_creates_the_default_directory_and_the_mailing_list():
    demo_seed(owner=make_user())
    mailing_list = MailingList.objects.get()
    assert (mailing_list.name, mailing_list.directory.name, mailing_list.directory.is_default) == (
        "Support customers",
        "Default directory",
        True,
    )


@pytest.mark.django_db
def test_it_uses_an_existing_default_directory():
    existing = Directory.objects.create(name="Customers", is_default=True)
    demo_seed(owner=make_user())
    assert list(Directory.objects.all()) == [existing]
    assert MailingList.objects.get().directory == existing


@pytest.mark.django_db
def test_it_declares_the_case_fields_of_the_bundled_wsdl():
    workflow = demo_seed(owner=make_user())
    assert workflow.salesforce_object == "Case"
    assert workflow.fields_from_wsdl is True
    assert workflow.known_fields["Store__c"] == "string"
    assert workflow.known_fields["ClosedDate"] == "dateTime"


@pytest.mark.django_db
def test_it_stores_task_configs_as_the_admin_form_saves_them():
    workflow = demo_seed(owner=make_user())
    for task in workflow.tasks.all():
        form_class = registry.get(task.kind).config_form
        assert {name for name in task.config} == set(form_class().fields)
    assert [task.config["save_mode"] for task in workflow.tasks.all()] == ["embedded_data", "transaction"]


@pytest.mark.django_db
def test_it_saves_the_contact_of_a_closed_case_with_embedded_data(send):
    send(demo_seed(owner=make_user()))
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.email) == ("Ada", "Lovelace", "ada@example.com")
    assert contact.embedded_data == {"Priority": "High", "Origin": "Web"}
    assert contact.mailing_lists.get().name == "Support customers"


@pytest.mark.django_db
def test_it_appends_the_closed_case_as_a_transaction(send):
    send(demo_seed(owner=make_user()))
    transaction = Transaction.objects.get()
    assert transaction.data == {"Store": "Milan", "CaseNumber": "00001026", "Subject": "Printer jammed"}
    assert transaction.transaction_date.isoformat() == "2026-11-28T10:00:00+00:00"
    assert Run.objects.get().status == Run.Status.SUCCEEDED


@pytest.mark.django_db
def test_it_saves_nothing_for_an_open_case(send):
    send(demo_seed(owner=make_user()), IsClosed="false")
    assert not Contact.objects.exists()
    assert Run.objects.get().status == Run.Status.CONDITIONS_NOT_MET


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


@pytest.mark.django_db
def test_it_prints_the_event_url_on_the_addrport_and_a_simulator_command(children):
    output = run_quickstart("--addrport", "127.0.0.1:8123")
    url = f"http://127.0.0.1:8123{Workflow.objects.get(name='Case closed').event_path}"
    assert f"Event URL: {url}" in output
    command = next(shlex.split(line) for line in output.splitlines() if "send_outbound_message" in line)
    assert command[command.index("--url") + 1] == url
    assert "Subject=Printer jammed" in command
    assert "http://127.0.0.1:8123/admin/" in output
    assert "Ctrl-C" in output


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


def contact_emails(db_path):
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            return [row[0] for row in db.execute("select email from directory_contact")]
    except sqlite3.Error:
        return []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the child processes in /proc")
def test_it_serves_the_demo_until_interrupted(tmp_path):
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path), "WORKER_COUNT": "1"}
    for name in ("DATABASE_URL", "PUBLIC_BASE_URL", "DEBUG"):
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
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/admin/login/"), seconds=40, what="the admin login page")
        output = log_path.read_text()
        command = next(shlex.split(line) for line in output.splitlines() if "send_outbound_message" in line)
        subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=30, capture_output=True)
        emails = wait_for(lambda: contact_emails(tmp_path / "db.sqlite3"), seconds=15, what="the worker's contact")
        assert emails == ["ada@example.com"]
        assert len(running_in_group(process.pid)) >= 3  # quickstart, runserver, qcluster (and its workers)

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
