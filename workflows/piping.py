"""Piped text: one syntax for task fields, conditions, email subject and body, and survey text.

Tokens (see DESIGN.md, "Piped text"):

    ${event://FieldName}        a field of the Salesforce record, API name as Salesforce sends it
    ${event://_Object}          metadata: also _NotificationId, _OrganizationId
    ${m://FirstName}            the contact: FirstName, LastName, Email, ExternalDataReference,
                                Phone, Language
    ${e://Field/Name}           the contact's embedded data named Name
    ${task://1/ContactId}       output ContactId of the 1st task of this run
    ${l://SurveyLink?d=Take}    an <a> link in HTML, the bare URL in text; also OptOutLink, and
                                SurveyURL / OptOutURL for the URL alone
    ${date://now}               UTC, seconds precision: 2026-11-28T17:23:00Z
    ${date://today}             the UTC date: 2026-11-28

The rule for what is a token, kept simple on purpose:

- A token starts with ``${`` directly followed by a word (ASCII letters, digits, ``_``) and
  ``://``, and ends at the next ``}``. Its path cannot contain ``}`` or ``${``; a token with no
  ``}`` before the end of the text or the next ``${`` is unterminated.
- ``render`` substitutes terminated tokens of the six schemes and leaves everything else as
  written: ``${name}`` (a JavaScript template literal), ``${foo://X}``, unterminated tokens.
  A token of a known scheme that cannot be resolved (absent field, malformed path) becomes empty
  and is listed in ``Rendered.missing`` so the run can note it.
- ``validate`` reports every ``${word://`` token that is wrong, and every look-alike of a token
  of the six schemes: ``{event://X}`` (no ``$``), ``$ {event://X}``, ``${ event://X}``,
  ``${event:/X}``, ``${event//X}``, ``${event:X}``, ``{{event://X}}``. Each error names the
  corrected token where there is one. Other text is never reported, so ``${name}`` in a script
  and ``{name}`` in CSS are fine.
"""

import difflib
import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.html import escape
from django.utils.safestring import mark_safe

from workflows.salesforce.values import field_value, is_known_field, unknown_component

# Ordered as the admin reads them in error messages.
_SCHEME_ORDER = ("event", "m", "e", "task", "l", "date")
SCHEMES = frozenset(_SCHEME_ORDER)

EVENT_METADATA = ("_Object", "_NotificationId", "_OrganizationId")
CONTACT_FIELDS = ("FirstName", "LastName", "Email", "ExternalDataReference", "Phone", "Language")
_CONTACT_ATTRIBUTES = dict(
    zip(CONTACT_FIELDS, ("first_name", "last_name", "email", "external_data_reference", "phone", "language"))
)


def contact_fields(contact) -> dict[str, str]:
    """The ${m://...} values of a directory contact (any object with a Contact's attributes)."""
    return {name: getattr(contact, attribute) or "" for name, attribute in _CONTACT_ATTRIBUTES.items()}


# Link token name -> (key in PipingSources.links, whether it renders as an <a> link).
LINKS = {
    "SurveyLink": ("SurveyLink", True),
    "SurveyURL": ("SurveyLink", False),
    "OptOutLink": ("OptOutLink", True),
    "OptOutURL": ("OptOutLink", False),
}
DATES = ("now", "today")
MAX_LISTED_FIELDS = 20

_TOKEN_START = re.compile(r"\$\{([A-Za-z0-9_]+)://")
# Text that was meant as a token of one of the schemes but is not written as one. A lone ":"
# counts only after a "$" ("${event:X}"): "{m:1}" without one is more likely something else.
_LOOK_ALIKE = re.compile(
    r"(?:(?P<dollar>\$)(?P<gap>[ \t]*))?\{(?P<inner>[ \t]*)(?P<scheme>event|m|e|task|l|date)"
    r"(?P<separator>:/{1,3}|/{2,3}|:)(?P<path>[^{}$\n]*)(?P<close>\}?)",
    re.IGNORECASE,
)
# Salesforce API names: standard (Email), custom (Region__c) and namespaced (npe01__X__c), and a
# component of a compound field or related record as the parser names it (MailingAddress.city).
SALESFORCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
# At most six digits: a position is small, and int() refuses a string of thousands of digits.
_TASK_PATH = re.compile(r"([1-9][0-9]{0,5})/(.+)")
_EMBEDDED_PREFIX = "Field/"
_DISPLAY_PREFIX = "d="


