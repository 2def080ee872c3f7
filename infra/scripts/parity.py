#!/usr/bin/env python3
"""Prove that the CDK and the Terraform flavours of ec2-dns build the same system.

    parity.py CFN_TEMPLATE.json TF_PLAN.json [--account 123456789012] [--region us-east-1]
        [--member-template MEMBER.template.json --member-plan MEMBER_PLAN.json
         --member-account 210987654321 --member-region eu-west-1]

Both inputs are reduced to one model in which every resource is named by its role in the
system (``lock_table``, ``queue``, ``dlq``, ``event_dlq``, ``log_group``, ``function``,
``role``, ``rule:state``, ``rule:tag``, ``rule:address``, ``rule:lifecycle``, ``rule:schedule``; for the DDNS endpoint
``ddns_function``, ``ddns_role``, ``ddns_log_group``, ``ddns_url``, ``rule:ddns_sweep``,
``alert_topic``, ``alert_key``, ``ddns_distribution``; the aliases ``alias`` and
``ddns_alias``) and every ARN by the same placeholders
(``${partition}``, ``${region}``, ``${account}``, ``${url_suffix}``), then compared section
by section:

- the reconciler's IAM policy and the DDNS endpoint's (every statement: sid, effect,
  actions, resources, conditions), every other IAM role, policy or instance profile, and
  every invoke grant (resource policy statements, function URLs);
- the queue policies;
- the triggers: event patterns, schedules, targets with retry policy and dead-letter queue;
- the lock table's schema and settings;
- both functions' runtime settings and environments, and the event source mapping;
- the queues' settings and the alarms (metrics, dimensions, actions);
- the DDNS alert topic, its policy and key, and the CloudFront distribution;
- the published versions and the aliases `live`, and what each invoker targets;
- the CloudWatch dashboard, widget by widget (metrics, statistics, labels, Logs Insights
  queries and their log groups, places);
- the outputs' names, and the values of those an operator starts from (function, lock table,
  region, the commands to run next);
- the request that has the reconciler record its configuration during the deploy (the CDK's
  custom resource Custom::Ec2DnsConfiguration, Terraform's aws_lambda_invocation): which
  function it invokes, what it asks, what makes it run again, what it waits for;
- for several accounts and regions: the default bus's policy statements (EventBusPolicy,
  aws_cloudwatch_event_permission; their ids as `${deployment}-<account>`, the prefix being
  each flavour's own name of the deployment), and with the member inputs the member side (the CDK
  stack of Ec2DnsMember against the Terraform example's `module.member`): the member role
  (name, trust with the operators it trusts, policy), the forwarding role, the forwarding rules and their targets, the
  outputs and the kinds of resources.

Equal is not enough for a few points, which each flavour must meet on its own: nobody may
invoke the reconciler, and the requirements of the functions' code (protocol v2): record
changes of exactly A, AAAA and the TXT ownership marker `_ec2-dns.<name>` (admitted by the
`*.<domain>` names), only CREATE and DELETE; sqs:ChangeMessageVisibility on the event queue
only; for sharded reconciles QUEUE_URL naming the event queue, sqs:SendMessage on that queue
only, dynamodb:DescribeTable on the lock table only, and the same valid SHARDED_RECONCILE
and SHARD_SIZE in both (the compared example sets each); no statement for
sts:GetCallerIdentity (it needs none); maxReceiveCount 8; the lock
table's TTL on `expires`; the same valid DEPLOYMENT_ID, MARKER_STYLE,
ROUTE53_REQUESTS_PER_SECOND and ROUTE53_CHANGES_PER_SECOND for both functions (the compared
example sets each); the rules of
the events the code handles (EC2 state changes, changes of NAME_TAG, Elastic IP addresses
associated with or disassociated from instances as CloudTrail records the calls) with exactly
their patterns, each sending to the queue, and each queue admitting exactly the rules that
send to it (aws:SourceArn). Auto Scaling lifecycle hooks (which the compared example lists,
LIFECYCLE_HOOKS): one rule for the launch and terminate actions of exactly those hooks, to the
queue; the reconciler's DescribeAutoScalingInstances and DescribeLifecycleHooks on "*" alone,
CompleteLifecycleAction and RecordLifecycleActionHeartbeat on named groups of its own account
only, route53:GetChange on changes only; without hooks none of these. For the DDNS
endpoint (which the compared example must deploy): no EC2 right and nothing beyond its own
calls, the reconciler's Route53 and lock-table statements unchanged, ssm:GetParameter below
HOST_SECRETS_PREFIX and sns:Publish on ALERT_TOPIC_ARN only, a public function URL with
exactly its two grants plus the sweep rule's, a reserved concurrency, the 15-minute sweep,
its alarms, and behind CloudFront the origin secret equal to ORIGIN_SECRET with caching off
and Authorization forwarded. The first check after a deploy works: one request during the deploy has the reconciler
($LATEST, just updated) record its configuration, again whenever its environment or code
changes, once its role's policy is in place, and the outputs give the commands to run next
(`ec2-dns-ctl --function … status`, `plan`, a dry-run invoke) for the reconciler.
Rollback by alias: every function publishes versions that
outlive a deploy, and every invoker (the event source mapping, the function URL, the sweep
rule and the invoke grants) targets the alias `live` of a published version, never $LATEST.
The dashboard shows the EMF metrics of lambda/src/metrics.rs, Lambda's duration, and with
the DDNS endpoint its answers. Several accounts and regions (which the compared example must
deploy): sts:AssumeRole on exactly the member role of each account of ACCOUNTS (MEMBER_ROLE),
the bus admits exactly those accounts (or the organisation), the central rules restrict no
account or region; the member role is trusted by exactly the reconciler's role and, given
operators (`--operator-principal-arns`, the example's), by exactly those in one statement
`Operators` (their accounts as principal, `StringEquals` `aws:PrincipalArn` on exactly their
ARNs, no wildcard), and holds
exactly the reconciler's own-account EC2 statements and, where it forwards lifecycle actions,
the reconciler's Auto Scaling statements for its own account's named groups (none where it
forwards none), the forwarding rules have exactly the central rules' patterns (the lifecycle
rule's included) and put events on the central bus only, and the member is one of ACCOUNTS in
one of REGIONS.

Before comparing, the script checks itself: it adds a permission (and other changes) to one
side only and fails if the comparison would not notice, and makes changes to both sides that
the requirements must catch. Standard library only.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from typing import Any

PARTITION, REGION, ACCOUNT, URL_SUFFIX = "${partition}", "${region}", "${account}", "${url_suffix}"

# The DDNS endpoint's fixed settings (infra/cdk/lib/ddns.ts DDNS_DEFAULTS, infra/terraform/ddns.tf).
SWEEP_SCHEDULE = "rate(15 minutes)"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # managed cache policy
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # managed origin request policy
ORIGIN_VERIFY_HEADER = "x-origin-verify"
# Every action the DDNS function's code calls (the role may hold these and nothing else).
DDNS_ACTIONS = {
    "route53:ListHostedZones", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets",
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
    "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:Scan",
    "logs:CreateLogStream", "logs:PutLogEvents", "ssm:GetParameter", "sns:Publish",
}
SHARED_SIDS = ("ListHostedZones", "ReadRecords", "ChangeRecords", "LockTable")
# How each flavour asks the reconciler to record its configuration during the deploy (the
# function's contract): the CDK's custom resource type, Terraform's invocation payload.
CONFIGURATION_RESOURCE_TYPE = "Custom::Ec2DnsConfiguration"
RECORD_CONFIGURATION_INPUT = {"record_configuration": True}
# What a deploy must make run the request again: the function's environment and its code.
RECORDED_ON_CHANGE_OF = ["code", "environment"]
# The outputs an operator starts from, as both flavours name them (Terraform's spelling).
FIRST_CHECK_OUTPUTS = ("function_name", "lock_table_name", "region", "next_steps")
# The commands the output next_steps gives, one a line (infra/cdk/lib/shared.ts nextSteps).
NEXT_STEPS = [
    "ec2-dns-ctl --function ${ref:function} --region ${region} status",
    "ec2-dns-ctl --function ${ref:function} --region ${region} plan",
    "aws lambda invoke --function-name ${ref:function} --region ${region} --cli-binary-format raw-in-base64-out"
    " --payload '{\"reconcile\":\"all\",\"dry_run\":true}' out.json",
]


# ---- shared normalisation --------------------------------------------------------------

def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def canonical(value: Any) -> Any:
    """Sorted lists (order is irrelevant in IAM and event patterns), sorted dict keys."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def statement(s: dict) -> dict:
    out = {
        "Sid": s.get("Sid"),
        "Effect": s["Effect"],
        "Action": sorted(as_list(s.get("Action"))),
        "Resource": sorted(as_list(s.get("Resource"))),
    }
    if "Principal" in s:
        # {"AWS": "arn"} and {"AWS": ["arn"]} are the same principal (CDK writes one value
        # alone, Terraform's jsonencode a list).
        p = s["Principal"]
        out["Principal"] = canonical({k: as_list(v) for k, v in p.items()} if isinstance(p, dict) else p)
    if s.get("Condition"):
        out["Condition"] = canonical({
            op: {k: as_list(v) for k, v in cond.items()} for op, cond in s["Condition"].items()
        })
    for unexpected in ("NotAction", "NotResource", "NotPrincipal"):
        if unexpected in s:
            out[unexpected] = canonical(s[unexpected])
    return out


def statements(doc: dict | str | None) -> list:
    if doc is None:
        return []
    if isinstance(doc, str):
        doc = json.loads(doc)
    return sorted((statement(s) for s in as_list(doc.get("Statement"))),
                  key=lambda s: json.dumps(s, sort_keys=True))


def role_of(symbol: Any) -> Any:
    """`${Arn:ddns_function}` or `${ref:ddns_function}` -> `ddns_function`."""
    if isinstance(symbol, str):
        found = re.fullmatch(r"\$\{(?:Arn|ref):([^}]+)\}", symbol)
        if found:
            return found.group(1)
    return symbol


def grant(function: Any, action: Any, principal: Any, source_arn: Any = None, source_account: Any = None,
          url_auth_type: Any = None, via_url: Any = None, org: Any = None) -> dict:
    """One statement of a function's resource policy (AWS::Lambda::Permission)."""
    return {"function": role_of(function), "action": action, "principal": principal,
            "source_arn": source_arn or None, "source_account": source_account or None,
            "url_auth_type": url_auth_type or None, "via_url": bool(via_url), "org": org or None}


LIVE_ALIAS = "live"
ALIAS_OF = {"function": "alias", "ddns_function": "ddns_alias"}


def qualified(function: Any, qualifier: Any) -> Any:
    """A function role with an alias qualifier -> the alias's role (`ddns_function` + live ->
    `ddns_alias`); a name `${ref:function}:live` (the function name with its qualifier) too."""
    found = re.fullmatch(r"\$\{(?:Arn|ref):([^}]+)\}:" + LIVE_ALIAS, function) if isinstance(function, str) else None
    if found and found.group(1) in ALIAS_OF:
        return f"${{Arn:{ALIAS_OF[found.group(1)]}}}"
    if qualifier == LIVE_ALIAS and role_of(function) in ALIAS_OF:
        return f"${{Arn:{ALIAS_OF[role_of(function)]}}}"
    return function


BUS_STATEMENT_PREFIX = "${deployment}"


def bus_statement_ids(policy: list) -> list:
    """A bus statement's id is `<deployment>-<account>` (or `-organization`), `<deployment>`
    the flavour's own name of the deployment (the CDK stack's or function's name, the
    Terraform module's `name`): it only keeps two deployments' statements apart. The ids are
    compared as `${deployment}-<account>`, when every statement has the same prefix (else as
    they are, and the comparison reports them)."""
    found = [re.fullmatch(r"(.+)-([0-9]{12}|organization)", str(s.get("statement_id"))) for s in policy]
    if not all(found) or len({f.group(1) for f in found}) > 1 or any(s.get("Sid") != s.get("statement_id") for s in policy):
        return policy
    out = []
    for s, f in zip(policy, found):
        sid = f"{BUS_STATEMENT_PREFIX}-{f.group(2)}"
        out.append(dict(s, Sid=sid, statement_id=sid))
    return canonical(out)


def dashboard_model(body: dict) -> dict:
    """The widgets of a dashboard body, in their places; strings already symbolised."""
    widgets = []
    for w in body.get("widgets", []):
        p = dict(w.get("properties", {}))
        if w.get("type") == "log":
            # SOURCE '<log group>' | ... : the log groups as a set, then the query.
            sources = re.findall(r"SOURCE '([^']*)' \| ", p.get("query", ""))
            p["query"] = re.sub(r"^(SOURCE '[^']*' \| )+", "", p.get("query", ""))
            p["sources"] = sorted(sources)
        widgets.append({"type": w.get("type"), "place": [w.get("x"), w.get("y"), w.get("width"), w.get("height")],
                        "properties": p})
    return {"widgets": widgets}


def snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


# The rules of instance events, by their pattern's source and detail-type (the central rules,
# and the member's forwarding rules as forward:<kind>). Two of them share the source aws.ec2.
EVENT_RULE_KINDS = {
    ("aws.ec2", "EC2 Instance State-change Notification"): "rule:state",
    ("aws.tag", "Tag Change on Resource"): "rule:tag",
    ("aws.ec2", "AWS API Call via CloudTrail"): "rule:address",
    # Auto Scaling lifecycle actions of the listed hooks (launch and terminate in one rule).
    ("aws.autoscaling", "EC2 Instance-launch Lifecycle Action"): "rule:lifecycle",
}
EVENT_RULES = tuple(EVENT_RULE_KINDS.values())


def rule_kind(pattern: dict | None, schedule: str | None) -> str:
    if schedule:
        return "rule:schedule"
    p = pattern or {}
    first = lambda key: (as_list(p.get(key)) or [""])[0]  # noqa: E731
    return EVENT_RULE_KINDS.get((first("source"), first("detail-type")), "rule:other")


def distinct(kind: str, taken: set) -> str:
    """A second rule of one kind is `<kind>#2` (never hidden behind the first), and so on."""
    name, n = kind, 1
    while name in taken:
        n += 1
        name = f"{kind}#{n}"
    taken.add(name)
    return name


# Auto Scaling lifecycle hooks (docs/fleets.md): the rule's detail types, and what the code calls.
LIFECYCLE_DETAIL_TYPES = ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]
LIFECYCLE_READ = ["autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLifecycleHooks"]
LIFECYCLE_COMPLETE = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
# A named group of the account the policy is for, in any region (its id is generated).
GROUP_ARN = re.compile(r"arn:\$\{partition\}:autoscaling:\*:\$\{account\}:autoScalingGroup:\*:autoScalingGroupName/[^*?]+")
CHANGE_ARN = f"arn:{PARTITION}:route53:::change/*"


def lifecycle_pattern(hooks: list[str]) -> dict:
    """The pattern of the lifecycle actions of `hooks` (infra/cdk/lib/shared.ts lifecycleEventPattern)."""
    return {"source": ["aws.autoscaling"], "detail-type": LIFECYCLE_DETAIL_TYPES,
            "detail": {"LifecycleHookName": sorted(hooks)}}


def autoscaling_statements(stmts: list) -> list:
    """The statements that allow any Auto Scaling action."""
    return [s for s in stmts if any(a == "*" or a.lower().startswith("autoscaling:") for a in s["Action"])]


def lifecycle_rights_problems(stmts: list) -> list[str]:
    """What is wrong with the Auto Scaling statements of a policy that must complete lifecycle
    actions: exactly ReadGroupLifecycle (the two Describe* calls, which take no resource
    restriction, on "*") and CompleteLifecycleActions (complete and heartbeat on named groups
    of the policy's own account only), without conditions."""
    found = {s["Sid"]: s for s in autoscaling_statements(stmts)}
    problems = []
    if sorted(found) != ["CompleteLifecycleActions", "ReadGroupLifecycle"]:
        problems.append(f"Auto Scaling statements {sorted(found)}, expected CompleteLifecycleActions and ReadGroupLifecycle")
    read, complete = found.get("ReadGroupLifecycle"), found.get("CompleteLifecycleActions")
    if read and (read["Effect"] != "Allow" or read["Action"] != LIFECYCLE_READ or read["Resource"] != ["*"]
                 or read.get("Condition")):
        problems.append(f"ReadGroupLifecycle: {json.dumps(read, sort_keys=True)}, expected {LIFECYCLE_READ} on *")
    if complete and (complete["Effect"] != "Allow" or complete["Action"] != LIFECYCLE_COMPLETE or complete.get("Condition")
                     or not complete["Resource"] or not all(GROUP_ARN.fullmatch(r) for r in complete["Resource"])):
        problems.append(f"CompleteLifecycleActions: {json.dumps(complete, sort_keys=True)}, expected {LIFECYCLE_COMPLETE} "
                        "on named groups of the account only")
    return problems


def event_patterns(name_tag: str) -> dict:
    """The patterns of the events the function's code handles (infra/cdk/lib/shared.ts)."""
    return {
        "rule:state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
        "rule:tag": {"source": ["aws.tag"], "detail-type": ["Tag Change on Resource"],
                     "detail": {"service": ["ec2"], "resource-type": ["instance"], "changed-tag-keys": [name_tag]}},
        "rule:address": {"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"],
                         "detail": {"eventSource": ["ec2.amazonaws.com"],
                                    "eventName": ["AssociateAddress", "DisassociateAddress",
                                                  "AssignIpv6Addresses", "UnassignIpv6Addresses"]}},
    }


# ---- CloudFormation (CDK) ----------------------------------------------------------------

