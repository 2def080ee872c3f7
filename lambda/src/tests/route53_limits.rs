//! Route53's limits and refusals that no retry can overcome: a record set protection, an
//! address set too large for one change batch, a change to check in a zone that is no
//! longer managed. Each is reported once (or converges) and is never sent again and again.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use crate::engine::CHANGE_WINDOW;
use crate::model::{InstanceState, RecordSet, RecordType, ZoneId};
use crate::name::Fqdn;
use crate::testing::faults::{Op, Phase};
use crate::testing::{lock, name, owner, World};

const WEB: &str = "web.dyn.example.com";
const API: &str = "api.dyn.example.com";
const DB: &str = "db.dyn.example.com";

// ------------------------------------------------------------------ record set protection

/// Every later event and reconcile of everything says the same and sends nothing.
async fn never_sent_again(w: &World, n: u32) {
    for _ in 0..2 {
        w.advance(60);
        w.faults.reset_calls();
        let again = w.event(&[n]).await;
        assert!(again.failed.is_empty(), "{again:?}");
        assert_eq!(again.conflicts.len(), 1, "{again:?}");
        let all = w.all().await;
        assert!(all.failed.is_empty() && all.changes.is_empty(), "{all:?}");
        assert_eq!(all.conflicts.len(), 1, "{all:?}");
        assert_eq!(
            w.faults.count(Op::ChangeResourceRecordSets),
            0,
            "a protected change is never sent again"
        );
    }
}

#[tokio::test]
async fn a_protected_name_and_type_is_a_conflict_reported_once_and_never_sent_again() {
    // (what is protected, at which name): a reserved A of the name, or its marker's TXT
    // (which keeps ec2-dns out of that zone altogether).
    for (at, rtype) in [(WEB.to_string(), "A"), (name(WEB).marker_name(), "TXT")] {
        let w = World::new();
        let public = w.public.clone();
        w.route53()
            .protect(&public, &at, rtype, Some("change freeze"));
        w.launch(1, WEB);
        let r = w.event(&[1]).await;
        assert!(r.failed.is_empty(), "{at} {rtype}: not retried: {r:?}");
        assert_eq!(w.a(WEB), None, "{at} {rtype}");
        assert_eq!(w.marker(&public, WEB), None, "{at} {rtype}");
        assert_eq!(
            w.private_a(WEB),
            Some(vec!["10.0.0.1".into()]),
            "{at} {rtype}"
        );
        assert_eq!(r.conflicts.len(), 1, "{at} {rtype}: {r:?}");
        assert!(
            r.conflicts[0].reason.contains("protected"),
            "{at} {rtype}: {:?}",
            r.conflicts[0]
        );
        assert!(w.status(1).contains("protected"), "{}", w.status(1));
        never_sent_again(&w, 1).await;
        w.assert_converged().await;
    }
}

