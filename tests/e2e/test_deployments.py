"""Two deployments of one account and region share a hosted zone (production and
staging, each with its own lock table and name tag): neither deletes, takes or rewrites
the other's records, and a name both want is a conflict, not a takeover."""

from __future__ import annotations

from harness import World, ec2_state_change
from harness.world import marker_name, qualified

WEB = "web.dyn.example.com"
API = "api.dyn.example.com"
SHARED = "shared.dyn.example.com"
STAGING_TABLE = "ec2-dns-staging"


def a_record(world: World, zone: str, name: str) -> list[str] | None:
    rec = world.records(zone).get((name, "A"))
    return rec[1] if rec else None


def staging(world: World, start_function):
    world.create_lock_table(STAGING_TABLE)
    fn = start_function({"LOCK_TABLE": STAGING_TABLE, "NAME_TAG": "dnsname-staging",
                         "DEPLOYMENT_ID": "staging"})
    return fn, World(world.url, lock_table=STAGING_TABLE)


def test_two_deployments_sharing_a_zone_keep_their_own_records(world, dyn, fn, start_function):
    stage_fn, stage_world = staging(world, start_function)
    web = world.run_instance({"dnsname": WEB})
    api = world.run_instance({"dnsname-staging": API})
    fn.invoke_ok(ec2_state_change(web, "running"))
    stage_fn.invoke_ok(ec2_state_change(api, "running"))
    web_ip, api_ip = world.public_ip(web), world.public_ip(api)
    assert a_record(world, dyn.public, WEB) == [web_ip]
    assert a_record(world, dyn.public, API) == [api_ip]
    assert world.marker(dyn.public, API)["deployment"] == "staging"
    prod_id = world.marker(dyn.public, WEB)["deployment"]
    assert prod_id and prod_id != "staging", prod_id

    # Each reconciles everything, twice: the other's records are someone else's.
    for _ in range(2):
        for f in (fn, stage_fn):
            report = f.invoke_ok({"reconcile": "all"})
            assert report["changes"] == [], report
    assert a_record(world, dyn.public, WEB) == [web_ip]
    assert a_record(world, dyn.public, API) == [api_ip]
    assert world.marker(dyn.public, WEB)["owner"] == qualified(web)
    assert world.marker(dyn.public, API)["owner"] == qualified(api)
    assert stage_world.holder(API) == api and world.holder(API) is None

    # A stop in staging removes only staging's name.
    world.stop(api)
    stage_fn.invoke_ok(ec2_state_change(api, "stopped"))
    assert a_record(world, dyn.public, API) is None
    assert (marker_name(API), "TXT") not in world.records(dyn.public)
    assert a_record(world, dyn.public, WEB) == [web_ip]


def test_a_name_held_by_the_other_deployment_is_a_conflict(world, dyn, fn, start_function):
    stage_fn, stage_world = staging(world, start_function)
    theirs = world.run_instance({"dnsname-staging": SHARED})
    stage_fn.invoke_ok(ec2_state_change(theirs, "running"))
    ours = world.run_instance({"dnsname": SHARED})

    report = fn.invoke_ok(ec2_state_change(ours, "running"))

    reasons = [c["reason"] for c in report["conflicts"]]
    assert any("of another deployment" in r for r in reasons), report
    assert "of another deployment" in world.status_tag(ours), world.status_tag(ours)
    assert a_record(world, dyn.public, SHARED) == [world.public_ip(theirs)]
    assert stage_world.holder(SHARED) == theirs
    again = fn.invoke_ok({"reconcile": "all"})
    assert [c for c in again["changes"] if c["zone_id"] == dyn.public] == [], again
    assert a_record(world, dyn.public, SHARED) == [world.public_ip(theirs)]
    assert world.marker(dyn.public, SHARED)["deployment"] == "staging"
