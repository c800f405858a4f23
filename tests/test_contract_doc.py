"""docs/contract.md cannot drift from the tests: every line names tests that exist, and back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")


def _lines() -> dict[str, str]:
    """``{id: text}`` of every contract line (``- **W1** …`` up to the next line or heading)."""
    found = re.findall(r"^- \*\*([A-Z]\d+)\*\* (.+?)(?=^- \*\*|^#|\Z)", CONTRACT, flags=re.MULTILINE | re.DOTALL)
    return dict(found)


def _tests_in_tree() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def test_every_contract_line_names_existing_tests_named_after_it():
    lines, tests = _lines(), _tests_in_tree()
    assert len(lines) >= 15, "the contract page lost its lines"
    for line_id, text in lines.items():
        listed = re.findall(r"`(test_contract_\w+)`", text)
        assert listed, f"{line_id} names no test"
        for name in listed:
            assert name.startswith(f"test_contract_{line_id}_"), f"{name} is listed under {line_id}"
            assert name in tests, f"{line_id} names {name}, which is not a test in tests/"


def test_every_contract_test_is_listed_under_its_line():
    listed = set(re.findall(r"`(test_contract_\w+)`", CONTRACT))
    assert {name for name in _tests_in_tree() if name.startswith("test_contract_")} <= listed
