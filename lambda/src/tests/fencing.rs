//! Fenced ownership under every timing: slow calls held until another run has finished,
//! answers lost after the effect, writers that die mid-change. Each test is one defect of
//! the unfenced protocol; after each, nothing is orphaned and nothing is stuck.

use crate::engine::CHANGE_WINDOW;
use crate::model::{InstanceState, RecordType};
use crate::testing::faults::{Op, Phase};
use crate::testing::{instance, name, owner, World};

const WEB: &str = "web.dyn.example.com";

#[tokio::test]
async fn a_slow_claim_racing_a_stop_is_waited_for_not_orphaned() {
    let w = World::new();
    w.launch(1, WEB);
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let claim = w.attempt(&[1]);
    let stop = async {
        gate.wait_held().await;
        w.set_state(1, InstanceState::Stopped);
        let during = w.event(&[1]).await;
        // The claim is in flight: the stop does not release the name under it.
        assert_eq!(during.failed.len(), 1, "{during:?}");
        assert!(during.failed[0].reason.contains("in flight"), "{during:?}");
        assert_eq!(w.owner(WEB), Some(owner(1)));
        gate.release();
    };
    let (claimed, ()) = tokio::join!(claim, stop);
    assert!(claimed.unwrap().failed.is_empty());
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    // The stop's retry, once the claim has landed, releases cleanly.
    let retry = w.event(&[1]).await;
    assert!(retry.failed.is_empty(), "{retry:?}");
    assert_eq!(
        (w.a(WEB), w.private_a(WEB), w.owner(WEB)),
        (None, None, None)
    );
    w.assert_converged().await;
    w.launch(2, WEB);
    w.event(&[2]).await;
    assert_eq!(w.owner(WEB), Some(owner(2)));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_claim_that_lands_after_its_writer_died_is_recognised_and_removed() {
    let w = World::new();
    w.launch(1, WEB);
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let claim = w.attempt(&[1]);
    let rest = async {
        gate.wait_held().await;
        // The claiming run is presumed dead: its window is over.
        w.advance(CHANGE_WINDOW + 60);
        w.set_state(1, InstanceState::Stopped);
        let stop = w.event(&[1]).await;
        assert!(stop.failed.is_empty(), "{stop:?}");
        assert_eq!(w.owner(WEB), None);
        // Now the slow CREATE lands after all.
        gate.release();
    };
    let _ = tokio::join!(claim, rest);
    let stale = w
        .marker(&w.public, WEB)
        .expect("the late CREATE landed with its marker");
    assert_eq!((stale.owner.owner(), stale.gen), (Some(&owner(1)), 1));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    // It carries a marker of an older generation than the lock's: recognisably ec2-dns's
    // and stale. A new claimant takes the name over it, once the release's window is over.
    w.advance(CHANGE_WINDOW + 60);
    w.launch(2, WEB);
    let r = w.event(&[2]).await;
    assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn reconcile_all_removes_a_record_whose_claim_landed_too_late() {
    let w = World::new();
    w.launch(1, WEB);
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let claim = w.attempt(&[1]);
    let rest = async {
        gate.wait_held().await;
        w.advance(CHANGE_WINDOW + 60);
        w.set_state(1, InstanceState::Stopped);
        w.event(&[1]).await;
        gate.release();
    };
    let _ = tokio::join!(claim, rest);
    assert!(w.a(WEB).is_some(), "the orphan landed");
    w.advance(CHANGE_WINDOW + 60);
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert!(
        w.route53().snapshot().is_empty(),
        "{:?}",
        w.route53().snapshot()
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_lost_answer_to_a_create_leaves_the_record_ec2_dns_s_own() {
    let w = World::new();
    w.launch(1, WEB);
    // Route53 applies the CREATE; the answer is lost; the SDK sends it again and hears
    // "already exists".
    let replay = w.faults.replay(Some("ZPUBLIC"));
    let r = w.event(&[1]).await;
    assert_eq!(replay.fired(), 1);
    assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
    // And it is deleted with its owner: no orphan.
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert!(w.route53().snapshot().is_empty());
    w.assert_converged().await;
}

#[tokio::test]
async fn a_release_in_flight_is_checked_in_the_zones_it_deletes_from_though_it_lists_no_records() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.advance(CHANGE_WINDOW + 60);
    w.set_state(1, InstanceState::Stopped);
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let release = w.attempt(&[1]);
    let rest = async {
        gate.wait_held().await;
        let lock = w.locks().snapshot()[&name(WEB)].clone();
        assert!(lock.holder.is_none() && lock.records.is_empty(), "{lock:?}");
        // A new claimant, while the release is in flight: the lock lists nothing, but the
        // release deletes in both zones, and both are read.
        w.launch(2, WEB);
        w.faults.reset_calls();
        let during = w.event(&[2]).await;
        assert_eq!(w.faults.count(Op::ListResourceRecordSets), 2);
        assert_eq!(during.failed.len(), 1, "{during:?}");
        assert!(during.failed[0].reason.contains("in flight"), "{during:?}");
        assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0);
        gate.release();
    };
    let (released, ()) = tokio::join!(release, rest);
    assert!(released.unwrap().failed.is_empty());
    // Still inside the release's window: read where it wrote, seen landed, claimed.
    let retry = w.event(&[2]).await;
    assert!(retry.failed.is_empty(), "{retry:?}");
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_failed_release_never_takes_the_record_of_an_owner_back_on_the_same_address() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    let fault = w
        .faults
        .fail_for(Op::ChangeResourceRecordSets, "ZPUBLIC", Phase::Before, 1);
    let r = w.event(&[1]).await;
    assert_eq!(fault.fired(), 1);
    assert_eq!(r.failed.len(), 1);
    // Back with the same (Elastic) address before any retry.
    w.ec2().update(&owner(1), |i| {
        i.state = InstanceState::Running;
        i.public_ipv4 = Some("203.0.113.1".parse().unwrap());
    });
    let back = w.event(&[1]).await;
    assert!(back.failed.is_empty(), "{back:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.1".into()]));
    assert_eq!(w.owner(WEB), Some(owner(1)));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_failed_release_then_a_handover_to_the_new_holder_of_the_address_keeps_the_record() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    w.faults
        .fail_for(Op::ChangeResourceRecordSets, "ZPUBLIC", Phase::Before, 1);
    w.event(&[1]).await;
    let mut two = instance(2, Some(WEB));
    two.public_ipv4 = Some("203.0.113.1".parse().unwrap());
    w.ec2().put(two);
    w.event(&[2]).await;
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.marker(&w.public, WEB).unwrap().owner, owner(2));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_lost_takeover_is_retried_not_reported_as_a_conflict() {
    let w = World::new();
    w.launch(1, WEB);
    w.launch(2, WEB);
    w.event(&[1, 2]).await;
    w.set_state(1, InstanceState::Stopped);
    w.launch(3, WEB);
    // The handover's lock write waits; meanwhile another claimant writes the lock.
    let gate = w.faults.hold(Op::Decide, Some(WEB), Phase::Before);
    let handover = w.attempt(&[1]);
    let other = async {
        gate.wait_held().await;
        w.event(&[3]).await;
        gate.release();
    };
    let (lost, ()) = tokio::join!(handover, other);
    let lost = lost.unwrap();
    assert!(lost.conflicts.is_empty(), "{lost:?}");
    assert!(
        lost.failed
            .iter()
            .any(|f| f.reason.contains("changed meanwhile")),
        "{lost:?}"
    );
    w.event(&[1]).await;
    assert_eq!(w.owner(WEB), Some(owner(2)));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_slow_create_of_the_former_owner_cannot_land_beside_the_new_owner() {
    let w = World::new();
    let mut one = instance(1, Some(WEB));
    one.ipv6 = vec!["2001:db8::1".parse().unwrap()];
    w.ec2().put(one);
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let claim = w.attempt(&[1]);
    let rest = async {
        gate.wait_held().await;
        w.advance(CHANGE_WINDOW + 60);
        w.set_state(1, InstanceState::Stopped);
        w.launch(2, WEB);
        let r = w.event(&[2]).await;
        assert!(r.failed.is_empty(), "{r:?}");
        assert_eq!(w.owner(WEB), Some(owner(2)));
        gate.release();
    };
    let _ = tokio::join!(claim, rest);
    // The former owner's batch (its marker, A and AAAA) is refused as a whole.
    assert_eq!(w.values(&w.public, WEB, "AAAA"), None);
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    assert_eq!(w.marker(&w.public, WEB).unwrap().owner, owner(2));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_takeover_that_meets_a_foreign_value_leaves_it_and_keeps_only_what_is_its_own() {
    let mut w = World::new();
    w.launch(1, WEB);
    w.launch(2, WEB);
    w.event(&[1, 2]).await;
    // Someone replaces the public address behind ec2-dns's back; no reconcile notices.
    let public = w.public.clone();
    w.route53().remove(&public, WEB, "A");
    w.put_foreign(&public, WEB, "A", &["192.0.2.50"]);
    w.set_state(1, InstanceState::Stopped);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["192.0.2.50".into()]));
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.2".into()]));
    let lock = &w.locks().snapshot()[&name(WEB)];
    assert!(
        lock.records.iter().all(|s| s.zone_id == w.private),
        "the foreign value is not recorded as the new owner's: {:?}",
        lock.records
    );
    assert_eq!(w.marker(&public, WEB), None);
    assert!(
        w.status(2)
            .contains("has an A record ec2-dns did not write"),
        "{}",
        w.status(2)
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn concurrent_runs_for_one_name_leave_one_holder_and_its_records() {
    let w = World::new();
    for n in 1..=3 {
        w.launch(n, WEB);
    }
    w.faults.set_yields(vec![0, 2, 1, 3, 0, 1]);
    let (a, b, c) = tokio::join!(w.attempt(&[3]), w.attempt(&[2]), w.attempt(&[1, 2, 3]),);
    let retry = [a, b, c]
        .iter()
        .any(|r| r.as_ref().map_or(true, |r| !r.failed.is_empty()));
    if retry {
        w.event(&[1, 2, 3]).await;
    }
    assert!(w.owner(WEB).is_some());
    w.assert_converged().await;
    let lock = &w.locks().snapshot()[&name(WEB)];
    let m = w.marker(&w.public, WEB).unwrap();
    assert_eq!((m.owner.owner(), m.gen), (lock.holder.as_ref(), lock.gen));
    assert_eq!(m.types, [RecordType::A].into());
}

/// The one window the protocol leaves to the schedule: a run killed after its lock write
/// and before its Route53 change (no chance to flag the lock). Until the window ends, others
/// see the change in flight; afterwards an event trusts the lock, and the next reconcile of
/// everything, which reads Route53, repairs the missing record.
#[tokio::test]
async fn a_run_killed_between_its_lock_write_and_route53_is_repaired_by_the_schedule() {
    let w = World::new();
    w.launch(1, WEB);
    // The change never reaches Route53, and neither does the flag: as if the process died.
    let change = w
        .faults
        .fail(Op::ChangeResourceRecordSets, Phase::Before, 10);
    let flag = w.faults.fail(Op::Check, Phase::Before, 10);
    let _ = w.attempt(&[1]).await;
    assert!(change.fired() >= 1 && flag.fired() >= 1);
    w.faults.clear();
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(w.a(WEB), None);
    w.advance(CHANGE_WINDOW + 60);
    let trusted = w.event(&[1]).await;
    assert!(
        trusted.changes.is_empty(),
        "an event trusts the lock: {trusted:?}"
    );
    assert_eq!(
        w.a(WEB),
        None,
        "the known window: the record is missing until the schedule"
    );
    let repaired = w.all().await;
    assert!(!repaired.changes.is_empty());
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    w.assert_converged().await;
}
