"""Everything on a laptop in one command: migrate, seed the demo, run the web server and the worker.

It lives in distributions, the highest app the demo needs: the workflow comes from workflows'
demo_seed, the survey, sender domain and distribute task from distributions' demo_survey_seed.
"""

import argparse
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.runserver import naiveip_re
from django.http.request import split_domain_port, validate_host

from distributions.services.demo import DEMO_MOBILE, demo_sms_seed, demo_survey_seed
from workflows.services.demo import DEMO_MAILING_LIST, demo_event_fields, demo_seed

ADMIN_USERNAME = "admin"
# The demo admin's address, so the demo workflow's failure notices land in the local outbox.
# example.com is reserved (RFC 2606): nothing is ever delivered there, whatever EMAIL_BACKEND says.
ADMIN_EMAIL = "admin@example.com"
STOP_GRACE_SECONDS = 10
POLL_SECONDS = 0.25


class Command(BaseCommand):
    help = (
        "Try the product locally: apply migrations, create the admin user and a demo workflow "
        "(Salesforce Case closed -> contact + transaction + survey email to the local outbox), then run "
        "the web server and the worker until Ctrl-C. Running it again keeps the data, the demo and the "
        "admin password."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--addrport",
            default="127.0.0.1:8000",
            type=addrport_argument,
            help="Where the web server listens (default 127.0.0.1:8000).",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Run the web server only; runs stay queued until `manage.py qcluster` runs.",
        )

    def handle(self, *args, addrport, no_worker, **options):
        # Checked first: instructions printed for a server that then cannot start would mislead.
        if problem := address_in_use(addrport):
            raise CommandError(
                f"Cannot listen on {addrport} ({problem}): stop what listens there, or choose another address, "
                f"e.g. {_manage_command('quickstart', '--addrport', '127.0.0.1:8001')}"
            )
        call_command("migrate", interactive=False, verbosity=max(options["verbosity"] - 1, 0), stdout=self.stdout)
        admin, password = self._admin()
        workflow = demo_seed(owner=admin)
        survey = demo_survey_seed(owner=admin, workflow=workflow)
        sms_workflow = demo_sms_seed(owner=admin, survey=survey)
        base_url = _base_url(addrport)

        emailed = f', emailed the survey "{survey.name}"' if survey else ""
        self.stdout.write(
            f'Demo workflow "{workflow.name}": closed {workflow.salesforce_object} records → contacts in '
            f'"{DEMO_MAILING_LIST}"{emailed}.'
        )
        if password:
            self.stdout.write(
                self.style.WARNING(f"Admin user: {ADMIN_USERNAME} / {password} — shown once; change it in the admin")
            )
        else:
            self.stdout.write(
                f"Admin user: {ADMIN_USERNAME} exists; its password is unchanged "
                f"(forgot it? {_manage_command('changepassword', ADMIN_USERNAME)})."
            )
        if admin.email:
            self.stdout.write(
                f"Failure notices of the demo workflow are emailed to {admin.email}: see Surveys → Outbox "
                "messages, or give the admin user your own address."
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"The admin user has no email address, so nobody is told when the demo workflow's tasks fail: "
                    f"add one under Authentication → Users ({ADMIN_USERNAME})."
                )
            )
        self.stdout.write(f"Admin:     {base_url}/admin/")
        self.stdout.write(f"Event URL: {base_url}{workflow.event_path}")
        if not os.environ.get("PUBLIC_BASE_URL"):
            self._warn_if_host_not_allowed(base_url)
        self.stdout.write("Try it: in another terminal, send a closed Case the way Salesforce does:")
        self.stdout.write("  " + _simulator_command(f"{base_url}{workflow.event_path}", workflow))
        self.stdout.write(
            "then find Ada Lovelace under Contacts in the admin, with the case as a transaction, and her survey "
            "invitation in Surveys → Outbox messages: open its link to answer the survey."
        )
        if sms_workflow is not None:
            self._print_sms_demo(sms_workflow, base_url)
        if no_worker:
            worker = _manage_command("qcluster")
            self.stdout.write(f"No worker (--no-worker): runs stay queued until `{worker}` runs.")
        what = "the web server" if no_worker else "the web server and the worker"
        self.stdout.write(self.style.SUCCESS(f"Starting {what} on {addrport}; press Ctrl-C to stop."))
        # The children write to the same stdout: what is buffered here must come out first.
        self.stdout.flush()
        self._serve(addrport, worker=not no_worker, base_url=base_url)

    def _print_sms_demo(self, workflow, base_url: str) -> None:
        """The two-way SMS demo: the closed Case for the workflow that texts the survey, then a reply."""
        self.stdout.write(
            f'Answer the survey by text: send the closed Case to the workflow "{workflow.name}", which texts its '
            f"questions to {DEMO_MOBILE} (the local SMS outbox: Surveys → SMS conversations):"
        )
        self.stdout.write("  " + _simulator_command(f"{base_url}{workflow.event_path}", workflow))
        self.stdout.write("then reply as that phone would, answering the first question (0 to 10) with 9:")
        self.stdout.write("  " + _manage_command("sms_reply", "--url", base_url, "--from", DEMO_MOBILE, "--body", "9"))
        self.stdout.write(
            "and each next question the same way with your own --body (STOP ends it), until the survey is finished."
        )

    def _admin(self):
        """The admin user and, when this run created it, its password."""
        User = get_user_model()
        admin = User.objects.filter(**{User.USERNAME_FIELD: ADMIN_USERNAME}).first()
        if admin is not None:
            return admin, None
        password = secrets.token_urlsafe(12)
        return User.objects.create_superuser(ADMIN_USERNAME, email=ADMIN_EMAIL, password=password), password

    def _warn_if_host_not_allowed(self, base_url: str) -> None:
        host, _port = split_domain_port(base_url.removeprefix("http://"))
        if not validate_host(host, settings.ALLOWED_HOSTS):
            self.stdout.write(
                self.style.WARNING(f"{host} is not in ALLOWED_HOSTS: add it, or its requests will get a 400.")
            )

    def _serve(self, addrport: str, *, worker: bool, base_url: str) -> None:
        """Run the children until a signal arrives or one of them exits, then stop them all.

        They stay in this process group, so Ctrl-C in the terminal reaches them too; a SIGINT or
        SIGTERM sent to this process alone is passed on as SIGTERM.
        """
        manage_py = str(settings.BASE_DIR / "manage.py")
        web = [sys.executable, manage_py, "runserver", addrport, "--noreload"]
        if not settings.DEBUG:
            web.append("--insecure")  # runserver serves the admin's CSS and JavaScript only in DEBUG otherwise
        commands = {"web server": web}
        if worker:
            commands["worker"] = [sys.executable, manage_py, "qcluster"]

        received = []
        previous = {
            sig: signal.signal(sig, lambda signum, frame: received.append(signum))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        children: dict[str, subprocess.Popen] = {}
        exited = None
        # The admin shows event URLs from PUBLIC_BASE_URL: make them the ones printed above.
        env = {**os.environ, "PUBLIC_BASE_URL": base_url}
        # runserver serves /static/ from the apps' folders (no collectstatic here); the folder
        # WhiteNoise serves in production exists, empty, so it has no missing folder to warn about.
        if settings.STATIC_ROOT:
            Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        try:
            for name, command in commands.items():
                children[name] = subprocess.Popen(command, env=env)
            exited = _wait(children, received)
        finally:
            _terminate(list(children.values()))
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if exited and not received:
            name, code = exited
            others = [other for other in children if other != name]
            message = f"The {name} exited with code {code}" + (f"; stopped the {others[0]} too." if others else ".")
            if code:
                raise CommandError(message)
            self.stdout.write(message)
        else:
            self.stdout.write("Stopped.")


def _wait(children: dict[str, subprocess.Popen], received: list) -> tuple[str, int] | None:
    """Until a signal arrives (None) or a child exits: (its name, its exit code)."""
    while not received:
        for name, child in children.items():
            if child.poll() is not None:
                return name, child.returncode
        time.sleep(POLL_SECONDS)
    return None


def _terminate(children: list[subprocess.Popen]) -> None:
    alive = [child for child in children if child.poll() is None]
    for child in alive:
        child.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in alive:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def addrport_argument(value: str) -> str:
    """`--addrport` as runserver takes it (a port, host:port, [ipv6]:port), the port from 1 to 65535;
    anything else is refused by the parser, saying what is expected, before anything starts."""
    match = re.fullmatch(naiveip_re, value)
    port = match and match["port"]
    if not port or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port from 1 to 65535, or an address and a port (127.0.0.1:8001, [::1]:8001), not {value!r}"
        )
    return value


