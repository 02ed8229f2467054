#!/usr/bin/env python
"""Two-way SMS survey replies per second through Twilio's inbound webhook, under gunicorn on PostgreSQL.

    .venv/bin/python benchmarks/sms_inbound.py [--seconds 10] [--senders 8] [--workers 4]
        [--numbers 40] [--questions 25] [--database sfsurveys_bench_sms] [--port PORT]

Three targets served by the SAME gunicorn in one run:
  bare     /bench/twilio-bare/        check X-Twilio-Signature, answer an empty TwiML document
  record   /bench/twilio-record/      check the signature, record the text idempotently on its
                                      MessageSid (one INSERT ... ON CONFLICT DO NOTHING into a
                                      table shaped as the product's texts), answer empty TwiML:
                                      the cost of a webhook that leaves the answer to a worker
  product  /webhooks/twilio/inbound/  the real webhook: record the text, answer the survey's
                                      next question (a two-way SMS session per number)

Creates the PostgreSQL database --database (dropped first if it exists, and again at the end),
migrates it, opens a two-way SMS survey session (a survey of --questions rating questions) on
--numbers distinct numbers per sender, starts gunicorn on 127.0.0.1 (local SMS outbox, no access
log), then per target runs a short warm-up and a timed phase of --senders sender processes. Each
sender texts "7" from its own numbers in turn, every request signed as Twilio signs it (its own
MessageSid), and checks each answer: HTTP 200 with TwiML, and for the product the next question.
Afterwards the database must hold exactly one inbound text and one answer per acknowledged reply,
and the record target's table one text per acknowledged request.

Printed per target: replies/s, p50/p99, errors and server CPU (gunicorn + PostgreSQL) per reply;
then record/bare and product/record beside product/bare, the verdict (product vs bare) last.

Targets: product >= 40% of bare replies/s, product p99 < 500 ms, no errors. Exit status: 0 all
met, 1 a target missed, 2 the benchmark itself failed.
"""

import argparse
import http.client
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import ingest, scratch_db  # noqa: E402
from benchmarks.ingest import Phase, cpu_delta, cpu_snapshot, free_port, start_gunicorn, stop_gunicorn  # noqa: E402
from benchmarks.scratch_db import create_migrated_database, database_url  # noqa: E402

DEFAULT_DB_NAME = "sfsurveys_bench_sms"
PUBLIC_BASE_URL = "https://sms-bench.example.com"
FROM_NUMBER = "+15005550006"
PATHS = {"bare": "/bench/twilio-bare/", "record": "/bench/twilio-record/", "product": "/webhooks/twilio/inbound/"}
EXPECTED = {"bare": b"<Response", "record": b"<Response", "product": b"<Message"}
TARGETS = ("bare", "record", "product")
HTTP_TIMEOUT = 30.0
MIN_RATIO = 0.40
MAX_P99_MS = 500.0


def phone(sender: int, number: int) -> str:
    return f"+1555{sender * 10_000 + number:07d}"


# --- setup -----------------------------------------------------------------------------------

SETUP = """
import django; django.setup()
import sys
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from benchmarks.views import BENCH_SMS_TABLE_SQL
from directory.models import Contact, Directory
from distributions.channels.sms import local_signing_key
from distributions.models import Distribution, Invitation, Survey
from distributions.services.sms_sessions import sms_session_start, sms_session_text_gone

senders, numbers, questions = (int(x) for x in sys.argv[1:4])
with connection.cursor() as c:
    for sql in BENCH_SMS_TABLE_SQL[connection.vendor]:
        c.execute(sql)
owner = get_user_model().objects.create_user("bench-owner", "bench@example.com", None)
survey = Survey.objects.create(name="SMS benchmark", owner=owner, status="active", sms_thank_you="Thank you!")
for position in range(1, questions + 1):
    survey.questions.create(position=position, kind="rating", text=f"Question {position}: how likely, 0 to 10?")
directory = Directory.objects.create(name="SMS benchmark")
distribution = Distribution.objects.create(survey=survey, channel="two_way_sms")
for sender in range(senders):
    for number in range(numbers):
        phone = f"+1555{sender * 10_000 + number:07d}"
        contact = Contact.objects.create(directory=directory, first_name="Bench", phone=phone)
        invitation = Invitation.objects.create(distribution=distribution, contact=contact, address=phone)
        with transaction.atomic():
            sms_session_start(invitation=invitation)
        sms_session_text_gone(invitation_id=invitation.pk)  # its text went: the number's open session
print(local_signing_key())
"""


