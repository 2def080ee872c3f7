"""An instance's life: start, stop, start again, terminate; and what its tag asks for."""

from __future__ import annotations

from harness import ec2_state_change
from e2e.expect import absent, change_rows, published

WEB = "web.dyn.example.com"
API = "api.dyn.example.com"


def test_started_instance_gets_public_and_private_a_records(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB, "Name": "web"})

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web)
    assert change_rows(report) == {
        ("CREATE", WEB, "A", dyn.public, (world.public_ip(web),)),
        ("CREATE", WEB, "A", dyn.private, (world.private_ip(web),)),
    }
    assert report["conflicts"] == [] and report["skipped"] == [] and report["failed"] == []
    assert world.lock(WEB)["version"] >= 1


def test_stopped_instance_loses_its_records_and_its_lock(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)

    world.stop(web)
    report = fn.invoke_ok(ec2_state_change(web, "stopped"))

    absent(world, dyn, WEB)
    assert world.status_tag(web) == "released (instance stopped)"
    assert {(c["action"], c["zone_id"].split("/")[-1]) for c in report["changes"]} == {
        ("DELETE", dyn.public), ("DELETE", dyn.private)}


def test_terminated_instance_loses_its_records_and_releases_the_lock(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)

    world.terminate(web)
    fn.invoke_ok(ec2_state_change(web, "terminated"))

    absent(world, dyn, WEB)
    assert world.owner_index(web) is None or world.owner_index(web).get("names", []) == []


def test_restarted_instance_record_follows_its_new_public_address(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    old_ip = world.public_ip(web)
    version = world.lock(WEB)["version"]

    # the stop event is lost; only the new running event arrives
    world.stop(web)
    world.start(web)
    assert world.public_ip(web) != old_ip
    report = fn.invoke_ok(ec2_state_change(web, "running"))

    lock = published(world, dyn, WEB, web)
    assert lock["version"] > version
    assert ("UPDATE", WEB, "A", dyn.public, (world.public_ip(web),)) in change_rows(report)


def test_stopped_and_started_instance_gets_its_name_back(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    absent(world, dyn, WEB)

    world.start(web)
    fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web)


def test_one_instance_may_claim_several_names(world, dyn, fn):
    web = world.run_instance({"dnsname": f"{WEB}, API.dyn.example.com."})

    fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web)
    published(world, dyn, API, web)
    assert sorted(world.owner_index(web)["names"]) == [API, WEB]


def test_record_ttl_and_name_tag_come_from_the_configuration(world, dyn, start_function):
    fn = start_function({"NAME_TAG": "hostname", "RECORD_TTL": "300"})
    web = world.run_instance({"hostname": WEB})
    ignored = world.run_instance({"dnsname": API})

    fn.invoke_ok(ec2_state_change(web, "running"))
    fn.invoke_ok(ec2_state_change(ignored, "running"))

    published(world, dyn, WEB, web, ttl=300, status=False)
    assert world.tags(web)["hostname-status"] == "ok"
    absent(world, dyn, API)
    assert "dnsname-status" not in world.tags(ignored)


def test_instance_with_ipv6_gets_an_aaaa_record(world, dyn, fn):
    vpc = world.ec2.create_vpc(CidrBlock="10.10.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    vpc_ipv6 = world.ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0][
        "Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    subnet = world.ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.10.1.0/24",
                                     Ipv6CidrBlock=vpc_ipv6.replace("::/56", "::/64"))["Subnet"]
    world.ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"],
                                      MapPublicIpOnLaunch={"Value": True})
    web = world.run_instance({"dnsname": WEB}, SubnetId=subnet["SubnetId"])
    eni = world.instance(web)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    world.ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)
    assert world.ipv6_addresses(web) and world.public_ip(web)

    fn.invoke_ok(ec2_state_change(web, "running"))

    published(world, dyn, WEB, web)
    assert world.records(dyn.public)[(WEB, "AAAA")] == (60, world.ipv6_addresses(web))
