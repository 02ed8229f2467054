"""Hostile calls to the event endpoint, as raw HTTP requests, each with the status it must get.

Encodings, nesting, sizes, ids, methods, content types, NUL bytes, chunking, truncation and XML
attacks, plus seeded random corruptions of a real message. Every one must be answered with the
contract's status (never a 500) and, when refused, logged with its reason.
"""

import gzip
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.factories import ORGANIZATION_ID, case_fields, outbound_message
from workflows.salesforce.build import salesforce_id

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
MAX_BODY_BYTES = 256 * 1024  # the server under test runs with this SALESFORCE_MAX_BODY_BYTES


@dataclass(frozen=True)
class Hostile:
    name: str
    request: bytes  # the whole HTTP/1.1 request
    statuses: frozenset[int]  # what the endpoint may answer
    hang_up: bool = False  # stop sending (half-close) after the request, as a client that gives up


def http_request(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str | None = "text/xml; charset=UTF-8",
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    trailer: bytes = b"",
    content_length: int | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", 'SOAPAction: ""']
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in _parts(body, 1000) if part)
        body = chunks + b"0\r\n" + trailer + b"\r\n"
    else:
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def _parts(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def message(**fields) -> bytes:
    return outbound_message(case_fields(**fields))


def declared(encoding: str, *, bom: bool = False, **fields) -> bytes:
    text = message(**fields).decode().replace('encoding="UTF-8"', f'encoding="{encoding}"')
    return ("\ufeff" if bom else "").encode(encoding) + text.encode(encoding)


def in_sobject(xml: str) -> bytes:
    return message().decode().replace("</sObject>", f"{xml}</sObject>").encode()


def _notification_id_replaced(new_id: str) -> bytes:
    body = message().decode()
    start = body.index("<Id>") + len("<Id>")
    end = body.index("</Id>", start)
    return (body[:start] + new_id + body[end:]).encode()


def corpus(path: str, *, seed: int = 8) -> list[Hostile]:
    """The hostile calls against the workflow whose event path is `path`."""
    post = lambda body, status, **options: (http_request("POST", path, body, **options), status)  # noqa: E731
    cases: dict[str, tuple[bytes, int]] = {
        # encodings
        "utf-8": post(message(Subject="Zoë 山田"), 200),
        "utf-8 with a byte order mark": post(b"\xef\xbb\xbf" + message(), 200),
        "utf-16 le with a mark": post(declared("utf-16-le", bom=True, Subject="Zoë"), 200),
        "utf-16 be with a mark": post(declared("utf-16-be", bom=True), 200),
        "utf-16 declared with a mark": post(declared("UTF-16"), 200),
        "utf-16 le without a mark": post(declared("utf-16-le"), 200),
        "utf-32 with a mark": post(declared("utf-32"), 200),
        "iso-8859-1": post(declared("ISO-8859-1", Subject="Ça coûte"), 200),
        "windows-1252": post(declared("windows-1252", Subject="€ price"), 200),
        "shift_jis": post(declared("Shift_JIS", Subject="山田"), 200),
        "gb18030": post(declared("GB18030", Subject="山田"), 200),
        "ebcdic": post(declared("cp500"), 200),
        "unknown encoding": post(message().replace(b"UTF-8", b"x-unknown", 1), 400),
        "utf-8 bytes declared utf-16": post(message().replace(b"UTF-8", b"UTF-16", 1), 400),
        "invalid utf-8": post(message(Subject="x").replace(b">x<", b">\xff\xfe\xfd<"), 400),
        "utf-16 cut to an odd length": post(declared("utf-16")[:-1], 400),
        "charset header disagreeing with the body": post(
            declared("utf-16"), 200, content_type="text/xml; charset=utf-8"
        ),
        # nesting
        "sobject nested 5000 deep": post(in_sobject("<sf:X>" * 5000 + "</sf:X>" * 5000), 400),
        "sobject nested 11 deep": post(in_sobject("<sf:X>" * 11 + "v" + "</sf:X>" * 11), 400),
        "sobject nested 9 deep": post(in_sobject("<sf:X>" * 9 + "v" + "</sf:X>" * 9), 200),
        "envelope nested 20000 deep": post(b"<a>" * 20000 + b"</a>" * 20000, 400),
        "header nested 5000 deep": post(
            message().replace(
                b"<soapenv:Body>",
                b"<soapenv:Header>" + b"<h>" * 5000 + b"</h>" * 5000 + b"</soapenv:Header><soapenv:Body>",
            ),
            200,
        ),
        # sizes
        "empty body": post(b"", 400),
        "one byte": post(b"<", 400),
        "whitespace only": post(b" \r\n\t ", 400),
        "just over the size cap": post(message(Description="x" * MAX_BODY_BYTES), 413),
        "a 60 kB field": post(message(Description="y" * 60_000), 200),
        "2000 fields": post(in_sobject("".join(f"<sf:F{i}__c>{i}</sf:F{i}__c>" for i in range(2000))), 200),
        "100 notifications": post(outbound_message(*[case_fields() for _ in range(100)]), 200),
        "101 notifications": post(outbound_message(*[case_fields() for _ in range(101)]), 400),
        "no notification": post(
            outbound_message().split(b"<Notification>")[0] + b"</notifications></soapenv:Body></soapenv:Envelope>", 400
        ),
        # ids
        "notification id of 19 characters": post(_notification_id_replaced(salesforce_id("04l") + "X"), 400),
        "notification id of 17 characters": post(_notification_id_replaced(salesforce_id("04l")[:17]), 400),
        "notification id of 15 characters": post(_notification_id_replaced(salesforce_id("04l")[:15]), 200),
        "notification id of 4000 characters": post(_notification_id_replaced("A" * 4000), 400),
        "notification id with an accented letter": post(_notification_id_replaced("04l5g00000ABCDÉAAA"), 400),
        "notification id with a space inside": post(_notification_id_replaced("04l5g00000 ABCDAAA"), 400),
        "empty notification id": post(_notification_id_replaced(""), 400),
        "organization id of 20 characters": post(outbound_message(organization_id=ORGANIZATION_ID + "XY"), 400),
        "organization id not allowed": post(outbound_message(organization_id="00D000000000001EAA"), 403),
        "organization id of 15 characters": post(outbound_message(organization_id=ORGANIZATION_ID[:15]), 200),
        "action id with punctuation": post(message().replace(b"04k5g000000ABCDAAA", b"04k5g000000ABC-AAA"), 400),
        "repeated notification id": post(
            outbound_message(case_fields(), case_fields(), notification_ids=["04l5g00000ZZZZZAAA"] * 2), 200
        ),
        # methods and URLs
        "GET": (http_request("GET", path, content_type=None), 405),
        "PUT": (http_request("PUT", path, message()), 405),
        "DELETE": (http_request("DELETE", path, content_type=None), 405),
        "PATCH": (http_request("PATCH", path, message()), 405),
        "OPTIONS": (http_request("OPTIONS", path, content_type=None), 405),
        "no trailing slash": (http_request("POST", path.rstrip("/"), message()), 200),
        "no token": (http_request("POST", "/events/salesforce/", message()), 404),
        "no token, no slash": (http_request("POST", "/events/salesforce", message()), 404),
        "unknown token": (http_request("POST", "/events/salesforce/not-a-token/", message()), 404),
        "token with a NUL byte": (http_request("POST", "/events/salesforce/ab%00cd/", message()), 404),
        "token with a slash inside": (http_request("POST", "/events/salesforce/ab/cd/", message()), 404),
        "token of 3000 characters": (http_request("POST", f"/events/salesforce/{'t' * 3000}/", message()), 404),
        "token in non-ascii letters": (http_request("POST", "/events/salesforce/%C3%A9t%C3%A9/", message()), 404),
        "token with invalid percent-encoded utf-8": (
            http_request("POST", "/events/salesforce/%FF%FE/", message()),
            404,
        ),
        # content types
        "application/xml": post(message(), 200, content_type="application/xml"),
        "application/soap+xml": post(message(), 200, content_type="application/soap+xml"),
        "no content type": post(message(), 200, content_type=None),
        "form-encoded junk": post(b"a=1&b=2", 400, content_type="application/x-www-form-urlencoded"),
        "multipart junk": post(
            b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--",
            400,
            content_type="multipart/form-data; boundary=x",
        ),
        "json": post(b'{"Ack": true}', 400, content_type="application/json"),
        # NUL bytes and binary
        "gzip body": post(gzip.compress(message()), 400, headers={"Content-Encoding": "gzip"}),
        "NUL inside a field": post(message(Subject="x").replace(b">x<", b">a\x00b<"), 400),
        "NUL bytes only": post(b"\x00" * 100, 400),
        "random binary": post(random.Random(seed).randbytes(2000), 400),
        # chunking
        "chunked message": post(message(), 200, chunked=True),
        "chunked utf-16 message": post(declared("utf-16"), 200, chunked=True),
        "chunked empty body": post(b"", 400, chunked=True),
        "chunked gzip": post(gzip.compress(message()), 400, chunked=True),
        "chunked over the size cap": post(message(Description="z" * MAX_BODY_BYTES), 413, chunked=True),
        "chunked with a trailer": post(message(), 200, chunked=True, trailer=b"X-Checksum: 1\r\n"),
        "chunked with a space in a trailer name": post(message(), 400, chunked=True, trailer=b"Bad Name: x\r\n"),
        "chunked with a folded trailer": post(message(), 400, chunked=True, trailer=b"X-A: 1\r\n folded\r\n"),
        "chunked with a NUL in a trailer": post(message(), 400, chunked=True, trailer=b"X-A: \x00\r\n"),
        # XML attacks and SOAP shapes
        "billion laughs": post((FIXTURES / "billion_laughs.xml").read_bytes(), 400),
        "external entity": post((FIXTURES / "external_entity.xml").read_bytes(), 400),
        "doctype only": post(b"<!DOCTYPE x>" + message().split(b"?>", 1)[1], 400),
        "processing instruction and comments": post(
            message().replace(b"<soapenv:Body>", b"<soapenv:Body><?pi x?><!-- c -->"), 200
        ),
        "cdata field value": post(in_sobject("<sf:Note__c><![CDATA[<b>&</b>]]></sf:Note__c>"), 200),
        "soap 1.2 envelope": post(
            b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>', 400
        ),
        "envelope without body": post(b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"/>', 400),
        "wrong object": post(outbound_message(case_fields(), sobject_type="Lead"), 400),
        "unclosed envelope": post(message()[:-20], 400),
    }
    hostile = [Hostile(name, request, frozenset({status})) for name, (request, status) in cases.items()]
    hostile.append(
        Hostile(
            "announces 5000 bytes, sends 200 and hangs up",
            http_request("POST", path, message()[:200], content_length=5000),
            frozenset({400}),
            hang_up=True,
        )
    )
    hostile += _corruptions(path, random.Random(seed), count=20)
    return hostile


def _corruptions(path: str, rng: random.Random, *, count: int) -> list[Hostile]:
    """Seeded corruptions of a real message: flipped bytes, cuts, inserted bytes. Each must be
    acknowledged (a corruption inside a text value), or refused: 400 for a broken message, 403 for
    an organization id turned into another one."""
    mutations: list[Callable[[bytearray], None]] = [
        lambda body: body.__setitem__(rng.randrange(len(body)), rng.randrange(256)),
        lambda body: body.__delitem__(slice(rng.randrange(len(body)), None)),
        lambda body: body.__setitem__(slice(rng.randrange(len(body)), None), rng.randbytes(3) + body[-50:]),
    ]
    found = []
    for number in range(count):
        body = bytearray(message())
        rng.choice(mutations)(body)
        found.append(
            Hostile(f"corruption {number + 1}", http_request("POST", path, bytes(body)), frozenset({200, 400, 403}))
        )
    return found
