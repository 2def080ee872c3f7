"""IAM is exercised: every AWS call the binaries make in a representative run is checked
against the policies the deployment would give them, in both flavours.

The run: the reconciler claims a name, hands it over when its holder stops, releases one
whose holder stops, reconciles instances of a member account in another region (through
the member role), follows IPv6 events of an interface in its own account and in the
member's (the interface's instance found with the role of its account), completes the
launch and terminate lifecycle actions of an Auto Scaling group of its own account and of one
of the member's (the example's hooks and groups; through the member role there), and has a
failed SQS message come back soon; the DDNS endpoint takes a
dyndns2 update, a wrong password, a failed update (an alert) and its recovery, a sample-
protocol update (an SSM secret) and its sweep; the operator CLI plans, applies, releases,
rebuilds and adds and removes hosts; `plan`, `status` and `apply` read (and tag) the member
account's instances through the member role, as the reconciler does, and read the groups'
lifecycle states in both accounts. The strict proxy logs
every call with its signer's access key and what IAM authorises it by (tests/harness/iam.py).

Each call is then evaluated against the statements of the role that makes it, as the
synthesized CDK template (cdk.out/Ec2Dns.template.json, Ec2DnsMember.template.json) and the
Terraform plan (`terraform show -json` of infra/.build/tfplan, tfplan-member) define them,
read with infra/scripts/parity.py's models (intrinsics resolved to placeholders such as
`${Arn:lock_table}`):

| binary | credentials here | policy checked |
|---|---|---|
| `ec2-dns` (reconciler) | key `ec2dns-reconciler` | the function's role (`iam.function`) |
| `ec2-dns` in a member account | the keys its sts:AssumeRole got | the member role (`member.roles`), and the AssumeRole against the reconciler's policy and the member role's trust (the example's reconciler role ARN) |
| `ec2-dns-ddns` | key `ec2dns-ddns` | the DDNS function's role (`iam.ddns`) |
| `ec2-dns-ctl` | one key per command | the operators' policies documented in docs/security.md ("Read-only", "Writer", "Host credentials"), combined per command as that page says; with the example's lifecycle hooks the read-only policy takes the page's `ReadLifecycleStates` statement |
| `ec2-dns-ctl` in a member account | the keys its sts:AssumeRole got | the member role, and the AssumeRole against the operator's documented policies (statement `AssumeMemberRoles`) and the member role's trust (statement `Operators`, with the example's operator ARNs: the read-only commands as the first, the others as the second) |

The binaries run with the configuration the templates give them (the example's
ALLOWED_DOMAINS, ACCOUNTS, REGIONS, DEPLOYMENT_ID, …), and the emulated world is mapped onto
the example's identifiers: zone i of the test is the example's zone i, the lock table is the
table resource, the event queue the queue, the alert topic the topic; accounts and regions
are the example's (123456789012 / us-east-1, member 210987654321 in eu-west-1).

A call a policy refuses fails the test (there is no known gap left: the operator CLI's
member-account calls, refused until the member role could trust operators, are allowed by
the documented policies and the example's `operatorPrincipalArns` / `operator_principal_arns`).
The same test then proves the check live: it takes one statement or one condition value
away at a time (in each flavour, and in the documented operator policies) and sees the check
fail for the calls that needed it.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import Ec2DnsFunction, ec2_state_change, ipv6_call, lifecycle_action, scheduled, sqs_event
from harness.http_front import FunctionUrlFront
from harness.iam import Principal, check_log, policy_statements, statement
from harness.moto import boto_client

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
ARTIFACTS = {
    "cdk": INFRA / "cdk" / "cdk.out" / "Ec2Dns.template.json",
    "cdk_member": INFRA / "cdk" / "cdk.out" / "Ec2DnsMember.template.json",
    "tf": INFRA / ".build" / "tfplan.json",
    "tf_member": INFRA / ".build" / "tfplan-member.json",
}
SOURCES = [*(INFRA / "cdk" / "lib").glob("*.ts"), *(INFRA / "cdk" / "bin").glob("*.ts"),
           *(INFRA / "terraform").glob("*.tf"), *(INFRA / "terraform" / "modules" / "member").glob("*.tf"),
           *(INFRA / "terraform" / "examples").glob("*/*.tf"), INFRA / "infra.mk"]

KEYS = {
    "reconciler": "ec2dns-reconciler",
    "ddns": "ec2dns-ddns",
    "operator-read": "ec2dns-operator-read",
    "operator-write": "ec2dns-operator-write",
    "operator-host": "ec2dns-operator-host",
    "operator-all": "ec2dns-operator-all",
}
#: The documented operator policies each kind of command needs (docs/security.md).
OPERATOR_POLICIES = {
    "operator-read": ["Read-only"],
    "operator-write": ["Read-only", "Writer"],
    "operator-host": ["Read-only", "Host credentials"],
    "operator-all": ["Read-only", "Writer", "Host credentials"],
}
#: Which of the example's operator ARNs (INFRA_EXAMPLE_OPERATOR_PRINCIPALS) each kind of
#: operator key stands for when it assumes the member role: the read-only operator's role, and
#: the writer's SSO role for the commands that need more.
OPERATOR_ARN_INDEX = {"operator-read": 0, "operator-write": 1, "operator-host": 1, "operator-all": 1}

WEB, API, DB, APP = (f"{n}.dyn.example.com" for n in ("web", "api", "db", "app"))
HOME, PI = "home.dyn.example.com", "pi.dyn.example.com"
ROUTER, ROUTER_2 = "198.51.100.7", "198.51.100.8"
USER = "home-router"


# ---------------------------------------------------------------------------- the policies

@functools.lru_cache(maxsize=None)
def example() -> dict[str, str]:
    """The example settings both flavours are built with (infra/infra.mk INFRA_EXAMPLE_*)."""
    values = dict(re.findall(r"^INFRA_EXAMPLE_([A-Z_0-9]+)\s*:=\s*(.*?)\s*$", (INFRA / "infra.mk").read_text(), re.M))
    for k, v in values.items():
        values[k] = re.sub(r"\$\(INFRA_EXAMPLE_([A-Z_0-9]+)\)", lambda m: values[m.group(1)], v)
    return values


@functools.lru_cache(maxsize=None)
def models() -> dict[str, dict]:
    """Both flavours' models (infra/scripts/parity.py), central and member side."""
    missing = [str(p) for p in ARTIFACTS.values() if not p.exists()]
    if missing:
        pytest.fail(f"synthesized templates or plans missing ({', '.join(missing)}): run "
                    "`make infra-synth infra-plan` (make test-e2e does)", pytrace=False)
    built = min(p.stat().st_mtime for p in ARTIFACTS.values())
    stale = [str(p.relative_to(REPO)) for p in SOURCES if p.stat().st_mtime > built]
    if stale:
        pytest.fail(f"the synthesized templates or plans are older than {', '.join(stale)}: run "
                    "`make infra-synth infra-plan` (make test-e2e does)", pytrace=False)
    sys.path.insert(0, str(INFRA / "scripts"))
    import parity  # noqa: PLC0415 - the infrastructure's own reader of both flavours

    ex = example()
    load = lambda key: json.loads(ARTIFACTS[key].read_text())  # noqa: E731
    cdk = parity.Cfn(load("cdk")).model()
    cdk.update(parity.CfnMember(load("cdk_member")).model())
    tf = parity.TfPlan(load("tf"), ex["ACCOUNT"], ex["REGION"]).model()
    tf.update(parity.TfMember(load("tf_member"), ex["MEMBER_ACCOUNT"], ex["MEMBER_REGION"]).model())
    return {"cdk": cdk, "terraform": tf}