@dataclass(frozen=True)
class Token:
    scheme: str
    path: str
    raw: str
    start: int
    terminated: bool = True


@dataclass(frozen=True)
class PipingSources:
    event: Mapping[str, str | None] = field(default_factory=dict)
    event_meta: Mapping[str, str] = field(default_factory=dict)
    contact: Mapping[str, str] = field(default_factory=dict)
    embedded_data: Mapping[str, str] = field(default_factory=dict)
    task_outputs: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    now: datetime | None = None


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: tuple[str, ...]


def tokens(template: str) -> list[Token]:
    """Every ``${word://...`` token in order, unterminated ones included."""
    found = []
    position = 0
    while match := _TOKEN_START.search(template, position):
        start = match.start()
        close = template.find("}", match.end())
        next_start = template.find("${", match.end())
        if close == -1 or (next_start != -1 and next_start < close):
            end = len(template) if next_start == -1 else next_start
            found.append(
                Token(
                    scheme=match[1],
                    path=template[match.end() : end],
                    raw=template[start:end],
                    start=start,
                    terminated=False,
                )
            )
            position = end
            continue
        found.append(
            Token(
                scheme=match[1],
                path=template[match.end() : close],
                raw=template[start : close + 1],
                start=start,
            )
        )
        position = close + 1
    return found


@functools.lru_cache(maxsize=256)
def _substituted_tokens(template: str) -> tuple[Token, ...]:
    # A task's templates are rendered once per run with other values: parsed once, not per run.
    return tuple(token for token in tokens(template) if token.terminated and token.scheme in SCHEMES)


def render(template: str, sources: PipingSources, *, html: bool = False, for_reader: bool = False) -> Rendered:
    """Substitute piped text; in HTML mode values are escaped, the template's own markup is not.

    In HTML mode, and with `for_reader` (a text a person reads: an email's subject and text, a text
    message), each value's bidirectional controls are kept inside it (bidi_contained); values that
    are saved (a contact's fields) are left as they came."""
    now = _utc(sources.now or datetime.now(UTC))
    parts: list[str] = []
    missing: list[str] = []
    position = 0
    for token in _substituted_tokens(template):
        parts.append(template[position : token.start])
        position = token.start + len(token.raw)
        value = _resolve(token, sources=sources, now=now, html=html, for_reader=for_reader)
        if not value and token.raw not in missing:
            missing.append(token.raw)
        parts.append(value)
    parts.append(template[position:])
    return Rendered(text="".join(parts), missing=tuple(missing))


def validate(
    template: str,
    *,
    known_event_fields: Collection[str] | None = None,
    schemes: Collection[str] = SCHEMES,
) -> list[str]:
    """Error sentences for the admin, one per distinct wrong token or token look-alike, in order of
    appearance; each names the corrected token when there is one."""
    found = [
        (token.start, _token_error(token, known_event_fields=known_event_fields, schemes=schemes))
        for token in tokens(template)
    ]
    found += [(start, error) for start, error in _stray_braces(template)]
    spans = [range(token.start, token.start + len(token.raw)) for token in tokens(template)]
    found += [
        (start, f"{raw} is not piped text as written: write {fix}")
        for start, raw, fix in look_alikes(template)
        if not any(start in span for span in spans)  # inside a token: that token's error says what is wrong
    ]
    errors: list[str] = []
    for _, error in sorted(found, key=lambda item: item[0]):
        if error and error not in errors:
            errors.append(error)
    return errors


