"""Shared names against the emulator, through the strict proxy: `shared:api.dyn.example.com`
puts every running member's addresses in one set, swapped as a whole when a member joins
or leaves; an exclusive claimant never takes the set, and a member that stops is out of it
after its own event."""

from __future__ import annotations

from harness import ec2_state_change
from harness.world import qualified

API = "api.dyn.example.com"
SHARED = f"shared:{API}"


def answers(world, dyn, name: str) -> tuple[list[str], list[str]]:
    """The public and private A values of `name` (empty when there is none)."""
    public = world.records(dyn.public).get((name, "A"), (None, []))[1]
    private = world.records(dyn.private).get((name, "A"), (None, []))[1]
    return sorted(public), sorted(private)


def expect_members(world, dyn, ids: list[str]) -> None:
    """The set holds exactly the addresses of `ids`; the lock lists them as members, each
    member's owner index names the name, and the marker names the lock's holder."""
    public, private = answers(world, dyn, API)
    assert public == sorted(world.public_ip(i) for i in ids)
    assert private == sorted(world.private_ip(i) for i in ids)
    lock = world.lock(API)
    assert set(lock["members"]) == {qualified(i) for i in ids}, lock
    assert lock["owner"] in lock["members"]
    for i in ids:
        assert API in world.owner_index(i)["names"], i
    marker = world.marker(dyn.public, API)
    assert marker["owner"] == lock["owner"] and marker["gen"] == lock["gen"], (marker, lock)


def test_members_join_and_leave_one_set_and_an_exclusive_claimant_never_takes_it(
        world, dyn, start_function, ctl):
    fn = start_function({"SHARED_NAMES": "true"})
    ids = [world.run_instance({"dnsname": SHARED}) for _ in range(3)]
    for iid in ids:
        report = fn.invoke_ok(ec2_state_change(iid, "running"))
        assert report["failed"] == [] and report["conflicts"] == [], report
    expect_members(world, dyn, ids)
    for iid in ids:
        assert world.status_tag(iid) == "ok"

    # The operator sees who shares it.
    out = ctl("status", env={"SHARED_NAMES": "true"}).stdout
    assert "shared by: " in out and all(i in out for i in ids), out

    # An exclusive claimant waits, and is told why.
    alone = world.run_instance({"dnsname": API})
    report = fn.invoke_ok(ec2_state_change(alone, "running"))
    assert [c["reason"] for c in report["conflicts"]] == [
        "is shared by other instances (shared:<name> joins them)"], report
    expect_members(world, dyn, ids)

    # A member stops: its own event takes its addresses out of the set, nobody else's.
    first, middle, last = ids
    world.stop(middle)
    report = fn.invoke_ok(ec2_state_change(middle, "stopped"))
    assert report["failed"] == [], report
    expect_members(world, dyn, [first, last])
    assert world.owner_index(middle) is None or API not in world.owner_index(middle).get("names", [])

    # A reconcile of everything changes nothing.
    report = fn.invoke_ok({"reconcile": "all"})
    assert report["changes"] == [] and report["failed"] == [], report

    # The last members go: the waiting exclusive claimant takes the name.
    for iid in (first, last):
        world.stop(iid)
        fn.invoke_ok(ec2_state_change(iid, "stopped"))
    lock = world.lock(API)
    assert lock["owner"] == qualified(alone) and "members" not in lock, lock
    assert answers(world, dyn, API) == ([world.public_ip(alone)], [world.private_ip(alone)])


def test_without_shared_names_a_shared_entry_is_refused_and_nothing_is_written(
        world, dyn, start_function):
    fn = start_function()
    iid = world.run_instance({"dnsname": SHARED})
    report = fn.invoke_ok(ec2_state_change(iid, "running"))
    assert report["changes"] == [], report
    assert world.lock(API) is None
    assert answers(world, dyn, API) == ([], [])
    assert "shared names are not enabled in this deployment (SHARED_NAMES)" in world.status_tag(iid)
