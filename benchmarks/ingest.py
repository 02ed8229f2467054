#!/usr/bin/env python
"""Ingest throughput of the Salesforce event endpoint under gunicorn, on PostgreSQL or SQLite.

    .venv/bin/python benchmarks/ingest.py [--seconds 10] [--senders 8] [--workers 4]
        [--database sfsurveys_bench | --sqlite PATH] [--port PORT] [--worker]

For 1-, 10- and 100-notification messages, three targets served by the SAME gunicorn in one run:
  bare     /bench/bare/                   read the body, answer the Ack (HTTP ceiling)
  minimal  /bench/minimal/                defusedxml + ONE multi-row INSERT (storage floor)
  product  /events/salesforce/<token>/    the real endpoint of a workflow made for the run

Creates the PostgreSQL database --database (or the SQLite file --sqlite; dropped first if it
exists, dropped again at the end), migrates it, starts gunicorn on 127.0.0.1 (--port, else a free
one; no access log), then per size and target runs a short warm-up (also sizes the message pool)
and a timed phase of --senders sender processes, each posting pre-built messages with unique
notification ids and checking every answer is HTTP 200 with an Ack. Without --worker no qcluster
runs: product jobs pile up in django-q2's ORM queue; with it one qcluster drains them meanwhile.
Exit status: 0 all targets met, 1 a target missed (or errors), 2 the benchmark itself failed.
"""

import argparse
import http.client
import math
import multiprocessing as mp
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scratch_db  # noqa: E402
from benchmarks.scratch_db import PG_HOST, PG_PORT, PG_USER, create_migrated_database, database_url  # noqa: E402
from workflows.salesforce.build import build_outbound_message, salesforce_id  # noqa: E402

DEFAULT_DB_NAME = "sfsurveys_bench"
ORG_ID = "00D5g000004bLYvEAM"
ACTION_ID = "04k5g000000L0BzAAK"
SIZES = (1, 10, 100)
TARGETS = ("bare", "minimal", "product")
ACK = b"<Ack>true</Ack>"
HTTP_TIMEOUT = 30.0
# Pre-built notifications per sender and phase are capped (~30 us and ~1 KB each) for the targets
# whose cost does not depend on ids being new: bare ignores the body, minimal's table has no unique
# index. Past the cap they send their pool again (reported). The product never sees an id twice.
POOL_CAP_NOTIFICATIONS = 60_000
CYCLING_TARGETS = {"bare", "minimal"}
# Targets (product vs minimal notifications/s, and ack latency).
MIN_RATIO = {100: 0.60, 1: 0.70}
MAX_P99_MS = 1000.0

# Set by main() from the options: the Django environment of gunicorn, the worker and the setup.
SERVER_ENV: dict[str, str] = {}
# The database under test: PostgreSQL's name, or the SQLite file.
DB_NAME = DEFAULT_DB_NAME
SQLITE_PATH: Path | None = None

# --- messages --------------------------------------------------------------------------------

_STATUSES = ("Closed", "Closed", "Escalated", "Working")
_ORIGINS = ("Web", "Email", "Phone", "Chat")
_FIRST = ("Jane", "John", "Amélie", "Kenji", "Priya", "Luis", "Olu", "Sven")
_LAST = ("Doe", "Smith", "Durand", "Tanaka", "Patel", "García", "Okafor", "Larsen")
_STORES = ("Downtown", "Airport", "Harbour", "Old Town", "Mall")
_SUBJECTS = ("Order arrived damaged", "Refund not received", "Cannot log in", "Wrong size & colour <M>")


