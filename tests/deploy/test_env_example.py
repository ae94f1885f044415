""".env.example lists every variable the settings read (and Compose hands the whole file to every container)."""

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DIR = REPO_ROOT / "backend" / "config" / "settings"
# env("X"), env.str("X", ...), env.int(...), ... and dev_secret("X") (backend/config/settings/env.py).
READ = re.compile(r"""\b(?:env(?:\.\w+)?|dev_secret)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def test_every_variable_the_settings_read_is_in_env_example():
    read = {name for path in SETTINGS_DIR.glob("*.py") for name in READ.findall(path.read_text())}
    assert len(read) > 50, "the pattern found too few env reads: has the settings style changed?"
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert not read - listed, f"read by backend/config/settings but missing from .env.example: {sorted(read - listed)}"


def test_env_example_lists_each_variable_once():
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M)
    assert sorted({n for n in names if names.count(n) > 1}) == []
