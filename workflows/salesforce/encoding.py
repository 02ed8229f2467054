"""The character encoding of an XML body, found as XML 1.0 says (section 4.3.3 and appendix F).

Salesforce sends UTF-8, but SOAP toolkits and proxies send UTF-16 with a byte order mark, or
declare ISO-8859-1 or a multi-byte encoding that expat cannot read. Every such body is turned
into text here, so the parser and the inbound log see the same characters whatever the bytes.
"""

import codecs
import re

# Longest marks first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Appendix F: without a mark, the first bytes of "<?" tell the code unit width and order.
_FIRST_BYTES = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
# ... and "<?xm" in EBCDIC, whose declaration must then be read in EBCDIC.
_EBCDIC_START = b"\x4c\x6f\xa7\x94"
_DECLARED = re.compile(rb"""\A\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")
_DECLARATION = re.compile(r"\A\s*<\?xml\s[^>]*\?>")
# Encodings of code units wider than a byte: XML finds them by a mark or by their first bytes.
_WIDE_ENCODINGS = ("utf-16", "utf-32")


class UnreadableEncoding(ValueError):
    """The body names an encoding Python does not know, or its bytes are not in that encoding."""


def xml_encoding(body: bytes, *, charset: str = "") -> str:
    """The Python codec name of the body's encoding: its byte order mark, else its first bytes,
    else its XML declaration, else UTF-8 when the body is valid UTF-8, else `charset` (the
    Content-Type's, when it names a character encoding), else UTF-8. Raises UnreadableEncoding
    when the declared name is not a character encoding Python knows.

    A UTF-8 byte order mark wins over a declaration naming another encoding, as a UTF-16 one
    does; a declaration of UTF-16 or UTF-32 written in single bytes (as .NET serialisers write
    one into a UTF-8 body) cannot be true, and is refused.
    """
    return _reading(body, charset)[0]


def _reading(body: bytes, charset: str) -> tuple[str, bool]:
    """(the codec of the body, whether an XML parser reading the bytes as they are would take
    that codec too: UTF-8 without a declaration naming another encoding)."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if body.startswith(mark):
            return encoding, encoding == "utf-8-sig" and _declared(body[len(mark) :]) in (None, "utf-8")
    for first, encoding in _FIRST_BYTES:
        if body.startswith(first):
            return encoding, False
    if body.startswith(_EBCDIC_START):
        declared = _declared(body[:200].decode("cp037").encode("ascii", errors="replace"))
        return declared or "utf-8", False
    declared = _declared(body)
    if declared is not None:
        if declared.startswith(_WIDE_ENCODINGS):
            # A body in one of them starts with a byte order mark or "<" in wide code units
            # (found above): this one starts with the declaration in single bytes.
            raise UnreadableEncoding(
                f"The body is not valid {declared}: its XML declaration is written in single bytes, as in "
                "UTF-8; declare the encoding the body is written in."
            )
        return declared, declared == "utf-8"
    # The Content-Type's charset is only a hint: a body that says nothing and is valid UTF-8 is
    # UTF-8 (a mislabelled UTF-8 body is common, and reading it as ISO-8859-1 would garble it).
    encoding = _character_encoding(charset)
    if encoding is None or encoding == "utf-8" or _is_utf8(body):
        return "utf-8", True
    return encoding, False


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _declared(start: bytes) -> str | None:
    """The codec the XML declaration at the start of the body names; None without one."""
    declared = _DECLARED.match(start[:200])
    if declared is None:
        return None
    name = declared[1].decode("ascii")
    try:
        encoding = codecs.lookup(name).name
    except LookupError:
        raise UnreadableEncoding(f"The XML declaration names the encoding {name!r}, which is not known.") from None
    if not _is_character_encoding(encoding):
        raise UnreadableEncoding(
            f"The XML declaration names the encoding {name!r}, which is not a character encoding: "
            "declare the one the body is written in, e.g. UTF-8."
        )
    return encoding


def _character_encoding(name: str) -> str | None:
    """The codec of a Content-Type charset; None when it names no character encoding."""
    try:
        encoding = codecs.lookup(name.strip().strip("\"'")).name if name else None
    except LookupError:
        return None
    return encoding if encoding and _is_character_encoding(encoding) else None


def _is_character_encoding(encoding: str) -> bool:
    try:
        # Python's codec registry also holds transforms (base64, zlib, rot13...) that str.encode
        # refuses, and "undefined", which refuses everything: known names, not character encodings.
        "".encode(encoding)
    except (LookupError, UnicodeError):
        return False
    return True


def xml_as_utf8(body: bytes, *, charset: str = "") -> bytes:
    """The body as UTF-8 bytes without a byte order mark or an encoding declaration, ready for a
    parser that reads UTF-8; `charset` is the Content-Type's (see xml_encoding). A UTF-8 body is
    returned as it is (the parser checks its bytes).

    Raises UnreadableEncoding when the encoding is unknown or the bytes are not in it.
    """
    encoding, as_it_is = _reading(body, charset)
    if as_it_is:
        body = body.removeprefix(codecs.BOM_UTF8)
        # Whitespace before the declaration (a stray newline a script or proxy wrote first) makes
        # the document ill-formed; it goes with the declaration in the other encodings, so here too.
        if body[:1].isspace() and body.lstrip()[:5] == b"<?xml":
            return body.lstrip()
        return body
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        raise UnreadableEncoding(f"The body is not valid {encoding}: {error.reason} at byte {error.start}.") from None
    except UnicodeError as error:  # codecs such as punycode fail without a position
        raise UnreadableEncoding(f"The body is not valid {encoding}: {error}.") from None
    return _DECLARATION.sub("", text.removeprefix("\ufeff"), count=1).encode("utf-8")


def xml_as_text(body: bytes, *, charset: str = "") -> str:
    """The body as text for the inbound log, whatever it holds: decoded in its own encoding when
    that can be found (see xml_encoding; UTF-8 otherwise), with undecodable bytes and NUL
    characters, which a PostgreSQL text column refuses, replaced by U+FFFD."""
    try:
        text = body.decode(xml_encoding(body, charset=charset), errors="replace")
    except (UnreadableEncoding, UnicodeError):  # some codecs (idna, undefined) fail even when told to replace
        text = body.decode("utf-8", errors="replace")
    return storable_text(text.removeprefix("\ufeff"))


# NUL, which PostgreSQL refuses in text and JSON, and lone surrogates: half of a UTF-16 pair (JSON's
# "\ud800" escape decodes to one), which no UTF-8 text can hold, so no database can store it.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """Text any database column accepts: NUL characters and lone surrogates become U+FFFD."""
    if text.isascii():  # the usual case, and no surrogate is ASCII
        return text.replace("\x00", "\ufffd")
    return _UNSTORABLE.sub("\ufffd", text)


def text_is_storable(text: str) -> bool:
    """Whether a database column can hold `text` as it is (see storable_text), and so compare it."""
    return _UNSTORABLE.search(text) is None
