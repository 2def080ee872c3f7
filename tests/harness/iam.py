"""IAM, as far as ec2-dns's policies need it: what a logged AWS call asks IAM to authorise,
and whether a set of policy statements allows it.

Two halves:

- `request_facts()` reads one request (as the strict proxy sees it) and keeps what IAM
  authorises it by: the zone and every change's normalised name, type and action of a
  Route53 `ChangeResourceRecordSets`; the tables and partition keys of a DynamoDB call (each
  item of a transaction separately); the instances and tag keys of an EC2 `CreateTags`;
  the group of an Auto Scaling `CompleteLifecycleAction` or `RecordLifecycleActionHeartbeat`;
  the queue, topic, parameter or role of the other calls. The proxy stores these facts in
  its call log (`entry["iam"]`), with the access key and region of the signature.
- `authorizations()` turns one logged call into the requests IAM evaluates (action,
  resource ARN, condition keys), and `evaluate()` decides one such request against a list of
  statements: Allow/Deny, Action/NotAction and Resource/NotResource with wildcards, and the
  condition operators the templates and the documented policies use (String*, Arn*, Bool,
  Null, with ForAllValues:/ForAnyValue: and …IfExists). An explicit Deny wins; no Allow is
  an implicit deny. An operator it does not know is an error, never a silent allow.

Standard library only; tests/e2e/test_iam.py uses it over the proxy's log of a real run.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterable

# ---------------------------------------------------------------------------- requests

_R53_ZONE = re.compile(r"/2013-04-01/hostedzone/([^/]+)")
_R53_CHANGE = re.compile(r"/2013-04-01/change/([^/]+)")
_ASSUMED_KEY = re.compile(rb"<AccessKeyId>\s*([^<\s]+)\s*</AccessKeyId>")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def normalized_record_name(name: str) -> str:
    """Route53's normalised form for the condition key
    route53:ChangeResourceRecordSetsNormalizedRecordNames: lower case, no trailing dot, and
    every character but a-z 0-9 - _ . * written as a three-digit octal escape."""
    name = name.replace("\\052", "*").strip().rstrip(".").lower()
    return "".join(c if re.fullmatch(r"[a-z0-9_.*-]", c) else f"\\{ord(c):03o}" for c in name)


def _form(body: bytes, query: str) -> dict[str, list[str]]:
    fields = urllib.parse.parse_qs(query)
    try:
        fields.update(urllib.parse.parse_qs(body.decode("utf-8")))
    except UnicodeDecodeError:
        pass
    return fields


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _pk(item: dict | None) -> str | None:
    """The partition key `pk` of a DynamoDB key or item, as its string."""
    value = (item or {}).get("pk") or {}
    return value.get("S") if isinstance(value, dict) else None


def _numbered(fields: dict[str, list[str]], pattern: str) -> list[str]:
    """Values of `Prefix.N` (or `Prefix.N.Key`) form fields, in N order."""
    found = []
    for k, v in fields.items():
        m = re.fullmatch(pattern, k)
        if m:
            found.append((int(m.group(1)), v[0]))
    return [v for _, v in sorted(found)]


def request_facts(service: str, operation: str, method: str, path: str, body: bytes) -> dict:
    """What IAM authorises one request by (see the module's docstring); JSON-serialisable."""
    parsed = urllib.parse.urlsplit(path)
    facts: dict[str, Any] = {}
    if service == "route53":
        zone = _R53_ZONE.match(parsed.path)
        if zone:
            facts["zone"] = urllib.parse.unquote(zone.group(1))
        change = _R53_CHANGE.match(parsed.path)
        if change:
            facts["change"] = urllib.parse.unquote(change.group(1))
        if operation == "ChangeResourceRecordSets":
            changes = []
            try:
                root = ET.fromstring(body)
            except ET.ParseError:
                root = None
            for el in (root.iter() if root is not None else []):
                if _local(el.tag) != "Change":
                    continue
                parts = {_local(c.tag): c for c in el}
                rrset = {_local(c.tag): (c.text or "") for c in parts.get("ResourceRecordSet", [])}
                changes.append({"action": (parts["Action"].text or "").strip() if "Action" in parts else "",
                                "name": normalized_record_name(rrset.get("Name", "")),
                                "type": rrset.get("Type", "").strip()})
            facts["changes"] = changes
    elif service == "dynamodb":
        req = _json(body)
        items: list[dict] = []
        if operation in ("TransactWriteItems", "TransactGetItems"):
            for t in req.get("TransactItems", []):
                for kind, spec in t.items():
                    items.append({"kind": kind, "table": spec.get("TableName"),
                                  "pk": _pk(spec.get("Key") or spec.get("Item"))})
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table, spec in (req.get("RequestItems") or {}).items():
                if operation == "BatchGetItem":
                    keys = [_pk(k) for k in spec.get("Keys", [])]
                else:
                    keys = [_pk((w.get("PutRequest") or {}).get("Item") or (w.get("DeleteRequest") or {}).get("Key"))
                            for w in spec]
                items.append({"kind": operation, "table": table, "pks": keys})
        else:
            items.append({"kind": operation, "table": req.get("TableName"),
                          "pk": _pk(req.get("Key") or req.get("Item"))})
        facts["items"] = items
    elif service == "ec2":
        fields = _form(body, parsed.query)
        if operation in ("CreateTags", "DeleteTags"):
            facts["resources"] = _numbered(fields, r"ResourceId\.(\d+)")
            facts["tag_keys"] = _numbered(fields, r"Tag\.(\d+)\.Key")
    elif service == "autoscaling":
        fields = _form(body, parsed.query)
        if operation in GROUP_OPERATIONS:
            facts["group"] = (fields.get("AutoScalingGroupName") or [None])[0]
    elif service == "sqs":
        req = _json(body) or {k: v[0] for k, v in _form(body, parsed.query).items()}
        facts["queue_url"] = req.get("QueueUrl")
    elif service == "sns":
        fields = _form(body, parsed.query)
        facts["topic"] = (fields.get("TopicArn") or [None])[0]
    elif service == "ssm":
        facts["name"] = _json(body).get("Name")
    elif service == "sts":
        fields = _form(body, parsed.query)
        facts["role"] = (fields.get("RoleArn") or [None])[0]
    return facts


def issued_key(response_body: bytes) -> str | None:
    """The access key id an sts:AssumeRole answer hands out."""
    m = _ASSUMED_KEY.search(response_body or b"")
    return m.group(1).decode() if m else None


# ---------------------------------------------------------------------------- authorisation

@dataclass(frozen=True)
class Request:
    """One request IAM evaluates: an action on a resource, with condition keys."""
    action: str
    resource: str
    context: tuple = ()  # ((key, (values...)), ...), keys lower case

    def keys(self) -> dict[str, tuple]:
        return dict(self.context)

    def shown(self) -> str:
        ctx = "".join(f" {k}={list(v)}" for k, v in self.context)
        return f"{self.action} on {self.resource}{ctx}"


#: Calls AWS authorises without any policy.
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})
#: DynamoDB authorises each item of a transaction by its own action.
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
#: Operations whose IAM action has another name.
_ACTION_OF = {"sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
              "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
              "sqs:SendMessageBatch": "sqs:SendMessage"}


