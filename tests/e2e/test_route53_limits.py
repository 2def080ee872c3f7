"""Route53 refusals no retry can overcome, through the real binary: record set protection."""

from __future__ import annotations

from harness import ec2_state_change
from harness.world import marker_name

WEB = "web.dyn.example.com"
R53_WRITES = "route53:ChangeResourceRecordSets"


def test_a_protected_name_and_type_is_a_conflict_reported_once_and_never_sent_again(
        world, dyn, fn, proxy):
    proxy.protect(dyn.public, WEB, "A", comment="change freeze")
    web = world.run_instance({"dnsname": WEB})

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    assert report["failed"] == [], report
    assert [(c["name"], c["instance"], c["holder"]) for c in report["conflicts"]] == [
        (WEB, web, None)], report
    assert "protected" in report["conflicts"][0]["reason"], report
    # The protected slot is left alone; the rest of the name is published.
    assert (WEB, "A") not in world.records(dyn.public)
    assert world.marker(dyn.public, WEB) is None
    assert world.records(dyn.private)[(WEB, "A")][1] == [world.private_ip(web)]
    rejected = [e for e in proxy.call_log() if e.get("rejected")]
    assert len(rejected) == 1 and "protected" in rejected[0]["rejected"], rejected
    status = world.status_tag(web)
    assert status.startswith(f"ok: {WEB}; conflict: {WEB} has a protected A record set"), status

    # Every later event and reconcile says the same and sends Route53 nothing.
    for payload in (ec2_state_change(web, "running"), {"reconcile": "all"},
                    ec2_state_change(web, "running")):
        proxy.reset_calls()
        again = fn.invoke_ok(payload)
        assert again["failed"] == [] and again["changes"] == [], again
        assert len(again["conflicts"]) == 1, again
        assert proxy.calls().get(R53_WRITES, 0) == 0, proxy.calls()


def test_a_protected_marker_keeps_ec2_dns_out_of_that_zone_without_a_retry(
        world, dyn, fn, proxy):
    proxy.protect(dyn.public, marker_name(WEB), "TXT")
    web = world.run_instance({"dnsname": WEB})

    report = fn.invoke_ok(ec2_state_change(web, "running"))

    assert report["failed"] == [], report
    assert world.records(dyn.public, types=("A", "AAAA", "TXT")) == {}
    assert world.records(dyn.private)[(WEB, "A")][1] == [world.private_ip(web)]
    proxy.reset_calls()
    again = fn.invoke_ok({"reconcile": "all"})
    assert again["failed"] == [] and again["changes"] == [], again
    assert proxy.calls().get(R53_WRITES, 0) == 0, proxy.calls()


def test_a_small_change_budget_slows_the_run_and_the_metrics_say_so(world, dyn, start_function):
    # One record change per second, bursts of 10: three names make 12 changes in two
    # batches of 6 (one per zone); the second waits until the bucket holds 6 again.
    fn = start_function({"ROUTE53_CHANGES_PER_SECOND": "1"})
    names = [f"host{n}.dyn.example.com" for n in range(3)]
    for n in names:
        world.run_instance({"dnsname": n})

    report = fn.invoke_ok({"reconcile": "all"})

    assert report["failed"] == [] and len(report["changes"]) == 6, report
    emf = [line for line in fn.logs() if "_aws" in line]
    assert emf, fn.log_tail()
    last = emf[-1]
    assert last["Route53RecordChanges"] == 12, last
    # The second batch waits for 2 tokens (2 s) less the time the run took between the
    # batches: well over a second on any machine, however loaded (the exact wait is the unit
    # tests' business, on a fake clock).
    assert last["Route53PacedTime"] >= 1000, last
    assert last["Route53Requests"] >= 3, last
    summary = [line for line in fn.logs()
               if line.get("fields", {}).get("message") == "reconcile finished"]
    assert summary and summary[-1]["fields"]["route53_record_changes"] == 12, summary