def case_fields(rng: random.Random, number: int) -> dict[str, str]:
    """A Case record shaped like tests/fixtures/salesforce/case_single.xml (17 fields)."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    status = rng.choice(_STATUSES)
    day = rng.randint(1, 28)
    return {
        "Id": salesforce_id("500", rng=rng),
        "AccountId": salesforce_id("001", rng=rng),
        "CaseNumber": f"{number % 100_000_000:08d}",
        "ContactEmail": f"{first.lower()}.{last.lower()}{rng.randint(1, 9999)}@example.com",
        "ContactId": salesforce_id("003", rng=rng),
        "ContactMobile": f"+1 (415) 555-{rng.randint(0, 9999):04d}",
        "CreatedDate": f"2024-03-{day:02d}T09:41:07.000Z",
        "Customer_First_Name__c": first,
        "Customer_Last_Name__c": last,
        "IsClosed": "true" if status == "Closed" else "false",
        "LastModifiedDate": f"2024-03-{day:02d}T16:27:19.000Z",
        "Origin": rng.choice(_ORIGINS),
        "Priority": rng.choice(("Low", "Medium", "High")),
        "Satisfaction_Score__c": f"{rng.randint(1, 5)}.0",
        "Status": status,
        "Store__c": rng.choice(_STORES),
        "Subject": rng.choice(_SUBJECTS),
    }


def build_message(size: int, rng: random.Random) -> bytes:
    return build_outbound_message(
        organization_id=ORG_ID,
        action_id=ACTION_ID,
        sobject_type="Case",
        notifications=[(salesforce_id("04l", rng=rng), case_fields(rng, rng.randrange(10**8))) for _ in range(size)],
    )


# --- senders (separate processes: no GIL shared with each other or with the parent) ------------


def _post(conn_box: list, port: int, path: str, body: bytes) -> tuple[int, bytes]:
    conn = conn_box[0]
    if conn is None:
        conn = conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        )
        response = conn.getresponse()
        data = response.read()
        if response.will_close:  # gunicorn sync workers close after every answer
            conn.close()
            conn_box[0] = None
        return response.status, data
    except BaseException:
        conn.close()
        conn_box[0] = None
        raise


def sender_main(index, port, path, size, pool_size, cycle, seconds, barrier, results, seed):
    """Post pre-built messages until `seconds` have passed; every answer must be 200 + Ack.

    When the pool runs out: `cycle` sends it again (targets that ignore ids), otherwise new
    messages are built on the fly (costs client CPU; counted and reported).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    rng = random.Random(seed)
    pool = [build_message(size, rng) for _ in range(pool_size)]
    built_late = resent = 0
    latencies, errors = [], Counter()
    conn_box = [None]
    try:
        barrier.wait(timeout=300)
    except Exception:
        results.put({"index": index, "fatal": "barrier broken"})
        return
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    deadline = start + seconds
    sent = 0
    end = start
    while end < deadline:
        if sent < len(pool):
            body = pool[sent]
        elif cycle:
            body = pool[sent % len(pool)]
            resent += 1
        else:  # pool too small: build on the fly (client CPU, reported)
            body = build_message(size, rng)
            built_late += 1
        sent += 1
        t0 = time.perf_counter()
        try:
            status, data = _post(conn_box, port, path, body)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            status, data = None, f"{type(exc).__name__}: {exc}".encode()
        latency = time.perf_counter() - t0
        end = time.monotonic()
        if status == 200 and ACK in data:
            latencies.append(latency)
        else:
            errors[f"{status} {data[:160]!r}"] += 1
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    if conn_box[0] is not None:
        conn_box[0].close()
    results.put(
        {
            "index": index,
            "start": start,
            "end": end,
            "latencies": latencies,
            "errors": dict(errors),
            "built_late": built_late,
            "resent": resent,
            "cpu": (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime),
        }
    )


# --- CPU accounting from /proc ----------------------------------------------------------------
# gunicorn = master + workers; postgres = the postmaster, its auxiliary processes and the backends
# of the bench database; a parent's cutime+cstime keeps the CPU of children that exited meanwhile
# (e.g. a backend closed at CONN_MAX_AGE). other = whole-machine busy time minus those groups and
# the senders: anything else running on the machine, which disturbs the figures when it is high.

