"""Parse the SOAP body of a Salesforce Outbound Message into plain values.

The body comes from the network and is only trusted once its token and organization are checked,
so it is parsed with defusedxml: no DTD, no entity, no network access.
"""

import functools
import gc
import io
import re
from collections import ChainMap
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse

from workflows.salesforce.encoding import UnreadableEncoding, xml_as_utf8, xml_encoding

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XSI_NIL = f"{{{XSI_NS}}}nil"
# Organization, action and notification ids are Salesforce ids: 15 case-sensitive letters and
# digits, or those 15 and a 3-character case-safe suffix.
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# Every organization id starts with this key prefix (in its case-restored, 15-character form).
ORGANIZATION_KEY_PREFIX = "00D"
# The suffix's alphabet (Salesforce's CASESAFEID): one character per 5-character chunk of the
# 15, whose index has bit i set when the chunk's i-th character is an uppercase letter.
CASE_SAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# Salesforce sends each field as a child of sObject; related records add a level each. Deeper
# nesting is no record, and unbounded nesting would exhaust the stack while flattening.
MAX_FIELD_DEPTH = 10
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Notification:
    id: str
    sobject_type: str  # "" when the sender left xsi:type out
    fields: dict[str, str | None]


@dataclass(frozen=True)
class OutboundMessage:
    # SessionId is deliberately not kept: it is a live API credential of the sending org.
    organization_id: str
    action_id: str
    enterprise_url: str
    partner_url: str
    notifications: tuple[Notification, ...]


