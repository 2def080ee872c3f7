"""Auto Scaling lifecycle hooks and warm pools, end to end with the real binary: the
launch action is completed with CONTINUE once the name is published, the terminate action
once it is removed, and a warm-pool instance is published only when it joins the group.

moto keeps groups, hooks and warm pools but emulates neither CompleteLifecycleAction nor
RecordLifecycleActionHeartbeat, and never puts an instance in a wait or warmed state: the
strict proxy answers those calls as Auto Scaling does (an action only in its own account and
region) and gives DescribeAutoScalingInstances the states a test sets
(tests/harness/proxy.py). Only the test setup works around moto."""

from __future__ import annotations

import threading
import urllib.parse

import pytest

from harness import LambdaError, ec2_state_change, lifecycle_action, scheduled
from harness.moto import boto_client

TAG = "web-{id}.dyn.example.com"
LAUNCH, TERMINATE = "web-launch", "web-terminate"
MEMBER, MEMBER_REGION = "210987654321", "eu-west-1"


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
    """Auto Scaling starts the action of `event`, in the event's account and region."""
    d = event["detail"]
    proxy.begin_lifecycle_action(d["LifecycleActionToken"], d["AutoScalingGroupName"],
                                 d["LifecycleHookName"], d["EC2InstanceId"], state,
                                 account=event["account"], region=event["region"])
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


def put_hooks(asg, group: str) -> None:
    for hook, transition in ((LAUNCH, "autoscaling:EC2_INSTANCE_LAUNCHING"),
                             (TERMINATE, "autoscaling:EC2_INSTANCE_TERMINATING")):
        asg.put_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName=hook,
                               LifecycleTransition=transition, HeartbeatTimeout=300,
                               DefaultResult="ABANDON")


def invoke_until_completion(proxy, fn, event: dict, look):
    """Invoke with `event`, hold its CompleteLifecycleAction in the proxy, call `look()`
    while it is held (the world as it is when the action is completed), then let it go.
    Answers (the function's answer, what `look` returned)."""
    hold = proxy.hold("autoscaling", "CompleteLifecycleAction")
    box: list = []
    t = threading.Thread(target=lambda: box.append(fn.invoke(event)), daemon=True)
    t.start()
    try:
        assert hold.wait_held(60), "the function never completed the action"
        seen = look()
    finally:
        hold.release()
        t.join(60)
    assert box and not isinstance(box[0], LambdaError), box
    return box[0], seen


def test_a_member_accounts_group_is_published_then_completed_in_that_account(
        world, dyn, proxy, start_function):
    """A group of a member account: the member forwards its lifecycle events (account =
    member), the function publishes the name, then completes the hook there, through the
    member role; the terminate removes the name, then completes."""
    [iid] = world.create_group("web", TAG, desired=1, account=MEMBER, region=MEMBER_REGION)
    put_hooks(world.client_of("autoscaling", MEMBER, MEMBER_REGION), "web")
    member_ec2 = world.ec2_of(MEMBER, MEMBER_REGION)
    address = member_ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "PublicIpAddress"]
    fn = start_function({"ACCOUNTS": MEMBER, "REGIONS": f"us-east-1,{MEMBER_REGION}",
                         "LIFECYCLE_HOOKS": f"{LAUNCH},{TERMINATE}"})
    owner = f"{MEMBER}/{MEMBER_REGION}/{iid}"
    record = lambda: world.records(dyn.public).get((name_of(iid), "A"))  # noqa: E731

    # Launch: held at its completion, the name is already published and its lock taken.
    launch = lifecycle_action(iid, "web", LAUNCH, account=MEMBER, region=MEMBER_REGION)
    token = begin(proxy, launch, "Pending:Wait")
    answer, seen = invoke_until_completion(
        proxy, fn, launch, lambda: (record(), (world.lock(name_of(iid)) or {}).get("owner")))
    assert seen == ((60, [address]), owner), seen
    assert answer["lifecycle"][0]["result"] == "completed", answer
    done = proxy.lifecycle_actions()["completed"]
    assert [(c["account"], c["region"], c["instance_id"], c["hook"], c["token"], c["result"])
            for c in done] == [(MEMBER, MEMBER_REGION, iid, LAUNCH, token, "CONTINUE")], done
    # Signed with the member role's credentials (the proxy completes an action only for a
    # caller of its account and region; this says through which role).
    issued = {e["iam"].get("issued_key"): e["iam"].get("role") for e in proxy.call_log()
              if e["call"] == "sts:AssumeRole"}
    assert issued.get(done[0]["key"]) == f"arn:aws:iam::{MEMBER}:role/ec2-dns-member", (done, issued)
    member_calls = [e["call"] for e in proxy.call_log()
                    if e["call"].startswith("autoscaling:") and e.get("region") == MEMBER_REGION]
    assert "autoscaling:DescribeAutoScalingInstances" in member_calls, member_calls
    # The status tag is written where the instance lives.
    tags = {t["Key"]: t["Value"] for t in member_ec2.describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]["Tags"]}
    assert tags["dnsname-status"] == "ok", tags

    # Terminate: held at its completion, the name is already gone and released.
    terminate = lifecycle_action(iid, "web", TERMINATE, launching=False, account=MEMBER,
                                 region=MEMBER_REGION)
    token = begin(proxy, terminate, "Terminating:Wait")
    answer, seen = invoke_until_completion(
        proxy, fn, terminate, lambda: (record(), world.holder(name_of(iid))))
    assert seen == (None, None), seen
    assert answer["lifecycle"][0]["result"] == "completed", answer
    last = proxy.lifecycle_actions()["completed"][-1]
    assert (last["account"], last["region"], last["instance_id"], last["hook"], last["token"]) == \
        (MEMBER, MEMBER_REGION, iid, TERMINATE, token), last
    assert issued.get(last["key"]) == f"arn:aws:iam::{MEMBER}:role/ec2-dns-member", last


def test_a_completion_signed_in_another_account_finds_no_action(world, dyn, proxy, start_function):
    """The proxy's account scoping, which the test above relies on: an action of a member's
    group is not found by the deployment's own credentials (as Auto Scaling answers), so the
    function's answer says so instead of "completed"."""
    [iid] = world.create_group("web", TAG, desired=1, account=MEMBER, region=MEMBER_REGION)
    put_hooks(world.client_of("autoscaling", MEMBER, MEMBER_REGION), "web")
    fn = start_function({"ACCOUNTS": MEMBER, "REGIONS": f"us-east-1,{MEMBER_REGION}",
                         "LIFECYCLE_HOOKS": f"{LAUNCH},{TERMINATE}"})
    launch = lifecycle_action(iid, "web", LAUNCH, account=MEMBER, region=MEMBER_REGION)
    d = launch["detail"]
    # Auto Scaling began it in the deployment's own account: the member's call cannot see it.
    proxy.begin_lifecycle_action(d["LifecycleActionToken"], "web", LAUNCH, iid, "Pending:Wait",
                                 region=MEMBER_REGION)
    answer = fn.invoke_ok(launch)
    assert answer["lifecycle"][0]["result"].startswith("not-active"), answer
    assert proxy.lifecycle_actions()["completed"] == []
