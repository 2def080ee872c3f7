#!/usr/bin/env python3
"""Benchmarks of ec2-dns against moto, through the strict API-counting proxy.

    EC2_DNS_BIN=$(pwd)/target/release/ec2-dns .venv/bin/python tests/bench.py [--quick]

Scenarios (each on a freshly reset moto, so no scenario sees another's state or counts):

1. cold start of the binary, against moto through the proxy: process start to its first
   `GET …/invocation/next` (no AWS call before it), VmHWM at that moment, and process start
   to the answer of its first event, which builds the clients and reads (or writes) the
   recorded configuration beside its work (median of --starts starts, configuration
   recorded or not);
2. single events on a warm container, for a name with one zone and one with two: fresh
   claim, duplicate (steady state), stop right after the claim (lock in flight), start
   after it, address change, and the stop of a settled lock (claimed with a 26 s deadline,
   stopped 42 s later); AWS calls per service:operation, their order, handler latency;
3. SQS bursts of 200 and 1,000 fresh names in one batch; every record and marker checked
   in moto;
4. reconcile-all over 1,000 (dry run, real run, and a second real run that must change and
   write nothing) and 10,000 tagged instances (dry run; skipped by --quick): calls, writes,
   wall time, the function's CPU time and peak RSS (VmHWM);
5. the size of target/lambda/ec2-dns/bootstrap.zip (`make bench` builds it first, with
   `make package`);
6. fleet events on a warm container with lifecycle hooks listed: the first claim of a
   `{slot}` name (target: a fresh claim's calls + the one read of its first window of slot
   items), the fresh claim of an Auto Scaling group's instance by its `running` event, the
   launch lifecycle action of a group's instance (target: that grouped claim's calls + 1
   `CompleteLifecycleAction` + its `GetChange` polls) and its terminate action, and an
   `AssignIpv6Addresses` event once the instance's lock has settled (target: a fresh
   claim's calls); the state after each checked in moto; the bench exits 1 when one of
   these targets or checks is not met (`--only fleet` runs this section alone);
7. the DDNS endpoint (`ec2-dns-ddns` behind the harness's function URL front, hosts made
   with `ec2-dns-ctl host add`): AWS calls, latency and memory per dyndns2 update (`nochg`,
   change settled / in flight / on a new container, lease refresh, `badauth`, `nohost`),
   the state checked in moto after each; the bench exits 1 when a DDNS target (issue 12:
   `nochg` <= 2 calls, change <= 4) or check is not met;
8. a sharded reconcile of everything (`tests/bench_scale.py`): 1,000 fresh instances for
   real and 10,000 dry, its shards through moto's SQS, against the unsharded run on the
   same world;
9. the simulation of an organisation of 100,000 instances over 50 places under AWS's rate
   limits (`lambda/src/tests/scale.rs`, in-process, simulated time), sharded.

Each figure is held to its target in a summary table (met / not met); an unmet target is
explained with the calls the proxy logged.

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
import socket
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
from harness import LambdaError, ProcessExited  # noqa: E402
from harness import ec2_state_change, ipv6_call, lifecycle_action, sqs_event  # noqa: E402
from harness.net import LOOPBACK  # noqa: E402
from harness.moto import boto_client  # noqa: E402
from harness.proxy import identify  # noqa: E402
from harness.world import marker_name, parse_marker, qualified  # noqa: E402
from harness.runtime import _Handler, _Pending, _Server, RuntimeApi  # noqa: E402
from harness.runtime import ACCOUNT, REGION  # noqa: E402
from harness.http_front import FunctionUrlFront  # noqa: E402
import bench_scale  # noqa: E402

DOMAIN = "dyn.example.com"  # a public and a private zone: two zones per name
SOLO = "solo.example.org"  # a public zone only: the one-zone single-event cases
LOCK_TABLE = "ec2-dns-locks"
TTL = 60
AMI = "ami-12345678"
ZIP = REPO / "target" / "lambda" / "ec2-dns" / "bootstrap.zip"
DOC = REPO / "docs" / "benchmarks.md"
RESULTS = REPO / "target" / "bench" / "results.json"  # raw figures, for --merge
SECTIONS = ("cold", "single", "fleet", "burst", "reconcile", "sharded", "scale", "ddns")

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


def nodelay(sock) -> None:
    """TCP_NODELAY on a socket of the bench's own HTTP servers. Python's http.server writes
    the headers of an answer and its body in two writes; with Nagle's algorithm on, a small
    body then waits for the peer's delayed ACK (40 ms on Linux), a stall of the local
    stand-in that AWS does not have (seen here on PutItem's `{}` answer at start-up)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class _TimedHandler(_Handler):
    def setup(self):
        super().setup()
        nodelay(self.connection)

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

    def wait_first_poll(self, timeout: float = 30.0) -> "BenchFunction":
        """Block until the process polls for its first invocation (it makes no AWS call
        before: its first invocation builds its clients and records its configuration)."""
        deadline = now() + timeout
        while self.runtime.first_poll_at is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"function exited before its first poll:\n{self.log_tail()}")
            if now() > deadline:
                raise RuntimeError(f"function did not poll within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.002)
        return self

    def timed_invoke(self, payload, timeout: float = 600, deadline_s: float | None = None) -> dict:
        """Invoke once; {"result", "latency_s", "cpu_s", "hwm_kb"}. The invocation's deadline,
        as the function sees it, is `deadline_s` from now (default: `timeout`)."""
        cpu0 = proc_cpu_s(self.proc.pid)
        result = self.invoke(payload, timeout=timeout, deadline_s=deadline_s)
        if isinstance(result, (LambdaError, ProcessExited)):
            raise AssertionError(f"invocation failed: {result}\npayload: {json.dumps(payload)[:300]}"
                                 f"\n--- function output ---\n{self.log_tail()}")
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
        self._timeline: list[tuple[float, float, str]] = []  # (start, end, service:operation)
        self._durations: dict[str, list[float]] = {}
        self.tag_pages_per_reservation = False  # on for reconcile-all worlds only
        self._snapshot: dict | None = None
        self.snapshot_pages = 0
        self.snapshot_hits = 0

    def _forward(self, h, body: bytes) -> None:
        nodelay(h.connection)
        t0 = now()
        try:
            return super()._forward(h, body)
        finally:
            t1 = now()
            service, operation = identify(h.command, h.path, h.headers, body)
            with self._state_lock:
                self._intervals.append((t0, t1))
                self._timeline.append((t0, t1, f"{service}:{operation}"))
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
        if (body and b"Action=" in body and b"Action=Describe" not in body
                and identify(h.command, h.path, h.headers, body)[0] == "ec2"):
            self._snapshot = None  # any EC2 write (or other EC2 action) ends the snapshot
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
            self._timeline.clear()
            self._durations.clear()

    def timeline(self) -> list[tuple[float, float, str]]:
        with self._state_lock:
            return sorted(self._timeline)

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
    def __init__(self, binary: str, moto_rss_limit_kb: int | None = None,
                 moto_as_is: bool = False):
        self.binary = binary
        self.moto = MotoServer(command=moto_command(moto_as_is))
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
        """A new function process, started and warm, as a deployment leaves it: past its
        first poll and one `{"record_configuration": true}` invocation (which builds its
        clients and records the configuration), so that no measured invocation pays for
        them. [`bench_cold_start`] measures the cold path."""
        fn = BenchFunction(self.proxy.url, config, command=[self.binary])
        self.functions.append(fn)
        fn.start()
        fn.wait_first_poll()
        fn.invoke({"record_configuration": True})
        time.sleep(0.05)  # the proxy records a call's interval just after answering it
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
        A in the private zone (TTL 60), nothing else is there, no duplicates; beside each, in
        each zone, the ownership marker `_ec2-dns.<name>` (TXT) of the lock's holder and
        generation listing `A`, and no other TXT; every name has a lock held by its instance
        (`account/region/instance-id`), not flagged for a check; the status tag of a sample
        is `ok`."""
        t0 = now()
        problems: list[str] = []
        names = {i["name"] for i in instances}
        owners = {i["name"]: qualified(i["id"]) for i in instances}
        locks = self.world.lock_items()
        name_locks = {k: v for k, v in locks.items() if "#" not in k}
        if set(name_locks) != names:
            problems.append(f"locks: {len(name_locks)} name locks for {len(names)} names")
        bad_owner = [k for k, v in name_locks.items() if owners.get(k) != v.get("owner")]
        if bad_owner:
            problems.append(f"{len(bad_owner)} locks with the wrong holder, e.g. "
                            f"{bad_owner[0]}: {name_locks[bad_owner[0]].get('owner')}")
        flagged = [k for k, v in name_locks.items() if v.get("check") or "intent" in v]
        if flagged:
            problems.append(f"{len(flagged)} locks flagged for a check or with an intent")
        markers = 0
        for label, key in (("public", "public"), ("private", "private")):
            zone = self.zones[label]
            recs = self.world.records(zone, types=("A", "AAAA", "TXT"))
            want = {(i["name"], "A"): (TTL, [i[key]]) for i in instances}
            for k, v in want.items():
                if recs.get(k) != v:
                    problems.append(f"{label} {k}: {recs.get(k)} != {v}")
            for inst in instances:
                got = recs.get((marker_name(inst["name"]), "TXT"))
                lock = name_locks.get(inst["name"]) or {}
                m = parse_marker(got[1]) if got else None
                expected = {"owner": owners[inst["name"]], "gen": lock.get("gen"), "types": ["A"],
                            "deployment": lock.get("deployment")}
                if m != expected:
                    problems.append(f"{label} marker of {inst['name']}: {got} != {expected}")
                else:
                    markers += 1
            extra = set(recs) - set(want) - {(marker_name(n), "TXT") for n in names}
            if extra:
                problems.append(f"{label}: {len(extra)} unexpected record sets, e.g. {sorted(extra)[:3]}")
        for z in self.zones.values():
            d = self.world.duplicate_record_sets(z)
            if d:
                problems.append(f"zone {z}: {len(d)} duplicate record sets")
        for inst in instances[:: max(1, len(instances) // sample_status)][:sample_status]:
            tag = self.world.status_tag(inst["id"])
            if tag != "ok":
                problems.append(f"status tag of {inst['id']}: {tag!r}")
        return {"ok": not problems, "problems": problems[:10], "n_problems": len(problems),
                "records": 2 * len(instances), "markers": markers, "verify_s": now() - t0}


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


def writes_of(calls: dict[str, int]) -> dict[str, int]:
    """The calls that change state (the harness's WRITE_CALLS)."""
    return {k: v for k, v in sorted(calls.items()) if k in WRITE_CALLS and v}


def sequence_of(proxy: BenchProxy) -> list[str]:
    """The calls since the last reset, in the order of their answers (the proxy's log), each
    with its status when it was not 2xx."""
    out = []
    for e in proxy.call_log():
        st = e.get("status")
        ok = isinstance(st, int) and 200 <= st < 300
        out.append(e["call"] if ok else f"{e['call']} ({st})")
    return out


def round_trips(timeline: list[tuple[float, float, str]]) -> int:
    """The calls on the critical path: the longest chain of calls each sent after the one
    before it was answered (calls that overlap went out together, one round trip)."""
    depth: list[tuple[float, int]] = []  # (end, chain length ending with that call)
    for start, end, _ in sorted(timeline):
        d = 1 + max((n for e, n in depth if e <= start), default=0)
        depth.append((end, d))
    return max((n for _, n in depth), default=0)


#: the most round trips on an event's critical path (issue 21 §4); other kinds are reported
ROUND_TRIP_TARGETS = {"claim": 4, "claim26": 4, "duplicate": 1}


# kind, label, target (calls) with one zone, with two zones; None: recorded, no target
SINGLE_KINDS = [
    ("claim", "fresh claim", 5, 6),
    ("duplicate", "duplicate `running` event for a published instance (steady state)", 2, 2),
    ("stop_inflight", "stop right after the claim (the claim's lock still in flight)", 6, 8),
    ("start_again", "start after that stop (the free name claimed again, new IP; the "
     "stop's lock still in flight)", None, None),
    ("restart", "restart with a new IP, stop event lost (address change; the previous "
     "lock still in flight)", None, None),
    ("claim26", "fresh claim with a 26 s deadline", 5, 6),
    ("stop_settled", "stop of a settled lock (42 s after a claim with a 26 s deadline)", 5, 6),
]
ZONE_CASES = (("one", "one zone (public only)"), ("two", "two zones (public + private)"))
#: the in-flight window of a claim whose invocation had a 26 s deadline is 26 + 15 = 41 s
SETTLE_DEADLINE_S = 26
SETTLE_WAIT_S = 42


def bench_single(b: Bench, reps: int) -> dict:
    """One warm container, `reps` instances per zone case, each through the events of
    SINGLE_KINDS; calls (counts and order) and latency per event kind and zone case.

    The container is warmed first with one unrelated invocation (it lists the hosted zones,
    cached for 5 minutes), so no measured event lists them. Order: the claims with a 26 s
    deadline first; then, per instance, claim → duplicate → stop → start → restart, each
    event seconds after the one before (so every lock written is still in flight at the
    next event); then, once 42 s have passed since each 26 s claim, its stop."""
    b.fresh_world()
    w = b.world
    solo_zone = w.create_zone(SOLO)
    zones_of = {"one": [("public", solo_zone)],
                "two": [("public", b.zones["public"]), ("private", b.zones["private"])]}
    domain_of = {"one": SOLO, "two": DOMAIN}
    fn = b.function({"ALLOWED_DOMAINS": f"{DOMAIN},{SOLO}"})
    t_section = now()
    warm_id = w.run_instance({"dnsname": f"warmup.{DOMAIN}"})
    b.proxy.reset_calls()
    r = fn.timed_invoke(ec2_state_change(warm_id, "running"))
    cold_first = {"calls": calls_of(b.proxy), "latency_s": r["latency_s"],
                  "sequence": sequence_of(b.proxy),
                  "round_trips": round_trips(b.proxy.timeline())}
    runs: dict[str, dict[str, list]] = {zk: {k[0]: [] for k in SINGLE_KINDS} for zk, _ in ZONE_CASES}

    def step(zk: str, kind: str, iid: str, state: str, deadline_s: float | None = None) -> None:
        b.proxy.reset_calls()
        r = fn.timed_invoke(ec2_state_change(iid, state), deadline_s=deadline_s)
        runs[zk][kind].append({"calls": calls_of(b.proxy), "latency_s": r["latency_s"],
                               "sequence": sequence_of(b.proxy), "errors": errors_of(b.proxy),
                               "round_trips": round_trips(b.proxy.timeline()),
                               "result": r["result"]})

    def expect_published(zk: str, name: str, iid: str) -> None:
        inst = w.instance(iid)
        lock = w.lock(name) or {}
        for label, zone in zones_of[zk]:
            ip = inst["PublicIpAddress"] if label == "public" else inst["PrivateIpAddress"]
            got = w.records(zone, types=("A",)).get((name, "A"))
            if got != (TTL, [ip]):
                raise RuntimeError(f"{name}: {label} A {got}, expected {ip}")
            m = w.marker(zone, name)
            if m != {"owner": qualified(iid), "gen": lock.get("gen"), "types": ["A"],
                      "deployment": lock.get("deployment")}:
                raise RuntimeError(f"{name}: {label} marker {m}, lock {lock}")
        if lock.get("owner") != qualified(iid):
            raise RuntimeError(f"{name}: lock {lock}")

    def expect_released(zk: str, name: str) -> None:
        for label, zone in zones_of[zk]:
            left = [k for k in w.records(zone, types=("A", "AAAA", "TXT"))
                    if k[0] in (name, marker_name(name))]
            if left:
                raise RuntimeError(f"{name}: {label} zone still holds {left} after the stop")
        lock = w.lock(name)
        if lock is None or lock.get("owner"):
            raise RuntimeError(f"{name}: lock after the stop: {lock} (expected kept, free)")

    # 1. claims with a 26 s deadline: their locks settle while the rest runs
    settling = []
    for rep in range(reps):
        for zk, _ in ZONE_CASES:
            name = f"settle-{rep}.{domain_of[zk]}"
            iid = w.run_instance({"dnsname": name})
            t_claim = now()
            step(zk, "claim26", iid, "running", deadline_s=SETTLE_DEADLINE_S)
            expect_published(zk, name, iid)
            settling.append((zk, name, iid, t_claim))
    # 2. the events of one instance in a row
    for rep in range(reps):
        for zk, _ in ZONE_CASES:
            name = f"single-{rep}.{domain_of[zk]}"
            iid = w.run_instance({"dnsname": name})
            step(zk, "claim", iid, "running")
            expect_published(zk, name, iid)
            step(zk, "duplicate", iid, "running")
            w.stop(iid)
            step(zk, "stop_inflight", iid, "stopped")
            expect_released(zk, name)
            w.start(iid)
            step(zk, "start_again", iid, "running")
            expect_published(zk, name, iid)
            old = w.public_ip(iid)
            w.stop(iid)
            w.start(iid)
            if w.public_ip(iid) == old:
                raise RuntimeError("moto kept the public IP over stop/start")
            step(zk, "restart", iid, "running")
            expect_published(zk, name, iid)
    # 3. the stops of the settled locks
    for zk, name, iid, t_claim in settling:
        wait = t_claim + SETTLE_WAIT_S - now()
        if wait > 0:
            time.sleep(wait)
        w.stop(iid)
        step(zk, "stop_settled", iid, "stopped")
        expect_released(zk, name)
    out = {"cold_first": cold_first, "reps": reps, "section_s": now() - t_section,
           "cases": {zk: summarise_kinds(runs[zk], SINGLE_KINDS) for zk, _ in ZONE_CASES}}
    b.retire(fn)
    return out


def summarise_kinds(runs: dict[str, list], kinds) -> dict:
    """Per event kind: the calls per operation (the values the runs gave), the totals, the
    writes, the call orders (with how many runs each), latencies and non-2xx answers."""
    out = {}
    for kind, label, *_ in kinds:
        rs = runs[kind]
        ops = sorted({op for r in rs for op in r["calls"]})
        seqs: dict[str, int] = {}
        for r in rs:
            key = " → ".join(r["sequence"])
            seqs[key] = seqs.get(key, 0) + 1
        out[kind] = {
            "label": label,
            "calls": {op: sorted({r["calls"].get(op, 0) for r in rs}) for op in ops},
            "totals": sorted({total(r["calls"]) for r in rs}),
            "writes": sorted({sum(writes_of(r["calls"]).values()) for r in rs}),
            "sequences": seqs,
            "latency_ms": [r["latency_s"] * 1000 for r in rs],
            "errors": sorted({e for r in rs for e in r["errors"]}),
            "round_trips": sorted({r["round_trips"] for r in rs if "round_trips" in r}),
        }
    return out


# kind, label, target (calls) with one zone, with two zones; None: recorded, no target.
# The launch action's target is computed (lifecycle_target): the fresh claim of a grouped
# instance under the same configuration, plus its CompleteLifecycleAction and GetChange polls.
FLEET_KINDS = [
    ("slot_claim", "first claim of a `{slot}` name (slot 1 of a template nobody holds yet)",
     SINGLE_KINDS[0][2] + 1, SINGLE_KINDS[0][3] + 1),
    ("group_claim", "fresh claim of an Auto Scaling group's instance by its `running` event "
     "(lifecycle hooks listed)", SINGLE_KINDS[0][2] + 1, SINGLE_KINDS[0][3] + 1),
    ("lifecycle_launch", "launch lifecycle action (EC2 → AutoScalingGroup, `Pending:Wait`): "
     "published, `INSYNC`, completed", None, None),
    ("lifecycle_terminate", "terminate lifecycle action (AutoScalingGroup → EC2, "
     "`Terminating:Wait`) right after the launch", None, None),
    ("ipv6", "`AssignIpv6Addresses` (CloudTrail) on a published instance's interface, its lock "
     "settled (42 s after a claim with a 26 s deadline)",
     SINGLE_KINDS[0][2], SINGLE_KINDS[0][3]),
]
LAUNCH_HOOK, TERMINATE_HOOK = "bench-launch", "bench-terminate"


def fleet_target(kind: str, zk: str) -> int | None:
    for k, _label, one, two in FLEET_KINDS:
        if k == kind:
            return one if zk == "one" else two
    return None


def lifecycle_target(case: dict) -> tuple[int, str] | None:
    """The most calls a launch action may make in a zone case: the most a fresh claim of a
    grouped instance made (the same configuration: hooks listed, so the instance's lifecycle
    state is asked), plus one CompleteLifecycleAction, plus the GetChange polls it made."""
    claim, launch = case.get("group_claim"), case.get("lifecycle_launch")
    if not claim or not launch:
        return None
    polls = max(launch["calls"].get("route53:GetChange", [0]))
    bound = max(claim["totals"]) + 1 + polls
    return bound, (f"≤ {bound}: a grouped fresh claim ({max(claim['totals'])}) + 1 "
                   f"CompleteLifecycleAction + {polls} GetChange")


def fleet_met(kind: str, zk: str, k: dict, case: dict) -> bool | None:
    if kind == "lifecycle_launch":
        t = lifecycle_target(case)
        return None if t is None else (max(k["totals"]) <= t[0]
                                       and k["calls"].get("autoscaling:CompleteLifecycleAction")
                                       == [1])
    t = fleet_target(kind, zk)
    return None if t is None else max(k["totals"]) <= t


def fleet_target_text(kind: str, zk: str, case: dict) -> str:
    if kind == "lifecycle_launch":
        t = lifecycle_target(case)
        return t[1] if t else "–"
    t = fleet_target(kind, zk)
    if t is None:
        return "–"
    more = {"slot_claim": " + 1 BatchGetItem (the first window of slot items)",
            "group_claim": " + 1 DescribeAutoScalingInstances"}.get(kind)
    if more is None:
        return f"≤ {t} (a fresh claim's)"
    return f"≤ {t} (a fresh claim's {t - 1}{more})"


def fleet_failures(res: dict) -> list[str]:
    """The fleet rows whose target or state check was not met."""
    f = res.get("fleet")
    if not f or "cases" not in f:
        return []
    out = list(f.get("problems", []))
    for zk, _ in ZONE_CASES:
        case = f["cases"][zk]
        for kind, *_ in FLEET_KINDS:
            if fleet_met(kind, zk, case[kind], case) is False:
                out.append(f"{case[kind]['label']}, {case_label(zk)}: {rng(case[kind]['totals'])} "
                           f"calls ({fmt_range_calls(case[kind]['calls'])}), target "
                           f"{fleet_target_text(kind, zk, case)}")
    return out


def dual_stack_subnet(w: World) -> str:
    """A subnet with an IPv6 block whose instances get a public IPv4 too."""
    vpc = w.ec2.create_vpc(CidrBlock="10.20.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = w.ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0][
        "Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    subnet = w.ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.20.1.0/24",
                                 Ipv6CidrBlock=block.replace("::/56", "::/64"))["Subnet"]
    w.ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    return subnet["SubnetId"]


def bench_fleet(b: Bench, reps: int) -> dict:
    """The fleet events on one warm container (hooks listed in LIFECYCLE_HOOKS), `reps` runs
    per kind and zone case: the first claim of a `{slot}` name; the fresh claim of a grouped
    instance by its `running` event (the baseline of the launch action); a launch lifecycle
    action (the proxy begins it as Auto Scaling would) and, right after it, the terminate
    action of the same instance; an `AssignIpv6Addresses` event once the instance's lock has
    settled. Each event's state is checked in moto (records, marker, lock, the completion
    with its token and `CONTINUE`)."""
    b.fresh_world()
    w = b.world
    solo_zone = w.create_zone(SOLO)
    zones_of = {"one": [("public", solo_zone)],
                "two": [("public", b.zones["public"]), ("private", b.zones["private"])]}
    domain_of = {"one": SOLO, "two": DOMAIN}
    fn = b.function({"ALLOWED_DOMAINS": f"{DOMAIN},{SOLO}",
                     "LIFECYCLE_HOOKS": f"{LAUNCH_HOOK},{TERMINATE_HOOK}"})
    asg = boto_client("autoscaling", b.moto.url)
    t_section = now()
    fn.timed_invoke(ec2_state_change(w.run_instance({"dnsname": f"warmup.{DOMAIN}"}), "running"))
    runs: dict[str, dict[str, list]] = {zk: {k[0]: [] for k in FLEET_KINDS} for zk, _ in ZONE_CASES}
    problems: list[str] = []

    def step(zk: str, kind: str, event: dict, deadline_s: float | None = None) -> dict:
        b.proxy.reset_calls()
        r = fn.timed_invoke(event, deadline_s=deadline_s)
        runs[zk][kind].append({"calls": calls_of(b.proxy), "latency_s": r["latency_s"],
                               "sequence": sequence_of(b.proxy), "errors": errors_of(b.proxy),
                               "round_trips": round_trips(b.proxy.timeline()),
                               "result": r["result"]})
        return r["result"]

    def check(what: str, ok: bool, detail) -> None:
        if not ok:
            problems.append(f"{what}: {detail}")

    def published(zk: str, name: str, iid: str, aaaa: list[str] | None = None) -> None:
        inst = w.instance(iid)
        lock = w.lock(name) or {}
        check(f"{name} lock", lock.get("owner") == qualified(iid), lock)
        for label, zone in zones_of[zk]:
            ip = inst.get("PublicIpAddress") if label == "public" else inst.get("PrivateIpAddress")
            recs = w.records(zone, types=("A", "AAAA"))
            check(f"{name} {label} A", recs.get((name, "A")) == (TTL, [ip]), recs.get((name, "A")))
            types = ["A"]
            if label == "public" and aaaa:
                check(f"{name} AAAA", recs.get((name, "AAAA")) == (TTL, sorted(aaaa)),
                      recs.get((name, "AAAA")))
                types = ["A", "AAAA"]
            m = w.marker(zone, name)
            check(f"{name} {label} marker", m == {"owner": qualified(iid), "gen": lock.get("gen"),
                                                  "types": types,
                                                  "deployment": lock.get("deployment")}, m)

    def released(zk: str, name: str) -> None:
        for label, zone in zones_of[zk]:
            left = [k for k in w.records(zone, types=("A", "AAAA", "TXT"))
                    if k[0] in (name, marker_name(name))]
            check(f"{name} {label} released", not left, left)
        lock = w.lock(name)
        check(f"{name} lock released", lock is not None and not lock.get("owner"), lock)

    def completed(iid: str, hook: str, token: str) -> None:
        done = [(c["instance_id"], c["hook"], c["token"], c["result"])
                for c in b.proxy.lifecycle_actions()["completed"]]
        check(f"{iid} {hook} completed", (iid, hook, token, "CONTINUE") in done, done[-3:])

    def group(name: str, tag: str) -> str:
        [iid] = w.create_group(name, tag, desired=1)
        for hook, transition in ((LAUNCH_HOOK, "autoscaling:EC2_INSTANCE_LAUNCHING"),
                                 (TERMINATE_HOOK, "autoscaling:EC2_INSTANCE_TERMINATING")):
            asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=hook,
                                   LifecycleTransition=transition, HeartbeatTimeout=300,
                                   DefaultResult="ABANDON")
        return iid

    def begin(event: dict, state: str) -> str:
        d = event["detail"]
        b.proxy.begin_lifecycle_action(d["LifecycleActionToken"], d["AutoScalingGroupName"],
                                       d["LifecycleHookName"], d["EC2InstanceId"], state)
        return d["LifecycleActionToken"]

    # 1. the IPv6 instances' claims, with a 26 s deadline: they settle while the rest runs
    subnet = dual_stack_subnet(w)
    settling = []
    for rep in range(reps):
        for zk, _ in ZONE_CASES:
            name = f"six-{rep}.{domain_of[zk]}"
            iid = w.run_instance({"dnsname": name}, SubnetId=subnet)
            fn.timed_invoke(ec2_state_change(iid, "running"), deadline_s=SETTLE_DEADLINE_S)
            published(zk, name, iid)
            settling.append((zk, name, iid, now()))
    # 2. slots, grouped claims and lifecycle actions
    for rep in range(reps):
        for zk, _ in ZONE_CASES:
            d = domain_of[zk]
            iid = w.run_instance({"dnsname": f"slot{rep}-{{slot}}.{d}"})
            step(zk, "slot_claim", ec2_state_change(iid, "running"))
            published(zk, f"slot{rep}-1.{d}", iid)
            check(f"{iid} status", w.status_tag(iid) == f"ok: slot{rep}-1.{d}", w.status_tag(iid))

            iid = group(f"claim{zk}{rep}", f"gc{rep}-{{id}}.{d}")
            step(zk, "group_claim", ec2_state_change(iid, "running"))
            published(zk, f"gc{rep}-{iid}.{d}", iid)

            g = f"life{zk}{rep}"
            iid = group(g, f"lc{rep}-{{id}}.{d}")
            name = f"lc{rep}-{iid}.{d}"
            event = lifecycle_action(iid, g, LAUNCH_HOOK)
            token = begin(event, "Pending:Wait")
            answer = step(zk, "lifecycle_launch", event)
            published(zk, name, iid)
            completed(iid, LAUNCH_HOOK, token)
            check(f"{iid} launch answer", answer.get("lifecycle", [{}])[0].get("result")
                  == "completed", answer.get("lifecycle"))
            event = lifecycle_action(iid, g, TERMINATE_HOOK, launching=False)
            token = begin(event, "Terminating:Wait")
            step(zk, "lifecycle_terminate", event)
            released(zk, name)
            completed(iid, TERMINATE_HOOK, token)
    # 3. the IPv6 events, once each claim has settled
    for zk, name, iid, t_claim in settling:
        wait = t_claim + SETTLE_WAIT_S - now()
        if wait > 0:
            time.sleep(wait)
        eni = w.instance(iid)["NetworkInterfaces"][0]["NetworkInterfaceId"]
        assigned = w.ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)[
            "AssignedIpv6Addresses"]
        step(zk, "ipv6", ipv6_call("AssignIpv6Addresses", eni, assigned))
        published(zk, name, iid, aaaa=assigned)
    out = {"reps": reps, "section_s": now() - t_section, "problems": problems,
           "cases": {zk: summarise_kinds(runs[zk], FLEET_KINDS) for zk, _ in ZONE_CASES}}
    b.retire(fn)
    return out


