#!/usr/bin/env python3
"""Benchmarks of ec2-dns against moto, through the strict API-counting proxy.

    EC2_DNS_BIN=$(pwd)/target/release/ec2-dns .venv/bin/python tests/bench.py [--quick]

Scenarios (each on a freshly reset moto, so no scenario sees another's state or counts):

1. single events: first start, duplicate, address change after a lost stop event, stop,
   start after the stop; AWS calls per service:operation and handler latency (median);
2. SQS bursts of 200 and 1,000 `running` events in one batch; every record checked in moto;
3. reconcile-all over 1,000 (dry run and real run) and 10,000 tagged instances (skipped by
   --quick): calls, wall time, the function's CPU time and peak RSS (VmHWM);
4. cold start of the binary: process start to its first `GET …/invocation/next`, and VmHWM
   at that moment (median of --starts starts);
5. the size of target/lambda/ec2-dns/bootstrap.zip (`make bench` builds it first, with `make package`).

Prints every figure and rewrites docs/benchmarks.md (the generated numbers plus the notes
on method and interpretation kept below, so a regeneration keeps them). Everything it
starts (moto, the proxy, the function, the Runtime API host) binds 127.0.0.1 and is stopped
on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer  # noqa: F401 (documentation of the base)
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

# Keep the host's AWS configuration away from boto3 in this process.
for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from harness import WRITE_CALLS, AwsProxy, Ec2DnsFunction, MotoServer, World  # noqa: E402
from harness import ec2_state_change, sqs_event  # noqa: E402
from harness.net import LOOPBACK  # noqa: E402
from harness.proxy import identify  # noqa: E402
from harness.runtime import _Handler, _Pending, _Server, RuntimeApi  # noqa: E402

DOMAIN = "dyn.example.com"
LOCK_TABLE = "ec2-dns-locks"
TTL = 60
AMI = "ami-12345678"
ZIP = REPO / "target" / "lambda" / "ec2-dns" / "bootstrap.zip"
DOC = REPO / "docs" / "benchmarks.md"
RESULTS = REPO / "target" / "bench" / "results.json"  # raw figures, for --merge
SECTIONS = ("cold", "single", "burst", "reconcile")

_STOP_ON_EXIT: list = []  # objects with .stop(), stopped in reverse order on exit


def now() -> float:
    return time.perf_counter()


# =========================================================================== instrumentation


class _StampedEvent(threading.Event):
    """An Event that remembers when it was set (the moment the answer arrived)."""
    at: float | None = None

    def set(self):
        if self.at is None:
            self.at = now()
        super().set()


class _TimedHandler(_Handler):
    def do_GET(self):  # noqa: N802
        api: TimedRuntimeApi = self.server.api
        if api.first_poll_at is None:
            t = now()
            api.first_poll_hwm_kb = api.read_hwm()
            api.first_poll_at = t  # last: the waiting thread reads both once this is set
        return super().do_GET()


class TimedRuntimeApi(RuntimeApi):
    """The harness's Runtime API host, plus timestamps: when an invocation was queued and
    answered (handler latency), when the first `/next` poll arrived (cold start) and the
    process's VmHWM at that moment."""

    def __init__(self):
        super().__init__()
        self.first_poll_at: float | None = None
        self.first_poll_hwm_kb: int | None = None
        self.pid: int | None = None
        self.pid_set = threading.Event()
        self.last: _Pending | None = None

    def start(self) -> "TimedRuntimeApi":
        self._server = _Server((LOOPBACK, 0), _TimedHandler)
        self._server.api = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        return self

    def read_hwm(self) -> int | None:
        self.pid_set.wait(2)
        return proc_status_kb(self.pid, "VmHWM") if self.pid else None

    def submit(self, body: bytes, timeout_s: float) -> _Pending:
        pending = _Pending(__import__("uuid").uuid4().__str__(), body,
                           int((time.time() + timeout_s) * 1000))
        pending.done = _StampedEvent()
        pending.queued_at = now()
        self.last = pending
        self._queue.put(pending)
        return pending


