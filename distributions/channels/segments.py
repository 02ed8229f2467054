"""How many SMS segments a text takes, and in which encoding: GSM-7 or UCS-2.

Source: 3GPP TS 23.038, "Alphabets and language-specific information", section 6.2.1 (the GSM
7 bit default alphabet) and 6.2.1.1 (its extension table, reached through the escape code 0x1B,
so each of its characters takes two septets); 3GPP TS 23.040 section 9.2.3.24 (the user data
header that joins the parts of a concatenated message takes 6 octets of each part's 140).

- GSM-7, when every character is in the default alphabet or its extension table: 160 septets in
  one segment; a longer text is split into parts of 153 septets, and an escape pair is never
  split across two parts.
- UCS-2 otherwise (one emoji or one Cyrillic letter is enough): 70 UTF-16 code units in one
  segment, 67 per part; a character outside the Basic Multilingual Plane (most emoji) takes two
  code units, and a surrogate pair is never split across two parts.

`static/distributions/sms_segments.js` computes the same in the admin form; tests check both
against the same cases.
"""

from dataclasses import dataclass

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

# TS 23.038 table 6.2.1, code points 0x00-0x7F in order; 0x1B (the escape to the extension table)
# is not a character of its own, so it is left out.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"
    "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# TS 23.038 table 6.2.1.1, the characters of the default extension table: 2 septets each.
GSM_EXTENSION = "\f^{}\\[~]|€"

# (units in a single-segment message, units per part of a concatenated one)
LIMITS = {GSM_7: (160, 153), UCS_2: (70, 67)}

_GSM_BASIC_SET = frozenset(GSM_BASIC)
_GSM_EXTENSION_SET = frozenset(GSM_EXTENSION)


@dataclass(frozen=True)
class SegmentCount:
    """encoding: "GSM-7" or "UCS-2"; characters: as people count them (code points); units:
    septets (GSM-7) or UTF-16 code units (UCS-2); segments: parts the text is sent in (0 for an
    empty text); per_segment: the units a part holds (160/153 or 70/67); remaining: the units
    still free in the last part."""

    encoding: str
    characters: int
    units: int
    segments: int
    per_segment: int
    remaining: int


def gsm7_encodable(text: str) -> bool:
    """Whether every character of `text` is in the GSM 7-bit default alphabet or its extension table."""
    return all(char in _GSM_BASIC_SET or char in _GSM_EXTENSION_SET for char in text)


def _units(char: str, encoding: str) -> int:
    if encoding == GSM_7:
        return 2 if char in _GSM_EXTENSION_SET else 1
    return 2 if ord(char) > 0xFFFF else 1


def count_segments(text: str) -> SegmentCount:
    """The encoding and segment count of an SMS body, e.g.
    count_segments("Hi") -> SegmentCount("GSM-7", 2, 2, 1, 160, 158)."""
    encoding = GSM_7 if gsm7_encodable(text) else UCS_2
    single, part = LIMITS[encoding]
    costs = [_units(char, encoding) for char in text]
    units = sum(costs)
    if units <= single:
        return SegmentCount(encoding, len(text), units, 1 if text else 0, single, single - units)
    segments, used = 1, 0
    for cost in costs:  # a character's units (an escape pair, a surrogate pair) stay in one part
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return SegmentCount(encoding, len(text), units, segments, part, part - used)
