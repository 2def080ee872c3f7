#!/usr/bin/env python3
"""Benchmarks of ec2-dns against moto, through the strict API-counting proxy.

    EC2_DNS_BIN=$(pwd)/target/release/ec2-dns .venv/bin/python tests/bench.py [--quick]

Scenarios (each on a freshly reset moto, so no scenario sees another's state or counts):

1. cold start of the binary, against moto through the proxy (it calls sts and reads the
   recorded configuration before its first poll): process start to its first
   `GET …/invocation/next`, VmHWM at that moment, the start-up calls and the time spent
   waiting for them (median of --starts starts, configuration recorded or not);
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
   `make package`).

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
from harness import ec2_state_change, sqs_event  # noqa: E402
from harness.net import LOOPBACK  # noqa: E402
from harness.proxy import identify  # noqa: E402
from harness.world import marker_name, parse_marker, qualified  # noqa: E402
from harness.runtime import _Handler, _Pending, _Server, RuntimeApi  # noqa: E402

DOMAIN = "dyn.example.com"  # a public and a private zone: two zones per name
SOLO = "solo.example.org"  # a public zone only: the one-zone single-event cases
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
        """Block until the process polls for its first invocation: its start-up calls
        (sts:GetCallerIdentity, the recorded configuration) are then done, so that they are
        counted apart from the first invocation's calls."""
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
        """A new function process, started and past its start-up calls (sts and the
        recorded configuration), which are thus never counted in an invocation's calls."""
        fn = BenchFunction(self.proxy.url, config, command=[self.binary])
        self.functions.append(fn)
        fn.start()
        fn.wait_first_poll()
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
                expected = {"owner": owners[inst["name"]], "gen": lock.get("gen"), "types": ["A"]}
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
                  "sequence": sequence_of(b.proxy)}
    runs: dict[str, dict[str, list]] = {zk: {k[0]: [] for k in SINGLE_KINDS} for zk, _ in ZONE_CASES}

    def step(zk: str, kind: str, iid: str, state: str, deadline_s: float | None = None) -> None:
        b.proxy.reset_calls()
        r = fn.timed_invoke(ec2_state_change(iid, state), deadline_s=deadline_s)
        runs[zk][kind].append({"calls": calls_of(b.proxy), "latency_s": r["latency_s"],
                               "sequence": sequence_of(b.proxy), "errors": errors_of(b.proxy),
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
            if m != {"owner": qualified(iid), "gen": lock.get("gen"), "types": ["A"]}:
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
    out = {"cold_first": cold_first, "reps": reps, "section_s": now() - t_section, "cases": {}}
    for zk, _ in ZONE_CASES:
        kinds = {}
        for kind, label, *_ in SINGLE_KINDS:
            rs = runs[zk][kind]
            ops = sorted({op for r in rs for op in r["calls"]})
            seqs: dict[str, int] = {}
            for r in rs:
                key = " → ".join(r["sequence"])
                seqs[key] = seqs.get(key, 0) + 1
            kinds[kind] = {
                "label": label,
                "calls": {op: sorted({r["calls"].get(op, 0) for r in rs}) for op in ops},
                "totals": sorted({total(r["calls"]) for r in rs}),
                "writes": sorted({sum(writes_of(r["calls"]).values()) for r in rs}),
                "sequences": seqs,
                "latency_ms": [r["latency_s"] * 1000 for r in rs],
                "errors": sorted({e for r in rs for e in r["errors"]}),
            }
        out["cases"][zk] = kinds
    b.retire(fn)
    return out


def bench_burst(b: Bench, n: int) -> dict:
    """n fresh names in one SQS batch (n instances, each its own name, public + private
    zone), on a new process that has made its start-up calls but no invocation yet: the
    burst's calls include the container's ListHostedZones (a read)."""
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
               "started_s": t0 - first_t0,
               "slowest": b.proxy.slowest(),
               "wall_s": wall, "latency_s": r["latency_s"],
               "cpu_s": r["cpu_s"], "hwm_kb": r["hwm_kb"], "aws_busy_s": b.proxy.aws_busy_s(),
               "listing_snapshot_s": listing_s, "listing_pages": b.proxy.snapshot_pages,
               "listing_served_from_snapshot": b.proxy.snapshot_hits,
               "writes": writes_of(calls_of(b.proxy)),
               "changes": len(rep.get("changes", [])),
               "address_changes": len([c for c in rep.get("changes", [])
                                       if c.get("action") != "MARK"]),
               "conflicts": len(rep.get("conflicts", [])),
               "skipped": len(rep.get("skipped", [])), "failed": len(rep.get("failed", [])),
               "report_bytes": len(json.dumps(rep))}
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
    before it; and the same measure for a minimal C program polling `/next` (the floor:
    fork/exec from Python + the host's accept).

    Before its first poll the binary calls sts:GetCallerIdentity and reads the configuration
    recorded in the lock table (GetItem), and writes it (PutItem) when it differs: so it
    starts against moto, through the proxy, with the lock table in place. Two series: the
    configuration already recorded (every cold start but the first after a deployment or a
    change of configuration), and not recorded (the item deleted before each start). One
    start before them is not measured (moto's STS backend is set up on its first call)."""
    b.fresh_world()

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
                samples.append({
                    "ms": (fn.runtime.first_poll_at - fn.exec_at) * 1000,
                    "hwm_kb": fn.runtime.first_poll_hwm_kb,
                    "from_popen_ms": (fn.runtime.first_poll_at - fn.spawned_at) * 1000,
                    "calls": calls_of(b.proxy) if record is not None else {},
                    "aws_ms": b.proxy.aws_busy_s() * 1000 if record is not None else 0.0})
            finally:
                fn.stop()
        return samples

    measure([binary], b.proxy.url, record=False, n=1)  # not measured: moto's STS set-up
    recorded = measure([binary], b.proxy.url, record=True)
    first = measure([binary], b.proxy.url, record=False)
    poller = _build_poller()
    floor = measure([poller, "{RUNTIME_API}"], "http://127.0.0.1:9") if poller else []

    def calls_range(samples):
        ops = sorted({op for s in samples for op in s["calls"]})
        return {op: sorted({s["calls"].get(op, 0) for s in samples}) for op in ops}

    return {
        "starts": starts,
        "ms": [s["ms"] for s in recorded],
        "hwm_kb": [s["hwm_kb"] for s in recorded],
        "aws_ms": [s["aws_ms"] for s in recorded],
        "calls": calls_range(recorded),
        "first_ms": [s["ms"] for s in first],
        "first_hwm_kb": [s["hwm_kb"] for s in first],
        "first_aws_ms": [s["aws_ms"] for s in first],
        "first_calls": calls_range(first),
        "floor_ms": [s["ms"] for s in floor],
        "from_popen_ms": [s["from_popen_ms"] for s in recorded],
        "binary_bytes": os.path.getsize(binary),
    }


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
    add("| section | date | binary | command | took | load average after |")
    add("|---|---|---|---|---|---|")
    for name, r in res["runs"].items():
        add(f"| {name} | {r['date']} | `{r['binary']}` ({r['binary_bytes'] / 1e6:.1f} MB) | "
            f"`{r['command']}` | {r['seconds'] / 60:.1f} min | {r['load']} |")
    add("")
    # summary
    add("## Summary: figures against targets")
    add("")
    add("Call counts are the binary's requests as the proxy saw them, per invocation (the "
        "process's start-up calls are counted apart: see [Cold start](#cold-start)).")
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
        add("| event | zones | calls | total | target | latency median (min–max) |")
        add("|---|---|---|---|---|---|")
        cf = s["cold_first"]
        add(f"| warm-up: first event of the container (fresh claim, not measured against a "
            f"target) | 2 | {fmt_calls(cf['calls'])} | {total(cf['calls'])} | – | "
            f"{cf['latency_s'] * 1000:.0f} ms (one run) |")
        for kind, *_ in SINGLE_KINDS:
            for zk, _ in ZONE_CASES:
                k = s["cases"][zk][kind]
                lat = k["latency_ms"]
                t = kind_target(kind, zk)
                add(f"| {k['label']} | {1 if zk == 'one' else 2} | {fmt_range_calls(k['calls'])} | "
                    f"{rng(k['totals'])} | {'≤ ' + str(t) if t is not None else '–'} | "
                    f"{statistics.median(lat):.0f} ms ({min(lat):.0f}–{max(lat):.0f}) |")
        add("")
        add("The calls of each event in the order of their answers (the proxy's log; "
            "identical in every run unless a count is given):")
        add("")
        add("| event | zones | calls in order |")
        add("|---|---|---|")
        for kind, *_ in SINGLE_KINDS:
            for zk, _ in ZONE_CASES:
                k = s["cases"][zk][kind]
                seqs = k["sequences"]
                text = "<br>".join((f"{q}" if len(seqs) == 1 else f"{q} ({c} runs)")
                                   for q, c in sorted(seqs.items(), key=lambda x: -x[1]))
                add(f"| {k['label']} | {1 if zk == 'one' else 2} | {text} |")
        add("")
        errs = sorted({e for c in s["cases"].values() for k in c.values() for e in k["errors"]})
        add("Answers other than 2xx during these events: " + (", ".join(errs) or "none") + ".")
        add("")

    # bursts
    if res.get("bursts"):
        add("## SQS bursts: N `running` events in one batch (N fresh names, two zones, new "
            "container)")
        add("")
        add("The process has made its start-up calls but no invocation yet, so the burst's "
            "calls include the container's one `ListHostedZones`.")
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
                marks = run["changes"] - run.get("address_changes", run["changes"])
                add(f"| {rc['n']:,} | {label} | {fmt_calls(run['calls'])} | "
                    f"{sum(w.values()):,} | {run['changes']:,} ({marks:,}){extra} | "
                    f"{secs(run['latency_s'])} | {secs(run['cpu_s'])} | "
                    f"{secs(run['aws_busy_s'])} | {mb(run['hwm_kb'])} | "
                    f"{run['report_bytes'] / 1e6:.2f} MB |")
            if rc.get("skipped_real"):
                add(f"| {rc['n']:,} | real | not run: moto cannot hold it (memory per "
                    "TransactWriteItems); see the notes | | | | | | | |")
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
        add("## Cold start")
        add("")
        add(f"{c['starts']} starts of `{res['runs']['cold']['binary']}` per series, against "
            "moto through the proxy: before its first poll the binary calls "
            "`sts:GetCallerIdentity` and reads the configuration recorded in the lock table "
            "(and writes it when it differs), so these round trips are part of the figure.")
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
        if c.get("first_ms"):
            row3("exec → first poll, configuration not recorded yet (first start after a "
                 "deployment or a change)", fc_calls, c["first_ms"], ms)
            row3("… of which waiting for AWS (proxy + moto)", fc_calls, c.get("first_aws_ms", []), ms)
            row3("VmHWM at that moment", fc_calls, c["first_hwm_kb"], mb)
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


NOTES = """
## Method

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
  at that moment. The binary starts against moto through the proxy (its start-up calls need
  answers), and the time during which one of its start-up calls was outstanding at the proxy
  is given apart. The same measure for a minimal C program that only connects and sends
  the GET (compiled by the bench with `cc`) gives the floor of the method (exec of a tiny
  dynamically linked program, the host's accept and request parsing in Python). On Lambda
  the corresponding span is part of the reported `Init Duration`.
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
- **moto's TransactWriteItems.** moto 5.2.x deep-copies every table a transaction touches
  before running it (its rollback backup), so each call costs time in proportion to the
  table: 1,000 transactions of two puts took 117 s here on a busy machine, each 200 slower
  than the 200 before (10 s for the first, 32 s for the last), where real DynamoDB's cost
  does not depend on the table's size. Protocol v2 writes every decision before its window
  closes and sends no Route53 batch with fewer than 40 s of it left, so against unchanged
  moto the 1,000-name burst (debug binary, busy machine) ended with every name "out of time
  before the Route53 change was sent": 1,021 TransactWriteItems, 985 UpdateItem flagging the
  locks for a check, no Route53 change. The bench therefore starts moto (a script it writes,
  `ec2-dns-bench-moto.py` in `$TMPDIR`) with one change: a transaction backs up only the
  items it touches and, when it fails, puts them back; moto's own code still evaluates and
  applies it, and a failed transaction leaves the table as it was, as before. The same
  1,000 transactions then take 13 s. `--moto-as-is` runs moto unchanged.
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
        lat = [x for zk, _ in ZONE_CASES for x in s["cases"][zk]["duplicate"]["latency_ms"]]
        rows.append(("handler latency, steady-state event (median)",
                     f"{statistics.median(lat):.0f} ms", "–", "n/a"))
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
        rows.append((f"burst {n}: ChangeResourceRecordSets", f"{changes} (2 zones)",
                     "≤ 4 (2 per zone)", verdict(changes <= 4)))
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
    z = res.get("zip")
    if z is not None:
        size = z.get("bytes")
        rows.append(("arm64 bootstrap.zip", f"{size / 1e6:.2f} MB" if size else "not measured",
                     "≤ 8 MB", verdict(size <= 8_000_000) if size else "not measured"))
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
    ap.add_argument("--moto-as-is", action="store_true",
                    help="run moto unchanged, without the bench's cheaper rollback bookkeeping "
                         "for TransactWriteItems (see the notes)")
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
              if args.moto_rss_limit_gb else int(mem_kb * 0.6) or None,
              moto_as_is=args.moto_as_is)
    res["moto"] = "as is" if args.moto_as_is else "transactions patched"
    try:
        b.start()
        if want("cold"):
            section("cold", lambda: bench_cold_start(b, binary, args.starts))
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
            "What happened when it was tried: with moto answering the binary's listing itself, "
            "every page of 1,000 instances took more than 10 s and DescribeInstances failed "
            "after 5 attempts with `operation attempt timeout` (the binary's per-attempt limit is "
            "10 s); served from a snapshot fetched *with* the tag-key filter, moto needed about 3 "
            "minutes per page (its tag filter is O(instances × tags)) and the run was stopped. "
            "The bench now fetches the snapshot without the filter (about 10 s per page). By "
            "construction the dry run's reads grow with the pages: ⌈n / 1,000⌉ DescribeInstances, "
            "⌈lock table size / 1 MB⌉ Scan pages and ⌈records / 300⌉ ListResourceRecordSets per "
            "zone on Route53; memory grows with the instances held.")
    if 10000 in rcs:
        r10 = rcs[10000]
        if r10.get("skipped_real") and 1000 in rcs and "real" in rcs[1000]["runs"]:
            rr = rcs[1000]["runs"]["real"]
            if "error" not in rr:
                w10 = {k: 10 * v for k, v in rr.get("writes", writes_of(rr["calls"])).items()}
                out.append(
                    "**The real run at 10,000 is not run** by default, because moto cannot hold "
                    "it: moto 5.2.5 keeps, for every TransactWriteItems, memory that grows with the "
                    "table (measured here: 3,000 transactions of two puts each left moto at 12 GB "
                    "and took 241 s; 500 transactions on a table of 2,000 items, 0.7 GB, while "
                    "2,000 conditional PutItem calls stay under 0.1 GB). The 10,000 claims of a "
                    "real run need a transaction each, on a table that grows to 20,000 items: a "
                    "`--real-10k` attempt was stopped with moto at 18 GB of this machine's 24 GB and "
                    "growing. By construction the real run makes the writes of the 1,000 run ×10 "
                    f"({fmt_calls(w10)}: one decision per name, status tags grouped by value, "
                    "Route53 batches of 1,000 values); the 1,000 "
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
        text = (f"**Cold start**: {med(c['ms']):.1f} ms from exec to the first poll with the "
                f"configuration already recorded (median of {c['starts']})")
        if c.get("aws_ms"):
            text += (f", of which {med(c['aws_ms']):.1f} ms waiting for the start-up calls "
                     f"({fmt_range_calls(c.get('calls', {}))}) to be answered by moto through "
                     "the proxy")
        if c.get("first_ms"):
            text += (f"; {med(c['first_ms']):.1f} ms for a start that also writes the "
                     f"configuration ({fmt_range_calls(c.get('first_calls', {}))}"
                     + (f", {med(c['first_aws_ms']):.1f} ms of it waiting for AWS"
                        if c.get("first_aws_ms") else "") + ")")
        if c.get("floor_ms"):
            text += (f". A minimal C program that only polls, measured the same way, takes "
                     f"{med(c['floor_ms']):.1f} ms: that much is the method's floor (exec, the "
                     "host's accept in Python)")
            if c.get("aws_ms"):
                own = med(c["ms"]) - med(c["aws_ms"]) - med(c["floor_ms"])
                text += (f"; the function's own initialisation is about {own:.1f} ms of the "
                         "figure, now including the HTTPS client's set-up (the system's root "
                         "certificates are read before the first call) that used to wait for the "
                         "first invocation. On Lambda the start-up calls go to STS and DynamoDB "
                         "in the region, typically a few milliseconds each")
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
                orders = "; ".join(f"{q} ({c} of {sum(k['sequences'].values())} runs)"
                                   for q, c in sorted(k["sequences"].items(), key=lambda x: -x[1]))
                notes.append(f"**Not met**: {label}, {case_label(zk)}: {rng(k['totals'])} calls "
                             f"against ≤ {t}. The calls in order, from the proxy's log: {orders}.")
    for bu in res.get("bursts", []):
        c = bu["calls"]
        n = bu["n"]
        ddb = sum(v for k, v in bu.get("writes", writes_of(c)).items() if k.startswith("dynamodb:"))
        bad = []
        if c.get("route53:ChangeResourceRecordSets", 0) > 4:
            bad.append(f"{c['route53:ChangeResourceRecordSets']} ChangeResourceRecordSets > 4")
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
                f"{run['report_bytes'] / 1e6:.2f} MB; the memory grows with what the run holds "
                "at once (every tagged instance and lock it read, the plan and the report), not "
                "with the calls.")
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
                    "and the SDK configuration, calls `sts:GetCallerIdentity` (its account, which "
                    "qualifies every owner), builds its clients and reads the recorded "
                    "configuration (writing it when it differs). Its first call also builds the "
                    "SDK's HTTPS client, which reads the system's root certificates "
                    "(`/etc/ssl/certs`, seen with strace between exec and the first connection) "
                    "and opens the connections: a start without calls left all of that to the "
                    "first invocation. Against moto behind a Python proxy the round trips cost "
                    "more than against the region's endpoints; the certificates do not.")
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
