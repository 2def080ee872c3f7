"""Promises across time, with the real binaries: an EC2 observation older than a lock
decision never overrides it, and a lock write whose answer was lost is read back before
anything is concluded from it. Each test holds one run's call inside the proxy while
another run acts, or loses an answer after the write took effect."""

from __future__ import annotations

import threading

from harness import LambdaError, ec2_state_change
from e2e.expect import absent, published

WEB = "web.dyn.example.com"
ALL = {"reconcile": "all", "dry_run": False}


def in_thread(fn, payload, **kw):
    box: list = []
    t = threading.Thread(target=lambda: box.append(fn.invoke(payload, **kw)), daemon=True)
    t.start()
    return t, box


def test_a_reconcile_of_everything_never_releases_a_claim_made_after_it_listed_ec2(
        world, dyn, start_function, proxy):
    reconciler, events = start_function(), start_function()
    web = world.run_instance({"dnsname": WEB})
    world.stop(web)
    # The reconcile has listed EC2 (the instance stopped); the answer waits in the proxy.
    hold = proxy.hold("ec2", "DescribeInstances", phase="after")
    t, answer = in_thread(reconciler, ALL)
    assert hold.wait_held(20), "the reconcile never listed EC2"

    world.start(web)
    events.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)
    hold.release()
    t.join(60)

    assert answer and not isinstance(answer[0], LambdaError), answer
    assert answer[0]["changes"] == [], answer[0]
    published(world, dyn, WEB, web)
    assert "released" not in (world.status_tag(web) or ""), world.status_tag(web)
    reconciler.invoke_ok(ALL)
    published(world, dyn, WEB, web)


def test_a_reconcile_of_everything_never_publishes_an_address_given_up_meanwhile(
        world, dyn, start_function, proxy):
    reconciler, events = start_function(), start_function()
    web = world.run_instance({"dnsname": WEB})
    events.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)
    # The reconcile has listed EC2 (the instance running on its public address).
    hold = proxy.hold("ec2", "DescribeInstances", phase="after")
    t, answer = in_thread(reconciler, ALL)
    assert hold.wait_held(20), "the reconcile never listed EC2"

    world.stop(web)
    events.invoke_ok(ec2_state_change(web, "stopped"))
    absent(world, dyn, WEB)
    hold.release()
    t.join(60)

    # The address went back to AWS with the stop: a record on it would dangle.
    assert answer, "the reconcile did not answer"
    absent(world, dyn, WEB)
    reconciler.invoke_ok(ALL)
    absent(world, dyn, WEB)


def test_a_lost_answer_to_a_lock_write_is_read_back_and_the_change_carried_through(
        world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)
    world.start(web)  # a new public address
    # The lock write lands, its answer is lost; the SDK sends it again, and the repeat
    # fails its condition on the item its first attempt wrote.
    lost = proxy.add_fault(service="dynamodb", operation="PutItem", fault="http500",
                           phase="after", count=1)

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    assert lost.fired == 1
    assert report["failed"] == [], report
    published(world, dyn, WEB, web)
    assert world.status_tag(web) == "ok"
