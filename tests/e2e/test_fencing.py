"""Fenced ownership end to end: real function processes, a proxy that holds or fails single
calls, moto underneath. Each test is a defect of the unfenced protocol, tried as a user
would meet it; afterwards nothing is orphaned and nothing is stuck."""

from __future__ import annotations

import json
import threading
import time

from harness import LambdaError, ec2_state_change, sqs_event
from harness.world import qualified
from e2e.expect import absent, published

WEB = "web.dyn.example.com"
APP = "app.other.example.org"


def in_thread(fn, payload, **kw):
    """Invoke in a thread; returns (thread, box) where box[0] is the answer."""
    box: list = []
    t = threading.Thread(target=lambda: box.append(fn.invoke(payload, **kw)), daemon=True)
    t.start()
    return t, box


def test_a_slow_claim_racing_a_stop_is_waited_for_and_leaves_no_orphan(world, dyn, start_function,
                                                                       proxy):
    claimer, stopper = start_function(), start_function()
    web = world.run_instance({"dnsname": WEB})
    hold = proxy.hold("route53", "ChangeResourceRecordSets", phase="before",
                      path=f"/hostedzone/{dyn.public}/")
    t, claimed = in_thread(claimer, ec2_state_change(web, "running"))
    assert hold.wait_held(20), "the claim's CREATE never reached Route53"

    world.stop(web)
    during = stopper.invoke(ec2_state_change(web, "stopped"))

    # The claim's change is in flight: the stop does not release the name under it, it
    # asks to be retried.
    assert isinstance(during, LambdaError) and during.error_type == "Retryable", during
    assert "in flight" in during.error_message
    assert world.holder(WEB) == web
    hold.release()
    t.join(30)
    assert claimed and not isinstance(claimed[0], LambdaError), claimed
    assert (WEB, "A") in world.records(dyn.public), "the slow claim landed"

    stopper.invoke_ok(ec2_state_change(web, "stopped"))
    absent(world, dyn, WEB)
    # The name is free for the next claimant, with nothing in the way.
    other = world.run_instance({"dnsname": WEB})
    report = stopper.invoke_ok(ec2_state_change(other, "running"))
    assert report["conflicts"] == [] and report["failed"] == [], report
    published(world, dyn, WEB, other)


def test_a_run_near_its_deadline_sends_no_change_that_could_outlive_its_window(world, dyn, fn,
                                                                             proxy):
    # A change sent now could still be on its way after the run is stopped, when nobody
    # treats it as in flight any more: the run does not send it, and asks for a retry.
    web = world.run_instance({"dnsname": WEB})
    proxy.reset_calls()

    late = fn.invoke(ec2_state_change(web, "running"), deadline_s=1)

    assert isinstance(late, LambdaError) and "out of time" in late.error_message, late
    assert "route53:ChangeResourceRecordSets" not in proxy.calls(), proxy.calls()
    assert world.lock(WEB).get("check") is True, "the lock says: read Route53 first"
    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)