_TICK = os.sysconf("SC_CLK_TCK")
_CLIENT_ADDR = re.compile(r"\d+\.\d+\.\d+\.\d+\(\d+\)|\[local\]|\[[0-9a-f:]+\]\(\d+\)")


def _proc_stat(pid: int):
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17
    own = (int(rest[11]) + int(rest[12])) / _TICK
    children = (int(rest[13]) + int(rest[14])) / _TICK
    return comm, int(rest[1]), own, children


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _machine_busy() -> float:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK  # minus idle and iowait


def cpu_snapshot(gunicorn_pid: int, worker_pid: int | None = None) -> dict:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    gunicorn = postgres = worker = 0.0
    for pid, (comm, ppid, own, children) in stats.items():
        if pid == gunicorn_pid:
            gunicorn += own + children
        elif ppid == gunicorn_pid:
            gunicorn += own
        elif worker_pid is not None and pid == worker_pid:
            worker += own + children
        elif worker_pid is not None and (ppid == worker_pid or stats.get(ppid, ("", 0))[1] == worker_pid):
            worker += own  # qcluster's sentinel and its children (workers, monitor, pusher)
        elif SQLITE_PATH is None and comm.startswith("postgres"):
            parent_is_postgres = ppid in stats and stats[ppid][0].startswith("postgres")
            if not parent_is_postgres:  # the postmaster
                postgres += own + children
            else:
                cmd = _cmdline(pid)
                if f" {DB_NAME} " in cmd or not _CLIENT_ADDR.search(cmd):
                    postgres += own
    return {"gunicorn": gunicorn, "postgres": postgres, "worker": worker, "busy": _machine_busy()}


def cpu_delta(before, after) -> dict[str, float]:
    return {key: after[key] - before[key] for key in after}


# --- database and server ---------------------------------------------------------------------


def bench_db():
    if SQLITE_PATH is not None:
        import sqlite3

        return sqlite3.connect(SQLITE_PATH, timeout=60, isolation_level=None)
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=DB_NAME, autocommit=True)


def sqlite_files(path: Path) -> list[Path]:
    # The database, SQLite's journal and shared memory, and the write gate's lock files.
    suffixes = ("", "-wal", "-shm", "-writegate", "-writegate-turn", "-writegate-waiting")
    return [path.with_name(path.name + suffix) for suffix in suffixes]


def drop_database() -> None:
    if SQLITE_PATH is None:
        scratch_db.close_and_drop(DB_NAME)
    else:
        for file in sqlite_files(SQLITE_PATH):
            file.unlink(missing_ok=True)


