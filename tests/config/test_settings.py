import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_lists_every_environment_variable_in_env_example():
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', (ROOT / "config" / "settings.py").read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert read - listed == set()
