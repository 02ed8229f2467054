import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from workflows.salesforce.deliver import Delivery, deliver

BODY = b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope/>'


def envelope(inner: str) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def ack(value: str) -> bytes:
    return envelope(
        f'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>{value}</Ack></notificationsResponse>'
    )


def fault(text: str, code: str = "soapenv:Client") -> bytes:
    return envelope(f"<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{text}</faultstring></soapenv:Fault>")


ACK = (200, ack("true"))
UNAVAILABLE = (503, b"<html>Service Unavailable</html>")


@dataclass
class Endpoint:
    """A real HTTP server answering POSTs with scripted (status, body) pairs, then 503s."""

    url: str
    script: list[tuple[int, bytes]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((dict(self.headers), body))
            time.sleep(state.delay)
            status, answer = state.script.pop(0) if state.script else UNAVAILABLE
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            try:
                self.wfile.write(answer)
            except BrokenPipeError:  # the client timed out first, which is the point of that test
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll interval so shutdown() does not cost half a second per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/events/salesforce/token/"
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Run:
    delivery: Delivery
    sleeps: list[float]
    log: list[str]


def run(url: str, *, give_up_after: float = 86400, max_delay: float = 7200, timeout: float = 5) -> Run:
    """Deliver with a virtual clock that only moves when deliver() sleeps."""
    sleeps: list[float] = []
    log: list[str] = []
    with requests.Session() as session:
        delivery = deliver(
            session,
            url,
            BODY,
            give_up_after=give_up_after,
            max_delay=max_delay,
            timeout=timeout,
            log=log.append,
            sleep=sleeps.append,
            clock=lambda: sum(sleeps),
        )
    return Run(delivery, sleeps, log)


def test_it_acknowledges_at_the_first_ack(endpoint: Endpoint) -> None:
    endpoint.script = [ACK]

    result = run(endpoint.url)

    assert (result.delivery.acknowledged, result.delivery.attempts, result.sleeps) == (True, 1, [])


def test_it_posts_the_body_with_salesforces_headers(endpoint: Endpoint) -> None:
    endpoint.script = [ACK]

    run(endpoint.url)

    headers, body = endpoint.requests[0]
    assert body == BODY
    assert headers["Content-Type"] == "text/xml; charset=UTF-8"
    assert headers["SOAPAction"] == '""'


def test_it_retries_a_503_then_stops_at_the_ack(endpoint: Endpoint) -> None:
    endpoint.script = [UNAVAILABLE, ACK]

    result = run(endpoint.url)

    assert (result.delivery.acknowledged, result.delivery.attempts, result.sleeps) == (True, 2, [1.0])


def test_it_sends_the_same_bytes_on_every_retry(endpoint: Endpoint) -> None:
    endpoint.script = [UNAVAILABLE, UNAVAILABLE, ACK]

    run(endpoint.url)

    assert [body for _, body in endpoint.requests] == [BODY, BODY, BODY]


def test_it_logs_the_status_of_each_failed_try(endpoint: Endpoint) -> None:
    endpoint.script = [UNAVAILABLE, ACK]

    result = run(endpoint.url)

    assert len(result.log) == 1
    assert "HTTP 503" in result.log[0]
    assert "retrying in 1 s" in result.log[0]


def test_it_retries_an_ack_false(endpoint: Endpoint) -> None:
    endpoint.script = [(200, ack("false")), ACK]

    result = run(endpoint.url)

    assert (result.delivery.acknowledged, result.delivery.attempts) == (True, 2)
    assert "Ack false" in result.log[0]


def test_it_retries_a_200_that_is_not_xml(endpoint: Endpoint) -> None:
    endpoint.script = [(200, b"OK"), ACK]

    result = run(endpoint.url)

    assert (result.delivery.acknowledged, result.delivery.attempts) == (True, 2)
    assert "not a SOAP envelope" in result.log[0]


@pytest.mark.parametrize("status", [403, 404, 405])
def test_it_stops_at_once_when_a_4xx_answer_is_not_soap(endpoint: Endpoint, status: int) -> None:
    endpoint.script = [(status, b"<!doctype html><title>Forbidden</title>"), ACK]

    result = run(endpoint.url)

    assert (result.delivery.acknowledged, result.delivery.attempts, result.sleeps) == (False, 1, [])
    assert "this URL is no event endpoint; copy the event URL from the workflow's page" in result.log[0]


def test_it_retries_a_429_that_is_not_soap(endpoint: Endpoint) -> None:
    endpoint.script = [(429, b"Too many requests"), ACK]

    assert run(endpoint.url).delivery.attempts == 2


def test_it_does_not_count_an_ack_outside_a_soap_envelope(endpoint: Endpoint) -> None:
    endpoint.script = [(200, b'<Ack xmlns="http://soap.sforce.com/2005/09/outbound">true</Ack>'), ACK]

    assert run(endpoint.url).delivery.attempts == 2


def test_it_does_not_count_an_ack_sent_with_an_error_status(endpoint: Endpoint) -> None:
    endpoint.script = [(500, ack("true")), ACK]

    assert run(endpoint.url).delivery.attempts == 2


def test_it_stops_at_once_on_a_404_soap_fault(endpoint: Endpoint) -> None:
    endpoint.script = [(404, fault("Unknown workflow token")), ACK]

    result = run(endpoint.url)

    assert (result.delivery.acknowledged, result.delivery.attempts, result.sleeps) == (False, 1, [])
    assert result.delivery.outcome.permanent
    assert "Unknown workflow token" in result.log[0]
    assert "24 h" in result.log[0]


@pytest.mark.parametrize("status", [400, 403, 413])
def test_it_stops_at_once_on_other_refusals(endpoint: Endpoint, status: int) -> None:
    endpoint.script = [(status, fault("refused")), ACK]

    assert run(endpoint.url).delivery.attempts == 1


def test_it_retries_a_429_soap_fault(endpoint: Endpoint) -> None:
    endpoint.script = [(429, fault("Slow down")), ACK]

    assert run(endpoint.url).delivery.acknowledged


def test_it_retries_a_5xx_soap_fault_and_logs_its_faultstring(endpoint: Endpoint) -> None:
    endpoint.script = [(500, fault("Database is locked", "soapenv:Server")), ACK]

    result = run(endpoint.url)

    assert result.delivery.acknowledged
    assert "HTTP 500" in result.log[0]
    assert "Database is locked" in result.log[0]


def test_it_doubles_the_delay_up_to_max_delay(endpoint: Endpoint) -> None:
    result = run(endpoint.url, give_up_after=20, max_delay=4)

    assert result.sleeps == [1, 2, 4, 4, 4, 4]


def test_it_gives_up_when_the_next_try_would_start_after_give_up_after(endpoint: Endpoint) -> None:
    result = run(endpoint.url, give_up_after=10)

    # Tries at 0, 1, 3 and 7 s; the next would be at 15 s.
    assert (result.delivery.acknowledged, result.delivery.attempts) == (False, 4)
    assert not result.delivery.outcome.permanent
    assert "giving up" in result.log[-1]


def test_it_tries_once_when_give_up_after_is_zero(endpoint: Endpoint) -> None:
    assert run(endpoint.url, give_up_after=0).delivery.attempts == 1


def test_it_retries_when_the_connection_is_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = run(f"http://127.0.0.1:{port}/", give_up_after=2)

    assert (result.delivery.acknowledged, result.delivery.attempts) == (False, 2)
    assert "ConnectionError" in result.log[0]


def test_it_treats_a_slow_answer_as_a_failure(endpoint: Endpoint) -> None:
    endpoint.script = [ACK]
    endpoint.delay = 0.5

    result = run(endpoint.url, give_up_after=0, timeout=0.1)

    assert not result.delivery.acknowledged
    assert "no answer within 0.1 s" in result.log[0]
