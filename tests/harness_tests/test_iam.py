"""The IAM evaluator of tests/harness/iam.py (no binary needed): what a logged request asks
IAM to authorise, and the evaluation rules the e2e check relies on."""

from __future__ import annotations

import json

import pytest

from harness.iam import (
    Principal,
    Request,
    authorizations,
    check_log,
    evaluate,
    normalized_record_name,
    policy_statements,
    request_facts,
    trusts,
)

R53 = "https://route53.amazonaws.com/doc/2013-04-01/"
ZONE = "arn:aws:route53:::hostedzone/Z1"
CHANGE_RECORDS = policy_statements([{
    "Sid": "ChangeRecords", "Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": ZONE,
    "Condition": {
        "ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["*.dyn.example.com"]},
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["A", "AAAA", "TXT"],
                                      "route53:ChangeResourceRecordSetsActions": ["CREATE", "DELETE"]},
    },
}])


def change_batch(*changes: tuple[str, str, str]) -> bytes:
    body = "".join(
        f"<Change><Action>{a}</Action><ResourceRecordSet><Name>{n}</Name><Type>{t}</Type><TTL>60</TTL>"
        f"<ResourceRecords><ResourceRecord><Value>1.2.3.4</Value></ResourceRecord></ResourceRecords>"
        f"</ResourceRecordSet></Change>" for a, n, t in changes)
    return (f'<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{R53}">'
            f"<ChangeBatch><Changes>{body}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>").encode()


def crrs(*changes) -> Request:
    entry = {"call": "route53:ChangeResourceRecordSets", "region": "us-east-1",
             "iam": request_facts("route53", "ChangeResourceRecordSets", "POST",
                                  "/2013-04-01/hostedzone/Z1/rrset/", change_batch(*changes))}
    [request] = authorizations(entry, "123456789012")
    return request


def test_a_change_batch_is_authorised_by_its_zone_and_every_name_type_and_action():
    request = crrs(("DELETE", "Web.Dyn.Example.com.", "A"), ("CREATE", "_ec2-dns.web.dyn.example.com", "TXT"))
    assert request.resource == ZONE
    assert request.keys() == {
        "route53:changeresourcerecordsetsnormalizedrecordnames": ("_ec2-dns.web.dyn.example.com", "web.dyn.example.com"),
        "route53:changeresourcerecordsetsrecordtypes": ("A", "TXT"),
        "route53:changeresourcerecordsetsactions": ("CREATE", "DELETE"),
    }
    assert evaluate(CHANGE_RECORDS, request).allowed


@pytest.mark.parametrize("change", [
    ("UPSERT", "web.dyn.example.com", "A"),
    ("CREATE", "web.dyn.example.com", "CNAME"),
    ("CREATE", "dyn.example.com", "A"),  # the apex is not below the domain
    ("CREATE", "web.dyn.example.com.evil.org", "A"),
])
def test_one_change_outside_the_conditions_refuses_the_whole_batch(change):
    request = crrs(("CREATE", "ok.dyn.example.com", "A"), change)
    decision = evaluate(CHANGE_RECORDS, request)
    assert not decision.allowed and decision.by == ["ChangeRecords"], decision


def test_normalised_names_escape_what_route53_escapes():
    assert normalized_record_name("*.Web.Example.COM.") == "*.web.example.com"
    assert normalized_record_name("\\052.a.example.com") == "*.a.example.com"
    assert normalized_record_name("a b.example.com") == "a\\040b.example.com"


def test_each_item_of_a_transaction_is_authorised_by_its_own_action_and_key():
    body = json.dumps({"TransactItems": [
        {"Put": {"TableName": "locks", "Item": {"pk": {"S": "host#router"}}}},
        {"Update": {"TableName": "locks", "Key": {"pk": {"S": "web.dyn.example.com"}}}},
        {"ConditionCheck": {"TableName": "locks", "Key": {"pk": {"S": "owner#x"}}}},
    ]}).encode()
    entry = {"call": "dynamodb:TransactWriteItems", "region": "eu-west-1",
             "iam": request_facts("dynamodb", "TransactWriteItems", "POST", "/", body)}
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/locks"
    assert [(r.action, r.resource, r.keys()) for r in authorizations(entry, "123456789012")] == [
        ("dynamodb:PutItem", table, {"dynamodb:leadingkeys": ("host#router",)}),
        ("dynamodb:UpdateItem", table, {"dynamodb:leadingkeys": ("web.dyn.example.com",)}),
        ("dynamodb:ConditionCheckItem", table, {"dynamodb:leadingkeys": ("owner#x",)}),
    ]
    host_items = policy_statements([{"Sid": "HostItems", "Effect": "Allow", "Action": ["dynamodb:PutItem"],
                                     "Resource": table, "Condition": {"ForAllValues:StringLike": {
                                         "dynamodb:LeadingKeys": ["host#*", "sample#*"]}}}])
    put, update, _ = authorizations(entry, "123456789012")
    assert evaluate(host_items, put).allowed
    assert not evaluate(host_items, update).allowed


