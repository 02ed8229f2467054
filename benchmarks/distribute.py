#!/usr/bin/env python
"""Survey invitations per second through the whole distribute path, against bare SMTP sending.

    .venv/bin/python benchmarks/distribute.py [--invitations 2000] [--existing 0.3]
        [--database sfsurveys_bench_distribute] [--smtp-port 0]

Three phases in one run, against the same loopback SMTP server (aiosmtpd, its own process):

  one worker   ONE worker process drains queued workflow runs as a `qcluster` worker does
               (runs_execute_due, in batches of RUN_BATCH_SIZE): claim the runs, check their
               condition, run the distribute-survey task (contact upsert by dedupe rules, list
               membership, survey/permission/sender checks, distribution + invitation, piped-text
               rendering of subject, HTML and text, opt-out / duplicate / frequency checks, claim),
               commit, send over SMTP (one session per batch) from the worker's second thread
               while the next batch executes, record each Email Sent.
  two workers  the same with two worker processes, for other recipients.
  baseline     the one-worker phase's messages, sent by the product's SMTP backend (Django's, as
               configured) over ONE connection in ONE process, with no database work.

The headline is the one-worker ratio: one worker process against one sending process.

A share of each phase's recipients (--existing) are already in the directory, with other
details: their runs update a contact instead of creating one. Creates the PostgreSQL database
--database (dropped first if it exists, dropped again at the end), migrates it, and queues one
run per invitation before timing. Checks that the server received exactly one message per
invitation, each Message-ID once, and that every invitation is Email Sent. The ratios and the
verdict are printed last. Exit status: 0 target met, 1 missed, 2 failed.
"""

import argparse
import multiprocessing as mp
import os
import re
import resource
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scratch_db  # noqa: E402
from benchmarks.scratch_db import PG_HOST, PG_PORT, create_migrated_database, database_url  # noqa: E402

DEFAULT_DATABASE = "sfsurveys_bench_distribute"
TARGET_RATIO = 0.50  # of the baseline, with ONE worker process
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)

# --- the SMTP server: its own process, so it shares no interpreter lock with the senders --------


def smtp_server_main(pipe, port: int) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        def __init__(self):
            self.message_ids: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):
            match = _MESSAGE_ID.search(envelope.content)
            self.message_ids.append(match[1] if match else b"")
            return "250 Message accepted for delivery"

    class LoopbackController(Controller):
        def _trigger_server(self):
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    handler = Counting()
    controller = LoopbackController(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send(controller.port)
    cpu = time.process_time()
    while (command := pipe.recv()) != "stop":
        if command == "report":
            # -> (messages received, distinct Message-IDs, the server's CPU seconds), counted afresh after
            ids, handler.message_ids = handler.message_ids, []
            cpu, spent = time.process_time(), time.process_time() - cpu
            pipe.send((len(ids), len(set(ids)), spent))
    controller.stop()


# --- CPU accounting: where an invitation's time goes -------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU of the PostgreSQL processes; the postmaster's children time keeps that of backends that exited."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        comm, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        # rest[0] is field 3 (state): ppid is field 4, utime+stime 14-15, cutime+cstime 16-17
        own, children = int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])
        stats[int(stat.parent.name)] = (comm, int(rest[1]), own, children)
    total = 0
    for comm, ppid, own, children in stats.values():
        if comm.startswith("postgres"):
            is_postmaster = not stats.get(ppid, ("",))[0].startswith("postgres")
            total += own + (children if is_postmaster else 0)
    return total / _TICK


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# --- database ------------------------------------------------------------------------------------


# With a database server, the settings insist on a SECRET_KEY shared by every process.
SECRET_KEY = os.environ.get("SECRET_KEY") or "benchmark-only-key-" + "x" * 40


def prepare_database(name: str) -> None:
    create_migrated_database(
        name,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url(name), "SECRET_KEY": SECRET_KEY},
    )


def setup_django(database: str, smtp_port: int) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url(database),
            "SECRET_KEY": SECRET_KEY,
            "EMAIL_BACKEND": "distributions.channels.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_USE_TLS": "false",
            "EMAIL_USE_SSL": "false",
            "DEFAULT_FROM_EMAIL": "surveys@example.com",
            "PUBLIC_BASE_URL": "https://surveys.example.com",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    # Load the URLconf (the survey and opt-out links are reversed from it) before the phases fork
    # their processes: a qcluster worker loads it once in its life, the bare sender before timing.
    from distributions.services.delivery import opt_out_url

    opt_out_url("warm-up")