def prepare(args) -> str:
    """Fresh database, migrated, with the sessions open -> the webhooks' signing key."""
    create_migrated_database(args.database, env=ingest.SERVER_ENV)
    out = subprocess.run(
        [sys.executable, "-c", SETUP, str(args.senders), str(args.numbers), str(args.questions)],
        cwd=ROOT,
        env={**os.environ, **ingest.SERVER_ENV},
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def stored(args) -> tuple[int, int, int]:
    """(inbound texts recorded, answers saved, texts the record target recorded) in the benchmark database."""
    import psycopg

    with psycopg.connect(
        host=scratch_db.PG_HOST, port=scratch_db.PG_PORT, user=scratch_db.PG_USER, dbname=args.database
    ) as conn:
        texts = conn.execute("SELECT count(*) FROM distributions_smsmessage WHERE direction = 'inbound'").fetchone()[0]
        answers = conn.execute(
            "SELECT coalesce(sum((SELECT count(*) FROM jsonb_object_keys(answers))), 0) FROM distributions_response"
        ).fetchone()[0]
        recorded = conn.execute("SELECT count(*) FROM bench_sms_message").fetchone()[0]
    return texts, int(answers), recorded


# --- senders (separate processes) ------------------------------------------------------------


def sender_main(index, port, target, numbers, key, seconds, barrier, results, sid_base):
    """Text "7" from this sender's numbers in turn until `seconds` have passed, signed."""
    from twilio.request_validator import RequestValidator

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    validator = RequestValidator(key)
    path = PATHS[target]
    url = PUBLIC_BASE_URL + path
    latencies, errors = [], Counter()
    conn = None
    try:
        barrier.wait(timeout=300)
    except Exception:
        results.put({"index": index, "fatal": "barrier broken"})
        return
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = end = time.monotonic()
    deadline = start + seconds
    sent = 0
    while end < deadline:
        sid = f"SM{sid_base + index * 10_000_000 + sent:032x}"
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": phone(index, sent % numbers),
            "To": FROM_NUMBER,
            "Body": "7",
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        sent += 1
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, form),
        }
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
            conn.request("POST", path, body=urlencode(form), headers=headers)
            response = conn.getresponse()
            status, data = response.status, response.read()
            if response.will_close:
                conn.close()
                conn = None
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            if conn is not None:
                conn.close()
                conn = None
            status, data = None, f"{type(exc).__name__}: {exc}".encode()
        latency = time.perf_counter() - t0
        end = time.monotonic()
        if status == 200 and EXPECTED[target] in data:
            latencies.append(latency)
        else:
            errors[f"{status} {data[:160]!r}"] += 1
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    if conn is not None:
        conn.close()
    results.put(
        {
            "index": index,
            "start": start,
            "end": end,
            "latencies": latencies,
            "errors": dict(errors),
            "built_late": 0,
            "resent": 0,
            "cpu": (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime),
        }
    )


