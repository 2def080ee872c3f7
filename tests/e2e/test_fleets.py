"""Fleets: an Auto Scaling group propagates one name tag to every instance it launches; a
placeholder in the tag gives each instance its own name."""

from __future__ import annotations

from harness import ec2_state_change
from harness.moto import boto_client

TAG = "web-{id}.dyn.example.com"


def name_of(iid: str) -> str:
    return f"web-{iid}.dyn.example.com"


def test_an_auto_scaling_group_s_instances_each_get_their_own_name(world, dyn, fn):
    ids = world.create_group("web", TAG, desired=2)
    asg = boto_client("autoscaling", world.url)
    assert len(ids) == 2 and all(world.tags(i)["dnsname"] == TAG for i in ids)

    for iid in ids:
        fn.invoke_ok(ec2_state_change(iid, "running"))

    public = world.records(dyn.public)
    for iid in ids:
        assert public.get((name_of(iid), "A")) == (60, [world.public_ip(iid)]), public
        assert world.holder(name_of(iid)) == iid
        assert world.status_tag(iid) == "ok"

    # Scaled in: the group terminates one instance, and its name goes with it.
    gone, kept = ids
    asg.terminate_instance_in_auto_scaling_group(InstanceId=gone,
                                                 ShouldDecrementDesiredCapacity=True)
    fn.invoke_ok(ec2_state_change(gone, "terminated"))
    public = world.records(dyn.public)
    assert (name_of(gone), "A") not in public and world.holder(name_of(gone)) is None
    assert public.get((name_of(kept), "A")) == (60, [world.public_ip(kept)])