def bench_burst(b: Bench, n: int) -> dict:
    """n fresh names in one SQS batch (n instances, each its own name, public + private
    zone), on a new process warm as a deployment leaves it (one `record_configuration`
    invocation) but with no event yet: the burst's calls include the container's
    ListHostedZones (a read)."""
    b.fresh_world()
    instances, setup = b.launch(n, f"burst{n}")
    fn = b.function()
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
    return {"n": n, "setup": setup, "calls": calls, "writes": writes_of(calls),
            "latency_s": r["latency_s"], "wall_s": wall,
            "cpu_s": r["cpu_s"], "hwm_kb": r["hwm_kb"], "aws_busy_s": busy,
            "batch_item_failures": len(failures or []), "verify": check, "records": records,
            "errors": errors, "split_route53_batches": b.proxy.split_route53_batches,
            "slowest": b.proxy.slowest(),
            "r53_changes_per_1000_records": calls.get("route53:ChangeResourceRecordSets", 0)
            / (records / 1000),
            "describe_per_1000_instances": calls.get("ec2:DescribeInstances", 0) / (n / 1000)}


class HwmSampler:
    """Reads the process's VmHWM (its peak RSS so far) every few milliseconds during an
    invocation, so the peak can be split by phase: the peak up to the end of a call is the
    first sample taken after it."""

    def __init__(self, pid: int, every_s: float = 0.004):
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            kb = proc_status_kb(self.pid, "VmHWM")
            if kb is not None:
                self.samples.append((now(), kb))
            time.sleep(self.every_s)

    def __enter__(self) -> "HwmSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak_at(self, t: float) -> int | None:
        """The peak RSS up to time t (the first sample at or after it)."""
        for ts, kb in self.samples:
            if ts >= t:
                return kb
        return self.samples[-1][1] if self.samples else None


