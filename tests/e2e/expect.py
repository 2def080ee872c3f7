"""Assertions on the final state of the world (Route53 in moto, the lock table, tags)."""

from __future__ import annotations

from harness import World
from harness.world import marker_name, qualified

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


def marked(world: World, dyn, name: str, lock: dict) -> None:
    """Beside the records of `name` in each zone, the marker of the lock's holder and
    generation, listing exactly the types it holds there; no marker anywhere else."""
    by_zone: dict[str, set] = {}
    for z, t, _, _ in lock_record_sets(world, lock):
        by_zone.setdefault(z, set()).add(t)
    for z in zone_ids(dyn):
        m = world.marker(z, name)
        if z not in by_zone:
            assert m is None, f"marker of {name} in {z} without records: {m}"
            continue
        assert m is not None, f"no marker beside the records of {name} in {z}"
        assert m == {"owner": lock["owner"], "gen": lock["gen"],
                     "types": sorted(by_zone[z], key=["A", "AAAA"].index),
                     "deployment": lock.get("deployment")}, (m, lock)


def published(world: World, dyn, name: str, instance_id: str, *, ttl: int = TTL,
              status: bool = True) -> dict:
    """`name` points at `instance_id` everywhere, the lock says so, and a marker beside
    the records says whose they are. Returns the lock."""
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
    assert lock["owner"] == qualified(instance_id), \
        f"lock of {name} held by {lock.get('owner')}, not {qualified(instance_id)}"
    assert lock["layout"] == 2 and isinstance(lock["version"], int) and lock["gen"] >= 1
    assert not lock.get("check"), f"lock of {name} is flagged for a check: {lock}"
    assert "intent" not in lock, f"lock of {name} carries a previous release's intent"
    assert lock_record_sets(world, lock) == route53_record_sets(world, dyn, name), \
        "the lock's `records` differ from what is in Route53"
    marked(world, dyn, name, lock)
    index = world.owner_index(instance_id)
    assert index is not None and name in index.get("names", []), \
        f"owner index of {instance_id} does not list {name}: {index}"
    if status:
        tag = world.status_tag(instance_id)
        assert tag == "ok", f"status tag: {tag!r}"
    return lock


def absent(world: World, dyn, name: str) -> None:
    """No record and no marker for `name`, nobody holds it, no owner index lists it."""
    for z in zone_ids(dyn):
        recs = world.records(z, types=("A", "AAAA", "TXT", "CNAME"))
        assert not [k for k in recs if k[0] in (name, marker_name(name))], \
            f"records of {name} left in {z}: {recs}"
    lock = world.lock(name)
    assert lock is None or not lock.get("owner"), f"{name} still held: {lock}"
    for pk, item in world.lock_items().items():
        if pk.startswith("owner#"):
            assert name not in item.get("names", []), f"{pk} still lists {name}"


def no_dns_state(world: World, dyn) -> None:
    """No record or marker in any zone, nobody holds a name, and no owner index lists one."""
    for z in zone_ids(dyn):
        assert world.records(z, types=("A", "AAAA", "TXT")) == {}, world.records(z)
    assert world.held_locks() == {}
    assert [k for k, v in world.lock_items().items()
            if k.startswith("owner#") and v.get("names")] == []


def change_rows(report: dict) -> set:
    """The address changes of a report (marker-only rows left out)."""
    return {(c["action"], c["name"], c["type"], norm_zone(c["zone_id"]), tuple(sorted(c["values"])))
            for c in report["changes"] if c["action"] != "MARK"}