def kb_field(path: str, field: str) -> int | None:
    """A `Field:   1234 kB` value of a /proc file such as /proc/<pid>/status or /proc/meminfo."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_status_kb(pid: int, field: str) -> int | None:
    return kb_field(f"/proc/{pid}/status", field)


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process, seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class BenchFunction(Ec2DnsFunction):
    """The real binary with a timed Runtime API host; `start()` notes the moment just before
    the process is spawned."""

    def __init__(self, endpoint_url, config=None, **kw):
        super().__init__(endpoint_url, config, **kw)
        self.runtime = TimedRuntimeApi()
        self.spawned_at: float | None = None
        self.exec_at: float | None = None

    def start(self) -> "BenchFunction":
        if not self.command[0] or not os.path.exists(self.command[0]):
            raise FileNotFoundError(f"function binary {self.command[0]!r} not found: set EC2_DNS_BIN")
        self.runtime.start()
        self.command = [c.replace("{RUNTIME_API}", self.runtime.address) for c in self.command]
        out = open(self._stdout_path, "wb")
        err = open(self._stderr_path, "wb")
        self._files = [out, err]
        env = self.environment()
        # The child notes the moment just before execve (CLOCK_MONOTONIC is shared by all
        # processes, so the parent can compare it with its own timestamps): fork and Python's
        # Popen bookkeeping are thus not counted as the binary's start-up.
        rfd, wfd = os.pipe()

        def stamp():
            os.write(wfd, repr(time.perf_counter()).encode())
            os.close(wfd)

        self.spawned_at = now()
        try:
            self.proc = subprocess.Popen(self.command, env=env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=str(self.workdir),
                                         start_new_session=True, preexec_fn=stamp)
        finally:
            os.close(wfd)
        self.runtime.pid = self.proc.pid
        self.runtime.pid_set.set()
        try:
            self.exec_at = float(os.read(rfd, 64).decode() or "nan")
        except ValueError:
            self.exec_at = None
        os.close(rfd)
        return self

    def timed_invoke(self, payload, timeout: float = 600) -> dict:
        """Invoke once; {"result", "latency_s", "cpu_s", "hwm_kb"}."""
        cpu0 = proc_cpu_s(self.proc.pid)
        result = self.invoke_ok(payload, timeout=timeout)
        pending = self.runtime.last
        cpu1 = proc_cpu_s(self.proc.pid)
        return {
            "result": result,
            "latency_s": pending.done.at - pending.queued_at,
            "cpu_s": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
            "hwm_kb": proc_status_kb(self.proc.pid, "VmHWM"),
        }


class BenchProxy(AwsProxy):
    """The strict proxy, plus: the time each AWS request spends in the proxy and moto (so the
    wall time of an invocation can be split into "waiting for AWS" and the rest), and one
    adaptation of moto's paging (below)."""

    def __init__(self, upstream_url: str):
        super().__init__(upstream_url)
        self._intervals: list[tuple[float, float]] = []
        self._durations: dict[str, list[float]] = {}
        self.tag_pages_per_reservation = False  # on for reconcile-all worlds only
        self._snapshot: dict | None = None
        self.snapshot_pages = 0
        self.snapshot_hits = 0

    def _forward(self, h, body: bytes) -> None:
        t0 = now()
        try:
            return super()._forward(h, body)
        finally:
            t1 = now()
            service, operation = identify(h.command, h.path, h.headers, body)
            with self._state_lock:
                self._intervals.append((t0, t1))
                self._durations.setdefault(f"{service}:{operation}", []).append(t1 - t0)

    def slowest(self) -> dict[str, float]:
        """The longest time one request of each operation took (proxy + moto), seconds."""
        with self._state_lock:
            return {k: max(v) for k, v in sorted(self._durations.items())}

    def _upstream(self, h, body: bytes):
        # moto pages DescribeInstances by *reservations* (MaxResults=1000 gives up to 1,000
        # reservations, whatever their size); EC2 pages by instances. The bench launches
        # instances in reservations of at most 1,000 and, for the tag-key listing of
        # reconcile-all, asks moto for one reservation per page: pages of <= 1,000 instances,
        # as EC2 would give for MaxResults=1000. The binary's request and the count are
        # unchanged.
        if (self.tag_pages_per_reservation and body and b"Action=DescribeInstances" in body
                and b"tag-key" in body and b"MaxResults=1000" in body):
            body = body.replace(b"MaxResults=1000", b"MaxResults=1")
            cached = self._from_snapshot(body)
            if cached is not None:
                return cached
        if body and b"Action=" in body and b"Action=Describe" not in body:
            self._snapshot = None  # any EC2 write (or other action) ends the snapshot
        return super()._upstream(h, body)

    # -- the tag-key listing snapshot (see NOTES, "moto's listing at 10,000")
    _LISTING = ("Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag-key"
                "&Filter.1.Value.1=dnsname&MaxResults=1")

    @staticmethod
    def _listing_key(body: bytes):
        """NextToken of a plain tag-key listing (no other filter), or False if it is not one."""
        import urllib.parse as up
        q = up.parse_qs(body.decode("utf-8", "replace"))
        plain = {k: v for k, v in q.items() if k not in ("NextToken",)}
        want = up.parse_qs(BenchProxy._LISTING)
        if plain != want:
            return False
        return q.get("NextToken", [None])[0]

    def take_snapshot(self, expect_instances: int | None = None) -> float:
        """Fetch every page of the tag-key listing from moto now; serve them from memory until
        the next EC2 write. Returns the seconds moto took.

        With `expect_instances` (the world's instance count, all of them tagged), the pages
        are fetched without the tag-key filter: the answer is the same, and moto's tag filter
        costs O(instances × tags) per page (minutes per page at 10,000 instances)."""
        import http.client
        t0 = now()
        pages, token = {}, None
        listing = self._LISTING
        if expect_instances is not None:
            listing = "Action=DescribeInstances&Version=2016-11-15&MaxResults=1"
        seen = 0
        while True:
            body = listing + (f"&NextToken={token}" if token else "")
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=600)
            try:
                conn.request("POST", "/", body=body.encode(), headers={
                    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
                                     "ec2/aws4_request, SignedHeaders=host, Signature=0"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"listing snapshot: moto answered {resp.status}: {data[:300]}")
                pages[token] = (resp.status, resp.getheaders(), data)
            finally:
                conn.close()
            seen += data.count(b"<instanceState>")
            m = re.search(rb"<nextToken>([^<]+)</nextToken>", data)
            if not m:
                break
            token = m.group(1).decode()
        if expect_instances is not None and seen != expect_instances:
            raise RuntimeError(f"listing snapshot: {seen} instances, expected {expect_instances}")
        self._snapshot = pages
        self.snapshot_pages = len(pages)
        return now() - t0

    def _from_snapshot(self, body: bytes):
        snap = self._snapshot
        if snap is None:
            return None
        key = self._listing_key(body)
        if key is False or key not in snap:
            return None
        self.snapshot_hits += 1
        return snap[key]

    def reset_calls(self) -> None:
        super().reset_calls()
        with self._state_lock:
            self._intervals.clear()
            self._durations.clear()

    def aws_busy_s(self) -> float:
        """Seconds during which at least one AWS request was outstanding (interval union)."""
        with self._state_lock:
            spans = sorted(self._intervals)
        total, cur_s, cur_e = 0.0, None, None
        for s, e in spans:
            if cur_e is None or s > cur_e:
                if cur_e is not None:
                    total += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        if cur_e is not None:
            total += cur_e - cur_s
        return total


# =========================================================================== the world


class Bench:
    def __init__(self, binary: str, moto_rss_limit_kb: int | None = None):
        self.binary = binary
        self.moto = MotoServer()
        self.world: World | None = None
        self.proxy: BenchProxy | None = None
        self.zones: dict[str, str] = {}
        self.functions: list[BenchFunction] = []
        # moto's memory can outgrow the machine (see the notes on the real run at 10,000):
        # a watchdog kills it above this limit, and the run in progress is recorded as failed.
        self.moto_rss_limit_kb = moto_rss_limit_kb
        self.moto_killed_at_kb: int | None = None
        self._watchdog_stop = threading.Event()

    def start(self) -> "Bench":
        _STOP_ON_EXIT.append(self)
        self.moto.start()
        self.moto.warm()
        self.world = World(self.moto.url, lock_table=LOCK_TABLE)
        if self.moto_rss_limit_kb:
            threading.Thread(target=self._watch_moto, daemon=True).start()
        return self

    def _watch_moto(self) -> None:
        while not self._watchdog_stop.wait(1.0):
            proc = self.moto.proc
            rss = proc_status_kb(proc.pid, "VmRSS") if proc is not None else None
            if rss is not None and rss > self.moto_rss_limit_kb:
                self.moto_killed_at_kb = rss
                print(f"[bench] moto uses {mb(rss)}, over the limit of "
                      f"{mb(self.moto_rss_limit_kb)}: stopping it", file=sys.stderr, flush=True)
                proc.kill()
                return

    def moto_failure(self) -> str | None:
        """Why moto is gone, if the watchdog killed it."""
        if self.moto_killed_at_kb is None:
            return None
        return (f"moto stopped by the bench at {mb(self.moto_killed_at_kb)} "
                f"(limit {mb(self.moto_rss_limit_kb)})")

    def stop(self) -> None:
        self._watchdog_stop.set()
        for fn in self.functions:
            try:
                fn.stop()
            except Exception:  # noqa: BLE001
                pass
        self.functions = []
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self.moto.stop()

    def fresh_world(self) -> None:
        """Reset moto, new proxy (fresh counters), lock table, public + private zone."""
        for fn in self.functions:
            fn.stop()
        self.functions = []
        if self.proxy is not None:
            self.proxy.stop()
        self.moto.reset()
        self.moto.warm()
        self.world = World(self.moto.url, lock_table=LOCK_TABLE)
        self.world.create_lock_table()
        self.zones = {"public": self.world.create_zone(DOMAIN),
                      "private": self.world.create_zone(DOMAIN, private=True)}
        self.proxy = BenchProxy(self.moto.url).start()

    def function(self, config: dict | None = None) -> BenchFunction:
        fn = BenchFunction(self.proxy.url, config, command=[self.binary])
        self.functions.append(fn)
        fn.start()
        return fn

    def retire(self, fn: BenchFunction) -> None:
        fn.stop()
        if fn in self.functions:
            self.functions.remove(fn)

    # ---- instances
    def launch(self, n: int, prefix: str, per_reservation: int = 1000) -> tuple[list[dict], dict]:
        """n running instances, each tagged `dnsname = <prefix>-<i>.dyn.example.com`.

        run_instances in reservations of <= per_reservation, then one create_tags per
        instance (one value per call), 8 in parallel. Returns the instances
        ({id, name, public, private}) and the setup timings."""
        ec2 = self.world.ec2
        out: list[dict] = []
        t0 = now()
        while len(out) < n:
            k = min(per_reservation, n - len(out))
            res = ec2.run_instances(ImageId=AMI, MinCount=k, MaxCount=k, InstanceType="t3.micro")
            for i in res["Instances"]:
                out.append({"id": i["InstanceId"], "public": i.get("PublicIpAddress"),
                            "private": i.get("PrivateIpAddress")})
        t1 = now()
        for idx, inst in enumerate(out):
            inst["name"] = f"{prefix}-{idx}.{DOMAIN}"

        def tag(inst):
            ec2.create_tags(Resources=[inst["id"]],
                            Tags=[{"Key": "dnsname", "Value": inst["name"]}])

        with ThreadPoolExecutor(8) as ex:
            list(ex.map(tag, out))
        t2 = now()
        missing = [i["id"] for i in out if not i["public"] or not i["private"]]
        if missing:
            raise RuntimeError(f"{len(missing)} instances without addresses, e.g. {missing[:3]}")
        return out, {"run_instances_s": t1 - t0, "create_tags_s": t2 - t1, "n": n}

    # ---- verification
    def verify(self, instances: list[dict], sample_status: int = 20) -> dict:
        """Every instance's name has exactly its public A in the public zone and its private
        A in the private zone (TTL 60), nothing else is there, and every name has a lock."""
        t0 = now()
        problems: list[str] = []
        pub = self.world.records(self.zones["public"], types=("A", "AAAA"))
        prv = self.world.records(self.zones["private"], types=("A", "AAAA"))
        for label, recs, key in (("public", pub, "public"), ("private", prv, "private")):
            want = {(i["name"], "A"): (TTL, [i[key]]) for i in instances}
            for k, v in want.items():
                if recs.get(k) != v:
                    problems.append(f"{label} {k}: {recs.get(k)} != {v}")
            extra = set(recs) - set(want)
            if extra:
                problems.append(f"{label}: {len(extra)} unexpected record sets, e.g. {sorted(extra)[:3]}")
        for z in self.zones.values():
            d = self.world.duplicate_record_sets(z)
            if d:
                problems.append(f"zone {z}: {len(d)} duplicate record sets")
        locks = self.world.lock_items()
        names = {i["name"] for i in instances}
        owners = {i["name"]: i["id"] for i in instances}
        name_locks = {k: v for k, v in locks.items() if not k.startswith("owner#")}
        if set(name_locks) != names:
            problems.append(f"locks: {len(name_locks)} name locks for {len(names)} names")
        bad_owner = [k for k, v in name_locks.items() if owners.get(k) != v.get("owner")]
        if bad_owner:
            problems.append(f"{len(bad_owner)} locks with the wrong owner")
        with_intent = [k for k, v in name_locks.items() if "intent" in v]
        if with_intent:
            problems.append(f"{len(with_intent)} locks still carry an intent")
        for inst in instances[:: max(1, len(instances) // sample_status)][:sample_status]:
            tag = self.world.status_tag(inst["id"])
            if not (tag or "").startswith(f"ok: {inst['name']}"):
                problems.append(f"status tag of {inst['id']}: {tag!r}")
        return {"ok": not problems, "problems": problems[:10], "n_problems": len(problems),
                "records": len(pub) + len(prv), "verify_s": now() - t0}


def calls_of(proxy: BenchProxy) -> dict[str, int]:
    return dict(sorted(proxy.calls().items()))


def errors_of(proxy: BenchProxy) -> dict[str, int]:
    """Answers other than 2xx, per "service:Operation status" (throttles, rejections, …)."""
    out: dict[str, int] = {}
    for e in proxy.call_log():
        st = e.get("status")
        if not (isinstance(st, int) and 200 <= st < 300):
            k = f"{e['call']} {st}" + (f" ({e['rejected'][:60]})" if e.get("rejected") else "")
            out[k] = out.get(k, 0) + 1
    return out


def fmt_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"


def total(calls: dict[str, int], exclude=()) -> int:
    return sum(v for k, v in calls.items() if k not in exclude)


# =========================================================================== scenarios


SINGLE_KINDS = [
    ("first", "first start (fresh claim)"),
    ("duplicate", "duplicate of that event (steady state)"),
    ("restart", "restart with a new IP, stop event lost (address change)"),
    ("stop", "stop (release)"),
    ("start_again", "start after the stop (name claimed again, new IP)"),
]


def bench_single(b: Bench, reps: int) -> dict:
    """One container (zone list cached after its first event), `reps` instances, each taken
    through the five events; calls and latency per event kind."""
    b.fresh_world()
    fn = b.function()
    w = b.world
    # the container's first invocation pays ListHostedZones: measure it separately
    warm_id = w.run_instance({"dnsname": f"warmup.{DOMAIN}"})
    b.proxy.reset_calls()
    r = fn.timed_invoke(ec2_state_change(warm_id, "running"))
    cold_first = {"calls": calls_of(b.proxy), "latency_s": r["latency_s"]}

    per_kind: dict[str, list] = {k: [] for k, _ in SINGLE_KINDS}
    for rep in range(reps):
        name = f"single-{rep}.{DOMAIN}"
        iid = w.run_instance({"dnsname": name})

        def step(kind, state):
            b.proxy.reset_calls()
            r = fn.timed_invoke(ec2_state_change(iid, state))
            per_kind[kind].append({"calls": calls_of(b.proxy), "latency_s": r["latency_s"],
                                   "result": r["result"], "errors": errors_of(b.proxy)})

        step("first", "running")
        step("duplicate", "running")
        old = w.public_ip(iid)
        w.stop(iid)
        w.start(iid)
        if w.public_ip(iid) == old:
            raise RuntimeError("moto kept the public IP over stop/start")
        step("restart", "running")
        w.stop(iid)
        step("stop", "stopped")
        w.start(iid)
        step("start_again", "running")
        # final state of this instance must be right
        inst = w.instance(iid)
        pub = w.records(b.zones["public"])
        if pub.get((name, "A")) != (TTL, [inst["PublicIpAddress"]]):
            raise RuntimeError(f"{name}: public A {pub.get((name, 'A'))} after start_again")
    out = {"cold_first": cold_first, "reps": reps, "kinds": {}}
    for kind, label in SINGLE_KINDS:
        runs = per_kind[kind]
        ops = sorted({op for r in runs for op in r["calls"]})
        out["kinds"][kind] = {
            "label": label,
            "calls": {op: sorted({r["calls"].get(op, 0) for r in runs}) for op in ops},
            "totals": sorted({total(r["calls"]) for r in runs}),
            "latency_ms": [r["latency_s"] * 1000 for r in runs],
            "errors": sorted({e for r in runs for e in r["errors"]}),
        }
    b.retire(fn)
    return out


def bench_burst(b: Bench, n: int) -> dict:
    b.fresh_world()
    instances, setup = b.launch(n, f"burst{n}")
    fn = b.function()
    # warm the container's zone cache with an unrelated, ignored invocation? No: a burst
    # arriving at a cold container is the realistic case, and ListHostedZones is listed.
    event = sqs_event([ec2_state_change(i["id"], "running") for i in instances])
    b.proxy.reset_calls()
    t0 = now()
    r = fn.timed_invoke(event, timeout=900)
    wall = now() - t0
    calls = calls_of(b.proxy)
    errors = errors_of(b.proxy)
    busy = b.proxy.aws_busy_s()
    failures = r["result"].get("batchItemFailures") if isinstance(r["result"], dict) else None
    check = b.verify(instances)
    b.retire(fn)
    records = 2 * n
    return {"n": n, "setup": setup, "calls": calls, "latency_s": r["latency_s"], "wall_s": wall,
            "cpu_s": r["cpu_s"], "hwm_kb": r["hwm_kb"], "aws_busy_s": busy,
            "batch_item_failures": len(failures or []), "verify": check, "records": records,
            "errors": errors, "split_route53_batches": b.proxy.split_route53_batches,
            "slowest": b.proxy.slowest(),
            "r53_changes_per_1000_records": calls.get("route53:ChangeResourceRecordSets", 0)
            / (records / 1000),
            "describe_per_1000_instances": calls.get("ec2:DescribeInstances", 0) / (n / 1000)}


def bench_reconcile_all(b: Bench, n: int, real: bool, timeout: float) -> dict:
    b.fresh_world()
    instances, setup = b.launch(n, f"all{n}")
    b.proxy.tag_pages_per_reservation = True  # all instances in reservations of 1,000
    out = {"n": n, "setup": setup, "runs": {}}
    # dry: plan everything, write nothing; real: apply it; steady: the same again once
    # everything is current (what the scheduled reconcile costs every 15 minutes)
    modes = [("dry", True)] + ([("real", False), ("steady", False)] if real else [])
    for label, dry in modes:
        fn = b.function()  # a fresh process per run: VmHWM is this run's own peak
        listing_s = b.proxy.take_snapshot(expect_instances=n) \
            if b.proxy._snapshot is None else None
        b.proxy.snapshot_hits = 0
        b.proxy.reset_calls()
        t0 = now()
        try:
            r = fn.timed_invoke({"reconcile": "all", "dry_run": dry}, timeout=timeout)
            failure = b.moto_failure()
        except AssertionError as e:  # InvocationTimeout is an AssertionError too
            failure = b.moto_failure() or str(e).splitlines()[0][:300]
        if failure is not None:
            out["runs"][label] = {"error": failure, "wall_s": now() - t0,
                                  "calls": calls_of(b.proxy)}
            b.retire(fn)
            if b.moto_failure():
                break  # moto is gone: nothing more can run on this world
            continue
        wall = now() - t0
        rep = r["result"]
        run = {"calls": calls_of(b.proxy), "errors": errors_of(b.proxy),
               "slowest": b.proxy.slowest(),
               "wall_s": wall, "latency_s": r["latency_s"],
               "cpu_s": r["cpu_s"], "hwm_kb": r["hwm_kb"], "aws_busy_s": b.proxy.aws_busy_s(),
               "listing_snapshot_s": listing_s, "listing_pages": b.proxy.snapshot_pages,
               "listing_served_from_snapshot": b.proxy.snapshot_hits,
               "changes": len(rep.get("changes", [])), "conflicts": len(rep.get("conflicts", [])),
               "skipped": len(rep.get("skipped", [])), "failed": len(rep.get("failed", [])),
               "report_bytes": len(json.dumps(rep))}
        if not dry:
            run["verify"] = b.verify(instances)
        else:
            run["changed_anything"] = b.world.lock_items() != {}
        out["runs"][label] = run
        b.retire(fn)
    return out


def bench_cold_start(binary: str, starts: int) -> dict:
    """Process start to the first `/next` poll, VmHWM at that moment; and the same measure
    for a minimal C program polling `/next` (the floor: fork/exec from Python + the host's accept)."""

    def measure(command):
        samples = []
        for _ in range(starts):
            fn = BenchFunction("http://127.0.0.1:9", command=list(command))
            try:
                fn.start()
                deadline = now() + 10
                while fn.runtime.first_poll_at is None and now() < deadline:
                    if fn.proc.poll() is not None:
                        raise RuntimeError(f"{command[0]} exited: {fn.log_tail()}")
                    time.sleep(0.001)
                if fn.runtime.first_poll_at is None:
                    raise RuntimeError(f"{command[0]}: no /next poll within 10 s")
                samples.append(((fn.runtime.first_poll_at - fn.exec_at) * 1000,
                                fn.runtime.first_poll_hwm_kb,
                                (fn.runtime.first_poll_at - fn.spawned_at) * 1000))
            finally:
                fn.stop()
        return samples

    fn_samples = measure([binary])
    poller = _build_poller()
    floor = measure([poller, "{RUNTIME_API}"]) if poller else []
    return {
        "starts": starts,
        "ms": [s[0] for s in fn_samples],
        "hwm_kb": [s[1] for s in fn_samples],
        "floor_ms": [s[0] for s in floor],
        "from_popen_ms": [s[2] for s in fn_samples],
        "binary_bytes": os.path.getsize(binary),
    }


_POLLER_C = r"""
/* The smallest "function": connect to the Runtime API and send GET /next, nothing else.
   Its cold start is the floor of the bench's method (exec + the host's accept). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char host[64]; int port; char req[256]; char buf[512];
    if (argc < 2 || sscanf(argv[1], "%63[^:]:%d", host, &port) != 2) return 2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a; memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return 1;
    int n = snprintf(req, sizeof req, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                     "Host: %s\r\n\r\n", argv[1]);
    if (write(fd, req, n) != n) return 1;
    while (read(fd, buf, sizeof buf) > 0) {}
    return 0;
}
"""


def _build_poller() -> str | None:
    """Compile the C poller with the system's cc (None if there is no cc)."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / "ec2-dns-bench-poller"
    src = out.with_suffix(".c")
    try:
        src.write_text(_POLLER_C)
        subprocess.run(["cc", "-O2", "-o", str(out), str(src)], check=True,
                       capture_output=True, timeout=60)
        return str(out)
    except (OSError, subprocess.SubprocessError):
        return None


def zip_size() -> dict:
    if ZIP.exists():
        st = ZIP.stat()
        return {"bytes": st.st_size,
                "mtime": _dt.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")}
    return {"bytes": None}


# =========================================================================== report


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = kb_field("/proc/meminfo", "MemTotal") or 0
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": mem_kb / 1024 / 1024,
            "kernel": platform.release(), "python": platform.python_version(),
            "load_at_start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rng(values: list[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def mb(kb) -> str:
    return "–" if kb is None else f"{kb / 1024:.1f} MB"


def secs(s) -> str:
    return "–" if s is None else (f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s")


def render(res: dict, args, started: float) -> str:
    m = res["machine"]
    L: list[str] = []
    add = L.append
    add("# ec2-dns: benchmarks")
    add("")
    add("Generated by `tests/bench.py` (`make bench`); do not edit by hand, edit the notes in "
        "the script and run it again. What is measured and how to read it is in "
        "[Method](#method) and [Reading the figures](#reading-the-figures) below.")
    add("")
    add(f"- **Machine**: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']:.1f} GiB memory, "
        f"Linux {m['kernel']}, Python {m['python']}")
    add(f"- **Total bench time**: {res['total_s'] / 60:.1f} min")
    add("")
    add("| section | date | binary | command | took | load average after |")
    add("|---|---|---|---|---|---|")
    for name, r in res["runs"].items():
        add(f"| {name} | {r['date']} | `{r['binary']}` ({r['binary_bytes'] / 1e6:.1f} MB) | "
            f"`{r['command']}` | {r['seconds'] / 60:.1f} min | {r['load']} |")
    add("")
    # summary
    add("## Summary: figures against targets")
    add("")
    add("| figure | measured | target | verdict |")
    add("|---|---|---|---|")
    for row in res["summary"]:
        add(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} |")
    add("")
    for note in res.get("not_met_notes", []):
        add(f"- {note}")
    if res.get("not_met_notes"):
        add("")

    # single events
    s = res.get("single")
    if s:
        add(f"## Single events (one container, {s['reps']} instances, each through the five events)")
        add("")
        add("Calls per service:operation (a range where runs differ), handler latency median "
            "(min–max) over the runs. The container's very first invocation is listed apart: it "
            "also lists the hosted zones (cached for 5 minutes per container).")
        add("")
        add("| event | calls | total | latency median (min–max) |")
        add("|---|---|---|---|")
        cf = s["cold_first"]
        add(f"| first event of a new container (fresh claim) | {fmt_calls(cf['calls'])} | "
            f"{total(cf['calls'])} | {cf['latency_s'] * 1000:.0f} ms (one run) |")
        for kind, k in s["kinds"].items():
            calls = ", ".join(f"{op} {rng(v)}" for op, v in k["calls"].items()) or "none"
            lat = k["latency_ms"]
            add(f"| {k['label']} | {calls} | {rng(k['totals'])} | "
                f"{statistics.median(lat):.0f} ms ({min(lat):.0f}–{max(lat):.0f}) |")
        add("")
        errs = sorted({e for k in s["kinds"].values() for e in k["errors"]})
        add("Answers other than 2xx during these events: " + (", ".join(errs) or "none") + ".")
        add("")

    # bursts
    if res.get("bursts"):
        add("## SQS bursts: N `running` events in one batch (fresh claims, cold container)")
        add("")
        add("| N | calls | Route53 changes per 1,000 records | DescribeInstances per 1,000 "
            "instances | records correct | latency | function CPU | waiting for AWS | peak RSS |")
        add("|---|---|---|---|---|---|---|---|---|")
        for bu in res["bursts"]:
            v = bu["verify"]
            ok = "all " + str(v["records"]) + " correct" if v["ok"] and not bu["batch_item_failures"] \
                else f"NO: {v['n_problems']} problems, {bu['batch_item_failures']} failed messages"
            add(f"| {bu['n']} | {fmt_calls(bu['calls'])} | {bu['r53_changes_per_1000_records']:.1f} | "
                f"{bu['describe_per_1000_instances']:.1f} | {ok} | {secs(bu['latency_s'])} | "
                f"{secs(bu['cpu_s'])} | {secs(bu['aws_busy_s'])} | {mb(bu['hwm_kb'])} |")
        add("")
        for bu in res["bursts"]:
            if bu["errors"]:
                add(f"- N={bu['n']}: answers other than 2xx: {fmt_calls(bu['errors'])}")
            if bu["verify"]["problems"]:
                add(f"- N={bu['n']} problems: " + "; ".join(bu["verify"]["problems"]))
        add("")

    # reconcile-all
    if res.get("reconcile"):
        add("## Reconcile-all (`{\"reconcile\": \"all\"}`, fresh container per run)")
        add("")
        add("| instances | run | calls | changes planned/made | wall time | function CPU | "
            "waiting for AWS | peak RSS (VmHWM) | report |")
        add("|---|---|---|---|---|---|---|---|---|")
        for rc in res["reconcile"]:
            for label, run in rc["runs"].items():
                if "error" in run:
                    add(f"| {rc['n']:,} | {label} | {fmt_calls(run['calls'])} | FAILED: "
                        f"{run['error']} | {secs(run['wall_s'])} | | | | |")
                    continue
                extra = ""
                if "verify" in run:
                    v = run["verify"]
                    extra = "; all records correct" if v["ok"] else f"; {v['n_problems']} problems"
                add(f"| {rc['n']:,} | {label} | {fmt_calls(run['calls'])} | {run['changes']:,}"
                    f"{extra} | {secs(run['latency_s'])} | {secs(run['cpu_s'])} | "
                    f"{secs(run['aws_busy_s'])} | {mb(run['hwm_kb'])} | "
                    f"{run['report_bytes'] / 1e6:.2f} MB |")
            if rc.get("skipped_real"):
                add(f"| {rc['n']:,} | real | not run: moto cannot hold it (memory per "
                    "TransactWriteItems); see the notes | | | | | | |")
        add("")
        for rc in res["reconcile"]:
            snaps = [f"{label}: {run['listing_snapshot_s']:.0f} s for {run['listing_pages']} pages"
                     for label, run in rc["runs"].items() if run.get("listing_snapshot_s")]
            if snaps:
                add(f"- {rc['n']:,}: moto's own time for the tag-key listing, fetched by the bench "
                    "before the run (not in the wall time): " + "; ".join(snaps) + ".")
            for label, run in rc["runs"].items():
                if run.get("errors"):
                    add(f"- {rc['n']:,} {label}: answers other than 2xx: {fmt_calls(run['errors'])}")
        if res.get("growth"):
            add("Growth from 1,000 to 10,000 instances (dry run): " + res["growth"])
            add("")

    # setup cost
    setups = [(f"burst {bu['n']}", bu["setup"]) for bu in res.get("bursts", [])] + \
             [(f"reconcile-all {rc['n']}", rc["setup"]) for rc in res.get("reconcile", [])]
    if setups:
        add("Setup in moto (not part of any figure): " + "; ".join(
            f"{lbl}: run_instances {st['run_instances_s']:.0f} s, {st['n']:,} create_tags "
            f"{st['create_tags_s']:.0f} s" for lbl, st in setups) + ".")
        add("")

    # cold start
    c = res.get("cold")
    if c:
        add(f"## Cold start ({c['starts']} starts of `{res['runs']['cold']['binary']}`)")
        add("")
        add("| measure | median | min | max |")
        add("|---|---|---|---|")
        add(f"| exec → first `GET /2018-06-01/runtime/invocation/next` at the host | "
            f"{med(c['ms']):.1f} ms | {min(c['ms']):.1f} ms | {max(c['ms']):.1f} ms |")
        hw = [h for h in c["hwm_kb"] if h is not None]
        if hw:
            add(f"| VmHWM at that moment | {mb(med(hw))} | {mb(min(hw))} | {mb(max(hw))} |")
        if c["floor_ms"]:
            add(f"| the same for a minimal C program polling `/next` (floor of the method) | "
                f"{med(c['floor_ms']):.1f} ms | {min(c['floor_ms']):.1f} ms | "
                f"{max(c['floor_ms']):.1f} ms |")
        add("")

    z = res.get("zip")
    add("## Package")
    add("")
    if z and z.get("bytes"):
        add(f"`target/lambda/ec2-dns/bootstrap.zip` (arm64, `make package`, built {z['mtime']}): "
            f"**{z['bytes'] / 1e6:.2f} MB** ({z['bytes']:,} bytes).")
    else:
        add("`target/lambda/ec2-dns/bootstrap.zip`: **not measured** (the file did not exist when "
            "the bench ran; run `make package` first).")
    add("")
    add("## What the figures say")
    add("")
    for line in interpretation(res):
        add(f"- {line}")
    add("")
    add(NOTES.strip())
    add("")
    return "\n".join(L)


NOTES = """
## Method

- **Set-up.** One `moto_server` (EC2, Route53, DynamoDB) on 127.0.0.1, reset before every
  scenario (`POST /moto-api/reset`), a lock table, a public and a private zone
  `dyn.example.com`; the binary runs as a Lambda function (the harness's Runtime API host,
  `tests/harness/runtime.py`) and reaches moto only through the strict AWS proxy
  (`tests/harness/proxy.py`), which counts every request per service:operation. Instances
  are created and everything is checked straight in moto, so the counters hold only the
  binary's calls.
- **Handler latency** is the time from queuing the invocation at the Runtime API host to
  the arrival of its `/response`; it includes the HTTP hops to the host and everything the
  handler waits for. **Function CPU** is the binary's `utime + stime` over the invocation
  (`/proc/<pid>/stat`). **Waiting for AWS** is the time during which at least one AWS
  request was outstanding at the proxy (the union of the requests' intervals, proxy checks
  and moto included). Against moto most of the latency is waiting for AWS (the rest is
  mostly the function's CPU and, on a busy machine, waiting for a CPU): the emulator sets
  the wall times; the CPU column is the function's own cost.
- **Peak RSS** is `VmHWM` from `/proc/<pid>/status` of the function process right after the
  invocation; every reconcile-all run and every burst gets a fresh process, so the figure is
  that run's own peak (start-up included).
- **Cold start** is measured from the moment the child process calls `execve` (stamped in
  the child just before it, on the monotonic clock shared by all processes) to the moment
  the first `GET …/invocation/next` reaches the host's request handler, with `VmHWM` read
  at that moment. The same measure for a minimal C program that only connects and sends
  the GET (compiled by the bench with `cc`) gives the floor of the method (exec of a tiny
  dynamically linked program, the host's accept and request parsing in
  Python). On Lambda the corresponding span is part of the reported `Init Duration`.
- **Instances.** moto creates ~100 instances/s and answers DescribeInstances at roughly
  100–200 instances/s (its response serialisation), so large worlds are costly to build:
  `run_instances` 1,000 at a time, then one `create_tags` per instance (one value per call,
  8 in parallel) to give every instance its own name. Every name is unique, so every
  instance claims its name (no conflicts).
- **moto's paging** differs from EC2's: moto pages DescribeInstances by reservation
  (`MaxResults=1000` returns up to 1,000 *reservations*). The bench launches reservations of
  1,000 instances and the bench proxy asks moto for one reservation per page of the
  reconcile-all tag-key listing, so the binary sees pages of 1,000 instances as from EC2 and
  makes the number of calls EC2 would need.
- **Route53 batches of more than 500 new records.** The harness proxy sends a validated
  `CREATE` to moto as `UPSERT`, and moto counts an `UPSERT`'s values twice against the 1,000
  values per request, so it refuses a valid batch of 1,000 `CREATE`s that Route53 accepts
  (the first burst run ended in name-by-name retries for this reason). The harness proxy
  forwards such a validated batch to moto in consecutive parts (and primes more than 500
  DELETEs the same way); the binary sees one answer and the counter one call.
- **moto's listing at 10,000.** moto needs more than 10 s to answer one page of 1,000
  instances when it holds 10,000 (it spends ~10 ms of Python per instance serialising the
  answer), which is more than the binary's per-attempt timeout (10 s): the first run of the
  10,000 case failed with `operation attempt timeout` after 5 attempts. So for reconcile-all
  the bench fetches the listing's pages from moto itself just before the invocation (without
  the tag-key filter, which moto evaluates in O(instances × tags) per page — minutes per page
  at 10,000; every instance of these worlds is tagged, so the answer is the same, and the
  bench checks the count) and the proxy answers the binary's tag-key requests with those
  bytes, until the next EC2 write passes through it. The binary's requests are still counted; the wall times then
  leave out moto's listing time, which is given separately ("listing" below the table).
  Real EC2 answers such a page in about a second or two.
- **Records correct** means: for every instance, the public zone holds exactly its public
  IPv4 and the private zone exactly its private IPv4 as an `A` record with TTL 60, there are
  no other A/AAAA record sets and no duplicates, every name has one lock owned by its
  instance without an `intent`, and the status tag of a sample of 20 instances says `ok`.

## Reading the figures

- The targets concern real AWS. Against moto only the **counts** and the function's **CPU
  time and memory** carry over; wall times here are moto's (a single Python process behind
  a Python proxy that serialises DynamoDB and re-reads a zone before every Route53 change).
- The machine is small (2 CPUs). A load average after a section well above 1 (the bench
  itself keeps about one CPU busy: moto, the proxy and the function) means something else
  ran beside it; that inflates times and CPU figures, never the counts. A debug binary (see
  the runs table) costs several times the CPU and memory of the release binary.
- Calls per event follow the cost table of [architecture.md](architecture.md#costs): a
  duplicate event costs one DescribeInstances and one BatchGetItem; a fresh claim adds a
  read of the name's records in each zone (to find someone else's record), the claim, one
  change per zone, the commit and the status tag.
"""


# =========================================================================== main


def summary_rows(res: dict) -> tuple[list[tuple], list[str]]:
    rows, notes = [], []
    s = res.get("single")
    if s:
        dup = s["kinds"]["duplicate"]
        worst = max(dup["totals"])
        status = max(dup["calls"].get("ec2:CreateTags", [0]))
        rows.append(("calls per steady-state event (duplicate)",
                     f"{rng(dup['totals'])} ({', '.join(f'{op} {rng(v)}' for op, v in dup['calls'].items())})",
                     "≤ 3 + status tag", verdict(worst - status <= 3)))
        for kind in ("first", "restart", "stop", "start_again"):
            k = s["kinds"][kind]
            tag = max(k["calls"].get("ec2:CreateTags", [0]))
            within = max(k["totals"]) - tag <= 3
            rows.append((f"calls per event: {k['label']}",
                         f"{rng(k['totals'])} (of which {tag} status tag)",
                         "(≤ 3 + status tag applies to the steady state)",
                         "within it" if within else "n/a: a change, not the steady state"))
        lat = statistics.median(dup["latency_ms"])
        rows.append(("handler latency, steady-state event (median)", f"{lat:.0f} ms", "–", "n/a"))
    for bu in res.get("bursts", []):
        ok = bu["verify"]["ok"] and not bu["batch_item_failures"]
        rows.append((f"burst {bu['n']}: records correct", "yes" if ok else "NO", "all",
                     verdict(ok)))
        # "≤ 2 per 1,000", but never less than one call per zone / one call at all: a batch
        # smaller than 1,000 is held to the whole-call minimum.
        changes = bu["calls"].get("route53:ChangeResourceRecordSets", 0)
        allowed_changes = max(2 * bu["records"] / 1000, 2)  # two zones
        rows.append((f"burst {bu['n']}: Route53 change calls",
                     f"{changes} for {bu['records']:,} records in 2 zones "
                     f"({bu['r53_changes_per_1000_records']:.1f} per 1,000)",
                     "≤ 2 per 1,000 records (at least 1 per zone)", verdict(changes <= allowed_changes)))
        describes = bu["calls"].get("ec2:DescribeInstances", 0)
        allowed_describes = max(2 * bu["n"] / 1000, 1)
        rows.append((f"burst {bu['n']}: DescribeInstances",
                     f"{describes} for {bu['n']:,} instances "
                     f"({bu['describe_per_1000_instances']:.1f} per 1,000)",
                     "≤ 2 per 1,000 instances (at least 1)", verdict(describes <= allowed_describes)))
    for rc in res.get("reconcile", []):
        for label, run in rc["runs"].items():
            if "error" in run:
                rows.append((f"reconcile-all {rc['n']:,} {label}", "failed: " + run["error"][:80],
                             "completes", verdict(False)))
                continue
            rows.append((f"reconcile-all {rc['n']:,} {label}: peak RSS", mb(run["hwm_kb"]),
                         "≤ 64 MB", verdict(run["hwm_kb"] is not None and run["hwm_kb"] <= 64 * 1024)))
            if "verify" in run:
                rows.append((f"reconcile-all {rc['n']:,} {label}: records correct",
                             "yes" if run["verify"]["ok"] else "NO", "all",
                             verdict(run["verify"]["ok"])))
    c = res.get("cold")
    if c:
        debug = "/debug/" in res.get("runs", {}).get("cold", {}).get("binary", "")
        tag = " — debug binary" if debug else ""
        hw = med(c["hwm_kb"])
        rows.append((f"cold start to first poll (median){tag}", f"{med(c['ms']):.1f} ms",
                     "≤ 20 ms (release binary)",
                     "n/a: not the release binary" if debug else verdict(med(c["ms"]) <= 20)))
        rows.append((f"peak RSS at first poll (median){tag}", mb(hw), "≤ 20 MB (release binary)",
                     "n/a: not the release binary" if debug
                     else verdict(hw is not None and hw <= 20 * 1024)))
    z = res.get("zip")
    if z is not None:
        size = z.get("bytes")
        rows.append(("arm64 bootstrap.zip", f"{size / 1e6:.2f} MB" if size else "not measured",
                     "≤ 8 MB", verdict(size <= 8_000_000) if size else "not measured"))
    return rows, notes


def print_tables(res: dict) -> None:
    rows, _ = summary_rows(res)
    w0 = max(len(r[0]) for r in rows) if rows else 10
    w1 = max(len(str(r[1])) for r in rows) if rows else 10
    print("\n=== ec2-dns benchmarks ===")
    for r in rows:
        print(f"{r[0]:<{w0}}  {str(r[1]):<{w1}}  {r[2]:<40}  {r[3].strip('*')}")
    s = res.get("single")
    if s:
        print("\n--- single events: calls / latency ---")
        print(f"first event of a container: {fmt_calls(s['cold_first']['calls'])}")
        for k in s["kinds"].values():
            print(f"{k['label']:<58} total {rng(k['totals']):<6} median "
                  f"{statistics.median(k['latency_ms']):6.0f} ms  "
                  + ", ".join(f"{op} {rng(v)}" for op, v in k["calls"].items()))
    for bu in res.get("bursts", []):
        print(f"\n--- burst {bu['n']}: {fmt_calls(bu['calls'])}; latency {secs(bu['latency_s'])}, "
              f"cpu {secs(bu['cpu_s'])}, aws {secs(bu['aws_busy_s'])}, rss {mb(bu['hwm_kb'])}, "
              f"verify {bu['verify']['ok']} {bu['verify']['problems'][:3]}")
    for rc in res.get("reconcile", []):
        for label, run in rc["runs"].items():
            print(f"\n--- reconcile-all {rc['n']} {label}: {json.dumps(run, default=str)[:600]}")
    if res.get("cold"):
        c = res["cold"]
        print(f"\n--- cold start: {[round(x, 1) for x in c['ms']]} ms; hwm {c['hwm_kb']} kB; "
              f"C poller floor {[round(x, 1) for x in c['floor_ms']]} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 10,000-instance case")
    ap.add_argument("--reps", type=int, default=7, help="runs per single-event kind (default 7)")
    ap.add_argument("--starts", type=int, default=15, help="cold starts measured (default 15)")
    ap.add_argument("--real-10k", action="store_true",
                    help="also the real (writing) reconcile-all at 10,000 instances: moto 5.2.5 "
                         "needs more memory for it than a 24 GB machine has (see the notes)")
    ap.add_argument("--moto-rss-limit-gb", type=float, default=None,
                    help="stop moto (and record the run in progress as failed) when its resident "
                         "memory passes this (default: 60%% of the machine's memory)")
    ap.add_argument("--reconcile-sizes", default="1000,10000",
                    help="instance counts of the reconcile-all section (default 1000,10000)")
    ap.add_argument("--only", default="", help="comma list of sections to run: "
                    "cold,single,burst,reconcile (default all)")
    ap.add_argument("--merge", action="store_true",
                    help=f"keep earlier results from {RESULTS.relative_to(REPO)} for the sections "
                    "not run now (implied by --only; a full run starts afresh)")
    ap.add_argument("--render", action="store_true",
                    help=f"run nothing: rewrite the doc from {RESULTS.relative_to(REPO)}")
    ap.add_argument("--out", default=str(DOC), help="where to write the report")
    args = ap.parse_args()
    if args.render:
        res = json.loads(RESULTS.read_text())
        res["zip"] = zip_size()
        growth(res)
        res["total_s"] = sum(r["seconds"] for r in res["runs"].values())
        res["summary"], _ = summary_rows(res)
        res["not_met_notes"] = NOT_MET(res)
        print_tables(res)
        Path(args.out).write_text(render(res, args, 0))
        print(f"\n[bench] wrote {args.out} from {RESULTS.relative_to(REPO)}")
        return 0

    binary = os.environ.get("EC2_DNS_BIN") or str(REPO / "target" / "release" / "ec2-dns")
    if not os.path.exists(binary):
        print(f"ec2-dns binary not found at {binary}: cargo build --release --bin ec2-dns, or set "
              "EC2_DNS_BIN", file=sys.stderr)
        return 2
    binary = os.path.abspath(binary)
    only = set(filter(None, args.only.split(",")))
    unknown = only - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    want = lambda k: not only or k in only  # noqa: E731

    res: dict = {}
    if (args.merge or only) and RESULTS.exists():
        res = json.loads(RESULTS.read_text())
    res.setdefault("runs", {})
    res["machine"] = machine()
    res["zip"] = zip_size()
    command = (f"EC2_DNS_BIN={os.path.relpath(binary, REPO)} .venv/bin/python tests/bench.py "
               f"{' '.join(sys.argv[1:])}").strip()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)

    def section(name, fn):
        print(f"[bench] {name} …", flush=True)
        t0 = now()
        res[name] = fn()
        res["runs"][name] = {
            "binary": os.path.relpath(binary, REPO), "binary_bytes": os.path.getsize(binary),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": now() - t0, "command": command,
            "load": "%.2f %.2f %.2f" % os.getloadavg()}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(res, indent=1, default=str))

    mem_kb = kb_field("/proc/meminfo", "MemTotal") or 0
    b = Bench(binary, moto_rss_limit_kb=int(args.moto_rss_limit_gb * 1024 * 1024)
              if args.moto_rss_limit_gb else int(mem_kb * 0.6) or None)
    try:
        if want("cold"):
            section("cold", lambda: bench_cold_start(binary, args.starts))
        b.start()
        if want("single"):
            section("single", lambda: bench_single(b, args.reps))
        if want("burst"):
            section("bursts", lambda: [bench_burst(b, n) for n in (200, 1000)])
        if want("reconcile"):
            def reconcile():
                sizes = [int(x) for x in args.reconcile_sizes.split(",")]
                if args.quick:
                    sizes = [n for n in sizes if n < 10000]
                out = {rc["n"]: rc for rc in (res.get("reconcile") or [])} \
                    if (args.merge or only) else {}
                for n in sizes:
                    if b.moto_failure():
                        break
                    big = n >= 10000
                    rc = bench_reconcile_all(b, n, real=not big or args.real_10k,
                                             timeout=3600 if big else 900)
                    if big and not args.real_10k:
                        rc["skipped_real"] = True
                    out[n] = rc
                return [out[n] for n in sorted(out)]
            section("reconcile", reconcile)
    except KeyboardInterrupt:
        print("[bench] interrupted", file=sys.stderr)
        return 130
    finally:
        b.stop()
    growth(res)
    res["total_s"] = sum(r["seconds"] for r in res["runs"].values())
    res["summary"], _ = summary_rows(res)
    res["not_met_notes"] = NOT_MET(res)
    RESULTS.write_text(json.dumps(res, indent=1, default=str))
    print_tables(res)
    Path(args.out).write_text(render(res, args, 0))
    print(f"\n[bench] wrote {args.out} and {RESULTS.relative_to(REPO)} "
          f"(sections run now: {sorted(only) or 'all'})")
    return 0


def interpretation(res: dict) -> list[str]:
    """Sentences written from the measured figures (regenerated with them)."""
    out = []
    s = res.get("single")
    if s:
        k = s["kinds"]
        dup = k["duplicate"]
        out.append(
            "**Steady state is cheap**: a duplicate or stale event for an instance whose records "
            f"are current costs {rng(dup['totals'])} calls "
            f"({', '.join(f'{op} {rng(v)}' for op, v in dup['calls'].items())}), no write — "
            "exactly the cost table of architecture.md.")
        first = k["first"]
        lrs = max(first["calls"].get("route53:ListResourceRecordSets", [0]))
        out.append(
            f"A **fresh claim** costs {rng(first['totals'])} calls: the two reads, {lrs} "
            "ListResourceRecordSets (the name's records in each zone, to detect a record someone "
            "else made), the claim (TransactWriteItems), one change per zone, the commit "
            "(UpdateItem) and the status tag. An **address change** "
            f"({rng(k['restart']['totals'])} calls) needs no Route53 read: the lock's records "
            f"are trusted. A **stop** ({rng(k['stop']['totals'])} calls) adds one "
            "DescribeInstances for waiting claimants before it deletes the records. Only the "
            "steady state is held to the ≤ 3-call target; the others are the price of a change "
            "and are listed for the record.")
    bursts = res.get("bursts") or []
    if bursts:
        big = bursts[-1]
        c = big["calls"]
        n = big["n"]
        out.append(
            f"**Bursts** scale per name, not per event: for {n:,} fresh names, "
            f"{c.get('route53:ChangeResourceRecordSets', 0)} Route53 changes (one per zone; "
            "batches of ≤ 1,000 values), "
            f"{c.get('dynamodb:BatchGetItem', 0)} BatchGetItem (100 keys each, two keys per "
            f"instance), {c.get('ec2:DescribeInstances', 0)} DescribeInstances (up to 1,000 ids each), "
            f"and per name one claim, one commit and one status tag "
            f"({c.get('dynamodb:TransactWriteItems', 0)} + {c.get('dynamodb:UpdateItem', 0)} + "
            f"{c.get('ec2:CreateTags', 0)}), plus {c.get('route53:ListResourceRecordSets', 0)} "
            "Route53 reads (each zone listed once: fresh claims read the names first, and more "
            "than 20 names in one zone read the whole zone). Writes to DynamoDB and EC2 run "
            "`RECONCILE_CONCURRENCY` (16) at a time.")
        if big.get("cpu_s") is not None:
            out.append(
                f"The function's own CPU for the {n:,}-event batch was {secs(big['cpu_s'])} "
                f"against {secs(big['latency_s'])} of latency, of which {secs(big['aws_busy_s'])} "
                "with an AWS request outstanding: the time is moto's (Python, ~10 ms per "
                "instance described, DynamoDB serialised by the proxy), not the function's.")
    rcs = {rc["n"]: rc for rc in res.get("reconcile") or []}
    if 1000 in rcs:
        r1 = rcs[1000]["runs"]
        if "dry" in r1 and "error" not in r1["dry"]:
            d = r1["dry"]
            out.append(
                f"**Reconcile-all reads little**: the dry run over 1,000 instances made "
                f"{total(d['calls'])} calls ({fmt_calls(d['calls'])}) — one DescribeInstances "
                "page, one Scan page, one ListResourceRecordSets page per (still empty) zone. "
                f"It planned {d['changes']:,} changes and wrote nothing.")
        if "steady" in r1 and "error" not in r1["steady"]:
            st = r1["steady"]
            out.append(
                "Once everything is current, a reconcile-all over 1,000 instances (the "
                f"scheduled run's cost) made {total(st['calls'])} calls ({fmt_calls(st['calls'])}) "
                f"and {st['changes']} changes in {secs(st['latency_s'])}; the zones now hold "
                "1,000 record sets each, read page by page.")
        if "real" in r1 and "error" not in r1["real"]:
            rr = r1["real"]
            w = sum(v for k2, v in rr["calls"].items() if k2 in WRITE_CALLS)
            out.append(
                f"The real run over 1,000 instances made {w:,} writes "
                f"({fmt_calls({k2: v for k2, v in rr['calls'].items() if k2 in WRITE_CALLS})}) "
                f"in {secs(rr['latency_s'])}; all records were then correct. The function used "
                f"{secs(rr['cpu_s'])} of CPU and {mb(rr['hwm_kb'])} at its peak.")
    if 10000 not in rcs and 1000 in rcs:
        out.append(
            "**10,000 instances: not in this recording** (run with `--quick`, or not finished). "
            "What happened when it was tried: with moto answering the binary's listing itself, "
            "every page of 1,000 instances took more than 10 s and DescribeInstances failed "
            "after 5 attempts with `operation attempt timeout` (the binary's per-attempt limit is "
            "10 s); served from a snapshot fetched *with* the tag-key filter, moto needed about 3 "
            "minutes per page (its tag filter is O(instances × tags)) and the run was stopped. "
            "The bench now fetches the snapshot without the filter (about 10 s per page). By "
            "construction the dry run's reads grow with the pages: ⌈n / 1,000⌉ DescribeInstances, "
            "⌈lock table size / 1 MB⌉ Scan pages and ⌈records / 300⌉ ListResourceRecordSets per "
            "zone on Route53; memory grows with the instances held (about "
            + (f"{(rcs[1000]['runs']['dry']['hwm_kb'] - (med(res['cold']['hwm_kb']) or 0)) / 1024:.0f} MB "
               "above the idle process for 1,000 in the dry run" if res.get("cold") and
               "dry" in rcs[1000]["runs"] and rcs[1000]["runs"]["dry"].get("hwm_kb") else "linear")
            + ").")
    if 10000 in rcs:
        r10 = rcs[10000]
        if r10.get("skipped_real") and 1000 in rcs and "real" in rcs[1000]["runs"]:
            rr = rcs[1000]["runs"]["real"]
            if "error" not in rr:
                out.append(
                    "**The real run at 10,000 is not run** by default, because moto cannot hold "
                    "it: moto 5.2.5 keeps, for every TransactWriteItems, memory that grows with the "
                    "table (measured here: 3,000 transactions of two puts each left moto at 12 GB "
                    "and took 241 s; 500 transactions on a table of 2,000 items, 0.7 GB, while "
                    "2,000 conditional PutItem calls stay under 0.1 GB). The 10,000 claims of a "
                    "real run need a transaction each, on a table that grows to 20,000 items: a "
                    "`--real-10k` attempt was stopped with moto at 18 GB of this machine's 24 GB and "
                    "growing. By construction the real run makes per name one claim, one "
                    "commit and one status tag (30,000 writes) and 10 Route53 changes per zone "
                    "(batches of 1,000 values), the counts the 1,000 run shows ×10; the 1,000 "
                    f"run took {secs(rr['latency_s'])} against moto. What would measure it: "
                    "a run against real AWS, or an emulator whose transactions cost memory by "
                    "the items they write rather than by the table. The bench now stops moto "
                    "when it passes 60% of the machine's memory (`--moto-rss-limit-gb`) and "
                    "records the run in progress as failed, so an attempt cannot take the "
                    "machine down.")
        if res.get("growth"):
            out.append("From 1,000 to 10,000 instances (dry run): " + res["growth"])
    c = res.get("cold")
    if c:
        out.append(
            f"**Cold start**: {med(c['ms']):.1f} ms from exec to the first poll (median of "
            f"{c['starts']}); a minimal C program that only polls, measured the same way, "
            f"takes {med(c['floor_ms']):.1f} ms: that much of the figure is the method's floor "
            "(exec, the host's accept in Python), the rest is the function's initialisation."
            if c.get("floor_ms") else
            f"**Cold start**: {med(c['ms']):.1f} ms from exec to the first poll.")
    return out


def growth(res: dict) -> None:
    rcs = {rc["n"]: rc for rc in res.get("reconcile", [])}
    if 1000 not in rcs or 10000 not in rcs:
        return
    a, z = rcs[1000]["runs"].get("dry", {}), rcs[10000]["runs"].get("dry", {})
    if "error" in a or "error" in z or not a or not z:
        return
    parts = []
    for key, label, f in (("calls", "calls", lambda r: total(r["calls"])),
                          ("cpu_s", "function CPU", lambda r: r["cpu_s"]),
                          ("hwm_kb", "peak RSS", lambda r: r["hwm_kb"]),
                          ("latency_s", "wall time", lambda r: r["latency_s"])):
        x, y = f(a), f(z)
        if x and y:
            parts.append(f"{label} ×{y / x:.1f}")
    res["growth"] = ", ".join(parts) + " for ×10 instances."


def NOT_MET(res: dict) -> list[str]:  # noqa: N802
    """Why each unmet target is unmet (written from the measured figures)."""
    notes = []
    c = res.get("cold")
    runs = res.get("runs", {})
    if c and "cold" in runs:
        debug = "/debug/" in runs["cold"]["binary"]
        hw = med(c["hwm_kb"])
        if debug:
            notes.append(
                f"Cold start and its RSS were measured with the **debug** binary "
                f"(`{runs['cold']['binary']}`, {runs['cold']['binary_bytes'] / 1e6:.0f} MB, "
                "unoptimised, with debug info), because the release binary was not built yet; "
                "the targets concern the release binary. `make bench` builds it and measures "
                "again; until then the verdicts on these two rows do not apply.")
        else:
            if med(c["ms"]) > 20:
                fl = med(c["floor_ms"]) if c.get("floor_ms") else None
                notes.append(
                    f"Cold start {med(c['ms']):.1f} ms > 20 ms"
                    + (f"; the method's floor (a minimal C poller) is {fl:.1f} ms here, so the "
                       f"function's own part is about {med(c['ms']) - fl:.1f} ms" if fl else "")
                    + ". Initialisation before the first poll is: tracing, the configuration, "
                    "the SDK configuration (`aws_config::defaults(…).load()`, which reads the "
                    "environment and profile files) and three clients with the TLS setup.")
            if hw is not None and hw > 20 * 1024:
                notes.append(
                    f"RSS at the first poll {mb(hw)} > 20 MB: the TLS and SDK set-up dominate; "
                    "a smaller allocator footprint or lazily built clients would lower it.")
    for bu in res.get("bursts", []):
        d = bu["calls"].get("ec2:DescribeInstances", 0)
        if d > max(2 * bu["n"] / 1000, 1):
            notes.append(
                f"Burst {bu['n']}: {d} DescribeInstances for {bu['n']:,} instances, so ≤ 2 per "
                "1,000 is not met. The batch's ids are read with an `instance-id` filter of at "
                "most 200 values per call (`IDS_PER_CALL` in `lambda/src/aws/ec2.rs`), one call "
                "after the other: 5 calls per 1,000 instances. To meet it, read a large batch "
                "(say more than 400 ids) with the tag-key listing reconcile-all uses "
                "(`tag-key = NAME_TAG`, 1,000 instances per page, then keep the batch's ids), or "
                "pass the ids as `InstanceIds` in larger groups (an id EC2 no longer knows then "
                "fails the whole call, so that needs a fallback to the filter).")
        lrs = bu["calls"].get("route53:ListResourceRecordSets", 0)
        if lrs > 2 * len(res["bursts"]) * 10 and bu is res["bursts"][-1]:
            notes.append(
                f"Burst {bu['n']}: {lrs} ListResourceRecordSets (one per fresh name and zone): a "
                "fresh claim first reads the name's records in each zone, to find someone else's "
                "record (architecture.md, What is read). It is not a *change* call, so the Route53 "
                "target is met, but every read counts against Route53's account-wide request "
                f"quota (5 requests/s documented): on real AWS, {bu['n']:,} fresh names cost at least "
                f"{lrs / 5 / 60:.0f} min of reads, throttled and retried. Reading each zone's A/AAAA "
                "sets once (300 per page) when a batch claims more than a few names would cost "
                f"about {2 * -(-bu['n'] // 300)} calls here.")
    return notes


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for obj in reversed(_STOP_ON_EXIT):
            try:
                obj.stop()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
