#!/usr/bin/env python
"""How fast ONE worker process could distribute if executing a batch cost less: the ceiling.

    .venv/bin/python benchmarks/distribute_ceiling.py [--invitations 2000] [--costs 0,0.2,0.35,0.5,0.7]
        [--database sfsurveys_bench_ceiling] [--smtp-port 0]

Runs distribute.py's one-worker phase (the real product path) once, to make real invitations, and
its baseline (the product's SMTP backend, one connection, one process, no database). Then, for each
cost C in --costs (milliseconds of CPU per invitation), one worker process sends the same
invitations again, batch by batch as `runs_execute_due` does, with the product's own sending
thread unchanged (MIME, one SMTP session per batch, each Email Sent recorded before the next
message), while its first thread, in place of executing the batch, reads the batch's
invitations, makes as many database round trips as the product's batch makes (26 per 50 runs)
and computes for C ms per invitation in pure Python.

The one-worker ratio at cost C is what the product would reach if its execution of a batch
(claim, conditions, contact upserts, distributions, invitations, piped text, checks) took C ms of
the interpreter per invitation: the product's own costs about 0.7 ms. Prints each ratio against
the 50% target of distribute.py. Exit status 0, or 2 when the benchmark itself failed.
"""

import argparse
import multiprocessing as mp
import re
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import distribute  # noqa: E402

DEFAULT_DATABASE = "sfsurveys_bench_ceiling"
BATCH = 50
ROUND_TRIPS_PER_BATCH = 26  # the product's batch of 50 distribute runs, counted with CaptureQueriesContext


def _compute(milliseconds: float) -> None:
    """Hold the interpreter for `milliseconds` of this thread's CPU, as executing Python does."""
    end = time.thread_time() + milliseconds / 1000
    total = 0
    while time.thread_time() < end:
        for number in range(200):
            total += number


def ceiling_worker_main(invitation_ids: list[int], cost: float, results) -> None:
    from django.db import connection

    from distributions.models import Invitation
    from distributions.services.delivery import invitations_deliver
    from workflows.services.execution.background import (
        after_commit_work,
        after_commit_work_in_second_thread,
        after_commit_work_wait,
    )

    connection.close()  # never share the parent's connection
    start = time.perf_counter()
    with after_commit_work_in_second_thread():
        for first in range(0, len(invitation_ids), BATCH):
            batch_ids = invitation_ids[first : first + BATCH]
            batch = list(Invitation.objects.select_related("distribution").filter(pk__in=batch_ids))
            with connection.cursor() as cursor:
                for _ in range(ROUND_TRIPS_PER_BATCH - 1):  # the read above is one
                    cursor.execute("SELECT 1")
            _compute(cost * len(batch))
            after_commit_work_wait()  # as the product's claim does: one batch outstanding at a time
            after_commit_work(lambda batch=batch: invitations_deliver(invitations=batch))
    results.put(len(invitation_ids) / (time.perf_counter() - start))


def resend_rate(invitation_ids: list[int], cost: float, pipe) -> float:
    """Put the invitations back as claimed and unsent, send them again from one worker. -> per second"""
    from django.db import connections

    from distributions.models import DeliveryEvent, Invitation
    from distributions.services.invitation_channels import SendEvent

    DeliveryEvent.objects.filter(invitation_id__in=invitation_ids, kind=SendEvent.SENT).delete()
    Invitation.objects.filter(pk__in=invitation_ids).update(status=Invitation.Status.PENDING)
    connections.close_all()
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    worker = ctx.Process(target=ceiling_worker_main, args=(invitation_ids, cost, results))
    worker.start()
    rate = results.get(timeout=3600)
    worker.join(timeout=30)
    pipe.send("report")
    received, distinct, _cpu = pipe.recv()
    sent = Invitation.objects.filter(pk__in=invitation_ids, status=Invitation.Status.EMAIL_SENT).count()
    if worker.exitcode or (received, distinct, sent) != (len(invitation_ids),) * 3:
        raise RuntimeError(f"cost {cost} ms: {received} received, {distinct} Message-IDs, {sent} Email Sent")
    return rate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invitations", type=int, default=2000)
    parser.add_argument("--costs", default="0,0.2,0.35,0.5,0.7", help="ms of CPU per invitation, comma-separated")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--smtp-port", type=int, default=0)
    args = parser.parse_args(argv)
    costs = [float(cost) for cost in args.costs.split(",")]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.database):
        parser.error("--database: lower-case letters, digits and underscores")

    try:
        with distribute.smtp_server_and_database(args.database, args.smtp_port) as (pipe, _port):
            product = distribute.Phase("one worker", 1)
            product.run(distribute.seed_workflow(), range(args.invitations), existing=0.3, pipe=pipe)
            if product.problems:
                raise RuntimeError("; ".join(product.problems))
            invitation_ids = sorted(product.invitation_ids)
            baseline, _cpu = distribute.run_baseline(distribute.baseline_messages(invitation_ids))
            pipe.send("report")
            pipe.recv()
            print(f"  baseline                          {baseline:8.1f} messages/s")
            print(
                f"  product, one worker               {product.rate:8.1f} invitations/s  {product.rate / baseline:6.1%}"
            )
            for cost in costs:
                rate = resend_rate(invitation_ids, cost, pipe)
                print(
                    f"  batch execution at {cost:4.2f} ms/invitation {rate:8.1f} invitations/s  {rate / baseline:6.1%}"
                )
            print(f"  (target of distribute.py: one worker >= {distribute.TARGET_RATIO:.0%} of baseline)")
            return 0
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())