def memory_phases(timeline: list[tuple[float, float, str]], sampler: HwmSampler,
                  idle_kb: int | None, final_kb: int | None) -> list[tuple[str, int | None]]:
    """The peak RSS at the end of each read phase of a reconcile-all (observe: the zones,
    the EC2 listing, the lock-table Scan, the Route53 reads), then at the end of the
    invocation (plan, writes, report and its serialisation)."""
    def end_of(*ops: str) -> float | None:
        ends = [e for _s, e, op in timeline if op in ops]
        return max(ends) if ends else None

    out: list[tuple[str, int | None]] = [("idle (first poll)", idle_kb)]
    for label, ops in (("after ListHostedZones", ("route53:ListHostedZones",)),
                       ("after the EC2 listing (DescribeInstances pages)",
                        ("ec2:DescribeInstances",)),
                       ("after the lock-table Scan", ("dynamodb:Scan",)),
                       ("after the Route53 reads (ListResourceRecordSets): observe done",
                        ("route53:ListResourceRecordSets",))):
        t = end_of(*ops)
        if t is not None:
            out.append((label, sampler.peak_at(t)))
    out.append(("end of the invocation (plan, writes, report, answer)", final_kb))
    return out


def bench_reconcile_all(b: Bench, n: int, real: bool, timeout: float) -> dict:
    b.fresh_world()
    instances, setup = b.launch(n, f"all{n}")
    b.proxy.tag_pages_per_reservation = True  # all instances in reservations of 1,000
    out = {"n": n, "setup": setup, "runs": {}}
    # dry: plan everything, write nothing; real: apply it; second: a real run again once
    # everything is current (what the scheduled reconcile costs every 15 minutes): it must
    # change nothing and write nothing
    modes = [("dry", True)] + ([("real", False), ("second", False)] if real else [])
    first_t0 = now()
    for label, dry in modes:
        fn = b.function()  # a fresh process per run: VmHWM is this run's own peak
        listing_s = b.proxy.take_snapshot(expect_instances=n) \
            if b.proxy._snapshot is None else None
        b.proxy.snapshot_hits = 0
        b.proxy.reset_calls()
        t0 = now()
        sampler = HwmSampler(fn.proc.pid)
        try:
            with sampler:
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
               "started_s": t0 - first_t0,
               "slowest": b.proxy.slowest(),
               "wall_s": wall, "latency_s": r["latency_s"],
               "cpu_s": r["cpu_s"], "hwm_kb": r["hwm_kb"], "aws_busy_s": b.proxy.aws_busy_s(),
               "listing_snapshot_s": listing_s, "listing_pages": b.proxy.snapshot_pages,
               "listing_served_from_snapshot": b.proxy.snapshot_hits,
               "writes": writes_of(calls_of(b.proxy)),
               # A report over the answer's size limit comes as a summary: counts (by action
               # too) and the first rows; every row is in the log stream.
               "truncated": bool(rep.get("summary")),
               **{k: rep["counts"][k] if rep.get("summary") else len(rep.get(k, []))
                  for k in ("changes", "conflicts", "skipped", "failed")},
               "address_changes": (rep["counts"]["changes"] - rep["counts"]["marks"]
                                   if rep.get("summary") else
                                   len([c for c in rep.get("changes", [])
                                        if c.get("action") != "MARK"])),
               "report_bytes": len(json.dumps(rep)),
               "memory_phases": memory_phases(b.proxy.timeline(), sampler,
                                              fn.runtime.first_poll_hwm_kb, r["hwm_kb"])}
        if not dry:
            run["verify"] = b.verify(instances)
        else:
            # the only item a dry run may find is the configuration the process recorded
            # at its start (not part of the invocation)
            run["changed_anything"] = any(not k.startswith("config#")
                                          for k in b.world.lock_items())
        out["runs"][label] = run
        b.retire(fn)
    return out


def bench_cold_start(b: Bench, binary: str, starts: int) -> dict:
    """Process start to the first `/next` poll, VmHWM at that moment, and the AWS calls made
    before it (none since 0.4.0); then, so that work moved past the poll is not counted as
    a saving, process start to the answer of the first event, and that event's calls. The
    same poll measure for a minimal C program polling `/next` (the floor: fork/exec from
    Python + the host's accept).

    The first event is a steady one (an instance whose name it already holds, published by
    an earlier process): the container builds its clients, takes its account from the
    invoked function's ARN and reads the recorded configuration (writing it when it
    differs) beside the event's own work. Two series: the configuration already recorded
    (every cold start but the first after a deployment or a change of configuration), and
    not recorded (the item deleted before each start). One start before them is not
    measured (moto's backends are set up on their first calls)."""
    b.fresh_world()
    web = b.world.run_instance({"dnsname": f"cold.{DOMAIN}"})
    setup = b.function()
    setup.timed_invoke(ec2_state_change(web, "running"))
    b.retire(setup)
    event = ec2_state_change(web, "running")

    def measure(command, endpoint: str, record: bool | None = None, n: int = starts):
        samples = []
        for _ in range(n):
            if record is False:
                b.world.dynamodb.delete_item(TableName=LOCK_TABLE,
                                             Key={"pk": {"S": "config#reconciler"}})
            if b.proxy is not None:
                b.proxy.reset_calls()
            fn = BenchFunction(endpoint, command=list(command))
            try:
                fn.start()
                deadline = now() + 10
                while fn.runtime.first_poll_at is None and now() < deadline:
                    if fn.proc.poll() is not None:
                        raise RuntimeError(f"{command[0]} exited: {fn.log_tail()}")
                    time.sleep(0.001)
                if fn.runtime.first_poll_at is None:
                    raise RuntimeError(f"{command[0]}: no /next poll within 10 s")
                time.sleep(0.05)  # the proxy records an interval just after answering
                sample = {
                    "ms": (fn.runtime.first_poll_at - fn.exec_at) * 1000,
                    "hwm_kb": fn.runtime.first_poll_hwm_kb,
                    "from_popen_ms": (fn.runtime.first_poll_at - fn.spawned_at) * 1000,
                    "calls": calls_of(b.proxy) if record is not None else {},
                    "aws_ms": b.proxy.aws_busy_s() * 1000 if record is not None else 0.0}
                if record is not None:
                    b.proxy.reset_calls()
                    fn.timed_invoke(event)
                    sample["event_ms"] = (fn.runtime.last.done.at - fn.exec_at) * 1000
                    time.sleep(0.05)
                    sample["event_calls"] = calls_of(b.proxy)
                samples.append(sample)
            finally:
                fn.stop()
        return samples

    measure([binary], b.proxy.url, record=False, n=1)  # not measured: moto's set-up
    recorded = measure([binary], b.proxy.url, record=True)
    first = measure([binary], b.proxy.url, record=False)
    poller = _build_poller()
    floor = measure([poller, "{RUNTIME_API}"], "http://127.0.0.1:9") if poller else []

    def calls_range(samples, key="calls"):
        ops = sorted({op for s in samples for op in s.get(key, {})})
        return {op: sorted({s[key].get(op, 0) for s in samples}) for op in ops}

    return {
        "starts": starts,
        "ms": [s["ms"] for s in recorded],
        "hwm_kb": [s["hwm_kb"] for s in recorded],
        "aws_ms": [s["aws_ms"] for s in recorded],
        "calls": calls_range(recorded),
        "event_ms": [s["event_ms"] for s in recorded],
        "event_calls": calls_range(recorded, "event_calls"),
        "first_ms": [s["ms"] for s in first],
        "first_hwm_kb": [s["hwm_kb"] for s in first],
        "first_aws_ms": [s["aws_ms"] for s in first],
        "first_calls": calls_range(first),
        "first_event_ms": [s["event_ms"] for s in first],
        "first_event_calls": calls_range(first, "event_calls"),
        "floor_ms": [s["ms"] for s in floor],
        "from_popen_ms": [s["from_popen_ms"] for s in recorded],
        "binary_bytes": os.path.getsize(binary),
    }


# =========================================================================== DDNS endpoint

#: Router addresses: documentation ranges, public unicast to the endpoint's binding check.
DDNS_SOURCE = "198.51.100.{}"  # a router's address at its first update
DDNS_MOVED = "203.0.113.{}"  # its address after the ISP changed it
DDNS_BAD_SOURCE = "192.0.2.{}"  # whoever guesses the password (one address per guess)
#: The lease of the hosts whose refresh is measured: due after 12 / 4 = 3 s, held for 12 s.
DDNS_LEASE_S = 12
DDNS_LEASE_WAIT_S = 4
DDNS_USER_AGENT = "ec2-dns-bench/1 (dyndns2, as ddclient sends it)"

# kind, label, target (calls, writes; None: recorded, no target), expected answer.
# Since 0.4.0 every password check from an address other than the host's last accepted one
# is counted in the host's item before it is made (one UpdateItem: the lockout cannot be
# outrun), and a wrong password also counts its source /64 in the table (one conditional
# UpdateItem, a second one to start a new window): an address change costs one call more
# than before, and a `badauth` up to three writes.
DDNS_KINDS = [
    ("claim", "first publication of a fresh name (claim; 26 s deadline)", (4, None), "good"),
    ("nochg_inflight", "`nochg` right after the claim (same address; the claim's lock in "
     "flight)", (2, 0), "nochg"),
    ("change", "address change, the previous change settled (the lock written 42 s before, "
     "by a claim with a 26 s deadline)", (4, None), "good"),
    ("nochg", "`nochg` after that change (same address again)", (2, 0), "nochg"),
    ("change_inflight", "address change right after the claim (the claim's lock in flight: "
     "Route53 read first)", (5, None), "good"),
    ("lease", f"unchanged update with the lease refresh due (lease {DDNS_LEASE_S} s, "
     f"{DDNS_LEASE_WAIT_S} s after the claim)", (None, None), "nochg"),
    ("badauth", "`badauth` (wrong password)", (4, 3), "badauth"),
    ("nohost", "`nohost`: a name an instance holds", (None, None), "nohost"),
    ("cold_nochg", "`nochg` on a new container (zone cache cold)", (2, 0), "nochg"),
    ("cold_change", "address change on a new container (zone cache cold; the previous change "
     "settled)", (5, None), "good"),
]


def ddns_target(kind: str) -> tuple[int | None, int | None]:
    for k, _label, target, _answer in DDNS_KINDS:
        if k == kind:
            return target
    return (None, None)


def host_owner_ok(owner: str | None, host: str) -> bool:
    """A host's owner as the binary writes it: `host/<name>`, or qualified by the
    deployment's account and region (`<account>/<region>/host/<name>`)."""
    return owner in (f"host/{host}", f"{ACCOUNT}/{REGION}/host/{host}")


class DdnsClient:
    """A router's dyndns2 client: GET /nic/update with Basic auth through the function URL
    front, one request at a time; the front reports `source` as the caller's address and
    gives the invocation a deadline of `deadline_s`."""

    def __init__(self, front: "FunctionUrlFront", fn: BenchFunction):
        self.front = front
        self.fn = fn

    def update(self, user: str, password: str, name: str, ip: str, source: str,
               deadline_s: float = 60) -> tuple[int, str]:
        import base64
        import urllib.error
        import urllib.request
        self.front.source_ip = source
        self.front.timeout = deadline_s
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req = urllib.request.Request(
            f"{self.front.url}/nic/update?system=dyndns&hostname={name}&myip={ip}",
            headers={"Authorization": f"Basic {token}", "User-Agent": DDNS_USER_AGENT})
        try:
            with urllib.request.urlopen(req, timeout=deadline_s + 30) as r:
                return r.status, r.read().decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace").strip()


