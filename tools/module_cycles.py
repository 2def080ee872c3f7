#!/usr/bin/env python3
"""The crate's module graph must have no cycle: the pipeline's one-way dependencies
(input -> observe -> decide -> apply -> report, and model, name, marker, hosts, lock beneath
them) are what let a stranger find each rule in one file.

Reads lambda/src (or the folder given), takes every `crate::<module>` outside comments and
test code as an edge from the file's top-level module, and prints each cycle with one line
that makes each edge. Exit status 1 when there is a cycle.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Test-only and composition modules may reach anything.
SKIP = {"tests", "testing", "fuzz", "proptests", "bin", "main", "lib"}


def edges(root: Path) -> dict[str, dict[str, str]]:
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(root.rglob("*.rs")):
        rel = path.relative_to(root)
        top = rel.parts[0].removesuffix(".rs")
        if top in SKIP or rel.name == "tests.rs":
            continue
        text = path.read_text()
        cut = text.find("#[cfg(test)]")
        if cut >= 0:
            text = text[:cut]
        out = graph.setdefault(top, {})
        for line in text.splitlines():
            if line.strip().startswith("//"):
                continue
            for target in re.findall(r"crate::([a-z_0-9]+)", line):
                if target != top and target not in SKIP:
                    out.setdefault(target, f"{rel}: {line.strip()[:100]}")
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "lambda/src"
    graph = edges(root)
    found = cycles(graph)
    for comp in found:
        print("cycle: " + " <-> ".join(comp))
        for a in comp:
            for b, why in sorted(graph[a].items()):
                if b in comp:
                    print(f"  {a} -> {b}  ({why})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
