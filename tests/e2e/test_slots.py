"""Slot names: `web-{slot}.dyn.example.com` gives each instance of a group the lowest free
number, frees it when its instance stops, and gives it to the next one."""

from __future__ import annotations

from harness import ec2_state_change
from e2e.expect import absent, published

TAG = "web-{slot}.dyn.example.com"


def slot(n: int) -> str:
    return f"web-{n}.dyn.example.com"


def test_a_group_gets_numbered_names_and_a_freed_number_goes_to_the_next(world, dyn, fn):
    ids = [world.run_instance({"dnsname": TAG}) for _ in range(3)]
    for iid in ids:
        report = fn.invoke_ok(ec2_state_change(iid, "running"))
        assert report["failed"] == [] and report["conflicts"] == [] and report["skipped"] == []
    for n, iid in enumerate(ids, start=1):
        published(world, dyn, slot(n), iid, status=False)
        assert world.status_tag(iid) == f"ok: {slot(n)}"

    # The middle one stops: web-2 is released.
    first, middle, last = ids
    world.stop(middle)
    fn.invoke_ok(ec2_state_change(middle, "stopped"))
    absent(world, dyn, slot(2))
    assert world.status_tag(middle) == "released (instance stopped)"

    # A new instance of the group takes the freed number; the others keep theirs.
    newcomer = world.run_instance({"dnsname": TAG})
    report = fn.invoke_ok(ec2_state_change(newcomer, "running"))
    assert {c["name"] for c in report["changes"]} == {slot(2)}
    published(world, dyn, slot(2), newcomer, status=False)
    assert world.status_tag(newcomer) == f"ok: {slot(2)}"
    published(world, dyn, slot(1), first, status=False)
    published(world, dyn, slot(3), last, status=False)

    # A reconcile of everything changes nothing.
    report = fn.invoke_ok({"reconcile": "all"})
    assert report["changes"] == [] and report["failed"] == [] and report["conflicts"] == []
    for n, iid in ((1, first), (2, newcomer), (3, last)):
        published(world, dyn, slot(n), iid, status=False)
    assert world.holder(slot(4)) is None