def test_a_lost_answer_to_a_create_leaves_the_record_ec2_dns_s_own(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    # Route53 applies the CREATE, the answer is lost; the SDK sends it again and hears
    # "already exists".
    fault = proxy.add_fault(service="route53", operation="ChangeResourceRecordSets",
                            fault="http500", phase="after", path=f"/hostedzone/{dyn.public}/")

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    assert fault.fired == 1
    assert report["conflicts"] == [] and report["failed"] == [], report
    published(world, dyn, WEB, web)
    world.stop(web)
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    absent(world, dyn, WEB)


def test_a_failed_release_cannot_take_the_record_of_an_owner_back_on_its_elastic_ip(world, dyn,
                                                                                   fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    eip = world.ec2.allocate_address(Domain="vpc")
    world.ec2.associate_address(InstanceId=web, AllocationId=eip["AllocationId"])
    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)
    world.stop(web)
    fault = proxy.add_fault(service="route53", operation="ChangeResourceRecordSets",
                            fault="http500", path=f"/hostedzone/{dyn.public}/", count=5)

    failed = fn.invoke(ec2_state_change(web, "stopped"))

    assert isinstance(failed, LambdaError) and fault.fired == 5, failed
    proxy.clear_faults()
    # Back on the same address before the retry of the stop.
    world.start(web)
    if world.public_ip(web) != eip["PublicIp"]:
        world.ec2.associate_address(InstanceId=web, AllocationId=eip["AllocationId"])
    fn.invoke_ok(ec2_state_change(web, "running"))
    fn.invoke_ok(ec2_state_change(web, "stopped"))  # the stop's late retry changes nothing
    published(world, dyn, WEB, web)


def test_narrowing_the_allowed_domains_freezes_names_and_restoring_them_finds_them(world, dyn,
                                                                                 start_function):
    other = world.create_zone("other.example.org")
    both = {"ALLOWED_DOMAINS": "dyn.example.com,other.example.org"}
    fn = start_function(both)
    web = world.run_instance({"dnsname": WEB})
    app = world.run_instance({"dnsname": APP})
    fn.invoke_ok({"reconcile": "all"})
    assert world.holder(APP) == app

    narrow = start_function({"ALLOWED_DOMAINS": "dyn.example.com"})
    for _ in range(2):
        report = narrow.invoke_ok({"reconcile": "all"})
        assert report["changes"] == [] and report["failed"] == [], report
        assert [f["name"] for f in report["frozen"]] == [APP], report
        assert world.records(other)[(APP, "A")][1] == [world.public_ip(app)]
        assert world.holder(APP) == app
    assert world.status_tag(app).startswith(f"frozen: {APP}"), world.status_tag(app)

    restored = start_function(both)
    report = restored.invoke_ok({"reconcile": "all"})
    assert report["conflicts"] == [] and report["changes"] == [] and report["frozen"] == [], report
    assert world.status_tag(app) == "ok"
    published(world, dyn, WEB, web)


def test_a_previous_release_table_is_adopted_and_a_malformed_item_is_reported(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    bad = world.run_instance({"dnsname": "bad.dyn.example.com"})
    # What the previous release wrote: a bare instance id, records without markers.
    world.put_record(dyn.public, WEB, "A", 60, [world.public_ip(web)])
    world.put_record(dyn.private, WEB, "A", 60, [world.private_ip(web)])
    records = [{"zone_id": dyn.public, "type": "A", "ttl": 60, "values": [world.public_ip(web)]},
               {"zone_id": dyn.private, "type": "A", "ttl": 60, "values": [world.private_ip(web)]}]
    world.dynamodb.put_item(TableName=world.lock_table, Item={
        "pk": {"S": WEB}, "owner": {"S": web}, "version": {"N": "4"},
        "records": {"S": json.dumps(records)}, "since": {"S": "2026-11-01T00:00:00Z"}})
    world.dynamodb.put_item(TableName=world.lock_table, Item={
        "pk": {"S": f"owner#{web}"}, "names": {"SS": [WEB]}})
    world.dynamodb.put_item(TableName=world.lock_table, Item={
        "pk": {"S": "bad.dyn.example.com"}, "owner": {"S": "not an owner"}, "version": {"N": "1"}})

    report = fn.invoke_ok({"reconcile": "all"})

    assert report["conflicts"] == [], report
    assert {c["action"] for c in report["changes"]} == {"MARK"}, report
    assert [f["name"] for f in report["frozen"]] == ["bad.dyn.example.com"], report
    lock = world.lock(WEB)
    assert lock["owner"] == qualified(web) and lock["gen"] == 5
    assert world.marker(dyn.public, WEB)["owner"] == qualified(web)
    assert world.status_tag(bad).startswith("frozen: bad.dyn.example.com (its lock item cannot be read"), \
        world.status_tag(bad)
    again = fn.invoke_ok({"reconcile": "all"})
    assert again["changes"] == [], again


def test_a_failed_sqs_message_comes_back_within_a_minute(world, dyn, fn, proxy):
    queue = world.sqs.create_queue(QueueName="ec2-dns-events")["QueueUrl"]
    web = world.run_instance({"dnsname": WEB})
    world.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(ec2_state_change(web, "running")))
    got = world.sqs.receive_message(QueueUrl=queue, VisibilityTimeout=1800,
                                    AttributeNames=["All"])["Messages"][0]
    batch = sqs_event([json.loads(got["Body"])])
    batch["Records"][0].update(messageId=got["MessageId"], receiptHandle=got["ReceiptHandle"])
    # Refused at once (not retried by the SDK): the name fails, so the message must.
    proxy.add_fault(service="route53", operation="ChangeResourceRecordSets",
                    fault="access_denied", count=1)

    answer = fn.invoke_ok(batch)

    assert answer == {"batchItemFailures": [{"itemIdentifier": got["MessageId"]}]}
    visibility = [e for e in proxy.call_log() if e["call"] == "sqs:ChangeMessageVisibilityBatch"]
    assert len(visibility) == 1, proxy.calls()
    entries = json.loads(visibility[0]["request"])["Entries"]
    # Visible again after 30 s, not after the 30-minute visibility timeout of its receive.
    assert [(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in entries] == \
        [(got["ReceiptHandle"], 30)]
    assert world.sqs.receive_message(QueueUrl=queue).get("Messages") is None
    # The queue takes the new timeout (moto applies it as SQS does): zero makes it visible.
    world.sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=got["ReceiptHandle"],
                                        VisibilityTimeout=0)
    again = world.sqs.receive_message(QueueUrl=queue, AttributeNames=["All"])["Messages"][0]
    assert again["MessageId"] == got["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_the_cli_acts_with_the_deployed_configuration(world, dyn, fn, ctl):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    recorded = world.recorded_config()
    assert recorded["name_tag"] == "dnsname" and recorded["allowed_domains"] == "dyn.example.com"

    refused = ctl("apply", env={"NAME_TAG": "Name"}, expect=1)
    assert "differs from the deployed function's" in refused.stderr, refused.stderr
    assert "NAME_TAG" in refused.stderr
    # A read-only command warns and acts with the deployed tag: the name stays.
    plan = ctl("plan", env={"NAME_TAG": "Name"})
    assert "acting with the deployed value" in plan.stderr
    assert plan.stdout.startswith("0 record set(s) would change"), plan.stdout
    published(world, dyn, WEB, web)
