"""Events are hints: stale, duplicate, batched, ignored and malformed ones."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from harness import (LambdaError, ProcessExited, address_call, ec2_state_change, scheduled, sqs_event,
                     tag_change)
from e2e.expect import absent, published, zone_ids

WEB = "web.dyn.example.com"
API = "api.dyn.example.com"


def test_a_stale_stopped_event_for_a_running_instance_changes_nothing(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    before = world.snapshot(zone_ids(dyn), [web])

    fn.invoke_ok(ec2_state_change(web, "stopped"))

    assert world.snapshot(zone_ids(dyn), [web]) == before
    published(world, dyn, WEB, web)


def test_a_late_running_event_for_a_stopped_instance_does_not_bring_the_name_back(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    before = world.snapshot(zone_ids(dyn), [web])

    fn.invoke_ok(ec2_state_change(web, "running"))

    assert world.snapshot(zone_ids(dyn), [web]) == before
    absent(world, dyn, WEB)


def test_a_duplicate_event_writes_nothing(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    event = ec2_state_change(web, "running")
    fn.invoke_ok(event)
    before = world.snapshot(zone_ids(dyn), [web])
    version = world.lock(WEB)["version"]
    proxy.reset_calls()

    report = fn.invoke_ok(event)

    assert proxy.write_calls() == {}, f"second delivery wrote: {proxy.write_calls()}"
    assert report["changes"] == []
    assert world.snapshot(zone_ids(dyn), [web]) == before
    assert world.lock(WEB)["version"] == version


def test_an_sqs_batch_reports_exactly_the_malformed_message(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    api = world.run_instance({"dnsname": API})
    batch = sqs_event([ec2_state_change(web, "running"), "{not json",
                       ec2_state_change(api, "running")])

    answer = fn.invoke_ok(batch)

    bad_id = batch["Records"][1]["messageId"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    published(world, dyn, WEB, web)
    published(world, dyn, API, api)


def test_an_sqs_batch_with_an_event_that_is_not_ec2_reports_it(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    batch = sqs_event([{"hello": "world"}, ec2_state_change(web, "running")])

    answer = fn.invoke_ok(batch)

    assert answer == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    published(world, dyn, WEB, web)


def test_an_sqs_batch_of_good_events_has_no_failures(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    event = ec2_state_change(web, "running")
    batch = sqs_event([event, event, scheduled()])

    answer = fn.invoke_ok(batch)

    assert answer == {"batchItemFailures": []}
    published(world, dyn, WEB, web)


def test_a_tag_change_of_other_tags_is_ignored(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    world.set_tags(web, {"Name": "web"})
    proxy.reset_calls()

    fn.invoke_ok(tag_change(web, ["Name"], world.tags(web)))

    absent(world, dyn, WEB)
    assert proxy.write_calls() == {}


def test_a_tag_change_of_the_name_tag_publishes(world, dyn, fn):
    web = world.run_instance({"Name": "web"})
    world.set_tags(web, {"dnsname": WEB})

    fn.invoke_ok(tag_change(web, ["dnsname"], world.tags(web)))

    published(world, dyn, WEB, web)


MALFORMED = [
    {},
    [],
    "x",
    42,
    None,
    {"reconcile": 5},
    {"reconcile": "some"},
    {"reconcile": {"instance_ids": "i-1"}},
    {"Records": "nope"},
    {"version": "0", "id": "1", "detail-type": "EC2 Instance State-change Notification",
     "source": "aws.ec2", "account": "123456789012", "time": "2026-11-23T17:00:00Z",
     "region": "us-east-1", "resources": []},
    {"version": "0", "id": "1", "detail-type": "EC2 Instance State-change Notification",
     "source": "aws.ec2", "account": "123456789012", "time": "2026-11-23T17:00:00Z",
     "region": "us-east-1", "resources": [], "detail": {"state": "running"}},
]


def test_malformed_payloads_get_invalid_input_and_the_function_keeps_serving(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    answers = {}
    for payload in MALFORMED:
        result = fn.invoke(payload)
        answers[json.dumps(payload)[:60]] = (
            result.error_type if isinstance(result, LambdaError) else result)
        assert not isinstance(result, ProcessExited), f"process died on {payload!r}"
    assert answers == {k: "InvalidInput" for k in answers}

    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)


def test_a_missing_lock_table_fails_at_init_naming_it(dyn, start_function):
    fn = start_function({"LOCK_TABLE": None})

    result = fn.invoke(ec2_state_change("i-0123456789abcdef0", "running"), timeout=20)

    assert isinstance(result, ProcessExited), f"expected an init failure, got {result!r}"
    assert result.exit_code == 1
    assert "LOCK_TABLE" in result.output


def test_every_configuration_problem_is_reported_at_once(dyn, start_function):
    fn = start_function({"LOCK_TABLE": None, "ALLOWED_DOMAINS": None, "RECORD_TTL": "0"})

    result = fn.invoke({"reconcile": "all"}, timeout=20)

    assert isinstance(result, ProcessExited), f"expected an init failure, got {result!r}"
    assert result.exit_code != 0
    for variable in ("LOCK_TABLE", "ALLOWED_DOMAINS", "RECORD_TTL"):
        assert variable in result.output, f"{variable} not named in: {result.output[-2000:]}"


def test_the_function_logs_json_lines(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    fn.invoke({"reconcile": 5})

    lines = [line for line in (fn.stdout() + fn.stderr()).splitlines() if line.strip()]
    assert lines, "the function logged nothing"
    not_json = [line for line in lines if not _is_json_object(line)]
    assert not_json == [], f"log lines that are not JSON objects: {not_json[:3]}"


def test_control_characters_in_a_refused_tag_stay_inside_one_json_log_field(world, dyn, fn):
    # A tagger writes line breaks and a forged log record into the tag: the refusal is
    # logged, and the forged record stays text inside that one line's field.
    forged = '{"forged":true}'  # no comma: the tag splits at commas into entries
    tag = f"web\r\n{forged}\n\tx.dyn.example.com"
    bad = world.run_instance({"dnsname": tag})

    report = fn.invoke_ok(ec2_state_change(bad, "running"))

    assert report["changes"] == [] and [s["instance"] for s in report["skipped"]] == [bad]
    lines = [line for line in (fn.stdout() + fn.stderr()).splitlines() if line.strip()]
    assert [line for line in lines if not _is_json_object(line)] == []
    parsed = [json.loads(line) for line in lines]
    assert not any(p.get("forged") for p in parsed), "the forged record became a log line"
    refusals = [json.dumps(p) for p in parsed if "forged" in json.dumps(p)]
    assert refusals, "the refusal was not logged"
    assert any("invalid" in r and bad in r for r in refusals), refusals
    status = world.status_tag(bad)
    assert status.startswith("invalid: ") and not any(c in status for c in "\r\n\t"), status


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_an_elastic_ip_moved_onto_and_off_an_instance_moves_its_record(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    first = world.public_ip(web)
    eip = world.ec2.allocate_address(Domain="vpc")
    assoc = world.ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=web)
    assert world.public_ip(web) == eip["PublicIp"] != first

    # CloudTrail records the call; EventBridge delivers it: the one instance is looked at.
    proxy.reset_calls()
    fn.invoke_ok(address_call("AssociateAddress", {"allocationId": eip["AllocationId"],
                                                   "instanceId": web}))
    published(world, dyn, WEB, web)
    assert world.records(dyn.public)[(WEB, "A")] == (60, [eip["PublicIp"]])
    assert "dynamodb:Scan" not in proxy.calls(), proxy.calls()

    # Off again: the event names no instance, so everything is looked at.
    world.ec2.disassociate_address(AssociationId=assoc["AssociationId"])
    proxy.reset_calls()
    fn.invoke_ok(address_call("DisassociateAddress", {"associationId": assoc["AssociationId"]}))
    assert proxy.calls().get("dynamodb:Scan") == 1, proxy.calls()
    assert world.public_ip(web) not in (None, eip["PublicIp"])  # a new address, as on AWS
    published(world, dyn, WEB, web)

    # A call that failed changed nothing, and is not even looked at.
    proxy.reset_calls()
    answer = fn.invoke_ok(address_call("AssociateAddress", {"instanceId": web},
                                       error_code="Client.InvalidAllocationID.NotFound"))
    assert "failed" in answer["ignored"], answer
    assert proxy.calls() == {}, proxy.calls()


def test_an_address_event_older_than_the_last_clean_reconcile_of_everything_costs_one_read(
        world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(scheduled())
    assert world.lock_items()["swept#reconciler"]["started"] > 0
    eip = world.ec2.allocate_address(Domain="vpc")
    assoc = world.ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=web)
    world.ec2.disassociate_address(AssociationId=assoc["AssociationId"])
    off = {"associationId": assoc["AssociationId"]}

    # Delivered late (or again): the reconcile of everything that started after it was
    # emitted has served it.
    long_ago = (datetime.now(timezone.utc) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    proxy.reset_calls()
    answer = fn.invoke_ok(address_call("DisassociateAddress", off, time=long_ago))
    assert "finished without failures" in answer["ignored"], answer
    assert proxy.calls() == {"dynamodb:GetItem": 1}, proxy.calls()

    # Emitted now: reconciled, and recorded for the events it serves.
    proxy.reset_calls()
    fn.invoke_ok(address_call("DisassociateAddress", off))
    assert proxy.calls().get("dynamodb:Scan") == 1, proxy.calls()
    published(world, dyn, WEB, web)


def test_a_function_started_without_its_configuration_says_so_in_one_line(ec2_dns_bin, tmp_path):
    import subprocess
    from pathlib import Path

    for binary in (Path(ec2_dns_bin), Path(ec2_dns_bin).with_name("ec2-dns-ddns")):
        for env, says in (({}, "LOCK_TABLE is required"),
                          ({"LOCK_TABLE": "locks", "ALLOWED_DOMAINS": "dyn.example.com"},
                           "no AWS region")):
            p = subprocess.run([str(binary)], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                   **env},
                               capture_output=True, text=True, timeout=30)
            out = (p.stdout + p.stderr).strip()
            assert p.returncode == 1, (binary.name, out)
            assert len(out.splitlines()) == 1 and "cannot start" in out and says in out, \
                (binary.name, out)
            assert "IMDS" not in out and "Config(" not in out, (binary.name, out)
