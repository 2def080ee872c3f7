"""tools/longruns.py rewrites only its own block of docs/testing.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("longruns", REPO / "tools" / "longruns.py")
longruns = importlib.util.module_from_spec(spec)
spec.loader.exec_module(longruns)


def test_the_block_is_replaced_and_the_rest_kept():
    rows = [{"name": "fuzz", "command": "make fuzz", "cases": "many", "result": "all passed (3 tests)",
             "seconds": 12.4, "ok": True}]
    page = f"intro\n{longruns.START}\nold\n{longruns.END}\noutro\n"
    out = longruns.rewrite(page, longruns.table(rows, "abc123"))
    assert out.startswith("intro\n") and out.endswith("\noutro\n")
    assert "old" not in out
    assert "commit `abc123`" in out and "| fuzz | `make fuzz` | many | all passed (3 tests) | 12 s |" in out


def test_a_page_without_the_block_is_refused():
    with pytest.raises(SystemExit):
        longruns.rewrite("no markers here", "x")


def test_the_page_has_the_block():
    page = (REPO / "docs" / "testing.md").read_text()
    assert page.count(longruns.START) == 1 and page.count(longruns.END) == 1