@functools.lru_cache(maxsize=None)
def operator_policies() -> dict[str, list[dict]]:
    """The JSON policies of docs/security.md's "Operators' policies", by their heading."""
    text = (REPO / "docs" / "security.md").read_text()
    found = {}
    for name in ("Read-only", "Writer", "Host credentials"):
        m = re.search(r"\*\*" + re.escape(name) + r"\*\*.*?```json\n(.*?)```", text, re.S)
        assert m, f"docs/security.md has no {name} policy"
        found[name] = policy_statements(json.loads(m.group(1)))
    # With lifecycle hooks (the example lists them) the page adds one statement to the
    # read-only policy, written inline after it.
    if example().get("LIFECYCLE_HOOKS"):
        m = re.search(r'`(\{"Sid": "ReadLifecycleStates".*?\})`', text)
        assert m, "docs/security.md has no ReadLifecycleStates statement"
        found["Read-only"] = found["Read-only"] + policy_statements([json.loads(m.group(1))])
    return found


def principals(model: dict, world_map: dict[str, str], env: dict,
               docs: dict[str, list[dict]] | None = None) -> tuple[dict, dict, dict]:
    """(access key -> principal, assumable role ARN -> (principal, trust), trusted callers).
    `docs`: the operators' policies, docs/security.md's unless given."""
    ex = example()
    central = {"${partition}": "aws", "${account}": ex["ACCOUNT"], "${region}": ex["REGION"]}
    keys = {
        KEYS["reconciler"]: Principal("reconciler", model["iam.function"], ex["ACCOUNT"], world_map, central),
        KEYS["ddns"]: Principal("ddns", model["iam.ddns"], ex["ACCOUNT"], world_map, central),
    }
    docs = docs if docs is not None else operator_policies()
    # The documented policies name the example's table and zones literally: only the zones map.
    zones = {k: v for k, v in world_map.items() if ":route53:" in k}
    for kind, names in OPERATOR_POLICIES.items():
        keys[KEYS[kind]] = Principal(kind, [s for n in names for s in docs[n]], ex["ACCOUNT"], zones)
    member = model["member.roles"]["member_role"]
    assumable = {}
    for account in env["ACCOUNTS"].split(","):
        places = {**central, "${account}": account}
        arn = f"arn:aws:iam::{account}:role/{member['name']}"
        role = Principal(f"member role {account}", member["policy"], account, {}, places, arn)
        trust = json.loads(json.dumps([statement(s) for s in member["trust"]]).replace("${partition}", "aws"))
        assumable[arn] = (role, trust)
    operators = ex["OPERATOR_PRINCIPALS"].split(",")
    callers = {"reconciler": ex["RECONCILER_ROLE"], **{k: operators[i] for k, i in OPERATOR_ARN_INDEX.items()}}
    return keys, assumable, callers