def bench_ddns(b: Bench, ddns_bin: str, ctl_bin: str, reps: int) -> dict:
    """The DDNS endpoint (`ec2-dns-ddns`) behind a function URL front, against moto through
    the proxy: `reps` updates of each kind of DDNS_KINDS on one warm container (warmed by
    an unrelated update first: the endpoint lists the hosted zones once per 5 minutes), and
    the `nochg` again on new containers (the zone cache cold). Calls (counts and order),
    handler latency, the update's own peak RSS (VmHWM reset before each update through
    /proc/<pid>/clear_refs) and the state after every update.

    Hosts are made with the operator CLI (`ec2-dns-ctl host add`); the names an instance
    holds are claimed by the reconciler (`ec2-dns`, also the one that records the
    configuration the endpoint reads at its start)."""
    b.fresh_world()
    w = b.world
    public, private = b.zones["public"], b.zones["private"]
    rec_fn = b.function()  # the reconciler: records the configuration, claims instances' names
    ctl_env = {
        "PATH": "/usr/bin:/bin", "HOME": __import__("tempfile").mkdtemp(prefix="ec2dns-ctl-"),
        "AWS_REGION": REGION, "AWS_ENDPOINT_URL": b.proxy.url, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LOCK_TABLE": LOCK_TABLE, "ALLOWED_DOMAINS": DOMAIN,
    }

    def add_host(host: str, name: str, *extra: str) -> str:
        p = subprocess.run([ctl_bin, "host", "add", host, "--names", name, "--json", *extra],
                           env=ctl_env, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"ec2-dns-ctl host add {host}: exit {p.returncode}\n{p.stderr}")
        issued = json.loads(p.stdout)
        if issued.get("host") != host or issued.get("names") != [name]:
            raise RuntimeError(f"ec2-dns-ctl host add {host}: {issued}")
        return issued["secret"]

    def start_endpoint() -> tuple[BenchFunction, "FunctionUrlFront", DdnsClient]:
        fn = BenchFunction(b.proxy.url, {"LOCK_TABLE": LOCK_TABLE}, command=[ddns_bin])
        b.functions.append(fn)
        fn.start()
        fn.wait_first_poll()
        time.sleep(0.05)
        front = FunctionUrlFront(fn, source_ip=DDNS_SOURCE.format(1)).start()
        _STOP_ON_EXIT.append(front)
        return fn, front, DdnsClient(front, fn)

    def name_of(prefix: str, i: int) -> str:
        return f"{prefix}-{i}.{DOMAIN}"

    t_setup = now()
    secrets: dict[str, str] = {}
    for i in range(reps):
        for prefix, extra in (("router", ()), ("flight", ()), ("bad", ()), ("squat", ()),
                              ("coldchg", ()), ("leased", ("--lease", str(DDNS_LEASE_S)))):
            target = name_of("held" if prefix == "squat" else prefix, i)
            secrets[f"{prefix}-{i}"] = add_host(f"{prefix}-{i}", target, *extra)
    secrets["warmup"] = add_host("warmup", name_of("warmup", 0))
    held: dict[int, str] = {}  # names held by instances (the `nohost` case)
    for i in range(reps):
        iid = w.run_instance({"dnsname": name_of("held", i)})
        rec_fn.timed_invoke(ec2_state_change(iid, "running"))
        held[i] = iid
    setup_s = now() - t_setup
    b.retire(rec_fn)

    fn, front, client = start_endpoint()
    idle_hwm_kb = fn.runtime.first_poll_hwm_kb
    t_section = now()
    runs: dict[str, list[dict]] = {k[0]: [] for k in DDNS_KINDS}
    side_problems: list[str] = []  # of the updates not measured (set-up of a case)

    def request(fn_, client_, kind: str | None, host: str, name: str, ip: str, source: str,
                password: str | None = None, deadline_s: float = 60,
                check=None) -> dict:
        pid = fn_.proc.pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            reset = True
        except OSError:
            reset = False
        rss0 = proc_status_kb(pid, "VmRSS")
        b.proxy.reset_calls()
        status, body = client_.update(host, password if password is not None else secrets[host],
                                      name, ip, source, deadline_s)
        pending = fn_.runtime.last
        run = {"host": host, "name": name, "status": status, "answer": body,
               "calls": calls_of(b.proxy), "sequence": sequence_of(b.proxy),
               "errors": errors_of(b.proxy),
               "latency_s": (pending.done.at - pending.queued_at) if pending and pending.done.at
               else None,
               "rss_before_kb": rss0, "hwm_kb": proc_status_kb(pid, "VmHWM"),
               "hwm_is_this_update": reset, "problems": []}
        if kind is not None:
            want = dict((k, a) for k, *_, a in DDNS_KINDS)[kind]
            if status != 200 or body.split(" ")[0] != want:
                run["problems"].append(f"answered {status} {body!r}, expected {want}")
        if check is not None:
            run["problems"].extend(check())
        if kind is not None:
            runs[kind].append(run)
        else:
            side_problems.extend(run["problems"])
        return run

    # -- the checks of the state after an update (straight in moto)
    def published(host: str, name: str, ip: str, gen_after: int | None = None):
        def check() -> list[str]:
            problems = []
            items = w.lock_items()
            lock = items.get(name) or {}
            h = items.get(f"host#{host}") or {}
            got = w.records(public, types=("A", "AAAA")).get((name, "A"))
            if got != (TTL, [ip]):
                problems.append(f"{name}: public A {got}, expected {(TTL, [ip])}")
            m = w.marker(public, name)
            if not m or not host_owner_ok(m["owner"], host) or m["gen"] != lock.get("gen") \
                    or m["types"] != ["A"]:
                problems.append(f"{name}: marker {m}, lock {lock.get('owner')} gen {lock.get('gen')}")
            if not host_owner_ok(lock.get("owner"), host):
                problems.append(f"{name}: lock owner {lock.get('owner')!r}")
            if gen_after is not None and lock.get("gen") == gen_after:
                problems.append(f"{name}: generation unchanged ({gen_after}) after a change")
            private_left = [k for k in w.records(private, types=("A", "AAAA", "TXT"))
                            if k[0] in (name, marker_name(name))]
            if private_left:
                problems.append(f"{name}: private zone holds {private_left} (a host has no "
                                "private address)")
            if h.get("ipv4") != ip:
                problems.append(f"host#{host}: ipv4 {h.get('ipv4')!r}, expected {ip}")
            return problems
        return check

    def refused_login(host: str, name: str):
        def check() -> list[str]:
            problems = []
            items = w.lock_items()
            if items.get(name) is not None:
                problems.append(f"{name}: a lock after a refused login: {items.get(name)}")
            if int((items.get(f"host#{host}") or {}).get("failures") or 0) != 1:
                problems.append(f"host#{host}: failures "
                                f"{(items.get(f'host#{host}') or {}).get('failures')!r}, expected 1")
            left = [k for k in w.records(public) if k[0] in (name, marker_name(name))]
            if left:
                problems.append(f"{name}: records after a refused login: {left}")
            return problems
        return check

    def kept_by_instance(name: str, iid: str):
        def check() -> list[str]:
            problems = []
            lock = w.lock(name) or {}
            if lock.get("owner") != qualified(iid):
                problems.append(f"{name}: lock owner {lock.get('owner')!r}, expected {iid}")
            got = w.records(public, types=("A",)).get((name, "A"))
            if got != (TTL, [w.public_ip(iid)]):
                problems.append(f"{name}: public A {got}, expected the instance's")
            m = w.marker(public, name)
            if not m or m["owner"] != qualified(iid):
                problems.append(f"{name}: marker {m}, expected the instance's")
            return problems
        return check

    # 0. warm-up: an unrelated update fills the endpoint's hosted-zone cache (5 minutes)
    warm = request(fn, client, None, "warmup", name_of("warmup", 0), DDNS_SOURCE.format(250),
                   DDNS_SOURCE.format(250),
                   check=published("warmup", name_of("warmup", 0), DDNS_SOURCE.format(250)))
    # 1. claims with a 26 s deadline (window 41 s), then `nochg` at once (lock in flight)
    claimed_at: dict[int, float] = {}
    for i in range(reps):
        host, name, ip = f"router-{i}", name_of("router", i), DDNS_SOURCE.format(10 + i)
        claimed_at[i] = now()
        request(fn, client, "claim", host, name, ip, ip, deadline_s=SETTLE_DEADLINE_S,
                check=published(host, name, ip))
        request(fn, client, "nochg_inflight", host, name, ip, ip, check=published(host, name, ip))
    # 1b. the hosts whose change is measured on a new container: claimed now with a 26 s
    #     deadline (not measured), changed in step 6 once their locks have settled
    coldchg_at: dict[int, float] = {}
    for i in range(reps):
        host, name, ip = f"coldchg-{i}", name_of("coldchg", i), DDNS_SOURCE.format(130 + i)
        coldchg_at[i] = now()
        request(fn, client, None, host, name, ip, ip, deadline_s=SETTLE_DEADLINE_S,
                check=published(host, name, ip))
    # 2. the leased hosts' first updates (not measured), refreshed once DDNS_LEASE_WAIT_S
    #    have passed (due after a quarter of the lease; well inside it)
    leased_at: dict[int, float] = {}
    for i in range(reps):
        host, name, ip = f"leased-{i}", name_of("leased", i), DDNS_SOURCE.format(40 + i)
        leased_at[i] = now()
        request(fn, client, None, host, name, ip, ip, check=published(host, name, ip))
    for i in range(reps):
        host, name, ip = f"leased-{i}", name_of("leased", i), DDNS_SOURCE.format(40 + i)
        wait = leased_at[i] + DDNS_LEASE_WAIT_S - now()
        if wait > 0:
            time.sleep(wait)
        before = int((w.lock_items().get(f"host#{host}") or {}).get("updated") or 0)
        gen = (w.lock(name) or {}).get("gen")
        published_check = published(host, name, ip)

        def lease_check(host=host, name=name, before=before, gen=gen, check=published_check):
            problems = check()
            after = int((w.lock_items().get(f"host#{host}") or {}).get("updated") or 0)
            if after <= before:
                problems.append(f"host#{host}: updated {after}, not refreshed (was {before})")
            if (w.lock(name) or {}).get("gen") != gen:
                problems.append(f"{name}: a new generation for a lease refresh")
            return problems
        request(fn, client, "lease", host, name, ip, ip, check=lease_check)
    # 3. claim (not measured), then an address change at once: the claim's lock in flight
    for i in range(reps):
        host, name = f"flight-{i}", name_of("flight", i)
        ip, moved = DDNS_SOURCE.format(70 + i), DDNS_MOVED.format(70 + i)
        request(fn, client, None, host, name, ip, ip, check=published(host, name, ip))
        gen = (w.lock(name) or {}).get("gen")
        request(fn, client, "change_inflight", host, name, moved, moved,
                check=published(host, name, moved, gen_after=gen))
    # 4. refused: a wrong password; a name an instance holds
    for i in range(reps):
        request(fn, client, "badauth", f"bad-{i}", name_of("bad", i), DDNS_BAD_SOURCE.format(10 + i),
                DDNS_BAD_SOURCE.format(10 + i), password="not-the-password",
                check=refused_login(f"bad-{i}", name_of("bad", i)))
        ip = DDNS_SOURCE.format(100 + i)
        request(fn, client, "nohost", f"squat-{i}", name_of("held", i), ip, ip,
                check=kept_by_instance(name_of("held", i), held[i]))
    # 5. the settled changes (42 s after each claim with a 26 s deadline), then `nochg`
    for i in range(reps):
        host, name, moved = f"router-{i}", name_of("router", i), DDNS_MOVED.format(10 + i)
        wait = claimed_at[i] + SETTLE_WAIT_S - now()
        if wait > 0:
            time.sleep(wait)
        gen = (w.lock(name) or {}).get("gen")
        request(fn, client, "change", host, name, moved, moved,
                check=published(host, name, moved, gen_after=gen))
        request(fn, client, "nochg", host, name, moved, moved,
                check=published(host, name, moved))
    warm_hwm_kb = proc_status_kb(fn.proc.pid, "VmHWM")
    front.stop()
    b.retire(fn)
    # 6. `nochg`, and a settled change, on new containers: the zone cache cold
    cold_idle = []
    for i in range(reps):
        host, name = f"coldchg-{i}", name_of("coldchg", i)
        moved = DDNS_MOVED.format(130 + i)
        wait = coldchg_at[i] + SETTLE_WAIT_S - now()
        if wait > 0:
            time.sleep(wait)
        fn2, front2, client2 = start_endpoint()
        cold_idle.append(fn2.runtime.first_poll_hwm_kb)
        gen = (w.lock(name) or {}).get("gen")
        request(fn2, client2, "cold_change", host, name, moved, moved,
                check=published(host, name, moved, gen_after=gen))
        front2.stop()
        b.retire(fn2)
        fn2, front2, client2 = start_endpoint()
        cold_idle.append(fn2.runtime.first_poll_hwm_kb)
        host, name, moved = f"router-{i}", name_of("router", i), DDNS_MOVED.format(10 + i)
        request(fn2, client2, "cold_nochg", host, name, moved, moved,
                check=published(host, name, moved))
        front2.stop()
        b.retire(fn2)

    out = {"reps": reps, "section_s": now() - t_section, "setup_s": setup_s,
           "idle_hwm_kb": idle_hwm_kb, "cold_idle_hwm_kb": cold_idle,
           "warm_final_hwm_kb": warm_hwm_kb, "setup_problems": side_problems,
           "warmup": {k: warm[k] for k in ("calls", "sequence", "latency_s", "hwm_kb",
                                           "rss_before_kb", "answer", "problems")},
           "kinds": {}}
    for kind, label, target, _answer in DDNS_KINDS:
        rs = runs[kind]
        ops = sorted({op for r in rs for op in r["calls"]})
        seqs: dict[str, int] = {}
        for r in rs:
            key = " → ".join(r["sequence"])
            seqs[key] = seqs.get(key, 0) + 1
        out["kinds"][kind] = {
            "label": label, "runs": len(rs),
            "calls": {op: sorted({r["calls"].get(op, 0) for r in rs}) for op in ops},
            "totals": sorted({total(r["calls"]) for r in rs}),
            "writes": sorted({sum(writes_of(r["calls"]).values()) for r in rs}),
            "sequences": seqs,
            "latency_ms": [r["latency_s"] * 1000 for r in rs if r["latency_s"] is not None],
            "hwm_kb": [r["hwm_kb"] for r in rs],
            "rss_before_kb": [r["rss_before_kb"] for r in rs],
            "hwm_is_this_update": all(r["hwm_is_this_update"] for r in rs),
            "answers": sorted({r["answer"].split(" ")[0] for r in rs}),
            "errors": sorted({e for r in rs for e in r["errors"]}),
            "problems": [p for r in rs for p in r["problems"]],
        }
    return out


_MOTO_TRANSACTIONS = r"""
# moto_server, with one change: TransactWriteItems backs up the items it touches for its
# rollback instead of a deep copy of each touched table (moto 5.2.x copies the whole table
# before every transaction: O(table size) per call). What a transaction does, succeeds or
# fails with, and leaves behind is unchanged: moto's own code runs it; on any failure the
# items it touched are put back as they were, which is all moto's rollback restores.
import copy
import sys
import threading

import moto.dynamodb.models as models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_active = threading.local()


class _Copy:
    def deepcopy(self, x, memo=None):
        if getattr(_active, "on", False) and isinstance(x, Table):
            return x  # restored item by item below instead
        return copy.deepcopy(x, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


models.copy = _Copy()
_original = models.DynamoDBBackend.transact_write_items


def _slot(table, key):
    h = DynamoType(key[table.hash_key_attr])
    r = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return h, r


def transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items if isinstance(transact_items, list) else []:
        try:
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            h, r = _slot(table, op["Item"] if op_type == "Put" else op["Key"])
        except Exception:  # malformed: moto's own code refuses it before any write
            continue
        held = table.items.get(h) if r is None else table.items.get(h, {}).get(r)
        saved.append((table, h, r, copy.deepcopy(held)))
    _active.on = True
    try:
        return _original(self, transact_items)
    except BaseException:
        for table, h, r, item in reversed(saved):  # the first backup of a key wins
            if r is None:
                if item is None:
                    table.items.pop(h, None)
                else:
                    table.items[h] = item
            else:
                if item is None:
                    table.items.get(h, {}).pop(r, None)
                    if h in table.items and not table.items[h]:
                        del table.items[h]
                else:
                    table.items[h][r] = item
        raise
    finally:
        _active.on = False


models.DynamoDBBackend.transact_write_items = transact_write_items

from moto.server import main  # noqa: E402

sys.exit(main())
"""


def moto_command(as_is: bool) -> list[str] | None:
    """The command that starts moto for the bench: moto_server itself (`as_is`), or moto with
    the cheaper rollback bookkeeping of TransactWriteItems above (see the notes)."""
    if as_is:
        return None
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "ec2-dns-bench-moto.py"
    path.write_text(_MOTO_TRANSACTIONS)
    return [sys.executable, str(path)]


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
    try:
        from importlib.metadata import version
        moto_version = version("moto")
    except Exception:  # noqa: BLE001
        moto_version = "unknown"
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": mem_kb / 1024 / 1024,
            "moto": moto_version,
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


def case_label(zk: str) -> str:
    return dict(ZONE_CASES).get(zk, zk)


def fmt_range_calls(calls: dict[str, list[int]]) -> str:
    return ", ".join(f"{op} {rng(v)}" for op, v in calls.items()) or "none"


def kind_target(kind: str, zk: str) -> int | None:
    for k, _label, one, two in SINGLE_KINDS:
        if k == kind:
            return one if zk == "one" else two
    return None