class Cfn:
    def __init__(self, template: dict):
        self.template = template
        self.resources: dict = template["Resources"]
        self.roles: dict[str, str] = {}
        self._assign_roles()

    def of_type(self, type_: str) -> dict:
        return {k: v for k, v in self.resources.items() if v["Type"] == type_}

    def _assign_roles(self) -> None:
        r = self.roles
        # The reconciler is the function the event source mapping feeds; any other is the
        # DDNS endpoint. Each function names its log group and its role.
        # The mapping names the function, or its alias ("<name>:live" from the alias's ARN).
        alias_fn = {lid: a["Properties"]["FunctionName"].get("Ref")
                    for lid, a in self.of_type("AWS::Lambda::Alias").items()}
        fed = set()
        for e in self.of_type("AWS::Lambda::EventSourceMapping").values():
            refs = re.findall(r'"Ref": "([^"]+)"', json.dumps(e["Properties"].get("FunctionName")))
            fed |= {alias_fn.get(ref, ref) for ref in refs}
        for lid, fn in self.of_type("AWS::Lambda::Function").items():
            kind = "function" if lid in fed else "ddns_function"
            prefix = "" if kind == "function" else "ddns_"
            r[lid] = kind
            log_group = (fn["Properties"].get("LoggingConfig") or {}).get("LogGroup")
            if isinstance(log_group, dict) and "Ref" in log_group:
                r[log_group["Ref"]] = f"{prefix}log_group"
            role = fn["Properties"].get("Role")
            if isinstance(role, dict) and "Fn::GetAtt" in role:
                r[role["Fn::GetAtt"][0]] = f"{prefix}role"
        for lid, fn_lid in alias_fn.items():
            r[lid] = ALIAS_OF.get(r.get(fn_lid), "alias:other")
        for lid, v in self.of_type("AWS::Lambda::Version").items():
            owner = r.get(v["Properties"]["FunctionName"].get("Ref"))
            r[lid] = f"version:{owner}"
        for lid in self.of_type("AWS::DynamoDB::Table"):
            r[lid] = "lock_table"
        for lid in self.of_type("AWS::Logs::LogGroup"):
            r.setdefault(lid, "log_group:other")
        for lid in self.of_type("AWS::IAM::Role"):
            r.setdefault(lid, "role:other")
        taken: set = set()
        for lid, rule in self.of_type("AWS::Events::Rule").items():
            p = rule["Properties"]
            targets = [r.get(t["Arn"].get("Fn::GetAtt", [t["Arn"].get("Ref")])[0]) for t in p.get("Targets", [])
                       if isinstance(t.get("Arn"), dict)]
            if p.get("ScheduleExpression") and ({"ddns_function", "ddns_alias"} & set(targets)):
                r[lid] = distinct("rule:ddns_sweep", taken)
            else:
                r[lid] = distinct(rule_kind(p.get("EventPattern"), p.get("ScheduleExpression")), taken)
        for lid, q in self.of_type("AWS::SQS::Queue").items():
            redrive = q["Properties"].get("RedrivePolicy")
            if redrive:
                r[lid] = "queue"
                r[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]] = "dlq"
        for rule in self.of_type("AWS::Events::Rule").values():
            for t in rule["Properties"].get("Targets", []):
                if "DeadLetterConfig" in t:
                    r[t["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]] = "event_dlq"
        for lid, url in self.of_type("AWS::Lambda::Url").items():
            target = url["Properties"]["TargetFunctionArn"]
            owner = r.get(target["Fn::GetAtt"][0]) if isinstance(target, dict) and "Fn::GetAtt" in target else None
            r[lid] = "ddns_url" if owner == "ddns_function" else f"url:{owner}"
        for lid in self.of_type("AWS::SNS::Topic"):
            r[lid] = "alert_topic"
        for lid in self.of_type("AWS::KMS::Key"):
            r[lid] = "alert_key"
        for lid in self.of_type("AWS::CloudFront::Distribution"):
            r[lid] = "ddns_distribution"

    def resolve(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.resolve(x) for x in v]
        if not isinstance(v, dict):
            return v
        if set(v) == {"Ref"}:
            pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                      "AWS::URLSuffix": URL_SUFFIX}
            role = self.roles.get(v["Ref"], v["Ref"])
            if role in ALIAS_OF.values():  # Ref of an alias is its ARN
                return f"${{Arn:{role}}}"
            return pseudo.get(v["Ref"]) or f"${{ref:{role}}}"
        if set(v) == {"Fn::GetAtt"}:
            lid, attr = v["Fn::GetAtt"]
            return f"${{{attr}:{self.roles.get(lid, lid)}}}"
        if set(v) == {"Fn::Join"}:
            sep, parts = v["Fn::Join"]
            return sep.join(str(self.resolve(p)) for p in parts)
        if set(v) == {"Fn::Select"}:
            # The host of a function URL: Select(2, Split("/", "https://<host>/")).
            index, inner = v["Fn::Select"]
            # The function name in an alias's ARN: Select(6, Split(":", <alias ARN>)).
            if isinstance(inner, dict) and set(inner) == {"Fn::Split"} and inner["Fn::Split"][0] == ":" and index == 6:
                arn = self.resolve(inner["Fn::Split"][1])
                owner = {a: f for f, a in ALIAS_OF.items()}.get(role_of(arn))
                if owner:
                    return f"${{ref:{owner}}}"
            if isinstance(inner, dict) and set(inner) == {"Fn::Split"} and inner["Fn::Split"][0] == "/" and index == 2:
                split = self.resolve(inner["Fn::Split"][1])
                found = re.fullmatch(r"\$\{FunctionUrl:([^}]+)\}", str(split))
                return f"${{Domain:{found.group(1)}}}" if found else f"${{host:{split}}}"
        return {k: self.resolve(x) for k, x in v.items()}

    def function_model(self, kind: str) -> dict | None:
        found = [fn for lid, fn in self.of_type("AWS::Lambda::Function").items() if self.roles[lid] == kind]
        if not found:
            return None
        (fn,) = found
        f = fn["Properties"]
        versions = [v for lid, v in self.of_type("AWS::Lambda::Version").items() if self.roles[lid] == f"version:{kind}"]
        logging = f.get("LoggingConfig", {})
        return {
            "runtime": f["Runtime"], "architectures": f["Architectures"], "handler": f["Handler"],
            "memory": f["MemorySize"], "timeout": f["Timeout"],
            "environment": canonical(self.resolve(f.get("Environment", {}).get("Variables", {}))),
            "log_format": logging.get("LogFormat"),
            "log_group": self.resolve(logging.get("LogGroup")),
            "reserved_concurrency": f.get("ReservedConcurrentExecutions"),
            "vpc": "VpcConfig" in f,
            # Every deploy publishes a version, and earlier ones outlive it (rollback targets).
            "publishes_versions": len(versions) == 1 and all(
                v.get("DeletionPolicy") == "Retain" and v.get("UpdateReplacePolicy") == "Retain" for v in versions),
        }

    def model(self) -> dict:
        m: dict = {}
        roles = self.of_type("AWS::IAM::Role")
        m["iam.other"] = canonical({
            "roles": len(roles),
            "policies": sorted(self.roles.get(k, k) for k in self.of_type("AWS::IAM::Policy")),
            "managed_policies": len(self.of_type("AWS::IAM::ManagedPolicy")),
            "instance_profiles": len(self.of_type("AWS::IAM::InstanceProfile")),
            "managed_policy_arns": sorted(a for role in roles.values()
                                          for a in role["Properties"].get("ManagedPolicyArns", [])),
            "trust": [statements(self.resolve(role["Properties"]["AssumeRolePolicyDocument"]))
                      for role in roles.values()],
            # Nested stacks hide what they create.
            "nested": sorted(["AWS::CloudFormation::Stack"] * len(self.of_type("AWS::CloudFormation::Stack"))),
        })

        # Each role's inline policies, and any policy attached to it (e.g. a grant's
        # DefaultPolicy): the reconciler's under iam.function (with anything unattributed),
        # the DDNS endpoint's under iam.ddns.
        by_role: dict[str, list] = {"role": [], "ddns_role": []}
        for lid, role in roles.items():
            for p in role["Properties"].get("Policies", []):
                by_role.setdefault(self.roles[lid], []).extend(statements(self.resolve(p["PolicyDocument"])))
        for p in self.of_type("AWS::IAM::Policy").values():
            owners = [self.roles.get(x.get("Ref")) for x in p["Properties"].get("Roles", []) if isinstance(x, dict)]
            owner = "ddns_role" if owners == ["ddns_role"] else "role"
            by_role[owner].extend(statements(self.resolve(p["Properties"]["PolicyDocument"])))
        key = lambda s: json.dumps(s, sort_keys=True)  # noqa: E731
        m["iam.function"] = sorted(by_role["role"] + [s for k, v in by_role.items()
                                                       if k not in ("role", "ddns_role") for s in v], key=key)
        m["iam.ddns"] = sorted(by_role["ddns_role"], key=key)

        m["invoke"] = {
            "grants": canonical([grant(
                qualified(self.resolve(p["Properties"]["FunctionName"]), None), p["Properties"]["Action"],
                p["Properties"]["Principal"], self.resolve(p["Properties"].get("SourceArn")),
                self.resolve(p["Properties"].get("SourceAccount")), p["Properties"].get("FunctionUrlAuthType"),
                p["Properties"].get("InvokedViaFunctionUrl"), p["Properties"].get("PrincipalOrgID"),
            ) for p in self.of_type("AWS::Lambda::Permission").values()]),
            "urls": canonical([{
                "function": role_of(self.resolve(u["Properties"]["TargetFunctionArn"])),
                "auth_type": u["Properties"]["AuthType"],
                "invoke_mode": u["Properties"].get("InvokeMode") or "BUFFERED",
                "cors": bool(u["Properties"].get("Cors")),
                "qualifier": u["Properties"].get("Qualifier"),
            } for u in self.of_type("AWS::Lambda::Url").values()]),
        }

        m["queue_policies"] = {}
        for p in self.of_type("AWS::SQS::QueuePolicy").values():
            for q in p["Properties"]["Queues"]:
                m["queue_policies"][self.roles.get(q["Ref"], q["Ref"])] = statements(
                    self.resolve(p["Properties"]["PolicyDocument"]))

        triggers = {}
        for lid, rule in self.of_type("AWS::Events::Rule").items():
            p = rule["Properties"]
            triggers[self.roles[lid]] = {
                "pattern": canonical(p.get("EventPattern")),
                "schedule": p.get("ScheduleExpression"),
                "enabled": p.get("State", "ENABLED") == "ENABLED",
                "targets": canonical([{
                    "arn": self.resolve(t["Arn"]),
                    "dead_letter": self.resolve(t.get("DeadLetterConfig", {}).get("Arn")),
                    "retry": {"attempts": t.get("RetryPolicy", {}).get("MaximumRetryAttempts"),
                              "max_age": t.get("RetryPolicy", {}).get("MaximumEventAgeInSeconds")},
                    "input": t.get("Input") or t.get("InputPath") or t.get("InputTransformer"),
                } for t in p.get("Targets", [])]),
            }
        m["triggers"] = triggers

        (table,) = self.of_type("AWS::DynamoDB::Table").values()
        t = table["Properties"]
        m["table"] = {
            "key": canonical([[k["AttributeName"], k["KeyType"]] for k in t["KeySchema"]]),
            "attributes": canonical([[a["AttributeName"], a["AttributeType"]] for a in t["AttributeDefinitions"]]),
            "indexes": len(t.get("GlobalSecondaryIndexes", [])) + len(t.get("LocalSecondaryIndexes", [])),
            "billing": t.get("BillingMode"),
            "pitr": t.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled", False),
            "sse": t.get("SSESpecification", {}).get("SSEEnabled", False),
            "deletion_protection": t.get("DeletionProtectionEnabled", False),
            "stream": "StreamSpecification" in t,
            # The attribute DynamoDB expires items by, or None.
            "ttl": (t.get("TimeToLiveSpecification") or {}).get("AttributeName")
            if (t.get("TimeToLiveSpecification") or {}).get("Enabled") else None,
        }

        m["function"] = self.function_model("function")
        m["ddns.function"] = self.function_model("ddns_function")
        (esm,) = self.of_type("AWS::Lambda::EventSourceMapping").values()
        e = esm["Properties"]
        m["event_source"] = {
            "source": self.resolve(e["EventSourceArn"]),
            "function": qualified(self.resolve(e["FunctionName"]), None),
            "batch_size": e.get("BatchSize"),
            "window": e.get("MaximumBatchingWindowInSeconds"),
            "max_concurrency": e.get("ScalingConfig", {}).get("MaximumConcurrency"),
            "response_types": sorted(e.get("FunctionResponseTypes", [])),
        }

        m["queues"] = {}
        for lid, q in self.of_type("AWS::SQS::Queue").items():
            p = q["Properties"]
            redrive = p.get("RedrivePolicy")
            m["queues"][self.roles[lid]] = {
                "visibility": p.get("VisibilityTimeout", 30),
                "retention": p.get("MessageRetentionPeriod", 345600),
                "sse_sqs": p.get("SqsManagedSseEnabled", False),
                "kms": self.resolve(p.get("KmsMasterKeyId")),
                "max_receive": redrive["maxReceiveCount"] if redrive else None,
            }

        m["alarms"] = canonical([{
            "metric": f"{a['Properties']['Namespace']}/{a['Properties']['MetricName']}",
            "statistic": a["Properties"].get("Statistic"),
            "period": a["Properties"].get("Period"),
            "threshold": a["Properties"]["Threshold"],
            "comparison": a["Properties"]["ComparisonOperator"],
            "evaluation_periods": a["Properties"]["EvaluationPeriods"],
            "missing_data": a["Properties"].get("TreatMissingData"),
            "dimensions": canonical({d["Name"]: self.resolve(d["Value"]) for d in a["Properties"].get("Dimensions", [])}),
            "actions": canonical(self.resolve(a["Properties"].get("AlarmActions", []))),
            "ok_actions": canonical(self.resolve(a["Properties"].get("OKActions", []))),
        } for a in self.of_type("AWS::CloudWatch::Alarm").values()])

        m["ddns.alerts"] = {
            "topics": canonical([{
                "kms": self.resolve(t["Properties"].get("KmsMasterKeyId")),
                "display_name": t["Properties"].get("DisplayName"),
                "fifo": bool(t["Properties"].get("FifoTopic")),
            } for t in self.of_type("AWS::SNS::Topic").values()]),
            "topic_policies": {
                role_of(self.resolve(topic)): statements(self.resolve(p["Properties"]["PolicyDocument"]))
                for p in self.of_type("AWS::SNS::TopicPolicy").values() for topic in p["Properties"]["Topics"]
            },
            "keys": canonical([{
                "rotation": bool(k["Properties"].get("EnableKeyRotation")),
                "spec": k["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT"),
                "usage": k["Properties"].get("KeyUsage", "ENCRYPT_DECRYPT"),
                "multi_region": bool(k["Properties"].get("MultiRegion")),
                "enabled": k["Properties"].get("Enabled", True),
                "policy": statements(self.resolve(k["Properties"]["KeyPolicy"])),
            } for k in self.of_type("AWS::KMS::Key").values()]),
        }

        m["ddns.cloudfront"] = canonical([self.distribution(d["Properties"]["DistributionConfig"])
                                          for d in self.of_type("AWS::CloudFront::Distribution").values()])

        m["aliases"] = canonical([{
            "alias": self.roles[lid],
            "name": a["Properties"]["Name"],
            "function": role_of(self.resolve(a["Properties"]["FunctionName"])),
            # The version the last deploy published (GetAtt Version of the function's version).
            "version": "published" if self.roles.get(
                (a["Properties"]["FunctionVersion"].get("Fn::GetAtt") or [None])[0], "").startswith("version:")
            else a["Properties"]["FunctionVersion"],
            "routing": bool(a["Properties"].get("RoutingConfig")),
            "provisioned": bool(a["Properties"].get("ProvisionedConcurrencyConfig")),
        } for lid, a in self.of_type("AWS::Lambda::Alias").items()])

        dashboards = []
        for d in self.of_type("AWS::CloudWatch::Dashboard").values():
            body = self.resolve(d["Properties"]["DashboardBody"])
            dashboards.append(dashboard_model(json.loads(body)))
        m["dashboard"] = dashboards

        # The default bus's policy: one statement per AWS::Events::EventBusPolicy.
        m["bus_policy"] = bus_statement_ids(canonical([
            dict(statement(self.resolve(p["Properties"]["Statement"])),
                 bus=p["Properties"].get("EventBusName", "default"), statement_id=p["Properties"]["StatementId"])
            for p in self.of_type("AWS::Events::EventBusPolicy").values()]))

        # Output names as Terraform spells them: Ec2Dns<Name><hash> -> <name> in snake case.
        outputs = {snake(re.sub(r"^Ec2Dns|[0-9A-F]{8}$", "", k)): o for k, o in self.template.get("Outputs", {}).items()}
        m["outputs"] = sorted(outputs)
        m["first_check"] = {k: self.resolve(outputs[k]["Value"]) if k in outputs else None for k in FIRST_CHECK_OUTPUTS}
        m["record_configuration"] = self.configuration_requests()
        return m

    def configuration_requests(self) -> list:
        """Custom resources served by a function of the stack: whom each invokes, what it asks,
        which of the function's properties it carries (a change of them sends an Update), and
        the IAM resources it explicitly waits for."""
        functions = self.of_type("AWS::Lambda::Function")
        out = []
        for r in self.resources.values():
            if not (r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"):
                continue
            p = r.get("Properties", {})
            token = p.get("ServiceToken")
            fn_lid = token["Fn::GetAtt"][0] if isinstance(token, dict) and "Fn::GetAtt" in token else None
            f = functions.get(fn_lid, {}).get("Properties", {})
            carried = {"environment": f.get("Environment", {}).get("Variables"), "code": f.get("Code")}
            after = []
            for dep in as_list(r.get("DependsOn")):
                kind = self.resources.get(dep, {}).get("Type")
                if kind == "AWS::IAM::Role" and self.resources[dep]["Properties"].get("Policies"):
                    after.append(f"policy:{self.roles.get(dep, dep)}")  # its inline policies
                elif kind == "AWS::IAM::Policy":
                    owners = [self.roles.get(x.get("Ref")) for x in self.resources[dep]["Properties"].get("Roles", [])
                              if isinstance(x, dict)]
                    after += [f"policy:{o}" for o in owners]
            out.append({
                "function": role_of(self.resolve(token)),
                "asks": "record_configuration" if r["Type"] == CONFIGURATION_RESOURCE_TYPE else r["Type"],
                "on_change_of": sorted(k for k, v in carried.items() if v is not None and any(
                    x == v for x in p.values())),
                "after": sorted(set(after)),
            })
        return canonical(out)

    def distribution(self, d: dict) -> dict:
        origins = [{
            "domain": self.resolve(o["DomainName"]),
            "path": o.get("OriginPath", ""),
            "protocol": o.get("CustomOriginConfig", {}).get("OriginProtocolPolicy"),
            "ssl_protocols": sorted(o.get("CustomOriginConfig", {}).get("OriginSSLProtocols", [])),
            "ports": [o.get("CustomOriginConfig", {}).get("HTTPPort", 80), o.get("CustomOriginConfig", {}).get("HTTPSPort", 443)],
            "read_timeout": o.get("CustomOriginConfig", {}).get("OriginReadTimeout", 30),
            "keepalive": o.get("CustomOriginConfig", {}).get("OriginKeepaliveTimeout", 5),
            "headers": {h["HeaderName"]: h["HeaderValue"] for h in o.get("OriginCustomHeaders", [])},
            "access_control": o.get("OriginAccessControlId") or None,
        } for o in d["Origins"]]
        b = d["DefaultCacheBehavior"]
        cert = d.get("ViewerCertificate") or {"CloudFrontDefaultCertificate": True}
        default_cert = bool(cert.get("CloudFrontDefaultCertificate"))
        return {
            "origins": canonical(origins),
            "behavior": {
                "viewer_protocol": b["ViewerProtocolPolicy"],
                "allowed_methods": sorted(b.get("AllowedMethods", ["GET", "HEAD"])),
                "cached_methods": sorted(b.get("CachedMethods", ["GET", "HEAD"])),
                "cache_policy": b.get("CachePolicyId"),
                "origin_request_policy": b.get("OriginRequestPolicyId"),
                "response_headers_policy": b.get("ResponseHeadersPolicyId"),
                "compress": bool(b.get("Compress")),
                "functions": len(b.get("FunctionAssociations", [])) + len(b.get("LambdaFunctionAssociations", [])),
                "forwarded_values": "ForwardedValues" in b,
            },
            "other_behaviors": len(d.get("CacheBehaviors", [])),
            "aliases": sorted(d.get("Aliases", [])),
            "certificate": {
                "default": default_cert,
                "acm": cert.get("AcmCertificateArn"),
                "ssl_support": cert.get("SslSupportMethod"),
                # With the default certificate CloudFront fixes the minimum at TLSv1.
                "minimum_protocol": None if default_cert else cert.get("MinimumProtocolVersion"),
            },
            "enabled": d.get("Enabled", True),
            "price_class": d.get("PriceClass", "PriceClass_All"),
            "http_version": d.get("HttpVersion", "http1.1"),
            "ipv6": bool(d.get("IPV6Enabled")),
            "geo_restriction": (d.get("Restrictions", {}).get("GeoRestriction", {}).get("RestrictionType", "none")),
            "logging": "Logging" in d,
            "web_acl": d.get("WebACLId") or None,
            "default_root_object": d.get("DefaultRootObject") or None,
        }


# ---- Terraform plan -------------------------------------------------------------------------

class TfPlan:
    def __init__(self, plan: dict, account: str, region: str):
        self.plan = plan
        self.account, self.region = account, region
        self.resources: list[dict] = []
        self._collect(plan["planned_values"]["root_module"])
        self.config: dict[str, dict] = {}
        self.variables: dict[str, Any] = {}
        self._collect_config(plan.get("configuration", {}).get("root_module", {}))
        self.symbols: dict[str, str] = {}
        self.address_roles: dict[str, str] = {}
        self._assign_roles()

    def _collect(self, module: dict) -> None:
        self.resources += [r for r in module.get("resources", []) if r["mode"] == "managed"]
        for child in module.get("child_modules", []):
            self._collect(child)

    def _collect_config(self, module: dict, call: dict | None = None) -> None:
        for r in module.get("resources", []):
            self.config[f"{r['type']}.{r['name']}"] = r
        if call is not None:  # the module's variables: value given by the caller, else default
            for name, var in module.get("variables", {}).items():
                given = call.get("expressions", {}).get(name, {})
                self.variables[name] = given.get("constant_value", var.get("default"))
        for child in module.get("module_calls", {}).values():
            self._collect_config(child.get("module", {}), child)

    def of_type(self, type_: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == type_]

    def named(self, type_: str, name: str) -> dict | None:
        """The resource `type.name` (its only instance), or None."""
        found = [r for r in self.of_type(type_) if r["name"] == name]
        assert len(found) <= 1, f"{type_}.{name}: {len(found)} instances"
        return found[0] if found else None

    def _assign_roles(self) -> None:
        p, a, g = "arn:aws", self.account, self.region
        roles = {"events": "queue", "dlq": "dlq", "event_dlq": "event_dlq"}
        for q in self.of_type("aws_sqs_queue"):
            role = roles.get(q["name"], q["name"])
            self.address_roles[f"aws_sqs_queue.{q['name']}"] = role
            name = q["values"]["name"]
            self.symbols[f"{p}:sqs:{g}:{a}:{name}"] = f"${{Arn:{role}}}"
            self.symbols[name] = f"${{QueueName:{role}}}"
            # The module builds the URL from the name (QUEUE_URL); CloudFormation's Ref of a
            # queue is its URL.
            self.symbols[f"https://sqs.{g}.amazonaws.com/{a}/{name}"] = f"${{ref:{role}}}"
        (table,) = self.of_type("aws_dynamodb_table")
        self.symbols[f"{p}:dynamodb:{g}:{a}:table/{table['values']['name']}"] = "${Arn:lock_table}"
        self.symbols[table["values"]["name"]] = "${ref:lock_table}"
        # Resources by their address in the module: the reconciler's and the DDNS endpoint's.
        for type_, names in {
            "aws_cloudwatch_log_group": {"function": "log_group", "ddns": "ddns_log_group"},
            "aws_lambda_function": {"this": "function", "ddns": "ddns_function"},
            "aws_iam_role": {"function": "role", "ddns": "ddns_role"},
            "aws_lambda_function_url": {"ddns": "ddns_url"},
            "aws_sns_topic": {"alerts": "alert_topic"},
            "aws_kms_key": {"alerts": "alert_key"},
            "aws_cloudfront_distribution": {"ddns": "ddns_distribution"},
            "aws_lambda_alias": {"live": "alias", "ddns_live": "ddns_alias"},
        }.items():
            for r in self.of_type(type_):
                self.address_roles[f"{type_}.{r['name']}"] = names.get(r["name"], f"{type_}.{r['name']}")
        for lg in self.of_type("aws_cloudwatch_log_group"):
            role = self.address_roles[f"aws_cloudwatch_log_group.{lg['name']}"]
            # CloudFormation's LogGroup Arn attribute ends in ":*".
            self.symbols[f"{p}:logs:{g}:{a}:log-group:{lg['values']['name']}:*"] = f"${{Arn:{role}}}"
            self.symbols[lg["values"]["name"]] = f"${{ref:{role}}}"
        for fn in self.of_type("aws_lambda_function"):
            role = self.address_roles[f"aws_lambda_function.{fn['name']}"]
            self.symbols[fn["values"]["function_name"]] = f"${{ref:{role}}}"
            self.symbols[f"{p}:lambda:{g}:{a}:function:{fn['values']['function_name']}"] = f"${{Arn:{role}}}"
            # The alias by qualified name or ARN (e.g. the nested stack's FunctionName).
            if role in ALIAS_OF:
                for qualified_name in (f"{fn['values']['function_name']}:{LIVE_ALIAS}",
                                       f"{p}:lambda:{g}:{a}:function:{fn['values']['function_name']}:{LIVE_ALIAS}"):
                    self.symbols[qualified_name] = f"${{Arn:{ALIAS_OF[role]}}}"
        for t in self.of_type("aws_sns_topic"):
            # CloudFormation's Ref of a topic is its ARN.
            self.symbols[f"{p}:sns:{g}:{a}:{t['values']['name']}"] = \
                f"${{ref:{self.address_roles['aws_sns_topic.' + t['name']]}}}"
        taken: set = set()
        for rule in self.of_type("aws_cloudwatch_event_rule"):
            v = rule["values"]
            kind = distinct("rule:ddns_sweep" if rule["name"] == "ddns_sweep" else rule_kind(
                json.loads(v["event_pattern"]) if v.get("event_pattern") else None, v.get("schedule_expression")), taken)
            self.address_roles[f"aws_cloudwatch_event_rule.{rule['name']}"] = kind
            self.symbols[f"{p}:events:{g}:{a}:rule/{v['name']}"] = f"${{Arn:{kind}}}"
            self.symbols[v["name"]] = kind

    def sym(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.sym(x) for x in v]
        if isinstance(v, dict):
            return {k: self.sym(x) for k, x in v.items()}
        if not isinstance(v, str):
            return v
        if v in self.symbols:
            return self.symbols[v]
        if v == self.account:  # e.g. aws:SourceAccount, kms:CallerAccount
            return ACCOUNT
        # A service endpoint, e.g. kms:ViaService sns.<region>.amazonaws.com.
        v = re.sub(rf"^([a-z0-9-]+)\.{re.escape(self.region)}\.amazonaws\.com$", rf"\1.{REGION}.{URL_SUFFIX}", v)
        v = re.sub(r"^arn:aws:", f"arn:{PARTITION}:", v)
        v = v.replace(f":{self.account}:", f":{ACCOUNT}:").replace(f":{self.region}:", f":{REGION}:")
        return v

    def reference(self, address: str, attr: str, expression_path: list[str]) -> str | None:
        """Symbol of the resource an (unknown at plan time) attribute refers to."""
        expr: Any = self.config[address]["expressions"]
        for key in expression_path:
            expr = expr[0] if isinstance(expr, list) else expr
            if not isinstance(expr, dict) or key not in expr:
                return None
            expr = expr[key]
        for ref in (expr[0] if isinstance(expr, list) else expr).get("references", []):
            target = re.sub(r"\[[^]]*\]", "", ".".join(ref.split(".")[:2]))
            if target in self.address_roles:
                return f"${{{attr}:{self.address_roles[target]}}}"
        return None

    def function_model(self, name: str) -> dict | None:
        fn = self.named("aws_lambda_function", name)
        if fn is None:
            return None
        f = fn["values"]
        logging = (f.get("logging_config") or [{}])[0]
        reserved = f.get("reserved_concurrent_executions")
        return {
            "runtime": f["runtime"], "architectures": f["architectures"], "handler": f["handler"],
            "memory": f["memory_size"], "timeout": f["timeout"],
            "environment": canonical(self.sym((f.get("environment") or [{}])[0].get("variables") or {})),
            "log_format": logging.get("log_format"),
            "log_group": self.sym(logging.get("log_group")),
            "reserved_concurrency": None if reserved in (None, -1) else reserved,
            "vpc": bool(f.get("vpc_config")),
            # publish = true: every change publishes a version; Terraform never deletes old ones.
            "publishes_versions": bool(f.get("publish")),
        }

    def nested_templates(self) -> list[dict]:
        return [json.loads(s["values"]["template_body"]) for s in self.of_type("aws_cloudformation_stack")]

    def model(self) -> dict:
        m: dict = {}
        roles = self.of_type("aws_iam_role")
        nested = [r for t in self.nested_templates() for r in t.get("Resources", {}).values()]
        m["iam.other"] = canonical({
            "roles": len(roles),
            "policies": [],
            "managed_policies": len(self.of_type("aws_iam_policy")),
            "instance_profiles": len(self.of_type("aws_iam_instance_profile")),
            "managed_policy_arns": sorted(
                [r["values"]["policy_arn"] for r in self.of_type("aws_iam_role_policy_attachment")]
                + [a for r in roles for a in (r["values"].get("managed_policy_arns") or [])]),
            "trust": [statements(self.sym(json.loads(r["values"]["assume_role_policy"]))) for r in roles],
            # What the nested stacks create beyond function permissions (compared below).
            "nested": sorted(r["Type"] for r in nested if r["Type"] != "AWS::Lambda::Permission"),
        })
        key = lambda s: json.dumps(s, sort_keys=True)  # noqa: E731
        m["iam.function"] = sorted((s for p in self.of_type("aws_iam_role_policy") if p["name"] != "ddns"
                                    for s in statements(self.sym(json.loads(p["values"]["policy"])))), key=key)
        m["iam.ddns"] = sorted((s for p in self.of_type("aws_iam_role_policy") if p["name"] == "ddns"
                                for s in statements(self.sym(json.loads(p["values"]["policy"])))), key=key)

        grants = [grant(qualified(self.sym(v["function_name"]), v.get("qualifier")), v["action"], v["principal"],
                        self.sym(v.get("source_arn")),
                        self.sym(v.get("source_account")), v.get("function_url_auth_type"), False,
                        v.get("principal_org_id"))
                  for v in (r["values"] for r in self.of_type("aws_lambda_permission"))]
        # hashicorp/aws 5.x has no invoked_via_function_url: that grant is a CloudFormation
        # AWS::Lambda::Permission in a nested stack (ddns.tf).
        grants += [grant(self.sym(q.get("FunctionName")), q.get("Action"), q.get("Principal"),
                         self.sym(q.get("SourceArn")), self.sym(q.get("SourceAccount")), q.get("FunctionUrlAuthType"),
                         q.get("InvokedViaFunctionUrl"), q.get("PrincipalOrgID"))
                   for q in (r.get("Properties", {}) for r in nested if r["Type"] == "AWS::Lambda::Permission")]
        m["invoke"] = {
            "grants": canonical(grants),
            "urls": canonical([{
                "function": role_of(self.sym(u["values"]["function_name"])),
                "auth_type": u["values"]["authorization_type"],
                "invoke_mode": u["values"].get("invoke_mode") or "BUFFERED",
                "cors": bool(u["values"].get("cors")),
                "qualifier": u["values"].get("qualifier") or None,
            } for u in self.of_type("aws_lambda_function_url")]),
        }

        m["queue_policies"] = {}
        for p in self.of_type("aws_sqs_queue_policy"):
            m["queue_policies"][{"events": "queue"}.get(p["name"], p["name"])] = statements(
                self.sym(json.loads(p["values"]["policy"])))

        triggers = {}
        targets = self.of_type("aws_cloudwatch_event_target")
        for rule in self.of_type("aws_cloudwatch_event_rule"):
            v = rule["values"]
            kind = self.address_roles[f"aws_cloudwatch_event_rule.{rule['name']}"]
            mine = [t for t in targets if t["values"]["rule"] == v["name"]]
            triggers[kind] = {
                "pattern": canonical(json.loads(v["event_pattern"])) if v.get("event_pattern") else None,
                "schedule": v.get("schedule_expression") or None,
                "enabled": (v["state"] == "ENABLED") if v.get("state") else v.get("is_enabled") is not False,
                "targets": canonical([{
                    "arn": self.reference(f"aws_cloudwatch_event_target.{t['name']}", "Arn", ["arn"]),
                    "dead_letter": self.reference(f"aws_cloudwatch_event_target.{t['name']}", "Arn",
                                                  ["dead_letter_config", "arn"]),
                    "retry": {"attempts": t["values"]["retry_policy"][0]["maximum_retry_attempts"],
                              "max_age": t["values"]["retry_policy"][0]["maximum_event_age_in_seconds"]}
                    if t["values"].get("retry_policy") else {"attempts": None, "max_age": None},
                    "input": t["values"].get("input") or t["values"].get("input_path")
                    or (t["values"].get("input_transformer") or None),
                } for t in mine]),
            }
        m["triggers"] = triggers

        (table,) = self.of_type("aws_dynamodb_table")
        t = table["values"]
        key_schema = [[t["hash_key"], "HASH"]] + ([[t["range_key"], "RANGE"]] if t.get("range_key") else [])
        pitr = t.get("point_in_time_recovery") or [{}]
        sse = t.get("server_side_encryption") or [{}]
        m["table"] = {
            "key": canonical(key_schema),
            "attributes": canonical([[a["name"], a["type"]] for a in t["attribute"]]),
            "indexes": len(t.get("global_secondary_index") or []) + len(t.get("local_secondary_index") or []),
            "billing": t.get("billing_mode"),
            "pitr": bool(pitr[0].get("enabled")),
            "sse": bool(sse[0].get("enabled")),
            "deletion_protection": bool(t.get("deletion_protection_enabled")),
            "stream": bool(t.get("stream_enabled")),
            "ttl": (t.get("ttl") or [{}])[0].get("attribute_name") if (t.get("ttl") or [{}])[0].get("enabled") else None,
        }

        m["function"] = self.function_model("this")
        m["ddns.function"] = self.function_model("ddns")
        (esm,) = self.of_type("aws_lambda_event_source_mapping")
        e = esm["values"]
        m["event_source"] = {
            "source": self.reference(f"aws_lambda_event_source_mapping.{esm['name']}", "Arn", ["event_source_arn"]),
            "function": self.reference(f"aws_lambda_event_source_mapping.{esm['name']}", "Arn", ["function_name"])
            or qualified(self.sym(e.get("function_name")), None),
            "batch_size": e.get("batch_size"),
            "window": e.get("maximum_batching_window_in_seconds"),
            "max_concurrency": (e.get("scaling_config") or [{}])[0].get("maximum_concurrency"),
            "response_types": sorted(e.get("function_response_types") or []),
        }

        m["queues"] = {}
        for q in self.of_type("aws_sqs_queue"):
            v = q["values"]
            role = self.address_roles[f"aws_sqs_queue.{q['name']}"]
            # The redrive policy embeds the DLQ's ARN, unknown in a plan: read its
            # maxReceiveCount from the variable it references.
            max_receive = None
            expr = self.config[f"aws_sqs_queue.{q['name']}"]["expressions"].get("redrive_policy")
            if expr is not None:
                refs = [r for r in expr.get("references", []) if r.startswith("var.")]
                max_receive = self.variables.get(refs[0][4:]) if len(refs) == 1 else "unreadable"
            m["queues"][role] = {
                "visibility": v.get("visibility_timeout_seconds"),
                "retention": v.get("message_retention_seconds"),
                "sse_sqs": bool(v.get("sqs_managed_sse_enabled")),
                "kms": v.get("kms_master_key_id"),
                "max_receive": max_receive,
            }

        m["alarms"] = canonical([{
            "metric": f"{a['values']['namespace']}/{a['values']['metric_name']}",
            "statistic": a["values"].get("statistic"),
            "period": a["values"].get("period"),
            "threshold": a["values"]["threshold"],
            "comparison": a["values"]["comparison_operator"],
            "evaluation_periods": a["values"]["evaluation_periods"],
            "missing_data": a["values"].get("treat_missing_data"),
            "dimensions": canonical(self.sym(a["values"].get("dimensions") or {})),
            "actions": canonical(self.sym(sorted(a["values"].get("alarm_actions") or []))),
            "ok_actions": canonical(self.sym(sorted(a["values"].get("ok_actions") or []))),
        } for a in self.of_type("aws_cloudwatch_metric_alarm")])

        m["ddns.alerts"] = {
            "topics": canonical([{
                # The key's ARN is unknown in a plan: the resource it refers to.
                "kms": self.reference(f"aws_sns_topic.{t['name']}", "Arn", ["kms_master_key_id"])
                or self.sym(t["values"].get("kms_master_key_id")),
                "display_name": t["values"].get("display_name") or None,
                "fifo": bool(t["values"].get("fifo_topic")),
            } for t in self.of_type("aws_sns_topic")]),
            "topic_policies": {
                role_of(self.reference(f"aws_sns_topic_policy.{p['name']}", "ref", ["arn"])):
                statements(self.sym(json.loads(p["values"]["policy"])))
                for p in self.of_type("aws_sns_topic_policy")
            },
            "keys": canonical([{
                "rotation": bool(k["values"].get("enable_key_rotation")),
                "spec": k["values"].get("customer_master_key_spec") or "SYMMETRIC_DEFAULT",
                "usage": k["values"].get("key_usage") or "ENCRYPT_DECRYPT",
                "multi_region": bool(k["values"].get("multi_region")),
                "enabled": k["values"].get("is_enabled", True),
                "policy": statements(self.sym(json.loads(k["values"]["policy"]))),
            } for k in self.of_type("aws_kms_key")]),
        }

        m["ddns.cloudfront"] = canonical([self.distribution(d) for d in self.of_type("aws_cloudfront_distribution")])

        aliases = []
        for a in self.of_type("aws_lambda_alias"):
            address = f"aws_lambda_alias.{a['name']}"
            function = self.reference(address, "ref", ["function_name"]) or self.sym(a["values"].get("function_name"))
            target = self.config[address]["expressions"].get("function_version", {}).get("references", [])
            published = [t for t in target if t.endswith(".version") and t.startswith("aws_lambda_function.")]
            fn = self.named("aws_lambda_function", re.sub(r"\[.*", "", published[0].split(".")[1])) if published else None
            aliases.append({
                "alias": self.address_roles[address],
                "name": a["values"]["name"],
                "function": role_of(function),
                # The version the last apply published (the function's `version`, publish = true).
                "version": "published" if fn is not None and fn["values"].get("publish")
                else a["values"].get("function_version"),
                "routing": bool(a["values"].get("routing_config")),
                "provisioned": False,
            })
        m["aliases"] = canonical(aliases)

        dashboards = []
        for d in self.of_type("aws_cloudwatch_dashboard"):
            body = json.loads(d["values"]["dashboard_body"])
            for w in body.get("widgets", []):
                props = w.get("properties", {})
                if props.get("region") == self.region:
                    props["region"] = REGION
                if "metrics" in props:  # [namespace, metric, dimension, value, options]: the value
                    props["metrics"] = [m[:3] + [self.sym(m[3])] + m[4:] if len(m) > 3 else m
                                        for m in props["metrics"]]
                if "query" in props:
                    props["query"] = re.sub(r"SOURCE '([^']*)'", lambda g: f"SOURCE '{self.sym(g.group(1))}'",
                                            props["query"])
            dashboards.append(dashboard_model(body))
        m["dashboard"] = dashboards

        # aws_cloudwatch_event_permission: the statement PutPermission adds to the bus's policy.
        bus_policy = []
        for r in self.of_type("aws_cloudwatch_event_permission"):
            v = r["values"]
            principal = "*" if v["principal"] == "*" else {"AWS": f"arn:aws:iam::{v['principal']}:root"}
            st = {"Sid": v["statement_id"], "Effect": "Allow", "Principal": principal, "Action": v["action"],
                  "Resource": f"arn:aws:events:{self.region}:{self.account}:event-bus/{v['event_bus_name']}"}
            for c in v.get("condition") or []:
                st.setdefault("Condition", {}).setdefault(c["type"], {})[c["key"]] = c["value"]
            bus_policy.append(dict(statement(self.sym(st)), bus=v["event_bus_name"], statement_id=v["statement_id"]))
        m["bus_policy"] = bus_statement_ids(canonical(bus_policy))

        m["outputs"] = sorted(self.plan.get("output_changes", {}))
        outputs = self.plan.get("output_changes", {})
        m["first_check"] = {k: self.sym_words(outputs[k]["after"]) if k in outputs else None for k in FIRST_CHECK_OUTPUTS}
        m["record_configuration"] = self.configuration_requests()
        return m

    def sym_words(self, v: Any) -> Any:
        """A command line's words as symbols (`ec2-dns` -> `${ref:function}`, the region ->
        `${region}`), line by line."""
        if not isinstance(v, str):
            return v
        word = lambda w: REGION if w == self.region else self.sym(w)  # noqa: E731
        return "\n".join(" ".join(word(w) for w in line.split(" ")) for line in v.split("\n"))

    def configuration_requests(self) -> list:
        """aws_lambda_invocation: whom each invokes, what it asks, which of the function's
        properties its triggers carry (a change of them invokes again), and the IAM resources it
        explicitly waits for."""
        out = []
        for inv in self.of_type("aws_lambda_invocation"):
            v = inv["values"]
            address = f"aws_lambda_invocation.{inv['name']}"
            refs = self.config[address]["expressions"].get("function_name", {}).get("references", [])
            targets = [re.sub(r"\[[^]]*\]", "", ".".join(r.split(".")[:2])) for r in refs]
            fn = next((self.named("aws_lambda_function", t.split(".")[1]) for t in targets
                       if t.startswith("aws_lambda_function.")), None)
            f = fn["values"] if fn else {}
            carried = {"environment": (f.get("environment") or [{}])[0].get("variables"), "code": f.get("source_code_hash")}
            triggers = v.get("triggers") or {}

            def carries(value: Any, key: str) -> bool:
                if key == "environment":
                    try:
                        return json.loads(value) == carried["environment"]
                    except (TypeError, ValueError):
                        return False
                return value == carried[key]
            qualifier = v.get("qualifier")
            try:
                payload = json.loads(v.get("input") or "null")
            except ValueError:
                payload = v.get("input")
            scope = v.get("lifecycle_scope") or "CREATE_ONLY"
            after = []
            for dep in self.config[address].get("depends_on", []):
                if dep.startswith("aws_iam_role_policy."):
                    role_refs = self.config[dep]["expressions"].get("role", {}).get("references", [])
                    owners = {self.address_roles.get(re.sub(r"\[[^]]*\]", "", ".".join(r.split(".")[:2])))
                              for r in role_refs} - {None}
                    after += [f"policy:{o}" for o in owners]
            function = role_of(self.sym(v.get("function_name")))
            if qualifier == LIVE_ALIAS:
                function = role_of(qualified(self.sym(v.get("function_name")), qualifier))
            elif qualifier not in (None, "$LATEST"):
                function = f"{function}:{qualifier}"
            out.append({
                "function": function,
                "asks": "record_configuration" if payload == RECORD_CONFIGURATION_INPUT and scope == "CREATE_ONLY"
                else json.dumps({"input": payload, "lifecycle_scope": scope}, sort_keys=True),
                "on_change_of": sorted(k for k in carried if carried[k] is not None and any(
                    carries(t, k) for t in triggers.values())),
                "after": sorted(set(after)),
            })
        return canonical(out)

    def distribution(self, resource: dict) -> dict:
        d = resource["values"]
        address = f"aws_cloudfront_distribution.{resource['name']}"
        origins = []
        for o in d["origin"]:
            c = (o.get("custom_origin_config") or [{}])[0]
            origins.append({
                # The function URL's host is unknown in a plan: the resource it comes from.
                "domain": self.reference(address, "Domain", ["origin", "domain_name"]) if len(d["origin"]) == 1
                else o.get("domain_name"),
                "path": o.get("origin_path") or "",
                "protocol": c.get("origin_protocol_policy"),
                "ssl_protocols": sorted(c.get("origin_ssl_protocols") or []),
                "ports": [c.get("http_port"), c.get("https_port")],
                "read_timeout": c.get("origin_read_timeout"),
                "keepalive": c.get("origin_keepalive_timeout"),
                "headers": {h["name"]: h["value"] for h in o.get("custom_header") or []},
                "access_control": o.get("origin_access_control_id") or None,
            })
        b = d["default_cache_behavior"][0]
        cert = (d.get("viewer_certificate") or [{}])[0]
        default_cert = bool(cert.get("cloudfront_default_certificate"))
        geo = ((d.get("restrictions") or [{}])[0].get("geo_restriction") or [{}])[0]
        return {
            "origins": canonical(origins),
            "behavior": {
                "viewer_protocol": b["viewer_protocol_policy"],
                "allowed_methods": sorted(b.get("allowed_methods") or []),
                "cached_methods": sorted(b.get("cached_methods") or []),
                "cache_policy": b.get("cache_policy_id"),
                "origin_request_policy": b.get("origin_request_policy_id"),
                "response_headers_policy": b.get("response_headers_policy_id") or None,
                "compress": bool(b.get("compress")),
                "functions": len(b.get("function_association") or []) + len(b.get("lambda_function_association") or []),
                "forwarded_values": bool(b.get("forwarded_values")),
            },
            "other_behaviors": len(d.get("ordered_cache_behavior") or []),
            "aliases": sorted(d.get("aliases") or []),
            "certificate": {
                "default": default_cert,
                "acm": cert.get("acm_certificate_arn"),
                "ssl_support": cert.get("ssl_support_method"),
                "minimum_protocol": None if default_cert else cert.get("minimum_protocol_version"),
            },
            "enabled": d.get("enabled", True),
            "price_class": d.get("price_class"),
            "http_version": d.get("http_version"),
            "ipv6": bool(d.get("is_ipv6_enabled")),
            "geo_restriction": geo.get("restriction_type", "none"),
            "logging": bool(d.get("logging_config")),
            "web_acl": d.get("web_acl_id") or None,
            "default_root_object": d.get("default_root_object") or None,
        }


# ---- the member side (Ec2DnsMember, modules/member) ----------------------------------------

MEMBER_ROLE_DEFAULT = "ec2-dns-member"
LITERAL_ARN = re.compile(r"^arn:aws:")


def literal_partition(v: Any) -> Any:
    """ARNs given as literals (the reconciler's role ARN) with the partition as a placeholder,
    as TfPlan.sym writes every ARN."""
    if isinstance(v, list):
        return [literal_partition(x) for x in v]
    if isinstance(v, dict):
        return {k: literal_partition(x) for k, x in v.items()}
    return LITERAL_ARN.sub(f"arn:{PARTITION}:", v) if isinstance(v, str) else v


def symbol_role(v: Any) -> Any:
    """`${Arn:forward_role}` or `${ref:forward_role}` -> `forward_role`."""
    found = re.fullmatch(r"\$\{[A-Za-z]+:([^}]+)\}", v) if isinstance(v, str) else None
    return found.group(1) if found else v


def member_sections(roles: dict, rules: list, outputs: list, kinds: list) -> dict:
    return {
        "member.roles": roles,
        "member.rules": canonical(rules),
        "member.outputs": sorted(outputs),
        "member.resources": sorted(kinds),
    }


class CfnMember(Cfn):
    """The member stack's template (Ec2DnsMember)."""

    def _assign_roles(self) -> None:
        for lid, role in self.of_type("AWS::IAM::Role").items():
            trust = json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
            self.roles[lid] = "forward_role" if "events.amazonaws.com" in trust else "member_role"
        for lid, rule in self.of_type("AWS::Events::Rule").items():
            self.roles[lid] = "forward:" + rule_kind(rule["Properties"].get("EventPattern"), None).split(":")[1]

    def model(self) -> dict:
        roles = {}
        for lid, role in self.of_type("AWS::IAM::Role").items():
            p = role["Properties"]
            roles[self.roles[lid]] = {
                "name": p.get("RoleName") if self.roles[lid] == "member_role" else None,
                "trust": statements(self.resolve(p["AssumeRolePolicyDocument"])),
                "policy": sorted((s for doc in p.get("Policies", []) for s in statements(self.resolve(doc["PolicyDocument"]))),
                                 key=lambda s: json.dumps(s, sort_keys=True)),
                "managed": sorted(p.get("ManagedPolicyArns", [])),
            }
        rules = [{
            "pattern": canonical(r["Properties"].get("EventPattern")),
            "schedule": r["Properties"].get("ScheduleExpression"),
            "enabled": r["Properties"].get("State", "ENABLED") == "ENABLED",
            "bus": r["Properties"].get("EventBusName", "default"),
            "targets": canonical([{
                "arn": self.resolve(t["Arn"]),
                "role": symbol_role(self.resolve(t.get("RoleArn"))),
                "dead_letter": self.resolve(t.get("DeadLetterConfig", {}).get("Arn")),
                "retry": {"attempts": t.get("RetryPolicy", {}).get("MaximumRetryAttempts"),
                          "max_age": t.get("RetryPolicy", {}).get("MaximumEventAgeInSeconds")},
                "input": t.get("Input") or t.get("InputPath") or t.get("InputTransformer"),
            } for t in r["Properties"].get("Targets", [])]),
        } for r in self.of_type("AWS::Events::Rule").values()]
        outputs = [snake(re.sub(r"^Ec2DnsMember|[0-9A-F]{8}$", "", k)) for k in self.template.get("Outputs", {})]
        kinds = [r["Type"] for r in self.resources.values() if r["Type"] != "AWS::CDK::Metadata"]
        return literal_partition(member_sections(roles, rules, outputs, kinds))


# Terraform resource types as the CloudFormation resources they amount to (inline policies and
# targets belong to their role and rule).
TF_MEMBER_KINDS = {"aws_iam_role": "AWS::IAM::Role", "aws_cloudwatch_event_rule": "AWS::Events::Rule",
                   "aws_iam_role_policy": None, "aws_cloudwatch_event_target": None}


class TfMember(TfPlan):
    """One call of modules/member in a plan (the example's `module.member`)."""

    def __init__(self, plan: dict, account: str, region: str, module: str = "member"):
        self.plan = plan
        self.account, self.region = account, region
        self.resources = []
        self._collect(plan["planned_values"]["root_module"])
        self.resources = [r for r in self.resources if r["address"].startswith(f"module.{module}.")]
        self.config, self.variables = {}, {}
        self.call = plan["configuration"]["root_module"]["module_calls"][module]
        self._collect_config(self.call["module"], self.call)
        self.symbols = {}
        self.address_roles = {"aws_iam_role.member": "member_role", "aws_iam_role.forward": "forward_role"}

    def model(self) -> dict:
        roles = {}
        for r in self.of_type("aws_iam_role"):
            kind = self.address_roles[f"aws_iam_role.{r['name']}"]
            policies = [p for p in self.of_type("aws_iam_role_policy") if p["name"] == r["name"]]
            roles[kind] = {
                "name": r["values"]["name"] if kind == "member_role" else None,
                "trust": statements(self.sym(json.loads(r["values"]["assume_role_policy"]))),
                "policy": sorted((s for p in policies for s in statements(self.sym(json.loads(p["values"]["policy"])))),
                                 key=lambda s: json.dumps(s, sort_keys=True)),
                "managed": sorted(r["values"].get("managed_policy_arns") or []),
            }
        targets = self.of_type("aws_cloudwatch_event_target")
        rules = []
        for rule in self.of_type("aws_cloudwatch_event_rule"):
            v = rule["values"]
            mine = [t for t in targets if t["values"]["rule"] == v["name"]]
            rules.append({
                "pattern": canonical(json.loads(v["event_pattern"])) if v.get("event_pattern") else None,
                "schedule": v.get("schedule_expression") or None,
                "enabled": v.get("state") == "ENABLED",
                "bus": v.get("event_bus_name") or "default",
                "targets": canonical([{
                    "arn": self.sym(t["values"]["arn"]),
                    "role": symbol_role(self.reference(f"aws_cloudwatch_event_target.{t['name']}", "Arn", ["role_arn"])),
                    "dead_letter": None if not t["values"].get("dead_letter_config") else "unreadable",
                    "retry": {"attempts": t["values"]["retry_policy"][0]["maximum_retry_attempts"],
                              "max_age": t["values"]["retry_policy"][0]["maximum_event_age_in_seconds"]}
                    if t["values"].get("retry_policy") else {"attempts": None, "max_age": None},
                    "input": t["values"].get("input") or t["values"].get("input_path")
                    or (t["values"].get("input_transformer") or None),
                } for t in mine]),
            })
        outputs = list(self.call["module"].get("outputs", {}))
        kinds = [k for r in self.resources for k in [TF_MEMBER_KINDS.get(r["type"], r["type"])] if k]
        return member_sections(roles, rules, outputs, kinds)


# What main() learns from its arguments: where the central and the member examples are.
ORG_CONTEXT: dict = {"member": False, "central": ("", ""), "where": ("", ""), "reconciler_arn": None, "operators": []}


def operators_trust(operators: list[str]) -> list:
    """The member role's trust statement for operators (none without operators): their accounts
    as principal, exactly their ARNs by aws:PrincipalArn."""
    if not operators:
        return []
    arns = sorted(set(literal_partition(operators)))
    roots = sorted({f"arn:{PARTITION}:iam::{a.split(':')[4]}:root" for a in arns})
    return [statement({"Sid": "Operators", "Effect": "Allow", "Principal": {"AWS": roots}, "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:PrincipalArn": arns}}})]


