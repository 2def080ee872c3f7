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


# -- what an operator can rely on: help, guards, exit codes, readable errors ---------------

DOMAIN = "dyn.example.com"


def _error_lines(stderr: str) -> list[str]:
    """The CLI's error lines: one per error, readable, never the SDK's debug output."""
    lines = [line for line in stderr.splitlines() if line.startswith("ec2-dns-ctl:")]
    for line in lines:
        assert len(line) < 400 and "ServiceError" not in line and "DispatchFailure" not in line, line
    return lines


def test_help_is_on_stdout_with_exit_status_0(ctl):
    for flag in ("--help", "-h", "help"):
        p = ctl(flag, env={"LOCK_TABLE": None})
        assert "ec2-dns-ctl" in p.stdout and "apply" in p.stdout and "--force" in p.stdout, p.stdout
        assert p.stderr == ""


def test_status_never_says_ok_for_a_name_blocked_in_one_of_its_zones(world, dyn, ctl):
    world.put_record(dyn.private, WEB, "CNAME", 300, ["elsewhere.example.net"])
    web = world.run_instance({"dnsname": WEB})
    ctl("apply")
    assert (WEB, "A") in world.records(dyn.public)
    [row] = json.loads(ctl("status", "--json").stdout)
    assert row["instance"] == web
    assert row["route53"] != "ok" and "blocked" in row["route53"] and "CNAME" in row["route53"], \
        row["route53"]
    assert "A blocked in dyn.example.com (private) by CNAME" in ctl("status").stdout