def _stray_braces(template: str) -> list[tuple[int, str]]:
    """A token of the six schemes wrapped in braces once more (``${${event://X}}``, or
    ``${event://X}}``, but not ``{${event://X}}``, braces around the value): render keeps the extra
    ``${`` and ``}`` around the value, which then reach the contact or the email as written."""
    found = []
    for token in tokens(template):
        if not token.terminated or token.scheme not in SCHEMES:
            continue
        end = token.start + len(token.raw)
        opened = template[max(token.start - 2, 0) : token.start] == "${"
        closed = template[end : end + 1] == "}"
        if opened and closed:
            found.append((token.start - 2, f"${{{token.raw}}} wraps piped text in braces once more: write {token.raw}"))
        elif closed and template[token.start - 1 : token.start] != "{":  # {${event://X}} may mean braces
            found.append((token.start, f"{token.raw}}} has one }} too many: write {token.raw}"))
    return found


def look_alikes(template: str) -> list[tuple[int, str, str]]:
    """(start, text as written, corrected token) of each look-alike of a token in `template`: text
    meant as piped text of one of the six schemes but written otherwise (see the module
    docstring), which ``render`` would leave as it is."""
    found = []
    for match in _LOOK_ALIKE.finditer(template):
        dollar, gap, inner, separator = match["dollar"], match["gap"], match["inner"], match["separator"]
        if dollar and not gap and not inner and separator == "://":
            continue  # a token's own start: tokens() reads it, and validate reports what is wrong with it
        if separator == ":" and not dollar:
            continue
        scheme, path, end = match["scheme"].lower(), match["path"], match.end()
        if not match["close"]:
            path = _meant_path(scheme, path)
            end = match.start("path") + len(path)
        found.append((match.start(), template[match.start() : end], f"${{{scheme}://{path.strip()}}}"))
    return found


def looks_piped(template: str) -> bool:
    """Whether the text holds a token or a token's look-alike: its literal checks (a date, a phone
    number) would only hide the piped-text error that validate gives it."""
    return bool(tokens(template) or look_alikes(template))


def _meant_path(scheme: str, text: str) -> str:
    """The start of the text after an unclosed token's "://" that was meant as its path: one word,
    or for a link with a display text (?d=Take the survey) the rest of the line."""
    if scheme == "l" and "?" in text.split("\n")[0]:
        return text.split("\n")[0].rstrip()
    return re.match(r"[ \t]*[^\s,;:!)\]]*", text)[0]


def task_output_reference(path: str) -> tuple[int, str] | None:
    """(task position, output name) of a ``${task://...}`` token's path such as ``1/ContactId``;
    None when the path is not written that way."""
    match = _TASK_PATH.fullmatch(path)
    return (int(match[1]), match[2]) if match else None


def event_fields_used(template: str) -> set[str]:
    """Salesforce field names piped by the template; metadata (``_Object``...) is not a field."""
    return {
        token.path
        for token in tokens(template)
        if token.terminated and token.scheme == "event" and token.path and not token.path.startswith("_")
    }


def _resolve(token: Token, *, sources: PipingSources, now: datetime, html: bool, for_reader: bool) -> str:
    match token.scheme:
        case "event":
            if token.path.startswith("_"):
                value = sources.event_meta.get(token.path)
            else:
                value = field_value(sources.event, token.path)
        case "m":
            value = sources.contact.get(token.path)
        case "e":
            name = token.path.removeprefix(_EMBEDDED_PREFIX)
            value = sources.embedded_data.get(name) if name != token.path else None
        case "task":
            value = None
            if reference := task_output_reference(token.path):
                position, output = reference
                value = sources.task_outputs.get(position, {}).get(output)
        case "l":
            return _link(token.path, links=sources.links, html=html)
        case "date":
            value = {"now": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "today": now.date().isoformat()}.get(token.path)
    value = value or ""
    if html:
        return escape(bidi_contained(value))
    return bidi_contained(value) if for_reader else value


# Unicode's explicit bidirectional formatting characters (UAX #9): embeddings and overrides (LRE,
# RLE, LRO, RLO) end at a PDF, isolates (LRI, RLI, FSI) at a PDI.
_EMBEDDING_OPENERS, _PDF = "\u202a\u202b\u202d\u202e", "\u202c"
_ISOLATE_OPENERS, _PDI = "\u2066\u2067\u2068", "\u2069"


