#!/usr/bin/env python3
"""Manual reconcile of the deployed ec2-dns function: a dry run unless --apply, the report
printed as tables (or --json). Uses the standard AWS settings (AWS_PROFILE, AWS_REGION)."""

from __future__ import annotations

import argparse
import json
import sys


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header)] + [line(r) for r in rows]) + "\n"


def render(report: dict) -> str:
    """The report of a manual reconcile as readable tables, summary first."""
    changes, conflicts = report.get("changes", []), report.get("conflicts", [])
    failed = report.get("failed", [])
    # One term per idea, as the CLI and the status tags say it: a tag entry that is not a
    # name is invalid; a valid name that cannot be published is skipped.
    invalid = [s for s in report.get("skipped", []) if s.get("invalid")]
    skipped = [s for s in report.get("skipped", []) if not s.get("invalid")]
    frozen = report.get("frozen", [])
    verb = "would change" if report.get("dry_run") else "changed"
    out = (f"{len(changes)} record set(s) {verb}, {len(conflicts)} conflict(s), "
           f"{len(invalid)} invalid, {len(skipped)} skipped, {len(frozen)} frozen, "
           f"{len(failed)} failed\n")
    if changes:
        out += "\n" + table(["ACTION", "NAME", "TYPE", "OLD", "NEW", "ZONE", "INSTANCE"], [
            [c["action"], c["name"], c["type"], ",".join(c.get("old_values", [])),
             ",".join(c.get("values", [])), zone(c), c.get("instance") or ""]
            for c in changes])
    if conflicts:
        out += "\nconflicts:\n" + table(["NAME", "INSTANCE", "HELD BY", "REASON"], [
            [c["name"], c.get("instance") or c.get("owner", ""),
             c.get("holder") or "(a record ec2-dns did not write)", c.get("reason", "")]
            for c in conflicts])
    if frozen:
        out += "\nfrozen (left as they are until released with ec2-dns-ctl release NAME):\n" + table(
            ["NAME", "HOLDER", "REASON"],
            [[f["name"], f.get("holder") or "", f["reason"]] for f in frozen])
    for title, rows in (("invalid (tag entries that are not names ec2-dns may manage):", invalid),
                        ("skipped (valid names that cannot be published):", skipped)):
        if rows:
            out += f"\n{title}\n" + table(["INSTANCE", "NAME", "REASON"], [
                [s.get("instance") or s.get("owner", ""), s["name"], s["reason"]] for s in rows])
    if failed:
        out += "\nfailed (retry):\n" + table(["NAME", "INSTANCE", "REASON"], [
            [f["name"], f.get("instance") or "", f["reason"]] for f in failed])
    return out


def zone(change: dict) -> str:
    """The zone as a person reads it: its name and kind, or its id when unknown."""
    if not change.get("zone"):
        return change.get("zone_id", "")
    return f"{change['zone']} ({'private' if change.get('private') else 'public'})"


def payload(instances: str | None, apply: bool) -> dict:
    ids = [i.strip() for i in (instances or "").split(",") if i.strip()]
    body: dict = {"reconcile": {"instance_ids": ids} if ids else "all"}
    if not apply:
        body["dry_run"] = True
    return body


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--function", required=True, help="name or ARN of the deployed function")
    p.add_argument("--apply", action="store_true", help="apply the changes (default: dry run)")
    p.add_argument("--instances", help="comma-separated instance ids (default: everything)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    import boto3  # only needed for a real invocation

    body = payload(args.instances, args.apply)
    print(f"invoking {args.function} with {json.dumps(body)}", file=sys.stderr)
    resp = boto3.client("lambda").invoke(FunctionName=args.function, Payload=json.dumps(body).encode())
    answer = json.loads(resp["Payload"].read() or b"null")
    if resp.get("FunctionError"):
        print(f"the function failed: {answer.get('errorType')}: {answer.get('errorMessage')}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else render(answer), end="")
    if not args.apply:
        print("\n(dry run: nothing was changed; add APPLY=1 / --apply to apply)", file=sys.stderr)
    return 2 if answer.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
