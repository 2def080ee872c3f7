"""tools/reconcile.py: the payload it sends and the tables it prints."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "reconcile_tool", Path(__file__).resolve().parents[2] / "tools" / "reconcile.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_the_default_is_a_dry_run_of_everything():
    assert tool.payload(None, apply=False) == {"reconcile": "all", "dry_run": True}
    assert tool.payload("i-0a, i-0b", apply=True) == {"reconcile": {"instance_ids": ["i-0a", "i-0b"]}}


def test_a_report_prints_as_tables():
    out = tool.render({
        "dry_run": True,
        "changes": [{"action": "CREATE", "name": "web.dyn.example.com", "type": "A", "values": ["203.0.113.7"],
                     "old_values": [], "zone_id": "Z1", "zone": "dyn.example.com", "private": False,
                     "instance": "i-0abc", "owner": "123456789012/us-east-1/i-0abc"}],
        "conflicts": [{"name": "web.dyn.example.com", "instance": "i-0def",
                       "owner": "123456789012/us-east-1/i-0def", "holder": None,
                       "reason": "has an A record ec2-dns did not write"}],
        "skipped": [], "frozen": [{"name": "old.example.org", "holder": "123456789012/us-east-1/i-0abc",
                                   "reason": "outside ALLOWED_DOMAINS"}], "failed": [],
    })
    assert out.splitlines()[0] == "1 record set(s) would change, 1 conflict(s), 0 invalid, 0 skipped, 1 frozen, 0 failed"
    assert "CREATE  web.dyn.example.com  A" in out and "dyn.example.com (public)" in out
    assert "(a record ec2-dns did not write)" in out
    assert "old.example.org" in out
