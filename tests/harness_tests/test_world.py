"""The world helpers against moto."""

from harness import MotoServer  # noqa: F401  (fixtures come from conftest)


def test_zones_records_and_locks(world):
    world.create_lock_table()
    public = world.create_zone("dyn.example.com")
    private = world.create_zone("dyn.example.com", private=True)
    assert world.route53.get_hosted_zone(Id=private)["HostedZone"]["Config"]["PrivateZone"]
    assert not world.route53.get_hosted_zone(Id=public)["HostedZone"]["Config"]["PrivateZone"]

    world.put_record(public, "Web.dyn.example.com.", "A", 60, ["192.0.2.2", "192.0.2.1"])
    assert world.records(public) == {("web.dyn.example.com", "A"): (60, ["192.0.2.1", "192.0.2.2"])}
    assert world.records(private) == {}
    world.delete_record(public, "web.dyn.example.com", "A")
    assert world.records(public) == {}

    world.dynamodb.put_item(TableName="ec2-dns-locks", Item={
        "pk": {"S": "web.dyn.example.com"}, "owner": {"S": "i-1"}, "version": {"N": "3"},
        "records": {"S": '[{"zone_id": "Z1", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]'}})
    world.dynamodb.put_item(TableName="ec2-dns-locks", Item={
        "pk": {"S": "owner#i-1"}, "names": {"SS": ["web.dyn.example.com"]}})
    lock = world.lock("WEB.dyn.example.com.")
    assert lock["owner"] == "i-1" and lock["version"] == 3
    assert world.lock_records(lock) == [{"zone_id": "Z1", "type": "A", "ttl": 60,
                                         "values": ["192.0.2.1"]}]
    assert world.owner_index("i-1") == {"pk": "owner#i-1", "names": ["web.dyn.example.com"]}
    assert list(world.name_locks()) == ["web.dyn.example.com"]


def test_instances_addresses_and_tags(world):
    iid = world.run_instance({"dnsname": "web.dyn.example.com"})
    assert world.state(iid) == "running"
    first_ip = world.public_ip(iid)
    assert first_ip and world.private_ip(iid)
    world.stop(iid)
    assert world.state(iid) == "stopped" and world.public_ip(iid) is None
    world.start(iid)
    assert world.public_ip(iid) not in (None, first_ip)
    world.set_tags(iid, {"dnsname-status": "ok: web.dyn.example.com -> 192.0.2.1"})
    assert world.status_tag(iid) == "ok: web.dyn.example.com -> 192.0.2.1"
    world.delete_tags(iid, ["dnsname"])
    assert "dnsname" not in world.tags(iid)
    world.terminate(iid)
    assert world.state(iid) == "terminated"
