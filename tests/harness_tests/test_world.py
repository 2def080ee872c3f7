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

    owner = "123456789012/us-east-1/i-1"
    world.dynamodb.put_item(TableName="ec2-dns-locks", Item={
        "pk": {"S": "web.dyn.example.com"}, "owner": {"S": owner}, "version": {"N": "3"},
        "records": {"S": '[{"zone_id": "Z1", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]'}})
    world.dynamodb.put_item(TableName="ec2-dns-locks", Item={
        "pk": {"S": "free.dyn.example.com"}, "version": {"N": "2"}, "gen": {"N": "2"}})
    world.dynamodb.put_item(TableName="ec2-dns-locks", Item={
        "pk": {"S": f"owner#{owner}"}, "names": {"SS": ["web.dyn.example.com"]}})
    world.dynamodb.put_item(TableName="ec2-dns-locks", Item={
        "pk": {"S": "config#reconciler"}, "name_tag": {"S": "dnsname"}})
    lock = world.lock("WEB.dyn.example.com.")
    assert lock["owner"] == owner and lock["version"] == 3
    assert world.holder("web.dyn.example.com") == "i-1"
    assert world.holder("free.dyn.example.com") is None
    assert world.lock_records(lock) == [{"zone_id": "Z1", "type": "A", "ttl": 60,
                                         "values": ["192.0.2.1"]}]
    assert world.owner_index("i-1") == {"pk": f"owner#{owner}", "names": ["web.dyn.example.com"]}
    assert sorted(world.name_locks()) == ["free.dyn.example.com", "web.dyn.example.com"]
    assert list(world.held_locks()) == ["web.dyn.example.com"]
    assert world.recorded_config() == {"pk": "config#reconciler", "name_tag": "dnsname"}

    world.put_record(public, "_ec2-dns.web.dyn.example.com", "TXT", 300,
                     [f'"{owner} 7 A,AAAA"'])
    assert world.marker(public, "web.dyn.example.com") == {
        "owner": owner, "gen": 7, "types": ["A", "AAAA"], "deployment": None}
    world.put_record(public, "_ec2-dns.api.dyn.example.com", "TXT", 300,
                     [f'"{owner} 8 A prod"'])
    assert world.marker(public, "api.dyn.example.com") == {
        "owner": owner, "gen": 8, "types": ["A"], "deployment": "prod"}
    assert world.marker(private, "web.dyn.example.com") is None


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