#: Auto Scaling operations authorised on the group they name (the others, such as
#: DescribeAutoScalingInstances and DescribeLifecycleHooks, take no resource restriction).
GROUP_OPERATIONS = frozenset({"CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"})
#: A group's ARN carries an id Auto Scaling generates, which the request does not: this one
#: stands for it. A policy matches it only with a wildcard there (as the deployed ones do), as
#: a policy naming another group's id would not match the real group.
GROUP_ID = "00000000-0000-4000-8000-000000000000"


def _ctx(**keys: Iterable[str]) -> tuple:
    return tuple(sorted((k.lower(), tuple(v)) for k, v in keys.items()))


def authorizations(entry: dict, account: str, partition: str = "aws") -> list[Request]:
    """The requests IAM evaluates for one logged call, made by a principal of `account` in
    the call's region. Calls that need no permission give none."""
    call = entry["call"]
    service, operation = call.split(":", 1)
    facts = entry.get("iam") or {}
    region = entry.get("region") or "us-east-1"
    if call in ALWAYS_ALLOWED:
        return []
    if service == "route53":
        if "zone" in facts:
            resource = f"arn:{partition}:route53:::hostedzone/{facts['zone']}"
        elif "change" in facts:
            resource = f"arn:{partition}:route53:::change/{facts['change']}"
        else:
            resource = "*"
        context = ()
        if operation == "ChangeResourceRecordSets":
            changes = facts.get("changes", [])
            context = _ctx(**{
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted({c["name"] for c in changes}),
                "route53:ChangeResourceRecordSetsRecordTypes": sorted({c["type"] for c in changes}),
                "route53:ChangeResourceRecordSetsActions": sorted({c["action"] for c in changes}),
            })
        return [Request(call, resource, context)]
    if service == "dynamodb":
        out = []
        for item in facts.get("items", []):
            table = f"arn:{partition}:dynamodb:{region}:{account}:table/{item['table']}"
            kind = item["kind"]
            action = f"dynamodb:{_TRANSACT_ACTIONS.get(kind, kind)}"
            pks = [p for p in (item.get("pks") or [item.get("pk")]) if p is not None]
            out.append(Request(action, table, _ctx(**{"dynamodb:LeadingKeys": sorted(set(pks))}) if pks else ()))
        return out
    if service == "ec2":
        if operation in ("CreateTags", "DeleteTags"):
            keys = _ctx(**{"aws:TagKeys": sorted(set(facts.get("tag_keys", [])))})
            return [Request(call, f"arn:{partition}:ec2:{region}:{account}:instance/{r}", keys)
                    for r in facts.get("resources", [])]
        return [Request(call, "*")]
    if service == "autoscaling" and operation in GROUP_OPERATIONS:
        group = facts.get("group")
        if not group:
            return []  # reported by check_log: the check could not read what the call asks for
        return [Request(call, f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:{GROUP_ID}"
                              f":autoScalingGroupName/{group}")]
    if service == "sqs":
        url = urllib.parse.urlsplit(facts.get("queue_url") or "")
        parts = [p for p in url.path.split("/") if p]
        queue = f"arn:{partition}:sqs:{region}:{parts[0]}:{parts[1]}" if len(parts) == 2 else "*"
        return [Request(_ACTION_OF.get(call, call), queue)]
    if service == "sns":
        return [Request(call, facts.get("topic") or "*")]
    if service == "ssm":
        name = facts.get("name") or ""
        return [Request(call, f"arn:{partition}:ssm:{region}:{account}:parameter{'' if name.startswith('/') else '/'}{name}")]
    if service == "sts":
        return [Request(call, facts.get("role") or "*")]
    return [Request(call, "*")]