def seed_workflow():
    """The demo's workflow, survey and distribute task, so the product path is the one users run."""
    from django.contrib.auth import get_user_model

    from distributions.services.demo import demo_survey_seed
    from workflows.services.demo import demo_seed

    owner = get_user_model().objects.create_user("bench-owner", "owner@example.com", None)
    workflow = demo_seed(owner=owner)
    demo_survey_seed(owner=owner, workflow=workflow)
    workflow.tasks.exclude(kind="distribute_survey").delete()  # measure the distribute task alone
    return workflow


def _person(number: int) -> dict[str, str]:
    return {
        "ContactEmail": f"person{number}@example.com",
        "Customer_First_Name__c": "Ada",
        "Customer_Last_Name__c": f"Lovelace {number}",
    }


def add_existing_contacts(numbers: list[int]) -> None:
    """People already in the directory (another name, other embedded data), whose runs update them."""
    from directory.services import ContactData, contacts_upsert, directory_get_default

    contacts_upsert(
        directory=directory_get_default(),
        items=[
            ContactData(
                first_name="Augusta",
                last_name=f"King {number}",
                email=_person(number)["ContactEmail"],
                embedded_data={"Priority": "Low", "Tier": "Gold"},
            )
            for number in numbers
        ],
    )


def queue_runs(workflow, numbers: range, *, existing: float) -> int:
    """One queued run of a closed Case per person number, as the endpoint stores them; the first
    `existing` share of them are in the directory already. -> how many are existing contacts."""
    from django.utils import timezone

    from workflows.models import InboundMessage, Notification, Run
    from workflows.salesforce.build import salesforce_id

    existing_numbers = [number for number in numbers if (number - numbers.start) < existing * len(numbers)]
    add_existing_contacts(existing_numbers)
    inbound = InboundMessage.objects.create(
        workflow=workflow, status="accepted", http_status=200, organization_id="00D5g000004bLYvEAM"
    )
    notifications = Notification.objects.bulk_create(
        Notification(
            inbound_message=inbound,
            organization_key="00D5g000004bLYv",
            notification_id=salesforce_id("04l"),
            sobject_type="Case",
            record_id=salesforce_id("500"),
            fields={
                "IsClosed": "true",
                "ContactId": salesforce_id("003"),
                **_person(number),
                "CaseNumber": f"{number:08d}",
                "Subject": "Printer jammed",
                "Priority": "High",
                "Origin": "Web",
            },
        )
        for number in numbers
    )
    now = timezone.now()
    Run.objects.bulk_create(Run(workflow=workflow, notification=n, next_attempt_at=now) for n in notifications)
    return len(existing_numbers)


@contextmanager
def smtp_server_and_database(database: str, smtp_port: int) -> Iterator[tuple[Connection, int]]:
    """The loopback SMTP server (its own process, forked before Django starts, so it carries none
    of it; `smtp_port` 0: a free port) and the migrated scratch PostgreSQL database `database`,
    with Django set up against both. -> yields (the pipe to the server, its port); stops the server
    and drops the database when the block ends, also on errors."""
    ctx = mp.get_context("fork")
    pipe, server_pipe = ctx.Pipe()
    server = ctx.Process(target=smtp_server_main, args=(server_pipe, smtp_port), daemon=True)
    server.start()
    try:
        port = pipe.recv()
        print(f"Preparing database {database} (migrate) ...", flush=True)
        prepare_database(database)
        setup_django(database, port)
        yield pipe, port
    finally:
        pipe.send("stop")
        server.join(timeout=10)
        scratch_db.close_and_drop(database)


# --- the phases ----------------------------------------------------------------------------------


def product_worker_main(barrier, results) -> None:
    from django.db import connection

    from workflows.services.execution import runs_execute_due

    connection.close()  # never share the parent's connection
    barrier.wait()
    executed = 0
    while batch := runs_execute_due(max_runs=10_000, max_seconds=3600):
        executed += batch
    results.put(executed)