def address_in_use(addrport: str) -> str | None:
    """Why runserver could not listen on `addrport` ("8000", "0.0.0.0:8000", "[::1]:8000"), or None."""
    host, _, port = addrport.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver binds
            probe.bind((host, int(port)))
    except (OSError, ValueError) as error:
        return str(error)
    return None


def _base_url(addrport: str) -> str:
    """Where the printed links point: PUBLIC_BASE_URL when set, else the address runserver listens on."""
    if os.environ.get("PUBLIC_BASE_URL"):
        return settings.PUBLIC_BASE_URL
    host, _, port = addrport.rpartition(":")
    # runserver accepts a bare port, and "all interfaces" is no address to browse to.
    host = {"": "127.0.0.1", "0": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"http://{host}:{port}"


def _manage_command(*arguments: str) -> str:
    """A manage.py command line that runs from any folder: this interpreter (the one with the
    dependencies) and manage.py by their absolute paths."""
    return shlex.join([sys.executable, str(settings.BASE_DIR / "manage.py"), *arguments])


def _simulator_command(url: str, workflow) -> str:
    """The simulator sending a closed Case with every field `workflow` reads, each with a value."""
    fields = demo_event_fields(workflow=workflow)
    arguments = [argument for name, value in fields.items() for argument in ("--field", f"{name}={value}")]
    return _manage_command("send_outbound_message", "--url", url, "--object", workflow.salesforce_object, *arguments)
