"""Races between several real function processes (a smoke test: the proxy serialises
DynamoDB so moto's conditional writes are atomic; the strict proof of the race properties
runs on the in-process fakes, `lambda/src/proptests.rs`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from harness import ec2_state_change
from harness.runtime import LambdaError

ROUNDS = 6


def settle(fns, world, events):
    """Invoke the events concurrently, one process each; retry what failed, as the platform
    would (an error means "retry me")."""
    with ThreadPoolExecutor(len(events)) as pool:
        results = list(pool.map(lambda fe: fe[0].invoke(fe[1]), zip(fns, events)))
    for fn, event, result in zip(fns, events, results):
        if isinstance(result, LambdaError):
            assert result.error_type == "Retryable", result
            fn.invoke_ok(event)


def assert_one_owner_matching_dns(world, dyn, name, claimants):
    owner = world.holder(name)
    running = [i for i in claimants if world.instance(i)["State"]["Name"] == "running"]
    if not running:
        assert owner is None, world.lock(name)
        assert (name, "A") not in world.records(dyn.public)
        return
    assert owner in running, (world.lock(name), running)
    assert world.records(dyn.public)[(name, "A")][1] == [world.public_ip(owner)]
    assert world.records(dyn.private)[(name, "A")][1] == [world.private_ip(owner)]
    for other in running:
        if other != owner:
            assert world.status_tag(other).startswith(f"conflict: {name} is owned by {owner}")


def test_concurrent_claims_from_several_processes_leave_exactly_one_owner(world, dyn, start_function):
    fns = [start_function() for _ in range(3)]
    for r in range(ROUNDS):
        name = f"race{r}.dyn.example.com"
        ids = [world.run_instance({"dnsname": name}) for _ in range(3)]
        settle(fns, world, [ec2_state_change(i, "running") for i in ids])
        assert_one_owner_matching_dns(world, dyn, name, ids)


def test_a_claim_racing_the_owners_release_leaves_exactly_one_owner(world, dyn, start_function):
    fns = [start_function() for _ in range(3)]
    for r in range(ROUNDS):
        name = f"handover{r}.dyn.example.com"
        first = world.run_instance({"dnsname": name})
        fns[0].invoke_ok(ec2_state_change(first, "running"))
        others = [world.run_instance({"dnsname": name}) for _ in range(2)]
        world.stop(first)
        # The owner's stop event races the other two instances' start events.
        settle(fns, world, [ec2_state_change(first, "stopped")] + [ec2_state_change(i, "running") for i in others])
        assert_one_owner_matching_dns(world, dyn, name, [first] + others)
        assert world.holder(name) in others
