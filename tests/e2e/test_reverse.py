"""Reverse records (`REVERSE_RECORDS=true`): a named instance gets a PTR at the reverse
name of its private address in the private reverse zone `10.in-addr.arpa`, the PTR goes
when it stops, and an instance that has the same address after the first one terminated
takes the reverse name over. Through the strict proxy, which holds PTR sets to Route53's
rules (moto takes any value)."""

from __future__ import annotations

import botocore.exceptions
import pytest

from harness import ec2_state_change
from harness.moto import boto_client
from harness.world import qualified

WEB = "web.dyn.example.com"
DB = "db.dyn.example.com"
ADDRESS = "10.0.1.5"
REVERSE = "5.1.0.10.in-addr.arpa"
CONFIG = {"ALLOWED_DOMAINS": "dyn.example.com,10.in-addr.arpa", "REVERSE_RECORDS": "true"}


def subnet_of(world, cidr: str = "10.0.0.0/16") -> tuple[str, str]:
    """A VPC of `cidr` and its subnet 10.0.1.0/24: (vpc id, subnet id)."""
    vpc = world.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = world.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    return vpc, subnet


def ptr(world, zone: str) -> list[str] | None:
    rec = world.records(zone, types=("PTR",)).get((REVERSE, "PTR"))
    return rec[1] if rec else None


def test_a_named_instance_gets_a_ptr_that_goes_when_it_stops_and_passes_with_its_address(
        world, dyn, start_function):
    vpc, subnet = subnet_of(world)
    reverse = world.create_zone("10.in-addr.arpa", private=True, vpc_id=vpc)
    public_reverse = world.create_zone("10.in-addr.arpa")
    fn = start_function(CONFIG)

    first = world.run_instance({"dnsname": WEB}, SubnetId=subnet, PrivateIpAddress=ADDRESS)
    report = fn.invoke_ok(ec2_state_change(first, "running"))
    assert report["failed"] == [] and report["conflicts"] == [], report
    assert ptr(world, reverse) == [f"{WEB}."]
    assert world.records(dyn.private).get((WEB, "A")) == (60, [ADDRESS])
    lock = world.lock(REVERSE)
    assert lock["owner"] == qualified(first)
    assert world.marker(reverse, REVERSE)["types"] == ["PTR"]
    assert any(c["name"] == REVERSE and c["type"] == "PTR" and c["action"] == "CREATE"
               for c in report["changes"]), report
    assert world.records(public_reverse, types=("PTR", "TXT")) == {}, "never the public zone"
    assert world.status_tag(first) == "ok"

    # Stopped: the PTR goes with the name.
    world.stop(first)
    report = fn.invoke_ok(ec2_state_change(first, "stopped"))
    assert report["failed"] == [], report
    assert ptr(world, reverse) is None
    assert world.marker(reverse, REVERSE) is None
    assert world.holder(REVERSE) is None

    # Started again, then terminated without anyone hearing of it. moto keeps a
    # terminated instance's address allocated in its subnet, so the address comes back in
    # a second VPC of the same range: to ec2-dns, the same address on a new instance.
    world.start(first)
    fn.invoke_ok(ec2_state_change(first, "running"))
    assert ptr(world, reverse) == [f"{WEB}."]
    world.terminate(first)
    _, other_subnet = subnet_of(world)
    second = world.run_instance({"dnsname": DB}, SubnetId=other_subnet, PrivateIpAddress=ADDRESS)
    report = fn.invoke_ok(ec2_state_change(second, "running"))
    assert report["failed"] == [] and report["conflicts"] == [], report
    assert world.holder(REVERSE) == second
    assert ptr(world, reverse) == [f"{DB}."]
    assert world.marker(reverse, REVERSE)["owner"] == qualified(second)

    # A reconcile of everything releases the terminated holder's name and changes
    # nothing of the reverse name.
    report = fn.invoke_ok({"reconcile": "all"})
    assert report["failed"] == [], report
    assert all(c["name"] != REVERSE for c in report["changes"]), report
    assert world.holder(WEB) is None
    assert ptr(world, reverse) == [f"{DB}."]
    assert world.duplicate_record_sets(reverse) == []


def test_a_ptr_never_names_a_name_its_instance_lost(world, dyn, start_function):
    vpc, subnet = subnet_of(world)
    reverse = world.create_zone("10.in-addr.arpa", private=True, vpc_id=vpc)
    fn = start_function(CONFIG)
    holder = world.run_instance({"dnsname": WEB}, SubnetId=subnet, PrivateIpAddress="10.0.1.6")
    fn.invoke_ok(ec2_state_change(holder, "running"))
    loser = world.run_instance({"dnsname": f"{WEB},{DB}"}, SubnetId=subnet,
                               PrivateIpAddress=ADDRESS)
    report = fn.invoke_ok(ec2_state_change(loser, "running"))
    assert [c["name"] for c in report["conflicts"]] == [WEB], report
    assert ptr(world, reverse) == [f"{DB}."], "only the name it holds"
    holder_ptr = world.records(reverse, types=("PTR",)).get(("6.1.0.10.in-addr.arpa", "PTR"))
    assert holder_ptr == (60, [f"{WEB}."])
    # The holder stops: web passes to the loser in the run about the holder, which reads
    # the loser's other name (db) before it rewrites the loser's PTR: both names, at once.
    world.stop(holder)
    report = fn.invoke_ok(ec2_state_change(holder, "stopped"))
    assert report["failed"] == [], report
    assert world.holder(WEB) == loser
    assert world.records(reverse, types=("PTR",)).get(("6.1.0.10.in-addr.arpa", "PTR")) is None
    assert ptr(world, reverse) == sorted([f"{DB}.", f"{WEB}."])
    report = fn.invoke_ok({"reconcile": "all"})
    assert report["changes"] == [] and report["failed"] == [], report


def test_reverse_records_without_a_reverse_allowed_domain_refuse_to_start(ec2_dns_bin, tmp_path):
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOCK_TABLE": "locks",
           "ALLOWED_DOMAINS": "dyn.example.com", "REVERSE_RECORDS": "true"}
    p = subprocess.run([ec2_dns_bin], env=env, capture_output=True, text=True, timeout=30)
    out = (p.stdout + p.stderr).strip()
    assert p.returncode == 1, out
    assert "cannot start" in out and "no ALLOWED_DOMAINS entry is a reverse domain" in out, out


def test_the_proxy_holds_ptr_sets_to_route53s_rules(world, proxy):
    vpc, _ = subnet_of(world)
    zone = world.create_zone("10.in-addr.arpa", private=True, vpc_id=vpc)
    r53 = boto_client("route53", proxy.url)

    def change(action, values):
        return r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
            "Action": action, "ResourceRecordSet": {
                "Name": REVERSE, "Type": "PTR", "TTL": 60,
                "ResourceRecords": [{"Value": v} for v in values]}}]})

    for bad in ["web..dyn.example.com.", "a" * 64 + ".example.com."]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            change("CREATE", [bad])
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidChangeBatch", err
        assert "Invalid Resource Record: 'FATAL problem: DomainLabel" in err["Message"], err
    assert ptr(world, zone) is None, "moto was never asked"
    change("CREATE", [f"{WEB}.", f"{DB}."])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        change("CREATE", [f"{WEB}."])
    assert "already exists" in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        change("DELETE", [f"{WEB}."])
    assert "do not match" in e.value.response["Error"]["Message"]
    assert ptr(world, zone) == sorted([f"{WEB}.", f"{DB}."])
