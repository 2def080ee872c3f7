"""The operator CLI `ec2-dns-ctl`, run as an operator would: against (emulated) AWS with its
own credentials, sharing the lock table and the rules of the Lambda."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

WEB = "web.dyn.example.com"


@pytest.fixture
def ctl(proxy, world, tmp_path, ec2_dns_bin):
    binary = Path(ec2_dns_bin).with_name("ec2-dns-ctl")
    if not binary.exists():
        pytest.fail(f"{binary} not found: run `cargo build`", pytrace=False)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LOCK_TABLE": world.lock_table, "ALLOWED_DOMAINS": "dyn.example.com",
    }

    def run(*args: str, expect: int = 0):
        p = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == expect, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        return p

    return run


def test_plan_shows_the_changes_and_writes_nothing_then_apply_makes_them(world, dyn, ctl):
    web = world.run_instance({"dnsname": WEB})
    plan = ctl("plan")
    assert plan.stdout.startswith("2 record set(s) would change"), plan.stdout
    assert f"CREATE  {WEB}" in plan.stdout and world.public_ip(web) in plan.stdout
    assert world.lock_items() == {}
    applied = json.loads(ctl("apply", "--json").stdout)
    assert {c["action"] for c in applied["changes"]} == {"CREATE"}
    assert world.lock(WEB)["owner"] == web
    assert "AWS API call(s)" in ctl("plan").stderr


def test_status_lists_owned_names_and_release_frees_a_stuck_one(world, dyn, ctl):
    web = world.run_instance({"dnsname": WEB})
    ctl("apply")
    status = json.loads(ctl("status", "--json").stdout)
    assert [(s["name"], s["owner"], s["owner_state"]) for s in status] == [(WEB, web, "running")]
    # The owner still runs and claims the name: the CLI refuses.
    refused = ctl("release", WEB, expect=1)
    assert "still claims it" in refused.stderr
    # Its tag is removed but no event arrives: the operator releases the name.
    world.ec2.delete_tags(Resources=[web], Tags=[{"Key": "dnsname"}])
    ctl("release", WEB)
    assert world.lock(WEB) is None
    assert (WEB, "A") not in world.records(dyn.public)
    assert (WEB, "A") not in world.records(dyn.private)
    assert ctl("status").stdout.strip() == "no names are owned"


def test_bad_arguments_and_configuration_are_clear_errors(ctl):
    assert "unknown command" in ctl("deploy", expect=1).stderr
    assert "wildcards are not allowed" in ctl("release", "*.dyn.example.com", expect=1).stderr
