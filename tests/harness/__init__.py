"""End-to-end harness of ec2-dns.

- `moto`: moto_server launcher and a pool of fresh, pre-warmed servers.
- `proxy`: the strict AWS proxy between the binary and moto (real Route53 rules,
  serialised DynamoDB, call counters, fault injection, holds that order calls).
- `runtime`: a Lambda Runtime API host and the process wrapper of the real binary.
- `world`: boto3 helpers that set up and read EC2, Route53 and DynamoDB in moto.
- `events`: builders of real-shaped EventBridge and SQS payloads.
"""

from .events import (
    address_call,
    ec2_state_change,
    ipv6_call,
    lifecycle_action,
    scheduled,
    sqs_event,
    tag_change,
)
from .moto import MotoPool, MotoServer
from .proxy import WRITE_CALLS, AwsProxy, Fault, Hold, ProxyClient
from .runtime import (
    Ec2DnsFunction,
    InvocationTimeout,
    LambdaError,
    ProcessExited,
    RuntimeApi,
)
from .world import World

__all__ = [
    "address_call",
    "AwsProxy",
    "Ec2DnsFunction",
    "Fault",
    "Hold",
    "InvocationTimeout",
    "LambdaError",
    "MotoPool",
    "MotoServer",
    "ProcessExited",
    "ProxyClient",
    "RuntimeApi",
    "WRITE_CALLS",
    "World",
    "ec2_state_change",
    "ipv6_call",
    "lifecycle_action",
    "scheduled",
    "sqs_event",
    "tag_change",
]
