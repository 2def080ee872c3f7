"""The artefact we ship, not a host build: the arm64 `bootstrap` from `make package`
(`target/lambda/ec2-dns/bootstrap.zip`), unpacked as Lambda unpacks it and run under Debian's
qemu-user-static (with `libc6-arm64-cross` as its sysroot), through a claim, a stop, a
handover and a reconcile of everything, against moto behind the strict proxy.

`make test` builds the package first and installs qemu (`make system-deps`); a missing
package or qemu fails the test, it is never skipped."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from harness import Ec2DnsFunction, ec2_state_change
from e2e.expect import absent, published

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "target" / "lambda" / "ec2-dns" / "bootstrap.zip"
SYSROOT = "/usr/aarch64-linux-gnu"
WEB = "web.dyn.example.com"


def _qemu() -> str:
    path = shutil.which("qemu-aarch64-static") or "/usr/bin/qemu-aarch64-static"
    if not os.path.exists(path) or not os.path.isdir(SYSROOT):
        pytest.fail("qemu-aarch64-static or the arm64 sysroot is missing: make system-deps",
                    pytrace=False)
    return path


@pytest.fixture
def shipped(proxy, tmp_path):
    """The shipped reconciler, as Lambda would run it: `bootstrap` from the zip, arm64."""
    if not PACKAGE.exists():
        pytest.fail(f"{PACKAGE} not found: run `make package`", pytrace=False)
    with zipfile.ZipFile(PACKAGE) as z:
        assert z.namelist() == ["bootstrap"], z.namelist()
        z.extract("bootstrap", tmp_path / "task")
    bootstrap = tmp_path / "task" / "bootstrap"
    bootstrap.chmod(bootstrap.stat().st_mode | stat.S_IXUSR)
    assert bootstrap.read_bytes()[18:20] == (183).to_bytes(2, "little"), "not an arm64 ELF"
    workdir = tmp_path / "fn"
    workdir.mkdir()
    fn = Ec2DnsFunction(proxy.url, None, command=[_qemu(), "-L", SYSROOT, str(bootstrap)],
                        workdir=str(workdir))
    fn.start().wait_ready(timeout=60).deployed()
    yield fn
    fn.stop()
    tail = fn.log_tail(40)
    if tail:
        print(f"--- shipped bootstrap output ---\n{tail}")


def test_the_shipped_arm64_package_claims_hands_over_releases_and_reconciles(world, dyn,
                                                                             shipped):
    first = world.run_instance({"dnsname": WEB})
    second = world.run_instance({"dnsname": WEB})

    report = shipped.invoke_ok(ec2_state_change(first, "running"))
    assert report["failed"] == [], report
    published(world, dyn, WEB, first)
    shipped.invoke_ok(ec2_state_change(second, "running"))
    assert world.holder(WEB) == first
    assert "owned by" in (world.status_tag(second) or "")

    world.stop(first)
    shipped.invoke_ok(ec2_state_change(first, "stopped"))
    published(world, dyn, WEB, second)

    world.terminate(second)
    shipped.invoke_ok(ec2_state_change(second, "terminated"))
    absent(world, dyn, WEB)

    world.start(first)
    everything = shipped.invoke_ok({"reconcile": "all", "dry_run": False})
    assert everything["failed"] == [], everything
    published(world, dyn, WEB, first)
    again = shipped.invoke_ok({"reconcile": "all", "dry_run": False})
    assert again["changes"] == [], again