def check(log: list[dict], model: dict, world_map: dict, env: dict, docs: dict[str, list[dict]] | None = None):
    keys, assumable, callers = principals(model, world_map, env, docs)
    return check_log(log, keys, assumable, callers)


# ---------------------------------------------------------------------------- the run

def environment(model: dict, kind: str, world_values: dict[str, str]) -> dict:
    """A function's environment as the template gives it, the world's values for its
    resources (`${ref:lock_table}` -> the test's table, …)."""
    env = dict(model["function" if kind == "reconciler" else "ddns.function"]["environment"])
    for k, v in env.items():
        env[k] = world_values.get(v, v)
    left = {k: v for k, v in env.items() if "${" in v}
    assert not left, f"the {kind}'s environment names resources the test does not map: {left}"
    return env


def dyndns2(front: FunctionUrlFront, password: str, name: str = HOME, ip: str | None = None) -> str:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    query = f"hostname={name}" + (f"&myip={ip}" if ip else "")
    req = urllib.request.Request(f"{front.url}/nic/update?{query}", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode().strip()


@pytest.fixture
def recorded_run(world, dyn, proxy, start_function, ctl, moto, ec2_dns_bin, tmp_path):
    """The representative run; answers (the proxy's log, the world map, the environment)."""
    cdk = models()["cdk"]
    ex = example()
    zones = ex["ZONES"].split(",")
    sns = boto_client("sns", moto.url)
    topic = sns.create_topic(Name="ec2-dns-alerts")["TopicArn"]
    queue_url = world.sqs.create_queue(QueueName="ec2-dns-events")["QueueUrl"]
    queue_arn = world.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table_arn = f"arn:aws:dynamodb:{ex['REGION']}:{ex['ACCOUNT']}:table/{world.lock_table}"
    world_map = {
        f"arn:aws:route53:::hostedzone/{dyn.public}": f"arn:aws:route53:::hostedzone/{zones[0]}",
        f"arn:aws:route53:::hostedzone/{dyn.private}": f"arn:aws:route53:::hostedzone/{zones[1]}",
        table_arn: "${Arn:lock_table}",
        queue_arn: "${Arn:queue}",
        topic: "${ref:alert_topic}",
    }
    values = {"${ref:lock_table}": world.lock_table, "${ref:alert_topic}": topic, "${ref:queue}": queue_url}
    env = environment(cdk, "reconciler", values)
    ddns_env = environment(cdk, "ddns", values)
    ddns_env.pop("ORIGIN_SECRET", None)  # no CloudFront in front here: requests come straight
    assert env["ACCOUNTS"] and ex["MEMBER_ACCOUNT"] in env["ACCOUNTS"].split(","), env
    # The CLI acts with the deployed configuration (its ALLOWED_DOMAINS left unset).
    op = lambda kind: {"AWS_ACCESS_KEY_ID": KEYS[kind], "ALLOWED_DOMAINS": None}  # noqa: E731

    # ---- the reconciler: claim, hand-over, release, another account, a retried message
    fn = start_function(env, access_key=KEYS["reconciler"])
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    assert world.holder(WEB) is not None
    waiting = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(waiting, "running"))
    world.stop(web)
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    assert world.lock(WEB)["owner"].endswith(waiting), "handed over"
    api = world.run_instance({"dnsname": API})
    fn.invoke_ok(ec2_state_change(api, "running"))
    world.stop(api)
    fn.invoke_ok(ec2_state_change(api, "stopped"))
    assert world.holder(API) is None, "released"
    member = world.ec2_of(ex["MEMBER_ACCOUNT"], ex["MEMBER_REGION"])
    db = member.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "dnsname", "Value": DB}]}])["Instances"][0]["InstanceId"]
    report = fn.invoke_ok({"reconcile": "all", "dry_run": False})
    assert report["failed"] == [] and world.lock(DB)["owner"].endswith(db), report
    # A sharded run: the table's size read, its shards sent to the function's own queue and
    # handed back to it as one batch, as the event source mapping would.
    run = fn.invoke_ok({"reconcile": "all", "sharded": True})["run"]
    shards = world.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=1800)["Messages"]
    batch = sqs_event([m["Body"] for m in shards])
    answer = fn.invoke_ok(batch)
    for m in shards:
        world.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    # API was released a moment ago: the lock table's shard finds its removal within its
    # change window, and asks to come back after it; the place shards finished.
    retried = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    bodies = {r["messageId"]: r["body"] for r in batch["Records"]}
    assert all('"locks/' in bodies[m] for m in retried), (answer, bodies)
    item = world.lock_items()[f"run#{run}"]
    assert any(p.startswith("place/") for p in item["finished"]), item
    for eni, account, region in [
        (world.instance(waiting)["NetworkInterfaces"][0]["NetworkInterfaceId"], None, None),
        (member.describe_instances(InstanceIds=[db])["Reservations"][0]["Instances"][0][
            "NetworkInterfaces"][0]["NetworkInterfaceId"], ex["MEMBER_ACCOUNT"], ex["MEMBER_REGION"]),
    ]:
        place = {"account": account, "region": region} if account else {}
        answer = fn.invoke_ok(ipv6_call("AssignIpv6Addresses", eni, ["2001:db8::1"], **place))
        assert "ignored" not in answer and answer["failed"] == [], answer
    # Auto Scaling lifecycle hooks: a group of the deployment's own account and one of the
    # member's (the example's first and last group, with the example's hooks), each launched
    # and terminated through its hooks; the member's completed through the member role, its
    # launch after Route53 said PENDING twice (its hook's timeout read, one heartbeat sent:
    # with Auto Scaling's shortest timeout, 30 s, the second poll could pass half of it).
    hooks, groups = ex["LIFECYCLE_HOOKS"].split(","), ex["LIFECYCLE_GROUPS"].split(",")
    assert env.get("LIFECYCLE_HOOKS") == ",".join(sorted(hooks)), env
    for group, account, region in [(groups[0], None, ex["REGION"]),
                                   (groups[-1], ex["MEMBER_ACCOUNT"], ex["MEMBER_REGION"])]:
        [iid] = world.create_group(group, f"{group}-{{id}}.dyn.example.com", 1, account=account, region=region)
        asg = world.client_of("autoscaling", account, region)
        for hook, transition in zip(hooks, ("autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING")):
            asg.put_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName=hook,
                                   LifecycleTransition=transition, HeartbeatTimeout=300 if account is None else 30)
        place = {"account": account or ex["ACCOUNT"], "region": region}
        for event, state in [(lifecycle_action(iid, group, hooks[0], **place), "Pending:Wait"),
                             (lifecycle_action(iid, group, hooks[1], launching=False, **place), "Terminating:Wait")]:
            d = event["detail"]
            proxy.begin_lifecycle_action(d["LifecycleActionToken"], group, d["LifecycleHookName"], iid, state, **place)
            waits = account is not None and d["LifecycleHookName"] == hooks[0]
            proxy.pend_changes(4 if waits else 0)  # two polls of its two changes (public, private)
            answer = fn.invoke_ok(event)
            assert answer["lifecycle"][0]["result"] == "completed", answer
            assert answer["lifecycle"][0]["heartbeats"] == (1 if waits else 0), answer
        # Back in service for the CLI's reads below (its lifecycle states are read there too).
        proxy.set_lifecycle_state(iid, "InService")
    app = world.run_instance({"dnsname": APP})
    world.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(ec2_state_change(app, "running")))
    got = world.sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=1800)["Messages"][0]
    batch = sqs_event([json.loads(got["Body"])], queue="ec2-dns-events")
    batch["Records"][0].update(messageId=got["MessageId"], receiptHandle=got["ReceiptHandle"])
    proxy.add_fault(service="route53", operation="ChangeResourceRecordSets", fault="access_denied", count=1)
    assert fn.invoke_ok(batch) == {"batchItemFailures": [{"itemIdentifier": got["MessageId"]}]}
    assert "sqs:ChangeMessageVisibilityBatch" in proxy.calls(), proxy.calls()

    # ---- the DDNS endpoint: update, wrong password, a failure and its alert, the sample, the sweep
    secret = json.loads(ctl("host", "add", USER, "--names", HOME, "--unbound", "--json",
                            env=op("operator-host")).stdout)["secret"]
    sample = json.loads(ctl("host", "add", "pi", "--names", PI, "--sample", "--json", env=op("operator-host")).stdout)
    (tmp_path / "ddns").mkdir()
    ddns = Ec2DnsFunction(proxy.url, ddns_env, command=[str(Path(ec2_dns_bin).with_name("ec2-dns-ddns"))],
                          workdir=str(tmp_path / "ddns"), access_key=KEYS["ddns"]).start().wait_ready()
    front = FunctionUrlFront(ddns, source_ip=ROUTER).start()
    try:
        assert dyndns2(front, secret).startswith("good"), "published"
        assert dyndns2(front, "not-the-password") == "badauth"
        proxy.add_fault(service="route53", operation="ChangeResourceRecordSets", fault="access_denied", count=1)
        assert dyndns2(front, secret, ip=ROUTER_2) == "dnserr", "failed, and alerted"
        assert dyndns2(front, secret, ip=ROUTER_2).startswith("good"), "recovered"
        token = hashlib.sha256(f"{ROUTER}{PI}{sample['secret']}".encode()).hexdigest()
        try:
            with urllib.request.urlopen(f"{front.url}/?mode=set&hostname={PI}&hash={token}", timeout=60) as r:
                assert r.status == 201
        except urllib.error.HTTPError as e:
            raise AssertionError(f"sample update: {e.code} {e.read()!r}") from None
        ddns.invoke_ok(scheduled())
    finally:
        front.stop()
        ddns.stop()
    calls = proxy.calls()
    for needed in ("sns:Publish", "ssm:GetParameter", "ssm:PutParameter", "sts:AssumeRole", "ec2:CreateTags",
                   "autoscaling:DescribeAutoScalingInstances", "autoscaling:CompleteLifecycleAction",
                   "autoscaling:DescribeLifecycleHooks", "autoscaling:RecordLifecycleActionHeartbeat",
                   "route53:GetChange"):
        assert calls.get(needed), f"the run made no {needed}: {calls}"

    # ---- the operator CLI: reads, writes, hosts. Exit status 3 is the warning that no zone
    # serves the example's second domain (other.example.org), which this world leaves out.
    def cli(kind: str, *args: str):
        p = ctl(*args, env=op(kind), expect=None)
        assert p.returncode in (0, 3), f"{args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"

    cli("operator-read", "plan")
    cli("operator-read", "status")
    cli("operator-read", "rebuild", "--dry-run")
    cli("operator-read", "host", "list")
    cli("operator-write", "apply")
    world.delete_tags(waiting, ["dnsname"])  # no event: the operator frees the stuck name
    cli("operator-write", "release", WEB)
    cli("operator-write", "rebuild")
    cli("operator-all", "host", "remove", "pi")

    log = proxy.call_log()
    dump = os.environ.get("EC2DNS_IAM_LOG")
    if dump:  # for a look at what was checked: every call with its facts
        Path(dump).write_text(json.dumps({"log": log, "world_map": world_map, "env": env}, indent=1))
    return log, world_map, env


