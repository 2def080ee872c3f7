//! One owner per name; records ec2-dns did not write are never touched, slot by slot.

use crate::engine::Request;
use crate::model::{InstanceState, Scope};
use crate::testing::faults::Op;
use crate::testing::{name, owner, World};

const WEB: &str = "web.dyn.example.com";

#[tokio::test]
async fn a_second_instance_with_the_same_name_does_not_take_over_and_waits() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.launch(2, WEB);
    let r = w.event(&[2]).await;
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(
        w.status(2),
        "conflict: web.dyn.example.com is owned by i-00000001"
    );
    assert_eq!(r.conflicts.len(), 1);
    assert_eq!(r.conflicts[0].holder, Some(owner(1)));
    assert!(w.locks().snapshot()[&name(WEB)].waiting.contains(&owner(2)));
    w.event(&[1, 2]).await;
    w.all().await;
    assert_eq!(w.owner(WEB), Some(owner(1)));
    w.assert_converged().await;
}

#[tokio::test]
async fn when_the_owner_stops_its_event_hands_the_name_to_the_longest_running_waiter() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.launch(3, WEB);
    w.launch(2, WEB);
    w.event(&[3]).await;
    w.event(&[2]).await;
    w.set_state(1, InstanceState::Stopped);
    // Only the stop event: the waiters are known from the lock, not from a search.
    w.faults.reset_calls();
    w.event(&[1]).await;
    assert_eq!(w.faults.count(Op::TaggedInstances), 0);
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    assert_eq!(w.status(2), "ok");
    assert_eq!(
        w.status(3),
        "conflict: web.dyn.example.com is owned by i-00000002"
    );
    assert!(w
        .status(1)
        .starts_with("released (instance stopped; handed over to i-00000002)"));
    assert_eq!(w.locks().snapshot()[&name(WEB)].waiting, [owner(3)].into());
    w.assert_converged().await;
}

#[tokio::test]
async fn a_waiter_that_gave_up_is_dropped_and_the_name_released() {
    let w = World::new();
    w.launch(1, WEB);
    w.launch(2, WEB);
    w.event(&[1, 2]).await;
    w.set_tag(2, None);
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert_eq!(w.owner(WEB), None);
    assert!(w.locks().snapshot()[&name(WEB)].waiting.is_empty());
    w.assert_converged().await;
}

#[tokio::test]
async fn removing_the_tag_releases_the_name_and_hands_it_over() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.launch(2, WEB);
    w.event(&[2]).await;
    w.set_tag(1, None);
    w.event(&[1]).await;
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    assert!(w.status(1).starts_with("released"), "{}", w.status(1));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_stale_lock_of_a_stopped_owner_is_taken_over_by_a_claimant() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    // The stop event is lost.
    w.set_state(1, InstanceState::Stopped);
    w.launch(2, WEB);
    w.event(&[2]).await;
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    assert_eq!(w.marker(&w.public, WEB).unwrap().owner, owner(2));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_handover_between_equal_addresses_still_moves_the_marker() {
    // An Elastic IP moves from the stopped owner to the claimant: the address sets are
    // equal, but the batch swaps the marker, so it is a compare-and-swap all the same.
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    let mut two = crate::testing::instance(2, Some(WEB));
    two.public_ipv4 = Some("203.0.113.1".parse().unwrap());
    two.private_ipv4 = Some("10.0.0.1".parse().unwrap());
    w.ec2().put(two);
    let r = w.event(&[2]).await;
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.marker(&w.public, WEB).unwrap().owner, owner(2));
    assert!(
        r.changes
            .iter()
            .all(|c| c.action == crate::decide::RowAction::Mark),
        "{:?}",
        r.changes
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_foreign_record_blocks_only_its_own_slot_and_is_reported_once() {
    for verify in [false, true] {
        let mut w = World::new();
        let public = w.public.clone();
        w.put_foreign(&public, WEB, "A", &["192.0.2.99"]);
        w.launch(1, WEB);
        let r = w
            .run(Request {
                names: Default::default(),
                scope: Scope::Owners([owner(1)].into()),
                verify_dns: verify,
                dry_run: false,
                deadline: None,
            })
            .await;
        assert_eq!(w.a(WEB), Some(vec!["192.0.2.99".into()]), "verify={verify}");
        assert_eq!(
            w.private_a(WEB),
            Some(vec!["10.0.0.1".into()]),
            "verify={verify}"
        );
        assert_eq!(w.owner(WEB), Some(owner(1)), "verify={verify}");
        assert_eq!(r.conflicts.len(), 1, "verify={verify}");
        assert_eq!(r.conflicts[0].holder, None);
        assert!(
            r.failed.is_empty(),
            "a conflict is not retried: {:?}",
            r.failed
        );
        assert_eq!(
            w.status(1),
            "ok: web.dyn.example.com; conflict: web.dyn.example.com has an A record ec2-dns did not write"
        );
        // The next event trusts the lock: no Route53 call, the same answer.
        w.faults.reset_calls();
        let again = w.event(&[1]).await;
        assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0);
        assert_eq!(again.conflicts.len(), 1);
        w.assert_converged().await;
        // A stop deletes only what is ec2-dns's.
        w.set_state(1, InstanceState::Stopped);
        w.event(&[1]).await;
        assert_eq!(w.a(WEB), Some(vec!["192.0.2.99".into()]));
        assert_eq!(w.private_a(WEB), None);
        w.assert_converged().await;
    }
}

