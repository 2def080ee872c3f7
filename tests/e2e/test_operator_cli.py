"""The operator CLI `ec2-dns-ctl`, run as an operator would: against (emulated) AWS with its
own credentials, sharing the lock table and the rules of the Lambda."""

from __future__ import annotations

import json

WEB = "web.dyn.example.com"


def test_plan_shows_the_changes_and_writes_nothing_then_apply_makes_them(world, dyn, ctl, proxy):
    web = world.run_instance({"dnsname": WEB})
    proxy.reset_calls()
    plan = ctl("plan")
    status = ctl("status")
    assert proxy.write_calls() == {}, proxy.write_calls()
    assert "no names are held" in status.stdout
    assert plan.stdout.startswith("2 record set(s) would change"), plan.stdout
    assert f"CREATE  {WEB}" in plan.stdout and world.public_ip(web) in plan.stdout
    assert world.name_locks() == {}
    applied = json.loads(ctl("apply", "--json").stdout)
    assert {c["action"] for c in applied["changes"]} == {"CREATE"}
    assert world.holder(WEB) == web
    assert "AWS API call(s)" in ctl("plan").stderr


def test_status_lists_owned_names_and_release_frees_a_stuck_one(world, dyn, ctl):
    web = world.run_instance({"dnsname": WEB})
    ctl("apply")
    status = json.loads(ctl("status", "--json").stdout)
    assert [(s["name"], s["owner"], s["owner_state"]) for s in status] == [
        (WEB, f"123456789012/us-east-1/{web}", "running")]
    # The owner still runs and claims the name: the CLI refuses.
    refused = ctl("release", WEB, expect=1)
    assert "still claims it" in refused.stderr
    # Its tag is removed but no event arrives: the operator releases the name.
    world.ec2.delete_tags(Resources=[web], Tags=[{"Key": "dnsname"}])
    ctl("release", WEB)
    assert world.holder(WEB) is None
    assert (WEB, "A") not in world.records(dyn.public)
    assert (WEB, "A") not in world.records(dyn.private)
    assert ctl("status").stdout.strip() == "no names are held"


def test_bad_arguments_and_configuration_are_clear_errors(ctl):
    assert "unknown command" in ctl("deploy", expect=1).stderr
    assert "wildcards are not allowed" in ctl("release", "*.dyn.example.com", expect=1).stderr


def test_rebuild_recreates_a_lost_lock_table_from_the_markers(world, dyn, fn, ctl, proxy):
    from harness import ec2_state_change
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    before = world.lock(WEB)
    for pk in list(world.lock_items()):
        if not pk.startswith("config#"):
            world.dynamodb.delete_item(TableName=world.lock_table, Key={"pk": {"S": pk}})

    proxy.reset_calls()
    dry = ctl("rebuild", "--dry-run")
    assert "1 lock item(s) would be rebuilt" in dry.stdout, dry.stdout
    assert proxy.write_calls() == {}
    ctl("rebuild")

    after = world.lock(WEB)
    assert (after["owner"], after["gen"], after["records"]) == \
        (before["owner"], before["gen"], before["records"])
    assert WEB in world.owner_index(web)["names"]
    # and the function goes on from there: the stop releases the name.
    world.stop(web)
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    assert world.holder(WEB) is None and (WEB, "A") not in world.records(dyn.public)
