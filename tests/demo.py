#!/usr/bin/env python3
"""`make demo`: the ec2-dns story, told by the real binary against moto.

Three instances: web-1 and web-2 both want web.dyn.example.com, api-1 wants
api.dyn.example.com. The story: they start (first owner wins, the other is told of the
conflict), the owner stops (the name is handed over), someone deletes a record behind
ec2-dns's back (a dry run shows the repair, a manual reconcile makes it), a home router
keeps home.dyn.example.com through the DDNS endpoint (ddclient when it is installed, plain
HTTP otherwise), an instance of a member account gets db.dyn.example.com through the member
role and lets it go when it stops, and finally every instance is terminated (their records
and locks are gone; the router's name stays).

After each step the demo prints the DNS table, each instance's status tag, the report of
the invocation and the AWS calls the proxy counted, then checks the final state against
the story. It exits non-zero if any check fails. Everything it starts is stopped on exit,
Ctrl-C included.

    EC2_DNS_BIN=target/debug/ec2-dns .venv/bin/python tests/demo.py
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]

from harness import (  # noqa: E402
    WRITE_CALLS,
    AwsProxy,
    Ec2DnsFunction,
    LambdaError,
    MotoServer,
    ProcessExited,
    World,
    ec2_state_change,
    sqs_event,
)

DOMAIN = "dyn.example.com"
WEB = f"web.{DOMAIN}"
API = f"api.{DOMAIN}"
HOME = f"home.{DOMAIN}"
DB = f"db.{DOMAIN}"
MEMBER = "210987654321"  # a member account: its instances are read through its role
ROUTER = "198.51.100.7"  # the home line's public address, as the endpoint sees the router
LOCK_TABLE = "ec2-dns-locks"
TTL = 60
REPO = Path(__file__).resolve().parents[1]


class Abort(Exception):
    pass


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class Demo:
    def __init__(self, binary: str):
        self.binary = binary
        self.moto: MotoServer | None = None
        self.proxy: AwsProxy | None = None
        self.fn: Ec2DnsFunction | None = None
        self.ddns: Ec2DnsFunction | None = None
        self.front = None
        self.elsewhere: dict[str, str] = {}  # instances of a member account, by id
        self.world: World | None = None
        self.failures: list[str] = []
        self.names: dict[str, str] = {}  # instance id -> label
        self.step_no = 0

    # ------------------------------------------------------------------ set-up / tear-down
    def start(self) -> None:
        print("Starting moto and the strict AWS proxy on 127.0.0.1 ...")
        self.moto = MotoServer().start()
        self.proxy = AwsProxy(self.moto.url).start()
        self.world = World(self.moto.url, LOCK_TABLE)
        w = self.world
        w.create_lock_table()
        self.public = w.create_zone(DOMAIN)
        self.private = w.create_zone(DOMAIN, private=True)
        self.web1 = w.run_instance({"Name": "web-1", "dnsname": WEB})
        time.sleep(1.1)  # distinct launch times: handover goes to the one launched first
        self.web2 = w.run_instance({"Name": "web-2", "dnsname": WEB})
        self.api1 = w.run_instance({"Name": "api-1", "dnsname": API})
        self.names = {self.web1: "web-1", self.web2: "web-2", self.api1: "api-1"}
        print(f"  lock table {LOCK_TABLE}; zones {DOMAIN} public {self.public}, "
              f"private {self.private}")
        for iid, label in self.names.items():
            print(f"  {label:6} {iid}  public {w.public_ip(iid):15}  private {w.private_ip(iid):15}"
                  f"  dnsname={w.tags(iid)['dnsname']}")
        self.fn = Ec2DnsFunction(self.proxy.url, {
            "LOCK_TABLE": LOCK_TABLE, "ALLOWED_DOMAINS": DOMAIN, "RECORD_TTL": str(TTL),
            "ACCOUNTS": MEMBER},
            command=[self.binary]).start().wait_ready()
        print(f"  ec2-dns started: {self.binary}\n")

    def stop(self) -> None:
        for thing in (self.front, self.ddns, self.fn, self.proxy, self.moto):
            if thing is not None:
                try:
                    thing.stop()
                except Exception as e:  # keep stopping the rest
                    print(f"(while stopping {type(thing).__name__}: {e})")

    # ------------------------------------------------------------------ steps
    def step(self, title: str) -> None:
        self.step_no += 1
        print("=" * 78)
        print(f"Step {self.step_no}. {title}")
        print("=" * 78)
        self.proxy.reset_calls()

    def invoke(self, what: str, payload):
        print(f"-> invoke: {what}")
        result = self.fn.invoke(payload, timeout=60)
        if isinstance(result, ProcessExited):
            print(f"   function process exited ({result.exit_code}):\n{self.fn.log_tail(20)}")
            raise Abort("the function process exited")
        if isinstance(result, LambdaError):
            print(f"   error: {result.error_type}: {result.error_message}")
            self.failures.append(f"step {self.step_no}: {what}: {result.error_type}")
            return None
        self.print_report(result)
        return result

    def print_report(self, report) -> None:
        if not isinstance(report, dict):
            print(f"   answer: {report!r}")
            return
        if "batchItemFailures" in report:
            print(f"   batchItemFailures: {report['batchItemFailures']}")
            return
        if "ignored" in report:
            print(f"   ignored: {report['ignored']}")
            return
        zone_kind = {self.public: "public", self.private: "private"}
        prefix = "   plan (dry run)" if report.get("dry_run") else "   report"
        rows = report.get("changes", [])
        print(f"{prefix}: {len(rows)} change(s), {len(report.get('conflicts', []))} conflict(s), "
              f"{len(report.get('skipped', []))} skipped, {len(report.get('failed', []))} failed")
        for c in rows:
            zone = zone_kind.get(str(c.get("zone_id", "")).split("/")[-1], c.get("zone_id"))
            old = f" (was {','.join(c['old_values'])})" if c.get("old_values") else ""
            print(f"     {c['action']:6} {c['name']:22} {c['type']:4} {zone:7} "
                  f"{','.join(c['values']) or '-'}{old}  [{self.label(c.get('instance'))}]")
        for c in report.get("conflicts", []):
            holder = (self.holder_label(c["holder"]) if c.get("holder")
                      else "a record ec2-dns did not write")
            print(f"     CONFLICT {c['name']} wanted by {self.label(c['instance'])}, held by {holder}")
        for s in report.get("skipped", []):
            print(f"     SKIPPED {s['name']} of {self.label(s['instance'])}: {s['reason']}")
        for f in report.get("failed", []):
            print(f"     FAILED {f['name']}: {f['reason']}")

    def label(self, iid) -> str:
        label = self.names.get(iid) or self.elsewhere.get(iid, "?")
        return f"{label} {iid}" if iid else "-"

    def holder_label(self, owner: str | None) -> str:
        """A qualified owner (account/region/instance-id, or account/region/host/name) as
        the demo names it."""
        if not owner:
            return "(none)"
        if "/host/" in owner:
            return "host/" + owner.rsplit("/", 1)[-1]
        iid = owner.rsplit("/", 1)[-1]
        if iid in self.elsewhere:
            return f"{self.elsewhere[iid]} ({owner.split('/')[0]})"
        return self.names.get(iid, owner)

    def show(self) -> None:
        w = self.world
        locks = w.held_locks()
        rows = []
        for zone_id, kind in ((self.public, "public"), (self.private, "private")):
            for (name, rtype), (ttl, values) in sorted(w.records(zone_id, types=("A", "AAAA")).items()):
                owner = locks.get(name, {}).get("owner")
                marker = w.marker(zone_id, name)
                mark = (f"{self.holder_label(marker['owner'])} gen {marker['gen']}"
                        if marker else "(none)")
                rows.append((name, self.holder_label(owner), rtype, kind, ",".join(values),
                             str(ttl), mark))
        rows.sort(key=lambda r: (r[0], r[3], r[2]))
        for name, lock in sorted(locks.items()):
            if not any(r[0] == name for r in rows):
                rows.append((name, self.holder_label(lock.get("owner")), "-", "-",
                             "(lock without record)", "-", "-"))
        print("   DNS (each record set has an ownership marker, TXT _ec2-dns.<name>, beside it):")
        header = ("name", "owner", "type", "zone", "values", "ttl", "marker")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            print("     " + "  ".join(str(v).ljust(widths[i]) for i, v in enumerate(r)))
        if not rows:
            print("     (no records, no locks)")
        print("   Instances:")
        for iid, label in self.names.items():
            inst = w.instance(iid)
            status = w.tags(iid).get("dnsname-status", "-")
            print(f"     {label:6} {inst['State']['Name']:10} {inst.get('PublicIpAddress') or '-':15} "
                  f"status: {status}")
        calls = self.proxy.calls()
        writes = sum(v for k, v in calls.items() if k in WRITES)
        print(f"   AWS calls this step ({sum(calls.values())}, {writes} writes): "
              + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))

    # ------------------------------------------------------------------ checks
    def check(self, what: str, ok: bool, detail: str = "") -> None:
        print(f"   [{'PASS' if ok else 'FAIL'}] {what}" + (f" -- {detail}" if not ok and detail else ""))
        if not ok:
            self.failures.append(f"step {self.step_no}: {what} {detail}")

    def check_owner(self, name: str, iid: str) -> None:
        w = self.world
        public = w.records(self.public).get((name, "A"))
        private = w.records(self.private).get((name, "A"))
        lock = w.lock(name) or {}
        self.check(f"{name} public A -> {self.names[iid]}'s public IPv4",
                   public == (TTL, [w.public_ip(iid)]), f"found {public}")
        self.check(f"{name} private A -> {self.names[iid]}'s private IPv4",
                   private == (TTL, [w.private_ip(iid)]), f"found {private}")
        self.check(f"{name} lock held by {self.names[iid]}", w.holder(name) == iid,
                   f"found {lock}")
        markers = [w.marker(z, name) for z in (self.public, self.private)]
        self.check(f"{name} marked as {self.names[iid]}'s, generation {lock.get('gen')}, "
                   "in both zones",
                   all(m and m["owner"] == lock.get("owner") and m["gen"] == lock.get("gen")
                       for m in markers), f"found {markers}")
        status = w.status_tag(iid) or ""
        self.check(f"{self.names[iid]} status tag says ok", status == "ok", f"found {status!r}")

    def check_gone(self, name: str) -> None:
        w = self.world
        left = [k for z in (self.public, self.private) for k in w.records(z)
                if k[0] in (name, f"_ec2-dns.{name}")]
        self.check(f"{name} has no records and no marker", not left, f"found {left}")
        self.check(f"nobody holds {name}", w.holder(name) is None, f"found {w.lock(name)}")

    # ------------------------------------------------------------------ the story
    def run(self) -> None:
        w = self.world
        self.step("The instances start: first owner wins, the other is told of the conflict")
        for iid in (self.web1, self.web2, self.api1):
            self.invoke(f"EC2 state change: {self.names[iid]} running",
                        ec2_state_change(iid, "running"))
        self.show()
        self.check_owner(WEB, self.web1)
        self.check_owner(API, self.api1)
        status = w.status_tag(self.web2) or ""
        self.check("web-2 status tag reports the conflict", status.startswith(f"conflict: {WEB}"),
                   f"found {status!r}")

        self.step("web-1 stops: the name is handed over to web-2")
        w.stop(self.web1)
        self.invoke("EC2 state change: web-1 stopped", ec2_state_change(self.web1, "stopped"))
        self.show()
        self.check_owner(WEB, self.web2)
        status = w.status_tag(self.web1) or ""
        self.check("web-1 status tag says released", status.startswith("released (instance stopped"),
                   f"found {status!r}")

        self.step("Drift: someone deletes api's public record; dry run, then reconcile")
        w.delete_record(self.public, API, "A")
        print(f"   (deleted {API} A from the public zone behind ec2-dns's back)")
        before = w.snapshot([self.public, self.private], list(self.names))
        report = self.invoke('{"reconcile": "all", "dry_run": true}',
                             {"reconcile": "all", "dry_run": True})
        planned = [c for c in (report or {}).get("changes", [])
                   if c["name"] == API and c["type"] == "A"
                   and str(c["zone_id"]).split("/")[-1] == self.public]
        self.check("the dry run plans to recreate api's public A",
                   [c["values"] for c in planned] == [[w.public_ip(self.api1)]], f"planned {planned}")
        self.check("the dry run changed nothing",
                   w.snapshot([self.public, self.private], list(self.names)) == before)
        self.check("the dry run made no write calls",
                   not any(k in WRITES for k in self.proxy.calls()),
                   f"calls {self.proxy.calls()}")
        self.invoke('{"reconcile": "all"}', {"reconcile": "all"})
        self.show()
        self.check_owner(API, self.api1)
        self.check_owner(WEB, self.web2)

        self.home_router()
        self.member_account()

        self.step("Every instance is terminated: their records and locks are gone")
        for iid in self.names:
            w.terminate(iid)
        batch = sqs_event([ec2_state_change(iid, "terminated") for iid in self.names])
        answer = self.invoke("SQS batch: three terminated events", batch)
        self.check("the batch has no failures", answer == {"batchItemFailures": []}, f"{answer}")
        self.show()
        self.check_gone(WEB)
        self.check_gone(API)
        held = {k for k, v in w.held_locks().items() if "/host/" not in v["owner"]}
        listed = {k for k, v in w.lock_items().items()
                  if k.startswith("owner#") and "/host/" not in k and v.get("names")}
        self.check("no instance holds a name and no owner index lists one", not held and not listed,
                   f"found {sorted(held)} {sorted(listed)}")
        self.check("the router keeps its name", w.records(self.public).get((HOME, "A"))
                   == (TTL, [ROUTER]), f"found {w.records(self.public).get((HOME, 'A'))}")

    # ------------------------------------------------------------------ a member account
    def member_account(self) -> None:
        w = self.world
        self.step(f"An instance of member account {MEMBER} gets {DB} through the member role")
        ec2 = w.ec2_of(MEMBER)
        db = ec2.run_instances(
            ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": [
                {"Key": "Name", "Value": "db-1"}, {"Key": "dnsname", "Value": DB}]}],
        )["Instances"][0]["InstanceId"]
        owner = f"{MEMBER}/us-east-1/{db}"
        self.elsewhere[db] = "db-1"
        inst = ec2.describe_instances(InstanceIds=[db])["Reservations"][0]["Instances"][0]
        print(f"   db-1 {db} in account {MEMBER}: public {inst['PublicIpAddress']}, "
              f"dnsname={DB}; its EventBridge rule forwards the event to this account's bus")
        self.invoke(f"EC2 state change (forwarded from {MEMBER}): db-1 running",
                    ec2_state_change(db, "running", account=MEMBER))
        self.show()
        public = w.records(self.public).get((DB, "A"))
        self.check(f"{DB} public A -> db-1's public IPv4",
                   public == (TTL, [inst["PublicIpAddress"]]), f"found {public}")
        lock = w.lock(DB) or {}
        self.check(f"{DB} held by {owner}", lock.get("owner") == owner, f"found {lock}")
        marker = w.marker(self.public, DB) or {}
        self.check(f"{DB} marked as {owner}'s", marker.get("owner") == owner, f"found {marker}")
        tags = {t["Key"]: t["Value"] for t in
                ec2.describe_instances(InstanceIds=[db])["Reservations"][0]["Instances"][0]["Tags"]}
        self.check(f"db-1's status tag, in account {MEMBER}, says ok",
                   tags.get("dnsname-status") == "ok", f"found {tags}")
        ec2.stop_instances(InstanceIds=[db])
        self.invoke(f"EC2 state change (forwarded from {MEMBER}): db-1 stopped",
                    ec2_state_change(db, "stopped", account=MEMBER))
        self.show()
        self.check_gone(DB)

    # ------------------------------------------------------------------ the home router
    def ctl(self, *args: str) -> str:
        """The operator CLI, run as an operator would against the same (emulated) AWS."""
        binary = Path(self.binary).with_name("ec2-dns-ctl")
        env = {"PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir(), "AWS_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": self.proxy.url, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
               "LOCK_TABLE": LOCK_TABLE}
        p = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            raise Abort(f"ec2-dns-ctl {' '.join(args)} failed:\n{p.stderr}")
        return p.stdout

    def router_update(self, password: str) -> str:
        """One update as the router sends it: with ddclient when it is installed."""
        ddclient = shutil.which("ddclient")
        if not ddclient:
            auth = base64.b64encode(f"home-router:{password}".encode()).decode()
            req = urllib.request.Request(f"{self.front.url}/nic/update?hostname={HOME}",
                                         headers={"Authorization": f"Basic {auth}"})
            print(f"-> GET /nic/update?hostname={HOME} (ddclient is not installed: plain HTTP)")
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read().decode().strip()
        work = Path(tempfile.mkdtemp(prefix="ec2dns-ddclient-"))
        conf = work / "ddclient.conf"
        conf.write_text(f"ssl=no\ncache={work / 'cache'}\n"
                        f"use=web, web={self.front.url}/checkip\nprotocol=dyndns2\n"
                        f"server=127.0.0.1:{self.front.port}\nlogin=home-router\n"
                        f"password='{password}'\n{HOME}\n")
        conf.chmod(0o600)
        print("-> ddclient -foreground -force -daemon=0 (protocol dyndns2)")
        p = subprocess.run([ddclient, "-file", str(conf), "-foreground", "-force", "-daemon=0",
                            "-verbose", "-noquiet"], capture_output=True, text=True, timeout=60)
        lines = [ln for ln in (p.stdout + p.stderr).splitlines()
                 if ln.startswith(("SUCCESS", "FAILED", "WARNING"))]
        for ln in lines:
            print(f"   ddclient: {ln}")
        shutil.rmtree(work, ignore_errors=True)
        return " ".join(lines)

    def home_router(self) -> None:
        from harness.http_front import FunctionUrlFront
        w = self.world
        self.step("A home router keeps home.dyn.example.com through the DDNS endpoint")
        issued = json.loads(self.ctl("host", "add", "home-router", "--names", HOME, "--json"))
        print(f"-> ec2-dns-ctl host add home-router --names {HOME}: a secret, shown once")
        binary = Path(self.binary).with_name("ec2-dns-ddns")
        self.ddns = Ec2DnsFunction(self.proxy.url, {"LOCK_TABLE": LOCK_TABLE},
                                   command=[str(binary)]).start().wait_ready()
        self.front = FunctionUrlFront(self.ddns, source_ip=ROUTER).start()
        print(f"   endpoint (its function URL) on {self.front.url}; the router's line is {ROUTER}")
        answer = self.router_update(issued["secret"])
        self.show()
        self.check("the router's update is answered good", "good" in answer, answer)
        self.check(f"{HOME} public A -> the router's address",
                   w.records(self.public).get((HOME, "A")) == (TTL, [ROUTER]),
                   f"found {w.records(self.public).get((HOME, 'A'))}")
        marker = w.marker(self.public, HOME) or {}
        self.check(f"{HOME} marked as host home-router's (qualified by this deployment)",
                   marker.get("owner") == "123456789012/us-east-1/host/home-router",
                   f"found {marker}")
        self.proxy.reset_calls()
        answer = self.router_update(issued["secret"])
        calls = self.proxy.calls()
        print(f"   AWS calls of the second update: {calls}")
        self.check("the same address again is nochg and writes nothing",
                   ("nochg" in answer or "already" in answer)
                   and not any(k in WRITES for k in calls), f"{answer} {calls}")
        w.set_tags(self.api1, {"dnsname": f"{API},{HOME}"})
        self.invoke("EC2 tag change: api-1 also asks for home", ec2_state_change(self.api1, "running"))
        status = w.status_tag(self.api1) or ""
        self.check("an instance cannot take the router's name",
                   f"conflict: {HOME} is owned by host/home-router" in status, f"found {status!r}")


WRITES = WRITE_CALLS


def main() -> int:
    binary = os.environ.get("EC2_DNS_BIN") or str(REPO / "target" / "debug" / "ec2-dns")
    if not os.path.exists(binary):
        print(f"ec2-dns binary not found at {binary}: run `cargo build` or set EC2_DNS_BIN",
              file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    started = time.monotonic()
    demo = Demo(binary)
    try:
        demo.start()
        demo.run()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything")
        return 130
    except Abort as e:
        demo.failures.append(str(e))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # do not interrupt the clean-up
        demo.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print("=" * 78)
    took = time.monotonic() - started
    if demo.failures:
        print(f"DEMO FAILED ({len(demo.failures)} check(s), {took:.1f}s):")
        for f in demo.failures:
            print(f"  - {f}")
        return 1
    print(f"DEMO OK: every step ended in the state the story says ({took:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