def run_product(workers: int) -> tuple[float, dict[str, float]]:
    """-> (invitations per second, CPU seconds by process group)"""
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    processes = [ctx.Process(target=product_worker_main, args=(barrier, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    barrier.wait()
    workers_cpu, postgres_cpu = cpu_seconds(resource.RUSAGE_CHILDREN), postgres_cpu_seconds()
    start = time.perf_counter()
    executed = sum(results.get(timeout=3600) for _ in processes)
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join(timeout=30)
    if any(process.exitcode for process in processes):
        raise RuntimeError("a product worker failed; see its traceback above")
    cpu = {
        "workers": cpu_seconds(resource.RUSAGE_CHILDREN) - workers_cpu,  # counted once they have exited
        "postgres": postgres_cpu_seconds() - postgres_cpu,
    }
    return executed / elapsed, {name: seconds / executed for name, seconds in cpu.items()}


def exactly_once_window_ms(invitation_ids: list[int]) -> list[float]:
    """Per invitation, how long a worker dying would leave it in doubt ("may have been sent"): from
    the previous outcome recorded for its claim (or, for the first, the claim's commit with the
    task's success record) to its own Email Sent record. Invitations claimed together are sent
    one after the other in id order, so the window is one hand-off, not the batch's."""
    from distributions.models import DeliveryEvent, Invitation
    from distributions.services.invitation_channels import SendEvent
    from workflows.models import TaskRun

    invitations = list(
        Invitation.objects.filter(pk__in=invitation_ids)
        .order_by("claim", "pk")
        .values_list("pk", "claim", "distribution__run_id")
    )
    committed = dict(
        TaskRun.objects.filter(
            status=TaskRun.Status.SUCCEEDED, run_id__in=[run_id for _pk, _claim, run_id in invitations]
        ).values_list("run_id", "finished_at")
    )
    recorded = dict(
        DeliveryEvent.objects.filter(kind=SendEvent.SENT, invitation_id__in=invitation_ids).values_list(
            "invitation_id", "occurred_at"
        )
    )
    windows, previous = [], {}
    for pk, claim, run_id in invitations:
        if pk not in recorded or run_id not in committed:
            continue
        start = previous.get(claim, committed[run_id])
        windows.append((recorded[pk] - start).total_seconds() * 1000)
        previous[claim] = recorded[pk]
    return sorted(windows)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))] if values else float("nan")


def baseline_messages(invitation_ids: list[int]):
    from distributions.channels.email import invitation_email
    from distributions.models import Invitation
    from distributions.services.delivery import opt_out_url

    invitations = Invitation.objects.select_related("distribution").filter(pk__in=invitation_ids).order_by("pk")
    return [invitation_email(invitation=i, opt_out_url=opt_out_url(i.token)) for i in invitations]


