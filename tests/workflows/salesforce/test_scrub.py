import random
from pathlib import Path

from workflows.salesforce.scrub import _SESSION_ID, _remove_token, body_without_session_id

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "salesforce"
TOKEN = (
    "00D5g000004bLYv!AQ0AQHc7xZ3yRk.Vq2mE_8tFh1LpWnB4sGdKj9uXoIaTz6cYrPe5NwM0lSvUiDbA3fQgHx7JyK2Rt.ZpLm1OaW4sEdCv8nBu"
)


def test_it_removes_the_session_token():
    scrubbed = body_without_session_id((FIXTURES / "case_session_id.xml").read_bytes())

    assert TOKEN not in scrubbed


def test_it_leaves_a_marker_and_the_rest_of_the_body_untouched():
    body = (FIXTURES / "case_session_id.xml").read_text(encoding="utf-8")

    assert body_without_session_id(body.encode()) == body.replace(TOKEN, "[removed]")


def test_it_keeps_a_nil_session_id_as_is():
    body = (FIXTURES / "case_single.xml").read_text(encoding="utf-8")

    assert body_without_session_id(body.encode()) == body


def test_it_keeps_an_empty_session_id_as_is():
    assert body_without_session_id(b"<SessionId></SessionId>") == "<SessionId></SessionId>"


def test_it_keeps_a_self_closing_session_id_as_is():
    assert body_without_session_id(b"<a><SessionId/><b>x</b></a>") == "<a><SessionId/><b>x</b></a>"


def test_it_removes_a_token_under_any_prefix_and_attributes():
    start = b'<out:SessionId xmlns:out="http://soap.sforce.com/2005/09/outbound" id="s">'
    body = start + TOKEN.encode() + b"</out:SessionId>"

    assert body_without_session_id(body) == (
        '<out:SessionId xmlns:out="http://soap.sforce.com/2005/09/outbound" id="s">[removed]</out:SessionId>'
    )


def test_it_removes_a_token_spanning_lines():
    body = b"<SessionId>\n  00D5g!AQ0AQ\n  Hc7xZ3\n</SessionId>"

    assert body_without_session_id(body) == "<SessionId>[removed]</SessionId>"


def test_it_removes_a_token_whose_end_tag_was_cut_off():
    body = b"<notifications><SessionId>" + TOKEN.encode()

    assert body_without_session_id(body) == "<notifications><SessionId>[removed]"


def test_it_removes_the_token_from_otherwise_malformed_xml():
    body = b"<notifications><SessionId>" + TOKEN.encode() + b"</SessionId><Notification><<broken"

    assert TOKEN not in body_without_session_id(body)


def test_it_is_not_fooled_by_a_quoted_slash_in_an_attribute():
    body = b'<SessionId note="/>">' + TOKEN.encode() + b"</SessionId>"

    assert body_without_session_id(body) == '<SessionId note="/>">[removed]</SessionId>'


def test_it_removes_every_session_id():
    body = b"<SessionId>first-token</SessionId><SessionId>second-token</SessionId>"

    assert body_without_session_id(body) == "<SessionId>[removed]</SessionId><SessionId>[removed]</SessionId>"


def test_it_leaves_elements_that_only_start_with_session_id():
    assert body_without_session_id(b"<SessionIdHint>kept</SessionIdHint>") == "<SessionIdHint>kept</SessionIdHint>"


def test_it_drops_a_byte_order_mark():
    assert body_without_session_id(b"\xef\xbb\xbf<a/>") == "<a/>"


def test_it_replaces_bytes_that_are_not_utf8():
    assert body_without_session_id(b"<a>\xff</a>") == "<a>\ufffd</a>"


def test_it_replaces_exactly_what_the_pattern_matches_anywhere_in_the_body():
    # The scrub only tries its pattern before each "SessionId": whatever the text, the result must
    # be the pattern's own substitution over the whole text.
    pieces = ["<", ">", "/", "SessionId", "Session", "Id", "sf:", "a.b-c:", ":", " ", "\n", '"', "'", "=", "x", "</"]
    rng = random.Random(20240601)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(5000)]
    texts += ["<SessionId:SessionId>t</SessionId>", "<a<SessionId>t", "<SessionIdSessionId>t", "<<SessionId>>t<"]

    for text in texts:
        assert body_without_session_id(text.encode()) == _SESSION_ID.sub(_remove_token, text), text
