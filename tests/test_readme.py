"""The README stays true: its configuration table and its test command."""

from __future__ import annotations

import re
from pathlib import Path

from tgpipe.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_configuration_table_lists_every_setting():
    documented = set(re.findall(r"^\| `TGPIPE_([A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_ci_runs_the_readme_test_command():
    quick_start = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    test_command = next(line.split("#")[0].strip() for line in quick_start.splitlines() if "pytest" in line)
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert any(line.startswith(test_command) and line[len(test_command):].strip() in ("", "|| status=$?")
               for line in ci), (test_command, ci)
