"""IPv6 addresses assigned to or unassigned from a network interface (CloudTrail's
`AssignIpv6Addresses`, `UnassignIpv6Addresses`): the AAAA record of the instance the
interface is attached to follows within the one event; an interface that leads to no
tagged instance is ignored after one read, and writes nothing.

moto 5.2 does not implement DescribeInstances' `network-interface.network-interface-id`
filter, which the function uses to find the interface's instance: the strict proxy answers
it as EC2 does (tests/harness/proxy.py), in the test setup only."""

from __future__ import annotations

from harness import ec2_state_change, ipv6_call, sqs_event
from e2e.expect import published

WEB = "web.dyn.example.com"
DB = "db.dyn.example.com"


def dual_stack_subnet(world) -> str:
    """A subnet with an IPv6 block whose instances get a public IPv4 too."""
    vpc = world.ec2.create_vpc(CidrBlock="10.20.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = world.ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0][
        "Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    subnet = world.ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.20.1.0/24",
                                     Ipv6CidrBlock=block.replace("::/56", "::/64"))["Subnet"]
    world.ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"],
                                      MapPublicIpOnLaunch={"Value": True})
    return subnet["SubnetId"]


def interface_of(world, instance_id: str) -> str:
    return world.instance(instance_id)["NetworkInterfaces"][0]["NetworkInterfaceId"]


def test_the_aaaa_record_follows_assigned_and_unassigned_ipv6_addresses_within_one_event(
        world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB}, SubnetId=dual_stack_subnet(world))
    eni = interface_of(world, web)
    fn.invoke_ok(ec2_state_change(web, "running"))
    published(world, dyn, WEB, web)
    a = world.records(dyn.public)[(WEB, "A")]
    assert (WEB, "AAAA") not in world.records(dyn.public)

    # Two addresses assigned: the event names the interface; one read finds the instance.
    assigned = world.ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=2)[
        "AssignedIpv6Addresses"]
    proxy.reset_calls()
    report = fn.invoke_ok(ipv6_call("AssignIpv6Addresses", eni, assigned))
    assert world.records(dyn.public)[(WEB, "AAAA")] == (60, sorted(assigned))
    published(world, dyn, WEB, web)
    assert [(c["type"], c["action"]) for c in report["changes"] if c["type"] != "TXT"] == \
        [("AAAA", "CREATE")], report
    calls = proxy.calls()
    assert "dynamodb:Scan" not in calls and "ec2:DescribeNetworkInterfaces" not in calls, calls
    assert calls["ec2:DescribeInstances"] >= 2, calls  # the interface's instance, then the instance

    # One unassigned: the record keeps the other.
    world.ec2.unassign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=[assigned[0]])
    fn.invoke_ok(ipv6_call("UnassignIpv6Addresses", eni, [assigned[0]]))
    assert world.records(dyn.public)[(WEB, "AAAA")] == (60, [assigned[1]])

    # The last one unassigned: the AAAA record goes, the A record stays.
    world.ec2.unassign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=[assigned[1]])
    fn.invoke_ok(ipv6_call("UnassignIpv6Addresses", eni, [assigned[1]]))
    assert (WEB, "AAAA") not in world.records(dyn.public)
    assert world.records(dyn.public)[(WEB, "A")] == a
    published(world, dyn, WEB, web)

    # Through the queue, as deployed: the same, and no failure.
    more = world.ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)[
        "AssignedIpv6Addresses"]
    event = ipv6_call("AssignIpv6Addresses", eni, more)
    assert fn.invoke_ok(sqs_event([event, event])) == {"batchItemFailures": []}
    assert world.records(dyn.public)[(WEB, "AAAA")] == (60, more)


def test_an_interface_of_no_instance_or_of_an_untagged_one_is_ignored_after_one_read(
        world, dyn, fn, proxy):
    subnet = dual_stack_subnet(world)
    untagged = world.run_instance(SubnetId=subnet)
    detached = world.ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"][
        "NetworkInterfaceId"]
    world.run_instance({"dnsname": DB}, SubnetId=subnet)  # tagged, but not the one asked about
    for eni, says in [
        (interface_of(world, untagged), f"attached to 123456789012/us-east-1/{untagged}, which has no \"dnsname\" tag"),
        (detached, f"network interface {detached} (account 123456789012 region us-east-1) is not attached to an instance"),
    ]:
        assigned = world.ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)[
            "AssignedIpv6Addresses"]
        proxy.reset_calls()
        answer = fn.invoke_ok(ipv6_call("AssignIpv6Addresses", eni, assigned))
        assert says in answer.get("ignored", ""), answer
        assert proxy.calls() == {"ec2:DescribeInstances": 1}, proxy.calls()
    assert world.held_locks() == {}
    assert fn.log_tail(60).count("event ignored") >= 2
