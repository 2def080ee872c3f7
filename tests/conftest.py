"""Fixtures shared by the end-to-end scenarios and the harness's own tests.

Isolation: every test gets its own moto server state (from a pool of two servers that
are reset and warmed in the background), its own proxy (fresh counters, no faults) and
its own function process. See tests/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import AwsProxy, Ec2DnsFunction, MotoPool, World  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOMAIN = "dyn.example.com"
LOCK_TABLE = "ec2-dns-locks"

# Keep the host's AWS configuration away from boto3 in this process too.
for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.fixture(scope="session")
def moto_pool():
    pool = MotoPool(size=2).start()
    yield pool
    pool.stop()


@pytest.fixture
def moto(moto_pool):
    server = moto_pool.acquire()
    yield server
    moto_pool.release(server)


@pytest.fixture
def proxy(moto, request):
    """The strict proxy in front of this test's moto. A fault or hold the test added that
    never fired fails the test here: an injected failure the binary never met proves
    nothing, and no test has to remember to assert it. (The proxy's own tests, which add
    faults to list and clear them, say so with `@pytest.mark.idle_faults`.)"""
    p = AwsProxy(moto.url).start()
    yield p
    p.stop()
    if request.node.get_closest_marker("idle_faults"):
        return
    idle = [f"fault {f['fault']}/{f['phase']} on {f['service']}:{f['operation']}"
            for f in p.fault_history() if f["fired"] == 0]
    idle += [f"hold {h['id']} on {h['service']}:{h['operation']}"
             for h in p.holds() if h["fired"] == 0]
    if idle:
        pytest.fail("injected but never fired: " + "; ".join(idle), pytrace=False)


@pytest.fixture
def world(moto):
    return World(moto.url, lock_table=LOCK_TABLE)


@pytest.fixture
def dyn(world):
    """The standard world: lock table, public zone and private zone `dyn.example.com`."""
    world.create_lock_table()
    return SimpleNamespace(
        domain=DOMAIN,
        public=world.create_zone(DOMAIN),
        private=world.create_zone(DOMAIN, private=True),
    )


@pytest.fixture
def dyn_public(world):
    """Lock table and only the public zone `dyn.example.com`."""
    world.create_lock_table()
    return SimpleNamespace(domain=DOMAIN, public=world.create_zone(DOMAIN), private=None)


@pytest.fixture(scope="session")
def ec2_dns_bin() -> str:
    path = os.environ.get("EC2_DNS_BIN") or str(REPO / "target" / "debug" / "ec2-dns")
    if not os.path.exists(path):
        pytest.fail(f"ec2-dns binary not found at {path}: run `cargo build` or set EC2_DNS_BIN",
                    pytrace=False)
    return path


@pytest.fixture
def start_function(proxy, ec2_dns_bin, tmp_path):
    """Factory: start the real binary with config overrides (None removes a variable)."""
    started: list[Ec2DnsFunction] = []

    def start(config: dict | None = None, **kwargs) -> Ec2DnsFunction:
        workdir = tmp_path / f"fn{len(started)}"
        workdir.mkdir()
        fn = Ec2DnsFunction(proxy.url, config, command=[ec2_dns_bin], workdir=str(workdir),
                            **kwargs)
        started.append(fn)
        return fn.start().wait_ready().deployed()

    yield start
    for fn in started:
        fn.stop()
        tail = fn.log_tail(60)
        if tail:
            print(f"--- ec2-dns output ({fn.workdir}) ---\n{tail}")


@pytest.fixture
def ctl(proxy, world, tmp_path, ec2_dns_bin):
    """Runs the operator CLI as an operator would, against the proxy; `env` overrides
    variables of its environment (None removes one)."""
    # EC2_DNS_CTL: another build, such as the release CLI CI ships (make test-release-cli).
    binary = Path(os.environ.get("EC2_DNS_CTL") or Path(ec2_dns_bin).with_name("ec2-dns-ctl"))
    if not binary.exists():
        pytest.fail(f"{binary} not found: run `cargo build` (or set EC2_DNS_CTL)", pytrace=False)
    home = tmp_path / "ctl-home"
    home.mkdir(exist_ok=True)
    base = {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LOCK_TABLE": world.lock_table, "ALLOWED_DOMAINS": "dyn.example.com",
        "ROUTE53_REQUESTS_PER_SECOND": "100", "ROUTE53_CHANGES_PER_SECOND": "10000",
    }

    def run(*args: str, expect: int | None = 0, env: dict | None = None):
        """`expect`: the exit status (None: any)."""
        merged = {**base, **(env or {})}
        merged = {k: v for k, v in merged.items() if v is not None}
        p = subprocess.run([str(binary), *args], env=merged, capture_output=True, text=True,
                           timeout=60)
        assert expect is None or p.returncode == expect, \
            f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        return p

    return run


@pytest.fixture
def fn(start_function):
    """The binary with the standard configuration (ask for `dyn` or `dyn_public` too)."""
    return start_function()
