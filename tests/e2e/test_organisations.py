"""One deployment, several accounts and regions: the real binary assumes the member role
through STS (moto maps the assumed role's credentials to its account), reads each account
and region on its own, and keeps the names of one it cannot reach."""

from __future__ import annotations

import json
import time

from harness import address_call, ec2_state_change, ipv6_call, sqs_event

MEMBER = "210987654321"
STRANGER = "999999999999"
WEB = "web.dyn.example.com"
API = "api.dyn.example.com"
DB = "db.dyn.example.com"
APP = "app.dyn.example.com"
ORG = {"ACCOUNTS": MEMBER, "REGIONS": "us-east-1,eu-west-1"}


def run(ec2, name: str) -> str:
    return ec2.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "dnsname", "Value": name}]}],
    )["Instances"][0]["InstanceId"]


def describe(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def a_record(world, zone: str, name: str):
    return world.records(zone).get((name, "A"))


def test_one_deployment_serves_every_managed_account_and_region(world, dyn_public, start_function,
                                                               proxy, ctl):
    member_here = world.ec2_of(MEMBER, "us-east-1")
    member_away = world.ec2_of(MEMBER, "eu-west-1")
    own_away = world.ec2_of(None, "eu-west-1")
    web = world.run_instance({"dnsname": WEB})
    api = run(member_here, API)
    db = run(member_away, DB)
    app = run(own_away, APP)
    fn = start_function(ORG)
    proxy.reset_calls()

    answer = fn.invoke_ok({"reconcile": "all", "dry_run": False})

    assert answer["failed"] == [] and answer["conflicts"] == [], answer
    for name, ec2, iid, where in [(WEB, None, web, "123456789012/us-east-1"),
                                  (API, member_here, api, f"{MEMBER}/us-east-1"),
                                  (DB, member_away, db, f"{MEMBER}/eu-west-1"),
                                  (APP, own_away, app, "123456789012/eu-west-1")]:
        assert world.lock(name)["owner"] == f"{where}/{iid}", name
        ip = world.public_ip(iid) if ec2 is None else describe(ec2, iid)["PublicIpAddress"]
        assert a_record(world, dyn_public.public, name) == (60, [ip]), name
        assert world.marker(dyn_public.public, name)["owner"] == f"{where}/{iid}"
    # The status tag is written where the instance lives, through the member role.
    tags = {t["Key"]: t["Value"] for t in describe(member_away, db)["Tags"]}
    assert tags["dnsname-status"].startswith("ok"), tags
    calls = proxy.calls()
    # The member's role is assumed once for both of its regions (their listings start at
    # once), and its credentials kept for their life: the events below assume nothing.
    assert calls.get("sts:AssumeRole") == 1, calls
    proxy.reset_calls()
    assert calls.get("ec2:DescribeInstances") == 4, calls  # one listing per account and region

    # The operator CLI acts with the recorded accounts: a member's instance is named in full.
    plan = ctl("plan", "--instances", f"{MEMBER}/us-east-1/{api}", "--json")
    assert json.loads(plan.stdout)["changes"] == [], plan.stdout
    stranger = ctl("plan", "--instances", f"{STRANGER}/us-east-1/i-0123456789abcdef0", expect=1)
    assert "no such instance" in stranger.stderr and STRANGER in stranger.stderr, stranger.stderr
    proxy.reset_calls()  # the CLI assumed the member role in its own process

    # An event forwarded from the member's eu-west-1: the instance stopped.
    member_away.stop_instances(InstanceIds=[db])
    fn.invoke_ok(ec2_state_change(db, "stopped", region="eu-west-1", account=MEMBER))
    assert a_record(world, dyn_public.public, DB) is None
    assert world.holder(DB) is None
    assert "sts:AssumeRole" not in proxy.calls(), proxy.calls()

    # An event from an account this deployment does not manage changes nothing.
    before = world.records(dyn_public.public)
    ignored = fn.invoke_ok(ec2_state_change("i-0123456789abcdef0", "running", account=STRANGER))
    assert STRANGER in ignored["ignored"] and "does not manage" in ignored["ignored"], ignored
    assert world.records(dyn_public.public) == before


def test_a_member_account_that_refuses_the_role_keeps_its_names(world, dyn_public, start_function,
                                                                 proxy):
    member = world.ec2_of(MEMBER, "us-east-1")
    api = run(member, API)
    web = world.run_instance({"dnsname": WEB})
    fn = start_function({**ORG, "REGIONS": "us-east-1"})
    fn.invoke_ok({"reconcile": "all", "dry_run": False})
    assert world.lock(API)["owner"] == f"{MEMBER}/us-east-1/{api}"
    kept = a_record(world, dyn_public.public, API)

    # The member's trust policy breaks, and the instance here gets a new address.
    fault = proxy.add_fault(service="sts", operation="AssumeRole", fault="access_denied", count=50)
    world.stop(web)
    world.start(web)
    fresh = start_function({**ORG, "REGIONS": "us-east-1"})  # a new container: no session yet
    answer = fresh.invoke_ok({"reconcile": "all", "dry_run": False})

    assert proxy.fault_history()[0]["fired"] >= 1, fault
    assert a_record(world, dyn_public.public, WEB) == (60, [world.public_ip(web)])
    assert a_record(world, dyn_public.public, API) == kept, "unobserved, not gone"
    assert world.lock(API)["owner"] == f"{MEMBER}/us-east-1/{api}"
    failed = {f["name"]: f["reason"] for f in answer["failed"]}
    assert list(failed) == [f"{MEMBER}/us-east-1"], answer
    assert "not reconciled" in failed[f"{MEMBER}/us-east-1"], failed
    # Readable: what was refused, and through which role.
    reason = failed[f"{MEMBER}/us-east-1"]
    assert "credentials could not be obtained" in reason and "AccessDenied" in reason, reason
    assert f"role arn:aws:iam::{MEMBER}:role/ec2-dns-member" in reason, reason
    assert "ErrorMetadata" not in reason and "SdkBody" not in reason, reason


def test_an_address_event_from_a_place_not_managed_makes_no_aws_call(world, dyn_public,
                                                                     start_function, proxy):
    run(world.ec2_of(MEMBER, "us-east-1"), API)
    fn = start_function(ORG)
    fn.invoke_ok({"reconcile": "all", "dry_run": False})
    proxy.reset_calls()

    # Another account of the organisation forwards an address moving off an instance, or
    # IPv6 addresses assigned to an interface, and so does a managed account from a region
    # this deployment does not manage.
    for account, region in [(STRANGER, "us-east-1"), (MEMBER, "ap-south-1")]:
        for event in [
            address_call("DisassociateAddress", {"associationId": "eipassoc-0123456789abcdef0"},
                         account=account, region=region),
            ipv6_call("AssignIpv6Addresses", "eni-0123456789abcdef0", ["2001:db8::1"],
                      account=account, region=region),
        ]:
            answer = fn.invoke_ok(event)
            assert account in answer["ignored"] and "does not manage" in answer["ignored"], answer
            assert fn.invoke_ok(sqs_event([event])) == {"batchItemFailures": []}

    assert proxy.calls() == {}, proxy.calls()
    assert "not managed by this deployment" in fn.log_tail(60)


def test_a_member_accounts_ipv6_event_moves_its_aaaa_record_through_the_member_role(
        world, dyn_public, start_function, proxy):
    member = world.ec2_of(MEMBER, "eu-west-1")
    vpc = member.create_vpc(CidrBlock="10.30.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = member.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0][
        "Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    subnet = member.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.30.1.0/24",
                                  Ipv6CidrBlock=block.replace("::/56", "::/64"))["Subnet"]["SubnetId"]
    member.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    db = member.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "dnsname", "Value": DB}]}],
    )["Instances"][0]
    eni = db["NetworkInterfaces"][0]["NetworkInterfaceId"]
    fn = start_function(ORG)
    fn.invoke_ok(ec2_state_change(db["InstanceId"], "running", region="eu-west-1", account=MEMBER))
    assert world.lock(DB)["owner"] == f"{MEMBER}/eu-west-1/{db['InstanceId']}"
    assert world.records(dyn_public.public).get((DB, "AAAA")) is None

    # Forwarded from the member's eu-west-1: the interface is looked up there.
    assigned = member.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)[
        "AssignedIpv6Addresses"]
    fn.invoke_ok(ipv6_call("AssignIpv6Addresses", eni, assigned, region="eu-west-1",
                           account=MEMBER))
    assert world.records(dyn_public.public)[(DB, "AAAA")] == (60, assigned)
    member.unassign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=assigned)
    fn.invoke_ok(ipv6_call("UnassignIpv6Addresses", eni, assigned, region="eu-west-1",
                           account=MEMBER))
    assert world.records(dyn_public.public).get((DB, "AAAA")) is None
    assert a_record(world, dyn_public.public, DB) is not None


