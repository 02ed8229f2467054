"""The API's JSON parser: DRF's, refusing (400, MALFORMED_REQUEST in the envelope) the well-formed
JSON no endpoint can use.

- Half of a surrogate pair (`"\\ud800"` without its other half) is valid JSON text, but it is no
  character: no UTF-8 text can hold it, so no column can store it and no answer quoting it back
  ("... is not a valid choice") can be encoded. It is refused wherever it is, a value or a key,
  as DRF's text fields already refuse it in theirs ("Surrogate characters are not allowed").
  A surrogate *pair* (an emoji written `"\\ud83d\\ude00"`) is one character and is accepted.
- A body nested deeper than the json module goes (Python's recursion limit) is refused with
  a message saying so, instead of failing as a RecursionError.
- An object naming one key twice (`{"visit-1": {...}, "visit-1": {...}}`) is refused, naming the
  key: JSON leaves such a body's meaning open and the json module would keep only the last value,
  so one of a batch's items would be dropped without a word.
"""

import codecs
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json as drf_json
from rest_framework.utils.encoders import JSONEncoder

# How deep the parsed body may nest: far more than any endpoint's shape (three or four levels), and
# shallow enough that the walks over the data (here, the NUL check, serializers) never recurse out.
MAX_DEPTH = 64


# json decodes a pair to one character, so any surrogate left in decoded text is half of one.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text` as "U+D800", or None."""
    found = None if text.isascii() else _LONE_SURROGATE.search(text)
    return f"U+{ord(found[0]):04X}" if found else None


def check_body(data) -> None:
    """ParseError when the parsed body nests deeper than MAX_DEPTH or holds a lone surrogate.
    Iterative, so a deep body cannot make the check itself recurse."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            found = _lone_surrogate(value)
            if found:
                raise ParseError(
                    f"JSON parse error - the body holds half of a surrogate pair ({found}, written"
                    f" \\u{found[2:].lower()} in JSON), which is no character: send the text in UTF-8, or both"
                    " halves of the pair."
                )
            continue
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON parse error - the body nests objects and arrays more than {MAX_DEPTH} levels deep.")
        stack.extend((child, depth + 1) for child in children)


def _object_without_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    """json's object_pairs_hook: the object, or ParseError naming a key it holds twice."""
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            quoted = drf_json.dumps(key, cls=JSONEncoder, ensure_ascii=True)
            raise ParseError(
                f"JSON parse error - the key {quoted} appears twice in one object: give each item its own key."
            )
        seen.add(key)
    return dict(pairs)


class ApiJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # DRF's JSONParser.parse (NaN and Infinity refused), with the hook. A UTF-8 byte order mark
        # (which Windows tools write before a file's text) is skipped, as RFC 8259 lets parsers do.
        encoding = get_encoding(parser_context or {})
        if codecs.lookup(encoding).name == "utf-8":
            encoding = "utf-8-sig"
        try:
            data = drf_json.load(
                codecs.getreader(encoding)(stream),
                object_pairs_hook=_object_without_repeated_keys,
            )
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        except RecursionError:
            raise ParseError(
                f"JSON parse error - the body nests objects and arrays more than {MAX_DEPTH} levels deep."
            ) from None
        check_body(data)
        return data
