import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int

ROOT = Path(__file__).resolve().parents[2]


def test_it_lists_every_environment_variable_in_env_example():
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', (ROOT / "config" / "settings.py").read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert read - listed == set()


def test_a_whole_number_setting_below_its_minimum_is_refused(monkeypatch):
    monkeypatch.setenv("RUN_BATCH_SIZE", "0")
    with pytest.raises(ImproperlyConfigured, match="RUN_BATCH_SIZE must be at least 1, not 0"):
        env_int("RUN_BATCH_SIZE", 50, minimum=1)
    monkeypatch.setenv("RUN_BATCH_SIZE", "1")
    assert env_int("RUN_BATCH_SIZE", 50, minimum=1) == 1
