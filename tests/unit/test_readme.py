"""The README's configuration table documents every setting, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from sheen.settings import Settings, env_name

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table():
    """Each Settings field appears as `SHEEN_<FIELD>` in a README table row, and vice versa."""
    rows = set(re.findall(r"^\| `(SHEEN_[A-Z0-9_]+)`", README.read_text(), flags=re.MULTILINE))
    declared = {env_name(field) for field in Settings.model_fields}
    assert declared - rows == set(), "settings missing from the README table"
    assert rows - declared == set(), "README documents variables that are not settings"