def organization_requirements(m: dict, member: bool, central: tuple[str, str], where: tuple[str, str],
                              reconciler_arn: str | None, operators: list[str] | None = None) -> list:
    """The central side for several accounts and regions, and with `member` the member side.
    `central` is the (account, region) of the central example, `where` the member's,
    `reconciler_arn` the role ARN the member example trusts, and `operators` the operators'
    ARNs it trusts besides."""
    out = []
    env = (m.get("function") or {}).get("environment", {})
    accounts = [a for a in env.get("ACCOUNTS", "").split(",") if a]
    regions = [r for r in env.get("REGIONS", "").split(",") if r]
    role_name = env.get("MEMBER_ROLE", MEMBER_ROLE_DEFAULT)
    out.append(("organisation: the compared example manages other accounts and regions (ACCOUNTS, REGIONS)",
                bool(accounts) and bool(regions), f"ACCOUNTS {accounts}, REGIONS {regions}"))

    stmts = m["iam.function"]
    member_arns = sorted(f"arn:{PARTITION}:iam::{a}:role/{role_name}" for a in accounts)
    assume = [s for s in stmts if allows(s, "sts:AssumeRole")]
    problems = [f"{s['Sid']}: {s['Action']}" for s in stmts if allows(s, "sts:GetCallerIdentity")]
    if accounts and [s["Resource"] for s in assume] != [member_arns]:
        problems.append(f"sts:AssumeRole on {[s['Resource'] for s in assume]}, expected exactly {member_arns}")
    if not accounts and assume:
        problems.append(f"sts:AssumeRole without ACCOUNTS: {[s['Resource'] for s in assume]}")
    problems += [f"{s['Sid']}: condition {s['Condition']}" for s in assume if s.get("Condition")]
    out.append(("sts: AssumeRole on exactly the member role of each account of ACCOUNTS, nothing for GetCallerIdentity",
                not problems, "; ".join(problems)))

    own_bus = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/default"
    problems = []
    org = [s for s in m["bus_policy"] if s.get("Principal") == "*"]
    for s in m["bus_policy"]:
        if s["Action"] != ["events:PutEvents"] or s["Resource"] != [own_bus] or s["Effect"] != "Allow" or s["bus"] != "default":
            problems.append(f"{s['Sid']}: {s['Effect']} {s['Action']} on {s['Resource']} (bus {s['bus']})")
        if s.get("Principal") == "*" and (set(s.get("Condition", {})) != {"StringEquals"}
                                           or set(s["Condition"]["StringEquals"]) != {"aws:PrincipalOrgID"}):
            problems.append(f"{s['Sid']}: anyone, without the organisation condition")
    if not org:
        principals = sorted(str(as_list((s.get("Principal") or {}).get("AWS"))) for s in m["bus_policy"])
        expected = sorted(str([f"arn:{PARTITION}:iam::{a}:root"]) for a in accounts)
        if principals != expected:
            problems.append(f"bus admits {principals}, expected exactly {expected}")
    out.append(("organisation: the default bus admits exactly ACCOUNTS (or the organisation), PutEvents only",
                not problems, "; ".join(problems)))

    restricted = [k for k in EVENT_RULES if {"account", "region"} & set(m["triggers"].get(k, {}).get("pattern") or {})]
    out.append(("organisation: the central rules restrict no account or region (forwarded events keep theirs)",
                not restricted, f"{restricted} restrict account or region"))
    if not member:
        return out

    roles = m.get("member.roles", {})
    mrole, frole = roles.get("member_role") or {}, roles.get("forward_role") or {}
    central_account, central_region = central
    reconciler = f"arn:{PARTITION}:iam::{central_account}:role/"
    expected_reconciler = literal_partition(reconciler_arn) if reconciler_arn else None
    problems = []
    everything = mrole.get("trust", [])
    trust = [s for s in everything if s.get("Sid") != "Operators"]
    principal = trust[0].get("Principal") if len(trust) == 1 else None
    trusted = as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    if len(trust) != 1 or trust[0]["Action"] != ["sts:AssumeRole"] or trust[0]["Effect"] != "Allow" \
            or trust[0].get("Condition") or set(principal or {}) != {"AWS"} or len(trusted) != 1 \
            or not (str(trusted[0]).startswith(reconciler) and str(trusted[0]) != reconciler) or trusted[0] != expected_reconciler:
        problems.append(f"trust {json.dumps(trust, sort_keys=True)}: expected exactly one role of the central account")
    ops = [s for s in everything if s.get("Sid") == "Operators"]
    if ops != operators_trust(operators or []):
        problems.append(f"operators' trust {json.dumps(ops, sort_keys=True)}, expected {json.dumps(operators_trust(operators or []), sort_keys=True)}")
    wild = [s for s in everything if re.search(r"[*?]", json.dumps([s.get("Principal"), s.get("Condition")]))]
    if wild:
        problems.append(f"trust with a wildcard: {json.dumps(wild, sort_keys=True)}")
    own_ec2 = sorted((s for s in stmts if s["Sid"] in ("DescribeInstances", "WriteStatusTag")), key=lambda s: json.dumps(s, sort_keys=True))
    member_asg = autoscaling_statements(mrole.get("policy", []))
    if [s for s in mrole.get("policy", []) if s not in member_asg] != own_ec2 or mrole.get("managed"):
        problems.append(f"policy {json.dumps(mrole.get('policy'), sort_keys=True)}, expected the reconciler's own-account EC2 statements")
    # Where the member forwards lifecycle actions, its role completes them (through which the
    # reconciler and the CLI read the groups there); elsewhere it has no Auto Scaling right.
    forwards_lifecycle = any((r.get("pattern") or {}).get("source") == ["aws.autoscaling"] for r in m.get("member.rules", []))
    if forwards_lifecycle:
        problems += [f"lifecycle: {p}" for p in lifecycle_rights_problems(mrole.get("policy", []))]
        if [s for s in member_asg if s["Sid"] == "ReadGroupLifecycle"] != [s for s in stmts if s["Sid"] == "ReadGroupLifecycle"]:
            problems.append("lifecycle: ReadGroupLifecycle differs from the reconciler's")
    elif member_asg:
        problems.append(f"Auto Scaling rights without a lifecycle rule: {json.dumps(member_asg, sort_keys=True)}")
    if mrole.get("name") != role_name:
        problems.append(f"named {mrole.get('name')}, the reconciler assumes {role_name}")
    member_account, member_region = where
    if member_account not in accounts or member_region not in regions:
        problems.append(f"the member ({member_account}, {member_region}) is not in ACCOUNTS {accounts} / REGIONS {regions}")
    out.append(("member: role trusted by exactly the reconciler (and the listed operators, by aws:PrincipalArn), the reconciler's EC2 rights "
                "(and with lifecycle hooks its Auto Scaling rights for the account's groups), named MEMBER_ROLE",
                not problems, "; ".join(problems)))

    central_bus = f"arn:{PARTITION}:events:{central_region}:{central_account}:event-bus/default"
    problems = []
    central_patterns = canonical([m["triggers"][k]["pattern"] for k in EVENT_RULES if k in m["triggers"]])
    if canonical([r["pattern"] for r in m.get("member.rules", [])]) != central_patterns:
        problems.append("the forwarding rules' patterns are not the central rules'")
    for r in m.get("member.rules", []):
        if [t["arn"] for t in r["targets"]] != [central_bus] or [t["role"] for t in r["targets"]] != ["forward_role"] \
                or not r["enabled"] or r["bus"] != "default" or r["schedule"]:
            problems.append(f"rule {json.dumps(r, sort_keys=True)}: expected one target, the central bus with the forwarding role")
    expected_trust = [statement({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole",
                                 "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})]
    if frole.get("trust") != expected_trust:
        problems.append(f"forwarding role trust {json.dumps(frole.get('trust'), sort_keys=True)}")
    if [(s["Effect"], s["Action"], s["Resource"], s.get("Condition")) for s in frole.get("policy", [])] != [
            ("Allow", ["events:PutEvents"], [central_bus], None)] or frole.get("managed"):
        problems.append(f"forwarding role policy {json.dumps(frole.get('policy'), sort_keys=True)}: expected PutEvents on {central_bus} only")
    out.append(("member: forwards exactly the central rules' patterns to the central bus, PutEvents there only",
                not problems, "; ".join(problems)))
    return out


# ---- requirements of the code, per flavour ---------------------------------------------------

# What the function's code (protocol v2) needs; equal in both flavours is not enough.
RECORD_TYPES = ["A", "AAAA", "TXT"]  # A/AAAA records and the TXT ownership marker
# With REVERSE_RECORDS=true the reconciler also writes PTR sets at reverse names (below an
# allowed reverse domain such as 10.in-addr.arpa); both functions share the statement.
REVERSE_RECORD_TYPES = sorted(RECORD_TYPES + ["PTR"])
RECORD_ACTIONS = ["CREATE", "DELETE"]
OWNERSHIP_MARKER = "_ec2-dns."  # the marker of <name> is _ec2-dns.<name>, same zone, same batch
# The function delays a failed message by 30 s doubled per receive, at most 900 s: 8 receives
# are 7 retries over 30+60+120+240+480+900+900 = 2730 s. The default of both flavours, which
# the example deploys.
MAX_RECEIVE_COUNT = 8
# The lock table's TTL attribute (lambda/src/aws/dynamodb.rs: `source#<prefix>` items only).
TTL_ATTRIBUTE = "expires"
# DEPLOYMENT_ID when set (docs/configuration.md).
DEPLOYMENT_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")
# Settings both functions get alike, each only when set, and what the function accepts
# (docs/configuration.md, lambda/src/config.rs): a whole number is written without sign,
# leading zero or blank here, although the function would trim blanks.
WHOLE_RE = re.compile(r"[1-9][0-9]*")
SHARED_SETTINGS = {
    "MARKER_STYLE": lambda v: v in ("plain", "opaque"),
    "ROUTE53_REQUESTS_PER_SECOND": lambda v: WHOLE_RE.fullmatch(v) is not None and 1 <= int(v) <= 100,
    "ROUTE53_CHANGES_PER_SECOND": lambda v: WHOLE_RE.fullmatch(v) is not None and 1 <= int(v) <= 10000,
}


# Sharded reconciles of everything (docs/configuration.md): the function sends its shards to
# its own queue (QUEUE_URL) and sizes lock-table segments by the table's ItemCount. The
# settings as the function accepts them; the compared example sets both.
SHARD_SETTINGS = {
    "SHARDED_RECONCILE": lambda v: v in ("true", "false"),
    "SHARD_SIZE": lambda v: WHOLE_RE.fullmatch(v) is not None and 100 <= int(v) <= 20000,
}


def string_like(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM StringLike: `*` matches any characters (dots and underscores included), `?` one."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def allows(s: dict, action: str) -> bool:
    """Whether an Allow statement grants the action (action names are case-insensitive)."""
    return s["Effect"] == "Allow" and any(string_like(a, action, case_sensitive=False) for a in s["Action"])


def requirements(m: dict) -> list[tuple[str, bool, str]]:
    """Each requirement of the code: (name, met, why not)."""
    stmts = m["iam.function"]
    out = []

    problems = []
    change = [s for s in stmts if allows(s, "route53:ChangeResourceRecordSets")]
    if len(change) != 1:
        problems.append(f"{len(change)} statements allow route53:ChangeResourceRecordSets, expected 1")
    reverse = m["function"]["environment"].get("REVERSE_RECORDS") == "true"
    want_types = REVERSE_RECORD_TYPES if reverse else sorted(RECORD_TYPES)
    for s in change:
        cond = s.get("Condition", {})
        equals = cond.get("ForAllValues:StringEquals", {})
        types = equals.get("route53:ChangeResourceRecordSetsRecordTypes")
        actions = equals.get("route53:ChangeResourceRecordSetsActions")
        if types != want_types:
            problems.append(f"{s['Sid']}: record types {types}, expected exactly {want_types}")
        if actions != sorted(RECORD_ACTIONS):
            problems.append(f"{s['Sid']}: actions {actions}, expected exactly {RECORD_ACTIONS}")
        names = cond.get("ForAllValues:StringLike", {}).get("route53:ChangeResourceRecordSetsNormalizedRecordNames")
        domains = m["function"]["environment"].get("ALLOWED_DOMAINS", "").split(",")
        if names != sorted(f"*.{d}" for d in domains):
            problems.append(f"{s['Sid']}: names {names}, expected *.<domain> for {domains}")
        for d in domains:
            # ForAllValues: every name of the batch (a name and its marker) must match a pattern.
            if not all(any(string_like(p, n) for p in names or []) for n in (f"web.{d}", f"{OWNERSHIP_MARKER}web.{d}")):
                problems.append(f"{s['Sid']}: names do not admit web.{d} and {OWNERSHIP_MARKER}web.{d}")
            for outside in (d, f"{OWNERSHIP_MARKER}web.{d}.example.invalid"):
                if any(string_like(p, outside) for p in names or []):
                    problems.append(f"{s['Sid']}: names admit {outside}")
        if set(cond) != {"ForAllValues:StringLike", "ForAllValues:StringEquals"} or set(equals) != {
                "route53:ChangeResourceRecordSetsRecordTypes", "route53:ChangeResourceRecordSetsActions"}:
            problems.append(f"{s['Sid']}: unexpected conditions {json.dumps(cond, sort_keys=True)}")
    allowed = m["function"]["environment"].get("ALLOWED_DOMAINS", "").split(",")
    if reverse and not any(d == r or d.endswith("." + r) for d in allowed for r in ("in-addr.arpa", "ip6.arpa")):
        problems.append("REVERSE_RECORDS=true but no ALLOWED_DOMAINS entry is a reverse domain")
    out.append(("ChangeRecords: A, AAAA and TXT markers (and PTR with REVERSE_RECORDS), CREATE/DELETE, *.<domain>",
                not problems, "; ".join(problems)))

    visibility = [s for s in stmts if allows(s, "sqs:ChangeMessageVisibility")]
    problems = [f"{s['Sid']}: on {s['Resource']}" for s in visibility if s["Resource"] != ["${Arn:queue}"]]
    if not visibility:
        problems.append("no statement allows sqs:ChangeMessageVisibility")
    out.append(("sqs:ChangeMessageVisibility on the event queue only", not problems, "; ".join(problems)))

    # sts:AssumeRole of the member roles is the only sts right (organization_requirements).
    sts = [f"{s['Sid']}: {s['Action']}" for s in stmts
           if any((a.lower().startswith("sts:") and a != "sts:AssumeRole") or a == "*" for a in s["Action"])]
    out.append(("no statement for sts:GetCallerIdentity (it needs no permission)", not sts, "; ".join(sts)))

    # The DDNS endpoint's failed-login counters (`source#<prefix>` items) carry `expires`,
    # the end of their window; nothing else does (docs/contract.md).
    ttl = m["table"].get("ttl")
    out.append((f"lock table: TTL on `{TTL_ATTRIBUTE}`", ttl == TTL_ATTRIBUTE, f"TTL attribute {ttl!r}"))

    # DEPLOYMENT_ID: the compared example sets one (else this would hold vacuously), valid, and
    # the same for both functions: the markers the DDNS endpoint writes are the deployment's.
    ids = [(f, (m.get(f) or {}).get("environment", {}).get("DEPLOYMENT_ID")) for f in ("function", "ddns.function")]
    problems = [f"{f}: DEPLOYMENT_ID {v!r}" for f, v in ids if v is None or not DEPLOYMENT_ID_RE.fullmatch(str(v))]
    if len({v for _, v in ids}) != 1:
        problems.append(f"the functions get different ids: {ids}")
    out.append(("deployment id: both functions get the same valid DEPLOYMENT_ID", not problems, "; ".join(problems)))

    # The marker style and the Route53 budget: the compared example sets each (else this would
    # hold vacuously), valid, and the same for both functions: the endpoint's markers look like
    # the reconciler's, and both pace their Route53 calls alike.
    problems = []
    for key, valid in SHARED_SETTINGS.items():
        values = [(f, (m.get(f) or {}).get("environment", {}).get(key)) for f in ("function", "ddns.function")]
        problems += [f"{f}: {key} {v!r}" for f, v in values if v is None or not valid(str(v))]
        if len({v for _, v in values}) != 1:
            problems.append(f"the functions get different {key}: {values}")
    out.append(("marker style and Route53 budget: both functions get the same valid " + ", ".join(SHARED_SETTINGS),
                not problems, "; ".join(problems)))

    receives = (m["queues"].get("queue") or {}).get("max_receive")
    out.append((f"queue: maxReceiveCount {MAX_RECEIVE_COUNT}", receives == MAX_RECEIVE_COUNT,
                f"maxReceiveCount is {receives}"))

    # Nobody may invoke the reconciler: no resource policy statement, no function URL.
    foreign = [g for g in m["invoke"]["grants"] if g["function"] not in ("ddns_function", "ddns_alias")]
    foreign += [u for u in m["invoke"]["urls"] if u["function"] != "ddns_function"]
    out.append(("nobody may invoke the reconciler (no grant, no function URL)", not foreign,
                "; ".join(json.dumps(x, sort_keys=True) for x in foreign)))
    return (out + shard_requirements(m) + trigger_requirements(m) + lifecycle_requirements(m) + rollback_requirements(m)
            + first_check_requirements(m)
            + dashboard_requirements(m) + ddns_requirements(m) + organization_requirements(m, **ORG_CONTEXT))


def shard_requirements(m: dict) -> list[tuple[str, bool, str]]:
    """A sharded reconcile (issue 21): the reconciler knows its own queue, may send to it and to
    nothing else, may describe its lock table and nothing else, and gets valid settings."""
    out = []
    stmts = m["iam.function"]
    env = m["function"]["environment"]
    problems = []
    if env.get("QUEUE_URL") != "${ref:queue}":
        problems.append(f"QUEUE_URL {env.get('QUEUE_URL')!r}, expected the event queue's URL (${{ref:queue}})")
    for action, resource in (("sqs:SendMessage", "${Arn:queue}"), ("dynamodb:DescribeTable", "${Arn:lock_table}")):
        granting = [s for s in stmts if allows(s, action)]
        if not granting:
            problems.append(f"no statement allows {action}")
        problems += [f"{s['Sid']}: {action} on {s['Resource']}, expected only {resource}"
                     for s in granting if s["Resource"] != [resource]]
    out.append(("sharded reconciles: QUEUE_URL is the event queue, sqs:SendMessage on it only, "
                "dynamodb:DescribeTable on the lock table only", not problems, "; ".join(problems)))
    problems = [f"{k} {env.get(k)!r}" for k, valid in SHARD_SETTINGS.items()
                if env.get(k) is None or not valid(str(env[k]))]
    out.append(("sharded reconciles: valid " + " and ".join(SHARD_SETTINGS) + " (the compared example sets each)",
                not problems, "; ".join(problems)))
    return out


def first_check_requirements(m: dict) -> list[tuple[str, bool, str]]:
    """`ec2-dns-ctl plan` works right after a deploy: the deploy has the reconciler record its
    configuration (issue 19), and the outputs say what to run, for the reconciler."""
    out = []
    requests = m.get("record_configuration") or []
    problems = [] if len(requests) == 1 else [f"{len(requests)} requests, expected 1"]
    for r in requests:
        if r["function"] != "function":
            problems.append(f"invokes {r['function']}, expected the reconciler's $LATEST (the code just deployed)")
        if r["asks"] != "record_configuration":
            problems.append(f"asks {r['asks']}, expected the function's request to record its configuration")
        if r["on_change_of"] != RECORDED_ON_CHANGE_OF:
            problems.append(f"runs again on a change of {r['on_change_of']}, expected {RECORDED_ON_CHANGE_OF}")
        if "policy:role" not in r["after"]:
            problems.append(f"waits for {r['after']}, expected the reconciler role's policy (the lock table's rights)")
    out.append(("first check: the deploy has the reconciler record its configuration, again on each change of "
                "environment or code, after its policy", not problems, "; ".join(problems)))
    check = m.get("first_check") or {}
    expected = {"function_name": "${ref:function}", "lock_table_name": "${ref:lock_table}", "region": REGION,
                "next_steps": "\n".join(NEXT_STEPS)}
    problems = [f"{k}: {check.get(k)!r}, expected {v!r}" for k, v in expected.items() if check.get(k) != v]
    out.append(("first check: outputs give the reconciler, its lock table, the region and the commands to run next",
                not problems, "; ".join(problems)))
    return out


def lifecycle_requirements(m: dict) -> list[tuple[str, bool, str]]:
    """Auto Scaling lifecycle hooks (docs/fleets.md): the compared example lists hooks (else
    the checks below would hold vacuously); one rule for exactly their launch and terminate
    actions, into the queue; the rights to read the groups, complete their actions on the
    listed groups only and wait for INSYNC. (Without LIFECYCLE_HOOKS: none of these.)"""
    out = []
    hooks = [h for h in m["function"]["environment"].get("LIFECYCLE_HOOKS", "").split(",") if h]
    out.append(("lifecycle: the compared example lists hooks (LIFECYCLE_HOOKS)", bool(hooks), "no LIFECYCLE_HOOKS"))

    rule = m["triggers"].get("rule:lifecycle")
    problems = [f"another rule of Auto Scaling: {k}" for k, t in m["triggers"].items()
                if k != "rule:lifecycle" and "aws.autoscaling" in json.dumps(t.get("pattern"))]
    if hooks and rule is None:
        problems.append("no lifecycle rule")
    if not hooks and rule is not None:
        problems.append("a lifecycle rule without LIFECYCLE_HOOKS")
    if hooks and rule is not None:
        if rule["pattern"] != canonical(lifecycle_pattern(hooks)):
            problems.append(f"pattern {json.dumps(rule['pattern'], sort_keys=True)}, expected "
                            f"{json.dumps(canonical(lifecycle_pattern(hooks)), sort_keys=True)}")
        if [{"arn": t["arn"], "dead_letter": t["dead_letter"]} for t in rule["targets"]] != [
                {"arn": "${Arn:queue}", "dead_letter": "${Arn:event_dlq}"}] or not rule["enabled"]:
            problems.append(f"targets {json.dumps(rule['targets'], sort_keys=True)}, expected the queue with the event dead-letter queue")
    out.append(("lifecycle: one rule for the launch and terminate actions of exactly LIFECYCLE_HOOKS, to the queue",
                not problems, "; ".join(problems)))

    stmts = m["iam.function"]
    wait = [s for s in stmts if allows(s, "route53:GetChange")]
    if hooks:
        problems = lifecycle_rights_problems(stmts)
        if [(s["Sid"], s["Action"], s["Resource"], s.get("Condition")) for s in wait] != [
                ("WaitForChanges", ["route53:GetChange"], [CHANGE_ARN], None)]:
            problems.append(f"route53:GetChange: {json.dumps(wait, sort_keys=True)}, expected WaitForChanges on {CHANGE_ARN} only")
    else:
        problems = [f"{s['Sid']}: {s['Action']} without LIFECYCLE_HOOKS" for s in autoscaling_statements(stmts) + wait]
    out.append(("lifecycle: Describe* on *, complete and heartbeat on named groups of the account only, GetChange on changes",
                not problems, "; ".join(problems)))
    return out


def trigger_requirements(m: dict) -> list[tuple[str, bool, str]]:
    """The events the code handles reach the queue: a rule per kind with exactly its pattern,
    and the queues admit exactly the rules that send to them (EventBridge's delivery fails for
    a rule the queue policy does not name, and the event ends in the event dead-letter queue)."""
    out = []
    name_tag = m["function"]["environment"].get("NAME_TAG", "")
    to_queue = [{"arn": "${Arn:queue}", "dead_letter": "${Arn:event_dlq}"}]
    problems = []
    for kind, pattern in event_patterns(name_tag).items():
        rule = m["triggers"].get(kind)
        if rule is None:
            problems.append(f"no {kind} rule")
            continue
        if rule["pattern"] != canonical(pattern):
            problems.append(f"{kind}: pattern {json.dumps(rule['pattern'], sort_keys=True)}, expected {json.dumps(canonical(pattern), sort_keys=True)}")
        if [{"arn": t["arn"], "dead_letter": t["dead_letter"]} for t in rule["targets"]] != to_queue or not rule["enabled"]:
            problems.append(f"{kind}: targets {json.dumps(rule['targets'], sort_keys=True)}, expected the queue with the event dead-letter queue")
    out.append(("triggers: EC2 state changes, NAME_TAG changes, Elastic IP (dis)associations (CloudTrail), each to the queue",
                not problems, "; ".join(problems)))

    senders = sorted(f"${{Arn:{k}}}" for k, t in m["triggers"].items() if any(x["arn"] == "${Arn:queue}" for x in t["targets"]))
    problems = []
    for q in ("queue", "event_dlq"):
        allow = [st for st in m["queue_policies"].get(q, []) if st["Effect"] == "Allow"]
        admitted = [sorted(st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])) for st in allow]
        if admitted != [senders] or any(st["Action"] != ["sqs:SendMessage"] for st in allow):
            problems.append(f"{q}: admits {admitted}, expected exactly the rules that send to the queue {senders}")
    out.append(("queue policies: aws:SourceArn admits exactly the rules that send to the queue", not problems,
                "; ".join(problems)))
    return out


def rollback_requirements(m: dict) -> list[tuple[str, bool, str]]:
    """Rollback is one command: each function publishes versions that outlive a deploy, its
    alias `live` points at the last published one, and every invoker targets the alias."""
    out = []
    ddns = m.get("ddns.function") is not None
    kinds = ["function"] + (["ddns_function"] if ddns else [])
    problems = [f"{k}: versions not published or not kept" for k in kinds
                if not (m.get("function" if k == "function" else "ddns.function") or {}).get("publishes_versions")]
    expected = canonical([{"alias": ALIAS_OF[k], "name": LIVE_ALIAS, "function": k, "version": "published",
                           "routing": False, "provisioned": False} for k in kinds])
    if m["aliases"] != expected:
        problems.append(f"aliases {json.dumps(m['aliases'], sort_keys=True)}")
    out.append((f"rollback: versions kept, alias {LIVE_ALIAS} on the published version of each function",
                not problems, "; ".join(problems)))
    target = m["event_source"].get("function")
    out.append((f"rollback: the queue invokes the alias {LIVE_ALIAS}", target == "${Arn:alias}",
                f"the event source mapping invokes {target}"))
    return out


# What the dashboard must show: the EMF metrics of lambda/src/metrics.rs (namespace ec2-dns,
# dimension Function) that count changes, conflicts and errors, the API calls, Lambda's
# duration, and the Logs Insights widgets (API calls by service; with DDNS its answers).
DASHBOARD_METRICS = {"ec2-dns/Creates", "ec2-dns/Updates", "ec2-dns/Deletes", "ec2-dns/Conflicts",
                     "ec2-dns/Errors", "ec2-dns/Failed", "ec2-dns/AwsApiCalls", "AWS/Lambda/Duration"}
DASHBOARD_LOGS = {"AWS API calls by service"}
DASHBOARD_DDNS_LOGS = {"DDNS answers"}


def dashboard_requirements(m: dict) -> list[tuple[str, bool, str]]:
    problems = []
    if len(m["dashboard"]) != 1:
        problems.append(f"{len(m['dashboard'])} dashboards, expected 1 (the example deploys one)")
    ddns = m.get("ddns.function") is not None
    for d in m["dashboard"]:
        lines = {(f"{x[0]}/{x[1]}", x[3]) for w in d["widgets"] for x in w["properties"].get("metrics", [])}
        for metric in sorted(DASHBOARD_METRICS):
            if (metric, "${ref:function}") not in lines:
                problems.append(f"no {metric} of the reconciler")
        if ddns and ("ec2-dns/Errors", "${ref:ddns_function}") not in lines:
            problems.append("no failed answers (ec2-dns/Errors) of the DDNS function")
        logs = {w["properties"].get("title"): w["properties"] for w in d["widgets"] if w["type"] == "log"}
        for title in sorted(DASHBOARD_LOGS | (DASHBOARD_DDNS_LOGS if ddns else set())):
            if title not in logs:
                problems.append(f"no widget {title!r}")
        calls = logs.get("AWS API calls by service", {})
        wanted = ["${ref:log_group}"] + (["${ref:ddns_log_group}"] if ddns else [])
        if calls and sorted(calls.get("sources", [])) != sorted(wanted):
            problems.append(f"API calls by service read {calls.get('sources')}, expected {wanted}")
        places = [tuple(w["place"]) for w in d["widgets"]]
        if len(set(places)) != len(places):
            problems.append("widgets overlap")
    out = [("dashboard: changes, conflicts, errors, API calls by service, duration; DDNS answers",
            not problems, "; ".join(problems))]
    return out


def ddns_requirements(m: dict) -> list[tuple[str, bool, str]]:
    """What the DDNS endpoint needs, and no more; the example must deploy it, else the DDNS
    checks below would hold vacuously."""
    out = []
    fn = m.get("ddns.function")
    out.append(("ddns: deployed in the compared example", fn is not None, "no DDNS function"))
    fn = fn or {"environment": {}, "reserved_concurrency": None}
    env = fn["environment"]
    stmts = m["iam.ddns"]

    problems = [f"{s['Sid']}: {a}" for s in stmts for a in s["Action"]
                if a.lower().startswith("ec2:") or "*" in a]
    out.append(("ddns: no EC2 right, no wildcard action", not problems, "; ".join(problems)))

    problems = [f"{s['Sid']}: {a}" for s in stmts for a in s["Action"] if a not in DDNS_ACTIONS]
    problems += [f"{s['Sid']}: {s['Effect']}" for s in stmts if s["Effect"] != "Allow"]
    out.append(("ddns: only the calls its code makes", not problems, "; ".join(problems)))

    # The same fenced write path as the reconciler: the same Route53 and lock-table grants.
    mine = {s["Sid"]: s for s in stmts if any(a.split(":")[0] in ("route53", "dynamodb") for a in s["Action"])}
    theirs = {s["Sid"]: s for s in m["iam.function"] if s["Sid"] in SHARED_SIDS}
    problems = [] if mine == theirs else [f"DDNS {sorted(mine)} vs reconciler {sorted(theirs)}"] + [
        f"{sid} differs" for sid in SHARED_SIDS if sid in mine and sid in theirs and mine[sid] != theirs[sid]]
    if fn.get("runtime") and sorted(mine) != sorted(SHARED_SIDS):
        problems.append(f"statements {sorted(mine)}, expected {sorted(SHARED_SIDS)}")
    out.append(("ddns: Route53 and lock-table statements equal to the reconciler's", not problems,
                "; ".join(problems)))

    prefix = env.get("HOST_SECRETS_PREFIX")
    ssm = [s for s in stmts if any(a.startswith("ssm:") for a in s["Action"])]
    expected = [f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter{prefix}*"]
    problems = [] if not fn.get("runtime") else (
        [f"{len(ssm)} statements on ssm, expected 1"] if len(ssm) != 1 else
        [f"{s['Sid']}: {s['Action']} on {s['Resource']}, expected ssm:GetParameter on {expected}"
         for s in ssm if s["Action"] != ["ssm:GetParameter"] or s["Resource"] != expected or s.get("Condition")])
    out.append(("ddns: ssm:GetParameter below HOST_SECRETS_PREFIX only", not problems, "; ".join(problems)))

    topic = env.get("ALERT_TOPIC_ARN")
    sns = [s for s in stmts if any(a.startswith("sns:") for a in s["Action"])]
    problems = [] if not fn.get("runtime") else (
        [f"{len(sns)} statements on sns, expected 1"] if len(sns) != 1 else
        [f"{s['Sid']}: {s['Action']} on {s['Resource']}, expected sns:Publish on {topic}"
         for s in sns if s["Action"] != ["sns:Publish"] or s["Resource"] != [topic]])
    out.append(("ddns: sns:Publish on ALERT_TOPIC_ARN only", not problems, "; ".join(problems)))

    # A public URL needs exactly these grants since October 2025; the sweep rule may invoke.
    expected_grants = canonical([
        grant("ddns_alias", "lambda:InvokeFunctionUrl", "*", url_auth_type="NONE"),
        grant("ddns_alias", "lambda:InvokeFunction", "*", via_url=True),
        grant("ddns_alias", "lambda:InvokeFunction", "events.amazonaws.com", source_arn="${Arn:rule:ddns_sweep}"),
    ]) if fn.get("runtime") else []
    grants = [g for g in m["invoke"]["grants"] if g["function"] in ("ddns_function", "ddns_alias")]
    urls = [u for u in m["invoke"]["urls"] if u["function"] == "ddns_function"]
    expected_urls = [{"auth_type": "NONE", "cors": False, "function": "ddns_function", "invoke_mode": "BUFFERED",
                      "qualifier": LIVE_ALIAS}] if fn.get("runtime") else []
    problems = [] if grants == expected_grants else [f"grants {json.dumps(grants, sort_keys=True)}"]
    problems += [] if urls == expected_urls else [f"urls {json.dumps(urls, sort_keys=True)}"]
    out.append(("ddns: public function URL on the alias with exactly its two grants, and the sweep rule's", not problems,
                "; ".join(problems)))

    conc = fn.get("reserved_concurrency")
    ok = not fn.get("runtime") or (isinstance(conc, int) and conc >= 1)
    out.append(("ddns: reserved concurrency (the cost cap)", ok, f"reserved concurrency {conc}"))

    sweep = m["triggers"].get("rule:ddns_sweep")
    ok = not fn.get("runtime") or (sweep is not None and sweep["schedule"] == SWEEP_SCHEDULE and sweep["enabled"]
                                   and [t["arn"] for t in sweep["targets"]] == ["${Arn:ddns_alias}"])
    out.append((f"ddns: sweep {SWEEP_SCHEDULE} on the DDNS function's alias", ok, f"sweep rule {json.dumps(sweep)}"))

    mine = [a for a in m["alarms"] if role_of(next(iter(a["dimensions"].values()), None)) == "ddns_function"]
    metrics = sorted(a["metric"] for a in mine)
    problems = [] if not fn.get("runtime") or metrics == ["AWS/Lambda/Errors", "AWS/Lambda/Throttles", "ec2-dns/Errors"] \
        else [f"alarms on {metrics}"]
    problems += [f"{a['metric']}: actions {a['actions']}" for a in mine if a["actions"] != [topic]]
    out.append(("ddns: alarms on errors, throttles and failed answers, to the alert topic", not problems,
                "; ".join(problems)))

    problems = []
    for d in m["ddns.cloudfront"]:
        (origin,) = d["origins"] or [{}]
        if origin.get("headers", {}).get(ORIGIN_VERIFY_HEADER) != env.get("ORIGIN_SECRET") or not env.get("ORIGIN_SECRET"):
            problems.append(f"{ORIGIN_VERIFY_HEADER} is not ORIGIN_SECRET")
        if origin.get("domain") != "${Domain:ddns_url}" or origin.get("protocol") != "https-only":
            problems.append(f"origin {origin.get('domain')} over {origin.get('protocol')}")
        b = d["behavior"]
        if b["cache_policy"] != CACHING_DISABLED or b["origin_request_policy"] != ALL_VIEWER_EXCEPT_HOST:
            problems.append(f"cache policy {b['cache_policy']}, origin request policy {b['origin_request_policy']}")
        if b["viewer_protocol"] != "allow-all":
            problems.append(f"viewer protocol {b['viewer_protocol']}")
    if not m["ddns.cloudfront"] and "ORIGIN_SECRET" in env:
        problems.append("ORIGIN_SECRET without a distribution")
    out.append(("ddns: CloudFront proves the origin with ORIGIN_SECRET, forwards Authorization, never caches",
                not problems, "; ".join(problems)))
    return out


def check_requirements(cdk: dict, tf: dict) -> list[tuple[str, bool, str]]:
    """The requirements, met by both flavours."""
    results = []
    for (name, ok_a, why_a), (_, ok_b, why_b) in zip(requirements(cdk), requirements(tf)):
        detail = "".join(f"  {side}: {why}\n" for side, ok, why in (("CDK", ok_a, why_a), ("Terraform", ok_b, why_b))
                         if not ok)
        results.append((f"requirement: {name}", ok_a and ok_b, detail.rstrip("\n")))
    return results


# ---- comparison -----------------------------------------------------------------------------

def compare(cdk: dict, tf: dict) -> list[tuple[str, bool, str]]:
    results = []
    for section in sorted(set(cdk) | set(tf)):
        a, b = cdk.get(section), tf.get(section)
        if a == b:
            results.append((section, True, ""))
        else:
            results.append((section, False, explain(a, b, section)))
    return results


def explain(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        lines = []
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                lines.append(explain(a.get(k), b.get(k), f"{path}.{k}"))
        return "\n".join(lines)
    if isinstance(a, list) and isinstance(b, list):
        only_a = [x for x in a if x not in b]
        only_b = [x for x in b if x not in a]
        return (f"  {path or '.'}:\n"
                + "".join(f"    only in CDK:       {json.dumps(x, sort_keys=True)}\n" for x in only_a)
                + "".join(f"    only in Terraform: {json.dumps(x, sort_keys=True)}\n" for x in only_b)
                + ("    (same items, different order or count)\n" if not only_a and not only_b else ""))
    return f"  {path or '.'}:\n    CDK:       {json.dumps(a, sort_keys=True)}\n    Terraform: {json.dumps(b, sort_keys=True)}"


def self_test(cdk: dict, tf: dict) -> tuple[list[str], int]:
    """Changes made to one side only, each of which the comparison must report, and changes
    made to both sides, each of which the requirements must report. Returns the ones that
    were not, and how many were tried."""
    def sid(m, name):
        return next(s for s in m["iam.function"] if s["Sid"] == name)

    def add_action(m):
        s = next(s for s in m["iam.function"] if s["Sid"] == "LockTable")
        s["Action"] = sorted(s["Action"] + ["selftest:ExtraAction"])

    def add_statement(m):
        m["iam.function"].append(statement({"Sid": "SelfTestExtra", "Effect": "Allow",
                                            "Action": "route53:ChangeResourceRecordSets", "Resource": "*"}))

    def widen_condition(m):
        s = next(s for s in m["iam.function"] if s["Sid"] == "ChangeRecords")
        s["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsActions"].append("SELFTEST")

    def extra_role(m):
        m["iam.other"]["instance_profiles"] += 1

    def invoke_grant(m):
        m["invoke"]["grants"] = canonical(m["invoke"]["grants"] + [
            grant("function", "lambda:InvokeFunction", "*")])

    def ddns_ec2(m):
        m["iam.ddns"].append(statement({"Sid": "SelfTestEc2", "Effect": "Allow",
                                        "Action": "ec2:DescribeInstances", "Resource": "*"}))

    def ddns_record_type(m):
        cond = next(s for s in m["iam.ddns"] if s["Sid"] == "ChangeRecords")["Condition"]["ForAllValues:StringEquals"]
        cond["route53:ChangeResourceRecordSetsRecordTypes"] = sorted(
            cond["route53:ChangeResourceRecordSetsRecordTypes"] + ["CNAME"])

    def ddns_any_parameter(m):
        next(s for s in m["iam.ddns"] if s["Sid"] == "ReadHostSecrets")["Resource"] = ["*"]

    def ddns_any_topic(m):
        next(s for s in m["iam.ddns"] if s["Sid"] == "PublishAlerts")["Resource"] = ["*"]

    def ddns_public_invoke(m):
        for g in m["invoke"]["grants"]:
            if g["via_url"]:
                g["via_url"] = False  # anyone may call Invoke directly, with any event

    def ddns_no_cap(m):
        m["ddns.function"]["reserved_concurrency"] = None

    def ddns_concurrency(m):
        m["ddns.function"]["reserved_concurrency"] += 1

    def ddns_sweep(m):
        m["triggers"]["rule:ddns_sweep"]["schedule"] = "rate(1 day)"

    def ddns_origin_secret(m):
        m["ddns.cloudfront"][0]["origins"][0]["headers"][ORIGIN_VERIFY_HEADER] = "selftest"

    def ddns_caching(m):
        m["ddns.cloudfront"][0]["behavior"]["cache_policy"] = "658327ea-f89d-4fab-a63d-7e88639e58f6"

    def ddns_key_rotation(m):
        m["ddns.alerts"]["keys"][0]["rotation"] = False

    def ddns_alarm_action(m):
        for a in m["alarms"]:
            a["actions"] = []

    def ddns_output(m):
        m["outputs"] = [o for o in m["outputs"] if o != "ddns_function_url"]

    def configuration_on_alias(m):
        m["record_configuration"][0]["function"] = "alias"

    def configuration_on_ddns(m):
        m["record_configuration"][0]["function"] = "ddns_function"

    def configuration_not_on_code(m):
        m["record_configuration"][0]["on_change_of"] = ["environment"]

    def configuration_not_on_environment(m):
        m["record_configuration"][0]["on_change_of"] = ["code"]

    def configuration_before_policy(m):
        m["record_configuration"][0]["after"] = []

    def configuration_asks_else(m):
        m["record_configuration"][0]["asks"] = json.dumps({"input": {"reconcile": "all"}})

    def no_configuration(m):
        m["record_configuration"] = []

    def next_steps_ddns(m):
        m["first_check"]["next_steps"] = m["first_check"]["next_steps"].replace("${ref:function}", "${ref:ddns_function}")

    def next_steps_no_plan(m):
        m["first_check"]["next_steps"] = "\n".join(line for line in m["first_check"]["next_steps"].split("\n")
                                                   if not line.endswith(" plan"))

    def region_output_literal(m):
        m["first_check"]["region"] = "us-east-1"

    def esm_on_function(m):
        m["event_source"]["function"] = "${Arn:function}"

    def no_alias(m):
        m["aliases"] = [a for a in m["aliases"] if a["alias"] != "alias"]

    def latest_alias(m):
        for a in m["aliases"]:
            a["version"] = "$LATEST"

    def unpublished(m):
        m["function"]["publishes_versions"] = False

    def url_on_latest(m):
        for u in m["invoke"]["urls"]:
            u["qualifier"] = None

    def sweep_on_function(m):
        for t in m["triggers"]["rule:ddns_sweep"]["targets"]:
            t["arn"] = "${Arn:ddns_function}"

    def grant_on_function(m):
        for g in m["invoke"]["grants"]:
            if g["function"] == "ddns_alias":
                g["function"] = "ddns_function"

    def widget_gone(m):
        m["dashboard"][0]["widgets"].pop(0)

    def no_duration(m):
        for w in m["dashboard"][0]["widgets"]:
            w["properties"]["metrics"] = [x for x in w["properties"].get("metrics", []) if x[1] != "Duration"]

    def no_api_calls_by_service(m):
        m["dashboard"][0]["widgets"] = [w for w in m["dashboard"][0]["widgets"]
                                        if w["properties"].get("title") != "AWS API calls by service"]

    def no_ddns_answers(m):
        m["dashboard"][0]["widgets"] = [w for w in m["dashboard"][0]["widgets"]
                                        if w["properties"].get("title") != "DDNS answers"]

    def query_changed(m):
        for w in m["dashboard"][0]["widgets"]:
            if "query" in w["properties"]:
                w["properties"]["query"] += "\n| limit 1"

    def pattern(m):
        m["triggers"]["rule:tag"]["pattern"]["detail"]["changed-tag-keys"] = ["selftest"]

    def schedule(m):
        m["triggers"]["rule:schedule"]["schedule"] = "rate(99999 minutes)"

    def address_pattern(m):
        m["triggers"]["rule:address"]["pattern"]["detail"]["eventName"] = ["AssociateAddress"]

    def no_address_rule(m):
        m["triggers"].pop("rule:address")

    def address_off_queue(m):
        for t in m["triggers"]["rule:address"]["targets"]:
            t["arn"] = "${Arn:dlq}"

    def address_retry(m):
        for t in m["triggers"]["rule:address"]["targets"]:
            t["retry"] = {"attempts": 0, "max_age": 60}

    def address_not_admitted(m):
        for q in ("queue", "event_dlq"):
            for st in m["queue_policies"][q]:
                if st["Effect"] == "Allow":
                    st["Condition"]["ArnEquals"]["aws:SourceArn"].remove("${Arn:rule:address}")

    def table_key(m):
        m["table"]["key"].append(["selftest", "RANGE"])

    def ddns_deployment_id(m):
        m["ddns.function"]["environment"]["DEPLOYMENT_ID"] = "selftest"

    def ddns_no_deployment_id(m):
        m["ddns.function"]["environment"].pop("DEPLOYMENT_ID")

    def invalid_deployment_id(m):
        for f in ("function", "ddns.function"):
            m[f]["environment"]["DEPLOYMENT_ID"] = "Self_Test"

    def ddns_marker_style(m):
        env = m["ddns.function"]["environment"]
        env["MARKER_STYLE"] = "plain" if env["MARKER_STYLE"] == "opaque" else "opaque"

    def no_marker_style(m):
        m["function"]["environment"].pop("MARKER_STYLE")

    def invalid_marker_style(m):
        for f in ("function", "ddns.function"):
            m[f]["environment"]["MARKER_STYLE"] = "Opaque"

    def ddns_route53_requests(m):
        env = m["ddns.function"]["environment"]
        env["ROUTE53_REQUESTS_PER_SECOND"] = str(int(env["ROUTE53_REQUESTS_PER_SECOND"]) % 100 + 1)

    def no_route53_changes(m):
        m["function"]["environment"].pop("ROUTE53_CHANGES_PER_SECOND")

    def route53_requests_above_range(m):
        for f in ("function", "ddns.function"):
            m[f]["environment"]["ROUTE53_REQUESTS_PER_SECOND"] = "101"

    def fractional_route53_changes(m):
        for f in ("function", "ddns.function"):
            m[f]["environment"]["ROUTE53_CHANGES_PER_SECOND"] = "49.5"

    def table_ttl_attribute(m):
        m["table"]["ttl"] = "selftest"

    def table_no_ttl(m):
        m["table"]["ttl"] = None

    def queue_sender(m):
        allow = next(s for s in m["queue_policies"]["queue"] if s["Effect"] == "Allow")
        allow["Condition"]["ArnEquals"]["aws:SourceArn"].append("${Arn:rule:selftest}")

    def record_type(m, extra="CNAME"):
        cond = sid(m, "ChangeRecords")["Condition"]["ForAllValues:StringEquals"]
        cond["route53:ChangeResourceRecordSetsRecordTypes"] = sorted(
            cond["route53:ChangeResourceRecordSetsRecordTypes"] + [extra])

    def no_txt(m):
        cond = sid(m, "ChangeRecords")["Condition"]["ForAllValues:StringEquals"]
        cond["route53:ChangeResourceRecordSetsRecordTypes"] = [
            t for t in cond["route53:ChangeResourceRecordSetsRecordTypes"] if t != "TXT"]

    def upsert(m):
        cond = sid(m, "ChangeRecords")["Condition"]["ForAllValues:StringEquals"]
        cond["route53:ChangeResourceRecordSetsActions"] = sorted(
            cond["route53:ChangeResourceRecordSetsActions"] + ["UPSERT"])

    def any_name(m):
        sid(m, "ChangeRecords")["Condition"]["ForAllValues:StringLike"][
            "route53:ChangeResourceRecordSetsNormalizedRecordNames"] = ["*"]

    def visibility_on_dlq(m):
        for s in m["iam.function"]:
            if "sqs:ChangeMessageVisibility" in s["Action"]:
                s["Resource"] = ["${Arn:dlq}"]

    def visibility_anywhere(m):
        m["iam.function"].append(statement({"Sid": "SelfTestSqs", "Effect": "Allow",
                                            "Action": "sqs:*", "Resource": "*"}))

    def no_visibility(m):
        m["iam.function"] = [dict(s, Action=[a for a in s["Action"] if a != "sqs:ChangeMessageVisibility"])
                             for s in m["iam.function"]]
        m["iam.function"] = [s for s in m["iam.function"] if s["Action"]]

    def sts_statement(m):
        m["iam.function"].append(statement({"Sid": "SelfTestSts", "Effect": "Allow",
                                            "Action": "sts:GetCallerIdentity", "Resource": "*"}))

    def max_receive(m):
        m["queues"]["queue"]["max_receive"] = 5

    # ---- sharded reconciles ----
    def no_queue_url(m):
        m["function"]["environment"].pop("QUEUE_URL")

    def queue_url_of_dlq(m):
        m["function"]["environment"]["QUEUE_URL"] = "${ref:dlq}"

    def shard_size_changed(m):
        env = m["function"]["environment"]
        env["SHARD_SIZE"] = str(int(env["SHARD_SIZE"]) % 20000 + 100)

    def shard_size_below_range(m):
        m["function"]["environment"]["SHARD_SIZE"] = "99"

    def fractional_shard_size(m):
        m["function"]["environment"]["SHARD_SIZE"] = "2500.5"

    def no_sharded_reconcile(m):
        m["function"]["environment"].pop("SHARDED_RECONCILE")

    def invalid_sharded_reconcile(m):
        m["function"]["environment"]["SHARDED_RECONCILE"] = "yes"

    def send_on_dlq(m):
        sid(m, "SendShards")["Resource"] = ["${Arn:dlq}"]

    def send_anywhere(m):
        sid(m, "SendShards")["Resource"] = ["*"]

    def no_send(m):
        m["iam.function"] = [s for s in m["iam.function"] if s["Sid"] != "SendShards"]

    def describe_any_table(m):
        sid(m, "DescribeLockTable")["Resource"] = [f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/*"]

    def no_describe(m):
        m["iam.function"] = [s for s in m["iam.function"] if s["Sid"] != "DescribeLockTable"]

    def describe_in_lock_table(m):
        # DescribeTable moved into the shared LockTable statement: the DDNS role would get it.
        m["iam.function"] = [s for s in m["iam.function"] if s["Sid"] != "DescribeLockTable"]
        sid(m, "LockTable")["Action"] = sorted(sid(m, "LockTable")["Action"] + ["dynamodb:DescribeTable"])

    # ---- several accounts and regions ----
    def assume_wildcard(m):
        for st in m["iam.function"]:
            if st["Sid"] == "AssumeMemberRoles":
                st["Resource"] = [f"arn:{PARTITION}:iam::*:role/ec2-dns-member"]

    def assume_one_less(m):
        for st in m["iam.function"]:
            if st["Sid"] == "AssumeMemberRoles":
                st["Resource"] = st["Resource"][:1]

    def bus_anyone(m):
        for st in m["bus_policy"]:
            st["Principal"] = "*"

    def bus_extra_account(m):
        m["bus_policy"] = canonical(m["bus_policy"] + [dict(m["bus_policy"][0], Principal={"AWS": f"arn:{PARTITION}:iam::999999999999:root"})])

    def bus_put_anything(m):
        for st in m["bus_policy"]:
            st["Action"] = ["events:*"]

    def rule_own_account(m):
        m["triggers"]["rule:tag"]["pattern"]["account"] = [ACCOUNT]

    def address_rule_own_region(m):
        m["triggers"]["rule:address"]["pattern"]["region"] = [REGION]

    def no_regions(m):
        m["function"]["environment"].pop("REGIONS", None)

    def member_trust_account(m):
        m["member.roles"]["member_role"]["trust"][0]["Principal"] = {"AWS": f"arn:{PARTITION}:iam::123456789012:root"}

    def member_operators(m):
        return next(s for s in m["member.roles"]["member_role"]["trust"] if s.get("Sid") == "Operators")

    def member_another_operator(m):
        cond = member_operators(m)["Condition"]["StringEquals"]
        cond["aws:PrincipalArn"] = sorted(cond["aws:PrincipalArn"] + [f"arn:{PARTITION}:iam::999999999999:role/selftest"])

    def member_any_operator(m):
        member_operators(m)["Condition"] = {"StringLike": {"aws:PrincipalArn": [f"arn:{PARTITION}:iam::*:role/*"]}}

    def member_operator_wildcard(m):
        cond = member_operators(m)["Condition"]["StringEquals"]
        cond["aws:PrincipalArn"] = [a if i else re.sub(r"/[^/]*$", "/*", a) for i, a in enumerate(cond["aws:PrincipalArn"])]

    def member_operators_accounts(m):
        member_operators(m).pop("Condition")

    def member_no_operators(m):
        role = m["member.roles"]["member_role"]
        role["trust"] = [s for s in role["trust"] if s.get("Sid") != "Operators"]

    def member_ec2_star(m):
        m["member.roles"]["member_role"]["policy"].append(statement({"Sid": "SelfTestEc2", "Effect": "Allow",
                                                                      "Action": "ec2:*", "Resource": "*"}))

    def member_any_tag(m):
        for st in m["member.roles"]["member_role"]["policy"]:
            st.pop("Condition", None)

    def member_renamed(m):
        m["member.roles"]["member_role"]["name"] = "selftest"

    def member_pattern(m):
        for r in m["member.rules"]:
            if (r["pattern"].get("detail") or {}).get("changed-tag-keys"):
                r["pattern"]["detail"]["changed-tag-keys"] = ["selftest"]

    def member_address(m):
        return next(r for r in m["member.rules"] if r["pattern"].get("detail-type") == ["AWS API Call via CloudTrail"])

    def member_address_pattern(m):
        member_address(m)["pattern"]["detail"]["eventName"] = ["DisassociateAddress"]

    def member_no_address(m):
        m["member.rules"].remove(member_address(m))

    def member_other_bus(m):
        for r in m["member.rules"]:
            for t in r["targets"]:
                t["arn"] = f"arn:{PARTITION}:events:us-east-1:999999999999:event-bus/default"

    def member_forward_anywhere(m):
        m["member.roles"]["forward_role"]["policy"][0]["Resource"] = ["*"]

    def member_forward_any_account(m):
        m["member.roles"]["forward_role"]["trust"][0].pop("Condition", None)

    def member_output(m):
        m["member.outputs"] = [o for o in m["member.outputs"] if o != "member_role_arn"]

    def member_extra_resource(m):
        m["member.resources"] = sorted(m["member.resources"] + ["AWS::SQS::Queue"])

    # Auto Scaling lifecycle hooks, central and member side.
    def lifecycle_hooks_changed(m):
        m["triggers"]["rule:lifecycle"]["pattern"]["detail"]["LifecycleHookName"] = ["selftest-hook"]

    def no_lifecycle_rule(m):
        m["triggers"].pop("rule:lifecycle")

    def lifecycle_off_queue(m):
        for t in m["triggers"]["rule:lifecycle"]["targets"]:
            t["arn"] = "${Arn:dlq}"

    def lifecycle_terminate_only(m):
        m["triggers"]["rule:lifecycle"]["pattern"]["detail-type"] = [LIFECYCLE_DETAIL_TYPES[1]]

    def lifecycle_other_group(m):
        s = sid(m, "CompleteLifecycleActions")
        s["Resource"] = sorted(s["Resource"][1:] + [s["Resource"][0] + "-selftest"])

    def lifecycle_any_group(m):
        sid(m, "CompleteLifecycleActions")["Resource"] = ["*"]

    def lifecycle_any_account(m):
        s = sid(m, "CompleteLifecycleActions")
        s["Resource"] = [r.replace(ACCOUNT, "*") for r in s["Resource"]]

    def lifecycle_no_read(m):
        m["iam.function"].remove(sid(m, "ReadGroupLifecycle"))

    def lifecycle_no_complete(m):
        m["iam.function"].remove(sid(m, "CompleteLifecycleActions"))

    def lifecycle_no_wait(m):
        m["iam.function"].remove(sid(m, "WaitForChanges"))

    def lifecycle_abandon(m):
        sid(m, "CompleteLifecycleActions")["Action"] = sorted(LIFECYCLE_COMPLETE + ["autoscaling:SetDesiredCapacity"])

    def member_lifecycle_rule(m):
        return next(r for r in m["member.rules"] if (r["pattern"] or {}).get("source") == ["aws.autoscaling"])

    def member_lifecycle_hooks(m):
        member_lifecycle_rule(m)["pattern"]["detail"]["LifecycleHookName"] = ["selftest-hook"]

    def member_no_lifecycle_rule(m):
        m["member.rules"].remove(member_lifecycle_rule(m))

    def member_lifecycle_statement(m, name):
        return next(s for s in m["member.roles"]["member_role"]["policy"] if s["Sid"] == name)

    def member_no_lifecycle_rights(m):
        role = m["member.roles"]["member_role"]
        role["policy"] = [s for s in role["policy"] if s["Sid"] not in ("ReadGroupLifecycle", "CompleteLifecycleActions")]

    def member_no_complete(m):
        m["member.roles"]["member_role"]["policy"].remove(member_lifecycle_statement(m, "CompleteLifecycleActions"))

    def member_any_group(m):
        member_lifecycle_statement(m, "CompleteLifecycleActions")["Resource"] = ["*"]

    def member_other_group(m):
        s = member_lifecycle_statement(m, "CompleteLifecycleActions")
        s["Resource"] = sorted(s["Resource"][1:] + [s["Resource"][0] + "-selftest"])

    def member_central_groups(m):
        s = member_lifecycle_statement(m, "CompleteLifecycleActions")
        s["Resource"] = [r.replace(ACCOUNT, ORG_CONTEXT["central"][0]) for r in s["Resource"]]

    def member_no_retry(m):
        for r in m["member.rules"]:
            for t in r["targets"]:
                t["retry"] = {"attempts": None, "max_age": None}

    lifecycle_one_sided = [("lifecycle hooks", lifecycle_hooks_changed), ("no lifecycle rule", no_lifecycle_rule),
                           ("lifecycle rule off the queue", lifecycle_off_queue),
                           ("lifecycle group", lifecycle_other_group), ("no ReadGroupLifecycle", lifecycle_no_read),
                           ("no WaitForChanges", lifecycle_no_wait)]
    lifecycle_both_sided = [("lifecycle hooks", lifecycle_hooks_changed), ("no lifecycle rule", no_lifecycle_rule),
                            ("lifecycle rule off the queue", lifecycle_off_queue),
                            ("lifecycle terminate only", lifecycle_terminate_only),
                            ("lifecycle on any group", lifecycle_any_group),
                            ("lifecycle in any account", lifecycle_any_account),
                            ("no ReadGroupLifecycle", lifecycle_no_read),
                            ("no CompleteLifecycleActions", lifecycle_no_complete),
                            ("no WaitForChanges", lifecycle_no_wait), ("lifecycle extra action", lifecycle_abandon)]
    org_one_sided = [("AssumeRole on fewer accounts", assume_one_less), ("bus admits another account", bus_extra_account),
                     ("bus action", bus_put_anything), ("central rule restricted to an account", rule_own_account),
                     ("address rule restricted to a region", address_rule_own_region), ("no REGIONS", no_regions)]
    org_both_sided = [("AssumeRole on any account", assume_wildcard), ("AssumeRole on fewer accounts", assume_one_less),
                      ("bus admits anyone", bus_anyone), ("bus admits another account", bus_extra_account),
                      ("bus action", bus_put_anything), ("central rule restricted to an account", rule_own_account),
                      ("address rule restricted to a region", address_rule_own_region)]
    if "member.roles" in cdk:
        org_one_sided += [("member trusts an account", member_trust_account), ("member ec2:*", member_ec2_star),
                          ("member pattern", member_pattern), ("member forwards elsewhere", member_other_bus),
                          ("member address pattern", member_address_pattern),
                          ("member forwards no address changes", member_no_address),
                          ("member output", member_output), ("member extra resource", member_extra_resource),
                          ("member retry policy", member_no_retry), ("member role name", member_renamed),
                          ("member lifecycle hooks", member_lifecycle_hooks),
                          ("member forwards no lifecycle actions", member_no_lifecycle_rule),
                          ("member lifecycle group", member_other_group),
                          ("member without lifecycle rights", member_no_lifecycle_rights)]
        org_both_sided += [("member trusts an account", member_trust_account), ("member ec2:*", member_ec2_star),
                           ("member writes any tag", member_any_tag), ("member role name", member_renamed),
                           ("member pattern", member_pattern), ("member forwards elsewhere", member_other_bus),
                           ("member address pattern", member_address_pattern),
                           ("member forwards no address changes", member_no_address),
                           ("forwarding role puts anywhere", member_forward_anywhere),
                           ("forwarding role for any account", member_forward_any_account),
                           ("member lifecycle hooks", member_lifecycle_hooks),
                           ("member forwards no lifecycle actions", member_no_lifecycle_rule),
                           ("member without lifecycle rights", member_no_lifecycle_rights),
                           ("member cannot complete", member_no_complete),
                           ("member completes on any group", member_any_group),
                           ("member completes on the central account's groups", member_central_groups)]
        if ORG_CONTEXT["operators"]:
            org_one_sided += [("member trusts another operator", member_another_operator),
                              ("member trusts no operator", member_no_operators)]
            org_both_sided += [("member trusts another operator", member_another_operator),
                               ("member trusts any operator", member_any_operator),
                               ("member trusts an operator by wildcard", member_operator_wildcard),
                               ("member trusts the operators' whole accounts", member_operators_accounts),
                               ("member trusts no operator", member_no_operators)]

    one_sided = [("extra action", add_action), ("extra statement", add_statement),
                 ("wider condition", widen_condition), ("extra IAM resource", extra_role),
                 ("invoke grant", invoke_grant),
                 ("event pattern", pattern), ("schedule", schedule), ("table key", table_key),
                 ("table TTL attribute", table_ttl_attribute), ("no table TTL", table_no_ttl),
                 ("DDNS deployment id", ddns_deployment_id), ("no DDNS deployment id", ddns_no_deployment_id),
                 ("DDNS marker style", ddns_marker_style), ("no marker style", no_marker_style),
                 ("DDNS Route53 requests", ddns_route53_requests), ("no Route53 changes", no_route53_changes),
                 ("address pattern", address_pattern), ("no address rule", no_address_rule),
                 ("address rule off the queue", address_off_queue), ("address retry policy", address_retry),
                 ("address rule not admitted by the queues", address_not_admitted),
                 ("queue sender", queue_sender), ("CNAME record type", record_type),
                 ("visibility on the DLQ", visibility_on_dlq), ("maxReceiveCount", max_receive),
                 ("DDNS EC2 action", ddns_ec2), ("DDNS record type", ddns_record_type),
                 ("DDNS any parameter", ddns_any_parameter), ("DDNS public invoke", ddns_public_invoke),
                 ("DDNS concurrency", ddns_concurrency), ("DDNS sweep", ddns_sweep),
                 ("DDNS origin secret", ddns_origin_secret), ("DDNS caching", ddns_caching),
                 ("DDNS key rotation", ddns_key_rotation), ("DDNS alarm action", ddns_alarm_action),
                 ("DDNS output", ddns_output),
                 ("queue on $LATEST", esm_on_function), ("no alias", no_alias), ("alias on $LATEST", latest_alias),
                 ("versions not published", unpublished), ("URL on $LATEST", url_on_latest),
                 ("sweep on $LATEST", sweep_on_function), ("grant on $LATEST", grant_on_function),
                 ("dashboard widget", widget_gone), ("dashboard query", query_changed),
                 ("configuration on the alias", configuration_on_alias),
                 ("configuration not recorded on a code change", configuration_not_on_code),
                 ("configuration not recorded on an environment change", configuration_not_on_environment),
                 ("configuration before the policy", configuration_before_policy),
                 ("configuration asks something else", configuration_asks_else), ("no configuration", no_configuration),
                 ("next steps on the DDNS function", next_steps_ddns), ("next steps without plan", next_steps_no_plan),
                 ("region output", region_output_literal)]
    # The same change in both flavours: compare() is silent, the requirements must not be.
    both_sided = [("CNAME record type", record_type), ("no TXT record type", no_txt),
                  ("table TTL attribute", table_ttl_attribute), ("no table TTL", table_no_ttl),
                  ("DDNS deployment id", ddns_deployment_id), ("no DDNS deployment id", ddns_no_deployment_id),
                  ("invalid deployment id", invalid_deployment_id),
                  ("DDNS marker style", ddns_marker_style), ("no marker style", no_marker_style),
                  ("invalid marker style", invalid_marker_style),
                  ("DDNS Route53 requests", ddns_route53_requests), ("no Route53 changes", no_route53_changes),
                  ("Route53 requests above 100", route53_requests_above_range),
                  ("fractional Route53 changes", fractional_route53_changes),
                  ("UPSERT", upsert), ("any record name", any_name),
                  ("visibility on the DLQ", visibility_on_dlq), ("sqs:* anywhere", visibility_anywhere),
                  ("no ChangeMessageVisibility", no_visibility), ("sts statement", sts_statement),
                  ("maxReceiveCount", max_receive), ("reconciler invoke grant", invoke_grant),
                  ("address pattern", address_pattern), ("no address rule", no_address_rule),
                  ("address rule off the queue", address_off_queue),
                  ("address rule not admitted by the queues", address_not_admitted),
                  ("DDNS EC2 action", ddns_ec2), ("DDNS record type", ddns_record_type),
                  ("DDNS any parameter", ddns_any_parameter), ("DDNS any topic", ddns_any_topic),
                  ("DDNS public invoke", ddns_public_invoke), ("DDNS no cap", ddns_no_cap),
                  ("DDNS sweep", ddns_sweep), ("DDNS origin secret", ddns_origin_secret),
                  ("DDNS caching", ddns_caching), ("DDNS alarm action", ddns_alarm_action),
                  ("queue on $LATEST", esm_on_function), ("no alias", no_alias), ("alias on $LATEST", latest_alias),
                  ("versions not published", unpublished), ("URL on $LATEST", url_on_latest),
                  ("sweep on $LATEST", sweep_on_function), ("grant on $LATEST", grant_on_function),
                  ("no Lambda duration on the dashboard", no_duration),
                  ("no API calls by service", no_api_calls_by_service), ("no DDNS answers", no_ddns_answers),
                  ("configuration on the alias", configuration_on_alias),
                  ("configuration on the DDNS function", configuration_on_ddns),
                  ("configuration not recorded on a code change", configuration_not_on_code),
                  ("configuration not recorded on an environment change", configuration_not_on_environment),
                  ("configuration before the policy", configuration_before_policy),
                  ("configuration asks something else", configuration_asks_else), ("no configuration", no_configuration),
                  ("next steps on the DDNS function", next_steps_ddns), ("next steps without plan", next_steps_no_plan),
                  ("region output", region_output_literal)]
    shard_one_sided = [("no QUEUE_URL", no_queue_url), ("QUEUE_URL of the DLQ", queue_url_of_dlq),
                       ("shard size", shard_size_changed), ("no SHARDED_RECONCILE", no_sharded_reconcile),
                       ("SendShards on the DLQ", send_on_dlq), ("no SendShards", no_send),
                       ("DescribeTable on any table", describe_any_table), ("no DescribeLockTable", no_describe),
                       ("DescribeTable in LockTable", describe_in_lock_table)]
    shard_both_sided = [("no QUEUE_URL", no_queue_url), ("QUEUE_URL of the DLQ", queue_url_of_dlq),
                        ("shard size below 100", shard_size_below_range),
                        ("fractional shard size", fractional_shard_size),
                        ("no SHARDED_RECONCILE", no_sharded_reconcile),
                        ("invalid SHARDED_RECONCILE", invalid_sharded_reconcile),
                        ("SendShards on the DLQ", send_on_dlq), ("SendShards anywhere", send_anywhere),
                        ("no SendShards", no_send), ("DescribeTable on any table", describe_any_table),
                        ("no DescribeLockTable", no_describe)]
    one_sided += org_one_sided + lifecycle_one_sided + shard_one_sided
    both_sided += org_both_sided + lifecycle_both_sided + shard_both_sided
    # A model without what a change touches (e.g. a flavour lost a rule, which the comparison
    # reports above) cannot take the change: reported as missed, not as a traceback.
    lacking = (KeyError, IndexError, StopIteration, ValueError)
    missed = []
    for name, mutate in one_sided:
        for side in ("cdk", "tf"):
            a, b = copy.deepcopy(cdk), copy.deepcopy(tf)
            try:
                mutate(a if side == "cdk" else b)
            except lacking:
                missed.append(f"{name} ({side} only; the model lacks what it changes)")
                continue
            if all(ok for _, ok, _ in compare(a, b)):
                missed.append(f"{name} ({side} only)")
    for name, mutate in both_sided:
        a, b = copy.deepcopy(cdk), copy.deepcopy(tf)
        try:
            mutate(a)
            mutate(b)
        except lacking:
            missed.append(f"{name} (both; a model lacks what it changes)")
            continue
        if all(ok for _, ok, _ in check_requirements(a, b)):
            missed.append(f"{name} (both)")
    return missed, 2 * len(one_sided) + len(both_sided)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("template")
    ap.add_argument("plan")
    ap.add_argument("--account", default="123456789012")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--member-template", help="the member stack's template (Ec2DnsMember)")
    ap.add_argument("--member-plan", help="the plan of examples/member (module.member is compared)")
    ap.add_argument("--member-account", default="210987654321")
    ap.add_argument("--member-region", default="eu-west-1")
    ap.add_argument("--reconciler-role-arn", help="the reconciler role ARN both member examples trust")
    ap.add_argument("--operator-principal-arns", default="",
                    help="comma-separated operators' ARNs both member examples trust besides (default: none)")
    ap.add_argument("--dump", help="write both models to this JSON file")
    args = ap.parse_args()
    if (args.member_template is None) != (args.member_plan is None):
        ap.error("--member-template and --member-plan go together")

    with open(args.template) as f:
        cdk = Cfn(json.load(f)).model()
    with open(args.plan) as f:
        tf = TfPlan(json.load(f), args.account, args.region).model()
    if args.member_template:
        with open(args.member_template) as f:
            cdk.update(CfnMember(json.load(f)).model())
        with open(args.member_plan) as f:
            tf.update(TfMember(json.load(f), args.member_account, args.member_region).model())
    ORG_CONTEXT.update(member=bool(args.member_template), central=(args.account, args.region),
                       where=(args.member_account, args.member_region), reconciler_arn=args.reconciler_role_arn,
                       operators=[a for a in args.operator_principal_arns.split(",") if a])
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump({"cdk": cdk, "terraform": tf}, f, indent=2, sort_keys=True)

    results = compare(cdk, tf)
    results += check_requirements(cdk, tf)
    for section, ok, detail in results:
        print(f"parity: {'ok  ' if ok else 'DIFF'} {section}")
        if not ok:
            print(detail)

    missed, tried = self_test(cdk, tf)
    if missed:
        print("parity: SELF-TEST FAILED, the checks would not notice: " + ", ".join(missed))
        results.append(("self-test", False, ""))
    else:
        print(f"parity: self-test ok ({tried} one- and both-sided changes, each detected)")
        results.append(("self-test", True, ""))

    failed = sum(1 for _, ok, _ in results if not ok)
    print(f"parity: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
