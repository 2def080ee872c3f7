"""The payload builders produce real-shaped events."""

import hashlib
import json

from harness import ec2_state_change, scheduled, sqs_event, tag_change


def test_state_change_event_shape():
    e = ec2_state_change("i-0123456789abcdef0", "running")
    assert e["source"] == "aws.ec2"
    assert e["detail-type"] == "EC2 Instance State-change Notification"
    assert e["resources"] == ["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"]
    assert e["detail"] == {"instance-id": "i-0123456789abcdef0", "state": "running"}
    assert {"version", "id", "account", "time", "region"} <= set(e)


def test_tag_change_event_shape():
    e = tag_change("i-1", ["dnsname"], {"dnsname": "web.dyn.example.com"})
    assert (e["source"], e["detail-type"]) == ("aws.tag", "Tag Change on Resource")
    assert e["detail"] == {"changed-tag-keys": ["dnsname"], "service": "ec2",
                           "resource-type": "instance", "version": 1,
                           "tags": {"dnsname": "web.dyn.example.com"}}


def test_scheduled_event_shape():
    e = scheduled()
    assert (e["source"], e["detail-type"], e["detail"]) == ("aws.events", "Scheduled Event", {})


def test_sqs_event_wraps_bodies():
    inner = ec2_state_change("i-1", "stopped")
    e = sqs_event([inner, "not json"])
    first, second = e["Records"]
    assert json.loads(first["body"]) == inner
    assert second["body"] == "not json"
    assert first["md5OfBody"] == hashlib.md5(first["body"].encode()).hexdigest()
    assert first["eventSource"] == "aws:sqs" and first["messageId"] != second["messageId"]
    assert {"receiptHandle", "attributes", "messageAttributes", "eventSourceARN",
            "awsRegion"} <= set(first)