#[tokio::test]
async fn an_unmanaged_record_equal_to_what_ec2_dns_would_write_is_not_adopted() {
    for verify in [false, true] {
        let mut w = World::new();
        let public = w.public.clone();
        // A boot script wrote exactly the instance's address, with ec2-dns's TTL.
        w.route53().put(&public, WEB, "A", 60, &["203.0.113.1"]);
        w.foreign.insert((public.clone(), WEB.into(), "A".into()));
        w.launch(1, WEB);
        let r = w
            .run(Request {
                names: Default::default(),
                scope: Scope::Owners([owner(1)].into()),
                verify_dns: verify,
                dry_run: false,
                deadline: None,
            })
            .await;
        assert_eq!(r.conflicts.len(), 1, "verify={verify}");
        assert_eq!(w.marker(&public, WEB), None, "verify={verify}");
        // And so a stop never deletes it.
        w.set_state(1, InstanceState::Stopped);
        w.event(&[1]).await;
        assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
        w.assert_converged().await;
    }
}

#[tokio::test]
async fn record_values_changed_by_someone_else_are_never_overwritten_or_deleted() {
    let mut w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let public = w.public.clone();
    w.route53().remove(&public, WEB, "A");
    w.put_foreign(&public, WEB, "A", &["192.0.2.50"]);
    let r = w.all().await;
    assert_eq!(w.a(WEB), Some(vec!["192.0.2.50".into()]));
    assert_eq!(r.conflicts.len(), 1);
    // Even when the owner stops, or hands over, the foreign value stays.
    w.launch(2, WEB);
    w.event(&[2]).await;
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert_eq!(w.a(WEB), Some(vec!["192.0.2.50".into()]));
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.2".into()]));
    assert_eq!(w.owner(WEB), Some(owner(2)));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_cname_at_the_name_is_a_reported_conflict_not_a_retry_loop() {
    let mut w = World::new();
    let public = w.public.clone();
    w.put_foreign(&public, WEB, "CNAME", &["elsewhere.example.net."]);
    w.launch(1, WEB);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.conflicts.len(), 1);
    assert!(
        w.status(1)
            .contains("conflict: web.dyn.example.com has a CNAME record ec2-dns did not write"),
        "{}",
        w.status(1)
    );
    assert_eq!(
        w.values(&public, WEB, "CNAME"),
        Some(vec!["elsewhere.example.net.".into()])
    );
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.1".into()]));
    // Every later event and reconcile says the same, without touching Route53.
    for _ in 0..3 {
        w.faults.reset_calls();
        let again = w.event(&[1]).await;
        assert!(again.failed.is_empty());
        assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0);
        let all = w.all().await;
        assert!(all.failed.is_empty() && all.changes.is_empty(), "{all:?}");
    }
    // Once the CNAME goes, the next reconcile of everything publishes the name.
    w.route53().remove(&public, WEB, "CNAME");
    w.foreign.clear();
    w.all().await;
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn a_foreign_record_at_the_marker_name_keeps_ec2_dns_out_of_that_zone() {
    let mut w = World::new();
    let public = w.public.clone();
    w.put_foreign(
        &public,
        "_ec2-dns.web.dyn.example.com",
        "TXT",
        &["\"v=spf1 -all\""],
    );
    w.launch(1, WEB);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(w.a(WEB), None);
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.1".into()]));
    assert!(
        w.status(1).contains(
            "has a TXT record at _ec2-dns.web.dyn.example.com that ec2-dns did not write"
        ),
        "{}",
        w.status(1)
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn an_alias_record_at_the_name_is_someone_elses() {
    let w = World::new();
    w.route53().put_alias(&w.public, WEB, "A");
    w.launch(1, WEB);
    let r = w.all().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(w.marker(&w.public, WEB), None);
    assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.1".into()]));
}
