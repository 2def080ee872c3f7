"""Reconciling everything: dry runs, drift repair, the schedule, chosen instances."""

from __future__ import annotations

from harness import LambdaError, ec2_state_change, scheduled
from harness.world import qualified
from e2e.expect import absent, change_rows, no_dns_state, published

WEB = "web.dyn.example.com"
API = "api.dyn.example.com"


def expected_creates(world, dyn, name, instance_id):
    return {("CREATE", name, "A", dyn.public, (world.public_ip(instance_id),)),
            ("CREATE", name, "A", dyn.private, (world.private_ip(instance_id),))}


def test_a_dry_run_reports_the_plan_and_changes_nothing_then_the_real_run_applies_it(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    api = world.run_instance({"dnsname": API})
    plan = expected_creates(world, dyn, WEB, web) | expected_creates(world, dyn, API, api)

    dry = fn.invoke_ok({"reconcile": "all", "dry_run": True})

    assert dry["dry_run"] is True
    assert change_rows(dry) == plan
    no_dns_state(world, dyn)
    assert world.name_locks() == {}
    assert world.status_tag(web) is None and world.status_tag(api) is None

    applied = fn.invoke_ok({"reconcile": "all"})

    assert applied["dry_run"] is False
    assert change_rows(applied) == plan
    published(world, dyn, WEB, web)
    published(world, dyn, API, api)


def test_reconcile_all_repairs_a_record_deleted_behind_its_back(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.delete_record(dyn.public, WEB, "A")

    report = fn.invoke_ok({"reconcile": "all"})

    published(world, dyn, WEB, web)
    assert ("CREATE", WEB, "A", dyn.public, (world.public_ip(web),)) in change_rows(report)


def test_a_dry_run_shows_the_repair_of_drift_without_making_it(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.delete_record(dyn.public, WEB, "A")
    lock = world.lock(WEB)

    report = fn.invoke_ok({"reconcile": "all", "dry_run": True})

    assert ("CREATE", WEB, "A", dyn.public, (world.public_ip(web),)) in change_rows(report)
    assert (WEB, "A") not in world.records(dyn.public)
    assert world.lock(WEB) == lock


def test_the_scheduled_event_repairs_drift_and_releases_names_of_vanished_owners(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    api = world.run_instance({"dnsname": API})
    fn.invoke_ok(ec2_state_change(web, "running"))
    fn.invoke_ok(ec2_state_change(api, "running"))
    world.delete_record(dyn.private, WEB, "A")
    world.terminate(api)  # its event is lost

    fn.invoke_ok(scheduled())

    published(world, dyn, WEB, web)
    absent(world, dyn, API)


def test_reconcile_all_publishes_instances_whose_events_were_lost(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})

    fn.invoke_ok({"reconcile": "all"})

    published(world, dyn, WEB, web)


def test_a_record_changed_behind_its_back_is_left_alone_and_reported(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.put_record(dyn.public, WEB, "A", 60, ["192.0.2.99"])

    report = fn.invoke_ok({"reconcile": "all"})

    assert world.records(dyn.public)[(WEB, "A")] == (60, ["192.0.2.99"])
    assert WEB in {c["name"] for c in report["conflicts"]}, report


def test_reconcile_of_chosen_instances_touches_only_those(world, dyn, fn):
    web = world.run_instance({"dnsname": WEB})
    api = world.run_instance({"dnsname": API})

    report = fn.invoke_ok({"reconcile": {"instance_ids": [web]}})

    assert change_rows(report) == expected_creates(world, dyn, WEB, web)
    published(world, dyn, WEB, web)
    absent(world, dyn, API)
    assert world.status_tag(api) is None


def test_a_second_reconcile_all_changes_nothing(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    other = world.run_instance({"dnsname": WEB})
    bad = world.run_instance({"dnsname": "evil.com"})
    fn.invoke_ok({"reconcile": "all"})
    before = world.snapshot([dyn.public, dyn.private], [web, other, bad])
    proxy.reset_calls()

    report = fn.invoke_ok({"reconcile": "all"})

    assert report["changes"] == []
    assert proxy.write_calls() == {}
    assert world.snapshot([dyn.public, dyn.private], [web, other, bad]) == before


def test_reconcile_all_removes_owner_index_items_left_empty_by_releases(world, dyn, fn, proxy):
    web = world.run_instance({"dnsname": WEB})
    fn.invoke_ok(ec2_state_change(web, "running"))
    world.stop(web)
    fn.invoke_ok(ec2_state_change(web, "stopped"))
    index_key = f"owner#{qualified(web)}"
    assert index_key in world.lock_items() and "names" not in world.lock_items()[index_key]
    # A dry run leaves the empty item alone: it writes nothing at all.
    proxy.reset_calls()
    fn.invoke_ok({"reconcile": "all", "dry_run": True})
    assert proxy.write_calls() == {}, proxy.write_calls()
    assert index_key in world.lock_items()
    fn.invoke_ok({"reconcile": "all"})
    assert index_key not in world.lock_items()
    # The name's item stays, free: it keeps the generation, so generations never repeat.
    assert world.lock(WEB)["gen"] == 2 and "owner" not in world.lock(WEB)


def test_one_unreadable_zone_fails_reconcile_all_and_changes_nothing(world, dyn, fn, proxy):
    # The private zone is left out of the function's policy: Route53 denies reading it.
    # Reconcile-all must fail loudly (it cannot tell ec2-dns's records there from others),
    # not publish in the readable zone and report success.
    web = world.run_instance({"dnsname": WEB})
    proxy.add_fault(service="route53", operation="ListResourceRecordSets", fault="access_denied",
                    path=f"/hostedzone/{dyn.private}/", count=100)

    for payload in ({"reconcile": "all"}, scheduled()):
        failed = fn.invoke(payload)
        assert isinstance(failed, LambdaError), failed
        assert failed.error_type == "AwsError", failed
        assert "AccessDenied" in failed.error_message or "not authorized" in failed.error_message, \
            failed.error_message
        no_dns_state(world, dyn)
        assert world.name_locks() == {}
        assert world.status_tag(web) is None

    proxy.clear_faults()
    fn.invoke_ok({"reconcile": "all"})
    published(world, dyn, WEB, web)
