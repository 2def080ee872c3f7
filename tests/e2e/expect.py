"""Assertions on the final state of the world (Route53 in moto, the lock table, tags)."""

from __future__ import annotations

from harness import World

TTL = 60


def zone_ids(dyn) -> list[str]:
    return [z for z in (dyn.public, dyn.private) if z]


def norm_zone(zone_id: str) -> str:
    return str(zone_id).split("/")[-1]


def lock_record_sets(world: World, item: dict) -> set:
    """{(zone_id, type, ttl, values)} of what a lock item says is in Route53."""
    out = set()
    for rs in World.lock_records(item):
        out.add((norm_zone(rs["zone_id"]), rs["type"], int(rs["ttl"]), tuple(sorted(rs["values"]))))
    return out


def route53_record_sets(world: World, dyn, name: str) -> set:
    out = set()
    for z in zone_ids(dyn):
        for (n, t), (ttl, values) in world.records(z, types=("A", "AAAA")).items():
            if n == name:
                out.add((z, t, ttl, tuple(values)))
    return out


def published(world: World, dyn, name: str, instance_id: str, *, ttl: int = TTL,
              status: bool = True) -> dict:
    """`name` points at `instance_id` everywhere, and the lock says so. Returns the lock."""
    public_ip = world.public_ip(instance_id)
    private_ip = world.private_ip(instance_id)
    public = world.records(dyn.public)
    assert public.get((name, "A")) == (ttl, [public_ip]), \
        f"public A of {name}: {public.get((name, 'A'))}, expected {public_ip} of {instance_id}"
    ipv6 = world.ipv6_addresses(instance_id)
    if ipv6:
        assert public.get((name, "AAAA")) == (ttl, ipv6)
    else:
        assert (name, "AAAA") not in public
    if dyn.private:
        private = world.records(dyn.private)
        assert private.get((name, "A")) == (ttl, [private_ip]), \
            f"private A of {name}: {private.get((name, 'A'))}, expected {private_ip}"
    for z in zone_ids(dyn):
        assert world.duplicate_record_sets(z) == []
    lock = world.lock(name)
    assert lock is not None, f"no lock for {name}"
    assert lock["owner"] == instance_id, f"lock of {name} owned by {lock['owner']}, not {instance_id}"
    assert isinstance(lock["version"], int) and lock["version"] >= 1
    assert "intent" not in lock, f"lock of {name} still has an intent: {lock.get('intent')}"
    assert lock_record_sets(world, lock) == route53_record_sets(world, dyn, name), \
        "the lock's `records` differ from what is in Route53"
    index = world.owner_index(instance_id)
    assert index is not None and name in index.get("names", []), \
        f"owner index of {instance_id} does not list {name}: {index}"
    if status:
        tag = world.status_tag(instance_id)
        assert tag is not None and tag.startswith(f"ok: {name}"), f"status tag: {tag!r}"
    return lock


def absent(world: World, dyn, name: str) -> None:
    """No record, no lock and no owner index entry for `name`."""
    for z in zone_ids(dyn):
        recs = world.records(z, types=("A", "AAAA", "TXT", "CNAME"))
        assert not [k for k in recs if k[0] == name], f"records of {name} left in {z}: {recs}"
    locks = world.lock_items()
    assert name not in locks, f"lock of {name} left: {locks[name]}"
    for pk, item in locks.items():
        if pk.startswith("owner#"):
            assert name not in item.get("names", []), f"{pk} still lists {name}"


def no_dns_state(world: World, dyn) -> None:
    """No A/AAAA record in any zone and an empty lock table (owner indexes included)."""
    for z in zone_ids(dyn):
        assert world.records(z, types=("A", "AAAA")) == {}, world.records(z)
    assert {k: v for k, v in world.lock_items().items()
            if not (k.startswith("owner#") and not v.get("names"))} == {}


def change_rows(report: dict) -> set:
    return {(c["action"], c["name"], c["type"], norm_zone(c["zone_id"]), tuple(sorted(c["values"])))
            for c in report["changes"]}