def run_baseline(messages) -> tuple[float, float]:
    """-> (messages per second, sender CPU seconds per message)"""
    from django.core.mail import get_connection

    connection = get_connection(fail_silently=False)
    cpu = cpu_seconds(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with connection:  # one SMTP session for all of them
        sent = connection.send_messages(messages)
    elapsed = time.perf_counter() - start
    if sent != len(messages):
        raise RuntimeError(f"the SMTP backend sent {sent} of {len(messages)} messages")
    return sent / elapsed, (cpu_seconds(resource.RUSAGE_SELF) - cpu) / sent


def check_product(pipe, name: str, invitation_ids: list[int], count: int) -> tuple[list[str], float]:
    """-> (problems found, the SMTP server's CPU seconds per message)"""
    from django.db.models import Count

    from distributions.models import Invitation

    problems = []
    pipe.send("report")
    received, distinct, server_cpu = pipe.recv()
    if (received, distinct) != (count, count):
        problems.append(f"{name}: the server received {received} messages ({distinct} Message-IDs) for {count}")
    statuses = dict(Invitation.objects.filter(pk__in=invitation_ids).values_list("status").annotate(n=Count("id")))
    if statuses != {Invitation.Status.EMAIL_SENT: count}:
        problems.append(f"{name}: invitation statuses {statuses}, expected {count} Email Sent")
    return problems, server_cpu / max(received, 1)


class Phase:
    """One product phase: its recipients queued, drained by `workers` processes, then checked."""

    def __init__(self, name: str, workers: int):
        self.name, self.workers = name, workers
        self.rate = 0.0
        self.cpu: dict[str, float] = {}
        self.window: list[float] = []
        self.invitation_ids: list[int] = []
        self.problems: list[str] = []

    def run(self, workflow, numbers: range, *, existing: float, pipe) -> None:
        from distributions.models import Invitation

        before = Invitation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        existing_count = queue_runs(workflow, numbers, existing=existing)
        print(
            f"{self.name}: {len(numbers)} invitations ({existing_count} to people already in the directory) ...",
            flush=True,
        )
        self.rate, self.cpu = run_product(self.workers)
        self.invitation_ids = list(Invitation.objects.filter(pk__gt=before).values_list("pk", flat=True))
        self.problems, self.cpu["smtp server"] = check_product(pipe, self.name, self.invitation_ids, len(numbers))
        self.window = exactly_once_window_ms(self.invitation_ids)

    def report(self) -> None:
        print(
            f"  {self.name:<12} {self.rate:8.1f} invitations/s  (whole distribute path; CPU per invitation: "
            f"workers {self.cpu['workers'] * 1000:.2f} ms, postgres {self.cpu['postgres'] * 1000:.2f} ms, "
            f"SMTP server {self.cpu['smtp server'] * 1000:.2f} ms)"
        )
        print(
            f"  {'':<12} window in doubt should the worker die (previous outcome of its claim -> Email Sent "
            f"recorded): p50 {percentile(self.window, 50):.1f} ms, p99 {percentile(self.window, 99):.1f} ms, "
            f"max {percentile(self.window, 100):.1f} ms"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invitations", type=int, default=2000, help="invitations per phase (default 2000)")
    parser.add_argument(
        "--existing",
        type=float,
        default=0.3,
        help="share of each phase's recipients already in the directory, whose contact is updated (default 0.3)",
    )
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"the scratch PostgreSQL database, created and dropped (default {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--smtp-port", type=int, default=0, help="the loopback SMTP server's port (default 0: a free one)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.existing <= 1:
        parser.error("--existing is a share between 0 and 1")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.database):
        parser.error("--database: lower-case letters, digits and underscores")

    try:
        with smtp_server_and_database(args.database, args.smtp_port) as (pipe, smtp_port):
            from django.conf import settings

            workflow = seed_workflow()
            print(
                f"{args.invitations} invitations per phase; SMTP: aiosmtpd on 127.0.0.1:{smtp_port} (own process); "
                f"PostgreSQL {PG_HOST}:{PG_PORT}/{args.database}; {os.cpu_count()} CPUs; "
                f"RUN_BATCH_SIZE {settings.RUN_BATCH_SIZE}",
                flush=True,
            )
            one, two = Phase("one worker", 1), Phase("two workers", 2)
            one.run(workflow, range(args.invitations), existing=args.existing, pipe=pipe)
            two.run(workflow, range(args.invitations, 2 * args.invitations), existing=args.existing, pipe=pipe)
            problems = one.problems + two.problems
            messages = baseline_messages(one.invitation_ids)
            baseline_rate, baseline_cpu = run_baseline(messages)
            pipe.send("report")
            received, _, server_cpu = pipe.recv()
            if received != len(messages):
                problems.append(f"baseline: the server received {received} of {len(messages)} messages")

            one.report()
            two.report()
            print(
                f"  {'baseline':<12} {baseline_rate:8.1f} messages/s     (the product's SMTP backend, one connection, "
                f"one process, no database; CPU per message: sender {baseline_cpu * 1000:.2f} ms, SMTP server "
                f"{server_cpu / max(received, 1) * 1000:.2f} ms)"
            )
            for problem in problems:
                print(f"  PROBLEM  {problem}")
            ratio = one.rate / baseline_rate
            met = ratio >= TARGET_RATIO and not problems
            print(f"  ratio, two workers: {two.rate / baseline_rate:6.1%}")
            print(f"  ratio, one worker:  {ratio:6.1%}  (target >= {TARGET_RATIO:.0%})")
            print(f"  verdict: {'target met' if met else 'TARGET MISSED'}")
            return 0 if met else 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())
