"""Build Salesforce Outbound Messages the way Salesforce serialises them.

Used by the ``send_outbound_message`` simulator and by tests, so the receiver is exercised with
payloads shaped like captured traffic: the ``sf`` prefix declared on each ``sObject`` rather than
on the envelope, ``sf:Id`` first, null fields left out entirely and ``SessionId`` nil unless a
session is sent.

Deliberately permissive about counts (0 or 101 notifications build fine) so tests can craft
messages Salesforce would never send; the simulator enforces Salesforce's limits itself.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from workflows.salesforce.parse import CASE_SAFE_ALPHABET

SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

NOTIFICATION_PREFIX = "04l"
ORGANIZATION_PREFIX = "00D"
ACTION_PREFIX = "04k"
CUSTOM_OBJECT_PREFIX = "a00"

# Standard objects' record id prefixes; every org gets these same three characters.
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "Case": "500",
}

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_KEY_PREFIX = re.compile(r"[0-9A-Za-z]{3}")
_ID15 = re.compile(r"[0-9A-Za-z]{15}")
# Salesforce API names (objects, fields, ``npe01__X__c``); anything else would break the XML.
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_XML_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")

# XML 1.0's Char production (section 2.2): text holding anything else is not XML at all.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A CR inside text is normalised to LF by every XML parser unless it is a character reference;
# escaping it keeps multi-line text areas byte-identical after a round trip.
_TEXT_ENTITIES = {"\r": "&#13;"}

# SystemRandom so that separate simulator runs never reuse ids, whatever the process state.
_default_rng = random.SystemRandom()


def case_safe_id(id15: str) -> str:
    """Return the 18-character form of a 15-character id (Salesforce's CASESAFEID()).

    Each 5-character chunk contributes one suffix character: bit i is set when the chunk's
    i-th character is an uppercase letter, and the 5-bit value indexes ``A-Z0-5``.
    """
    if not _ID15.fullmatch(id15):
        raise ValueError(f"not a 15-character Salesforce id: {id15!r}")
    suffix = ""
    for start in range(0, 15, 5):
        chunk = id15[start : start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += CASE_SAFE_ALPHABET[bits]
    return id15 + suffix


def salesforce_id(prefix: str, *, rng: random.Random | None = None) -> str:
    """Return a random 18-character id whose first three characters are ``prefix``."""
    if not _KEY_PREFIX.fullmatch(prefix):
        raise ValueError(f"a key prefix is 3 letters or digits, not {prefix!r}")
    body = "".join((rng or _default_rng).choices(_BASE62, k=12))
    return case_safe_id(prefix + body)


def build_outbound_message(
    *,
    organization_id: str,
    action_id: str,
    sobject_type: str,
    notifications: Sequence[tuple[str, Mapping[str, str | None]]],
    session_id: str | None = None,
    enterprise_url: str | None = None,
    partner_url: str | None = None,
    sobject_prefix: str = "sf",
) -> bytes:
    """Serialise one outbound message: ``notifications`` is ``(notification id, fields)`` pairs.
    Raises ValueError for a name that is no API name or text that XML 1.0 cannot carry.

    A record without an ``Id`` field gets a fresh one with the object's key prefix. The URLs
    default to the shape Salesforce sends: the org's SOAP endpoints, ending in its 15-char id.
    """
    _check_name(sobject_type, "object")
    if not _XML_PREFIX.fullmatch(sobject_prefix) or sobject_prefix.lower().startswith("xml"):
        raise ValueError(f"not a usable XML prefix: {sobject_prefix!r}")
    base_url = f"https://example.my.salesforce.com/services/Soap/{{}}/62.0/{organization_id[:15]}"

    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}" xmlns:xsd="{XSD_NS}" xmlns:xsi="{XSI_NS}">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NS}">',
        _element("OrganizationId", organization_id),
        _element("ActionId", action_id),
        '<SessionId xsi:nil="true"/>' if session_id is None else _element("SessionId", session_id),
        _element("EnterpriseUrl", enterprise_url or base_url.format("c")),
        _element("PartnerUrl", partner_url or base_url.format("u")),
    ]
    for notification_id, fields in notifications:
        parts += [
            "<Notification>",
            _element("Id", notification_id),
            _sobject(sobject_type, fields, sobject_prefix),
            "</Notification>",
        ]
    parts += ["</notifications>", "</soapenv:Body>", "</soapenv:Envelope>"]
    return "".join(parts).encode("utf-8")


def _sobject(sobject_type: str, fields: Mapping[str, str | None], prefix: str) -> str:
    record_id = fields.get("Id")
    if record_id is None:
        record_id = salesforce_id(KEY_PREFIXES.get(sobject_type, CUSTOM_OBJECT_PREFIX))
    parts = [
        f'<sObject xsi:type="{prefix}:{sobject_type}" xmlns:{prefix}="{SOBJECT_NS}">',
        _element(f"{prefix}:Id", record_id),
    ]
    parts += [_fields({name: value for name, value in fields.items() if name != "Id"}, prefix), "</sObject>"]
    return "".join(parts)


def _fields(fields: Mapping[str, str | None], prefix: str) -> str:
    """The fields' elements. A dotted name (MailingAddress.city, Account.Name) is a component of a
    compound field or of a related record, as the parser flattens them: it is nested back."""
    elements: dict[str, str] = {}
    components: dict[str, dict[str, str | None]] = {}
    for name, value in fields.items():
        head, dot, rest = name.partition(".")
        _check_name(head, "field")
        if dot:
            components.setdefault(head, {})[rest] = value
        elif value is not None:  # Salesforce leaves null fields out rather than sending xsi:nil
            elements[head] = _element(f"{prefix}:{head}", value)
    for head, parts in components.items():
        if head in elements:
            raise ValueError(f"{head} cannot be both a field and a compound field or related record ({head}.…)")
        if inner := _fields(parts, prefix):
            elements[head] = f"<{prefix}:{head}>{inner}</{prefix}:{head}>"
    # Alphabetical as in captured payloads (receivers must not rely on it).
    return "".join(elements[name] for name in sorted(elements))


def _element(tag: str, text: str) -> str:
    if bad := _NOT_XML_CHAR.search(text):
        raise ValueError(
            f"{tag.rpartition(':')[2]} holds U+{ord(bad[0]):04X}, which XML cannot carry: "
            "Salesforce never sends control characters or unpaired surrogates"
        )
    return f"<{tag}>{escape(text, _TEXT_ENTITIES)}</{tag}>"


def _check_name(name: str, kind: str) -> None:
    if not _API_NAME.fullmatch(name):
        raise ValueError(f"not a Salesforce {kind} API name: {name!r}")