def bidi_contained(value: str) -> str:
    """`value` with its bidirectional controls kept inside it: the embeddings, overrides and
    isolates it leaves open are closed at its end, and a closer it holds without its opener is
    dropped. Piped into a page, such a value (a name typed into a Web-to-Case form) would otherwise
    reverse or reorder the text around it (the survey's questions, the email's links)."""
    if not any(char in value for char in _EMBEDDING_OPENERS + _ISOLATE_OPENERS + _PDF + _PDI):
        return value
    kept: list[str] = []
    open_: list[str] = []  # the closer each open control waits for, innermost last
    for char in value:
        if char in _EMBEDDING_OPENERS:
            open_.append(_PDF)
        elif char in _ISOLATE_OPENERS:
            open_.append(_PDI)
        elif char == _PDF:
            if not open_ or open_[-1] != _PDF:
                continue
            open_.pop()
        elif char == _PDI:
            if _PDI not in open_:
                continue
            while open_.pop() != _PDI:  # a PDI also ends the embeddings opened inside its isolate
                pass
        kept.append(char)
    return "".join(kept + open_[::-1])


def _link(path: str, *, links: Mapping[str, str], html: bool) -> str:
    name, _, query = path.partition("?")
    if name not in LINKS:
        return ""
    source_key, is_anchor = LINKS[name]
    url = links.get(source_key) or ""
    if not html or not url:
        return url
    if not is_anchor:
        return escape(url)
    # Without display text the URL itself is what the recipient sees.
    display = query.removeprefix(_DISPLAY_PREFIX) if query.startswith(_DISPLAY_PREFIX) else url
    return mark_safe(f'<a href="{escape(url)}">{escape(display)}</a>')  # as format_html writes it


def _utc(moment: datetime) -> datetime:
    # A naive datetime is taken to already be UTC, as Django stores them when USE_TZ is off.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _token_error(token: Token, *, known_event_fields: Collection[str] | None, schemes: Collection[str]) -> str | None:
    raw, path = token.raw, token.path
    if token.scheme not in SCHEMES and token.terminated and (alias := _SCHEME_ALIASES.get(token.scheme.lower())):
        return f"{raw} is not piped text: write {_aliased(alias, path)}"
    if token.scheme not in SCHEMES:
        meant = _closest(token.scheme.lower(), _SCHEME_ORDER)
        if meant is not None:
            path = _meant_path(meant, path) if not token.terminated else path
            return f"{raw} is not piped text: write ${{{meant}://{path.strip()}}}"
        return f"{raw} is not piped text: use {_either(_SCHEME_ORDER)}"
    if token.scheme not in schemes:
        allowed = [scheme for scheme in _SCHEME_ORDER if scheme in schemes]
        if not allowed:
            return f"{raw} cannot be used here: this field takes no piped text"
        return f"{raw} cannot be used here: use {_either(allowed)}"
    if not token.terminated:
        return f"{raw} is missing its closing }}: write ${{{token.scheme}://{_meant_path(token.scheme, path).strip()}}}"
    match token.scheme:
        case "event":
            return _event_error(raw, path, known_event_fields=known_event_fields)
        case "m":
            if path not in CONTACT_FIELDS:
                return _unknown_name(raw, "m", path, "a contact field", CONTACT_FIELDS)
        case "e":
            if not path.startswith(_EMBEDDED_PREFIX) and path.strip() and "/" not in path:
                return (
                    f"{raw} must be written ${{e://Field/Name}} with the embedded data name: "
                    f"write ${{e://Field/{path.strip()}}}"
                )
            if not path.startswith(_EMBEDDED_PREFIX) or not path.removeprefix(_EMBEDDED_PREFIX):
                return f"{raw} must be written ${{e://Field/Name}} with the embedded data name"
        case "task":
            if task_output_reference(path) is None:
                return (
                    f"{raw} must be written ${{task://<n>/<Output>}} with n the task's position"
                    " (1 for the first task), e.g. ${task://1/ContactId}"
                )
        case "l":
            return _link_error(raw, path)
        case "date":
            if path not in DATES:
                if (meant := _closest(path, DATES)) is not None:
                    return f"{raw} is not a date: write ${{date://{meant}}}"
                return f"{raw} is not a date: use ${{date://now}} or ${{date://today}}"
    return None


