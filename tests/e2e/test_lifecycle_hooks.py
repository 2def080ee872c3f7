"""Auto Scaling lifecycle hooks and warm pools, end to end with the real binary: the
launch action is completed with CONTINUE once the name is published, the terminate action
once it is removed, and a warm-pool instance is published only when it joins the group.

moto keeps groups, hooks and warm pools but emulates neither CompleteLifecycleAction nor
RecordLifecycleActionHeartbeat, and never puts an instance in a wait or warmed state: the
strict proxy answers those calls as Auto Scaling does and gives DescribeAutoScalingInstances
the states a test sets (tests/harness/proxy.py). Only the test setup works around moto."""

from __future__ import annotations

import urllib.parse

import pytest

from harness import ec2_state_change, lifecycle_action, scheduled
from harness.moto import boto_client

TAG = "web-{id}.dyn.example.com"
LAUNCH, TERMINATE = "web-launch", "web-terminate"


def name_of(iid: str) -> str:
    return f"web-{iid}.dyn.example.com"


@pytest.fixture
def group(world):
    """A group `web` of one instance with launch and terminate hooks and a warm pool."""
    world.create_group("web", TAG, desired=1)
    asg = boto_client("autoscaling", world.url)
    for hook, transition in ((LAUNCH, "autoscaling:EC2_INSTANCE_LAUNCHING"),
                             (TERMINATE, "autoscaling:EC2_INSTANCE_TERMINATING")):
        asg.put_lifecycle_hook(AutoScalingGroupName="web", LifecycleHookName=hook,
                               LifecycleTransition=transition, HeartbeatTimeout=300,
                               DefaultResult="ABANDON")
    asg.put_warm_pool(AutoScalingGroupName="web", MinSize=1, PoolState="Running")
    ids = world.group_instances("web")
    assert len(ids) == 1 and world.tags(ids[0])["aws:autoscaling:groupName"] == "web"
    return ids[0]


@pytest.fixture
def hooked(start_function, dyn):
    return start_function({"LIFECYCLE_HOOKS": f"{LAUNCH},{TERMINATE}"})


def begin(proxy, event: dict, state: str) -> str:
    d = event["detail"]
    proxy.begin_lifecycle_action(d["LifecycleActionToken"], d["AutoScalingGroupName"],
                                 d["LifecycleHookName"], d["EC2InstanceId"], state)
    return d["LifecycleActionToken"]


def completions(proxy) -> list[tuple[str, str, str, str]]:
    return [(c["instance_id"], c["hook"], c["token"], c["result"])
            for c in proxy.lifecycle_actions()["completed"]]


def logged(proxy, call: str) -> list[dict]:
    return [{k: v[0] for k, v in urllib.parse.parse_qs(e.get("request", "")).items()}
            for e in proxy.call_log() if e["call"] == call]


def test_the_launch_is_completed_once_the_name_is_published(world, dyn, proxy, group, hooked):
    iid = group
    event = lifecycle_action(iid, "web", LAUNCH)
    token = begin(proxy, event, "Pending:Wait")
    proxy.reset_calls()
    answer = hooked.invoke_ok(event)

    assert world.records(dyn.public).get((name_of(iid), "A")) == (60, [world.public_ip(iid)])
    assert world.holder(name_of(iid)) == iid and world.status_tag(iid) == "ok"
    assert completions(proxy) == [(iid, LAUNCH, token, "CONTINUE")]
    assert answer["lifecycle"][0]["result"] == "completed", answer
    # The call as Auto Scaling received it, after the name was written and seen INSYNC.
    [call] = logged(proxy, "autoscaling:CompleteLifecycleAction")
    assert call == {"Action": "CompleteLifecycleAction", "Version": "2011-01-01",
                    "AutoScalingGroupName": "web", "LifecycleHookName": LAUNCH,
                    "LifecycleActionToken": token, "InstanceId": iid,
                    "LifecycleActionResult": "CONTINUE"}
    calls = [e["call"] for e in proxy.call_log()]
    assert calls.index("route53:ChangeResourceRecordSets") < calls.index("route53:GetChange") \
        < calls.index("autoscaling:CompleteLifecycleAction"), calls
    assert proxy.calls()["autoscaling:DescribeAutoScalingInstances"] == 1

    # Delivered again: the action is done, and nothing changes.
    again = hooked.invoke_ok(event)
    assert again["lifecycle"][0]["result"].startswith("not-active"), again
    assert len(completions(proxy)) == 1


