"""Who owns a name: conflicts, handover, renames, hostile tags, records we did not write."""

from __future__ import annotations

import pytest

from harness import ec2_state_change, tag_change
from harness import World
from harness.world import qualified
from e2e.expect import absent, no_dns_state, published

WEB = "web.dyn.example.com"
API = "api.dyn.example.com"


def test_second_instance_with_the_same_name_does_not_take_over(world, dyn, fn):
    first = world.run_instance({"dnsname": WEB})
    second = world.run_instance({"dnsname": WEB})

    fn.invoke_ok(ec2_state_change(first, "running"))
    report = fn.invoke_ok(ec2_state_change(second, "running"))

    published(world, dyn, WEB, first)
    assert [(c["name"], c["instance"], c["holder"]) for c in report["conflicts"]] == [
        (WEB, second, qualified(first))]
    assert report["changes"] == []
    assert world.status_tag(second) == f"conflict: {WEB} is owned by {first}"
    index = world.owner_index(second)
    assert index is None or WEB not in index.get("names", [])
    assert world.lock(WEB)["waiting"] == [qualified(second)], "it waits for the name"


def test_when_the_owner_stops_the_name_is_handed_over_to_the_waiting_instance(world, dyn, fn):
    first = world.run_instance({"dnsname": WEB})
    second = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(first, "running"))
    fn.invoke_ok(ec2_state_change(second, "running"))
    version = world.lock(WEB)["version"]

    world.stop(first)
    fn.invoke_ok(ec2_state_change(first, "stopped"))

    lock = published(world, dyn, WEB, second)
    assert lock["version"] > version
    assert world.status_tag(first) == f"released (instance stopped; handed over to {second})", \
        world.status_tag(first)
    index = world.owner_index(first)
    assert index is None or WEB not in index.get("names", [])


def test_when_the_owner_is_terminated_the_name_is_handed_over(world, dyn, fn):
    first = world.run_instance({"dnsname": WEB})
    second = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(first, "running"))
    fn.invoke_ok(ec2_state_change(second, "running"))

    world.terminate(first)
    fn.invoke_ok(ec2_state_change(first, "terminated"))

    published(world, dyn, WEB, second)


def test_a_stopped_owner_can_be_taken_over_when_its_event_was_lost(world, dyn, fn):
    first = world.run_instance({"dnsname": WEB})
    second = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(first, "running"))
    fn.invoke_ok(ec2_state_change(second, "running"))

    world.stop(first)  # its stopped event never arrives
    fn.invoke_ok(ec2_state_change(second, "running"))

    published(world, dyn, WEB, second)


def test_rename_by_tag_change_releases_the_old_name_and_claims_the_new(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))

    world.set_tags(web, {"dnsname": API})
    fn.invoke_ok(tag_change(web, ["dnsname"], world.tags(web)))

    absent(world, dyn, WEB)
    published(world, dyn, API, web, status=False)
    assert world.status_tag(web) == (
        f"ok: {API}; released: {WEB} (no longer claimed by the instance)")
    assert world.owner_index(web)["names"] == [API]


def test_removing_the_tag_releases_the_name(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))

    world.delete_tags(web, ["dnsname"])
    fn.invoke_ok(tag_change(web, ["dnsname"], world.tags(web)))

    absent(world, dyn, WEB)
    status = world.status_tag(web)
    assert status is None or status.startswith("released ("), status


def test_removing_the_tag_from_the_owner_hands_the_name_over(world, dyn, fn):
    first = world.run_instance({"dnsname": WEB})
    second = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(first, "running"))
    fn.invoke_ok(ec2_state_change(second, "running"))

    world.delete_tags(first, ["dnsname"])
    fn.invoke_ok(tag_change(first, ["dnsname"], world.tags(first)))

    published(world, dyn, WEB, second)


HOSTILE = [
    "*.dyn.example.com",
    "dyn.example.com",
    "evil.com",
    "a..b.dyn.example.com",
    "a" * 64 + ".dyn.example.com",
    "web.dyn.example.com.evil.com",
    "-web.dyn.example.com",
    "web_1.dyn.example.com",
    "xdyn.example.com",
]


@pytest.mark.parametrize("name", HOSTILE, ids=lambda n: n[:24])
def test_hostile_names_get_no_record_and_no_lock(world, dyn, fn, name):
    bad = world.run_instance({"dnsname": name})

    report = fn.invoke_ok(ec2_state_change(bad, "running"))

    no_dns_state(world, dyn)
    assert report["changes"] == []
    assert [s["instance"] for s in report["skipped"]] == [bad]
    status = world.status_tag(bad)
    assert status is not None and status.startswith("invalid: "), status


def test_a_hostile_name_does_not_spoil_the_valid_one_beside_it(world, dyn, fn):
    web = world.run_instance({"dnsname": f"evil.com,{WEB}"})

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web, status=False)
    assert [s["name"] for s in report["skipped"]] == ["evil.com"]
    status = world.status_tag(web)
    assert f"ok: {WEB}" in status and "invalid: evil.com" in status, status


def test_a_record_ec2_dns_did_not_write_is_left_alone_and_reported(world, dyn_public, fn, proxy):
    dyn = dyn_public
    world.put_record(dyn.public, WEB, "A", 300, ["192.0.2.10"])
    web = world.run_instance({"dnsname": WEB})

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    assert world.records(dyn.public) == {(WEB, "A"): (300, ["192.0.2.10"])}
    assert world.duplicate_record_sets(dyn.public) == []
    assert [(c["name"], c["instance"], c["holder"]) for c in report["conflicts"]] == [
        (WEB, web, None)]
    assert report["failed"] == []
    lock = world.lock(WEB)
    assert World.lock_records(lock) == [] and "A" in lock["blocked"], lock
    assert world.status_tag(web) == f"conflict: {WEB} has an A record ec2-dns did not write"

    # and it stays that way on the next round, without a Route53 write
    proxy.reset_calls()
    again = fn.invoke_ok(ec2_state_change(web, "running"))
    assert len(again["conflicts"]) == 1 and proxy.write_calls() == {}
    assert world.records(dyn.public)[(WEB, "A")] == (300, ["192.0.2.10"])
    assert world.marker(dyn.public, WEB) is None


def test_a_cname_at_the_name_is_a_conflict_reported_once_per_run_not_retried(world, dyn, fn, proxy):
    world.change_record(dyn.public, "UPSERT", WEB, "CNAME", 300, ["elsewhere.example.net."])
    web = world.run_instance({"dnsname": WEB})

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    assert report["failed"] == [], report
    assert [c["reason"] for c in report["conflicts"]] == [
        "has a CNAME record ec2-dns did not write"]
    assert world.records(dyn.public, types=("CNAME",))[(WEB, "CNAME")][1] == ["elsewhere.example.net."]
    assert (WEB, "A") not in world.records(dyn.public)
    assert world.records(dyn.private)[(WEB, "A")][1] == [world.private_ip(web)]
    assert world.status_tag(web) == (
        f"ok: {WEB}; conflict: {WEB} has a CNAME record ec2-dns did not write")
    for payload in (ec2_state_change(web, "running"), {"reconcile": "all"}):
        proxy.reset_calls()
        again = fn.invoke_ok(payload)
        assert again["failed"] == [] and again["changes"] == [], again
        assert proxy.write_calls() == {}
