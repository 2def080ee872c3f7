"""AWS failing underneath: throttling is retried, and a write that succeeded but whose
answer was lost (a crash or timeout after the write) converges on the next event."""

from __future__ import annotations

import pytest

from harness import LambdaError, ProcessExited, ec2_state_change
from e2e.expect import absent, published

WEB = "web.dyn.example.com"


@pytest.mark.parametrize("fault", ["http500", "reset", "throttle"])
def test_a_lost_answer_after_a_route53_change_converges_on_the_next_event(world, dyn, fn, proxy,
                                                                          fault):
    web = world.run_instance({"dnsname": WEB})
    proxy.add_fault(service="route53", operation="ChangeResourceRecordSets", fault=fault,
                    phase="after", count=1)

    first = fn.invoke(ec2_state_change(web, "running"))
    assert not isinstance(first, ProcessExited), first
    assert proxy.faults() == [], "the fault did not fire"

    fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web)


@pytest.mark.parametrize("operation", ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"])
def test_a_lost_answer_after_a_lock_write_converges_on_the_next_event(world, dyn, fn, proxy,
                                                                      operation):
    web = world.run_instance({"dnsname": WEB})
    proxy.add_fault(service="dynamodb", operation=operation, fault="http500", phase="after",
                    count=5)

    first = fn.invoke(ec2_state_change(web, "running"))
    assert not isinstance(first, ProcessExited), first
    proxy.clear_faults()

    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)

    # and releasing works from there too
    world.stop(web)
    proxy.add_fault(service="dynamodb", operation=operation, fault="http500", phase="after",
                    count=5)
    first = fn.invoke(ec2_state_change(web, "stopped"))
    assert not isinstance(first, ProcessExited), first
    proxy.clear_faults()
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    absent(world, dyn, WEB)


def test_a_failed_release_is_retried_by_the_next_event(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)
    proxy.add_fault(service="route53", operation="ChangeResourceRecordSets", fault="http500",
                    phase="before", count=10)

    first = fn.invoke(ec2_state_change(web, "stopped"))

    assert isinstance(first, LambdaError), f"a failed release must ask for a retry: {first!r}"
    assert first.error_type == "Retryable"
    proxy.clear_faults()
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    absent(world, dyn, WEB)


def test_throttling_is_retried_within_the_invocation(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    proxy.add_fault(service="route53", operation="ChangeResourceRecordSets", fault="throttle",
                    count=1)
    proxy.add_fault(service="route53", operation="ListResourceRecordSets",
                    fault="prior_request_not_complete", count=1)
    proxy.add_fault(service="dynamodb", operation="*", fault="throttle", count=2)
    proxy.add_fault(service="ec2", operation="DescribeInstances", fault="throttle", count=1)

    fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web)
    assert proxy.calls()["route53:ChangeResourceRecordSets"] >= 2