def test_create_tags_is_authorised_per_instance_with_its_tag_keys():
    body = b"Action=CreateTags&Version=2016-11-15&ResourceId.1=i-1&ResourceId.2=i-2&Tag.1.Key=dnsname-status&Tag.1.Value=ok"
    entry = {"call": "ec2:CreateTags", "region": "eu-west-1",
             "iam": request_facts("ec2", "CreateTags", "POST", "/", body)}
    requests = authorizations(entry, "210987654321")
    assert [r.resource for r in requests] == ["arn:aws:ec2:eu-west-1:210987654321:instance/i-1",
                                              "arn:aws:ec2:eu-west-1:210987654321:instance/i-2"]
    status_only = policy_statements([{"Sid": "WriteStatusTag", "Effect": "Allow", "Action": "ec2:CreateTags",
                                      "Resource": "arn:aws:ec2:*:210987654321:instance/*",
                                      "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["dnsname-status"]}}}])
    assert all(evaluate(status_only, r).allowed for r in requests)
    other = b"Action=CreateTags&ResourceId.1=i-1&Tag.1.Key=dnsname-status&Tag.2.Key=owner"
    entry["iam"] = request_facts("ec2", "CreateTags", "POST", "/", other)
    assert not evaluate(status_only, authorizations(entry, "210987654321")[0]).allowed


def test_a_lifecycle_completion_is_authorised_on_its_group_and_the_reads_on_anything():
    body = (b"Action=CompleteLifecycleAction&Version=2011-01-01&AutoScalingGroupName=web&LifecycleHookName=h"
            b"&LifecycleActionToken=t&InstanceId=i-1&LifecycleActionResult=CONTINUE")
    entry = {"call": "autoscaling:CompleteLifecycleAction", "region": "eu-west-1",
             "iam": request_facts("autoscaling", "CompleteLifecycleAction", "POST", "/", body)}
    [request] = authorizations(entry, "210987654321")
    assert request.resource.startswith("arn:aws:autoscaling:eu-west-1:210987654321:autoScalingGroup:")
    assert request.resource.endswith(":autoScalingGroupName/web")
    groups = policy_statements([{
        "Sid": "CompleteLifecycleActions", "Effect": "Allow",
        "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
        "Resource": "arn:aws:autoscaling:*:210987654321:autoScalingGroup:*:autoScalingGroupName/web"}])
    assert evaluate(groups, request).allowed
    # Another group, another account, or the group's name as a prefix: refused.
    for other_body, account in ((body.replace(b"=web&", b"=webby&"), "210987654321"), (body, "123456789012")):
        entry["iam"] = request_facts("autoscaling", "CompleteLifecycleAction", "POST", "/", other_body)
        assert not evaluate(groups, authorizations(entry, account)[0]).allowed
    # The reads take no resource restriction: authorised on "*".
    read = {"call": "autoscaling:DescribeAutoScalingInstances", "region": "eu-west-1",
            "iam": request_facts("autoscaling", "DescribeAutoScalingInstances", "POST", "/",
                                 b"Action=DescribeAutoScalingInstances&InstanceIds.member.1=i-1")}
    assert [r.resource for r in authorizations(read, "210987654321")] == ["*"]
    # Without the group, the check cannot judge the call: no request (check_log reports it).
    entry["iam"] = {}
    assert authorizations(entry, "210987654321") == []


def test_an_explicit_deny_wins_and_no_allow_is_a_refusal():
    allow = {"Sid": "All", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    deny = {"Sid": "NoDlq", "Effect": "Deny", "Action": "sqs:ChangeMessageVisibility",
            "Resource": "arn:aws:sqs:*:*:*-dlq"}
    dlq = Request("sqs:ChangeMessageVisibility", "arn:aws:sqs:us-east-1:123456789012:ec2-dns-events-dlq")
    queue = Request("sqs:ChangeMessageVisibility", "arn:aws:sqs:us-east-1:123456789012:ec2-dns-events")
    statements = policy_statements([allow, deny])
    assert not evaluate(statements, dlq).allowed and evaluate(statements, dlq).by == ["NoDlq"]
    assert evaluate(statements, queue).allowed
    assert not evaluate([], queue).allowed
    # Actions compare without case, resources with it; NotAction admits everything else.
    assert evaluate(policy_statements([{"Effect": "Allow", "Action": "SQS:changemessagevisibility",
                                        "Resource": "*"}]), queue).allowed
    assert not evaluate(policy_statements([{"Effect": "Allow", "Action": "sqs:*",
                                            "Resource": queue.resource.upper()}]), queue).allowed
    assert not evaluate(policy_statements([{"Effect": "Allow", "NotAction": "sqs:Change*",
                                            "Resource": "*"}]), queue).allowed


def test_condition_keys_that_are_absent():
    request = Request("s3:GetObject", "*")
    statement = lambda op: policy_statements([{"Effect": "Allow", "Action": "*", "Resource": "*",  # noqa: E731
                                               "Condition": {op: {"aws:TagKeys": ["a"]}}}])
    assert evaluate(statement("ForAllValues:StringEquals"), request).allowed  # vacuously
    assert not evaluate(statement("ForAnyValue:StringEquals"), request).allowed
    assert not evaluate(statement("StringEquals"), request).allowed
    assert evaluate(statement("StringEqualsIfExists"), request).allowed
    assert evaluate(statement("StringNotEquals"), request).allowed
    with pytest.raises(ValueError, match="NumericLessThan"):
        evaluate(statement("NumericLessThan"), Request("s3:GetObject", "*", (("aws:tagkeys", ("1",)),)))


def test_assumed_credentials_act_as_the_role_and_the_assume_role_needs_its_trust():
    role = "arn:aws:iam::210987654321:role/ec2-dns-member"
    caller = "arn:aws:iam::123456789012:role/ec2-dns-function"
    reconciler = Principal("reconciler", policy_statements([
        {"Sid": "Assume", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]), "123456789012")
    member = Principal("member", policy_statements([
        {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]), "210987654321")
    trust = policy_statements([{"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "sts:AssumeRole"}])
    log = [
        {"call": "sts:AssumeRole", "key": "base", "region": "us-east-1",
         "iam": {"role": role, "issued_key": "ASIA1"}},
        {"call": "ec2:DescribeInstances", "key": "ASIA1", "region": "eu-west-1", "iam": {}},
        {"call": "ec2:CreateTags", "key": "ASIA1", "region": "eu-west-1",
         "iam": {"resources": ["i-1"], "tag_keys": ["dnsname-status"]}},
        {"call": "ec2:DescribeInstances", "key": "stranger", "region": "eu-west-1", "iam": {}},
    ]
    checked = check_log(log, {"base": reconciler}, {role: (member, trust)}, {"reconciler": caller})
    assert [str(r) for r in checked.refusals] == [
        "member (assumed by reconciler): ec2:CreateTags: ec2:CreateTags on arn:aws:ec2:eu-west-1:210987654321:instance/i-1 "
        "aws:tagkeys=['dnsname-status']: no statement allows it"]
    assert checked.unattributed == ["ec2:DescribeInstances with key 'stranger'"]
    untrusted = check_log(log[:1], {"base": reconciler}, {role: (member, [])}, {"reconciler": caller})
    assert [r.why for r in untrusted.refusals] == [f"the role's trust policy does not admit {caller}"]


def test_a_trust_naming_an_account_admits_exactly_the_principals_its_condition_names():
    operator = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_0123"
    trust = policy_statements([
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ec2-dns-function"}, "Action": "sts:AssumeRole"},
        {"Sid": "Operators", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]},
         "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:PrincipalArn": [operator]}}},
    ])
    assert trusts(trust, "arn:aws:iam::123456789012:role/ec2-dns-function")
    assert trusts(trust, operator)
    assert not trusts(trust, "arn:aws:iam::123456789012:role/someone-else"), "same account, not named"
    assert not trusts(trust, operator.replace("123456789012", "999999999999")), "another account"
    assert not trusts(trust[:1], operator)
    whole_account = policy_statements([dict(trust[1], Condition=None)])
    assert trusts(whole_account, "arn:aws:iam::123456789012:user/anyone")
    denied = trust + policy_statements([{"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
                                         "Condition": {"StringLike": {"aws:PrincipalArn": ["*/aws-reserved/*"]}}}])
    assert not trusts(denied, operator) and trusts(denied, "arn:aws:iam::123456789012:role/ec2-dns-function")
