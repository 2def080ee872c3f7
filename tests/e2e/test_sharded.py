"""A sharded reconcile of everything with the real binary: its shards go to a real (moto)
SQS queue through the strict proxy, come back as SQS batches as the event source mapping
delivers them, and the run's progress is read with `ec2-dns-ctl status --run`."""

from __future__ import annotations

import json

from harness import sqs_event

EU = "eu-west-1"


def run_many(ec2, names: list[str]) -> list[str]:
    """One call for many instances, each with its own name tag (tagged after launch)."""
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId="ami-12345678", MinCount=len(names), MaxCount=len(names),
        InstanceType="t3.micro")["Instances"]]
    for iid, name in zip(ids, names):
        ec2.create_tags(Resources=[iid], Tags=[{"Key": "dnsname", "Value": name}])
    return ids


def drain(fn, sqs, url: str, *, batch: int = 10, lose: str | None = None) -> list[str]:
    """Delivers the queue's messages to the function as the event source mapping does,
    deleting those it did not report failed, until the queue is empty. With `lose`, the
    first message whose body names that shard is taken and never delivered (its invocation
    died before it answered). Returns the bodies lost."""
    lost = []
    for _ in range(200):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch,
                                  VisibilityTimeout=0).get("Messages", [])
        if not got:
            return lost
        for m in got:
            if lose and lose in m["Body"]:
                lose = None
                lost.append(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        got = [m for m in got if m["Body"] not in lost]
        if not got:
            continue
        event = sqs_event([m["Body"] for m in got])
        answer = fn.invoke_ok(event, timeout=120)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for record, message in zip(event["Records"], got):
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the queue did not drain")


def test_a_sharded_run_splits_a_large_place_and_converges_through_the_queue(
        world, dyn_public, start_function, ctl):
    sqs = world.client_of("sqs", None)
    url = sqs.create_queue(QueueName="ec2-dns-events")["QueueUrl"]
    here = run_many(world.ec2_of(None), [f"h{n}.dyn.example.com" for n in range(130)])
    away = run_many(world.ec2_of(None, EU), [f"e{n}.dyn.example.com" for n in range(20)])
    fn = start_function({"REGIONS": f"us-east-1,{EU}", "QUEUE_URL": url, "SHARD_SIZE": "100"})
    # Names held before the run: one holder stops, one is terminated.
    first = fn.invoke_ok({"reconcile": {"instance_ids": here[:2]}})
    assert first["failed"] == [], first
    world.stop(here[0])
    world.terminate(here[1])

    started = fn.invoke_ok({"reconcile": "all", "sharded": True})
    run = started["run"]
    assert started["shards"] == 3, started  # two places, one segment of a small table
    assert started["status"] == f"ec2-dns-ctl status --run {run}"
    drain(fn, sqs, url)

    status = json.loads(ctl("status", "--run", run, "--json").stdout)
    assert status["complete"] is True, status
    assert "place/123456789012/us-east-1/" in world.lock_items()[f"run#{run}"]["split"]
    assert status["counts"]["failed"] == 0, status
    # Every tagged instance was reconciled by exactly one place shard.
    assert status["counts"]["owners"] >= len(here) + len(away), status
    text = ctl("status", "--run", run).stdout
    assert text.startswith(f"run {run} (manual)") and ": complete" in text, text

    for n, iid in enumerate(here[2:], start=2):
        assert world.lock(f"h{n}.dyn.example.com")["owner"] == f"123456789012/us-east-1/{iid}"
    for n, iid in enumerate(away):
        assert world.lock(f"e{n}.dyn.example.com")["owner"] == f"123456789012/{EU}/{iid}"
    records = world.records(dyn_public.public)
    assert ("h0.dyn.example.com", "A") not in records  # its holder stopped
    assert ("h1.dyn.example.com", "A") not in records  # its holder was terminated
    assert records[("h7.dyn.example.com", "A")] == (60, [world.public_ip(here[7])])
    # Converged: an unsharded dry run finds nothing to change.
    again = fn.invoke_ok({"reconcile": "all", "dry_run": True}, timeout=120)
    assert again["changes"] == [] and again["failed"] == [], again


def test_a_shard_whose_invocation_died_stays_pending_until_its_message_comes_back(
        world, dyn_public, start_function, ctl):
    sqs = world.client_of("sqs", None)
    url = sqs.create_queue(QueueName="ec2-dns-events")["QueueUrl"]
    ids = run_many(world.ec2_of(None), [f"k{n}.dyn.example.com" for n in range(12)])
    fn = start_function({"QUEUE_URL": url})

    run = fn.invoke_ok({"reconcile": "all", "sharded": True})["run"]
    part = "place/123456789012/us-east-1/"
    lost = drain(fn, sqs, url, lose=part)
    assert len(lost) == 1
    status = json.loads(ctl("status", "--run", run, "--json").stdout)
    assert status["complete"] is False and status["pending"] == [part], status
    assert "1 of 2 shards pending" in ctl("status", "--run", run).stdout

    # After the queue's visibility timeout the message is handed over again.
    sqs.send_message(QueueUrl=url, MessageBody=lost[0])
    drain(fn, sqs, url)
    status = json.loads(ctl("status", "--run", run, "--json").stdout)
    assert status["complete"] is True and status["pending"] == [], status
    for n, iid in enumerate(ids):
        assert world.lock(f"k{n}.dyn.example.com")["owner"] == f"123456789012/us-east-1/{iid}"


def test_a_sharded_run_without_its_queue_is_refused_and_status_of_an_unknown_run_fails(
        world, dyn, start_function, ctl):
    fn = start_function()
    error = fn.invoke({"reconcile": "all", "sharded": True})
    assert "QUEUE_URL is not set" in error.error_message, error
    missing = ctl("status", "--run", "r1-00000000", expect=1)
    assert "no sharded run" in missing.stderr, missing.stderr