def test_every_call_of_a_representative_run_is_allowed_by_both_flavours(recorded_run):
    log, world_map, env = recorded_run
    for flavour, model in models().items():
        checked = check(log, model, world_map, env)
        print(f"{flavour}: {len(log)} calls, {checked.requests} authorisations {checked.by_principal}; "
              f"refused: {[str(r) for r in checked.refusals]}")
        assert checked.unattributed == [], f"{flavour}: calls of unknown credentials: {checked.unattributed}"
        refused = [str(r) for r in checked.refusals]
        assert refused == [], f"{flavour}: calls the deployed policies would refuse:\n  " + "\n  ".join(refused)
        # Every principal was exercised, the member role for the reconciler and for the
        # operators' reads (plan, status) and writes (apply).
        member = f"member role {example()['MEMBER_ACCOUNT']}"
        assert {"reconciler", "ddns", f"{member} (assumed by reconciler)", f"{member} (assumed by operator-read)",
                f"{member} (assumed by operator-write)", "operator-read", "operator-write", "operator-host",
                "operator-all"} <= set(checked.by_principal), checked.by_principal
    groups = example()["LIFECYCLE_GROUPS"].split(",")
    operator_assumes = {e["key"] for e in log if e["call"] == "sts:AssumeRole"} & {KEYS["operator-read"], KEYS["operator-write"]}
    assert operator_assumes == {KEYS["operator-read"], KEYS["operator-write"]}, "the CLI assumed the member role"

    # The check fails when a policy loses what a call needs: one statement, or one
    # condition value, taken away at a time.
    def without_sid(section, sid):
        def change(m):
            m[section] = [s for s in m[section] if s["Sid"] != sid]
        return change

    def without_value(section, sid, operator, key, value):
        def change(m):
            for s in m[section]:
                if s["Sid"] == sid:
                    s["Condition"][operator][key] = [v for v in s["Condition"][operator][key] if v != value]
        return change

    def member_without(sid):
        def change(m):
            role = m["member.roles"]["member_role"]
            role["policy"] = [s for s in role["policy"] if s["Sid"] != sid]
        return change

    def without_resource(section, sid, suffix):
        def change(m):
            for s in m[section]:
                if s["Sid"] == sid:
                    kept = [r for r in s["Resource"] if not r.endswith(suffix)]
                    assert len(kept) == len(s["Resource"]) - 1, (suffix, s["Resource"])
                    s["Resource"] = kept
        return change

    def member_without_resource(sid, suffix):
        def change(m):
            without_resource("policy", sid, suffix)(m["member.roles"]["member_role"])
        return change

    def member_without_action(sid, action):
        def change(m):
            for s in m["member.roles"]["member_role"]["policy"]:
                if s["Sid"] == sid:
                    assert action in s["Action"], (sid, action)
                    s["Action"] = [a for a in s["Action"] if a != action]
        return change

    def member_trusting_nobody(m):
        m["member.roles"]["member_role"]["trust"] = []

    def member_trusting_no_operator(m):
        role = m["member.roles"]["member_role"]
        role["trust"] = [s for s in role["trust"] if s.get("Sid") != "Operators"]

    def member_trusting_one_operator_less(index):
        def change(m):
            for s in m["member.roles"]["member_role"]["trust"]:
                if s.get("Sid") == "Operators":
                    arns = s["Condition"]["StringEquals"]["aws:PrincipalArn"]
                    gone = example()["OPERATOR_PRINCIPALS"].split(",")[index]
                    kept = [a for a in arns if a.replace("${partition}", "aws") != gone]
                    assert len(kept) == len(arns) - 1, (gone, arns)
                    s["Condition"]["StringEquals"]["aws:PrincipalArn"] = kept
        return change

    def docs_without(policy, sid):
        def change(d):
            d[policy] = [s for s in d[policy] if s.get("Sid") != sid]
        return change

    names = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
    mutations = {
        "reconciler without LockTable": (without_sid("iam.function", "LockTable"), "reconciler", "dynamodb:"),
        "reconciler without AssumeMemberRoles": (without_sid("iam.function", "AssumeMemberRoles"), "reconciler", "sts:AssumeRole"),
        "reconciler without RetryFailedMessages": (without_sid("iam.function", "RetryFailedMessages"), "reconciler", "sqs:"),
        "reconciler without SendShards": (without_sid("iam.function", "SendShards"), "reconciler", "sqs:SendMessage"),
        "reconciler without DescribeLockTable": (without_sid("iam.function", "DescribeLockTable"), "reconciler",
                                                 "dynamodb:DescribeTable"),
        "reconciler without TXT": (without_value("iam.function", "ChangeRecords", "ForAllValues:StringEquals",
                                                 "route53:ChangeResourceRecordSetsRecordTypes", "TXT"),
                                   "reconciler", "route53:ChangeResourceRecordSets"),
        "reconciler without DELETE": (without_value("iam.function", "ChangeRecords", "ForAllValues:StringEquals",
                                                    "route53:ChangeResourceRecordSetsActions", "DELETE"),
                                      "reconciler", "route53:ChangeResourceRecordSets"),
        "reconciler without its domain": (without_value("iam.function", "ChangeRecords", "ForAllValues:StringLike",
                                                        names, "*.dyn.example.com"),
                                          "reconciler", "route53:ChangeResourceRecordSets"),
        "ddns without ReadHostSecrets": (without_sid("iam.ddns", "ReadHostSecrets"), "ddns", "ssm:GetParameter"),
        "ddns without PublishAlerts": (without_sid("iam.ddns", "PublishAlerts"), "ddns", "sns:Publish"),
        "member role without WriteStatusTag": (member_without("WriteStatusTag"), "member role", "ec2:CreateTags"),
        "reconciler without ReadGroupLifecycle": (without_sid("iam.function", "ReadGroupLifecycle"), "reconciler",
                                                  "autoscaling:DescribeAutoScalingInstances"),
        "reconciler without CompleteLifecycleActions": (without_sid("iam.function", "CompleteLifecycleActions"),
                                                        "reconciler", "autoscaling:CompleteLifecycleAction"),
        "reconciler without WaitForChanges": (without_sid("iam.function", "WaitForChanges"), "reconciler",
                                              "route53:GetChange"),
        "reconciler without its group": (without_resource("iam.function", "CompleteLifecycleActions",
                                                          f"autoScalingGroupName/{groups[0]}"),
                                         "reconciler", "autoscaling:CompleteLifecycleAction"),
        "member role without ReadGroupLifecycle": (member_without("ReadGroupLifecycle"), "member role",
                                                   "autoscaling:DescribeAutoScalingInstances"),
        "member role without CompleteLifecycleActions": (member_without("CompleteLifecycleActions"), "member role",
                                                         "autoscaling:CompleteLifecycleAction"),
        "member role without the heartbeat": (member_without_action("CompleteLifecycleActions",
                                                                  "autoscaling:RecordLifecycleActionHeartbeat"),
                                              "member role", "autoscaling:RecordLifecycleActionHeartbeat"),
        "member role without DescribeLifecycleHooks": (member_without_action("ReadGroupLifecycle",
                                                                           "autoscaling:DescribeLifecycleHooks"),
                                                       "member role", "autoscaling:DescribeLifecycleHooks"),
        "member role without its group": (member_without_resource("CompleteLifecycleActions",
                                                                  f"autoScalingGroupName/{groups[-1]}"),
                                          "member role", "autoscaling:CompleteLifecycleAction"),
        "member role trusting nobody": (member_trusting_nobody, "reconciler", "sts:AssumeRole"),
        "member role without the Operators trust": (member_trusting_no_operator, "operator-read", "sts:AssumeRole"),
        "member role trusting the read-only operator no more": (member_trusting_one_operator_less(0), "operator-read",
                                                                 "sts:AssumeRole"),
        "member role trusting the writer no more": (member_trusting_one_operator_less(1), "operator-write",
                                                     "sts:AssumeRole"),
    }
    # The documented operators' policies, one statement taken away.
    doc_mutations = {
        "Read-only without AssumeMemberRoles": (docs_without("Read-only", "AssumeMemberRoles"), "operator-read",
                                                "sts:AssumeRole"),
        "Writer without WriteStatusTag": (docs_without("Writer", "WriteStatusTag"), "operator-write", "ec2:CreateTags"),
        "Read-only without ReadLifecycleStates": (docs_without("Read-only", "ReadLifecycleStates"), "operator-read",
                                                  "autoscaling:DescribeAutoScalingInstances"),
    }
    for flavour, model in models().items():
        for what, (change, who, call) in mutations.items():
            changed = copy.deepcopy(model)
            change(changed)
            refused = [r for r in check(log, changed, world_map, env).refusals
                       if r.principal.startswith(who) and r.call.startswith(call)]
            assert refused, f"{flavour}, {what}: the check did not notice"
        for what, (change, who, call) in doc_mutations.items():
            docs = copy.deepcopy(operator_policies())
            change(docs)
            refused = [r for r in check(log, model, world_map, env, docs).refusals
                       if r.principal.startswith(who) and r.call.startswith(call)]
            assert refused, f"{flavour}, {what}: the check did not notice"
