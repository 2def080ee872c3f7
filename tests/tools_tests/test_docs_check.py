"""tests/docs_check.py: which blocks count as runnable, and that a failing one is caught."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docs_check  # noqa: E402

DOC = """# Page

<!-- runnable -->
```sh
echo first
```

```sh
echo not marked
```

<!-- runnable -->
```bash
exit 7
```
"""


def test_only_marked_sh_blocks_are_runnable():
    blocks = docs_check.blocks_of(Path("page.md"), DOC)
    assert [(b.line, b.code) for b in blocks] == [(4, "echo first\n"), (13, "exit 7\n")]


def test_a_mark_without_a_shell_fence_is_an_error():
    with pytest.raises(SystemExit, match="must come just before"):
        docs_check.blocks_of(Path("page.md"), "<!-- runnable -->\n\n```sh\ntrue\n```\n")


def test_a_block_that_fails_is_reported_with_its_place_and_output():
    blocks = docs_check.blocks_of(docs_check.REPO / "page.md", DOC)
    failures = docs_check.run_blocks(blocks, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert len(failures) == 1
    assert failures[0].startswith("page.md:13: exit 7")


def test_the_documentation_has_runnable_blocks():
    found = [b for f in docs_check.default_files() for b in docs_check.blocks_of(f, f.read_text())]
    assert len(found) >= 3
