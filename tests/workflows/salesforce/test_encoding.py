import pytest

from workflows.salesforce.encoding import (
    UnreadableEncoding,
    storable_text,
    text_is_storable,
    xml_as_text,
    xml_as_utf8,
    xml_encoding,
)

DECLARED = '<?xml version="1.0" encoding="{}"?><a>Zoë</a>'


@pytest.mark.parametrize(
    "body, encoding",
    [
        (b"<a/>", "utf-8"),
        (b"\xef\xbb\xbf<a/>", "utf-8-sig"),
        ("\ufeff<a/>".encode("utf-16-le"), "utf-16"),
        ("\ufeff<a/>".encode("utf-32-be"), "utf-32"),
        ('<?xml version="1.0"?><a/>'.encode("utf-16-be"), "utf-16-be"),
        (DECLARED.format("ISO-8859-1").encode("latin-1"), "iso8859-1"),
        (DECLARED.format("cp500").encode("cp500"), "cp500"),
        (b"<?xml version='1.0' encoding='Shift_JIS'?><a/>", "shift_jis"),
    ],
)
def test_it_finds_the_encoding_by_mark_first_bytes_or_declaration(body, encoding):
    assert xml_encoding(body) == encoding


def test_it_refuses_an_unknown_declared_encoding():
    with pytest.raises(UnreadableEncoding, match="'x-unknown', which is not known"):
        xml_encoding(DECLARED.format("x-unknown").encode())


def test_it_gives_utf8_without_the_declaration_for_other_encodings():
    assert xml_as_utf8(DECLARED.format("ISO-8859-1").encode("latin-1")) == "<a>Zoë</a>".encode()


def test_it_leaves_a_utf8_body_as_it_is_but_for_the_byte_order_mark():
    body = DECLARED.format("UTF-8").encode()

    assert xml_as_utf8(body) is body
    assert xml_as_utf8(b"\xef\xbb\xbf" + body) == body


def test_it_gives_storable_text_for_any_bytes():
    assert xml_as_text(DECLARED.format("UTF-16").encode("utf-16")) == DECLARED.format("UTF-16")
    assert xml_as_text(b"\x1f\x8b\x00\xff") == "\x1f\ufffd\ufffd\ufffd"
    assert xml_as_text(DECLARED.format("x-unknown").encode() + b"\x00") == DECLARED.format("x-unknown") + "\ufffd"


@pytest.mark.parametrize(
    "text, storable",
    [
        ("plain", "plain"),
        ("a\x00b", "a\ufffdb"),
        ("caf\u00e9 \ud800 \udfff", "caf\u00e9 \ufffd \ufffd"),  # lone halves of a UTF-16 pair
        ("\U0001f600 stays", "\U0001f600 stays"),  # a whole pair, decoded, is one character
    ],
)
def test_storable_text_replaces_what_no_database_column_holds(text, storable):
    assert storable_text(text) == storable
    assert text_is_storable(text) is (text == storable)
    storable.encode("utf-8")  # raises on a lone surrogate left behind


@pytest.mark.parametrize("name", ["rot13", "base64", "hex", "zlib", "uu", "bz2", "quopri", "undefined"])
def test_it_refuses_a_declared_codec_that_is_not_a_text_encoding(name):
    with pytest.raises(UnreadableEncoding, match=f"'{name}', which is not a character encoding"):
        xml_as_utf8(DECLARED.format(name).encode())


def test_it_refuses_a_body_its_declared_codec_fails_on_without_a_position():
    with pytest.raises(UnreadableEncoding, match="The body is not valid punycode: .*Invalid extended code point"):
        xml_as_utf8(b'<?xml version="1.0" encoding="punycode"?><a>Zo</a>')


@pytest.mark.parametrize("name", ["rot13", "base64", "punycode", "undefined", "idna"])
def test_it_gives_storable_text_whatever_codec_the_body_declares(name):
    body = DECLARED.format(name).encode()

    assert xml_as_text(body) == DECLARED.format(name)


# The Content-Type's charset, for a body that names no encoding of its own

UNDECLARED = '<?xml version="1.0"?><a>Zoë</a>'


@pytest.mark.parametrize("charset", ["ISO-8859-1", "windows-1252", '"iso-8859-1"'])
def test_it_reads_a_body_that_names_no_encoding_in_the_content_types_charset(charset):
    body = UNDECLARED.encode("latin-1")

    assert xml_as_utf8(body, charset=charset) == "<a>Zoë</a>".encode()
    assert xml_as_text(body, charset=charset) == UNDECLARED


def test_it_reads_a_utf8_body_labelled_with_another_charset_as_utf8():
    body = UNDECLARED.encode()

    assert xml_encoding(body, charset="ISO-8859-1") == "utf-8"
    assert xml_as_utf8(body, charset="ISO-8859-1") is body


@pytest.mark.parametrize("charset", ["x-unknown", "base64", ""])
def test_it_passes_over_a_charset_that_names_no_character_encoding(charset):
    assert xml_encoding(UNDECLARED.encode("latin-1"), charset=charset) == "utf-8"


def test_it_takes_the_declaration_over_the_content_types_charset():
    body = DECLARED.format("ISO-8859-1").encode("latin-1")

    assert xml_encoding(body, charset="UTF-8") == "iso8859-1"


# A declaration that the bytes contradict


def test_it_takes_a_utf8_byte_order_mark_over_a_declaration_of_another_encoding():
    body = b"\xef\xbb\xbf" + DECLARED.format("UTF-16").encode()

    assert xml_as_utf8(body) == "<a>Zoë</a>".encode()


@pytest.mark.parametrize("name", ["UTF-16", "utf-16le", "UTF-32"])
def test_it_refuses_a_wide_encoding_declared_in_single_bytes_saying_why(name):
    with pytest.raises(UnreadableEncoding, match="declaration is written in single bytes, as in UTF-8"):
        xml_as_utf8(DECLARED.format(name).encode())


def test_it_drops_whitespace_before_a_utf8_declaration_as_before_any_other():
    body = DECLARED.format("UTF-8").encode()

    assert xml_as_utf8(b"\r\n " + body) == body
    assert xml_as_utf8(b"\n" + DECLARED.format("ISO-8859-1").encode("latin-1")) == "<a>Zoë</a>".encode()


def test_it_leaves_whitespace_before_a_root_element_to_the_parser():
    assert xml_as_utf8(b"\n<a/>") == b"\n<a/>"
