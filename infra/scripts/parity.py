#!/usr/bin/env python3
"""Prove that the CDK and the Terraform flavours of ec2-dns build the same system.

    parity.py CFN_TEMPLATE.json TF_PLAN.json [--account 123456789012] [--region us-east-1]

Both inputs are reduced to one model in which every resource is named by its role in the
system (``lock_table``, ``queue``, ``dlq``, ``event_dlq``, ``log_group``, ``function``,
``rule:state``, ``rule:tag``, ``rule:schedule``) and every ARN by the same placeholders
(``${partition}``, ``${region}``, ``${account}``), then compared section by section:

- the function's IAM policy (every statement: sid, effect, actions, resources, conditions),
  plus every other IAM role, policy or instance profile (there must be none), and every
  grant of lambda:InvokeFunction (resource policy or function URL: there must be none);
- the queue policies;
- the triggers: event patterns, schedule, targets with retry policy and dead-letter queue;
- the lock table's schema and settings;
- the function's runtime settings, environment and event source mapping;
- the queues' settings and the alarms.

Equal is not enough for a few points, which each flavour must meet on its own: nobody is
granted lambda:InvokeFunction, and the requirements of the function's code (protocol v2):
record changes of exactly A, AAAA and the TXT ownership marker `_ec2-dns.<name>` (admitted by
the `*.<domain>` names), only CREATE and DELETE; sqs:ChangeMessageVisibility on the event
queue only; no statement for sts:GetCallerIdentity (it needs none); maxReceiveCount 8.

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

PARTITION, REGION, ACCOUNT = "${partition}", "${region}", "${account}"


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
        out["Principal"] = canonical(s["Principal"])
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


def rule_kind(pattern: dict | None, schedule: str | None) -> str:
    if schedule:
        return "rule:schedule"
    source = (pattern or {}).get("source", [])
    return {"aws.ec2": "rule:state", "aws.tag": "rule:tag"}.get(source[0] if source else "", "rule:other")


# ---- CloudFormation (CDK) ----------------------------------------------------------------

class Cfn:
    def __init__(self, template: dict):
        self.resources: dict = template["Resources"]
        self.roles: dict[str, str] = {}
        self._assign_roles()

    def of_type(self, type_: str) -> dict:
        return {k: v for k, v in self.resources.items() if v["Type"] == type_}

    def _assign_roles(self) -> None:
        r = self.roles
        for lid in self.of_type("AWS::DynamoDB::Table"):
            r[lid] = "lock_table"
        for lid in self.of_type("AWS::Logs::LogGroup"):
            r[lid] = "log_group"
        for lid in self.of_type("AWS::Lambda::Function"):
            r[lid] = "function"
        for lid in self.of_type("AWS::IAM::Role"):
            r[lid] = "role"
        for lid, rule in self.of_type("AWS::Events::Rule").items():
            p = rule["Properties"]
            r[lid] = rule_kind(p.get("EventPattern"), p.get("ScheduleExpression"))
        for lid, q in self.of_type("AWS::SQS::Queue").items():
            redrive = q["Properties"].get("RedrivePolicy")
            if redrive:
                r[lid] = "queue"
                r[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]] = "dlq"
        for rule in self.of_type("AWS::Events::Rule").values():
            for t in rule["Properties"].get("Targets", []):
                if "DeadLetterConfig" in t:
                    r[t["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]] = "event_dlq"

    def resolve(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.resolve(x) for x in v]
        if not isinstance(v, dict):
            return v
        if set(v) == {"Ref"}:
            pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
            return pseudo.get(v["Ref"]) or f"${{ref:{self.roles.get(v['Ref'], v['Ref'])}}}"
        if set(v) == {"Fn::GetAtt"}:
            lid, attr = v["Fn::GetAtt"]
            return f"${{{attr}:{self.roles.get(lid, lid)}}}"
        if set(v) == {"Fn::Join"}:
            sep, parts = v["Fn::Join"]
            return sep.join(str(self.resolve(p)) for p in parts)
        return {k: self.resolve(x) for k, x in v.items()}

    def model(self) -> dict:
        m: dict = {}
        roles = self.of_type("AWS::IAM::Role")
        m["iam.other"] = canonical({
            "roles": len(roles),
            "policies": sorted(self.roles.get(k, k) for k in self.of_type("AWS::IAM::Policy")),
            "managed_policies": len(self.of_type("AWS::IAM::ManagedPolicy")),
            "instance_profiles": len(self.of_type("AWS::IAM::InstanceProfile")),
            "invoke_grants": len(self.of_type("AWS::Lambda::Permission"))
            + len(self.of_type("AWS::Lambda::Url")),
            "managed_policy_arns": sorted(a for role in roles.values()
                                          for a in role["Properties"].get("ManagedPolicyArns", [])),
            "trust": [statements(self.resolve(role["Properties"]["AssumeRolePolicyDocument"]))
                      for role in roles.values()],
        })
        function_statements = []
        for role in roles.values():
            for p in role["Properties"].get("Policies", []):
                function_statements += statements(self.resolve(p["PolicyDocument"]))
        for p in self.of_type("AWS::IAM::Policy").values():  # e.g. a DefaultPolicy from a grant
            function_statements += statements(self.resolve(p["Properties"]["PolicyDocument"]))
        m["iam.function"] = sorted(function_statements, key=lambda s: json.dumps(s, sort_keys=True))

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
            "ttl": "TimeToLiveSpecification" in t,
        }

        (fn,) = self.of_type("AWS::Lambda::Function").values()
        f = fn["Properties"]
        logging = f.get("LoggingConfig", {})
        m["function"] = {
            "runtime": f["Runtime"], "architectures": f["Architectures"], "handler": f["Handler"],
            "memory": f["MemorySize"], "timeout": f["Timeout"],
            "environment": canonical(self.resolve(f.get("Environment", {}).get("Variables", {}))),
            "log_format": logging.get("LogFormat"),
            "log_group": self.resolve(logging.get("LogGroup")),
            "reserved_concurrency": f.get("ReservedConcurrentExecutions"),
            "vpc": "VpcConfig" in f,
        }
        (esm,) = self.of_type("AWS::Lambda::EventSourceMapping").values()
        e = esm["Properties"]
        m["event_source"] = {
            "source": self.resolve(e["EventSourceArn"]),
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
            "actions": len(a["Properties"].get("AlarmActions", [])),
        } for a in self.of_type("AWS::CloudWatch::Alarm").values()])
        return m


# ---- Terraform plan -------------------------------------------------------------------------

class TfPlan:
    def __init__(self, plan: dict, account: str, region: str):
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

    def _assign_roles(self) -> None:
        p, a, g = "arn:aws", self.account, self.region
        roles = {"events": "queue", "dlq": "dlq", "event_dlq": "event_dlq"}
        for q in self.of_type("aws_sqs_queue"):
            role = roles.get(q["name"], q["name"])
            self.address_roles[f"aws_sqs_queue.{q['name']}"] = role
            name = q["values"]["name"]
            self.symbols[f"{p}:sqs:{g}:{a}:{name}"] = f"${{Arn:{role}}}"
            self.symbols[name] = f"${{QueueName:{role}}}"
        (table,) = self.of_type("aws_dynamodb_table")
        self.symbols[f"{p}:dynamodb:{g}:{a}:table/{table['values']['name']}"] = "${Arn:lock_table}"
        self.symbols[table["values"]["name"]] = "${ref:lock_table}"
        (lg,) = self.of_type("aws_cloudwatch_log_group")
        # CloudFormation's LogGroup Arn attribute ends in ":*".
        self.symbols[f"{p}:logs:{g}:{a}:log-group:{lg['values']['name']}:*"] = "${Arn:log_group}"
        self.symbols[lg["values"]["name"]] = "${ref:log_group}"
        (fn,) = self.of_type("aws_lambda_function")
        self.symbols[fn["values"]["function_name"]] = "${ref:function}"
        for rule in self.of_type("aws_cloudwatch_event_rule"):
            v = rule["values"]
            kind = rule_kind(json.loads(v["event_pattern"]) if v.get("event_pattern") else None,
                             v.get("schedule_expression"))
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
        v = re.sub(r"^arn:aws:", f"arn:{PARTITION}:", v)
        v = v.replace(f":{self.account}:", f":{ACCOUNT}:").replace(f":{self.region}:", f":{REGION}:")
        return v

    def reference(self, address: str, attr: str, expression_path: list[str]) -> str | None:
        """Symbol of the resource an (unknown at plan time) attribute refers to."""
        expr: Any = self.config[address]["expressions"]
        for key in expression_path:
            expr = expr[key] if not isinstance(expr, list) else expr[0][key]
        for ref in expr.get("references", []):
            target = ".".join(ref.split(".")[:2])
            if target in self.address_roles:
                return f"${{{attr}:{self.address_roles[target]}}}"
        return None

    def model(self) -> dict:
        m: dict = {}
        roles = self.of_type("aws_iam_role")
        m["iam.other"] = canonical({
            "roles": len(roles),
            "policies": [],
            "managed_policies": len(self.of_type("aws_iam_policy")),
            "instance_profiles": len(self.of_type("aws_iam_instance_profile")),
            "invoke_grants": len(self.of_type("aws_lambda_permission"))
            + len(self.of_type("aws_lambda_function_url")),
            "managed_policy_arns": sorted(
                [r["values"]["policy_arn"] for r in self.of_type("aws_iam_role_policy_attachment")]
                + [a for r in roles for a in (r["values"].get("managed_policy_arns") or [])]),
            "trust": [statements(self.sym(json.loads(r["values"]["assume_role_policy"]))) for r in roles],
        })
        function_statements = []
        for p in self.of_type("aws_iam_role_policy"):
            function_statements += statements(self.sym(json.loads(p["values"]["policy"])))
        m["iam.function"] = sorted(function_statements, key=lambda s: json.dumps(s, sort_keys=True))

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
        key = [[t["hash_key"], "HASH"]] + ([[t["range_key"], "RANGE"]] if t.get("range_key") else [])
        pitr = t.get("point_in_time_recovery") or [{}]
        sse = t.get("server_side_encryption") or [{}]
        m["table"] = {
            "key": canonical(key),
            "attributes": canonical([[a["name"], a["type"]] for a in t["attribute"]]),
            "indexes": len(t.get("global_secondary_index") or []) + len(t.get("local_secondary_index") or []),
            "billing": t.get("billing_mode"),
            "pitr": bool(pitr[0].get("enabled")),
            "sse": bool(sse[0].get("enabled")),
            "deletion_protection": bool(t.get("deletion_protection_enabled")),
            "stream": bool(t.get("stream_enabled")),
            "ttl": bool((t.get("ttl") or [{}])[0].get("enabled")),
        }

        (fn,) = self.of_type("aws_lambda_function")
        f = fn["values"]
        logging = (f.get("logging_config") or [{}])[0]
        reserved = f.get("reserved_concurrent_executions")
        m["function"] = {
            "runtime": f["runtime"], "architectures": f["architectures"], "handler": f["handler"],
            "memory": f["memory_size"], "timeout": f["timeout"],
            "environment": canonical(self.sym((f.get("environment") or [{}])[0].get("variables") or {})),
            "log_format": logging.get("log_format"),
            "log_group": self.sym(logging.get("log_group")),
            "reserved_concurrency": None if reserved in (None, -1) else reserved,
            "vpc": bool(f.get("vpc_config")),
        }
        (esm,) = self.of_type("aws_lambda_event_source_mapping")
        e = esm["values"]
        m["event_source"] = {
            "source": self.reference(f"aws_lambda_event_source_mapping.{esm['name']}", "Arn", ["event_source_arn"]),
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
            "actions": len(a["values"].get("alarm_actions") or []),
        } for a in self.of_type("aws_cloudwatch_metric_alarm")])
        return m


# ---- requirements of the code, per flavour ---------------------------------------------------

# What the function's code (protocol v2) needs; equal in both flavours is not enough.
RECORD_TYPES = ["A", "AAAA", "TXT"]  # A/AAAA records and the TXT ownership marker
RECORD_ACTIONS = ["CREATE", "DELETE"]
OWNERSHIP_MARKER = "_ec2-dns."  # the marker of <name> is _ec2-dns.<name>, same zone, same batch
# The function delays a failed message by 30 s doubled per receive, at most 900 s: 8 receives
# are 7 retries over 30+60+120+240+480+900+900 = 2730 s. The default of both flavours, which
# the example deploys.
MAX_RECEIVE_COUNT = 8


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
    for s in change:
        cond = s.get("Condition", {})
        equals = cond.get("ForAllValues:StringEquals", {})
        types = equals.get("route53:ChangeResourceRecordSetsRecordTypes")
        actions = equals.get("route53:ChangeResourceRecordSetsActions")
        if types != sorted(RECORD_TYPES):
            problems.append(f"{s['Sid']}: record types {types}, expected exactly {RECORD_TYPES}")
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
    out.append(("ChangeRecords: A, AAAA and TXT markers, CREATE/DELETE, *.<domain>", not problems,
                "; ".join(problems)))

    visibility = [s for s in stmts if allows(s, "sqs:ChangeMessageVisibility")]
    problems = [f"{s['Sid']}: on {s['Resource']}" for s in visibility if s["Resource"] != ["${Arn:queue}"]]
    if not visibility:
        problems.append("no statement allows sqs:ChangeMessageVisibility")
    out.append(("sqs:ChangeMessageVisibility on the event queue only", not problems, "; ".join(problems)))

    sts = [f"{s['Sid']}: {s['Action']}" for s in stmts if any(a.lower().startswith("sts:") or a == "*" for a in s["Action"])]
    out.append(("no statement for sts:GetCallerIdentity (it needs no permission)", not sts, "; ".join(sts)))

    receives = (m["queues"].get("queue") or {}).get("max_receive")
    out.append((f"queue: maxReceiveCount {MAX_RECEIVE_COUNT}", receives == MAX_RECEIVE_COUNT,
                f"maxReceiveCount is {receives}"))
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
        m["iam.other"]["invoke_grants"] += 1

    def pattern(m):
        m["triggers"]["rule:tag"]["pattern"]["detail"]["changed-tag-keys"] = ["selftest"]

    def schedule(m):
        m["triggers"]["rule:schedule"]["schedule"] = "rate(99999 minutes)"

    def table_key(m):
        m["table"]["key"].append(["selftest", "RANGE"])

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

    one_sided = [("extra action", add_action), ("extra statement", add_statement),
                 ("wider condition", widen_condition), ("extra IAM resource", extra_role),
                 ("invoke grant", invoke_grant),
                 ("event pattern", pattern), ("schedule", schedule), ("table key", table_key),
                 ("queue sender", queue_sender), ("CNAME record type", record_type),
                 ("visibility on the DLQ", visibility_on_dlq), ("maxReceiveCount", max_receive)]
    # The same change in both flavours: compare() is silent, the requirements must not be.
    both_sided = [("CNAME record type", record_type), ("no TXT record type", no_txt),
                  ("UPSERT", upsert), ("any record name", any_name),
                  ("visibility on the DLQ", visibility_on_dlq), ("sqs:* anywhere", visibility_anywhere),
                  ("no ChangeMessageVisibility", no_visibility), ("sts statement", sts_statement),
                  ("maxReceiveCount", max_receive)]
    missed = []
    for name, mutate in one_sided:
        for side in ("cdk", "tf"):
            a, b = copy.deepcopy(cdk), copy.deepcopy(tf)
            mutate(a if side == "cdk" else b)
            if all(ok for _, ok, _ in compare(a, b)):
                missed.append(f"{name} ({side} only)")
    for name, mutate in both_sided:
        a, b = copy.deepcopy(cdk), copy.deepcopy(tf)
        mutate(a)
        mutate(b)
        if all(ok for _, ok, _ in check_requirements(a, b)):
            missed.append(f"{name} (both)")
    return missed, 2 * len(one_sided) + len(both_sided)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("template")
    ap.add_argument("plan")
    ap.add_argument("--account", default="123456789012")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--dump", help="write both models to this JSON file")
    args = ap.parse_args()

    with open(args.template) as f:
        cdk = Cfn(json.load(f)).model()
    with open(args.plan) as f:
        tf = TfPlan(json.load(f), args.account, args.region).model()
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump({"cdk": cdk, "terraform": tf}, f, indent=2, sort_keys=True)

    results = compare(cdk, tf)
    # Equal is not enough here: nobody may be granted lambda:InvokeFunction by the stacks
    # (no resource policy on the function, no function URL), in either flavour.
    grants = {"CDK": cdk["iam.other"]["invoke_grants"], "Terraform": tf["iam.other"]["invoke_grants"]}
    results.append(("no lambda:InvokeFunction grant", not any(grants.values()),
                    "  resources granting invoke: " + json.dumps(grants)))
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
