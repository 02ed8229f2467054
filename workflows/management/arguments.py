"""Argument types shared by the product's management commands: a wrong value is refused by the
parser with a message that says what is expected (`manage.py cmd: error: argument --x: ...`),
never a traceback from deep inside the command."""

import argparse
import math


def seconds_argument(text: str) -> float:
    """A number of seconds, 0 or more (e.g. "30", "0.5"). NaN would compare false with every
    deadline (never giving up), and a negative wait cannot be slept, so both are refused."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, not {text!r}")
    return value


def timeout_argument(text: str) -> float:
    """A number of seconds above 0: how long to wait for an answer (0 would not wait at all)."""
    value = seconds_argument(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return value