def render_sequences(add, section: dict, kinds) -> None:
    """The table of each event's calls in the order of their answers, per zone case, and the
    non-2xx answers seen (single events and fleet events alike)."""
    add("| event | zones | calls in order |")
    add("|---|---|---|")
    for kind, *_ in kinds:
        for zk, _ in ZONE_CASES:
            k = section["cases"][zk][kind]
            seqs = k["sequences"]
            text = "<br>".join((f"{q}" if len(seqs) == 1 else f"{q} ({c} runs)")
                               for q, c in sorted(seqs.items(), key=lambda x: -x[1]))
            add(f"| {k['label']} | {1 if zk == 'one' else 2} | {text} |")
    add("")
    errs = sorted({e for c in section["cases"].values() for k in c.values() for e in k["errors"]})
    add("Answers other than 2xx during these events: " + (", ".join(errs) or "none") + ".")
    add("")


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
    if res.get("moto"):
        add(f"- **Emulator**: moto {m.get('moto', '?')}, "
            + ("unchanged (`--moto-as-is`)" if res["moto"] == "as is" else
               "its TransactWriteItems rollback bookkeeping made O(items) instead of O(table) "
               "(see [Method](#method))"))
    add(f"- **Total bench time**: {res['total_s'] / 60:.1f} min")
    add("")
    add("| section | commit | date | binary | command | took | load average after |")
    add("|---|---|---|---|---|---|---|")
    for name, r in res["runs"].items():
        add(f"| {name} | `{r.get('commit', 'not recorded')}` | {r['date']} | "
            f"`{r['binary']}` ({r['binary_bytes'] / 1e6:.1f} MB) | "
            f"`{r['command']}` | {r['seconds'] / 60:.1f} min | {r['load']} |")
    add("")
    # summary
    add("## Summary: figures against targets")
    add("")
    add("Call counts are the binary's requests as the proxy saw them, per invocation (the "
        "first invocation of a process, a deployment's `record_configuration`, is counted "
        "apart: see [Cold start](#cold-start)).")
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
    if s and "cases" in s:
        add(f"## Single events (one warm container, {s['reps']} instances per event kind and "
            "zone case)")
        add("")
        add("The container was warmed with one unrelated invocation first (the fresh claim of "
            "another name, in the first row: a container's first invocation also lists the "
            "hosted zones, cached for 5 minutes), so no measured event lists them. Calls per "
            "service:operation (a range where runs differ), the target where there is one, "
            "handler latency median (min–max) over the runs. The one-zone names lie in "
            f"`{SOLO}` (a public zone only), the two-zone names in `{DOMAIN}` (public and "
            "private zone).")
        add("")
        add("| event | zones | calls | total | target | round trips on the critical path "
            "| target | latency median (min–max) |")
        add("|---|---|---|---|---|---|---|---|")
        cf = s["cold_first"]
        add(f"| warm-up: first event of the container (fresh claim, not measured against a "
            f"target) | 2 | {fmt_calls(cf['calls'])} | {total(cf['calls'])} | – | "
            f"{cf.get('round_trips', '–')} | – | {cf['latency_s'] * 1000:.0f} ms (one run) |")
        for kind, *_ in SINGLE_KINDS:
            for zk, _ in ZONE_CASES:
                k = s["cases"][zk][kind]
                lat = k["latency_ms"]
                t = kind_target(kind, zk)
                rt = ROUND_TRIP_TARGETS.get(kind)
                trips = rng(k["round_trips"]) if k.get("round_trips") else "–"
                add(f"| {k['label']} | {1 if zk == 'one' else 2} | {fmt_range_calls(k['calls'])} | "
                    f"{rng(k['totals'])} | {'≤ ' + str(t) if t is not None else '–'} | "
                    f"{trips} | {'≤ ' + str(rt) if rt is not None else '–'} | "
                    f"{statistics.median(lat):.0f} ms ({min(lat):.0f}–{max(lat):.0f}) |")
        add("")
        add("Round trips on the critical path: the longest chain of the event's AWS calls in "
            "which each call was sent after the one before it was answered (from the proxy's "
            "times); calls that overlap went out together and count once. An event's time "
            "follows them, not its number of calls.")
        add("")
        add("The calls of each event in the order of their answers (the proxy's log; "
            "identical in every run unless a count is given):")
        add("")
        render_sequences(add, s, SINGLE_KINDS)

    f = res.get("fleet")
    if f and "cases" in f:
        render_fleet(f, add)

    # bursts
    if res.get("bursts"):
        add("## SQS bursts: N `running` events in one batch (N fresh names, two zones, new "
            "container)")
        add("")
        add("The process is warm as a deployment leaves it (one `record_configuration` "
            "invocation) but has handled no event yet, so the burst's calls include the "
            "container's one `ListHostedZones`.")
        add("")
        add("| N | calls | records and markers correct | latency | function CPU | waiting for AWS "
            "| peak RSS |")
        add("|---|---|---|---|---|---|---|")
        for bu in res["bursts"]:
            v = bu["verify"]
            ok = (f"all {v['records']:,} records and {v.get('markers', 0):,} markers correct"
                  if v["ok"] and not bu["batch_item_failures"]
                  else f"NO: {v['n_problems']} problems, {bu['batch_item_failures']} failed messages")
            add(f"| {bu['n']} | {fmt_calls(bu['calls'])} | {ok} | {secs(bu['latency_s'])} | "
                f"{secs(bu['cpu_s'])} | {secs(bu['aws_busy_s'])} | {mb(bu['hwm_kb'])} |")
        add("")
        for bu in res["bursts"]:
            if bu["errors"]:
                add(f"- N={bu['n']}: answers other than 2xx: {fmt_calls(bu['errors'])}")
            if bu["verify"]["problems"]:
                add(f"- N={bu['n']} problems: " + "; ".join(bu["verify"]["problems"]))
        add("")

    bench_scale.render_scale(res, add, mb)

    # reconcile-all
    if res.get("reconcile"):
        add("## Reconcile-all (`{\"reconcile\": \"all\"}`, fresh container per run)")
        add("")
        add("Runs, in order, on one world: `dry` (plans, writes nothing), `real` (applies "
            "everything, right after the dry run, so every lock it writes is new), `second` "
            "(a second real run on the now converged fleet: what the scheduled reconcile costs "
            "every 15 minutes; it must change nothing and write nothing).")
        add("")
        add("| instances | run | calls | writes | changes planned/made (of which marker-only) "
            "| wall time | function CPU | waiting for AWS | peak RSS (VmHWM) | report |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for rc in res["reconcile"]:
            for label, run in rc["runs"].items():
                if "error" in run:
                    add(f"| {rc['n']:,} | {label} | {fmt_calls(run['calls'])} | | FAILED: "
                        f"{run['error']} | {secs(run['wall_s'])} | | | | |")
                    continue
                extra = ""
                if "verify" in run:
                    v = run["verify"]
                    extra = "; all records and markers correct" if v["ok"] \
                        else f"; {v['n_problems']} problems"
                w = run.get("writes", writes_of(run["calls"]))
                marks = ("?" if "address_changes" not in run
                         else f"{run['changes'] - run['address_changes']:,}")
                cut = ("; answered with a summary (counts, first rows; every row in the log stream)"
                       if run.get("truncated") else "")
                add(f"| {rc['n']:,} | {label} | {fmt_calls(run['calls'])} | "
                    f"{sum(w.values()):,} | {run['changes']:,} ({marks}){extra}{cut} | "
                    f"{secs(run['latency_s'])} | {secs(run['cpu_s'])} | "
                    f"{secs(run['aws_busy_s'])} | {mb(run['hwm_kb'])} | "
                    f"{run['report_bytes'] / 1e6:.2f} MB |")
            if rc.get("skipped_real"):
                add(f"| {rc['n']:,} | real | not run: moto cannot hold it (memory per "
                    "TransactWriteItems); see [docs/contributing.md](contributing.md) | | | | | | | |")
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
                if run.get("verify") and run["verify"]["problems"]:
                    add(f"- {rc['n']:,} {label} problems: " + "; ".join(run["verify"]["problems"]))
        add("")
        if res.get("growth"):
            add("Growth from 1,000 to 10,000 instances (dry run): " + res["growth"])
            add("")
        render_memory_phases(res["reconcile"], add)

    # setup cost
    setups = [(f"burst {bu['n']}", bu["setup"]) for bu in res.get("bursts", [])] + \
             [(f"reconcile-all {rc['n']}", rc["setup"]) for rc in res.get("reconcile", [])]
    if setups:
        add("Setup in moto (not part of any figure): " + "; ".join(
            f"{lbl}: run_instances {st['run_instances_s']:.0f} s, {st['n']:,} create_tags "
            f"{st['create_tags_s']:.0f} s" for lbl, st in setups) + ".")
        add("")

    # DDNS endpoint
    if res.get("ddns") and "kinds" in res["ddns"]:
        render_ddns(res["ddns"], add)

    # cold start
    c = res.get("cold")
    if c:
        add("## Cold start")
        add("")
        add(f"{c['starts']} starts of `{res['runs']['cold']['binary']}` per series, against "
            "moto through the proxy. Before its first poll the binary makes no AWS call; its "
            "first invocation builds its clients, takes its account from the invoked "
            "function's ARN and reads the configuration recorded in the lock table (writing "
            "it when it differs) beside its own work. So the first event's answer, from the "
            "process's start, is measured too: a steady event (an instance whose name it "
            "already holds).")
        add("")
        add("| measure | calls before the first poll | median | min | max |")
        add("|---|---|---|---|---|")

        def row3(label, calls, xs, fmt):
            xs = [x for x in xs if x is not None]
            if xs:
                add(f"| {label} | {calls} | {fmt(med(xs))} | {fmt(min(xs))} | {fmt(max(xs))} |")

        ms = lambda x: f"{x:.1f} ms"  # noqa: E731
        rc_calls = fmt_range_calls(c.get("calls", {}))
        fc_calls = fmt_range_calls(c.get("first_calls", {}))
        row3("exec → first `GET /2018-06-01/runtime/invocation/next`, configuration already "
             "recorded", rc_calls, c["ms"], ms)
        row3("… of which waiting for AWS (proxy + moto)", rc_calls, c.get("aws_ms", []), ms)
        row3("VmHWM at that moment", rc_calls, c["hwm_kb"], mb)
        if c.get("event_ms"):
            row3("exec → answer of the first event (steady), configuration already recorded",
                 fmt_range_calls(c.get("event_calls", {})) + " (in the event)", c["event_ms"], ms)
        if c.get("first_ms"):
            row3("exec → first poll, configuration not recorded yet (first start after a "
                 "deployment or a change)", fc_calls, c["first_ms"], ms)
            row3("… of which waiting for AWS (proxy + moto)", fc_calls, c.get("first_aws_ms", []), ms)
            row3("VmHWM at that moment", fc_calls, c["first_hwm_kb"], mb)
            if c.get("first_event_ms"):
                row3("exec → answer of the first event (steady), configuration written by it",
                     fmt_range_calls(c.get("first_event_calls", {})) + " (in the event)",
                     c["first_event_ms"], ms)
        if c["floor_ms"]:
            row3("the same for a minimal C program polling `/next` (floor of the method)",
                 "none", c["floor_ms"], ms)
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


def render_fleet(f: dict, add) -> None:
    add(f"## Fleet events (one warm container, {f['reps']} runs per event kind and zone case)")
    add("")
    add("The function runs with `LIFECYCLE_HOOKS` listing a launch and a terminate hook, and "
        "is warmed first like the single events' container. Each Auto Scaling group has one "
        "instance, propagating a `{id}` name tag; the proxy begins each lifecycle action as "
        "Auto Scaling would (moto does not) and answers `CompleteLifecycleAction`. The launch "
        "action's target is the most calls a fresh claim of a grouped instance made in the same "
        "run (the row above it: with hooks listed, every reconcile asks Auto Scaling for the "
        "lifecycle state of grouped instances), plus its one `CompleteLifecycleAction` and its "
        "`GetChange` polls; a `{slot}` name's first claim may read one window of slot items "
        "more than a fresh claim; an IPv6 address event may cost what a fresh claim costs. "
        "The bench exits with an error when one of these targets or state checks is not met.")
    add("")
    add("| event | zones | calls | total | target | verdict | latency median (min–max) |")
    add("|---|---|---|---|---|---|---|")
    for kind, *_ in FLEET_KINDS:
        for zk, _ in ZONE_CASES:
            case = f["cases"][zk]
            k = case[kind]
            lat = k["latency_ms"]
            add(f"| {k['label']} | {1 if zk == 'one' else 2} | {fmt_range_calls(k['calls'])} | "
                f"{rng(k['totals'])} | {fleet_target_text(kind, zk, case)} | "
                f"{verdict(fleet_met(kind, zk, k, case))} | "
                f"{statistics.median(lat):.0f} ms ({min(lat):.0f}–{max(lat):.0f}) |")
    add("")
    add("The calls of each event in the order of their answers:")
    add("")
    render_sequences(add, f, FLEET_KINDS)
    if f["problems"]:
        add("State checks not met: " + "; ".join(f["problems"][:10]) + ".")
        add("")


def render_memory_phases(rcs: list[dict], add) -> None:
    """Where a reconcile-all's peak RSS is reached: the peak up to the end of each read phase
    (VmHWM sampled every few ms during the invocation), then at its end."""
    runs = [(rc["n"], label, run) for rc in rcs for label, run in rc["runs"].items()
            if "error" not in run and run.get("memory_phases")]
    if not runs:
        return
    labels: list[str] = []
    for _n, _l, run in runs:
        for lbl, _kb in run["memory_phases"]:
            if lbl not in labels:
                labels.append(lbl)
    add("Where the peak is reached: the process's peak RSS (`VmHWM`, sampled every few "
        "milliseconds during the invocation) up to the end of each phase of the run, in the "
        "order the binary goes through them. The rise after the last read is the plan, the "
        "writes (none in a dry run), the report and its serialisation as the answer.")
    add("")
    add("| peak RSS up to … | " + " | ".join(f"{n:,} {lbl}" for n, lbl, _ in runs) + " |")
    add("|---|" + "---|" * len(runs))
    for lbl in labels:
        cells = []
        for _n, _l, run in runs:
            kb = dict(run["memory_phases"]).get(lbl)
            cells.append(mb(kb) if kb is not None else "–")
        add(f"| {lbl} | " + " | ".join(cells) + " |")
    add("")


def pct(xs: list[float], q: float) -> float | None:
    """The q-quantile of xs by nearest rank (p90 of 7 runs: the 7th smallest, the largest)."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    import math
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


def ddns_target_text(kind: str) -> str:
    calls, writes = ddns_target(kind)
    if kind == "badauth":
        return (f"≤ {calls} calls, at most {writes} writes (the check counted before it is "
                "made, the source's failures, a new window)")
    parts = ([f"≤ {calls} calls"] if calls is not None else []) + \
            ([f"{writes} writes"] if writes is not None else [])
    return ", ".join(parts) or "–"


def ddns_met(kind: str, k: dict) -> bool | None:
    calls, writes = ddns_target(kind)
    if calls is None and writes is None:
        return None
    ok = True
    if calls is not None:
        ok &= max(k["totals"]) <= calls
    if writes is not None:
        ok &= max(k["writes"]) <= writes
    return ok


def ddns_failures(res: dict) -> list[str]:
    """What makes the bench fail (exit 1) after writing its figures: a DDNS update over its
    call or write target (issue 12: a `nochg` costs at most 2 AWS calls, a change at most 4),
    a wrong answer, or a wrong state after an update."""
    d = res.get("ddns")
    if not d or "kinds" not in d:
        return []
    out = []
    for kind, *_ in DDNS_KINDS:
        k = d["kinds"][kind]
        if not k["runs"]:
            out.append(f"DDNS {kind}: no run measured")
        elif ddns_met(kind, k) is False:
            out.append(f"DDNS {k['label']}: {rng(k['totals'])} calls "
                       f"({fmt_range_calls(k['calls'])}), {rng(k['writes'])} writes, against "
                       f"{ddns_target_text(kind)}")
        out.extend(f"DDNS {kind}: {p}" for p in k["problems"])
    out.extend(f"DDNS set-up update: {p}" for p in d.get("setup_problems", []))
    out.extend(f"DDNS warm-up: {p}" for p in d["warmup"].get("problems", []))
    return out


def render_ddns(d: dict, add) -> None:
    reps = d["reps"]
    add(f"## DDNS endpoint (`ec2-dns-ddns` behind a function URL, {reps} updates per kind)")
    add("")
    add("dyndns2 updates (`GET /nic/update?system=dyndns&hostname=…&myip=…` with Basic auth, "
        "as ddclient sends them) through the harness's function URL front "
        "(`tests/harness/http_front.py`), which reports the router's public address as the "
        "caller's; the endpoint reaches moto through the proxy. Hosts are made with "
        "`ec2-dns-ctl host add NAME --names N --json`, one credential and one name each, in "
        f"`{DOMAIN}` (a public and a private zone; a host has no private address, so only the "
        "public zone is written). All measured updates but the last two rows run on **one "
        "warm container**, warmed first with one unrelated update (the warm-up row: the first "
        "publication of another name), which fills the endpoint's hosted-zone cache (5 "
        "minutes), so no measured warm update lists the zones; the last two rows are a `nochg` "
        "and a settled change on a new container each time, with that cache cold. Targets "
        "(issue 12): a `nochg` costs at most 2 AWS calls and a change at most 4; the bench "
        "exits with an error when a DDNS target or check is not met. Calls per "
        "service:operation (a "
        "range where runs differ), handler latency median and p90 (nearest rank) with min–max, "
        "and the update's own peak RSS: the process's `VmHWM`, reset to its current RSS "
        "(`/proc/<pid>/clear_refs`) just before the update and read just after it.")
    add("")
    add("| update | calls | total | writes | target | answer | latency median / p90 (min–max) "
        "| peak RSS of the update, median (max) | verdict |")
    add("|---|---|---|---|---|---|---|---|---|")
    wu = d["warmup"]
    add(f"| warm-up: first update of the container (first publication of another name; zone "
        f"cache cold) | {fmt_calls(wu['calls'])} | {total(wu['calls'])} | "
        f"{sum(writes_of(wu['calls']).values())} | – | `{wu['answer'].split(' ')[0]}` | "
        f"{wu['latency_s'] * 1000:.0f} ms (one run) | {mb(wu['hwm_kb'])} | – |")
    for kind, *_ in DDNS_KINDS:
        k = d["kinds"][kind]
        lat = k["latency_ms"]
        hw = [x for x in k["hwm_kb"] if x is not None]
        add(f"| {k['label']} | {fmt_range_calls(k['calls'])} | {rng(k['totals'])} | "
            f"{rng(k['writes'])} | {ddns_target_text(kind)} | "
            + ", ".join(f"`{a}`" for a in k["answers"]) + " | "
            f"{med(lat):.0f} / {pct(lat, 0.9):.0f} ms ({min(lat):.0f}–{max(lat):.0f}) | "
            f"{mb(med(hw))} ({mb(max(hw))}) | {verdict(ddns_met(kind, k))} |")
    add("")
    add("The calls of each update in the order of their answers (the proxy's log; identical "
        "in every run unless a count is given):")
    add("")
    add("| update | calls in order |")
    add("|---|---|")
    add(f"| warm-up (first update of the container) | {' → '.join(wu['sequence'])} |")
    for kind, *_ in DDNS_KINDS:
        k = d["kinds"][kind]
        seqs = k["sequences"]
        text = "<br>".join((f"{q}" if len(seqs) == 1 else f"{q} ({c} runs)")
                           for q, c in sorted(seqs.items(), key=lambda x: -x[1]))
        add(f"| {k['label']} | {text or '(no call)'} |")
    add("")
    problems = [p for k in d["kinds"].values() for p in k["problems"]] + \
        d.get("setup_problems", []) + d["warmup"].get("problems", [])
    n_updates = sum(k["runs"] for k in d["kinds"].values())
    add(("**State after every update checked in moto** "
         f"({n_updates} measured updates and the unmeasured set-up updates): "
         + ("all as expected." if not problems else
            f"**{len(problems)} problems**: " + "; ".join(problems[:8]) + "."))
        + " After a publication or a change: the public zone holds exactly the address as an "
        "`A` record (TTL 60) and, beside it, the marker `_ec2-dns.<name>` of the lock's "
        "generation whose owner is the host; the lock's holder is the host, the generation is "
        "new after a change, the private zone holds nothing of the name and the host's item "
        "records the address; after a `nochg` the same, and after the lease refresh also the "
        "host item's `updated` moved and the generation did not; after a `badauth` no lock and "
        "no record of the name, and the host's failure count is 1; after a `nohost` the "
        "instance still holds the name, with its address and its marker.")
    add("")
    errs = sorted({e for k in d["kinds"].values() for e in k["errors"]})
    add("Answers other than 2xx from AWS during these updates: " + (", ".join(errs) or "none")
        + ".")
    add("")
    add(f"Memory: the endpoint's RSS at its first poll was {mb(d['idle_hwm_kb'])} "
        f"(new containers: {mb(med(d['cold_idle_hwm_kb']))} median); the warm container's peak "
        f"over the whole section was {mb(d['warm_final_hwm_kb'])}.")
    add("")


def ddns_interpretation(d: dict) -> list[str]:
    k = d["kinds"]
    out = []

    def both(kind):
        n = rng(k[kind]["totals"])
        return f"{n} call{'' if n == '1' else 's'} ({main_sequence(k[kind])})"

    lat = lambda kind: f"{med(k[kind]['latency_ms']):.0f} ms"  # noqa: E731
    out.append(
        f"**DDNS `nochg` only reads**: the same address again made {both('nochg')}, "
        f"{rng(k['nochg']['writes'])} writes; right after the claim, with the claim's lock "
        f"still in flight, the same ({both('nochg_inflight')}): a lock that already records "
        "what is wanted needs no Route53 read. On a new container the endpoint first lists the "
        f"hosted zones: {both('cold_nochg')}; a settled address change there adds the same "
        f"listing: {both('cold_change')}, the most a change costs.")
    chg_reads = k["change"]["calls"].get("route53:ListResourceRecordSets", [0])
    out.append(
        f"**A DDNS address change** whose lock had settled (the realistic case: a router's "
        f"address changes hours or days apart) made {both('change')}: no Route53 read, one "
        "transaction (the lock's new generation with the host's new address in its item), one "
        "Route53 batch in the public zone (the A record and its marker). "
        + ("It read Route53 in some runs. " if max(chg_reads) else "")
        + f"The first publication of a fresh name made {both('claim')}. A change within the "
        f"lock's window of the previous one (here right after the claim) made "
        f"{both('change_inflight')}: the `ListResourceRecordSets` is the read of a lock still in "
        "flight, only in the zone the previous change wrote (the lock item records the zones its "
        "change touches), not in the private zone of the same name, where a host never writes. "
        "The settled case is measured with a clock that really moved: the "
        "claim was made with a 26 s deadline (window 41 s) and the change sent 42 s later.")
    out.append(
        f"**A wrong password** made {both('badauth')}, {rng(k['badauth']['writes'])} writes: the "
        "read that finds the credential, the check counted in its item before the password is "
        "compared (so parallel guesses cannot outrun the lockout), and the source /64's "
        "failure count (a conditional update, and one more to start a new window); nothing "
        "else. "
        f"**`nohost`** for a name an instance holds made {both('nohost')}, "
        f"{rng(k['nohost']['writes'])} writes: the endpoint cannot describe instances, so a "
        "holder it cannot observe keeps the name without a Route53 read. **The lease refresh** "
        f"of an unchanged update when due (a quarter of a {DDNS_LEASE_S} s lease past) made "
        f"{both('lease')}, {rng(k['lease']['writes'])} write.")
    hw = [x for kk in k.values() for x in kk["hwm_kb"] if x is not None]
    before = [x for kk in k.values() for x in kk["rss_before_kb"] if x is not None]
    out.append(
        f"**DDNS latency and memory**: median handler latency {lat('nochg')} for a `nochg`, "
        f"{lat('change')} for a change, {lat('badauth')} for a `badauth`, against moto. Every "
        "update that names an existing credential checks the password with Argon2id (19 MiB, "
        "t=2, one lane): tens of milliseconds of CPU and 19 MiB of memory per check, by design "
        "(what makes a stolen hash slow to guess from); it dominates the function's own time. "
        f"Memory: {mb(d['idle_hwm_kb'])} at the first poll; a new container's first update "
        f"peaked at {mb(med(k['cold_nochg']['hwm_kb']))} (median); on the warm container the "
        f"peak of one update was {mb(med(hw))} median ({mb(max(hw))} at most) against "
        f"{mb(med(before))} resident before it, and the container's peak over the whole "
        f"section {mb(d['warm_final_hwm_kb'])}: steady, not growing with the updates (the "
        "allocator keeps the freed 19 MiB block of one check for the next).")
    return out


NOTES = """
## Method

Running the benchmarks on a development machine: see [docs/contributing.md](contributing.md).

- **Set-up.** One `moto_server` (EC2, Route53, DynamoDB, STS) on 127.0.0.1, reset before
  every scenario (`POST /moto-api/reset`), a lock table, a public and a private zone
  `dyn.example.com` (and, for the single events, a public zone `solo.example.org`: the
  one-zone case); the binary runs as a Lambda function (the harness's Runtime API host,
  `tests/harness/runtime.py`) and reaches moto only through the strict AWS proxy
  (`tests/harness/proxy.py`), which counts every request per service:operation and logs
  them in order. Instances are created and everything is checked straight in moto, so the
  counters hold only the binary's calls.
- **Start-up calls are not an invocation's.** A new process calls `sts:GetCallerIdentity`
  and reads (`GetItem`) the configuration recorded in the lock table, writing it (`PutItem`)
  when it differs, before it polls for its first invocation. The bench waits for that poll
  before it zeroes the counters, so those calls appear only under [Cold start](#cold-start).
- **Warm or new container.** The single events run on one warm container: one unrelated
  invocation first lists the hosted zones (cached for 5 minutes), so no measured event pays
  `ListHostedZones`; the whole section takes less than 5 minutes. Each burst and each
  reconcile-all run gets a new process, whose calls include its one `ListHostedZones`.
- **In flight or settled.** A lock written less than the writer's window ago
  (`min(120 s, the invocation's deadline) + 15 s`, kept in the lock as `until`) is in flight.
  The harness gives each invocation a deadline (600 s here unless said otherwise), so the
  window of the events measured one after the other is 135 s and each of them finds the lock
  the previous one wrote in flight. For the settled stop, the claim is invoked with a 26 s
  deadline (window 26 + 15 = 41 s; the run still sends its change, since it refuses only
  when fewer than 40 s of its window remain) and the stop is sent once 42 s have passed
  since that claim was queued.
- **Fleet events.** One warm container whose function lists a launch and a terminate hook
  in `LIFECYCLE_HOOKS`, with the one-zone and two-zone names of the single events. A `{slot}`
  name's first claim (`slot<i>-{slot}.<domain>`, a template nobody holds yet) is measured
  against a fresh claim's calls plus the read of its first window of slot items. Each
  Auto Scaling group (moto's, one instance, a `{id}` name tag propagated at launch, both
  hooks put on it) gives one row: the fresh claim of its instance by a `running` event,
  or its launch lifecycle action (`EC2` → `AutoScalingGroup`) followed by its terminate
  action right after (`AutoScalingGroup` → `EC2`, the launch's lock still in flight). moto
  emulates no lifecycle action: the proxy begins each one as Auto Scaling would (the
  instance `Pending:Wait` or `Terminating:Wait` in `DescribeAutoScalingInstances`), answers
  `CompleteLifecycleAction` and records the completion, which the bench checks (token,
  hook, `CONTINUE`); moto's `GetChange` is always `INSYNC`, so a launch polls once per
  change batch. The launch's target is the most calls the grouped fresh claim made in the
  same run (with hooks listed, every reconcile of a grouped instance asks Auto Scaling for
  its lifecycle state: one `DescribeAutoScalingInstances` more than a plain fresh claim),
  plus one `CompleteLifecycleAction` and the `GetChange` polls the launch made. The IPv6
  row is an `AssignIpv6Addresses` CloudTrail event (as EventBridge delivers it) for an
  instance in a dual-stack subnet whose name was claimed with a 26 s deadline 42 s before
  (settled, like the settled stop); its target is a fresh claim's calls.
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
  at that moment. The binary makes no AWS call before it (the time during which a call was
  outstanding at the proxy would be given apart); its first event's answer, from the same
  exec, is measured too, because that invocation builds the clients and reads the recorded
  configuration. The same measure for a minimal C program that only connects and sends
  the GET (compiled by the bench with `cc`) gives the floor of the method (exec of a tiny
  dynamically linked program, the host's accept and request parsing in Python). On Lambda
  the corresponding span is part of the reported `Init Duration`.
- **Instances.** Each world gets its instances from `run_instances` (reservations of 1,000)
  and one `create_tags` per instance giving it its own name, so every instance claims its
  name (no conflicts).
- **Emulator adaptations.** The bench adapts to four limits of moto, none of which changes
  a count: the proxy pages moto's DescribeInstances as EC2 pages it; moto runs with a
  TransactWriteItems rollback that backs up the items it touches rather than the whole
  table; Route53 batches over 500 values are forwarded to moto in parts (one call for the
  binary and the counter); and for reconcile-all the tag-key listing is fetched from moto
  before the invocation and served from memory, so the wall times leave out moto's listing
  time (given apart, below the reconcile-all table). What each limit is and how it was
  found: [docs/contributing.md](contributing.md).
- **Records correct** means: for every instance, the public zone holds exactly its public
  IPv4 and the private zone exactly its private IPv4 as an `A` record with TTL 60; beside
  each, in each zone, the ownership marker `_ec2-dns.<name>` (TXT
  `"<account>/<region>/<instance-id> <generation> A"`) of the lock's holder and generation;
  no other A/AAAA/TXT record sets and no duplicates; every name has one lock held by its
  instance and not flagged for a check; the status tag of a sample of 20 instances is `ok`.
  After each single event the bench also checks the name's state (published with the
  instance's addresses and marker, or released: no record, no marker, the lock kept and
  free).

## Reading the figures

- The targets concern real AWS. Against moto only the **counts** and the function's **CPU
  time and memory** carry over; wall times here are moto's (a single Python process behind
  a Python proxy that serialises DynamoDB and re-reads a zone before every Route53 change).
- The machine is small (2 CPUs). A load average after a section well above 1 (the bench
  itself keeps about one CPU busy: moto, the proxy and the function) means something else
  ran beside it; that inflates times and CPU figures, never the counts. A debug binary (see
  the runs table) costs several times the CPU and memory of the release binary.
- **Where each call goes** (protocol v2). Every event reads the instances
  (`DescribeInstances`) and, in one consistent `BatchGetItem`, the locks of their names and
  their owner-index items. A decision is **one conditional write** of the lock
  (`TransactWriteItems` with the owner index when the holder changes, a conditional
  `PutItem` otherwise, as for an address change), made *before* anything is sent to
  Route53, and nothing is written after it: there is no commit. Then
  one `ChangeResourceRecordSets` per zone carries the address records **and** the ownership
  marker `_ec2-dns.<name>` of the new generation in the same batch, so Route53 itself says
  whose records they are. Last, `CreateTags` writes the status tags. A released name keeps
  its lock item, free, so its generation never repeats; instances that lost a name are
  recorded in the lock's `waiting`, so a stop needs no search for claimants. Route53 is read
  only when the lock cannot be trusted: flagged after a failed change, or in flight (below).
  A fresh claim reads nothing there: its `CREATE`s fail as a whole if anything is in the way.
- **Why a stop right after a claim reads Route53.** With no commit, a lock says which
  generation was decided, not whether its batch has landed: until the writer's window has
  passed, that run may still be sending it. A decision that would change the name inside that
  window (the stop) first reads the name in each zone (`ListResourceRecordSets`, one per
  zone) and looks for the generation's marker: there, the claim landed and the stop deletes
  exactly it; absent, the stop is retried later instead of racing the claim. Once the window
  has passed, a generation has landed or will never be sent (a run sends no batch with fewer
  than 40 s of its window left, the Route53 client's longest call, retries included), so the
  settled stop trusts the lock and reads nothing. A duplicate event needs no read either way:
  the lock already records what is wanted.
- **Why CreateTags is grouped.** The status tag of every published instance is the single
  word `ok` (a release: `released (<reason>)`), the same value for all of them, so instances
  that get the same value share one `CreateTags` call (up to 500 instances per call) instead
  of one call each: EC2 throttles tag writes hard, and a burst of 1,000 claims needs 2 tag
  calls instead of 1,000. Only outcomes that concern one instance (a conflict, an invalid
  name) still need a value, and a call, of their own.
"""


# =========================================================================== main


def burst_batches_per_zone(n: int) -> int:
    """The fewest Route53 batches per zone for `n` fresh names: Route53 takes 32,000
    characters of values per batch, and a fresh name's CREATEs in a zone are its address (up
    to 15 characters) and its marker (up to 60: the qualified owner, the generation, the
    types and the deployment id)."""
    return -(-n * 75 // 32_000)


def summary_rows(res: dict) -> tuple[list[tuple], list[str]]:
    rows, notes = [], []
    s = res.get("single")
    if s and "cases" in s:
        for kind, label, *_ in SINGLE_KINDS:
            for zk, _ in ZONE_CASES:
                t = kind_target(kind, zk)
                if t is None:
                    continue
                k = s["cases"][zk][kind]
                rows.append((f"calls: {label}, {case_label(zk)}",
                             f"{rng(k['totals'])} ({fmt_range_calls(k['calls'])})",
                             f"≤ {t}", verdict(max(k["totals"]) <= t)))
        for kind, label, *_ in SINGLE_KINDS:
            rt = ROUND_TRIP_TARGETS.get(kind)
            for zk, _ in ZONE_CASES:
                trips = s["cases"][zk][kind].get("round_trips")
                if rt is None or not trips:
                    continue
                rows.append((f"round trips on the critical path: {label}, {case_label(zk)}",
                             rng(trips), f"≤ {rt}", verdict(max(trips) <= rt)))
        lat = [x for zk, _ in ZONE_CASES for x in s["cases"][zk]["duplicate"]["latency_ms"]]
        rows.append(("handler latency, steady-state event (median)",
                     f"{statistics.median(lat):.0f} ms", "–", "n/a"))
    f = res.get("fleet")
    if f and "cases" in f:
        for kind, *_ in FLEET_KINDS:
            for zk, _ in ZONE_CASES:
                case = f["cases"][zk]
                k = case[kind]
                met = fleet_met(kind, zk, k, case)
                if met is None:
                    continue
                rows.append((f"calls: {k['label']}, {case_label(zk)}",
                             f"{rng(k['totals'])} ({fmt_range_calls(k['calls'])})",
                             fleet_target_text(kind, zk, case), verdict(met)))
        rows.append(("fleet events: state after every event (records, markers, locks, "
                     "lifecycle completions)",
                     "as expected" if not f["problems"] else f"NO: {len(f['problems'])} problems",
                     "all", verdict(not f["problems"])))
    for bu in res.get("bursts", []):
        n = bu["n"]
        ok = bu["verify"]["ok"] and not bu["batch_item_failures"]
        v = bu["verify"]
        rows.append((f"burst {n}: records and markers correct",
                     f"yes ({v['records']:,} records, {v.get('markers', 0):,} markers)" if ok
                     else f"NO ({v['n_problems']} problems, {bu['batch_item_failures']} failed "
                     "messages)", "all", verdict(ok)))
        c = bu["calls"]
        changes = c.get("route53:ChangeResourceRecordSets", 0)
        per_zone = burst_batches_per_zone(n)
        rows.append((f"burst {n}: ChangeResourceRecordSets", f"{changes} (2 zones)",
                     f"≤ {2 * per_zone} ({per_zone} per zone: 32,000 characters per batch)",
                     verdict(changes <= 2 * per_zone)))
        d = c.get("ec2:DescribeInstances", 0)
        rows.append((f"burst {n}: DescribeInstances", str(d), "exactly 1", verdict(d == 1)))
        ddb = {k: v for k, v in bu.get("writes", writes_of(c)).items() if k.startswith("dynamodb:")}
        nddb = sum(ddb.values())
        rows.append((f"burst {n}: DynamoDB writes", f"{nddb:,} ({fmt_calls(ddb)})",
                     f"≤ {n:,} (1 per name)", verdict(nddb <= n)))
        tags = c.get("ec2:CreateTags", 0)
        rows.append((f"burst {n}: CreateTags", str(tags), "≤ 10", verdict(tags <= 10)))
    for rc in res.get("reconcile", []):
        for label, run in rc["runs"].items():
            if "error" in run:
                rows.append((f"reconcile-all {rc['n']:,} {label}", "failed: " + run["error"][:80],
                             "completes", verdict(False)))
                continue
            w = run.get("writes", writes_of(run["calls"]))
            nw = sum(w.values())
            if label == "dry":
                rows.append((f"reconcile-all {rc['n']:,} dry run: writes",
                             f"{nw} ({fmt_calls(w)})" if nw else "0", "0", verdict(nw == 0)))
            if label in ("second", "steady"):
                ok = nw == 0 and run["changes"] == 0
                rows.append((f"reconcile-all {rc['n']:,}, second real run (converged fleet): "
                             "changes and writes",
                             f"{run['changes']} changes, {nw} writes"
                             + (f" ({fmt_calls(w)})" if nw else "")
                             + f"; all calls: {fmt_calls(run['calls'])}",
                             "0 changes, 0 writes (reads only)", verdict(ok)))
            rows.append((f"reconcile-all {rc['n']:,} {label}: peak RSS", mb(run["hwm_kb"]),
                         "≤ 64 MB", verdict(run["hwm_kb"] is not None and run["hwm_kb"] <= 64 * 1024)))
            if "verify" in run:
                rows.append((f"reconcile-all {rc['n']:,} {label}: records and markers correct",
                             "yes" if run["verify"]["ok"] else "NO", "all",
                             verdict(run["verify"]["ok"])))
    d = res.get("ddns")
    if d and "kinds" in d:
        for kind, *_ in DDNS_KINDS:
            k = d["kinds"][kind]
            if ddns_met(kind, k) is None:
                continue
            rows.append((f"DDNS calls: {k['label']}",
                         f"{rng(k['totals'])} ({fmt_range_calls(k['calls'])}); writes "
                         f"{rng(k['writes'])}", ddns_target_text(kind),
                         verdict(ddns_met(kind, k))))
        for kind in ("lease", "nohost"):
            k = d["kinds"][kind]
            rows.append((f"DDNS calls: {k['label']}",
                         f"{rng(k['totals'])} ({fmt_range_calls(k['calls'])}); writes "
                         f"{rng(k['writes'])}", "– (recorded)", "n/a"))
        problems = sum(len(k["problems"]) for k in d["kinds"].values()) + \
            len(d.get("setup_problems", [])) + len(d["warmup"].get("problems", []))
        rows.append(("DDNS: state after every update (record, marker owner, lock, host item)",
                     "as expected" if not problems else f"NO: {problems} problems", "all",
                     verdict(not problems)))
        for kind in ("nochg", "change", "badauth"):
            lat = d["kinds"][kind]["latency_ms"]
            rows.append((f"DDNS handler latency, {kind} (median / p90)",
                         f"{med(lat):.0f} / {pct(lat, 0.9):.0f} ms", "–", "n/a"))
        hw = [x for k in d["kinds"].values() for x in k["hwm_kb"] if x is not None]
        rows.append(("DDNS peak RSS of one update (median / max)",
                     f"{mb(med(hw))} / {mb(max(hw))}", "–", "n/a"))
    c = res.get("cold")
    if c:
        debug = "/debug/" in res.get("runs", {}).get("cold", {}).get("binary", "")
        tag = " — debug binary" if debug else ""
        series = [("configuration recorded", c["ms"], c["hwm_kb"])]
        if c.get("first_ms"):
            series.append(("first start, configuration written", c["first_ms"], c["first_hwm_kb"]))
        for label, ms, hwm in series:
            hw = med(hwm)
            rows.append((f"cold start to first poll (median), {label}{tag}", f"{med(ms):.1f} ms",
                         "≤ 20 ms (release binary)",
                         "n/a: not the release binary" if debug else verdict(med(ms) <= 20)))
            rows.append((f"peak RSS at first poll (median), {label}{tag}", mb(hw),
                         "≤ 20 MB (release binary)",
                         "n/a: not the release binary" if debug
                         else verdict(hw is not None and hw <= 20 * 1024)))
        for label, key in (("configuration recorded", "event_ms"),
                           ("first start, configuration written", "first_event_ms")):
            if c.get(key):
                rows.append((f"cold start to the first event's answer (median, steady event), "
                             f"{label}{tag}", f"{med(c[key]):.1f} ms", "– (reported beside the "
                             "first poll: work moved past it is not a saving)", "n/a"))
    z = res.get("zip")
    if z is not None:
        size = z.get("bytes")
        rows.append(("arm64 bootstrap.zip", f"{size / 1e6:.2f} MB" if size else "not measured",
                     "≤ 8 MB", verdict(size <= 8_000_000) if size else "not measured"))
    rows.extend(bench_scale.sharded_rows(res, verdict))
    return rows, notes


def print_tables(res: dict) -> None:
    rows, _ = summary_rows(res)
    w0 = max(len(r[0]) for r in rows) if rows else 10
    w1 = min(max(len(str(r[1])) for r in rows), 60) if rows else 10
    print("\n=== ec2-dns benchmarks ===")
    for r in rows:
        print(f"{r[0]:<{w0}}  {str(r[1]):<{w1}}  {r[2]:<34}  {r[3].strip('*')}")
    s = res.get("single")
    if s and "cases" in s:
        print("\n--- single events: calls / latency ---")
        print(f"first event of the container: {fmt_calls(s['cold_first']['calls'])}")
        for zk, _ in ZONE_CASES:
            for k in s["cases"][zk].values():
                print(f"[{zk}] {k['label'][:70]:<70} total {rng(k['totals']):<6} median "
                      f"{statistics.median(k['latency_ms']):6.0f} ms")
                for q, n in k["sequences"].items():
                    print(f"      {n} × {q}")
    d = res.get("ddns")
    if d and "kinds" in d:
        print("\n--- DDNS endpoint: calls / latency / peak RSS of the update ---")
        print(f"warm-up: {fmt_calls(d['warmup']['calls'])}")
        for k in d["kinds"].values():
            print(f"{k['label'][:70]:<70} total {rng(k['totals']):<5} writes {rng(k['writes']):<4}"
                  f" median {med(k['latency_ms']):6.0f} ms  rss {mb(med(k['hwm_kb']))}"
                  f"  answers {k['answers']}  problems {k['problems'][:2]}")
            for q, n in k["sequences"].items():
                print(f"      {n} × {q}")
    for bu in res.get("bursts", []):
        print(f"\n--- burst {bu['n']}: {fmt_calls(bu['calls'])}; latency {secs(bu['latency_s'])}, "
              f"cpu {secs(bu['cpu_s'])}, aws {secs(bu['aws_busy_s'])}, rss {mb(bu['hwm_kb'])}, "
              f"verify {bu['verify']['ok']} {bu['verify']['problems'][:3]}")
    for rc in res.get("reconcile", []):
        for label, run in rc["runs"].items():
            print(f"\n--- reconcile-all {rc['n']} {label}: {json.dumps(run, default=str)[:600]}")
    if res.get("cold"):
        c = res["cold"]
        print(f"\n--- cold start (recorded): {[round(x, 1) for x in c['ms']]} ms; "
              f"aws {[round(x, 1) for x in c.get('aws_ms', [])]} ms; hwm {c['hwm_kb']} kB; "
              f"calls {c.get('calls')}")
        if c.get("first_ms"):
            print(f"--- cold start (first): {[round(x, 1) for x in c['first_ms']]} ms; "
                  f"aws {[round(x, 1) for x in c.get('first_aws_ms', [])]} ms; "
                  f"calls {c.get('first_calls')}")
        print(f"--- C poller floor {[round(x, 1) for x in c['floor_ms']]} ms")


def source_commit() -> str:
    """The commit the measured code is, with `+changes` when the working tree's code differs
    from it (generated documents aside)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".",
                                ":!docs/benchmarks.md", ":!docs/testing.md"],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty.strip() else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 10,000-instance case")
    ap.add_argument("--reps", type=int, default=7,
                    help="runs per single-event kind and per DDNS update kind (default 7)")
    ap.add_argument("--starts", type=int, default=15, help="cold starts measured (default 15)")
    ap.add_argument("--real-10k", action="store_true",
                    help="also the real (writing) reconcile-all at 10,000 instances: moto 5.2.5 "
                         "needs more memory for it than a 24 GB machine has (see the notes)")
    ap.add_argument("--moto-rss-limit-gb", type=float, default=None,
                    help="stop moto (and record the run in progress as failed) when its resident "
                         "memory passes this (default: 60%% of the machine's memory)")
    ap.add_argument("--moto-as-is", action="store_true",
                    help="run moto unchanged, without the bench's cheaper rollback bookkeeping "
                         "for TransactWriteItems (see the notes)")
    ap.add_argument("--reconcile-sizes", default="1000,10000",
                    help="instance counts of the reconcile-all section (default 1000,10000)")
    ap.add_argument("--render-only", action="store_true",
                    help=f"run nothing: rewrite the page from {RESULTS.relative_to(REPO)} (after "
                    "a change to the notes or the layout)")
    ap.add_argument("--only", default="", help="comma list of sections to run: "
                    f"{','.join(SECTIONS)} (default all)")
    ap.add_argument("--merge", action="store_true",
                    help=f"keep earlier results from {RESULTS.relative_to(REPO)} for the sections "
                    "not run now (implied by --only; a full run starts afresh)")
    ap.add_argument("--render", action="store_true",
                    help=f"run nothing: rewrite the doc from {RESULTS.relative_to(REPO)}")
    ap.add_argument("--out", default=str(DOC), help="where to write the report")
    args = ap.parse_args()
    if args.render_only:
        res = json.loads(RESULTS.read_text())
        res["summary"], _ = summary_rows(res)
        res["not_met_notes"] = NOT_MET(res)
        Path(args.out).write_text(render(res, args, 0))
        print(f"[bench] wrote {args.out} from {RESULTS.relative_to(REPO)}")
        failed = ddns_failures(res) + fleet_failures(res)
        for f in failed:
            print(f"[bench] FAILED: {f}", file=sys.stderr)
        return 1 if failed else 0
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
    # The DDNS endpoint and the operator CLI lie beside the reconciler's binary.
    ddns_bin = str(Path(binary).with_name("ec2-dns-ddns"))
    ctl_bin = str(Path(binary).with_name("ec2-dns-ctl"))
    if want("ddns"):
        if (Path(binary).resolve().parent == (REPO / "target" / "release").resolve()
                and not os.environ.get("EC2_DNS_BENCH_NO_BUILD")):
            # `make bench` builds only the reconciler: build the endpoint and the CLI from the
            # same tree (a no-op when they are current), so the section measures this code.
            # EC2_DNS_BENCH_NO_BUILD=1 uses the binaries as they are.
            print("[bench] cargo build --locked --release --bin ec2-dns-ddns --bin ec2-dns-ctl",
                  flush=True)
            built = subprocess.run(["cargo", "build", "--locked", "--release", "--bin",
                                    "ec2-dns-ddns", "--bin", "ec2-dns-ctl"], cwd=REPO)
            if built.returncode != 0:
                print("[bench] the ddns section needs ec2-dns-ddns and ec2-dns-ctl: the build "
                      "failed", file=sys.stderr)
                return 2
        missing = [p for p in (ddns_bin, ctl_bin) if not os.path.exists(p)]
        if missing:
            print(f"not found: {', '.join(missing)} (the ddns section needs them beside "
                  f"{binary}): cargo build --release --bin ec2-dns-ddns --bin ec2-dns-ctl, or "
                  "leave the section out with --only", file=sys.stderr)
            return 2

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

    def section(name, fn, run_binary: str = binary):
        print(f"[bench] {name} …", flush=True)
        t0 = now()
        res[name] = fn()
        res["runs"][name] = {
            "binary": os.path.relpath(run_binary, REPO),
            "binary_bytes": os.path.getsize(run_binary),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": source_commit(),
            "seconds": now() - t0, "command": command,
            "load": "%.2f %.2f %.2f" % os.getloadavg()}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(res, indent=1, default=str))

    mem_kb = kb_field("/proc/meminfo", "MemTotal") or 0
    b = Bench(binary, moto_rss_limit_kb=int(args.moto_rss_limit_gb * 1024 * 1024)
              if args.moto_rss_limit_gb else int(mem_kb * 0.6) or None,
              moto_as_is=args.moto_as_is)
    res["moto"] = "as is" if args.moto_as_is else "transactions patched"
    try:
        b.start()
        if want("cold"):
            section("cold", lambda: bench_cold_start(b, binary, args.starts))
        if want("single"):
            section("single", lambda: bench_single(b, args.reps))
        if want("fleet"):
            section("fleet", lambda: bench_fleet(b, args.reps))
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
        if want("sharded"):
            section("sharded", lambda: [
                bench_scale.bench_sharded(b, 1000, True, 100, calls_of, total),
                bench_scale.bench_sharded(b, 10000, False, 1000, calls_of, total)])
        if want("scale"):
            section("simulation", bench_scale.bench_simulation)
        if want("ddns"):
            section("ddns", lambda: bench_ddns(b, ddns_bin, ctl_bin, args.reps),
                    run_binary=ddns_bin)
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
    failed = ddns_failures(res) + fleet_failures(res)
    if failed:
        print(f"\n[bench] FAILED: {len(failed)} DDNS or fleet target(s) or check(s) not met:",
              file=sys.stderr)
        for f in failed:
            print(f"  - {f}", file=sys.stderr)
        return 1
    return 0


