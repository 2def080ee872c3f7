"""The strict AWS proxy, proven with boto3 against moto through the proxy."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import asdict
from types import SimpleNamespace

import botocore.config
import botocore.exceptions
import pytest

from harness import AwsProxy, ProxyClient
from harness.moto import boto_client
from harness.proxy import check_change_batch, parse_change_batch

ZONE = "dyn.example.com"
TABLE = "ec2-dns-locks"


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


class InBackground:
    """A call running in its own thread; `result()` joins it and returns or raises."""

    def __init__(self, fn, *args, **kwargs):
        self._out: dict = {}
        self.thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self.thread.start()

    def _run(self, fn, args, kwargs):
        try:
            self._out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the test thread by result()
            self._out["error"] = e

    def done(self) -> bool:
        return not self.thread.is_alive()

    def result(self, timeout: float = 30.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the call is still blocked"
        if "error" in self._out:
            raise self._out["error"]
        return self._out["value"]


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


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


def test_a_protected_name_and_type_refuses_every_change_until_unprotected(proxy, r53, zone, world):
    proxy.protect(zone, "web.dyn.example.com", "A", comment="change freeze")
    for action in ("CREATE", "UPSERT"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            apply(r53, zone, change(action, "web.dyn.example.com", ["192.0.2.1"]),
                  change("CREATE", "api.dyn.example.com", ["192.0.2.2"]))
        code, message, status = error_of(e)
        assert (code, status) == ("InvalidChangeBatch", 400)
        assert "[name='web.dyn.example.com.', type='A'] but it is protected" in message, message
        assert "comment: change freeze" in message and "api" not in message, message
    assert world.records(zone) == {}, "nothing of the batch applied"
    # Another type at the name is not covered; the control API sees the same protections.
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["2001:db8::1"], rtype="AAAA"))
    client = ProxyClient(proxy.url)
    assert client.unprotect(zone, "web.dyn.example.com.", "a") == []
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
    assert client.protect(zone, "api.dyn.example.com", "A") == [
        {"zone_id": zone, "name": "api.dyn.example.com", "type": "A", "comment": None}]


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
                               ("POST", "/__ec2dns/faults", b'{"fault": "throttle"}'),
                               ("POST", "/__ec2dns/faults",
                                b'{"service": "route53", "fault": "transaction_conflict"}'),
                               ("POST", "/__ec2dns/faults", b'{"service": "ec2", "id": "mine"}'),
                               ("POST", "/__ec2dns/holds", b'{"operation": "DescribeInstances"}'),
                               ("POST", "/__ec2dns/holds",
                                b'{"service": "ec2", "phase": "during"}'),
                               ("POST", "/__ec2dns/holds", b'{"service": "ec2", "count": 0}'),
                               ("POST", "/__ec2dns/holds", b'{"service": "ec2", "fault": "x"}'),
                               ("POST", "/__ec2dns/holds/hold-999/release", b"")):
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


@pytest.mark.idle_faults
def test_faults_can_be_listed_and_cleared(proxy):
    client = ProxyClient(proxy.url)
    added = client.add_fault(service="route53", operation="*", fault="throttle", count=3)
    assert added["id"]
    assert client.faults() == [{"service": "route53", "operation": "*", "fault": "throttle",
                                "phase": "before", "count": 3, "delay_s": 0.0, "path": "",
                                "id": added["id"], "fired": 0}]
    client.clear_faults()
    assert client.faults() == []
    assert client.fault_history() == [added]


@pytest.mark.idle_faults
def test_a_fault_counts_its_firings_and_stays_in_the_history(proxy, world):
    ec2 = no_retry_client("ec2", proxy.url)
    fault = proxy.add_fault(service="ec2", operation="DescribeInstances", count=2)
    other = proxy.add_fault(service="ec2", operation="DescribeVpcs")
    assert fault.fired == 0 and fault.id and fault.id != other.id
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError):
            ec2.describe_instances()
    ec2.describe_instances()
    assert fault.fired == 2
    assert proxy.faults() == [asdict(other)]  # the used-up fault has left the pending list
    proxy.clear_faults()
    history = {f["id"]: f for f in ProxyClient(proxy.url).fault_history()}
    assert (history[fault.id]["fired"], history[fault.id]["count"]) == (2, 0)
    assert (history[other.id]["fired"], history[other.id]["count"]) == (0, 1)
    assert [e.get("fault_id") for e in proxy.call_log()] == [fault.id, fault.id, None]


_READS = {
    "route53:ListResourceRecordSets":
        lambda c: c.r53.list_resource_record_sets(HostedZoneId=c.zone),
    "route53:ListHostedZones": lambda c: c.r53.list_hosted_zones(),
    "dynamodb:Scan": lambda c: c.ddb.scan(TableName=TABLE),
    "dynamodb:BatchGetItem":
        lambda c: c.ddb.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": "x"}}]}}),
    "ec2:DescribeInstances": lambda c: c.ec2.describe_instances(),
}


@pytest.mark.parametrize("call", sorted(_READS))
def test_an_after_fault_on_a_read_forwards_it_then_fails_the_answer(proxy, world, zone, call):
    world.create_lock_table()
    clients = SimpleNamespace(zone=zone, r53=no_retry_client("route53", proxy.url),
                              ddb=no_retry_client("dynamodb", proxy.url),
                              ec2=no_retry_client("ec2", proxy.url))
    service, operation = call.split(":")
    fault = proxy.add_fault(service=service, operation=operation, fault="http500", phase="after")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        _READS[call](clients)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    [entry] = [e for e in proxy.call_log() if e["call"] == call]
    assert entry["upstream_status"] == 200, "the read was not forwarded to moto"
    assert (entry["status"], entry["fault"], fault.fired) == (500, "http500/after", 1)
    _READS[call](clients)


# ---------------------------------------------------------------- DynamoDB transaction conflicts


def test_a_transaction_conflict_cancels_the_transaction_with_one_reason_per_item(proxy, world):
    world.create_lock_table()
    ddb = no_retry_client("dynamodb", proxy.url)
    fault = proxy.add_fault(service="dynamodb", operation="TransactWriteItems",
                            fault="transaction_conflict")
    items = [{"Put": {"TableName": TABLE, "Item": {"pk": {"S": k}}}} for k in ("a", "b", "c")]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ddb.transact_write_items(TransactItems=items)
    assert error_of(e) == ("TransactionCanceledException",
                           "Transaction cancelled, please refer cancellation reasons for specific "
                           "reasons [TransactionConflict, None, None]", 400)
    assert e.value.response["CancellationReasons"] == [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
        {"Code": "None"}, {"Code": "None"}]
    assert isinstance(e.value, ddb.exceptions.TransactionCanceledException)
    assert world.lock_items() == {} and fault.fired == 1
    ddb.transact_write_items(TransactItems=items)
    assert sorted(world.lock_items()) == ["a", "b", "c"]


def test_a_transaction_conflict_fails_single_item_writes(proxy, world):
    world.create_lock_table()
    ddb = no_retry_client("dynamodb", proxy.url)
    key = {"pk": {"S": "web"}}
    ddb.put_item(TableName=TABLE, Item=key)
    for op in ("PutItem", "UpdateItem", "DeleteItem"):
        proxy.add_fault(service="dynamodb", operation=op, fault="transaction_conflict")
    writes = (lambda: ddb.put_item(TableName=TABLE, Item={**key, "o": {"S": "x"}}),
              lambda: ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET #o = :o",
                                      ExpressionAttributeNames={"#o": "owner"},
                                      ExpressionAttributeValues={":o": {"S": "y"}}),
              lambda: ddb.delete_item(TableName=TABLE, Key=key))
    for write in writes:
        with pytest.raises(ddb.exceptions.TransactionConflictException) as e:
            write()
        assert error_of(e) == ("TransactionConflictException",
                               "Transaction is ongoing for the item", 400)
    assert world.lock_items() == {"web": {"pk": "web"}}


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


# ---------------------------------------------------------------- holds


def test_a_change_held_before_is_checked_against_the_zone_at_release(proxy, zone, world):
    late = no_retry_client("route53", proxy.url)
    with proxy.hold("route53", "ChangeResourceRecordSets", phase="before") as hold:
        held = InBackground(apply, late, zone,
                            change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
        assert hold.wait_held()
        assert (hold.held, hold.fired) == (1, 1)
        # Route53 flows meanwhile (the held request holds no lock): another writer's
        # CREATE of the same name arrives later and wins.
        other = no_retry_client("route53", proxy.url, read_timeout=10)
        apply(other, zone, change("CREATE", "web.dyn.example.com", ["192.0.2.2"]))
        assert not held.done()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        held.result()
    code, message, status = error_of(e)
    assert (code, status) == ("InvalidChangeBatch", 400)
    assert message == ("[Tried to create resource record set [name='web.dyn.example.com.', "
                       "type='A'] but it already exists]")
    assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.2"])}
    assert (hold.held, hold.fired, hold.released) == (0, 1, True)
    assert [e.get("holds") for e in proxy.call_log()] == [None, [f"{hold.id}/before"]]


def test_a_dynamodb_write_held_before_holds_no_lock_and_is_checked_at_release(proxy, world):
    world.create_lock_table()
    ddb = no_retry_client("dynamodb", proxy.url, read_timeout=10)

    def claim(client, owner):
        return client.put_item(TableName=TABLE, Item={"pk": {"S": "web"}, "o": {"S": owner}},
                               ConditionExpression="attribute_not_exists(pk)")

    with proxy.hold("dynamodb", "PutItem") as hold:
        late = InBackground(claim, no_retry_client("dynamodb", proxy.url), "late")
        assert hold.wait_held()
        claim(ddb, "early")
        assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": "web"}})["Item"]["o"]["S"] == "early"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        late.result()
    assert error_of(e)[0] == "ConditionalCheckFailedException"
    assert world.lock_items() == {"web": {"pk": "web", "o": "early"}}


def test_a_change_held_after_takes_effect_before_its_answer(proxy, zone, world):
    slow = no_retry_client("route53", proxy.url)
    with proxy.hold("route53", "ChangeResourceRecordSets", phase="after") as hold:
        call = InBackground(apply, slow, zone,
                            change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
        assert hold.wait_held()
        assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.1"])}
        assert not call.done()
        other = no_retry_client("route53", proxy.url, read_timeout=10)
        apply(other, zone, change("CREATE", "api.dyn.example.com", ["192.0.2.3"]))  # no lock held
        assert not call.done()
    assert call.result()["ChangeInfo"]["Status"] in ("PENDING", "INSYNC")
    assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.1"]),
                                   ("api.dyn.example.com", "A"): (60, ["192.0.2.3"])}


@pytest.mark.idle_faults
def test_a_hold_takes_count_requests_and_a_released_hold_takes_none(proxy, world):
    hold = proxy.hold("ec2", "DescribeInstances", count=2)
    calls = [InBackground(no_retry_client("ec2", proxy.url).describe_instances) for _ in range(2)]
    wait_until(lambda: hold.held == 2)
    started = time.monotonic()
    no_retry_client("ec2", proxy.url).describe_instances()  # the third passes
    assert time.monotonic() - started < 5
    assert (hold.held, hold.fired) == (2, 2) and not any(c.done() for c in calls)
    hold.release()
    for c in calls:
        c.result()
    assert (hold.held, hold.fired) == (0, 2)

    disarmed = proxy.hold("ec2", "DescribeInstances", count=5)
    disarmed.release()
    no_retry_client("ec2", proxy.url).describe_instances()
    assert disarmed.fired == 0
    assert not disarmed.wait_held(timeout=0.1)


@pytest.mark.idle_faults
def test_holds_over_the_control_api(proxy, world):
    client = ProxyClient(proxy.url)
    hold_id = client.hold(service="ec2", operation="DescribeInstances", phase="after")
    assert client.holds() == [{"id": hold_id, "service": "ec2", "operation": "DescribeInstances",
                               "phase": "after", "path": "", "count": 1, "held": 0, "fired": 0,
                               "released": False}]
    call = InBackground(no_retry_client("ec2", proxy.url).describe_instances)
    wait_until(lambda: client.holds()[0]["held"] == 1)
    assert not call.done()
    assert client.release(hold_id)["released"] is True
    call.result()
    assert [(h["held"], h["fired"], h["released"]) for h in client.holds()] == [(0, 1, True)]

    other = client.hold(service="route53")
    client.release_all()
    assert [h["released"] for h in client.holds() if h["id"] == other] == [True]


def test_stopping_the_proxy_releases_held_requests(moto, world):
    proxy = AwsProxy(moto.url).start()
    try:
        hold = proxy.hold("ec2", "DescribeInstances")
        call = InBackground(no_retry_client("ec2", proxy.url).describe_instances)
        assert hold.wait_held()
    finally:
        proxy.stop()
    call.result(timeout=10)
    assert hold.released


# ---------------------------------------------------------------- Route53 request limits


def test_a_batch_of_1000_values_passes_and_1001_are_refused(r53, zone, world):
    four = [f"192.0.2.{i}" for i in range(1, 5)]
    apply(r53, zone, *[change("CREATE", f"c{i:03d}.dyn.example.com", four) for i in range(250)])
    before = world.records(zone)
    assert len(before) == 250
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, *[change("CREATE", f"d{i:03d}.dyn.example.com", four) for i in range(250)],
              change("CREATE", "e.dyn.example.com", ["192.0.2.9"]))
    assert error_of(e) == ("InvalidChangeBatch", "[Number of records limit of 1000 exceeded.]", 400)
    assert world.records(zone) == before


def test_values_are_limited_to_32000_characters(r53, zone, world):
    def txt(n):
        return '"' + "x" * (n - 2) + '"'

    ten = [txt(160)] * 9
    apply(r53, zone, *[change("CREATE", f"t{i:02d}.dyn.example.com", ten + [txt(160)], rtype="TXT")
                       for i in range(20)])  # 200 values of 160 characters: 32,000
    before = world.records(zone)
    assert len(before) == 20
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, *[change("CREATE", f"u{i:02d}.dyn.example.com",
                                  ten + [txt(161 if i == 0 else 160)], rtype="TXT")
                           for i in range(20)])  # 32,001
    assert error_of(e) == ("InvalidChangeBatch", "[RDATA character limit of 32000 exceeded.]", 400)
    assert world.records(zone) == before


def test_the_values_of_an_upsert_count_twice(r53, zone, world):
    ten = [f"192.0.2.{i}" for i in range(1, 11)]
    apply(r53, zone, *[change("UPSERT", f"a{i:02d}.dyn.example.com", ten) for i in range(50)])
    before = world.records(zone)
    assert len(before) == 50  # 500 values, counted 1,000
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, *[change("UPSERT", f"b{i:02d}.dyn.example.com", ten) for i in range(60)])
    assert error_of(e)[1] == "[Number of records limit of 1000 exceeded.]"

    long_values = ['"' + f"{i:03d}" + "x" * 156 + '"' for i in range(10)]  # 161 characters each
    batch = [change("UPSERT", f"c{i:02d}.dyn.example.com", long_values, rtype="TXT")
             for i in range(10)]  # 16,100 characters, counted 32,200
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, *batch)
    assert error_of(e)[1] == "[RDATA character limit of 32000 exceeded.]"
    assert world.records(zone) == before
    apply(r53, zone, *[dict(c, Action="CREATE") for c in batch])  # as CREATEs they fit
    assert len(world.records(zone)) == 60


# ---------------------------------------------------------------- CNAME exclusivity, TXT


def test_a_cname_shares_its_name_with_no_other_record_set(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["web.example.org"], rtype="CNAME"),
          change("CREATE", "api.dyn.example.com", ["192.0.2.1"]))
    before = world.records(zone)
    refused = [
        (change("CREATE", "web.dyn.example.com", ["192.0.2.1"]),
         "RRSet of type A with DNS name web.dyn.example.com. is not permitted because a "
         "conflicting RRSet of type CNAME with the same DNS name already exists in zone "
         "dyn.example.com."),
        (change("UPSERT", "WEB.Dyn.Example.Com.", ['"owner 7 A"'], rtype="TXT"),
         "RRSet of type TXT with DNS name web.dyn.example.com. is not permitted because a "
         "conflicting RRSet of type CNAME with the same DNS name already exists in zone "
         "dyn.example.com."),
        (change("CREATE", "api.dyn.example.com.", ["api.example.org"], rtype="CNAME"),
         "RRSet of type CNAME with DNS name api.dyn.example.com. is not permitted because a "
         "conflicting RRSet of type A with the same DNS name already exists in zone "
         "dyn.example.com."),
        (change("UPSERT", "api.dyn.example.com", ["api.example.org"], rtype="CNAME"),
         "RRSet of type CNAME with DNS name api.dyn.example.com. is not permitted because a "
         "conflicting RRSet of type A with the same DNS name already exists in zone "
         "dyn.example.com."),
        (change("CREATE", "dyn.example.com", ["example.org"], rtype="CNAME"),
         "RRSet of type CNAME with DNS name dyn.example.com. is not permitted at apex in zone "
         "dyn.example.com."),
    ]
    for c, message in refused:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            apply(r53, zone, c)
        assert error_of(e) == ("InvalidChangeBatch", f"[{message}]", 400)
    assert world.records(zone) == before
    apply(r53, zone, change("UPSERT", "web.dyn.example.com", ["www.example.org"], rtype="CNAME"))


def test_a_batch_may_replace_a_cname_by_other_types_and_back(r53, zone, world):
    apply(r53, zone, change("CREATE", "web.dyn.example.com", ["web.example.org"], rtype="CNAME"))
    apply(r53, zone,
          change("DELETE", "web.dyn.example.com", ["web.example.org"], rtype="CNAME"),
          change("CREATE", "web.dyn.example.com", ["192.0.2.1"]),
          change("CREATE", "web.dyn.example.com", ['"owner 7 A"'], rtype="TXT"))
    assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.1"]),
                                   ("web.dyn.example.com", "TXT"): (60, ['"owner 7 A"'])}
    with pytest.raises(botocore.exceptions.ClientError) as e:  # the TXT is still there
        apply(r53, zone, change("DELETE", "web.dyn.example.com", ["192.0.2.1"]),
              change("CREATE", "web.dyn.example.com", ["web.example.org"], rtype="CNAME"))
    assert "conflicting RRSet of type TXT" in error_of(e)[1]
    apply(r53, zone, change("DELETE", "web.dyn.example.com", ["192.0.2.1"]),
          change("DELETE", "web.dyn.example.com", ['"owner 7 A"'], rtype="TXT"),
          change("CREATE", "web.dyn.example.com", ["web.example.org"], rtype="CNAME"))
    assert world.records(zone) == {("web.dyn.example.com", "CNAME"): (60, ["web.example.org"])}


def test_txt_records_at_underscore_names_are_created_and_deleted_exactly(r53, zone, world):
    name = "_ec2-dns.web.dyn.example.com"
    apply(r53, zone, change("CREATE", name, ['"owner 7 A"', '"v=1 & <ok>"'], rtype="TXT"),
          change("CREATE", "web.dyn.example.com", ["192.0.2.1"]))
    assert world.records(zone)[(name, "TXT")] == (60, ['"owner 7 A"', '"v=1 & <ok>"'])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        apply(r53, zone, change("CREATE", name + ".", ['"owner 8 A"'], rtype="TXT"))
    assert error_of(e)[1] == ("[Tried to create resource record set [name='_ec2-dns.web.dyn."
                              "example.com.', type='TXT'] but it already exists]")
    for values in (["owner 7 A", "v=1 & <ok>"], ['"owner 7 A"']):  # quotes are part of the value
        with pytest.raises(botocore.exceptions.ClientError) as e:
            apply(r53, zone, change("DELETE", name, values, rtype="TXT"))
        assert "do not match the current values" in error_of(e)[1]
    with pytest.raises(botocore.exceptions.ClientError) as e:  # the CNAME rule holds here too
        apply(r53, zone, change("CREATE", name, ["x.example.org"], rtype="CNAME"))
    assert "conflicting RRSet of type TXT" in error_of(e)[1]
    apply(r53, zone, change("DELETE", name, ['"v=1 & <ok>"', '"owner 7 A"'], rtype="TXT"))
    assert world.records(zone) == {("web.dyn.example.com", "A"): (60, ["192.0.2.1"])}


def test_underscore_names_are_read_across_pages(r53, zone, world):
    # moto pages at 300 record sets; "_" sorts between upper and lower case letters
    names = [f"{prefix}{i:03d}.dyn.example.com" for i in range(160) for prefix in ("_o", "h")]
    for i in range(0, len(names), 100):
        apply(r53, zone, *[change("CREATE", n, ['"x"'], rtype="TXT") for n in names[i:i + 100]])
    for n in ("_o000.dyn.example.com", "_o159.dyn.example.com", "h159.dyn.example.com"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            apply(r53, zone, change("CREATE", n, ['"y"'], rtype="TXT"))
        assert "already exists" in error_of(e)[1]
    apply(r53, zone, change("DELETE", "_o159.dyn.example.com", ['"x"'], rtype="TXT"))
    assert len(world.records(zone)) == len(names) - 1


# ---------------------------------------------------------------- what moto lacks


def test_describe_instances_by_network_interface_is_answered_as_ec2_does(proxy, world):
    # moto 5.2 fails this filter; through the proxy it finds the instance the interface is
    # attached to, and nothing for a detached or unknown one, as one counted call each.
    ec2 = no_retry_client("ec2", proxy.url)
    web = world.run_instance({"dnsname": "web.dyn.example.com"})
    world.run_instance()  # another instance, never matched
    eni = world.instance(web)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    subnet = world.instance(web)["SubnetId"]
    detached = world.ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
    by = lambda *enis: [i["InstanceId"] for r in ec2.describe_instances(  # noqa: E731
        Filters=[{"Name": "network-interface.network-interface-id", "Values": list(enis)}]
    )["Reservations"] for i in r["Instances"]]
    proxy.reset_calls()

    assert by(eni) == [web]
    assert by(detached["NetworkInterfaceId"]) == []
    assert by("eni-0123456789abcdef0") == []
    assert proxy.calls() == {"ec2:DescribeInstances": 3}
