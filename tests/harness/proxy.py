"""The strict AWS proxy: sits between the binary and moto and makes moto behave like AWS
where ec2-dns's correctness depends on it.

Every request is forwarded unchanged (headers and body bytes; moto does not check
signatures). On the way it:

- identifies the service from the SigV4 credential scope and the operation from the
  request (EC2 `Action`, DynamoDB `X-Amz-Target`, Route53 method + path);
- enforces Route53's rules on ChangeResourceRecordSets, which moto does not: CREATE fails
  over an existing (name, type), DELETE needs the exact current TTL and values, names must
  lie in the zone, a CNAME shares its name with no other record set, every A, AAAA and
  PTR value is valid for its type (moto takes any text), a request stays
  within Route53's limits (1,000 values, 32,000 characters of values), a name and type a
  test protected (Route53's record set protection, which moto does not know) refuses every
  change, and a batch applies all-or-nothing (checked against moto's current records under
  one lock, then forwarded while the lock is still held);
- serialises DynamoDB requests (moto's conditional writes are atomic only one at a time);
- answers EC2's `DescribeInstances` filter `network-interface.network-interface-id`, which
  moto 5.2 does not implement (it fails the call): the filter becomes an `instance-id`
  filter on the instances the interfaces are attached to, found with an uncounted
  `DescribeNetworkInterfaces` signed as the caller (same account and region);
- answers Auto Scaling's CompleteLifecycleAction and RecordLifecycleActionHeartbeat, which
  moto does not emulate, as Auto Scaling does: an action a test began
  (`begin_lifecycle_action`) is completed once, with its token, group, hook and instance,
  by a caller of the action's account in its region (the account of an assumed role's
  credentials is the role's, learnt from the sts:AssumeRole answers; any other key is
  moto's default account), anything else is `ValidationError: No active Lifecycle Action
  found…`; and gives
  DescribeAutoScalingInstances the lifecycle states a test set (`Pending:Wait`,
  `Warmed:Running`, `Terminating:Wait`…), which moto never leaves `InService` for;
- answers Route53's GetChange `PENDING` as many times as a test asks (`pend_changes`): moto's
  changes are `INSYNC` at once, real ones take a while to propagate;
- counts calls per (service, operation), injects faults on demand and holds requests (or
  their answers) until a test releases them, so that tests of timing can order events.

Control API on the same port, under `/__ec2dns/` (see tests/README.md).
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .iam import issued_key, request_facts
from .moto import REGION, boto_client
from .net import LOOPBACK, read_http_body

R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
#: moto's default account: the account of every key not handed out by sts:AssumeRole.
DEFAULT_ACCOUNT = "123456789012"
CONTROL_PREFIX = "/__ec2dns/"

#: The calls that change state, as counted by the proxy ("service:Operation").
WRITE_CALLS = frozenset({
    "route53:ChangeResourceRecordSets",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:TransactWriteItems",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "autoscaling:CompleteLifecycleAction",
    "autoscaling:RecordLifecycleActionHeartbeat",
})

FAULT_KINDS = ("throttle", "prior_request_not_complete", "http500", "access_denied", "timeout",
               "reset", "transaction_conflict")
FAULT_PHASES = ("before", "after")

#: Route53's limits on one ChangeResourceRecordSets request (values of an UPSERT count twice).
R53_MAX_RECORDS = 1000
R53_MAX_VALUE_CHARS = 32000

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
               "te", "trailer", "upgrade", "content-length"}

_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")
# The signer of a request: its access key id and region (SigV4 credential scope).
_SIGNER = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")

# Route53 REST operations: (method, path regex) -> operation name. First match wins.
_R53_ROUTES = [
    ("POST", r"/2013-04-01/hostedzone/[^/]+/rrset/?", "ChangeResourceRecordSets"),
    ("GET", r"/2013-04-01/hostedzone/[^/]+/rrset/?", "ListResourceRecordSets"),
    ("GET", r"/2013-04-01/hostedzone/?", "ListHostedZones"),
    ("POST", r"/2013-04-01/hostedzone/?", "CreateHostedZone"),
    ("GET", r"/2013-04-01/hostedzone/[^/]+/?", "GetHostedZone"),
    ("DELETE", r"/2013-04-01/hostedzone/[^/]+/?", "DeleteHostedZone"),
    ("POST", r"/2013-04-01/hostedzone/[^/]+/?", "UpdateHostedZoneComment"),
    ("GET", r"/2013-04-01/hostedzonesbyname/?", "ListHostedZonesByName"),
    ("GET", r"/2013-04-01/hostedzonesbyvpc/?", "ListHostedZonesByVPC"),
    ("GET", r"/2013-04-01/hostedzonecount/?", "GetHostedZoneCount"),
    ("GET", r"/2013-04-01/change/[^/]+/?", "GetChange"),
    ("POST", r"/2013-04-01/hostedzone/[^/]+/associatevpc/?", "AssociateVPCWithHostedZone"),
    ("GET", r"/2013-04-01/tags/hostedzone/[^/]+/?", "ListTagsForResource"),
]


def _norm_name(name: str) -> str:
    """Route53 names compare case-insensitively, with or without the trailing dot."""
    return name.replace("\\052", "*").strip().rstrip(".").lower()


def _zone_key(zone_id: str) -> str:
    """A hosted zone id with or without its `/hostedzone/` prefix."""
    return str(zone_id).split("/")[-1]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el, name):
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el, name, default=None):
    c = _child(el, name)
    return c.text if c is not None and c.text is not None else default


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

# Lambda's REST operations the CLI calls (`--function`).
_LAMBDA_ROUTES = [
    ("GET", r"/2015-03-31/functions/[^/]+/configuration/?", "GetFunctionConfiguration"),
]


def identify(method: str, path: str, headers, body: bytes) -> tuple[str, str]:
    """(service, operation) of an AWS request, e.g. ("route53", "ChangeResourceRecordSets")."""
    auth = headers.get("Authorization") or ""
    m = _CREDENTIAL.search(auth)
    service = m.group(1) if m else "unknown"
    parsed = urllib.parse.urlsplit(path)
    target = headers.get("X-Amz-Target") or ""
    if service == "dynamodb" or target:
        # AWS JSON protocols (DynamoDB, SQS, ...) name the operation in X-Amz-Target.
        return service, (target.rsplit(".", 1)[-1] or "Unknown")
    if service in ("route53", "lambda"):
        for route_method, pattern, op in _R53_ROUTES if service == "route53" else _LAMBDA_ROUTES:
            if method == route_method and re.fullmatch(pattern, parsed.path):
                return service, op
        return service, f"{method} {parsed.path}"
    # query protocols (EC2 and friends): Action in the form body or the query string
    fields = urllib.parse.parse_qs(parsed.query)
    ctype = headers.get("Content-Type") or ""
    if body and ("x-www-form-urlencoded" in ctype or not ctype):
        try:
            fields.update(urllib.parse.parse_qs(body.decode("utf-8")))
        except UnicodeDecodeError:
            pass
    action = fields.get("Action", [None])[0]
    return service, action or f"{method} {parsed.path}"


# --------------------------------------------------------------------------- faults


@dataclass
class Fault:
    """One injected failure. `count` is the number of firings left (a fault whose count
    reaches 0 leaves `faults()`); `fired` counts the firings so far, so that a test can
    prove its fault was exercised even after it is used up (`fault_history()`)."""

    service: str
    operation: str = "*"
    fault: str = "throttle"
    phase: str = "before"
    count: int = 1
    delay_s: float = 0.0
    path: str = ""  # fires only for requests whose path contains this (a hosted zone id)
    id: str = ""  # given by the proxy when the fault is added
    fired: int = 0

    @classmethod
    def from_json(cls, data: dict) -> "Fault":
        if not isinstance(data, dict) or "service" not in data:
            raise ValueError("fault needs at least 'service'")
        unknown = set(data) - {"service", "operation", "fault", "phase", "count", "delay_s", "path"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        f = cls(
            service=str(data["service"]),
            operation=str(data.get("operation") or "*"),
            fault=str(data.get("fault", "throttle")),
            phase=str(data.get("phase", "before")),
            count=int(data.get("count", 1)),
            delay_s=float(data.get("delay_s", 0)),
            path=str(data.get("path", "")),
        )
        if f.fault not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {FAULT_KINDS}")
        if f.phase not in FAULT_PHASES:
            raise ValueError(f"phase must be one of {FAULT_PHASES}")
        if f.count < 1:
            raise ValueError("count must be >= 1")
        if f.fault == "transaction_conflict" and f.service != "dynamodb":
            raise ValueError("a transaction_conflict fault exists only for service 'dynamodb'")
        return f

    def matches(self, service: str, operation: str, path: str = "") -> bool:
        return _matches(self.service, self.operation, self.path, service, operation, path)


def _matches(want_service: str, want_operation: str, want_path: str,
             service: str, operation: str, path: str) -> bool:
    """The matching rule shared by faults and holds: service and operation ("*" for any),
    and, if given, a substring of the request path (a hosted zone id, say)."""
    return want_service in ("*", service) and want_operation in ("*", operation) \
        and want_path in path


class Hold:
    """Holds matching requests inside the proxy until the test releases them.

    Faults can only fail a call; a test of timing needs to *order* calls: let a request
    reach Route53 late (`phase="before"`: it waits, then is validated and forwarded as if
    it had just arrived, against the state at release time), or let a write take effect
    while its caller has not heard back yet (`phase="after"`: forwarded at once, only the
    answer waits). A waiting request holds none of the proxy's locks, so everything else
    flows meanwhile. After `count` matches the hold stops matching; `release()` lets every
    held request go on and disarms the hold for good.
    """

    def __init__(self, id: str, service: str, operation: str = "*", phase: str = "before",
                 path: str = "", count: int = 1):
        if not service:
            raise ValueError("hold needs 'service'")
        if phase not in FAULT_PHASES:
            raise ValueError(f"phase must be one of {FAULT_PHASES}")
        if int(count) < 1:
            raise ValueError("count must be >= 1")
        self.id = id
        self.service, self.operation = str(service), str(operation or "*")
        self.phase, self.path, self.count = str(phase), str(path), int(count)
        self._cond = threading.Condition()
        self._held = 0
        self._fired = 0
        self._released = False

    @classmethod
    def from_json(cls, id: str, data: dict) -> "Hold":
        if not isinstance(data, dict) or "service" not in data:
            raise ValueError("hold needs at least 'service'")
        unknown = set(data) - {"service", "operation", "phase", "path", "count"}
        if unknown:
            raise ValueError(f"unknown hold fields: {sorted(unknown)}")
        return cls(id, **data)

    @property
    def held(self) -> int:
        """Requests waiting on this hold right now."""
        with self._cond:
            return self._held

    @property
    def fired(self) -> int:
        """Requests that matched this hold so far."""
        with self._cond:
            return self._fired

    @property
    def released(self) -> bool:
        with self._cond:
            return self._released

    def wait_held(self, timeout: float = 10.0) -> bool:
        """Block until a matching request is being held; False if none is after `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: self._held > 0, timeout)

    def release(self) -> None:
        """Let every held request go on; from now on the hold matches nothing."""
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def to_json(self) -> dict:
        with self._cond:
            return {"id": self.id, "service": self.service, "operation": self.operation,
                    "phase": self.phase, "path": self.path, "count": self.count,
                    "held": self._held, "fired": self._fired, "released": self._released}

    def __enter__(self) -> "Hold":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Hold({self.to_json()})"

    # -- used by the proxy's request threads
    def _claim(self, phase: str, service: str, operation: str, path: str) -> bool:
        """Count a request as matched if this hold still takes it (atomic per hold)."""
        with self._cond:
            if self._released or self._fired >= self.count or phase != self.phase \
                    or not _matches(self.service, self.operation, self.path,
                                    service, operation, path):
                return False
            self._fired += 1
            return True

    def _wait(self) -> None:
        with self._cond:
            if self._released:
                return
            self._held += 1
            self._cond.notify_all()
            while not self._released:
                self._cond.wait()
            self._held -= 1


_DENIED = "User is not authorized to perform this operation (injected by the test proxy)"


def _request_id() -> str:
    return str(uuid.uuid4())


_TRANSACTION_ONGOING = "Transaction is ongoing for the item"


def _transact_item_count(body: bytes) -> int:
    """Number of `TransactItems` in a DynamoDB transaction request (at least 1)."""
    try:
        items = json.loads(body or b"{}").get("TransactItems")
    except (ValueError, AttributeError):
        items = None
    return len(items) if isinstance(items, list) and items else 1


def _dynamodb_transaction_conflict(operation: str, body: bytes, rid: str):
    """DynamoDB's answer when a concurrent transaction holds an item of the request.

    A transaction is cancelled as a whole with one reason per item (here the first item
    conflicts, the others have no error); a single-item write fails with
    TransactionConflictException. Both are 400s the SDKs parse as modeled errors.
    """
    if operation in ("TransactWriteItems", "TransactGetItems"):
        code = "TransactionCanceledException"
        reasons = [{"Code": "TransactionConflict", "Message": _TRANSACTION_ONGOING}] + \
            [{"Code": "None"}] * (_transact_item_count(body) - 1)
        message = ("Transaction cancelled, please refer cancellation reasons for specific "
                   f"reasons [{', '.join(r['Code'] for r in reasons)}]")
        data = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                "CancellationReasons": reasons, "Message": message}
    else:
        code = "TransactionConflictException"
        data = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                "message": _TRANSACTION_ONGOING}
    return 400, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code),
                 ("x-amzn-RequestId", rid)], json.dumps(data).encode()


def error_response(service: str, kind: str, message: str | None = None, operation: str = "",
                   body: bytes = b""):
    """(status, headers, body) of an error in the service's own wire format.

    `operation` and the request `body` matter only where the error's shape depends on the
    request (a cancelled DynamoDB transaction gives one reason per item).
    """
    rid = _request_id()
    if service == "dynamodb" and kind == "transaction_conflict":
        return _dynamodb_transaction_conflict(operation, body, rid)
    if service == "dynamodb":
        code, status, msg = {
            "throttle": ("ThrottlingException", 400,
                         "Rate of requests exceeds the allowed throughput."),
            "prior_request_not_complete": ("ThrottlingException", 400,
                                           "Rate of requests exceeds the allowed throughput."),
            "http500": ("InternalServerError", 500, "Internal server error"),
            "access_denied": ("AccessDeniedException", 400, _DENIED),
        }[kind]
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                           "message": message or msg})
        return status, [("Content-Type", "application/x-amz-json-1.0"),
                        ("x-amzn-ErrorType", code), ("x-amzn-RequestId", rid)], body.encode()
    if service == "ec2":
        code, status, msg = {
            "throttle": ("RequestLimitExceeded", 503, "Request limit exceeded."),
            "prior_request_not_complete": ("RequestLimitExceeded", 503, "Request limit exceeded."),
            "http500": ("InternalError", 500, "An internal error has occurred"),
            "access_denied": ("UnauthorizedOperation", 403, _DENIED),
        }[kind]
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{_xml_escape(message or msg)}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>")
        return status, [("Content-Type", "text/xml;charset=UTF-8")], body.encode()
    # Route53 (and anything else speaking restXml)
    code, status, etype, msg = {
        "throttle": ("Throttling", 400, "Sender", "Rate exceeded"),
        "prior_request_not_complete": ("PriorRequestNotComplete", 400, "Sender",
                                       "The request was rejected because Route 53 was still "
                                       "processing a prior request."),
        "http500": ("InternalError", 500, "Receiver", "An internal error occurred."),
        "access_denied": ("AccessDenied", 403, "Sender", _DENIED),
    }[kind]
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], \
        _r53_error_body(code, message or msg, etype, rid)


def _r53_error_body(code: str, message: str, etype: str = "Sender", rid: str | None = None) -> bytes:
    return (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{R53_NS}"><Error><Type>{etype}</Type>'
            f"<Code>{code}</Code><Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{rid or _request_id()}</RequestId></ErrorResponse>").encode()


# --------------------------------------------------------------------------- Route53 rules


@dataclass(frozen=True)
class _Change:
    action: str
    name: str
    rtype: str
    set_id: str | None
    ttl: int | None
    values: frozenset
    ordered_values: tuple = ()
    value_chars: int = 0  # characters of the Value elements as sent (Route53's 32,000 limit)

    @property
    def key(self):
        return (_norm_name(self.name), self.rtype.upper(), self.set_id)

    @property
    def shown(self) -> str:
        return f"[name='{_norm_name(self.name)}.', type='{self.rtype.upper()}'" + (
            f", set-identifier='{self.set_id}']" if self.set_id else "]")


def parse_change_batch(body: bytes) -> list[_Change]:
    root = ET.fromstring(body)
    batch = _child(root, "ChangeBatch")
    changes = _child(batch, "Changes") if batch is not None else None
    out = []
    for ch in (list(changes) if changes is not None else []):
        rrset = _child(ch, "ResourceRecordSet")
        ordered: list[str] = []
        chars = 0
        rrs = _child(rrset, "ResourceRecords")
        if rrs is not None:
            for rr in rrs:
                raw = _text(rr, "Value", "") or ""
                chars += len(raw)
                ordered.append(raw.strip())
        values = set(ordered)
        alias = _child(rrset, "AliasTarget")
        if alias is not None:
            values.add("ALIAS " + _norm_name(_text(alias, "DNSName", "")))
        ttl = _text(rrset, "TTL")
        out.append(_Change(
            action=(_text(ch, "Action", "") or "").upper(),
            name=_text(rrset, "Name", "") or "",
            rtype=_text(rrset, "Type", "") or "",
            set_id=_text(rrset, "SetIdentifier"),
            ttl=int(ttl) if ttl is not None else None,
            values=frozenset(values),
            ordered_values=tuple(ordered),
            value_chars=chars,
        ))
    return out


def batch_limit_errors(changes: list[_Change]) -> list[str]:
    """Route53's limits on one request, checked before anything else is looked at.

    Route53 refuses, never splits: more than 1,000 ResourceRecord elements, or more than
    32,000 characters over all Value elements, where an UPSERT's values count twice (it
    may delete and create). Whoever writes large batches must split them themselves.
    """
    records = sum(len(c.ordered_values) * (2 if c.action == "UPSERT" else 1) for c in changes)
    chars = sum(c.value_chars * (2 if c.action == "UPSERT" else 1) for c in changes)
    errors = []
    if records > R53_MAX_RECORDS:
        errors.append(f"Number of records limit of {R53_MAX_RECORDS} exceeded.")
    if chars > R53_MAX_VALUE_CHARS:
        errors.append(f"RDATA character limit of {R53_MAX_VALUE_CHARS} exceeded.")
    return errors


def protection_errors(protected: dict, changes: list[_Change]) -> list[str]:
    """The refusals of a batch's changes that record set protections cover.

    `protected` maps (name, type) of one zone to the protection's comment (or None). AWS
    documents the refusal (InvalidChangeBatch, the message carrying the comment) but not its
    text; this one is modelled on Route53's other InvalidChangeBatch messages, like the Rust
    fake's (`lambda/src/testing/fakes.rs`, `protection_message`).
    """
    errors = []
    for c in changes:
        key = (c.key[0], c.key[1])
        if key not in protected:
            continue
        message = (f"Tried to {c.action.lower()} resource record set {c.shown} but it is "
                   "protected by a resource record set protection")
        if protected[key]:
            message += f" (comment: {protected[key]})"
        errors.append(message)
    return errors


def _cname_conflict(present: Counter, name: str, zone: str, rtype: str) -> str | None:
    """Why a record set of type `rtype` may not be written at `name`, given the types of
    the record sets already there (`present`); None if it may.

    A CNAME is alone at its name (RFC 1034 3.6.2; Route53 enforces it, moto does not): no
    other type beside a CNAME, no CNAME beside another type, no CNAME at the apex (where
    SOA and NS live). Several CNAME sets of one name (weighted, say) are fine.
    """
    if rtype == "CNAME" and name == zone:
        return f"RRSet of type CNAME with DNS name {name}. is not permitted at apex in zone {zone}."
    if rtype == "CNAME":
        others = sorted(t for t, n in present.items() if n > 0 and t != "CNAME")
        conflict = others[0] if others else None
    else:
        conflict = "CNAME" if present.get("CNAME", 0) > 0 else None
    if conflict is None:
        return None
    return (f"RRSet of type {rtype} with DNS name {name}. is not permitted because a "
            f"conflicting RRSet of type {conflict} with the same DNS name already exists in "
            f"zone {zone}.")


def _invalid_value(rtype: str, value: str) -> str | None:
    """Route53's check of one value of a record set (moto checks none): an A value is an
    IPv4 address, an AAAA value an IPv6 address, a PTR value a domain name (labels of 1-63
    characters, 255 in all; a trailing dot is the root). The message is Route53's
    (`Invalid Resource Record: 'FATAL problem: …'`), like the Rust fake's
    (`lambda/src/testing/fakes.rs`, `invalid_value`)."""
    import ipaddress

    problem = None
    if rtype == "A":
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            problem = "ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)"
    elif rtype == "AAAA":
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            problem = "AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)"
    elif rtype == "PTR":
        labels = value[:-1] if value.endswith(".") else value
        if len(value) > 255:
            problem = "DomainNameTooLong (Domain name is too long)"
        elif not labels or any(not label for label in labels.split(".")):
            problem = "DomainLabelEmpty (Domain label is empty)"
        elif any(len(label) > 63 for label in labels.split(".")):
            problem = "DomainLabelTooLong (Domain label is too long)"
    if problem is None:
        return None
    return f"Invalid Resource Record: 'FATAL problem: {problem} encountered with '{value}''"


def check_change_batch(zone_name: str, current: dict, changes: list[_Change]) -> list[str]:
    """Simulate a batch on `current` ({key: (ttl, frozenset(values))}) the way Route53 does.

    Returns the error messages; an empty list means the whole batch is valid. A request
    over Route53's limits is refused with the limit alone, before any change is checked.
    Each change is checked against the state as the batch has left it so far, so a batch
    may delete a CNAME and create another type in its place.
    """
    if not changes:
        return ["No changes in the change batch"]
    limits = batch_limit_errors(changes)
    if limits:
        return limits
    invalid = [why for c in changes for v in c.ordered_values
               if (why := _invalid_value(c.rtype.upper(), v)) is not None]
    if invalid:
        return invalid
    state = dict(current)
    types_at: dict[str, Counter] = {}  # name -> {type: record sets}, for the CNAME rule
    for name, rtype, _set_id in state:
        types_at.setdefault(name, Counter())[rtype] += 1
    zone = _norm_name(zone_name)
    errors = []
    for c in changes:
        name, rtype = c.key[0], c.key[1]
        if not (name == zone or name.endswith("." + zone)):
            errors.append(f"RRSet with DNS name {name}. is not permitted in zone {zone}.")
            continue
        value = (c.ttl, c.values)
        if c.action in ("CREATE", "UPSERT"):
            if c.action == "CREATE" and c.key in state:
                errors.append(f"Tried to create resource record set {c.shown} but it already exists")
                continue
            conflict = _cname_conflict(types_at.get(name, Counter()), name, zone, rtype)
            if conflict is not None:
                errors.append(conflict)
                continue
            if c.key not in state:
                types_at.setdefault(name, Counter())[rtype] += 1
            state[c.key] = value
        elif c.action == "DELETE":
            if c.key not in state:
                errors.append(f"Tried to delete resource record set {c.shown} but it was not found")
            elif state[c.key] != value:
                errors.append(f"Tried to delete resource record set {c.shown} but the values "
                              "provided do not match the current values")
            else:
                del state[c.key]
                types_at[name][rtype] -= 1
        else:
            errors.append(f"Invalid action {c.action!r}")
    return errors


# --------------------------------------------------------------------------- the proxy


_CHANGE_ELEMENT = re.compile(rb"<Change>.*?</Change>", re.S)
_MOTO_VALUES_PER_REQUEST = R53_MAX_RECORDS  # Route53's limit, which moto applies too


def _split_by_weight(items: list, weights: list[int], limit: int = _MOTO_VALUES_PER_REQUEST):
    """Consecutive parts of `items` whose weights each sum to at most `limit` (an item
    heavier than the limit travels alone)."""
    parts, cur, total = [], [], 0
    for item, weight in zip(items, weights):
        if cur and total + weight > limit:
            parts.append(cur)
            cur, total = [], 0
        cur.append(item)
        total += weight
    if cur:
        parts.append(cur)
    return parts


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: "AwsProxy"

    def handle_error(self, request, client_address):  # sockets we reset on purpose
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):  # quiet
        pass

    def _handle(self):
        try:
            body = read_http_body(self.rfile, self.headers)
            if self.path.startswith(CONTROL_PREFIX):
                self.server.proxy._control(self, body)
            else:
                self.server.proxy._forward(self, body)
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def respond(self, status: int, headers, body: bytes):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in _HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def respond_json(self, status: int, data) -> None:
        self.respond(status, [("Content-Type", "application/json")], json.dumps(data).encode())

    def reset_connection(self):
        """Close the socket without answering (RST)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass


class AwsProxy:
    """Strict AWS proxy in front of a moto server. `start()` binds 127.0.0.1 on a free port."""

    def __init__(self, upstream_url: str):
        u = urllib.parse.urlsplit(upstream_url)
        self.upstream_host, self.upstream_port = u.hostname, u.port
        self.upstream_url = upstream_url
        self._r53 = boto_client("route53", upstream_url)
        self._route53_lock = threading.Lock()
        self._dynamodb_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._calls: Counter = Counter()
        self._log: list[dict] = []
        self._faults: list[Fault] = []
        self._fault_history: list[Fault] = []
        self._holds: list[Hold] = []
        # Record set protections: zone id -> {(name, type): comment or None}.
        self._protected: dict[str, dict[tuple[str, str], str | None]] = {}
        # Auto Scaling lifecycle actions (which moto does not emulate): token -> action,
        # those completed (with their result) and the heartbeats, in order; and lifecycle
        # states that override moto's InService.
        self._actions: dict[str, dict] = {}
        self._completed: list[dict] = []
        self._heartbeats: list[dict] = []
        self._lifecycle_states: dict[str, str] = {}
        # Access keys sts:AssumeRole handed out -> the account of the assumed role.
        self._key_accounts: dict[str, str] = {}
        # How many more GetChange answers say PENDING (pend_changes).
        self._pending_changes = 0
        self._ids = itertools.count(1)
        self.split_route53_batches = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> "AwsProxy":
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        # A held request would otherwise block its thread (and its client) for good.
        self.release_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- in-process control (same effect as the HTTP control API)
    def calls(self) -> dict[str, int]:
        with self._state_lock:
            return dict(self._calls)

    def call_log(self) -> list[dict]:
        with self._state_lock:
            return list(self._log)

    def reset_calls(self) -> None:
        with self._state_lock:
            self._calls.clear()
            self._log.clear()

    def add_fault(self, **spec) -> Fault:
        """Add a fault; the returned object's `fired` shows how often it has injected."""
        fault = Fault.from_json(spec)
        with self._state_lock:
            fault.id = f"fault-{next(self._ids)}"
            self._faults.append(fault)
            self._fault_history.append(fault)
        return fault

    def faults(self) -> list[dict]:
        """The faults still pending (not used up, not cleared)."""
        with self._state_lock:
            return [asdict(f) for f in self._faults]

    def fault_history(self) -> list[dict]:
        """Every fault ever added, used up and cleared ones included, with `fired`."""
        with self._state_lock:
            return [asdict(f) for f in self._fault_history]

    def clear_faults(self) -> None:
        """Remove the pending faults (they stay in `fault_history()`)."""
        with self._state_lock:
            self._faults.clear()

    def hold(self, service: str, operation: str = "*", phase: str = "before", path: str = "",
             count: int = 1) -> Hold:
        """Hold the next `count` matching requests until `release()` (see `Hold`)."""
        return self._add_hold({"service": service, "operation": operation, "phase": phase,
                               "path": path, "count": count})

    def _add_hold(self, spec: dict) -> Hold:
        with self._state_lock:
            hold = Hold.from_json(f"hold-{next(self._ids)}", spec)
            self._holds.append(hold)
        return hold

    def holds(self) -> list[dict]:
        """Every hold added, released ones included, with `held` and `fired`."""
        with self._state_lock:
            holds = list(self._holds)
        return [h.to_json() for h in holds]

    def release(self, hold_id: str) -> Hold:
        """Release one hold by id (KeyError if there is none)."""
        with self._state_lock:
            found = [h for h in self._holds if h.id == hold_id]
        if not found:
            raise KeyError(hold_id)
        found[0].release()
        return found[0]

    def release_all(self) -> None:
        """Release every hold: nothing stays blocked, nothing is held any more."""
        with self._state_lock:
            holds = list(self._holds)
        for h in holds:
            h.release()

    def protect(self, zone_id: str, name: str, rtype: str, comment: str | None = None) -> None:
        """Protect a name and type in a zone (Route53's CreateResourceRecordSetProtections):
        every change of it is refused with InvalidChangeBatch, a CREATE where nothing exists
        yet included."""
        with self._state_lock:
            self._protected.setdefault(_zone_key(zone_id), {})[
                (_norm_name(name), rtype.upper())] = comment

    def unprotect(self, zone_id: str, name: str, rtype: str) -> None:
        """Delete a protection (DeleteResourceRecordSetProtections)."""
        with self._state_lock:
            self._protected.get(_zone_key(zone_id), {}).pop((_norm_name(name), rtype.upper()), None)

    def protections(self) -> list[dict]:
        with self._state_lock:
            return [{"zone_id": z, "name": n, "type": t, "comment": c}
                    for z, keys in self._protected.items() for (n, t), c in keys.items()]

    def begin_lifecycle_action(self, token: str, group: str, hook: str, instance_id: str,
                               state: str | None = None, *, account: str = DEFAULT_ACCOUNT,
                               region: str = REGION) -> None:
        """Auto Scaling starts a lifecycle action of a group in `account` and `region`: the
        instance waits (in `state`, when given, as DescribeAutoScalingInstances will say)
        until the action is completed there."""
        with self._state_lock:
            self._actions[token] = {"token": token, "group": group, "hook": hook,
                                    "instance_id": instance_id, "account": account,
                                    "region": region}
            if state is not None:
                self._lifecycle_states[instance_id] = state

    def pend_changes(self, answers: int) -> None:
        """The next `answers` GetChange answers say `PENDING` instead of moto's `INSYNC`
        (Route53 still propagating the change)."""
        with self._state_lock:
            self._pending_changes = answers

    def set_lifecycle_state(self, instance_id: str, state: str | None) -> None:
        """What DescribeAutoScalingInstances says of an instance (None: what moto says)."""
        with self._state_lock:
            if state is None:
                self._lifecycle_states.pop(instance_id, None)
            else:
                self._lifecycle_states[instance_id] = state

    def lifecycle_actions(self) -> dict:
        """{"pending": [...], "completed": [...], "heartbeats": [...]}: each action with its
        token, group, hook, instance_id, account and region; a completion with its "result",
        completions and heartbeats with the access "key" that signed them."""
        with self._state_lock:
            return {"pending": list(self._actions.values()), "completed": list(self._completed),
                    "heartbeats": list(self._heartbeats)}

    def _lifecycle_call(self, operation: str, body: bytes, key: str | None, region: str | None):
        """CompleteLifecycleAction or RecordLifecycleActionHeartbeat signed with `key` in
        `region`, as Auto Scaling answers them; (status, headers, body). An action is seen
        only by callers of its own account and region."""
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8")).items()}
        token = form.get("LifecycleActionToken", "")
        rid = _request_id()
        ns = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
        with self._state_lock:
            action = self._actions.get(token)
            account = self._key_accounts.get(key or "", DEFAULT_ACCOUNT)
            active = (action is not None
                      and (account, region) == (action["account"], action["region"])
                      and form.get("AutoScalingGroupName") == action["group"]
                      and form.get("LifecycleHookName") == action["hook"]
                      and form.get("InstanceId", action["instance_id"]) == action["instance_id"])
            result = form.get("LifecycleActionResult")
            if active and operation == "CompleteLifecycleAction" and result in ("CONTINUE", "ABANDON"):
                del self._actions[token]
                self._completed.append({**action, "result": result, "key": key})
            elif active and operation == "RecordLifecycleActionHeartbeat":
                self._heartbeats.append({**action, "key": key})
            else:
                message = (f"No active Lifecycle Action found with token {token}" if not active
                           else f"LifecycleActionResult {result!r} must be CONTINUE or ABANDON")
                xml = (f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type>'
                       f"<Code>ValidationError</Code><Message>{_xml_escape(message)}</Message>"
                       f"</Error><RequestId>{rid}</RequestId></ErrorResponse>")
                return 400, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], xml.encode()
        xml = (f'<{operation}Response xmlns="{ns}"><{operation}Result/>'
               f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
               f"</{operation}Response>")
        return 200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], xml.encode()

    def _override_lifecycle_states(self, data: bytes) -> bytes:
        """moto's DescribeAutoScalingInstances answer with the states a test set."""
        with self._state_lock:
            states = dict(self._lifecycle_states)
        if not states:
            return data

        def member(m: re.Match) -> str:
            block = m.group(0)
            iid = re.search(r"<InstanceId>([^<]+)</InstanceId>", block)
            if iid and iid.group(1) in states:
                block = re.sub(r"<LifecycleState>[^<]*</LifecycleState>",
                               f"<LifecycleState>{states[iid.group(1)]}</LifecycleState>", block)
            return block

        text = data.decode("utf-8")
        return re.sub(r"<member>.*?</member>", member, text, flags=re.S).encode()

    def write_calls(self) -> dict[str, int]:
        return {k: v for k, v in self.calls().items() if k in WRITE_CALLS and v}

    # -- internals
    def _take_fault(self, service: str, operation: str, path: str = "") -> Fault | None:
        with self._state_lock:
            for f in self._faults:
                if f.matches(service, operation, path):
                    f.count -= 1
                    f.fired += 1
                    if f.count <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def _take_hold(self, phase: str, service: str, operation: str, path: str) -> Hold | None:
        """The first hold of `phase` that takes this request (counted as fired), if any."""
        with self._state_lock:
            for hold in self._holds:
                if hold._claim(phase, service, operation, path):
                    return hold
        return None

    def _record(self, entry: dict) -> None:
        with self._state_lock:
            self._log.append(entry)

    def _control(self, h: _Handler, body: bytes) -> None:
        path = urllib.parse.urlsplit(h.path).path.rstrip("/")
        method = h.command
        try:
            if path == "/__ec2dns/calls" and method == "GET":
                return h.respond_json(200, self.calls())
            if path == "/__ec2dns/calls/reset" and method == "POST":
                self.reset_calls()
                return h.respond_json(200, {})
            if path == "/__ec2dns/log" and method == "GET":
                return h.respond_json(200, self.call_log())
            if path == "/__ec2dns/faults" and method == "GET":
                return h.respond_json(200, self.faults())
            if path == "/__ec2dns/faults" and method == "POST":
                fault = self.add_fault(**json.loads(body or b"{}"))
                return h.respond_json(201, asdict(fault))
            if path == "/__ec2dns/faults" and method == "DELETE":
                self.clear_faults()
                return h.respond_json(200, {})
            if path == "/__ec2dns/faults/history" and method == "GET":
                return h.respond_json(200, self.fault_history())
            if path == "/__ec2dns/holds" and method == "GET":
                return h.respond_json(200, self.holds())
            if path == "/__ec2dns/holds" and method == "POST":
                hold = self._add_hold(json.loads(body or b"{}"))
                return h.respond_json(201, hold.to_json())
            if path == "/__ec2dns/holds/release" and method == "POST":
                self.release_all()
                return h.respond_json(200, {})
            m = re.fullmatch(r"/__ec2dns/holds/([^/]+)/release", path)
            if m and method == "POST":
                try:
                    return h.respond_json(200, self.release(m.group(1)).to_json())
                except KeyError:
                    return h.respond_json(404, {"error": f"no hold {m.group(1)}"})
            if path == "/__ec2dns/route53/protections" and method == "GET":
                return h.respond_json(200, self.protections())
            if path == "/__ec2dns/route53/protections" and method in ("POST", "DELETE"):
                spec = json.loads(body or b"{}")
                if method == "POST":
                    self.protect(spec["zone_id"], spec["name"], spec["type"], spec.get("comment"))
                else:
                    self.unprotect(spec["zone_id"], spec["name"], spec["type"])
                return h.respond_json(200, self.protections())
            if path == "/__ec2dns/health" and method == "GET":
                return h.respond_json(200, {"upstream": self.upstream_url})
        except (ValueError, TypeError, KeyError) as e:
            return h.respond_json(400, {"error": str(e)})
        return h.respond_json(404, {"error": f"no control route {method} {path}"})

    def _upstream(self, h: _Handler, body: bytes):
        """Send the request to moto unchanged; (status, headers, body)."""
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            headers = {}
            for k, v in h.headers.items():
                if k.lower() in _HOP_BY_HOP:
                    continue
                headers[k] = v
            headers["Content-Length"] = str(len(body))
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def _forward(self, h: _Handler, body: bytes) -> None:
        service, operation = identify(h.command, h.path, h.headers, body)
        call = f"{service}:{operation}"
        with self._state_lock:
            self._calls[call] += 1
        entry = {"call": call, "t": time.time()}
        if service == "sqs":  # small JSON requests whose parameters tests check
            entry["request"] = body.decode("utf-8", "replace")
        # Who signed it, where, and what IAM would authorise it by (tests/e2e/test_iam.py).
        signer = _SIGNER.search(h.headers.get("Authorization") or "")
        if signer:
            entry["key"], entry["region"] = signer.group(1), signer.group(2)
        try:
            entry["iam"] = request_facts(service, operation, h.command, h.path, body)
        except Exception as e:  # noqa: BLE001 - a fact the check lacks fails the check, not the call
            entry["iam"] = {"error": f"{type(e).__name__}: {e}"}
        recorded = False

        def answer(status: int | str, headers=(), data: bytes = b"") -> None:
            """Log the call, then answer it (`status="reset"`: close without answering).

            In this order so that a caller that has its answer finds its call in the log.
            """
            nonlocal recorded
            entry["status"] = status
            self._record(entry)
            recorded = True
            if status == "reset":
                h.reset_connection()
            else:
                h.respond(status, headers, data)

        try:
            # Held before anything else and outside every lock: on release the request
            # goes on exactly as if it had just arrived (faults, Route53 check, forward).
            hold = self._take_hold("before", service, operation, h.path)
            if hold is not None:
                entry["holds"] = [f"{hold.id}/before"]
                hold._wait()
            fault = self._take_fault(service, operation, h.path)
            if fault is not None:
                entry["fault"] = f"{fault.fault}/{fault.phase}"
                entry["fault_id"] = fault.id
            if fault is not None and fault.phase == "before":
                if fault.fault == "reset":
                    return answer("reset")
                if fault.fault == "timeout":
                    time.sleep(fault.delay_s)
                else:
                    return answer(*error_response(service, fault.fault, operation=operation,
                                                  body=body))

            if service == "route53" and operation == "ChangeResourceRecordSets":
                with self._route53_lock:
                    rejected, changes, zone_id = self._check_route53(h.path, body)
                    if rejected is not None:
                        entry["rejected"] = rejected
                        return answer(400, [("Content-Type", "text/xml"),
                                            ("x-amzn-RequestId", _request_id())],
                                      _r53_error_body("InvalidChangeBatch", rejected))
                    sent = self._prepare_for_moto(zone_id, changes, body) if changes else body
                    status, headers, data = self._upstream_change_batch(h, sent)
            elif service == "dynamodb":
                with self._dynamodb_lock:
                    status, headers, data = self._upstream(h, body)
            elif call == "ec2:DescribeInstances":
                status, headers, data = self._upstream(h, self._interface_filter(h, body))
            elif call == "route53:GetChange":
                status, headers, data = self._upstream(h, body)
                with self._state_lock:
                    pend = status == 200 and self._pending_changes > 0
                    if pend:
                        self._pending_changes -= 1
                if pend:
                    data = data.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
                    entry["pending"] = True
            elif service == "autoscaling" and operation in ("CompleteLifecycleAction",
                                                            "RecordLifecycleActionHeartbeat"):
                entry["request"] = body.decode("utf-8", "replace")
                status, headers, data = self._lifecycle_call(operation, body, entry.get("key"),
                                                              entry.get("region"))
            elif service == "autoscaling" and operation == "DescribeAutoScalingInstances":
                entry["request"] = body.decode("utf-8", "replace")
                status, headers, data = self._upstream(h, body)
                if status == 200:
                    data = self._override_lifecycle_states(data)
                    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            else:
                status, headers, data = self._upstream(h, body)
            # What moto answered, kept apart from what the caller gets (an "after" fault
            # replaces the answer of a request that was forwarded all the same).
            entry["status"] = entry["upstream_status"] = status
            if call == "sts:AssumeRole" and status == 200:
                # The credentials it hands out: their calls act as the assumed role.
                entry["iam"]["issued_key"] = issued_key(data)
                role = entry["iam"].get("role") or ""
                if entry["iam"]["issued_key"] and re.fullmatch(r"arn:[^:]+:iam::[0-9]{12}:role/.+", role):
                    with self._state_lock:
                        self._key_accounts[entry["iam"]["issued_key"]] = role.split(":")[4]

            # The request has taken effect and no lock is held: only the answer waits.
            hold = self._take_hold("after", service, operation, h.path)
            if hold is not None:
                entry.setdefault("holds", []).append(f"{hold.id}/after")
                hold._wait()

            if fault is not None and fault.phase == "after":
                if fault.fault == "reset":
                    return answer("reset")
                if fault.fault == "timeout":
                    time.sleep(fault.delay_s)
                else:
                    return answer(*error_response(service, fault.fault, operation=operation,
                                                  body=body))
            answer(status, headers, data)
        finally:
            if not recorded:  # moto unreachable, the caller gone: still a call
                self._record(entry)

    def _interface_filter(self, h: _Handler, body: bytes) -> bytes:
        """A DescribeInstances body moto can answer: each `network-interface.network-interface-id`
        filter (which moto does not implement) becomes an `instance-id` filter naming the
        instances those interfaces are attached to (one that matches nothing when none is),
        as EC2 answers it. Any other body is returned as it is."""
        try:
            fields = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return body
        names = {k: v for k, v in fields
                 if re.fullmatch(r"Filter\.\d+\.Name", k) and v == "network-interface.network-interface-id"}
        if not names:
            return body
        for key in names:
            n = key.split(".")[1]
            prefix = f"Filter.{n}.Value."
            enis = [v for k, v in fields if k.startswith(prefix)]
            ids = self._attached_instances(h, fields, enis) or ["i-00000000000000000"]
            fields = [(k, v) for k, v in fields if not k.startswith(prefix)]
            fields = [(k, "instance-id" if k == key else v) for k, v in fields]
            fields += [(f"{prefix}{i + 1}", iid) for i, iid in enumerate(ids)]
        return urllib.parse.urlencode(fields).encode()

    def _attached_instances(self, h: _Handler, fields: list, enis: list[str]) -> list[str]:
        """The instances `enis` are attached to, asked of moto as the caller (uncounted)."""
        version = next((v for k, v in fields if k == "Version"), "2016-11-15")
        query = [("Action", "DescribeNetworkInterfaces"), ("Version", version),
                 ("Filter.1.Name", "network-interface-id")]
        query += [(f"Filter.1.Value.{i + 1}", e) for i, e in enumerate(enis)]
        status, _, data = self._upstream(h, urllib.parse.urlencode(query).encode())
        if status != 200:
            return []
        ids = []
        for el in ET.fromstring(data).iter():
            if _local(el.tag) == "attachment":
                iid, state = _text(el, "instanceId"), _text(el, "status")
                if iid and state in ("attaching", "attached"):
                    ids.append(iid)
        return ids

    def _prepare_for_moto(self, zone_id: str, changes: list[_Change], body: bytes) -> bytes:
        """Make moto apply a batch the proxy has validated, without its own checks misfiring.

        moto checks a DELETE against its journal of past CREATE/UPSERT requests (same value
        order, name spelled the same) and re-checks a repeated CREATE against the wrong
        records, so a valid batch can be refused. The proxy's validation replaces those
        checks: each DELETE is preceded by an UPSERT of exactly the record set it deletes
        (a no-op on the zone's content, it satisfies the journal), and CREATE is sent as
        UPSERT (the record is known not to exist). Everything else in the request is
        forwarded as it came.
        """
        primes = [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": c.name.strip("."), "Type": c.rtype, "TTL": c.ttl,
            "ResourceRecords": [{"Value": v} for v in c.ordered_values]}}
            for c in changes if c.action == "DELETE" and c.ttl is not None and c.ordered_values]
        # Primes are UPSERTs: each value counts twice against moto's 1,000 per request.
        for part in _split_by_weight(primes, [2 * len(p["ResourceRecordSet"]["ResourceRecords"])
                                              for p in primes]):
            self._r53.change_resource_record_sets(HostedZoneId=zone_id,
                                                  ChangeBatch={"Changes": part})
        if not any(c.action == "CREATE" for c in changes):
            return body
        return re.sub(rb"<Action>\s*CREATE\s*</Action>", b"<Action>UPSERT</Action>", body)

    def _upstream_change_batch(self, h: _Handler, body: bytes):
        """Forward a validated ChangeResourceRecordSets, in parts if moto would refuse it whole.

        After `_prepare_for_moto` every CREATE travels as UPSERT, and moto (like Route53)
        counts an UPSERT's values twice against the 1,000 values per request, so a valid
        batch of 501 to 1,000 CREATEs would be refused by moto alone. The batch has been
        validated whole (the Route53 lock is held), so its consecutive parts all apply; the
        caller sees one answer and the counters one call. `split_route53_batches` counts
        the batches forwarded this way.
        """
        changes = _CHANGE_ELEMENT.findall(body)
        weights = [c.count(b"<ResourceRecord>") * (2 if b"<Action>UPSERT</Action>" in c else 1)
                   for c in changes]
        if sum(weights) <= _MOTO_VALUES_PER_REQUEST:
            return self._upstream(h, body)
        head = body[:body.index(changes[0])]
        tail = body[body.rindex(changes[-1]) + len(changes[-1]):]
        with self._state_lock:
            self.split_route53_batches += 1
        for part in _split_by_weight(changes, weights):
            status, headers, data = self._upstream(h, head + b"".join(part) + tail)
            if status >= 300:
                break
        return status, headers, data

    def _check_route53(self, path: str, body: bytes):
        """(error message or None, parsed changes, zone id) of a ChangeResourceRecordSets.

        The batch is checked against moto's current records the way Route53 checks it.
        """
        m = re.match(r"/2013-04-01/hostedzone/([^/]+)/rrset", urllib.parse.urlsplit(path).path)
        zone_id = urllib.parse.unquote(m.group(1)) if m else ""
        try:
            changes = parse_change_batch(body)
        except ET.ParseError:
            return None, [], zone_id  # let moto answer malformed XML
        try:
            zone = self._r53.get_hosted_zone(Id=zone_id)["HostedZone"]
        except self._r53.exceptions.NoSuchHostedZone:
            return None, [], zone_id  # moto answers NoSuchHostedZone
        current = {}
        kwargs = {"HostedZoneId": zone_id}
        while True:
            page = self._r53.list_resource_record_sets(**kwargs)
            for rr in page["ResourceRecordSets"]:
                values = {r["Value"].strip() for r in rr.get("ResourceRecords", [])}
                if "AliasTarget" in rr:
                    values.add("ALIAS " + _norm_name(rr["AliasTarget"]["DNSName"]))
                key = (_norm_name(rr["Name"]), rr["Type"].upper(), rr.get("SetIdentifier"))
                current[key] = (rr.get("TTL"), frozenset(values))
            if not page.get("IsTruncated"):
                break
            kwargs = {"HostedZoneId": zone_id, "StartRecordName": page["NextRecordName"],
                      "StartRecordType": page["NextRecordType"]}
            if page.get("NextRecordIdentifier"):
                kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]
        errors = batch_limit_errors(changes) if changes else []
        if not errors:
            with self._state_lock:
                protected = dict(self._protected.get(_zone_key(zone_id), {}))
            errors = protection_errors(protected, changes)
        if not errors:
            errors = check_change_batch(zone["Name"], current, changes)
        if not errors:
            return None, changes, zone_id
        return "[" + ", ".join(errors) + "]", changes, zone_id


class ProxyClient:
    """Client of the proxy's HTTP control API (for processes that do not own the proxy)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _req(self, method: str, path: str, data=None):
        body = json.dumps(data).encode() if data is not None else (b"" if method != "GET" else None)
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def calls(self) -> dict:
        return self._req("GET", "/__ec2dns/calls")

    def reset_calls(self) -> None:
        self._req("POST", "/__ec2dns/calls/reset")

    def add_fault(self, **spec) -> dict:
        return self._req("POST", "/__ec2dns/faults", spec)

    def faults(self) -> list:
        return self._req("GET", "/__ec2dns/faults")

    def clear_faults(self) -> None:
        self._req("DELETE", "/__ec2dns/faults")

    def fault_history(self) -> list:
        return self._req("GET", "/__ec2dns/faults/history")

    def log(self) -> list:
        return self._req("GET", "/__ec2dns/log")

    def hold(self, **spec) -> str:
        """Add a hold (`service`, `operation`, `phase`, `path`, `count`); returns its id."""
        return self._req("POST", "/__ec2dns/holds", spec)["id"]

    def holds(self) -> list:
        return self._req("GET", "/__ec2dns/holds")

    def release(self, hold_id: str) -> dict:
        return self._req("POST", f"/__ec2dns/holds/{urllib.parse.quote(hold_id, safe='')}/release")

    def release_all(self) -> None:
        self._req("POST", "/__ec2dns/holds/release")

    def protect(self, zone_id: str, name: str, rtype: str, comment: str | None = None) -> list:
        return self._req("POST", "/__ec2dns/route53/protections",
                         {"zone_id": zone_id, "name": name, "type": rtype, "comment": comment})

    def unprotect(self, zone_id: str, name: str, rtype: str) -> list:
        return self._req("DELETE", "/__ec2dns/route53/protections",
                         {"zone_id": zone_id, "name": name, "type": rtype})
