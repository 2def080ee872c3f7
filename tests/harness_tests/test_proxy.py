"""The strict AWS proxy, proven with boto3 against moto through the proxy."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import botocore.config
import botocore.exceptions
import pytest

from harness import ProxyClient
from harness.moto import boto_client
from harness.proxy import check_change_batch, parse_change_batch

ZONE = "dyn.example.com"


def no_retry_client(service: str, url: str, **cfg):
    config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, **cfg)
    return boto_client(service, url, config=config)


@pytest.fixture
def r53(proxy):
    return no_retry_client("route53", proxy.url)


@pytest.fixture
def zone(world):
    return world.create_zone(ZONE)


def change(action, name, values, ttl=60, rtype="A"):
    return {"Action": action, "ResourceRecordSet": {
        "Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}}


def apply(r53, zone, *changes):
    return r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": list(changes)})


def error_of(excinfo):
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


# ---------------------------------------------------------------- Route53 rules


def test_create_over_an_existing_record_is_rejected_and_changes_nothing(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, change("CREATE", "web.dyn.example.com.", ["192.0.2.2"]))
    code, message, status = error_of(e)
    assert (code, status) == ("InvalidChangeBatch", 400)
    assert message == ("[Tried to create resource record set [name='web.dyn.example.com.', "
                       "type='A'] but it already exists]")
    assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.1"])}
    assert world.duplicate_record_sets(zone) == []


def test_create_compares_names_case_insensitively(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, change("CREATE", "WEB.Dyn.Example.Com", ["192.0.2.2"]))
    assert error_of(e)[0] == "InvalidChangeBatch"


def test_delete_with_other_values_or_ttl_is_rejected(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.1", "192.0.2.2"]))
    for values, ttl in ((["192.0.2.1"], 60), (["192.0.2.1", "192.0.2.2"], 300),
                        (["192.0.2.9"], 60)):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            apply(r53, zone, change("DELETE", "web.dyn.example.com", values, ttl=ttl))
        code, message, _ = error_of(e)
        assert code == "InvalidChangeBatch"
        assert "but the values provided do not match the current values" in message
    assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.1", "192.0.2.2"])}


def test_delete_with_exact_values_in_any_order_is_accepted(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.1", "192.0.2.2"]))
    apply(r53, zone, change("DELETE", "web.dyn.example.com.", ["192.0.2.2", "192.0.2.1"]))
    assert world.records(zone) == {}


def test_delete_of_a_missing_record_is_rejected(r53, zone):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, change("DELETE", "gone.dyn.example.com", ["192.0.2.1"]))
    code, message, _ = error_of(e)
    assert code == "InvalidChangeBatch"
    assert message == ("[Tried to delete resource record set [name='gone.dyn.example.com.', "
                       "type='A'] but it was not found]")


def test_a_name_outside_the_zone_is_rejected(r53, zone, world):
    for name in ("evil.com", "xdyn.example.com", "web.dyn.example.com.evil.com"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            apply(r53, zone, change("UPSERT", name, ["192.0.2.1"]))
        code, message, _ = error_of(e)
        assert code == "InvalidChangeBatch"
        assert "is not permitted in zone dyn.example.com." in message
    assert world.records(zone) == {}


def test_a_failing_batch_applies_nothing(r53, zone, world):
    apply(r53, zone, change("CREATE", "taken.dyn.example.com", ["192.0.2.1"]))
    with pytest.raises(botocore.exceptions.ClientError):
        apply(r53, zone,
              change("CREATE", "new.dyn.example.com", ["192.0.2.5"]),
              change("UPSERT", "other.dyn.example.com", ["192.0.2.6"]),
              change("CREATE", "taken.dyn.example.com", ["192.0.2.7"]))
    assert world.records(zone) == {("taken.dyn.example.com", "A"): (60, ["192.0.2.1"])}


def test_delete_and_create_in_one_batch_swap_a_record(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
    apply(r53, zone,
          change("DELETE", "web.dyn.example.com", ["192.0.2.1"]),
          change("CREATE", "web.dyn.example.com", ["192.0.2.2"]))
    assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.2"])}


def test_upsert_is_allowed_over_an_existing_record(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
    apply(r53, zone, change("UPSERT", "web.dyn.example.com", ["192.0.2.3"], ttl=30))
    assert world.records(zone) == {("web.dyn.example.com", "A"): (30, ["192.0.2.3"])}


def test_records_are_read_across_pages(r53, zone, world):
    # moto pages ListResourceRecordSets at 300 record sets
    names = [f"h{i:03d}.dyn.example.com" for i in range(320)]
    for i in range(0, len(names), 100):
        apply(r53, zone, *[change("CREATE", n, ["192.0.2.1"]) for n in names[i:i + 100]])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, change("CREATE", names[-1], ["192.0.2.1"]))
    assert error_of(e)[0] == "InvalidChangeBatch"
    apply(r53, zone, change("DELETE", names[-1], ["192.0.2.1"]))


def test_concurrent_creates_of_one_name_have_exactly_one_winner(proxy, zone, world):
    results = []

    def create(i):
        client = no_retry_client("route53", proxy.url)
        try:
            apply(client, zone, change("CREATE", "race.dyn.example.com", [f"192.0.2.{i}"]))
            results.append("ok")
        except botocore.exceptions.ClientError as e:
            results.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=create, args=(i,)) for i in range(1, 9)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == ["InvalidChangeBatch"] * 7 + ["ok"]
    assert world.duplicate_record_sets(zone) == []


def test_batch_checker_simulates_changes_in_order():
    body = (b'<?xml version="1.0"?><ChangeResourceRecordSetsRequest '
            b'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>'
            b"<Change><Action>DELETE</Action><ResourceRecordSet><Name>a.z.</Name><Type>A</Type>"
            b"<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>1.1.1.1</Value></ResourceRecord>"
            b"</ResourceRecords></ResourceRecordSet></Change>"
            b"<Change><Action>DELETE</Action><ResourceRecordSet><Name>a.z.</Name><Type>A</Type>"
            b"<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>1.1.1.1</Value></ResourceRecord>"
            b"</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
            b"</ChangeResourceRecordSetsRequest>")
    changes = parse_change_batch(body)
    current = {("a.z", "A", None): (60, frozenset({"1.1.1.1"}))}
    assert check_change_batch("z.", current, changes[:1]) == []
    errors = check_change_batch("z.", current, changes)
    assert errors == ["Tried to delete resource record set [name='a.z.', type='A'] "
                      "but it was not found"]


# ---------------------------------------------------------------- counters


def test_calls_are_counted_per_service_and_operation(proxy, world, zone):
    world.create_lock_table()
    ec2 = boto_client("ec2", proxy.url)
    ddb = boto_client("dynamodb", proxy.url)
    r53 = boto_client("route53", proxy.url)
    ec2.describe_instances()
    ec2.describe_instances()
    ddb.put_item(TableName="ec2-dns-locks", Item={"pk": {"S": "x"}})
    ddb.get_item(TableName="ec2-dns-locks", Key={"pk": {"S": "x"}})
    r53.list_hosted_zones()
    r53.list_resource_record_sets(HostedZoneId=zone)
    change_id = apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))["ChangeInfo"]["Id"]
    r53.get_change(Id=change_id)
    assert ProxyClient(proxy.url).calls() == {
        "ec2:DescribeInstances": 2,
        "dynamodb:PutItem": 1,
        "dynamodb:GetItem": 1,
        "route53:ListHostedZones": 1,
        "route53:ListResourceRecordSets": 1,
        "route53:ChangeResourceRecordSets": 1,
        "route53:GetChange": 1,
    }
    assert proxy.write_calls() == {"dynamodb:PutItem": 1, "route53:ChangeResourceRecordSets": 1}
    ProxyClient(proxy.url).reset_calls()
    assert ProxyClient(proxy.url).calls() == {}


def test_rejected_batches_are_counted_too(proxy, r53, zone):
    apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))
    with pytest.raises(botocore.exceptions.ClientError):
        apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))
    assert proxy.calls() == {"route53:ChangeResourceRecordSets": 2}


def test_unknown_control_routes_and_bad_faults_are_refused(proxy):
    for method, path, body in (("GET", "/__ec2dns/nope", None),
                               ("POST", "/__ec2dns/faults", b'{"service": "ec2", "fault": "boom"}'),
                               ("POST", "/__ec2dns/faults", b'{"fault": "throttle"}')):
        req = urllib.request.Request(proxy.url + path, data=body, method=method)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code in (400, 404)


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("kind, code, status", [
    ("throttle", "Throttling", 400),
    ("prior_request_not_complete", "PriorRequestNotComplete", 400),
    ("http500", "InternalError", 500),
])
def test_route53_faults_fire_once_in_route53_format(proxy, r53, zone, world, kind, code, status):
    ProxyClient(proxy.url).add_fault(service="route53", operation="ChangeResourceRecordSets",
                                     fault=kind, phase="before", count=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))
    assert error_of(e)[0] == code and error_of(e)[2] == status
    assert world.records(zone) == {}
    assert ProxyClient(proxy.url).faults() == []
    apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))
    assert world.records(zone) == {("a.dyn.example.com", "A"): (60, ["192.0.2.1"])}


def test_a_fault_after_forwarding_applies_the_change_and_fails_the_answer(proxy, r53, zone, world):
    proxy.add_fault(service="route53", operation="ChangeResourceRecordSets", fault="http500",
                    phase="after")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))
    assert error_of(e)[2] == 500
    assert world.records(zone) == {("a.dyn.example.com", "A"): (60, ["192.0.2.1"])}


def test_a_fault_with_count_is_consumed_by_that_many_matching_calls(proxy, world):
    world.create_lock_table()
    ddb = no_retry_client("dynamodb", proxy.url)
    proxy.add_fault(service="dynamodb", operation="GetItem", fault="throttle", count=2)
    ddb.put_item(TableName="ec2-dns-locks", Item={"pk": {"S": "x"}})  # not matching
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ddb.get_item(TableName="ec2-dns-locks", Key={"pk": {"S": "x"}})
        assert e.value.response["Error"]["Code"] == "ThrottlingException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ddb.get_item(TableName="ec2-dns-locks", Key={"pk": {"S": "x"}})["Item"]
    assert proxy.calls()["dynamodb:GetItem"] == 3


def test_ec2_throttling_is_request_limit_exceeded(proxy, world):
    ec2 = no_retry_client("ec2", proxy.url)
    ProxyClient(proxy.url).add_fault(service="ec2", operation="DescribeInstances")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_instances()
    assert e.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    ec2.describe_instances()


def test_the_sdk_retries_a_throttled_call_and_succeeds(proxy, world):
    ec2 = boto_client("ec2", proxy.url)  # default retries
    proxy.add_fault(service="ec2", operation="DescribeInstances", count=1)
    ec2.describe_instances()
    assert proxy.calls()["ec2:DescribeInstances"] == 2


def test_a_reset_fault_closes_the_connection(proxy, r53, zone, world):
    proxy.add_fault(service="route53", operation="ListHostedZones", fault="reset")
    with pytest.raises((botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        r53.list_hosted_zones()
    r53.list_hosted_zones()


def test_a_timeout_fault_holds_the_answer(proxy, zone):
    proxy.add_fault(service="route53", operation="ListHostedZones", fault="timeout", delay_s=1.0)
    slow = no_retry_client("route53", proxy.url, read_timeout=0.3)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        slow.list_hosted_zones()
    started = time.monotonic()
    no_retry_client("route53", proxy.url).list_hosted_zones()
    assert time.monotonic() - started < 1.0


def test_faults_can_be_listed_and_cleared(proxy):
    client = ProxyClient(proxy.url)
    client.add_fault(service="route53", operation="*", fault="throttle", count=3)
    assert client.faults() == [{"service": "route53", "operation": "*", "fault": "throttle",
                                "phase": "before", "count": 3, "delay_s": 0.0, "path": ""}]
    client.clear_faults()
    assert client.faults() == []


def test_dynamodb_fault_body_is_aws_json(proxy, world):
    world.create_lock_table()
    proxy.add_fault(service="dynamodb", fault="http500")
    req = urllib.request.Request(
        proxy.url + "/", data=json.dumps({"TableName": "ec2-dns-locks"}).encode(), method="POST",
        headers={"X-Amz-Target": "DynamoDB_20120810.DescribeTable",
                 "Content-Type": "application/x-amz-json-1.0",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261123/us-east-1/"
                                  "dynamodb/aws4_request, SignedHeaders=host, Signature=x"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 500
    assert json.loads(e.value.read())["__type"].endswith("#InternalServerError")


def test_valid_batches_moto_alone_would_refuse_are_applied(r53, zone, world):
    # moto checks DELETE against its journal (value order, spelling of the name) and
    # re-checks a repeated CREATE against the wrong records; Route53 accepts all of these.
    apply(r53, zone, change("CREATE", "zz.dyn.example.com.", ["192.0.2.1", "192.0.2.2"]))
    apply(r53, zone, change("DELETE", "zz.dyn.example.com", ["192.0.2.2", "192.0.2.1"]))
    apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))
    apply(r53, zone, change("DELETE", "a.dyn.example.com", ["192.0.2.1"]))
    apply(r53, zone, change("CREATE", "a.dyn.example.com", ["192.0.2.1"]))
    assert world.records(zone) == {("a.dyn.example.com", "A"): (60, ["192.0.2.1"])}
    apply(r53, zone, change("CREATE", "b.dyn.example.com", ["192.0.2.1"]),
          change("DELETE", "b.dyn.example.com", ["192.0.2.1"]))
    assert world.records(zone) == {("a.dyn.example.com", "A"): (60, ["192.0.2.1"])}


def test_full_batches_moto_alone_would_refuse_are_applied_as_one_call(proxy, r53, zone, world):
    # Route53 takes 1,000 CREATEs in one request (1,000 values). The proxy sends CREATE to
    # moto as UPSERT, which moto counts twice, and primes each DELETE with an UPSERT: both
    # must travel in parts, while the caller sees one call and one answer.
    names = [f"n{i:04d}.dyn.example.com" for i in range(1000)]
    proxy.reset_calls()
    apply(r53, zone, *[change("CREATE", n, ["192.0.2.1"]) for n in names])
    assert len(world.records(zone)) == 1000
    apply(r53, zone, *[c for n in names for c in (change("DELETE", n, ["192.0.2.1"]),
                                                   change("CREATE", n, ["192.0.2.2"]))][:1000])
    after = world.records(zone)
    assert sum(1 for v in after.values() if v == (60, ["192.0.2.2"])) == 500
    assert sum(1 for v in after.values() if v == (60, ["192.0.2.1"])) == 500
    assert proxy.calls()["route53:ChangeResourceRecordSets"] == 2
    assert proxy.split_route53_batches == 2
    # The batch is still validated whole: one bad change refuses all of it.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, *[change("DELETE", n, ["192.0.2.1"]) for n in names[500:999]],
              change("CREATE", names[0], ["192.0.2.9"]))
    assert error_of(e)[0] == "InvalidChangeBatch"
    assert world.records(zone) == after


def test_an_access_denied_fault_can_target_one_hosted_zone(proxy, r53, world):
    first, second = world.create_zone("one.example.com"), world.create_zone("two.example.com")
    proxy.add_fault(service="route53", operation="ListResourceRecordSets",
                    fault="access_denied", path=f"/hostedzone/{second}/", count=2)

    r53.list_resource_record_sets(HostedZoneId=first)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        r53.list_resource_record_sets(HostedZoneId=second)
    assert error_of(e)[0] == "AccessDenied" and error_of(e)[2] == 403
    assert [f["count"] for f in proxy.faults()] == [1]