def prepare_database(*, directory_task: bool) -> str:
    """Fresh database, migrated; the bench table; a Case workflow (with an add-to-directory task
    when a worker runs, so it has writes to make). Returns the workflow's event path."""
    if SQLITE_PATH is None:
        create_migrated_database(DB_NAME, env=SERVER_ENV)
    else:
        drop_database()
        scratch_db.migrate(SERVER_ENV)
    env = {**os.environ, **SERVER_ENV}
    task = (
        "Task.objects.create(workflow=wf, position=1, kind='add_to_directory', config={"
        "'mailing_list': 'Support customers', 'first_name': '${event://Customer_First_Name__c}',"
        " 'last_name': '${event://Customer_Last_Name__c}', 'email': '${event://ContactEmail}',"
        " 'save_mode': 'embedded_data', 'data_fields': [['Priority', '${event://Priority}']]})\n"
    )
    setup = (
        "import django; django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.db import connection\n"
        "from benchmarks.views import BENCH_TABLE_SQL\n"
        "from workflows.models import Task, Workflow\n"
        "with connection.cursor() as c: c.execute(BENCH_TABLE_SQL[connection.vendor])\n"
        "owner = get_user_model().objects.create_user('bench-owner', 'bench@example.com', None)\n"
        f"wf = Workflow.objects.create(name='Ingest benchmark', owner=owner, salesforce_object='Case',"
        f" allowed_organization_ids={ORG_ID!r})\n" + (task if directory_task else "") + "print(wf.event_path)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", setup], cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(log_path: Path) -> subprocess.Popen:
    """`manage.py qcluster` with the product's settings (WORKER_COUNT workers), logging to `log_path`."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps its own descriptor
    try:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**os.environ, **SERVER_ENV},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_worker(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session, started by us above
        proc.wait(timeout=5)


def start_gunicorn(args, port: int, log_path: Path) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        "--error-logfile",
        str(log_path),
        "--log-level",
        "warning",
    ]
    if args.worker_class == "gthread":
        cmd += ["--threads", str(args.threads)]
    log = open(log_path, "ab")  # noqa: SIM115 - Django's own log output (stderr) goes here too
    try:
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **SERVER_ENV}, stdout=log, stderr=log, start_new_session=True
        )
    finally:
        log.close()


def wait_until_up(proc: subprocess.Popen, port: int, log_path: Path, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{tail(log_path)}")
        try:
            status, data = _post([None], port, "/bench/bare/", b"<ping/>")
            if status == 200 and ACK in data:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {limit:.0f} s:\n{tail(log_path)}")


def stop_gunicorn(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session, started by us above
        proc.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- one phase -------------------------------------------------------------------------------


class Phase:
    def __init__(self, target, size, seconds, results, cpu, wall_cpu):
        self.target, self.size, self.seconds = target, size, seconds
        self.latencies = sorted(lat for r in results for lat in r["latencies"])
        self.errors = Counter()
        for r in results:
            self.errors.update(r["errors"])
        self.messages = len(self.latencies)
        start = min(r["start"] for r in results)
        end = max(r["end"] for r in results)
        self.elapsed = max(end - start, 1e-9)
        self.built_late = sum(r["built_late"] for r in results)
        self.resent = sum(r["resent"] for r in results)
        self.client_cpu = sum(r["cpu"] for r in results)
        self.cpu = cpu  # CPU seconds: {"gunicorn", "postgres", "worker", "busy" (whole machine)}
        self.other_cpu = max(0.0, cpu["busy"] - cpu["gunicorn"] - cpu["postgres"] - cpu["worker"] - self.client_cpu)
        self.wall_cpu = wall_cpu  # wall seconds the server CPU was sampled over

    @property
    def msg_rate(self):
        return self.messages / self.elapsed

    @property
    def notif_rate(self):
        return self.msg_rate * self.size

    def percentile(self, p):
        if not self.latencies:
            return float("nan")
        k = min(len(self.latencies) - 1, max(0, math.ceil(p / 100 * len(self.latencies)) - 1))
        return self.latencies[k] * 1000

    @property
    def server_ms_per_message(self):
        """gunicorn + postgres CPU per acked message: the cost, whatever else the machine runs."""
        return (self.cpu["gunicorn"] + self.cpu["postgres"]) / self.messages * 1000 if self.messages else float("nan")

    def cores(self, seconds):
        return seconds / self.wall_cpu if self.wall_cpu else float("nan")


def run_phase(ctx, port, path, target, size, seconds, senders, pool_size, pids, deadline_slack=120):
    cycle = target in CYCLING_TARGETS
    barrier = ctx.Barrier(senders + 1)
    results_q = ctx.Queue()
    procs = []
    base_seed = random.SystemRandom().randrange(2**63)
    for i in range(senders):
        p = ctx.Process(
            target=sender_main,
            args=(i, port, path, size, pool_size, cycle, seconds, barrier, results_q, base_seed + i),
            daemon=True,
        )
        p.start()
        procs.append(p)
    try:
        barrier.wait(timeout=300)  # every sender has built its pool
        before = cpu_snapshot(*pids)
        t0 = time.monotonic()
        results = []
        limit = time.monotonic() + seconds + HTTP_TIMEOUT + deadline_slack
        while len(results) < senders:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{target}/{size}: senders did not finish in time")
            result = results_q.get(timeout=remaining)
            if "fatal" in result:
                raise RuntimeError(f"{target}/{size}: sender {result['index']}: {result['fatal']}")
            results.append(result)
        wall = time.monotonic() - t0
        cpu = cpu_delta(before, cpu_snapshot(*pids))
        for p in procs:
            p.join(timeout=10)
        return Phase(target, size, seconds, results, cpu, wall)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


def product_counts(conn) -> dict[str, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM workflows_notification),"
        " (SELECT count(*) FROM workflows_run),"
        " (SELECT count(*) FROM django_q_ormq),"
        " (SELECT count(*) FROM workflows_inboundmessage WHERE status = 'accepted')"
    ).fetchone()
    return dict(zip(("notifications", "runs", "jobs", "accepted"), row))


# --- report ----------------------------------------------------------------------------------


def print_table(phases, senders):
    header = (
        f"{'target':<8} {'notif/msg':>9} {'msg/s':>9} {'notif/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} {'srv cpu ms/msg':>14}  {'cpu cores: client/gunicorn/pg/worker/other':>42}"
    )
    print(header)
    print("-" * len(header))
    for ph in phases:
        cpu = " / ".join(
            f"{ph.cores(x):.2f}"
            for x in (ph.client_cpu, ph.cpu["gunicorn"], ph.cpu["postgres"], ph.cpu["worker"], ph.other_cpu)
        )
        print(
            f"{ph.target:<8} {ph.size:>9} {ph.msg_rate:>9.1f} {ph.notif_rate:>9.0f} {ph.percentile(50):>8.1f} "
            f"{ph.percentile(99):>8.1f} {sum(ph.errors.values()):>6} {ph.server_ms_per_message:>14.2f}  {cpu:>42}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per target and size (default 10)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent sender processes (default 8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync", help="default sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per phase (default 1-2)")
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="notifications per message (default 1,10,100)"
    )
    parser.add_argument(
        "--extra-target",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also measure this URL path ({token} = the workflow's token), e.g. a prototype view routed by "
        "--settings; repeatable",
    )
    parser.add_argument(
        "--settings",
        default="benchmarks.settings",
        help="DJANGO_SETTINGS_MODULE for migrate and gunicorn (default benchmarks.settings)",
    )
    parser.add_argument("--keep-log", action="store_true", help="keep gunicorn's (and the worker's) log file")
    database = parser.add_mutually_exclusive_group()
    database.add_argument(
        "--database",
        default=DEFAULT_DB_NAME,
        help=f"scratch PostgreSQL database, dropped first and at the end (default {DEFAULT_DB_NAME})",
    )
    database.add_argument(
        "--sqlite",
        type=Path,
        metavar="PATH",
        help="use a SQLite file instead (the product's default database), deleted first and at the end",
    )
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run one qcluster (WORKER_COUNT workers) during the run, draining the product's runs; the "
        "workflow then has an add-to-directory task",
    )
    args = parser.parse_args(argv)
    global DB_NAME, SQLITE_PATH
    DB_NAME, SQLITE_PATH = args.database, args.sqlite and args.sqlite.resolve()
    url = f"sqlite:///{SQLITE_PATH}" if SQLITE_PATH else database_url(DB_NAME)
    SERVER_ENV.update(scratch_db.settings_env(url, settings=args.settings))
    sizes = tuple(int(x) for x in args.sizes.split(","))
    if any(not 1 <= size <= 100 for size in sizes):
        parser.error("--sizes: Salesforce sends 1 to 100 notifications per message")
    extra = dict(item.split("=", 1) for item in args.extra_target)
    targets = TARGETS + tuple(extra)
    warmup = args.warmup if args.warmup is not None else min(2.0, max(1.0, args.seconds / 5))

    ctx = mp.get_context("fork")
    log_path = Path(tempfile.mkstemp(prefix="bench-gunicorn-", suffix=".log")[1])
    worker_log = log_path.with_name(log_path.stem + "-worker.log")
    gunicorn = worker = None
    database_name = f"SQLite {SQLITE_PATH}" if SQLITE_PATH else f"PostgreSQL {PG_HOST}:{PG_PORT}/{DB_NAME}"
    try:
        print(f"Preparing {database_name} (migrate) ...", flush=True)
        event_path = prepare_database(directory_task=args.worker)
        port = args.port or free_port()
        gunicorn = start_gunicorn(args, port, log_path)
        wait_until_up(gunicorn, port, log_path)
        if args.worker:
            worker = start_worker(worker_log)
        pids = (gunicorn.pid, worker.pid if worker else None)
        token = event_path.rstrip("/").rsplit("/", 1)[-1]
        extra = {name: path.replace("{token}", token) for name, path in extra.items()}
        paths = {"bare": "/bench/bare/", "minimal": "/bench/minimal/", "product": event_path, **extra}
        threads = f", {args.threads} threads each" if args.worker_class == "gthread" else ""
        print(
            f"gunicorn: {args.workers} {args.worker_class} workers{threads} on 127.0.0.1:{port}, access log off; "
            f"{database_name}; {os.cpu_count()} CPUs\n"
            f"{args.senders} sender processes (http.client), {args.seconds:g} s timed per phase after "
            f"{warmup:g} s warm-up; every message has unique notification ids (17-field Case records).\n"
            + (
                "One qcluster drains the product's runs meanwhile (an add-to-directory task each): "
                "it competes for the CPUs and, on SQLite, for the write lock."
                if worker
                else "No qcluster runs during the benchmark: the product's jobs stay in django-q2's ORM queue "
                "(django_q_ormq), so no worker competes for the CPUs."
            ),
            flush=True,
        )
        db = bench_db()
        phases, problems, notes = [], [], []
        storage_mismatch = False
        warmup_errors = 0
        for size in sizes:
            for target in targets:
                counts0 = product_counts(db) if target == "product" else None
                # Warm-up: loads code in every worker, fills caches, and measures the rate that
                # sizes the timed phase's message pool (1.5x, so nothing is built while timing).
                probe_pool = max(5, 2_000 // size)
                probe = run_phase(ctx, port, paths[target], target, size, warmup, args.senders, probe_pool, pids)
                pool = int(math.ceil(probe.msg_rate * args.seconds * 1.5 / args.senders)) + 10
                if target in CYCLING_TARGETS:
                    pool = min(pool, max(1, POOL_CAP_NOTIFICATIONS // size))
                phase = run_phase(ctx, port, paths[target], target, size, args.seconds, args.senders, pool, pids)
                phases.append(phase)
                if target in TARGETS:
                    warmup_errors += sum(probe.errors.values())
                print(
                    f"  {target:<8} x{size:<3} {phase.msg_rate:8.1f} msg/s {phase.notif_rate:8.0f} notif/s "
                    f"p99 {phase.percentile(99):7.1f} ms errors {sum(phase.errors.values())}"
                    + (f" (warm-up errors {sum(probe.errors.values())})" if probe.errors else ""),
                    flush=True,
                )
                for ph, label in ((probe, "warm-up"), (phase, "timed")):
                    for error, n in ph.errors.most_common(5):
                        problems.append(f"{target} x{size} {label}: {n} x {error}")
                if phase.built_late:
                    notes.append(f"{target} x{size}: {phase.built_late} messages built during timing (pool too small)")
                if phase.resent:
                    notes.append(
                        f"{target} x{size}: pool of {pool} messages/sender cycled, {phase.resent} sends repeated ids "
                        "(harmless: this target ignores ids)"
                    )
                if counts0 is not None:
                    counts1 = product_counts(db)
                    acked = (probe.messages + phase.messages) * size
                    messages = probe.messages + phase.messages
                    got = {k: counts1[k] - counts0[k] for k in counts1}
                    # Every message wakes workers with at least one job, and no job is empty (a
                    # draining worker takes jobs off the queue meanwhile).
                    jobs_ok = worker is not None or messages <= got["jobs"] <= acked
                    if got["notifications"] != acked or got["runs"] != acked or not jobs_ok:
                        storage_mismatch = True
                        problems.append(
                            f"product x{size}: {acked} notifications in {messages} messages acked, but stored {got}"
                        )
        db.close()

        print()
        print_table(phases, args.senders)
        print(
            "srv cpu ms/msg = gunicorn + postgres CPU per acked message (robust to other load on the machine).\n"
            f"cpu cores = CPU seconds / wall seconds of the timed phase ({os.cpu_count()} CPUs): sender processes /"
            " gunicorn master+workers / postgres (bench backends + auxiliaries) / qcluster (--worker) / everything"
            " else on the machine."
        )
        busy = [ph for ph in phases if ph.cores(ph.other_cpu) > 0.15]
        if busy:
            notes.append(
                "other processes used > 0.15 cores during "
                + ", ".join(f"{ph.target} x{ph.size} ({ph.cores(ph.other_cpu):.2f})" for ph in busy)
                + ": those figures are disturbed; rerun on a quiet machine"
            )
        if notes:
            print("\nNotes:")
            for line in notes:
                print("  " + line)
        if problems:
            print("\nProblems:")
            for line in problems:
                print("  " + line)

        by = {(ph.target, ph.size): ph for ph in phases}
        print("\nRatios (notifications/s):")
        for size in sizes:
            minimal, bare = by[("minimal", size)], by[("bare", size)]
            for name in ("product", *extra):
                ph = by[(name, size)]
                print(
                    f"  {size:>3}/msg  {name}/minimal {ph.notif_rate / minimal.notif_rate:6.1%}   "
                    f"{name}/bare {ph.notif_rate / bare.notif_rate:6.1%}   "
                    f"server CPU per message {name}/minimal "
                    f"{ph.server_ms_per_message / minimal.server_ms_per_message:4.1f}x"
                )
        verdicts = []
        for size, floor in sorted(MIN_RATIO.items(), reverse=True):
            if size not in sizes:
                continue
            ratio = by[("product", size)].notif_rate / by[("minimal", size)].notif_rate
            verdicts.append((ratio >= floor, f"product >= {floor:.0%} of minimal at {size}/msg: {ratio:.1%}"))
        worst = max(by[("product", size)].percentile(99) for size in sizes)
        verdicts.append((worst < MAX_P99_MS, f"product ack p99 < {MAX_P99_MS:.0f} ms: worst {worst:.1f} ms"))
        errors = warmup_errors + sum(sum(ph.errors.values()) for ph in phases if ph.target in TARGETS)
        verdicts.append(
            (
                errors == 0 and not storage_mismatch,
                f"every answer HTTP 200 + Ack ({errors} errors), product stored exactly what it acked"
                + ("" if not storage_mismatch else ": NO, see Problems"),
            )
        )
        print("\nTargets:")
        for ok, text in verdicts:
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        return 0 if all(ok for ok, _ in verdicts) else 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        log = tail(log_path)
        if log:
            print(f"--- end of the gunicorn log ---\n{log}", file=sys.stderr)
        return 2
    finally:
        stop_worker(worker)
        stop_gunicorn(gunicorn)
        drop_database()
        if args.keep_log:
            print(f"gunicorn log: {log_path}" + (f", worker log: {worker_log}" if worker else ""))
        else:
            log_path.unlink(missing_ok=True)
            worker_log.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