#[tokio::test]
async fn a_held_record_protected_later_is_left_as_it_is_and_released_around() {
    let mut w = World::new();
    let public = w.public.clone();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.advance(CHANGE_WINDOW + 60);
    // An operator freezes the public A; then the instance gets a new address.
    w.route53().protect(&public, WEB, "A", None);
    w.restart_with_ip(1, 7);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]), "left as it is");
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(r.conflicts[0].reason.contains("protected"), "{r:?}");
    // The protected set is no longer ec2-dns's to change: it is the operator's now.
    w.foreign
        .insert((public.clone(), WEB.to_string(), "A".to_string()));
    never_sent_again(&w, 1).await;
    w.assert_converged().await;
    // A stop releases what ec2-dns can change; the protected set stays, and nothing fails.
    w.set_state(1, InstanceState::Stopped);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.private_a(WEB), None);
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.owner(WEB), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_protected_name_is_taken_out_of_its_batch_and_the_rest_sent_together() {
    let w = World::new();
    let public = w.public.clone();
    w.route53().protect(&public, WEB, "A", None);
    for (n, tag) in [(1, WEB), (2, API), (3, DB)] {
        w.launch(n, tag);
    }
    w.faults.reset_calls();
    let r = w.event(&[1, 2, 3]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(API), Some(vec!["203.0.113.2".into()]));
    assert_eq!(w.a(DB), Some(vec!["203.0.113.3".into()]));
    assert_eq!(w.a(WEB), None);
    // The private batch, the public one refused, the public one again without the
    // protected name (not one call per name), and the protected name's new decision (its
    // marker in the private zone moves to the generation that records the protection).
    assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 4);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_protection_removed_is_found_out_by_a_reconcile_a_day_later() {
    let w = World::new();
    let public = w.public.clone();
    w.route53().protect(&public, WEB, "A", None);
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.route53().unprotect(&public, WEB, "A");
    // Within the day, nothing is sent.
    w.advance(3_600);
    w.faults.reset_calls();
    w.all().await;
    assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0);
    w.advance(crate::decide::protection::RECHECK);
    let r = w.all().await;
    assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

// ---------------------------------------------------- address sets too large for one batch

/// `count` full-length IPv6 addresses (39 characters each), starting at `first`.
fn many_ipv6(first: u16, count: u16) -> Vec<Ipv6Addr> {
    (first..first + count)
        .map(|i| {
            Ipv6Addr::new(
                0x2001,
                0xdb8,
                0xaaaa,
                0xbbbb,
                0xcccc,
                0xdddd,
                0xeeee,
                0x1000 + i,
            )
        })
        .collect()
}

fn aaaa(w: &World, n: &str) -> Vec<String> {
    w.values(&w.public, n, "AAAA").unwrap_or_default()
}

#[tokio::test]
async fn an_address_set_too_large_for_one_batch_is_published_bounded_and_swapped_every_time() {
    let max = crate::decide::MAX_SET_VALUES;
    for count in [600u16, 1_200] {
        let w = World::new();
        w.launch(1, WEB);
        w.ec2().update(&owner(1), |i| i.ipv6 = many_ipv6(0, count));
        let first = w.event(&[1]).await;
        assert!(first.failed.is_empty(), "{count}: {first:?}");
        // The addresses change: the swap of the whole set (DELETE the old set, CREATE the
        // new one, and the markers) must fit one batch, every time.
        for round in 1..=2u16 {
            w.advance(CHANGE_WINDOW + 60);
            w.ec2()
                .update(&owner(1), |i| i.ipv6 = many_ipv6(round * 7, count));
            let r = w.event(&[1]).await;
            assert!(r.failed.is_empty(), "{count}/{round}: {r:?}");
            let lowest: Vec<String> = many_ipv6(round * 7, max as u16)
                .iter()
                .map(|a| a.to_string())
                .collect();
            assert_eq!(aaaa(&w, WEB), lowest, "{count}/{round}: the lowest {max}");
        }
        assert!(
            first
                .warnings
                .iter()
                .any(|m| m.contains(WEB) && m.contains("IPv6")),
            "{count}: said so: {:?}",
            first.warnings
        );
        w.assert_converged().await;
    }
}