def test_the_terminate_removes_the_name_then_completes(world, dyn, proxy, group, hooked):
    iid = group
    hooked.invoke_ok(ec2_state_change(iid, "running"))
    assert world.holder(name_of(iid)) == iid
    event = lifecycle_action(iid, "web", TERMINATE, launching=False)
    token = begin(proxy, event, "Terminating:Wait")
    proxy.reset_calls()
    hooked.invoke_ok(event)
    assert (name_of(iid), "A") not in world.records(dyn.public)
    assert world.holder(name_of(iid)) is None
    assert completions(proxy) == [(iid, TERMINATE, token, "CONTINUE")]
    calls = [e["call"] for e in proxy.call_log()]
    assert calls.index("route53:ChangeResourceRecordSets") \
        < calls.index("autoscaling:CompleteLifecycleAction"), calls
    # The hook still waits, EC2 still says running: a reconcile of everything keeps it gone.
    hooked.invoke_ok({"reconcile": "all"})
    assert (name_of(iid), "A") not in world.records(dyn.public)


def test_a_warm_pool_instance_is_published_only_when_it_joins_the_group(
        world, dyn, proxy, group, hooked):
    iid = group
    into_pool = lifecycle_action(iid, "web", LAUNCH, destination="WarmPool")
    token = begin(proxy, into_pool, "Warmed:Pending:Wait")
    proxy.reset_calls()
    hooked.invoke_ok(into_pool)
    assert completions(proxy) == [(iid, LAUNCH, token, "CONTINUE")]
    assert (name_of(iid), "A") not in world.records(dyn.public)
    assert not proxy.write_calls().get("route53:ChangeResourceRecordSets")

    # Warmed and running (EC2 says running): neither its own event nor a reconcile of
    # everything publishes it.
    proxy.set_lifecycle_state(iid, "Warmed:Running")
    hooked.invoke_ok(ec2_state_change(iid, "running"))
    hooked.invoke_ok(scheduled())
    hooked.invoke_ok({"reconcile": "all"})
    assert (name_of(iid), "A") not in world.records(dyn.public)
    assert world.holder(name_of(iid)) is None

    # It leaves the pool for the group: published, then completed.
    joins = lifecycle_action(iid, "web", LAUNCH, origin="WarmPool", destination="AutoScalingGroup")
    token = begin(proxy, joins, "Pending:Wait")
    hooked.invoke_ok(joins)
    assert world.records(dyn.public).get((name_of(iid), "A")) == (60, [world.public_ip(iid)])
    assert completions(proxy)[-1] == (iid, LAUNCH, token, "CONTINUE")

    # Scaled in back to the pool: the records go, then the action is completed.
    back = lifecycle_action(iid, "web", TERMINATE, launching=False,
                            origin="AutoScalingGroup", destination="WarmPool")
    token = begin(proxy, back, "Warmed:Pending:Wait")
    hooked.invoke_ok(back)
    assert (name_of(iid), "A") not in world.records(dyn.public)
    assert world.holder(name_of(iid)) is None
    assert completions(proxy)[-1] == (iid, TERMINATE, token, "CONTINUE")


def test_a_hook_not_listed_is_ignored_without_a_call(world, dyn, proxy, group, hooked):
    iid = group
    event = lifecycle_action(iid, "web", "someone-elses-hook")
    begin(proxy, event, "Pending:Wait")
    proxy.reset_calls()
    answer = hooked.invoke_ok(event)
    assert "LIFECYCLE_HOOKS" in answer["ignored"], answer
    assert proxy.calls() == {} or not any(proxy.calls().values())
    assert completions(proxy) == []
