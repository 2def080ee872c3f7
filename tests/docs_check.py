"""The documentation's runnable shell blocks, run against the sandbox (`make docs-check`).

A block is runnable when the line just before its ```sh fence is `<!-- runnable -->`.
Each file's blocks run in order, each with `bash -e -o pipefail`, in a fresh sandbox per
file (see sandbox.py), with `ec2-dns-ctl` on PATH and the sandbox's environment. A block
that exits non-zero fails the check, with its file and line. Finding no runnable block at
all fails too: the check must not pass by checking nothing.

    .venv/bin/python tests/docs_check.py [FILE.md ...]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox import REPO, Sandbox  # noqa: E402

MARK = "<!-- runnable -->"
FENCE = re.compile(r"^```(sh|bash|shell)\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str


def blocks_of(path: Path, text: str) -> list[Block]:
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == MARK:
            fence = i + 1
            if fence >= len(lines) or not FENCE.match(lines[fence].strip()):
                raise SystemExit(f"{path}:{i + 1}: {MARK} must come just before a ```sh fence")
            end = fence + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise SystemExit(f"{path}:{fence + 1}: unterminated block")
            out.append(Block(path, fence + 1, "\n".join(lines[fence + 1:end]) + "\n"))
            i = end
        i += 1
    return out


def run_blocks(blocks: list[Block], env: dict[str, str]) -> list[str]:
    """Runs the blocks in order; returns one failure description per failed block."""
    failures = []
    with tempfile.TemporaryDirectory(prefix="ec2-dns-docs-") as home:
        full = {"HOME": home, "LANG": "C.UTF-8", **env}
        for b in blocks:
            p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b.code], env=full,
                               cwd=home, capture_output=True, text=True, timeout=120)
            where = f"{b.path.relative_to(REPO) if b.path.is_relative_to(REPO) else b.path}:{b.line}"
            if p.returncode != 0:
                failures.append(f"{where}: exit {p.returncode}\n--- block ---\n{b.code}"
                                f"--- stdout ---\n{p.stdout}--- stderr ---\n{p.stderr}")
            else:
                print(f"ok  {where}")
    return failures


def default_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def main(argv: list[str]) -> int:
    files = [Path(a).resolve() for a in argv] or default_files()
    per_file = {f: blocks_of(f, f.read_text()) for f in files}
    per_file = {f: bs for f, bs in per_file.items() if bs}
    if not per_file:
        print(f"no runnable blocks ({MARK} before a ```sh fence) found in "
              + ", ".join(str(f) for f in files), file=sys.stderr)
        return 1
    failures = []
    for f, bs in per_file.items():
        sandbox = Sandbox(Path(os.environ.get("EC2_DNS_BIN_DIR", REPO / "target" / "debug"))
                          .resolve()).start()
        try:
            failures += run_blocks(bs, sandbox.env())
        finally:
            sandbox.stop()
    total = sum(len(bs) for bs in per_file.values())
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        print(f"\n{len(failures)} of {total} runnable block(s) failed", file=sys.stderr)
        return 1
    print(f"{total} runnable block(s) in {len(per_file)} file(s) ran against the sandbox")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
