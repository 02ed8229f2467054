"""The event endpoint served by gunicorn on PostgreSQL, as deployed: hostile calls, a database
that drops its connections, a client that stalls. No answer is ever a 500, every refusal is in
the inbound log with its reason, and nothing acknowledged is lost."""

import http.client
import socket
import threading
import time
from dataclasses import dataclass

import psycopg
import pytest
import requests
from defusedxml import ElementTree
from django.db import connection

from tests.factories import ORGANIZATION_ID, case_fields, make_workflow, outbound_message
from tests.web import APPLICATION_NAME, gunicorn
from tests.workflows.hostile_corpus import MAX_BODY_BYTES, Hostile, corpus, http_request
from workflows.models import InboundMessage, Notification, Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def fault_string(self) -> str | None:
        fault = ElementTree.fromstring(self.body).find(f"{SOAP}Body/{SOAP}Fault")
        return None if fault is None else fault.findtext("faultstring")

    def is_ack(self) -> bool:
        ack = ElementTree.fromstring(self.body).find(f"{SOAP}Body/{OUTBOUND}notificationsResponse/{OUTBOUND}Ack")
        return self.status == 200 and ack is not None and ack.text == "true"


def exchange(port: int, request: bytes, *, hang_up: bool = False, timeout: float = 30) -> Reply:
    """Send raw bytes, read the whole answer (http.client parses it, chunked or not)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Reply(response.status, response.getheader("Content-Type", ""), response.read())


@pytest.fixture
def server(postgres_only, tmp_path):
    with gunicorn(
        log_dir=tmp_path,
        env={"SALESFORCE_MAX_BODY_BYTES": str(MAX_BODY_BYTES)},
        options=("--workers", "2", "--threads", "4", "--timeout", "5"),
    ) as port:
        yield port


def test_it_answers_every_hostile_call_with_its_status_and_logs_every_refusal(server):
    workflow = make_workflow(allowed_organization_ids=ORGANIZATION_ID)
    calls = corpus(workflow.event_path)
    assert len(calls) >= 60
    wrong = []
    for call in calls:
        last_logged = InboundMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        reply = exchange(server, call.request, hang_up=call.hang_up)
        logged = list(InboundMessage.objects.filter(pk__gt=last_logged))
        wrong += [f"{call.name}: {problem}" for problem in _problems(call, reply, logged)]
    assert not wrong, "\n".join(wrong)


def _problems(call: Hostile, reply: Reply, logged: list[InboundMessage]) -> list[str]:
    if reply.status not in call.statuses:
        return [f"answered {reply.status}, expected {sorted(call.statuses)}: {reply.body[:300]!r}"]
    if reply.content_type != "text/xml; charset=utf-8":
        return [f"answered {reply.content_type!r}, not the SOAP content type"]
    if len(logged) != 1:
        return [f"{len(logged)} inbound-log rows, expected 1"]
    row = logged[0]
    if reply.status == 200:
        return [] if reply.is_ack() and row.http_status == 200 else [f"no Ack, or logged as {row.http_status}"]
    problems = []
    if (row.status, row.http_status) != ("refused", reply.status):
        problems.append(f"logged as {row.status} {row.http_status}")
    if not row.reason or row.reason != reply.fault_string():
        problems.append(f"logged reason {row.reason!r} is not the Fault's {reply.fault_string()!r}")
    return problems


def test_it_answers_503_never_500_while_the_database_drops_connections(server):
    """For a few seconds a loop ends the web process's database sessions (as a failover or
    pg_terminate_backend does) while messages arrive; each message is retried until
    acknowledged, as Salesforce does."""
    workflow = make_workflow()
    url = f"http://127.0.0.1:{server}{workflow.event_path}"
    bodies = [outbound_message(*[case_fields() for _ in range(5)]) for _ in range(60)]
    killing = threading.Event()
    killing.set()
    ended = []

    def end_sessions():
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as killer:
            while killing.is_set():
                ended.extend(
                    killer.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                        [APPLICATION_NAME],
                    ).fetchall()
                )
                time.sleep(0.02)

    statuses: list[int] = []
    killer = threading.Thread(target=end_sessions)
    killer.start()
    try:
        with requests.Session() as session:
            for number, body in enumerate(bodies):
                if number == len(bodies) // 2:
                    killing.clear()  # the database recovers: every message must now get through
                    killer.join()
                while True:
                    answer = session.post(url, data=body, headers={"Content-Type": "text/xml"}, timeout=30)
                    statuses.append(answer.status_code)
                    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8", answer.text[:300]
                    if answer.status_code != 503:
                        break
    finally:
        killing.clear()
        killer.join()

    assert ended, "no database session was ended: the test proved nothing"
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert statuses.count(503) > 0, "no call met a lost connection: the test proved nothing"
    # Every acknowledged notification is stored exactly once, with its run.
    assert statuses.count(200) == len(bodies)
    assert Notification.objects.filter(inbound_message__workflow=workflow).count() == 5 * len(bodies)
    assert Run.objects.filter(workflow=workflow).count() == 5 * len(bodies)


def test_a_stalled_client_neither_blocks_other_calls_nor_gets_a_500(server):
    workflow = make_workflow()
    stalled = socket.create_connection(("127.0.0.1", server), timeout=30)
    try:
        # Announces 5,000 bytes, sends 200, then stalls past gunicorn's 5-second worker timeout.
        stalled.sendall(http_request("POST", workflow.event_path, outbound_message()[:200], content_length=5000))
        time.sleep(1)
        meanwhile = [exchange(server, http_request("POST", workflow.event_path, outbound_message())) for _ in range(3)]
        time.sleep(6)
        assert all(reply.is_ack() for reply in meanwhile)
        stalled.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(stalled)
        response.begin()
        body = response.read()
    finally:
        stalled.close()

    assert response.status == 400, body[:300]
    refused = InboundMessage.objects.get(status=InboundMessage.Status.REFUSED)
    assert refused.reason.startswith("The body could not be read")
