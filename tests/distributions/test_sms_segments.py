"""SMS segment counting (3GPP TS 23.038 / 23.040), in Python and in the admin form's JavaScript."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from distributions.channels.segments import GSM_BASIC, GSM_EXTENSION, count_segments, gsm7_encodable

SCRIPT = Path(__file__).resolve().parents[2] / "distributions" / "static" / "distributions" / "sms_segments.js"

# text -> (encoding, units, segments, remaining)
CASES = {
    "": ("GSM-7", 0, 0, 160),
    "Hi": ("GSM-7", 2, 1, 158),
    "a" * 160: ("GSM-7", 160, 1, 0),
    "a" * 161: ("GSM-7", 161, 2, 145),
    "a" * 306: ("GSM-7", 306, 2, 0),
    "a" * 307: ("GSM-7", 307, 3, 152),
    # Extension-table characters take two septets each.
    "€" * 80: ("GSM-7", 160, 1, 0),
    # 76 of them fill 152 septets of the first part; the 77th's pair does not fit in the last one.
    "€" * 81: ("GSM-7", 162, 2, 143),
    # An escape pair is never split: 152 septets, then a € that would straddle the boundary.
    "a" * 152 + "€" + "a" * 10: ("GSM-7", 164, 2, 141),
    "Prix: 5€ [promo] {ok} ~ ^ | \\": ("GSM-7", 38, 1, 122),
    "Ça coûte 5 €": ("UCS-2", 12, 1, 58),  # û is not in the GSM alphabet
    "Привет": ("UCS-2", 6, 1, 64),
    "x" * 70: ("GSM-7", 70, 1, 90),
    "ы" * 70: ("UCS-2", 70, 1, 0),
    "ы" * 71: ("UCS-2", 71, 2, 63),
    # An emoji outside the BMP takes two UTF-16 code units, and a pair is never split.
    "😀": ("UCS-2", 2, 1, 68),
    "😀" * 35: ("UCS-2", 70, 1, 0),
    "😀" * 36: ("UCS-2", 72, 2, 61),
    "a" * 66 + "😀": ("UCS-2", 68, 1, 2),
    "a" * 66 + "😀" + "a" * 4: ("UCS-2", 72, 2, 61),
}


@pytest.mark.parametrize("text", list(CASES))
def test_it_counts_encoding_units_and_segments(text):
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments, count.remaining) == CASES[text]


def test_it_counts_characters_as_people_do():
    assert count_segments("😀ab€").characters == 4


def test_the_gsm_tables_are_the_standards():
    assert len(GSM_BASIC) == 127  # 128 code points less the escape to the extension table
    assert len(set(GSM_BASIC)) == 127
    assert set(GSM_EXTENSION) == set("\f^{}\\[~]|€")
    assert gsm7_encodable("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà")
    assert not gsm7_encodable("ç")  # only the capital Ç is in the alphabet
    assert not gsm7_encodable("`")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the admin's script")
def test_the_admin_script_counts_the_same():
    program = (
        f"const {{smsSegments}} = require({json.dumps(str(SCRIPT))});"
        f"const texts = {json.dumps(list(CASES))};"
        "console.log(JSON.stringify(texts.map(t => { const c = smsSegments(t); "
        "return [c.encoding, c.units, c.segments, c.remaining, c.characters]; })));"
    )
    output = subprocess.run(["node", "-e", program], capture_output=True, text=True, check=True, timeout=30).stdout
    expected = [[*CASES[text], count_segments(text).characters] for text in CASES]
    assert json.loads(output) == expected