#[tokio::test]
async fn an_oversized_set_an_older_release_wrote_is_skipped_at_no_cost_not_refused_forever() {
    let w = World::new();
    let public = w.public.clone();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.advance(CHANGE_WINDOW + 60);
    // An older release published 800 addresses (a CREATE of them fitted one batch).
    let old: Vec<String> = many_ipv6(0, 800).iter().map(|a| a.to_string()).collect();
    let mut held = w.locks().snapshot()[&name(WEB)].clone();
    held.records.push(RecordSet::new(
        public.clone(),
        RecordType::Aaaa,
        60,
        old.clone(),
    ));
    held.records.sort();
    w.locks().put(held.clone());
    let refs: Vec<&str> = old.iter().map(String::as_str).collect();
    w.route53().put(&public, WEB, "AAAA", 60, &refs);
    let marker = held.marker_in(&public).unwrap();
    w.route53().put(
        &public,
        &name(WEB).marker_name(),
        "TXT",
        marker.ttl,
        &[marker.values[0].as_str()],
    );
    w.ec2().update(&owner(1), |i| i.ipv6 = many_ipv6(1, 800));
    for _ in 0..2 {
        w.faults.reset_calls();
        let r = w.event(&[1]).await;
        assert!(r.failed.is_empty(), "{r:?}");
        assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0, "{r:?}");
        assert!(
            r.skipped
                .iter()
                .any(|s| s.name == WEB && s.reason.contains("one Route53 change batch")),
            "{r:?}"
        );
        assert_eq!(aaaa(&w, WEB), old, "nothing changed");
    }
}

// ------------------------------------------- a pending check in a zone no longer managed

/// A free name whose release failed (Route53 may hold it): its item asks for a check.
fn failed_release(w: &World, n: &str, zone: &str) {
    let mut l = lock(n, 1, "203.0.113.1");
    l.holder = None;
    l.records.clear();
    l.check = true;
    l.zones = Some(BTreeSet::from([ZoneId(zone.into())]));
    w.locks().put(l);
}