class MalformedMessage(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ForbiddenXml(MalformedMessage):
    pass


class NestedTooDeep(ValueError):
    """The document nests elements deeper than its reader allows."""


# Each accepted call asks for its organization's key, and each workflow's allowed ids': cached,
# as a handful of organizations call one installation.
@functools.lru_cache(maxsize=1024)
def organization_key(org_id: str) -> str:
    """The 15-character, case-sensitive form of an organization id, so that the 15- and the
    18-character id of one organization compare equal.

    An 18-character id is case-insensitive ("case-safe"): its suffix says which of the first 15
    characters are uppercase, so their case is taken from it, and the id written in capitals or
    in lowercase still names its organization. A 15-character id is case-sensitive and kept as
    written. An 18-character id whose suffix is not of CASE_SAFE_ALPHABET keeps its first 15 as
    written.
    """
    suffix = org_id[15:].upper()
    if len(org_id) != 18 or not all(char in CASE_SAFE_ALPHABET for char in suffix):
        return org_id[:15]
    restored = []
    for chunk, code in enumerate(suffix):
        uppercase = CASE_SAFE_ALPHABET.index(code)
        for position, char in enumerate(org_id[chunk * 5 : chunk * 5 + 5]):
            restored.append(char.upper() if uppercase >> position & 1 else char.lower())
    return "".join(restored)


def parse_xml_with_scopes(data: bytes, *, max_depth: int) -> tuple[Element, dict[Element, Mapping[str, str]]]:
    """Parse untrusted XML, also returning each element's in-scope namespace declarations.

    ElementTree forgets prefixes, yet attributes such as xsi:type hold QNames whose prefix must be
    resolved where they appear. Raises ParseError, defusedxml's DefusedXmlException,
    UnreadableEncoding (an encoding that cannot be read), or NestedTooDeep past `max_depth`
    levels of elements.
    """
    scopes: dict[Element, Mapping[str, str]] = {}
    # Each element's declarations are layered over its parent's rather than merged into a copy:
    # copies would take memory quadratic in the declarations of a hostile file (a 400 kB one
    # took 2 GB). The depth cap bounds the layers a lookup walks.
    stack: list[ChainMap[str, str]] = [ChainMap({"xml": _XML_NS})]
    declared: dict[str, str] = {}
    root = None
    events = iterparse(io.BytesIO(xml_as_utf8(data)), events=("start-ns", "start", "end"), forbid_dtd=True)
    for event, item in events:
        if event == "start-ns":
            prefix, uri = item
            declared[prefix] = uri
        elif event == "start":
            if len(stack) > max_depth:
                raise NestedTooDeep(f"The file nests elements more than {max_depth} levels deep.")
            # Elements without declarations share their parent's mapping.
            scope = stack[-1].new_child(declared) if declared else stack[-1]
            declared = {}
            stack.append(scope)
            scopes[item] = scope
            if root is None:
                root = item
        else:
            stack.pop()
    return root, scopes


def resolve_qname(value: str, scope: Mapping[str, str]) -> tuple[str, str]:
    """(namespace, local name) of a QName; raises KeyError naming an undeclared prefix."""
    prefix, _, local = value.strip().rpartition(":")
    return scope[prefix] if prefix else scope.get("", ""), local


def parse_outbound_message(body: bytes, *, charset: str = "") -> OutboundMessage:
    """The message in a SOAP body of any encoding (see encoding.py; `charset` is the
    Content-Type's).

    Raises MalformedMessage with a reason the sender can act on (ForbiddenXml for DTDs and
    entities) for anything that is not an outbound message: not XML, not SOAP, missing or
    malformed ids (organization, action, notification: Salesforce ids of 15 or 18 characters),
    an sObject nested deeper than MAX_FIELD_DEPTH.
    """
    if not body:
        raise MalformedMessage("The request has no body: send the SOAP envelope of the outbound message.")
    with _cyclic_gc_paused():
        return _outbound_message(body, charset=charset)


@contextmanager
def _cyclic_gc_paused():
    """Pause Python's cyclic garbage collector for a parse, then let it run as before.

    The tree of a 100-notification message is thousands of container objects that live only for
    the parse. Collections that ran meanwhile moved them to the oldest generation, whose growth
    then set off full passes over every object of the process: about half a millisecond per such
    message, more than the extraction itself. The tree holds no reference cycles (an element
    knows its children, not its parent), so reference counting frees it whole; anything cyclic
    made meanwhile is found by the next collection. Process-wide: left off if it was off, and
    another thread's parse may turn it back on early, which only costs that parse the saving.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _outbound_message(body: bytes, *, charset: str) -> OutboundMessage:
    try:
        root = fromstring(xml_as_utf8(body, charset=charset), forbid_dtd=True)
    except UnreadableEncoding as exc:
        raise MalformedMessage(str(exc)) from None
    except DefusedXmlException as exc:
        raise ForbiddenXml(
            "The body contains a DTD or entity declarations, which are not accepted: "
            "they can expand into huge documents or read local files and URLs."
        ) from exc
    except ParseError as exc:
        if body.startswith(_GZIP_MAGIC):
            raise MalformedMessage("The body is gzip-compressed: send the SOAP envelope uncompressed.") from None
        if (unnamed := _unnamed_encoding(body, charset=charset)) is not None:
            raise MalformedMessage(unnamed) from None
        raise MalformedMessage(f"The body is not well-formed XML: {exc}.") from exc

    if root.tag != _tag(SOAP_ENV_NS, "Envelope"):
        raise MalformedMessage(
            f"The body is not a SOAP 1.1 envelope: its root element is {_describe(root.tag)}, "
            f"expected Envelope in namespace {SOAP_ENV_NS}."
        )
    soap_body = root.find(_tag(SOAP_ENV_NS, "Body"))
    if soap_body is None:
        raise MalformedMessage("The SOAP envelope has no Body element.")
    notifications = soap_body.find(_tag(OUTBOUND_NS, "notifications"))
    if notifications is None:
        raise MalformedMessage(f"The SOAP body has no notifications element in namespace {OUTBOUND_NS}.")

    items = notifications.findall(_tag(OUTBOUND_NS, "Notification"))
    if not items:
        raise MalformedMessage("The message has no Notification.")
    return OutboundMessage(
        organization_id=_required_id(notifications, "OrganizationId", owner="The message"),
        action_id=_required_id(notifications, "ActionId", owner="The message"),
        enterprise_url=notifications.findtext(_tag(OUTBOUND_NS, "EnterpriseUrl"), ""),
        partner_url=notifications.findtext(_tag(OUTBOUND_NS, "PartnerUrl"), ""),
        notifications=tuple(_notification(item, number) for number, item in enumerate(items, start=1)),
    )


def _unnamed_encoding(body: bytes, *, charset: str) -> str | None:
    """Why a body of XML text read as UTF-8, as nothing named another encoding, is not: the
    parser's own reason (an invalid token at some column) does not say what to do."""
    if body.lstrip()[:1] != b"<" or xml_encoding(body, charset=charset) != "utf-8":
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return (
            f"The body is not valid UTF-8 (byte 0x{body[error.start]:02X} at position {error.start}), which XML "
            "reads when neither the body's XML declaration nor the Content-Type's charset names another "
            'encoding: send UTF-8, or declare the encoding, e.g. <?xml version="1.0" encoding="ISO-8859-1"?>.'
        )
    return None


def _notification(item: Element, number: int) -> Notification:
    owner = f"Notification {number}"
    notification_id = _required_id(item, "Id", owner=owner)
    sobject = _single(item, "sObject", owner=owner)
    if sobject is None:
        raise MalformedMessage(f"{owner} has no sObject.")
    # The type's local part is the object name whatever the prefix (Salesforce uses sf; SOAP
    # toolkits others), so the prefix is not resolved. A SOAP client built from the WSDL may
    # leave xsi:type out, the WSDL declaring it: then the type is "", the workflow's object.
    type_name = (sobject.get(_tag(XSI_NS, "type")) or "").strip().rpartition(":")[2]
    fields: dict[str, str | None] = {}
    _collect_fields(sobject, prefix="", into=fields, owner=owner)
    return Notification(id=notification_id, sobject_type=type_name, fields=fields)


def _collect_fields(parent: Element, *, prefix: str, into: dict[str, str | None], owner: str, depth: int = 1) -> None:
    # Related records (e.g. Account inside Case) are flattened so each value has one dotted name.
    # This loop runs for every field of every notification: keep it lean. Attributes are read
    # with get(), never through .attrib, which gives each element a dict of its own (one per
    # field, thousands per message, each kept as long as the tree).
    nulled = []
    for child in parent:
        name = child.tag.rpartition("}")[2]
        if name == "fieldsToNull":
            nulled.append((child.text or "").strip())
            continue
        key = prefix + name
        if key in into:
            raise MalformedMessage(f"{owner}'s sObject holds the field {shown(key)} twice: Salesforce sends each once.")
        if child.get(_XSI_NIL) is not None and _is_nil(child):
            into[key] = None
        elif len(child):
            if _holds_text(child):
                raise MalformedMessage(
                    f"{owner}'s field {shown(key)} holds both text and elements: Salesforce sends the "
                    "markup of a text field escaped (&lt;b&gt;), and a related record's fields alone."
                )
            if depth == MAX_FIELD_DEPTH:
                raise MalformedMessage(
                    f"{owner}'s sObject nests elements more than {MAX_FIELD_DEPTH} levels deep (under "
                    f"{key}): Salesforce sends each field as a child of sObject."
                )
            _collect_fields(child, prefix=f"{key}.", into=into, owner=owner, depth=depth + 1)
        else:
            into[key] = child.text or ""
    # fieldsToNull is an explicit "this is null" and wins over any value sent beside it.
    for name in filter(None, nulled):
        into[prefix + name] = None


def _holds_text(element: Element) -> bool:
    """Whether text stands beside the element's children (mixed content), which no field holds."""
    return bool((element.text or "").strip()) or any((child.tail or "").strip() for child in element)


def is_organization_id(value: str) -> bool:
    """Whether a Salesforce id (15 or 18 characters, as parsed) is an organization's: its key prefix is 00D."""
    return organization_key(value).startswith(ORGANIZATION_KEY_PREFIX)


def _single(parent: Element, name: str, *, owner: str) -> Element | None:
    """The one child `name` of `parent`, None without one; refused when repeated, as which one
    counts would be a guess and the others would be dropped unseen."""
    found = parent.findall(_tag(OUTBOUND_NS, name))
    if len(found) > 1:
        raise MalformedMessage(f"{owner} has {len(found)} {name} elements: Salesforce sends one.")
    return found[0] if found else None


def _required_id(parent: Element, name: str, *, owner: str) -> str:
    element = _single(parent, name, owner=owner)
    value = "" if element is None or _is_nil(element) else (element.text or "").strip()
    if not value:
        raise MalformedMessage(f"{owner} has no {name}.")
    # Ids are deduplication keys: one cut to fit a column could make two notifications one.
    if not SALESFORCE_ID.fullmatch(value):
        raise MalformedMessage(
            f"{owner}'s {name} {shown(value)!r} is not a Salesforce id (15 or 18 letters and digits, "
            f"{len(value)} characters here)."
        )
    return value


def _is_nil(element: Element) -> bool:
    return (element.get(_XSI_NIL) or "").strip() in ("true", "1")


def _tag(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def shown(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters with an ellipsis, to quote a sender's text in a reason:
    a reason is answered and logged, and must not echo megabytes back."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def _describe(tag: str) -> str:
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    return f"{shown(local)} in namespace {shown(namespace, 100)}" if namespace else f"{shown(local)} (no namespace)"