def main_sequence(k: dict) -> str:
    """The most frequent call order of an event kind (with the count when runs differ)."""
    seqs = k.get("sequences") or {}
    if not seqs:
        return "–"
    q, c = max(seqs.items(), key=lambda x: x[1])
    runs = sum(seqs.values())
    return q if c == runs else f"{q} (in {c} of {runs} runs)"


def interpretation(res: dict) -> list[str]:
    """Sentences written from the measured figures (regenerated with them)."""
    out = []
    s = res.get("single")
    if s and "cases" in s:
        one, two = s["cases"]["one"], s["cases"]["two"]

        def both(kind):
            return (f"{rng(one[kind]['totals'])} calls with one zone and "
                    f"{rng(two[kind]['totals'])} with two")

        out.append(
            f"**A steady-state event only reads**: a duplicate `running` event "
            f"for a published instance made {both('duplicate')} ({main_sequence(one['duplicate'])}): "
            "the instance, then its name's lock and owner index in one consistent read; the lock "
            "records exactly what is wanted, so Route53 is not read and nothing is written.")
        out.append(
            f"A **fresh claim** on a warm container made {both('claim')}, in this order "
            f"with one zone: {main_sequence(one['claim'])}. The lock is written once, "
            "conditionally, before anything goes to Route53; each zone's batch holds the A "
            "record and its marker; the status tag is `ok`; no commit follows. With two zones: "
            f"{main_sequence(two['claim'])}. The container's first invocation (the warm-up row) "
            f"adds its one `ListHostedZones`: {total(s['cold_first']['calls'])} calls. A claim "
            f"with a 26 s deadline costs the same ({both('claim26')}).")
        out.append(
            f"A **stop of a settled lock** made {both('stop_settled')} "
            f"({main_sequence(one['stop_settled'])}); **right after the claim** the same stop made "
            f"{both('stop_inflight')} ({main_sequence(one['stop_inflight'])}): the "
            "`ListResourceRecordSets` per zone is the read of a lock still in flight (see "
            "[Reading the figures](#reading-the-figures)). The lock is kept, free, and "
            "the records and marker are deleted in one batch per zone.")
        out.append(
            f"For the record (no target): the start after that stop made {both('start_again')} "
            f"({main_sequence(one['start_again'])}); the restart with a new address after a "
            f"lost stop event made {both('restart')} ({main_sequence(one['restart'])}). Both found "
            "the previous event's lock in flight, which is where a `ListResourceRecordSets` in "
            "them comes from.")
    bursts = res.get("bursts") or []
    for bu in bursts:
        c = bu["calls"]
        n = bu["n"]
        lrs = c.get("route53:ListResourceRecordSets", 0)
        out.append(
            f"**Burst of {n:,}** fresh names in one SQS batch: "
            f"{c.get('route53:ChangeResourceRecordSets', 0)} Route53 changes for 2 zones (each name "
            f"puts an A record and its marker in each zone, {2 * n:,} values per zone, up to 1,000 "
            f"values per batch), {c.get('ec2:DescribeInstances', 0)} DescribeInstances (up to 1,000 "
            f"ids each), {c.get('dynamodb:BatchGetItem', 0)} BatchGetItem (100 keys each, two per "
            f"instance), {c.get('dynamodb:TransactWriteItems', 0):,} TransactWriteItems (one "
            f"decision per name) and {c.get('ec2:CreateTags', 0)} CreateTags (the same `ok` for "
            f"every instance, up to 500 per call); "
            + (f"{lrs} ListResourceRecordSets" if lrs else "no Route53 read")
            + f", {c.get('route53:ListHostedZones', 0)} ListHostedZones (a new container).")
    if bursts:
        big = bursts[-1]
        if big.get("cpu_s") is not None:
            out.append(
                f"The function's own CPU for the {big['n']:,}-event batch was {secs(big['cpu_s'])} "
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
        if "real" in r1 and "error" not in r1["real"]:
            rr = r1["real"]
            w = rr.get("writes", writes_of(rr["calls"]))
            out.append(
                f"The real run over 1,000 instances made {sum(w.values()):,} writes "
                f"({fmt_calls(w)}) in {secs(rr['latency_s'])}; all records and markers were then "
                f"correct. The function used {secs(rr['cpu_s'])} of CPU and {mb(rr['hwm_kb'])} at "
                "its peak.")
        sec = r1.get("second") or r1.get("steady")
        if sec and "error" not in sec:
            w = sec.get("writes", writes_of(sec["calls"]))
            out.append(
                "**A second real reconcile-all on the converged fleet** (the scheduled run's cost) "
                f"made {total(sec['calls'])} calls ({fmt_calls(sec['calls'])}), "
                f"{sum(w.values())} writes and {sec['changes']} changes in "
                f"{secs(sec['latency_s'])}: it reads the instances, the lock table and every "
                "managed zone (each zone now holds 1,000 A sets and 1,000 markers, read page by "
                "page), and writes nothing.")
            rr = r1.get("real")
            if rr and "error" not in rr and "started_s" in sec and "started_s" in rr:
                gap = sec["started_s"] - rr["started_s"]
                out[-1] += (
                    f" It started {gap:.0f} s after the real run did, so the locks that run "
                    "wrote (their window: 120 + 15 s from the start of its writes) were "
                    + ("still in flight: a lock that already records what is wanted needs no "
                       "read and no decision, in flight or not." if gap < 135 else
                       "settled."))
    if 10000 not in rcs and 1000 in rcs:
        out.append(
            "**10,000 instances: not in this recording** (run with `--quick`, or not finished). "
            "By construction the dry run's reads grow with the pages: ⌈n / 1,000⌉ "
            "DescribeInstances, ⌈lock table size / 1 MB⌉ Scan pages and ⌈records / 300⌉ "
            "ListResourceRecordSets per zone on Route53; memory grows with the instances held.")
    if 10000 in rcs:
        r10 = rcs[10000]
        if r10.get("skipped_real") and 1000 in rcs and "real" in rcs[1000]["runs"]:
            rr = rcs[1000]["runs"]["real"]
            if "error" not in rr:
                w10 = {k: 10 * v for k, v in rr.get("writes", writes_of(rr["calls"])).items()}
                out.append(
                    "**The real (writing) run at 10,000 is not in this recording**: the emulator "
                    "cannot hold it (moto's memory per TransactWriteItems grows with the table; "
                    "see [docs/contributing.md](contributing.md)). By construction it makes the "
                    f"writes of the 1,000 run ×10 ({fmt_calls(w10)}: one decision per name, "
                    "status tags grouped by value, Route53 batches of 1,000 values).")
        if res.get("growth"):
            out.append("From 1,000 to 10,000 instances (dry run): " + res["growth"])
    if res.get("ddns") and "kinds" in res["ddns"]:
        out.extend(ddns_interpretation(res["ddns"]))
    c = res.get("cold")
    if c:
        text = (f"**Cold start**: {med(c['ms']):.1f} ms from exec to the first poll with the "
                f"configuration already recorded (median of {c['starts']})")
        if c.get("aws_ms") and med(c["aws_ms"]) > 0:
            text += (f", of which {med(c['aws_ms']):.1f} ms waiting for calls before the poll "
                     f"({fmt_range_calls(c.get('calls', {}))})")
        else:
            text += ", with no AWS call before it"
        if c.get("event_ms"):
            text += (f"; the first event (steady) is answered {med(c['event_ms']):.1f} ms after "
                     f"exec, building the clients and reading the recorded configuration beside "
                     f"its own work ({fmt_range_calls(c.get('event_calls', {}))})")
        if c.get("first_event_ms"):
            text += (f", or {med(c['first_event_ms']):.1f} ms when it also writes the "
                     f"configuration ({fmt_range_calls(c.get('first_event_calls', {}))})")
        if c.get("floor_ms"):
            text += (f". A minimal C program that only polls, measured the same way, takes "
                     f"{med(c['floor_ms']):.1f} ms: that much is the method's floor (exec, the "
                     "host's accept in Python)")
            own = med(c["ms"]) - med(c.get("aws_ms") or [0.0]) - med(c["floor_ms"])
            text += (f"; the function's own initialisation before the poll is about {own:.1f} "
                     "ms (tracing, the configuration, the SDK configuration). The clients, the "
                     "HTTPS client's set-up (the system's root certificates) and the account "
                     "(from the invoked function's ARN, no `sts:GetCallerIdentity`) come with "
                     "the first invocation")
        out.append(text + ".")
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


def phases_sentence(run: dict) -> str:
    """The split of a run's peak between its reads and what follows them."""
    ph = run.get("memory_phases") or []
    d = dict(ph)
    idle = d.get("idle (first poll)")
    reads = [kb for lbl, kb in ph if lbl.startswith("after ") and kb is not None]
    end = d.get("end of the invocation (plan, writes, report, answer)")
    if idle is None or not reads or end is None:
        return ""
    return (f" Of the rise above the idle process ({mb(end - idle)}), {mb(reads[-1] - idle)} "
            f"was reached by the end of the reads and {mb(end - reads[-1])} came after them "
            "(plan, report and the answer's serialisation): see the phase table under "
            "[Reconcile-all](#reconcile-all-reconcile-all-fresh-container-per-run).")


def orders_of(k: dict) -> str:
    """An event kind's call orders, each with how many of its runs made it."""
    runs = sum(k["sequences"].values())
    return "; ".join(f"{q} ({c} of {runs} runs)"
                     for q, c in sorted(k["sequences"].items(), key=lambda x: -x[1]))


def NOT_MET(res: dict) -> list[str]:  # noqa: N802
    """Why each unmet target is unmet, with the calls that were made (from the figures and
    the proxy's call log)."""
    notes = []
    s = res.get("single")
    if s and "cases" in s:
        for kind, label, *_ in SINGLE_KINDS:
            for zk, _ in ZONE_CASES:
                t = kind_target(kind, zk)
                k = s["cases"][zk][kind]
                if t is None or max(k["totals"]) <= t:
                    continue
                notes.append(f"**Not met**: {label}, {case_label(zk)}: {rng(k['totals'])} calls "
                             f"against ≤ {t}. The calls in order, from the proxy's log: {orders_of(k)}.")
        for kind, label, *_ in SINGLE_KINDS:
            rt = ROUND_TRIP_TARGETS.get(kind)
            for zk, _ in ZONE_CASES:
                k = s["cases"][zk][kind]
                if rt is None or not k.get("round_trips") or max(k["round_trips"]) <= rt:
                    continue
                notes.append(f"**Not met**: {label}, {case_label(zk)}: {rng(k['round_trips'])} "
                             f"round trips on the critical path against ≤ {rt}. The calls in "
                             f"the order of their answers: {orders_of(k)}.")
    for bu in res.get("bursts", []):
        c = bu["calls"]
        n = bu["n"]
        ddb = sum(v for k, v in bu.get("writes", writes_of(c)).items() if k.startswith("dynamodb:"))
        bad = []
        most = 2 * burst_batches_per_zone(n)
        if c.get("route53:ChangeResourceRecordSets", 0) > most:
            bad.append(f"{c['route53:ChangeResourceRecordSets']} ChangeResourceRecordSets > {most}")
        if c.get("ec2:DescribeInstances", 0) != 1:
            bad.append(f"{c.get('ec2:DescribeInstances', 0)} DescribeInstances ≠ 1")
        if ddb > n:
            bad.append(f"{ddb:,} DynamoDB writes > {n:,}")
        if c.get("ec2:CreateTags", 0) > 10:
            bad.append(f"{c['ec2:CreateTags']} CreateTags > 10")
        if not bu["verify"]["ok"] or bu["batch_item_failures"]:
            bad.append(f"records: {bu['verify']['n_problems']} problems "
                       f"({'; '.join(bu['verify']['problems'][:3])}), "
                       f"{bu['batch_item_failures']} failed messages")
        if bad:
            notes.append(f"**Not met**: burst {n:,}: " + "; ".join(bad) + f". All its calls: "
                         f"{fmt_calls(c)}; answers other than 2xx: {fmt_calls(bu['errors'])}.")
    for rc in res.get("reconcile", []):
        for label, run in rc["runs"].items():
            if "error" in run:
                continue
            w = run.get("writes", writes_of(run["calls"]))
            if (label == "dry" and w) or (label in ("second", "steady")
                                          and (w or run["changes"])):
                notes.append(f"**Not met**: reconcile-all {rc['n']:,} {label}: {run['changes']} "
                             f"changes and writes {fmt_calls(w)}; all its calls: "
                             f"{fmt_calls(run['calls'])}.")
    d = res.get("ddns")
    if d and "kinds" in d:
        for kind, *_ in DDNS_KINDS:
            k = d["kinds"][kind]
            if ddns_met(kind, k) is not False:
                continue
            notes.append(f"**Not met**: DDNS {k['label']}: {rng(k['totals'])} calls, "
                         f"{rng(k['writes'])} writes against {ddns_target_text(kind)}. The calls "
                         f"in order, from the proxy's log: {orders_of(k)}.")
    idle = med((res.get("cold") or {}).get("hwm_kb") or [])
    for rc in res.get("reconcile", []):
        for label, run in rc["runs"].items():
            if "error" in run or run.get("hwm_kb") is None or run["hwm_kb"] <= 64 * 1024:
                continue
            per = (f"; above the idle process ({mb(idle)} at its first poll) that is "
                   f"{(run['hwm_kb'] - idle) / rc['n']:.1f} kB per instance" if idle else "")
            smaller = [(r2["n"], r2["runs"][label]) for r2 in res["reconcile"]
                       if r2["n"] < rc["n"] and label in r2["runs"]
                       and r2["runs"][label].get("hwm_kb")]
            if smaller and idle:
                n2, r2 = smaller[-1]
                per += (f" ({(r2['hwm_kb'] - idle) / n2:.1f} kB per instance in the {n2:,}-instance "
                        "run)")
            notes.append(
                f"**Not met**: reconcile-all {rc['n']:,} {label}: peak RSS {mb(run['hwm_kb'])} > "
                f"64 MB{per}. The run made {fmt_calls(run['calls'])}, planned "
                f"{run['changes']:,} changes and answered a report of "
                f"{run['report_bytes'] / 1e6:.2f} MB"
                + (" (a summary: the whole report is over the 5 MB answer limit)"
                   if run.get("truncated") else "")
                + "; the memory grows with what the run holds "
                "at once (every tagged instance and lock it read, the plan and the report), not "
                "with the calls." + phases_sentence(run))
    c = res.get("cold")
    runs = res.get("runs", {})
    if c and "cold" in runs:
        debug = "/debug/" in runs["cold"]["binary"]
        if debug:
            notes.append(
                f"Cold start and its RSS were measured with the **debug** binary "
                f"(`{runs['cold']['binary']}`, {runs['cold']['binary_bytes'] / 1e6:.0f} MB, "
                "unoptimised, with debug info), because the release binary was not built yet; "
                "the targets concern the release binary. `make bench` builds it and measures "
                "again; until then the verdicts on these rows do not apply.")
        else:
            fl = med(c["floor_ms"]) if c.get("floor_ms") else None
            for label, ms, aws, calls in (
                    ("configuration recorded", c["ms"], c.get("aws_ms"), c.get("calls", {})),
                    ("first start, configuration written", c.get("first_ms"),
                     c.get("first_aws_ms"), c.get("first_calls", {}))):
                if not ms or med(ms) <= 20:
                    continue
                text = f"**Not met**: cold start ({label}) {med(ms):.1f} ms > 20 ms"
                if aws:
                    text += (f"; {med(aws):.1f} ms of it is waiting for the start-up calls "
                             f"({fmt_range_calls(calls)}) to be answered by moto through the "
                             "Python proxy")
                if fl:
                    text += f"; the method's floor (a minimal C poller) is {fl:.1f} ms"
                if aws and fl:
                    text += f", so the function's own part is about {med(ms) - med(aws) - fl:.1f} ms"
                notes.append(
                    text + ". Before the first poll the binary sets up tracing, the configuration "
                    "and the SDK configuration only; the clients, the account and the recorded "
                    "configuration come with the first invocation.")
            for label, hwm in (("configuration recorded", c["hwm_kb"]),
                               ("first start", c.get("first_hwm_kb"))):
                hw = med(hwm or [])
                if hw is not None and hw > 20 * 1024:
                    notes.append(
                        f"**Not met**: RSS at the first poll ({label}) {mb(hw)} > 20 MB: the TLS "
                        "and SDK set-up dominate; a smaller allocator footprint or lazily built "
                        "clients would lower it.")
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