def _event_error(raw: str, path: str, *, known_event_fields: Collection[str] | None) -> str | None:
    if not path:
        return f"{raw} names no field: write the field's API name, e.g. ${{event://Email}}"
    if path.startswith("_"):
        if path not in EVENT_METADATA:
            return f"{raw} is not event metadata: use {_either(EVENT_METADATA)}"
        return None
    if not SALESFORCE_NAME.fullmatch(path):
        return (
            f"{raw} is not a Salesforce field API name: use the API name (letters, digits"
            " and underscores), e.g. ${event://Email} or ${event://Account_Region__c}"
        )
    if known_event_fields is not None and not is_known_field(path, known_event_fields):
        if compound := unknown_component(path, known_event_fields):
            field, type_, components = compound
            meant = _closest(path.partition(".")[2], components)
            write = f"write ${{event://{field}.{meant}}}" if meant else f"its components: {', '.join(components)}"
            return f"{raw} is not a field: {field} is a compound field (xsd:{type_} in the WSDL); {write}"
        if (meant := _closest(path, known_event_fields)) is not None:
            return f"{raw} is not a field of this workflow's Salesforce object: write ${{event://{meant}}}"
        listed = sorted(known_event_fields)
        shown = ", ".join(listed[:MAX_LISTED_FIELDS]) or "none yet"
        if len(listed) > MAX_LISTED_FIELDS:
            shown += f" and {len(listed) - MAX_LISTED_FIELDS} more"
        return f"{raw} is not a field of this workflow's Salesforce object; known fields: {shown}"
    return None


def _link_error(raw: str, path: str) -> str | None:
    name, has_query, query = path.partition("?")
    if name not in LINKS:
        if (meant := _closest(name, LINKS)) is not None:
            return f"{raw} is not a link: write ${{l://{meant}{has_query}{query}}}"
        return f"{raw} is not a link: use {_either(list(LINKS))}"
    _, is_anchor = LINKS[name]
    if has_query and not is_anchor:
        anchor = name.replace("URL", "Link")
        return f"{raw} takes no display text: write ${{l://{anchor}?d=Your text}} for a link"
    if has_query and not query.startswith(_DISPLAY_PREFIX):
        return f"{raw} takes only a display text, written ${{l://{name}?d=Your text}}"
    if has_query and not query.removeprefix(_DISPLAY_PREFIX).strip():
        # The link would be an <a> around nothing: the recipient would see no link at all.
        return (
            f"{raw} has an empty display text, so the link shows nothing: write ${{l://{name}?d=Your text}}, "
            f"or ${{l://{name}}} to show the address"
        )
    return None


# Schemes people write for one of ours, as other tools or the menu's group names spell them.
_SCHEME_ALIASES = {
    "contact": "m",
    "recipient": "m",
    "ed": "e",
    "embedded": "e",
    "embeddeddata": "e",
    "embedded_data": "e",
    "field": "e",
    "link": "l",
    "links": "l",
    "survey": "l",
    "tasks": "task",
    "dates": "date",
    "events": "event",
}


def _aliased(scheme: str, path: str) -> str:
    """The token of `scheme` that a token of an alias of it with `path` was meant as."""
    path = path.strip()
    if scheme == "m":
        path = _closest(path, CONTACT_FIELDS) or path
    elif scheme == "e" and not path.startswith(_EMBEDDED_PREFIX):
        path = _EMBEDDED_PREFIX + path
    return f"${{{scheme}://{path}}}"


def _unknown_name(raw: str, scheme: str, path: str, what: str, names: Collection[str]) -> str:
    if (meant := _closest(path, names)) is not None:
        return f"{raw} is not {what}: write ${{{scheme}://{meant}}}"
    return f"{raw} is not {what}: use {_either(names)}"


def _closest(name: str, names: Collection[str]) -> str | None:
    """The one of `names` that `name` was most likely meant as: the same but for case, else a close
    spelling (difflib's ratio of at least 0.8, so Emial finds Email but Nickname finds nothing)."""
    same_but_case = [candidate for candidate in names if candidate.casefold() == name.casefold()]
    if len(same_but_case) == 1:
        return same_but_case[0]
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.8)
    return close[0] if close else None


def _either(names: Collection[str]) -> str:
    names = list(names)
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} or {names[-1]}"