#[tokio::test]
async fn a_pending_check_in_a_deleted_zone_finds_nothing_there_and_converges() {
    let w = World::new();
    let sub = w.route53().add_zone("ZSUB", "sub.dyn.example.com", false);
    let n = "web.sub.dyn.example.com";
    w.launch(1, n);
    w.event(&[1]).await;
    assert!(w.values(&sub, n, "A").is_some());
    w.advance(CHANGE_WINDOW + 60);
    // The release fails before it lands: Route53 may still hold the name in ZSUB.
    w.set_state(1, InstanceState::Stopped);
    w.faults
        .fail_for(Op::ChangeResourceRecordSets, "ZSUB", Phase::Before, 1);
    let r = w.event(&[1]).await;
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert!(w.locks().snapshot()[&name(n)].check);
    // Then the zone is deleted (emptied first, as Route53 wants).
    w.route53().delete_zone(&sub);
    for _ in 0..2 {
        let r = w.event(&[1]).await;
        assert!(r.failed.is_empty(), "event: {r:?}");
        let r = w.all().await;
        assert!(r.failed.is_empty(), "all: {r:?}");
    }
    assert!(w.locks().snapshot().get(&name(n)).is_none_or(|l| !l.check));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_pending_check_of_a_free_name_in_a_zone_deleted_meanwhile_is_not_a_failure() {
    // The item alone, as a run that died left it, for a zone that no longer exists.
    let w = World::new();
    failed_release(&w, WEB, "ZGONE");
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    w.assert_converged().await;
    assert!(w
        .locks()
        .snapshot()
        .get(&name(WEB))
        .is_none_or(|l| !l.check));
}

#[tokio::test]
async fn a_pending_release_in_a_zone_taken_out_of_the_allowed_domains_is_completed() {
    let mut w = World::with_domains("dyn.example.com,other.example.org");
    let other = ZoneId("ZOTHER".into());
    let app = "app.other.example.org";
    w.launch(2, app);
    w.event(&[2]).await;
    w.advance(CHANGE_WINDOW + 60);
    w.set_state(2, InstanceState::Stopped);
    w.faults
        .fail_for(Op::ChangeResourceRecordSets, "ZOTHER", Phase::Before, 1);
    let r = w.event(&[2]).await;
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert!(w.values(&other, app, "A").is_some(), "still there");
    // The domain is taken out of the configuration while the release is pending.
    w.reconfigure(|c| c.allowed_domains = vec![Fqdn::parse("dyn.example.com").unwrap()]);
    for _ in 0..2 {
        let r = w.all().await;
        assert!(r.failed.is_empty(), "{r:?}");
        let r = w.event(&[2]).await;
        assert!(r.failed.is_empty(), "{r:?}");
    }
    // The release that was decided is finished: nothing of ec2-dns's is stranded there.
    assert_eq!(w.values(&other, app, "A"), None);
    assert_eq!(w.marker(&other, app), None);
    w.assert_converged().await;
}

// ------------------------------------------------------- requests and changes, paced

#[tokio::test]
async fn a_run_counts_the_route53_requests_and_record_changes_it_sends() {
    let w = World::new();
    w.launch(1, WEB);
    let before = crate::ports::Dns::usage(&w.rec.dns);
    w.event(&[1]).await;
    let used = crate::ports::Dns::usage(&w.rec.dns).since(before);
    // The zone list, then one batch per zone: the A set and the marker in each.
    assert_eq!(
        (used.requests, used.record_changes, used.paced_ms),
        (3, 4, 0)
    );
}

#[tokio::test]
async fn a_budget_slows_a_large_run_down_instead_of_failing_it() {
    // Route53 takes 200 record changes per second, in bursts of 60. A reconcile of 30 new
    // names sends 120 changes, in two batches of 60 (one per zone).
    let world = |paced: bool| {
        let mut w = World::new();
        w.route53().limit_changes(200.0, 60.0);
        if paced {
            // The function's own budget: 150 per second, bursts of 60.
            w.rec.dns = crate::aws::Route53Dns::new(w.rec.dns.api().clone()).with_budget(
                crate::aws::Budget {
                    requests_per_second: 100.0,
                    request_burst: 100.0,
                    changes_per_second: 150.0,
                    change_burst: 60.0,
                },
            );
        }
        for n in 1..=30 {
            w.launch(n, &format!("host{n}.dyn.example.com"));
        }
        w
    };
    // Unpaced, the second batch follows the first at once and is throttled.
    let w = world(false);
    let r = w.all().await;
    assert_eq!(r.failed.len(), 30, "{r:?}");
    // Paced, it waits until the account's bucket holds it again: 60 / 150 = 0.4 s.
    let w = world(true);
    let started = std::time::Instant::now();
    let before = crate::ports::Dns::usage(&w.rec.dns);
    let r = w.all().await;
    let used = crate::ports::Dns::usage(&w.rec.dns).since(before);
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(r.changes.len(), 60, "every name published in both zones");
    assert_eq!(used.record_changes, 120);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(390),
        "{waited:?}"
    );
    // How much of that the pacing waited depends on how long the run took between the two
    // batches (a loaded machine refills the bucket meanwhile): that it waited is what holds.
    assert!(used.paced_ms > 0, "{used:?}");
    w.assert_converged().await;
}

#[tokio::test]
async fn a_held_name_whose_zone_was_deleted_moves_on_without_a_failure() {
    let w = World::new();
    let sub = w.route53().add_zone("ZSUB", "sub.dyn.example.com", false);
    let n = "web.sub.dyn.example.com";
    w.launch(1, n);
    w.event(&[1]).await;
    assert!(w.values(&sub, n, "A").is_some());
    w.advance(CHANGE_WINDOW + 60);
    // The zone goes (emptied first): the name now lies in dyn.example.com. The run that
    // still has the zone in its list (cached for 5 minutes) finds it gone when it reads it
    // (the list is read again next time) and may fail the name once; then it converges.
    w.route53().delete_zone(&sub);
    w.all().await;
    for _ in 0..2 {
        let r = w.event(&[1]).await;
        assert!(r.failed.is_empty() && r.frozen.is_empty(), "{r:?}");
        let r = w.all().await;
        assert!(r.failed.is_empty() && r.frozen.is_empty(), "{r:?}");
    }
    assert_eq!(w.a(n), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.private_a(n), Some(vec!["10.0.0.1".into()]));
    w.assert_converged().await;
}
