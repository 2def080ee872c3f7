"""The scale sections of the benchmarks (issue 21): a sharded reconcile of everything against
moto, compared with the unsharded one on the same world, and the in-process simulation of
an organisation under AWS's rate limits (`lambda/src/tests/scale.rs`). Imported by
`tests/bench.py`; each function returns the section's figures, `render_*` its part of
docs/benchmarks.md and `*_rows` its rows of the summary."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from harness import sqs_event

REPO = Path(__file__).resolve().parent.parent
SIM_SIZE = "100000/50"
SIM_CHANGES = "1000"
SIM_MEMORY_MB = 128
SIM_TIME_MIN = 10


def drain(fn, sqs, url: str, limit: int = 2000) -> dict:
    """Hands the queue's messages to the function ten at a time, as the event source mapping
    does, deleting those it did not report failed, until the queue is empty."""
    batches = shards = retried = 0
    hwm = 0
    for _ in range(limit):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                  VisibilityTimeout=0).get("Messages", [])
        if not got:
            return {"batches": batches, "shards": shards, "retried": retried, "hwm_kb": hwm}
        event = sqs_event([m["Body"] for m in got])
        r = fn.timed_invoke(event, timeout=900)
        hwm = max(hwm, r.get("hwm_kb") or 0)
        failed = {f["itemIdentifier"] for f in r["result"]["batchItemFailures"]}
        for record, message in zip(event["Records"], got):
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        batches += 1
        shards += len(got) - len(failed)
        retried += len(failed)
    raise AssertionError(f"the queue did not drain in {limit} batches")


def bench_sharded(b, n: int, real: bool, shard_size: int, calls_of, total) -> dict:
    """n fresh instances in one place: a sharded run (its shards through moto's SQS, the
    place split by `shard_size`), then, on the same world, an unsharded dry run. Real: the
    unsharded run must find nothing left to change, and every record, marker and status tag
    is checked. Dry: both must plan the same number of changes."""
    b.fresh_world()
    instances, _ = b.launch(n, f"sh{n}")
    b.proxy.tag_pages_per_reservation = True
    sqs = b.world.client_of("sqs", None)
    url = sqs.create_queue(QueueName="ec2-dns-events")["QueueUrl"]
    fn = b.function({"QUEUE_URL": url, "SHARD_SIZE": str(shard_size)})
    # moto lists 10,000 tagged instances slowly: listings come from a snapshot, as in the
    # reconcile-all section (by-id reads still go to moto)
    b.proxy.take_snapshot(expect_instances=n)
    b.proxy.reset_calls()
    t0 = time.monotonic()
    started = fn.timed_invoke({"reconcile": "all", "sharded": True, "dry_run": not real},
                              timeout=900)["result"]
    drained = drain(fn, sqs, url)
    wall = time.monotonic() - t0
    calls = calls_of(b.proxy)
    item = b.world.lock_items()[f"run#{started['run']}"]
    b.retire(fn)
    single = b.function()
    t1 = time.monotonic()
    rep = single.timed_invoke({"reconcile": "all", "dry_run": True}, timeout=3600)["result"]
    single_wall = time.monotonic() - t1
    b.retire(single)
    planned = rep["counts"]["changes"] if rep.get("summary") else len(rep.get("changes", []))
    out = {
        "n": n, "real": real, "shard_size": shard_size, "wall_s": wall,
        "calls": calls, "calls_total": total(calls), "shards": len(item.get("finished", [])),
        "split": len(item.get("split", [])), "batches": drained["batches"],
        "retried": drained["retried"], "hwm_kb": drained["hwm_kb"],
        "complete": set(item.get("parts", [])) <= set(item.get("finished", [])) | set(item.get("split", [])),
        "run_changes": int(item.get("changes", 0)), "run_failed": int(item.get("failed", 0)),
        "single_dry_changes": planned, "single_dry_wall_s": single_wall,
    }
    if real:
        out["verify"] = b.verify(instances)
        out["same"] = out["complete"] and planned == 0 and out["verify"]["ok"]
    else:
        out["same"] = out["complete"] and planned == out["run_changes"]
    return out


def bench_simulation() -> list[dict]:
    """The simulation at SIM_SIZE, shards ten at a time (time) and one at a time (each
    shard's own peak memory); its printed table kept as it is."""
    runs = []
    for concurrency in ("10", "1"):
        env = {**os.environ, "EC2_DNS_SCALE": SIM_SIZE, "EC2_DNS_SCALE_CHANGES": SIM_CHANGES,
               "EC2_DNS_SCALE_CONCURRENCY": concurrency}
        t0 = time.monotonic()
        p = subprocess.run(
            ["cargo", "test", "-q", "-p", "ec2-dns", "--lib",
             "tests::scale::at_the_size_asked_for_a_sharded_run", "--", "--nocapture"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
        lines = [ln for ln in p.stdout.splitlines()
                 if not ln.startswith("{") and (ln.startswith(("scale:", "  fresh", "  steady",
                                                                "    ", "  targets")))]
        table = "\n".join(lines)
        m = re.search(r"published in ([^ ]+(?: [^ ]+)?) of simulated time \((\d+) reconciles", table)
        peaks = [float(x) for x in re.findall(r"peak\s+([\d.]+) MB", table)]
        over = re.search(r"over their deadline: (\d+)", table)
        runs.append({"concurrency": int(concurrency), "ok": p.returncode == 0,
                     "wall_s": time.monotonic() - t0, "table": table,
                     "published": m.group(1) if m else "?", "sweeps": int(m.group(2)) if m else 0,
                     "peak_mb": max(peaks) if peaks else None,
                     "over_deadline": int(over.group(1)) if over else None})
    return runs


def _minutes(text: str) -> float:
    m = re.match(r"(?:(\d+)m )?([\d.]+)s", text)
    return (int(m.group(1) or 0) * 60 + float(m.group(2))) / 60 if m else float("inf")


def sharded_rows(res: dict, verdict) -> list[tuple]:
    rows = []
    for s in res.get("sharded") or []:
        what = ("converged: nothing left for an unsharded run, every record, marker and tag "
                "checked" if s["real"] else "the same number of changes planned as an unsharded dry run")
        ok = s["same"]
        rows.append((f"sharded reconcile of {s['n']:,} ({'real' if s['real'] else 'dry'}) vs unsharded",
                     f"{s['shards']} shards, {s['wall_s']:.0f} s, {s['run_changes']:,} changes "
                     f"(unsharded dry run: {s['single_dry_changes']:,})",
                     what, verdict(ok)))
    for r in res.get("simulation") or []:
        if r["concurrency"] == 10:
            rows.append((f"simulation {SIM_SIZE.replace('/', ' over ')} places, sharded: time to publish",
                         f"{r['published']} simulated ({r['sweeps']} run)",
                         f"≤ {SIM_TIME_MIN} min", verdict(r["ok"] and _minutes(r["published"]) <= SIM_TIME_MIN)))
            rows.append(("simulation: invocations over their deadline",
                         str(r["over_deadline"]), "0", verdict(r["over_deadline"] == 0)))
        else:
            rows.append(("simulation: peak memory of one shard (run one at a time)",
                         f"{r['peak_mb']:.1f} MB" if r["peak_mb"] is not None else "?",
                         f"≤ {SIM_MEMORY_MB} MB",
                         verdict(r["peak_mb"] is not None and r["peak_mb"] <= SIM_MEMORY_MB)))
    return rows


def render_scale(res: dict, add, mb) -> None:
    shs = res.get("sharded") or []
    if shs:
        add("## Sharded reconcile against the emulator")
        add("")
        add("One place of N fresh instances; a sharded run started by hand, its shards carried "
            "by moto's SQS and handed to one warm container ten at a time (as the event source "
            "mapping does), the place split by `SHARD_SIZE`; then, on the same world, an "
            "unsharded dry run. A real run must leave the unsharded run nothing to change, "
            "with every record, marker and status tag checked; a dry run must plan the same "
            "number of changes as the unsharded one. Peak RSS: of the container that handled "
            "every shard, one batch after another.")
        add("")
        add("| N | mode | shard size | shards (split) | batches (retried) | wall | calls | peak RSS "
            "| run's changes | unsharded dry run | verdict |")
        add("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in shs:
            add(f"| {s['n']:,} | {'real' if s['real'] else 'dry'} | {s['shard_size']} | "
                f"{s['shards']} ({s['split']}) | {s['batches']} ({s['retried']}) | "
                f"{s['wall_s']:.0f} s | {s['calls_total']:,} | {mb(s['hwm_kb'])} | "
                f"{s['run_changes']:,} | {s['single_dry_changes']:,} changes, "
                f"{s['single_dry_wall_s']:.0f} s | {'same' if s['same'] else 'DIFFERENT'} |")
        add("")
    sim = res.get("simulation") or []
    if sim:
        add("## An organisation under AWS's limits (simulation)")
        add("")
        add(f"`lambda/src/tests/scale.rs` at `EC2_DNS_SCALE={SIM_SIZE}` (instances over places, "
            "one public zone per place, every name fresh), in-process over the fakes behind "
            "AWS's rate limits (Route53 requests and record changes per account, EC2 "
            "`DescribeInstances` and `CreateTags` per account and region, DynamoDB capacity), "
            f"with tokio's clock paused: every wait costs simulated time only. The Route53 "
            f"record-change budget is set to {SIM_CHANGES} a second "
            "(`EC2_DNS_SCALE_CHANGES`): AWS's figure could not be looked up, and at the "
            "function's default of 50 a second 200,000 changes take 67 minutes however the "
            "work is split. A sharded run: the starting invocation, then every shard as an "
            "invocation, ten at a time (the event source mapping's cap such an organisation "
            "would set), then one at a time, where a shard's peak is its own (the tests' "
            "allocator counts per thread, and shards running at once share it). Debug build; "
            "peaks include what the fakes keep of the run.")
        add("")
        for r in sim:
            add(f"Shards {r['concurrency']} at a time ({r['wall_s']:.0f} s wall):")
            add("")
            add("```")
            add(r["table"] or "(no table: the run failed)")
            add("```")
            add("")