def test_a_lost_lock_table_is_rebuilt_with_a_member_accounts_names(world, dyn_public,
                                                                   start_function, ctl):
    member = world.ec2_of(MEMBER, "us-east-1")
    here = world.run_instance()  # launched first: the longest-running claimant, later
    time.sleep(1.1)  # launch times have a resolution of one second
    api = run(member, API)
    fn = start_function(ORG)
    fn.invoke_ok({"reconcile": "all", "dry_run": False})
    world.set_tags(here, {"dnsname": API})
    answer = fn.invoke_ok({"reconcile": "all", "dry_run": False})
    assert [c["instance"] for c in answer["conflicts"]] == [here], answer
    before = world.lock(API)
    assert before["owner"] == f"{MEMBER}/us-east-1/{api}"
    # The table is lost, all but the recorded configuration (ACCOUNTS and REGIONS in it).
    for pk in list(world.lock_items()):
        if not pk.startswith("config#"):
            world.dynamodb.delete_item(TableName=world.lock_table, Key={"pk": {"S": pk}})

    rebuilt = ctl("rebuild")

    assert "1 lock item(s) rebuilt" in rebuilt.stdout, rebuilt.stdout
    after = world.lock(API)
    assert (after["owner"], after["gen"], after["records"]) == \
        (before["owner"], before["gen"], before["records"])
    # The claimant here, launched earlier, does not take the member's name over.
    answer = fn.invoke_ok({"reconcile": "all", "dry_run": False})
    assert world.lock(API)["owner"] == f"{MEMBER}/us-east-1/{api}", answer
    assert a_record(world, dyn_public.public, API) == \
        (60, [describe(member, api)["PublicIpAddress"]])
    assert [c["instance"] for c in answer["conflicts"]] == [here], answer