def run_phase(ctx, args, port, target, key, seconds, gunicorn_pid, sid_base) -> Phase:
    barrier = ctx.Barrier(args.senders + 1)
    results_q = ctx.Queue()
    procs = [
        ctx.Process(
            target=sender_main,
            args=(i, port, target, args.numbers, key, seconds, barrier, results_q, sid_base),
            daemon=True,
        )
        for i in range(args.senders)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=300)
        before = cpu_snapshot(gunicorn_pid)
        t0 = time.monotonic()
        results = []
        while len(results) < args.senders:
            result = results_q.get(timeout=seconds + HTTP_TIMEOUT + 120)
            if "fatal" in result:
                raise RuntimeError(f"{target}: sender {result['index']}: {result['fatal']}")
            results.append(result)
        wall = time.monotonic() - t0
        cpu = cpu_delta(before, cpu_snapshot(gunicorn_pid))
        for p in procs:
            p.join(timeout=10)
        return Phase(target, 1, seconds, results, cpu, wall)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per target (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target (default 2)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent sender processes (default 8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync", help="default sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--numbers", type=int, default=40, help="numbers (open sessions) per sender (default 40)")
    parser.add_argument("--questions", type=int, default=25, help="questions of the survey (default 25)")
    scratch_db.add_database_argument(parser, default=DEFAULT_DB_NAME)
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    ingest.DB_NAME = args.database  # whose PostgreSQL backends count as the benchmark's CPU
    ingest.SERVER_ENV.update(
        {
            **scratch_db.settings_env(database_url(args.database)),
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "SMS_FROM_NUMBER": FROM_NUMBER,
            "SMS_BACKEND": "distributions.channels.sms_outbox.OutboxSmsBackend",
        }
    )
    ctx = mp.get_context("fork")
    log_path = Path(tempfile.mkstemp(prefix="bench-sms-gunicorn-", suffix=".log")[1])
    gunicorn = None
    try:
        print(f"Preparing PostgreSQL {args.database}: {args.senders * args.numbers} open sessions ...", flush=True)
        key = prepare(args)
        port = args.port or free_port()
        gunicorn = start_gunicorn(args, port, log_path)
        ingest.wait_until_up(gunicorn, port, log_path)
        print(
            f"gunicorn: {args.workers} {args.worker_class} workers on 127.0.0.1:{port}, access log off; "
            f"{os.cpu_count()} CPUs. {args.senders} senders, each texting from {args.numbers} numbers in turn "
            f"(a survey of {args.questions} rating questions each); {args.seconds:g} s timed per target after "
            f"{args.warmup:g} s warm-up.",
            flush=True,
        )
        phases, problems, acked = {}, [], Counter()
        sid_base = 0
        for target in TARGETS:
            for label, seconds in (("warm-up", args.warmup), ("timed", args.seconds)):
                sid_base += 10**12  # every text has its own MessageSid
                phase = run_phase(ctx, args, port, target, key, seconds, gunicorn.pid, sid_base)
                for error, n in phase.errors.most_common(5):
                    problems.append(f"{target} {label}: {n} x {error}")
                acked[target] += phase.messages
                if label == "timed":
                    phases[target] = phase
                    print(
                        f"  {target:<8} {phase.msg_rate:8.1f} replies/s  p50 {phase.percentile(50):6.1f} ms  "
                        f"p99 {phase.percentile(99):6.1f} ms  errors {sum(phase.errors.values())}  "
                        f"server CPU {phase.server_ms_per_message:.2f} ms/reply",
                        flush=True,
                    )
        texts, answers, recorded = stored(args)
        acked_product = acked["product"]
        capacity = args.senders * args.numbers * args.questions
        if acked_product > capacity:
            problems.append(f"{acked_product} replies for {capacity} questions: raise --numbers or --questions")
        exact = texts == acked_product and answers == min(acked_product, capacity)
        if not exact:
            problems.append(f"{acked_product} product replies acknowledged, {texts} texts and {answers} answers stored")
        if recorded != acked["record"]:
            exact = False
            problems.append(f"{acked['record']} record requests acknowledged, {recorded} texts recorded")
        if problems:
            print("\nProblems:")
            for line in problems:
                print("  " + line)
        bare, record, product = phases["bare"], phases["record"], phases["product"]
        ratio = product.msg_rate / bare.msg_rate if bare.msg_rate else 0.0
        p99 = product.percentile(99)
        errors = sum(sum(ph.errors.values()) for ph in phases.values())
        print()
        for over, under in ((record, bare), (product, record), (product, bare)):
            print(
                f"{over.target}/{under.target} {_share(over.msg_rate, under.msg_rate)} of replies/s; server CPU per "
                f"reply {over.target}/{under.target} {over.server_ms_per_message / under.server_ms_per_message:.1f}x"
            )
        print(
            "other load on the machine during "
            + ", ".join(f"{ph.target} {ph.cores(ph.other_cpu):.2f}" for ph in phases.values())
            + " cores."
        )
        verdicts = [
            (ratio >= MIN_RATIO, f"product >= {MIN_RATIO:.0%} of bare replies/s: {ratio:.1%}"),
            (p99 < MAX_P99_MS, f"product p99 < {MAX_P99_MS:.0f} ms: {p99:.1f} ms"),
            (errors == 0 and exact, f"every answer right ({errors} errors), one text and one answer stored per reply"),
        ]
        print("\nTargets:")
        for ok, text in verdicts:
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        return 0 if all(ok for ok, _ in verdicts) else 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        log = ingest.tail(log_path)
        if log:
            print(f"--- end of the gunicorn log ---\n{log}", file=sys.stderr)
        return 2
    finally:
        stop_gunicorn(gunicorn)
        scratch_db.close_and_drop(args.database)
        log_path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
