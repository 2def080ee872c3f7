"""Builders of real-shaped invocation payloads: EventBridge events and SQS batches."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import datetime, timezone

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(source: str, detail_type: str, resources: list[str], detail: dict,
              region: str, account: str, time_: str | None) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": time_ or _now(),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def instance_arn(instance_id: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"


def ec2_state_change(instance_id: str, state: str, *, region: str = REGION,
                     account: str = ACCOUNT, time: str | None = None) -> dict:
    """`EC2 Instance State-change Notification` (state: pending, running, stopping, stopped,
    shutting-down, terminated)."""
    return _envelope("aws.ec2", "EC2 Instance State-change Notification",
                     [instance_arn(instance_id, region, account)],
                     {"instance-id": instance_id, "state": state}, region, account, time)


def tag_change(instance_id: str, changed_tag_keys: list[str], tags: dict[str, str], *,
               region: str = REGION, account: str = ACCOUNT, time: str | None = None) -> dict:
    """`Tag Change on Resource` for an EC2 instance; `tags` are the tags after the change."""
    return _envelope("aws.tag", "Tag Change on Resource",
                     [instance_arn(instance_id, region, account)],
                     {"changed-tag-keys": list(changed_tag_keys), "service": "ec2",
                      "resource-type": "instance", "version": 1, "tags": dict(tags)},
                     region, account, time)


def address_call(event_name: str, request_parameters: dict, *, region: str = REGION,
                 account: str = ACCOUNT, error_code: str | None = None,
                 time: str | None = None) -> dict:
    """`AWS API Call via CloudTrail` for an EC2 call (`AssociateAddress`,
    `DisassociateAddress`), shaped as CloudTrail records it and EventBridge delivers it."""
    detail = {
        "eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": event_name,
        "awsRegion": region, "sourceIPAddress": "203.0.113.250", "userAgent": "aws-cli/2",
        "requestParameters": dict(request_parameters),
        "responseElements": {"requestId": str(uuid.uuid4()), "_return": True},
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account,
    }
    if error_code:
        detail["errorCode"] = error_code
        detail["responseElements"] = None
    return _envelope("aws.ec2", "AWS API Call via CloudTrail", [], detail, region, account, time)


def ipv6_call(event_name: str, interface_id: str, addresses: list[str], *, region: str = REGION,
              account: str = ACCOUNT, error_code: str | None = None,
              time: str | None = None) -> dict:
    """`AWS API Call via CloudTrail` for `AssignIpv6Addresses` or `UnassignIpv6Addresses` on
    the network interface `interface_id`: the interface in the request, the addresses EC2
    assigned (or the ones it was asked to unassign) in the request or the answer."""
    if event_name == "AssignIpv6Addresses":
        params = {"networkInterfaceId": interface_id, "ipv6AddressCount": len(addresses)}
        answer = {"assignedIpv6Addresses": {"item": list(addresses)}}
    else:
        params = {"networkInterfaceId": interface_id,
                  "ipv6Addresses": {"item": [{"ipv6Address": a} for a in addresses]}}
        answer = {"unassignedIpv6Addresses": {"item": list(addresses)}}
    event = address_call(event_name, params, region=region, account=account,
                         error_code=error_code, time=time)
    if not error_code:
        event["detail"]["responseElements"] = {f"{event_name}Response": {
            "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/", "requestId": str(uuid.uuid4()),
            "networkInterfaceId": interface_id, **answer}}
    return event


def scheduled(rule: str = "ec2-dns-reconcile", *, region: str = REGION,
              account: str = ACCOUNT, time: str | None = None) -> dict:
    """`Scheduled Event` from an EventBridge schedule rule."""
    return _envelope("aws.events", "Scheduled Event",
                     [f"arn:aws:events:{region}:{account}:rule/{rule}"], {}, region, account, time)


def lifecycle_action(instance_id: str, group: str, hook: str, *, launching: bool = True,
                     origin: str | None = None, destination: str | None = None,
                     token: str | None = None, region: str = REGION,
                     account: str = ACCOUNT) -> dict:
    """`EC2 Instance-launch Lifecycle Action` (or `-terminate`), as Auto Scaling sends it
    (its documentation's example events), with `Origin` and `Destination` (by default: from
    EC2 into the group, or from the group to EC2)."""
    kind = "launch" if launching else "terminate"
    detail = {
        "LifecycleActionToken": token or str(uuid.uuid4()),
        "AutoScalingGroupName": group,
        "LifecycleHookName": hook,
        "EC2InstanceId": instance_id,
        "LifecycleTransition": ("autoscaling:EC2_INSTANCE_LAUNCHING" if launching
                                else "autoscaling:EC2_INSTANCE_TERMINATING"),
        "NotificationMetadata": "additional-info",
        "Origin": origin or ("EC2" if launching else "AutoScalingGroup"),
        "Destination": destination or ("AutoScalingGroup" if launching else "EC2"),
    }
    arn = (f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:"
           f"{uuid.uuid4()}:autoScalingGroupName/{group}")
    return _envelope("aws.autoscaling", f"EC2 Instance-{kind} Lifecycle Action", [arn], detail,
                     region, account, None)


def sqs_record(body, *, queue: str = "ec2-dns-events", region: str = REGION,
               account: str = ACCOUNT, message_id: str | None = None) -> dict:
    """One SQS record; `body` is a dict (serialised to JSON) or a string sent as it is."""
    text = body if isinstance(body, str) else json.dumps(body)
    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex + uuid.uuid4().hex,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now_ms,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:{account}:{queue}",
        "awsRegion": region,
    }


def sqs_event(bodies: list, **kw) -> dict:
    """An SQS event wrapping `bodies`; message ids are in event["Records"][i]["messageId"]."""
    return {"Records": [sqs_record(b, **kw) for b in bodies]}