# ---------------------------------------------------------------------------- evaluation

def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def statement(s: dict) -> dict:
    """A statement as the evaluator reads it: lists everywhere, condition values as lists."""
    out = {"Sid": s.get("Sid"), "Effect": s["Effect"]}
    for k in ("Action", "NotAction", "Resource", "NotResource"):
        if k in s:
            out[k] = as_list(s[k])
    if s.get("Condition"):
        out["Condition"] = {op: {k: as_list(v) for k, v in cond.items()} for op, cond in s["Condition"].items()}
    if "Principal" in s:
        out["Principal"] = s["Principal"]
    return out


def policy_statements(doc: dict | list) -> list[dict]:
    """The statements of a policy document (or a list of statements)."""
    stmts = doc if isinstance(doc, list) else as_list(doc.get("Statement"))
    return [statement(s) for s in stmts]


def like(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: `*` any characters (`:` and `/` included), `?` one."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def _single(op: str, policy: str, value: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return policy == value if op == "StringEquals" else like(policy, value)
    if op == "StringEqualsIgnoreCase":
        return policy.lower() == value.lower()
    if op in ("StringLike", "ArnLike"):
        return like(policy, value)
    if op == "Bool":
        return policy.lower() == value.lower()
    raise ValueError(f"condition operator {op} is not supported by this evaluator")


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def condition_holds(operator: str, key: str, policy_values: list, request: Request) -> bool:
    """One condition key of one operator block."""
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op[: -len("IfExists")] if if_exists else op
    present = request.keys().get(key.lower())
    if op == "Null":
        wants_absent = [str(v).lower() for v in policy_values] == ["true"]
        return (present is None) == wants_absent
    negated = op in _NEGATED
    base = _NEGATED.get(op, op)

    def matches(value: str) -> bool:
        hit = any(_single(base, str(p), value) for p in policy_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in (present or ()))
    if qualifier == "ForAnyValue":
        return any(matches(v) for v in (present or ()))
    if qualifier:
        raise ValueError(f"condition qualifier {qualifier} is not supported by this evaluator")
    if present is None:
        return if_exists or negated
    return any(matches(v) for v in present)


def applies(s: dict, request: Request) -> bool:
    """Whether a statement (its Action, Resource and Condition) covers the request."""
    if "Action" in s and not any(like(a, request.action, case_sensitive=False) for a in s["Action"]):
        return False
    if "NotAction" in s and any(like(a, request.action, case_sensitive=False) for a in s["NotAction"]):
        return False
    if "Resource" in s and not any(like(r, request.resource) for r in s["Resource"]):
        return False
    if "NotResource" in s and any(like(r, request.resource) for r in s["NotResource"]):
        return False
    for operator, keys in (s.get("Condition") or {}).items():
        for key, values in keys.items():
            if not condition_holds(operator, key, values, request):
                return False
    return True


@dataclass
class Decision:
    allowed: bool
    by: list[str] = field(default_factory=list)  # the Sids that decided
    why: str = ""


def evaluate(statements: list[dict], request: Request) -> Decision:
    """Identity-policy evaluation: an explicit Deny wins, else any Allow, else implicit deny."""
    if request.action in ALWAYS_ALLOWED:
        return Decision(True, why="needs no permission")
    denies = [s.get("Sid") or "?" for s in statements if s["Effect"] == "Deny" and applies(s, request)]
    if denies:
        return Decision(False, denies, "explicit deny")
    allows = [s.get("Sid") or "?" for s in statements if s["Effect"] == "Allow" and applies(s, request)]
    if allows:
        return Decision(True, allows)
    near = [s.get("Sid") or "?" for s in statements if s["Effect"] == "Allow"
            and any(like(a, request.action, case_sensitive=False) for a in s.get("Action", []))]
    return Decision(False, near, "no statement allows it" + (f" (same action in {near}: resource or condition)" if near else ""))


def trusts(trust: list[dict], principal_arn: str, action: str = "sts:AssumeRole") -> bool:
    """Whether a role's trust policy lets an IAM principal (a role or user ARN) assume it.

    A statement names the principal itself, or its account (`arn:…:iam::<account>:root` or
    the bare id), in `Principal.AWS`; its conditions are evaluated with the keys IAM sets for
    the caller, `aws:PrincipalArn` (the role's ARN, not the session's) and
    `aws:PrincipalAccount`. An explicit Deny wins. (Naming the account delegates to the
    account's policies: the caller's own policy must allow the sts:AssumeRole too, which
    check_log checks for every caller anyway.)"""
    parts = principal_arn.split(":")
    account = parts[4] if len(parts) > 5 else ""
    root = f"arn:{parts[1]}:iam::{account}:root" if len(parts) > 5 else None
    request = Request(action, "*", _ctx(**{"aws:PrincipalArn": [principal_arn], "aws:PrincipalAccount": [account]}))
    allowed = False
    for s in trust:
        p = s.get("Principal")
        aws = as_list(p.get("AWS")) if isinstance(p, dict) else as_list(p)
        if not ({principal_arn, root, account, "*"} & set(aws)):
            continue
        if not any(like(a, action, case_sensitive=False) for a in s.get("Action", [])):
            continue
        if not all(condition_holds(op, key, values, request)
                   for op, keys in (s.get("Condition") or {}).items() for key, values in keys.items()):
            continue
        if s["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


# ---------------------------------------------------------------------------- principals and the check

@dataclass
class Principal:
    """Whose calls: a label, the statements of its policies, its account, and how the
    emulated world's resources read in those policies' terms (exact ARN -> ARN)."""
    label: str
    statements: list[dict]
    account: str
    resources: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)  # ${account} -> …, in the policies
    arn: str | None = None  # the role's ARN, for trust policies

    def resolved(self) -> list[dict]:
        text = json.dumps(self.statements)
        for k, v in self.placeholders.items():
            text = text.replace(k, v)
        return json.loads(text)


@dataclass
class Refusal:
    principal: str
    call: str
    request: Request
    why: str

    def __str__(self) -> str:
        return f"{self.principal}: {self.call}: {self.request.shown()}: {self.why}"


@dataclass
class Checked:
    """The outcome of checking a log: every refusal, and what was checked."""
    refusals: list[Refusal]
    requests: int
    by_principal: dict[str, int]
    unattributed: list[str]


def map_request(request: Request, resources: dict[str, str]) -> Request:
    return Request(request.action, resources.get(request.resource, request.resource), request.context)


def check_log(log: list[dict], principals: dict[str, Principal],
              assumable: dict[str, tuple[Principal, list[dict]]] | None = None,
              trusted_callers: dict[str, str] | None = None) -> Checked:
    """Checks every call of a proxy log against the policies of the principal that made it.

    `principals`: access key id -> principal (the binaries' own credentials).
    `assumable`: role ARN -> (the role as a principal, its trust policy): a key that an
    sts:AssumeRole of that role handed out acts as it, and the AssumeRole itself is checked
    against the caller's policy and the role's trust (the caller named by
    `trusted_callers[caller label]`, its role or user ARN), and the role's calls are labelled
    `<role label> (assumed by <caller label>)`. Calls with keys nobody owns are
    reported as unattributed (a call the check could not judge fails it too).
    """
    assumable = assumable or {}
    trusted_callers = trusted_callers or {}
    keys = dict(principals)
    refusals: list[Refusal] = []
    counts: dict[str, int] = {}
    unattributed = []
    for entry in log:
        who = keys.get(entry.get("key"))
        if who is None:
            unattributed.append(f"{entry['call']} with key {entry.get('key')!r}")
            continue
        statements = who.resolved()
        requests = [] if "error" in (entry.get("iam") or {}) else authorizations(entry, who.account)
        if not requests and entry["call"] not in ALWAYS_ALLOWED:
            refusals.append(Refusal(who.label, entry["call"], Request(entry["call"], "?"),
                                    f"the check could not read what this call asks for: {entry.get('iam')}"))
        for request in requests:
            counts[who.label] = counts.get(who.label, 0) + 1
            decision = evaluate(statements, map_request(request, who.resources))
            if not decision.allowed:
                refusals.append(Refusal(who.label, entry["call"], request, decision.why))
        if entry["call"] == "sts:AssumeRole":
            role = (entry.get("iam") or {}).get("role")
            target = assumable.get(role)
            if target is None:
                refusals.append(Refusal(who.label, entry["call"], Request("sts:AssumeRole", str(role)),
                                        "no such role in the deployment"))
                continue
            as_role, trust = target
            caller = trusted_callers.get(who.label)
            if caller is None or not trusts(trust, caller):
                refusals.append(Refusal(who.label, entry["call"], Request("sts:AssumeRole", str(role)),
                                        f"the role's trust policy does not admit {caller or who.label}"))
            issued = (entry.get("iam") or {}).get("issued_key")
            if issued:
                # Its calls are judged by the role's policy, and counted as made for the caller.
                keys[issued] = dataclasses.replace(as_role, label=f"{as_role.label} (assumed by {who.label})")
    return Checked(refusals, sum(counts.values()), counts, unattributed)
