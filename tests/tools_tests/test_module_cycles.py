"""The crate's modules depend on each other one way only (tools/module_cycles.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("module_cycles", REPO / "tools" / "module_cycles.py")
module_cycles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module_cycles)


def test_the_crate_has_no_module_cycle():
    graph = module_cycles.edges(REPO / "lambda" / "src")
    assert {"model", "lock", "hosts", "decide", "marker"} <= set(graph)
    assert module_cycles.cycles(graph) == []


def test_a_cycle_is_found_and_named(tmp_path):
    (tmp_path / "model.rs").write_text("use crate::hosts::HostName;\n")
    (tmp_path / "hosts.rs").write_text("// crate::lock in a comment is no edge\n"
                                       "use crate::model::Owner;\n")
    (tmp_path / "lock.rs").write_text("use crate::hosts::HostRecord;\n"
                                      "#[cfg(test)]\nmod t { use crate::lock::X; use crate::model::Y; }\n")
    graph = module_cycles.edges(tmp_path)
    assert module_cycles.cycles(graph) == [["hosts", "model"]]
    assert module_cycles.main(["x", str(tmp_path)]) == 1
