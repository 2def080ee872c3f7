"""AWS failing underneath, at every call the function makes, before the call takes effect
or after (the answer lost): throttling is retried within the invocation, and anything else
converges on the next event. Every fault is shown to have fired: a fault the binary never
meets proves nothing."""

from __future__ import annotations

import pytest

from harness import LambdaError, ProcessExited, ec2_state_change
from e2e.expect import absent, published

WEB = "web.dyn.example.com"


@pytest.mark.parametrize("fault", ["http500", "reset", "throttle"])
def test_a_lost_answer_after_a_route53_change_converges(world, dyn, fn, proxy, fault):
    web = world.run_instance({"dnsname": WEB})
    injected = proxy.add_fault(service="route53", operation="ChangeResourceRecordSets",
                               fault=fault, phase="after", count=1)

    first = fn.invoke(ec2_state_change(web, "running"))

    assert not isinstance(first, ProcessExited), first
    assert injected.fired == 1
    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)


def _claimed(world, fn, web):
    fn.invoke_ok(ec2_state_change(web, "running"))


def _moved(world, fn, web):
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)
    world.start(web)


def _stopped(world, fn, web):
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)


# (the lock-table call, how the world gets there, the event that makes the call, the end)
LOCK_WRITES = [
    ("TransactWriteItems", None, "running", "published"),   # a claim: lock and owner index
    ("PutItem", _moved, "running", "published"),             # a new address: the lock alone
    ("TransactWriteItems", _stopped, "stopped", "absent"),   # a release: lock and index
]


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("operation,setup,state,end", LOCK_WRITES,
                         ids=["claim", "new-address", "release"])
def test_a_failed_lock_write_converges_on_the_next_event(world, dyn, fn, proxy, operation, setup,
                                                         state, end, phase):
    web = world.run_instance({"dnsname": WEB})
    if setup:
        setup(world, fn, web)
    fault = proxy.add_fault(service="dynamodb", operation=operation, fault="http500",
                            phase=phase, count=5)

    first = fn.invoke(ec2_state_change(web, state))

    assert not isinstance(first, ProcessExited), first
    assert fault.fired >= 1, f"{operation} was never called"
    proxy.clear_faults()
    fn.invoke_ok(ec2_state_change(web, state))
    if end == "published":
        published(world, dyn, WEB, web)
    else:
        absent(world, dyn, WEB)


def test_a_waiter_registration_that_fails_is_retried(world, dyn, fn, proxy):
    first = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(first, "running"))
    second = world.run_instance({"dnsname": WEB})
    fault = proxy.add_fault(service="dynamodb", operation="UpdateItem", fault="http500",
                            phase="before", count=5)

    failed = fn.invoke(ec2_state_change(second, "running"))

    assert isinstance(failed, LambdaError) and fault.fired >= 1, failed
    proxy.clear_faults()
    fn.invoke_ok(ec2_state_change(second, "running"))
    world.stop(first)
    fn.invoke_ok(ec2_state_change(first, "stopped"))
    published(world, dyn, WEB, second)


def test_a_cancelled_transaction_is_retried_not_taken_for_a_lost_race(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    fault = proxy.add_fault(service="dynamodb", operation="TransactWriteItems",
                            fault="transaction_conflict", count=1)

    first = fn.invoke(ec2_state_change(web, "running"))

    assert fault.fired == 1
    assert isinstance(first, LambdaError) and first.error_type == "Retryable", first
    assert "TransactionConflict" in first.error_message
    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)


READS = [
    ("ec2", "DescribeInstances", lambda web: ec2_state_change(web, "running")),
    ("dynamodb", "BatchGetItem", lambda web: ec2_state_change(web, "running")),
    ("route53", "ListHostedZones", lambda web: ec2_state_change(web, "running")),
    ("dynamodb", "Scan", lambda web: {"reconcile": "all"}),
    ("route53", "ListResourceRecordSets", lambda web: {"reconcile": "all"}),
]


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("service,operation,payload", READS, ids=[r[1] for r in READS])
def test_a_failed_read_writes_nothing_and_converges_on_the_next_invocation(
        world, dyn, start_function, proxy, service, operation, payload, phase):
    fn = start_function()
    web = world.run_instance({"dnsname": WEB})
    proxy.reset_calls()
    fault = proxy.add_fault(service=service, operation=operation, fault="access_denied",
                            phase=phase, count=1)

    first = fn.invoke(payload(web))

    assert fault.fired == 1, f"{operation} was never called"
    assert isinstance(first, LambdaError) and first.error_type == "AwsError", first
    assert proxy.write_calls() == {}, proxy.write_calls()
    fn.invoke_ok(payload(web))
    published(world, dyn, WEB, web)


def test_a_failed_release_is_retried_by_the_next_event(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)
    fault = proxy.add_fault(service="route53", operation="ChangeResourceRecordSets",
                            fault="http500", phase="before", count=10)

    first = fn.invoke(ec2_state_change(web, "stopped"))

    assert isinstance(first, LambdaError), f"a failed release must ask for a retry: {first!r}"
    assert first.error_type == "Retryable" and fault.fired >= 5
    proxy.clear_faults()
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    absent(world, dyn, WEB)


def test_throttling_is_retried_within_the_invocation(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    faults = [
        proxy.add_fault(service="route53", operation="ChangeResourceRecordSets", fault="throttle",
                        count=1),
        proxy.add_fault(service="route53", operation="ListHostedZones",
                        fault="prior_request_not_complete", count=1),
        proxy.add_fault(service="dynamodb", operation="*", fault="throttle", count=2),
        proxy.add_fault(service="ec2", operation="DescribeInstances", fault="throttle", count=1),
    ]

    fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web)
    assert [f.fired for f in faults] == [1, 1, 2, 1]
