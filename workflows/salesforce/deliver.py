"""POST one outbound message until it is acknowledged, retrying the way Salesforce does.

Salesforce counts only an HTTP 200 SOAP ``notificationsResponse`` whose ``Ack`` is true as
delivered; anything else is retried with exponential backoff (at most ``max_delay`` apart) until
``give_up_after`` seconds have passed since the first try. Two deviations, for command-line use:
a 4xx SOAP Fault is the receiver saying the message itself is refused (unknown token, foreign
organization, malformed, too large), and a 4xx that is not SOAP at all says the URL is no event
endpoint (a page of the admin, another site); retrying either is pointless, so it stops at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}

_ENVELOPE = "{http://schemas.xmlsoap.org/soap/envelope/}"
_OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"
_ACK_PATH = f"{_ENVELOPE}Body/{_OUTBOUND}notificationsResponse/{_OUTBOUND}Ack"
_FAULT_PATH = f"{_ENVELOPE}Body/{_ENVELOPE}Fault"
# xsd:boolean, whitespace-collapsed: a SOAP stack on the Salesforce side accepts "1" as well.
_TRUE = {"true", "1"}
# 4xx statuses that are transient by definition, so retried even when they carry a SOAP Fault.
_TRANSIENT_4XX = {408, 429}


@dataclass(frozen=True)
class Outcome:
    """What one POST got back."""

    acknowledged: bool
    permanent: bool  # a refusal that the same bytes can never overcome
    description: str


@dataclass(frozen=True)
class Delivery:
    acknowledged: bool
    attempts: int
    elapsed: float  # seconds from the first try to the end of the last one
    outcome: Outcome  # of the last attempt


def deliver(
    session: requests.Session,
    url: str,
    body: bytes,
    *,
    give_up_after: float,
    max_delay: float,
    timeout: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Delivery:
    """POST ``body`` to ``url`` until acknowledged, refused for good, or out of time.

    Every try starts within ``give_up_after`` seconds of the first one; ``log`` gets a line per
    failed try and one saying why it stopped.
    """
    started = clock()
    delay = 1.0
    attempts = 0
    while True:
        attempts += 1
        outcome = _post(session, url, body, timeout)
        elapsed = clock() - started
        if outcome.acknowledged:
            return Delivery(True, attempts, elapsed, outcome)
        if outcome.permanent:
            log(f"try {attempts}: {outcome.description}; not retrying (real Salesforce would keep retrying for 24 h)")
            return Delivery(False, attempts, elapsed, outcome)
        wait = min(delay, max_delay)
        if elapsed + wait > give_up_after:
            log(f"try {attempts}: {outcome.description}; giving up after {elapsed:.0f} s")
            return Delivery(False, attempts, elapsed, outcome)
        log(f"try {attempts}: {outcome.description}; retrying in {wait:g} s")
        sleep(wait)
        delay *= 2


def _post(session: requests.Session, url: str, body: bytes, timeout: float) -> Outcome:
    try:
        response = session.post(url, data=body, headers=HEADERS, timeout=timeout)
    except requests.Timeout:
        return Outcome(False, False, f"no answer within {timeout:g} s")
    except requests.RequestException as error:
        return Outcome(False, False, f"{type(error).__name__}: {error}")
    return _read(response.status_code, response.reason, response.content)


def _read(status: int, reason: str, content: bytes) -> Outcome:
    http = f"HTTP {status} {reason}".rstrip()
    envelope = _parse_envelope(content)
    if envelope is None:
        if 400 <= status < 500 and status not in _TRANSIENT_4XX:
            return Outcome(
                False,
                True,
                f"{http}, not a SOAP envelope: this URL is no event endpoint; copy the event URL from the "
                "workflow's page in the admin",
            )
        return Outcome(False, False, f"{http}, not a SOAP envelope")
    fault = envelope.find(_FAULT_PATH)
    if fault is not None:
        # faultcode/faultstring are unqualified children in SOAP 1.1.
        code = fault.findtext("faultcode", "").strip()
        text = fault.findtext("faultstring", "").strip()
        permanent = 400 <= status < 500 and status not in _TRANSIENT_4XX
        return Outcome(False, permanent, f"{http}, SOAP Fault {code}: {text}")
    ack = envelope.find(_ACK_PATH)
    if ack is None:
        return Outcome(False, False, f"{http}, no Ack in the response")
    if status != 200:
        return Outcome(False, False, f"{http} (an Ack counts only with HTTP 200)")
    if (ack.text or "").strip() not in _TRUE:
        return Outcome(False, False, f"{http}, Ack {(ack.text or '').strip() or 'empty'}")
    return Outcome(True, False, http)


def _parse_envelope(content: bytes) -> Element | None:
    try:
        root = fromstring(content)
    except (ParseError, DefusedXmlException):
        return None
    return root if root.tag == f"{_ENVELOPE}Envelope" else None