def test_the_cli_speaks_like_the_aws_cli(world, dyn, ctl, tmp_path):
    # One line and a suggestion for a typo, not the usage.
    p = ctl("plna", expect=1, env={"LOCK_TABLE": None})
    assert p.stderr.strip().count("\n") == 0 and 'did you mean "plan"' in p.stderr, p.stderr
    p = ctl("status", "--jsno", expect=1, env={"LOCK_TABLE": None})
    assert 'did you mean "--json"' in p.stderr, p.stderr
    # help COMMAND and COMMAND --help: that command's usage only.
    for argv in (("help", "release"), ("release", "--help")):
        p = ctl(*argv, env={"LOCK_TABLE": None})
        assert "release NAME [--dry-run]" in p.stdout and "rebuild" not in p.stdout, p.stdout
    p = ctl("--version", env={"LOCK_TABLE": None})
    assert p.stdout.startswith("ec2-dns-ctl ") and p.stdout.strip().split()[1][0].isdigit(), p.stdout
    # A missing profile is said to be one, not "no AWS region".
    config = tmp_path / "aws-config"
    config.write_text("[profile ops]\nregion = us-east-1\n")
    p = ctl("status", "--profile", "opps", expect=1, env={"AWS_CONFIG_FILE": str(config)})
    assert 'the profile "opps" (--profile)' in p.stderr and "no AWS region" not in p.stderr, p.stderr
    p = ctl("status", expect=1, env={"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "prod"})
    assert "(AWS_PROFILE)" in p.stderr, p.stderr
    # --region wins over AWS_REGION (no region at all otherwise).
    p = ctl("status", "--region", "us-east-1", env={"AWS_REGION": None})
    assert p.stdout.strip() == "no names are held", p.stdout


def test_apply_refuses_a_mass_deletion_without_force_and_writes_nothing(world, dyn, ctl, proxy):
    ids = [world.run_instance({"dnsname": f"n{i}.{DOMAIN}"}) for i in range(6)]
    ctl("apply")
    for iid in ids:
        world.stop(iid)
    before = (world.records(dyn.public), world.records(dyn.private), world.name_locks())
    proxy.reset_calls()
    refused = ctl("apply", expect=1)
    assert proxy.write_calls() == {}, proxy.write_calls()
    assert (world.records(dyn.public), world.records(dyn.private), world.name_locks()) == before
    [line] = _error_lines(refused.stderr)
    assert "more than the 10 allowed without force; nothing was changed" in line, line
    assert "ec2-dns-ctl apply --force" in refused.stderr
    # plan shows what apply would do; --force is for apply only.
    assert ctl("plan").stdout.startswith("12 record set(s) would change")
    ctl("plan", "--force", expect=1)
    ctl("apply", "--force")
    assert world.held_locks() == {}
    assert not [k for k in world.records(dyn.public) if k[1] == "A"]


def test_an_unknown_instance_id_is_an_error_not_an_empty_plan(world, dyn, ctl, proxy):
    known = world.run_instance({"dnsname": WEB})
    p = ctl("plan", "--instances", f"{known},i-0123456789abcdef0", expect=1)
    [line] = _error_lines(p.stderr)
    assert "no such instance" in line and "i-0123456789abcdef0" in line and known not in line, line
    assert p.stdout == ""


def test_conflicts_exit_0_or_3_when_asked_and_status_shows_waiting_claimants(world, dyn, ctl):
    import time

    first = world.run_instance({"dnsname": WEB})
    time.sleep(1.1)
    second = world.run_instance({"dnsname": WEB})
    p = ctl("apply", expect=0)
    assert ", 1 conflict(s)," in p.stdout.splitlines()[0], p.stdout
    # Said once: in the report on stdout, not again as a log line on stderr.
    assert "not published" not in p.stderr and second not in p.stderr, p.stderr
    p = ctl("plan", env={"EC2DNS_LOG": "warn"})
    assert "name not published" in p.stderr, p.stderr
    ctl("plan", expect=0)
    ctl("plan", "--detailed-exitcode", expect=3)
    ctl("apply", "--detailed-exitcode", expect=3)
    table = ctl("status").stdout
    assert "ROUTE53" in table and f"    waiting: {second}" in table, table
    assert all(len(line) <= 120 for line in table.splitlines()), table
    assert "dyn.example.com (public)" in table and "dyn.example.com (private)" in table, table
    [row] = json.loads(ctl("status", "--json").stdout)
    assert row["instance"] == first and row["waiting"] == [f"123456789012/us-east-1/{second}"]
    assert row["route53"] == "ok"
    assert {(r["type"], r["zone"], r["private"], r["ttl"]) for r in row["records"]} == {
        ("A", DOMAIN, False, 60), ("A", DOMAIN, True, 60)}
    # Someone deletes the public record behind ec2-dns's back: status says so.
    world.delete_record(dyn.public, WEB, "A")
    [row] = json.loads(ctl("status", "--json").stdout)
    assert row["route53"] != "ok" and "missing" in row["route53"], row["route53"]


def test_release_rewrites_the_status_tag_and_logs_its_audit_line(world, dyn, ctl):
    web = world.run_instance({"dnsname": WEB})
    ctl("apply")
    assert world.status_tag(web).startswith("ok"), world.status_tag(web)
    world.ec2.delete_tags(Resources=[web], Tags=[{"Key": "dnsname"}])
    p = ctl("release", WEB)
    assert "name released by an operator" in p.stderr and "manual-release" in p.stderr, p.stderr
    tag = world.status_tag(web)
    assert tag is not None and not tag.startswith("ok"), tag


def test_a_ttl_change_shows_in_the_plan(world, dyn, ctl, start_function):
    world.run_instance({"dnsname": WEB})
    start_function({"RECORD_TTL": "60"})
    ctl("apply", env={"ALLOWED_DOMAINS": None})
    # Redeployed with another TTL: the function records it, the CLI acts with it.
    start_function({"RECORD_TTL": "300"})
    plan = ctl("plan", env={"ALLOWED_DOMAINS": None})
    assert "DELETE+CREATE" in plan.stdout and "60 -> 300" in plan.stdout, plan.stdout
    assert "Route53 is sent only CREATE and DELETE" in plan.stdout, plan.stdout
    rows = json.loads(ctl("plan", "--json", env={"ALLOWED_DOMAINS": None}).stdout)["changes"]
    assert {(r["action"], r["old_ttl"], r["ttl"]) for r in rows if r["type"] == "A"} == {
        ("UPDATE", 60, 300)}


def test_aws_errors_are_one_line_naming_the_resource_and_the_fix(world, dyn, ctl, proxy):
    p = ctl("status", expect=1, env={"LOCK_TABLE": "no-such-table"})
    [line] = _error_lines(p.stderr)
    assert 'lock table "no-such-table" does not exist' in line and "LOCK_TABLE" in line, line

    fault = proxy.add_fault(service="route53", operation="ListHostedZones", fault="access_denied")
    p = ctl("plan", expect=1)
    [line] = _error_lines(p.stderr)
    assert "access denied" in line and "route53:ListHostedZones" in line, line
    assert fault.fired == 1

    p = ctl("plan", expect=1, env={"AWS_REGION": None})
    [line] = _error_lines(p.stderr)
    assert "no AWS region" in line and "AWS_REGION" in line, line
    assert "IMDS" not in p.stderr, p.stderr

    p = ctl("plan", expect=1, env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    [line] = _error_lines(p.stderr)
    assert "no AWS credentials found" in line and "AWS_PROFILE" in line, line


def test_an_allowed_domain_without_a_zone_is_warned_about(world, dyn, ctl):
    world.run_instance({"dnsname": WEB})
    p = ctl("plan", expect=3, env={"ALLOWED_DOMAINS": "dyn.example.com,dyn.exmaple.com"})
    assert "warning: no hosted zone serves the allowed domain dyn.exmaple.com" in p.stdout, p.stdout
    assert "dyn.exmaple.com" not in p.stderr.replace("ALLOWED_DOMAINS", ""), p.stderr
