"""Checking answers against their questions. Pure (no database), so any way of answering a survey
(the web page, a two-way SMS reply) applies the same rules.

Stored shapes, keyed by the question id as a string (JSON object keys are strings):
multiple choice -> {"number": 2, "text": "Good"}, rating -> 7, text entry -> "the trimmed text".
"""

import re
from collections.abc import Iterable, Mapping

from distributions.models import Question

Kind = Question.Kind

RATING_MIN, RATING_MAX = 0, 10
# ASCII digits only: int() would also take "٧" or "+7", which no rating button sends.
_RATING = re.compile(r"[0-9]{1,2}")

CHOOSE_AN_OPTION = "Choose one of the options."
CHOOSE_A_RATING = f"Choose a number from {RATING_MIN} to {RATING_MAX}."
ANSWER_REQUIRED = "Please answer this question to submit the survey."
# PostgreSQL stores no NUL character in text or JSON; no keyboard types one, a crafted request might.
NUL = "\x00"
REMOVE_NUL = "This answer holds a character that cannot be saved (a NUL character): remove it."


def answers_merge(
    *, questions: Iterable[Question], saved: Mapping, submitted: Mapping, finish: bool
) -> tuple[dict, dict[str, str]]:
    """The saved answers updated with the submitted ones -> (answers, errors by question id).

    A question absent from `submitted` keeps its saved answer, so a caller may send one answer at
    a time; a blank submitted value clears it, as emptying a field on the page does.
    """
    answers = dict(saved)
    errors: dict[str, str] = {}
    for question in questions:
        key = str(question.pk)
        if key in submitted:
            raw = submitted[key]
            if raw is None or not str(raw).strip():
                answers.pop(key, None)
            else:
                value, error = answer_check(question, raw)
                if error:
                    errors[key] = error
                else:
                    answers[key] = value
        if finish and question.required and key not in answers and key not in errors:
            errors[key] = ANSWER_REQUIRED
    return answers, errors


def answer_check(question: Question, raw) -> tuple[object, str]:
    """-> (the value to store, "") or (None, the message to show next to the question)."""
    text = str(raw).strip()
    match question.kind:
        case Kind.MULTIPLE_CHOICE:
            options = question.choice_list()
            if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= len(options):
                return None, CHOOSE_AN_OPTION
            number = int(text)
            return {"number": number, "text": options[number - 1]}, ""
        case Kind.RATING:
            if not _RATING.fullmatch(text) or not RATING_MIN <= int(text) <= RATING_MAX:
                return None, CHOOSE_A_RATING
            return int(text), ""
        case _:
            if NUL in text:
                return None, REMOVE_NUL
            return text, ""


def answer_as_text(answer) -> str:
    """A stored answer as the form sends it back: the option number, the rating, the text."""
    if isinstance(answer, dict):
        return str(answer.get("number", ""))
    return "" if answer is None else str(answer)


def answer_display(answer) -> str:
    """A stored answer as a person reads it: the chosen option's text, the rating, the text."""
    if isinstance(answer, dict):
        return str(answer.get("text") or answer.get("number", ""))
    return "" if answer is None else str(answer)
