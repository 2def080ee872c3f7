//! Existing deployments upgrade in place: items written by the previous release (a bare
//! instance id, no marker in Route53) are adopted, not reported as foreign; an unreadable
//! item is reported and left alone, never fatal.

use std::collections::BTreeSet;

use crate::decide::RowAction;
use crate::lock::{Lock, Unreadable};
use crate::model::{InstanceState, RecordSet, RecordType};
use crate::testing::faults::Op;
use crate::testing::{name, owner, World};

const WEB: &str = "web.dyn.example.com";

/// What the previous release left: a lock without a generation of its own and records
/// without markers.
fn previous_release(w: &World, intent: Option<Vec<RecordSet>>) {
    let public = RecordSet::new(
        w.public.clone(),
        RecordType::A,
        60,
        vec!["203.0.113.1".into()],
    );
    let private = RecordSet::new(
        w.private.clone(),
        RecordType::A,
        60,
        vec!["10.0.0.1".into()],
    );
    w.route53().put(&w.public, WEB, "A", 60, &["203.0.113.1"]);
    w.route53().put(&w.private, WEB, "A", 60, &["10.0.0.1"]);
    w.locks().put(Lock {
        name: name(WEB),
        version: 5,
        gen: 5,
        holder: Some(owner(1)),
        members: Default::default(),
        records: vec![private, public],
        blocked: Vec::new(),
        until: 0,
        check: intent.is_some(),
        zones: None,
        waiting: BTreeSet::new(),
        since: Some("2026-11-01T00:00:00Z".into()),
        legacy: Some(intent.unwrap_or_default()),
        stamp: None,
        deployment: None,
        style: Default::default(),
    });
}

#[tokio::test]
async fn an_event_trusts_a_previous_release_lock_and_changes_nothing() {
    let w = World::new();
    w.launch(1, WEB);
    previous_release(&w, None);
    w.faults.reset_calls();
    let r = w.event(&[1]).await;
    assert!(r.changes.is_empty() && r.conflicts.is_empty(), "{r:?}");
    assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0);
}

#[tokio::test]
async fn reconcile_all_adopts_a_previous_release_name_by_marking_it() {
    let w = World::new();
    w.launch(1, WEB);
    previous_release(&w, None);
    let r = w.all().await;
    assert!(r.conflicts.is_empty(), "{r:?}");
    assert_eq!(
        r.changes.iter().map(|c| c.action).collect::<Vec<_>>(),
        [RowAction::Mark, RowAction::Mark]
    );
    let lock = &w.locks().snapshot()[&name(WEB)];
    assert!(lock.legacy.is_none());
    assert_eq!(lock.gen, 6, "above the previous release's version");
    assert_eq!(w.marker(&w.public, WEB).unwrap().owner, owner(1));
    w.assert_converged().await;
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert!(w.route53().snapshot().is_empty());
}

#[tokio::test]
async fn a_previous_release_change_in_flight_is_read_and_settled() {
    let w = World::new();
    w.launch(1, WEB);
    w.restart_with_ip(1, 9);
    // The previous release was swapping the public address when it stopped: its intent
    // names the new set, and Route53 holds it.
    let new = RecordSet::new(
        w.public.clone(),
        RecordType::A,
        60,
        vec!["198.51.100.9".into()],
    );
    previous_release(&w, Some(vec![new]));
    w.route53().remove(&w.public, WEB, "A");
    w.route53().put(&w.public, WEB, "A", 60, &["198.51.100.9"]);
    let r = w.event(&[1]).await;
    assert!(r.conflicts.is_empty() && r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.9".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn an_unreadable_item_is_reported_and_the_rest_converges() {
    let w = World::new();
    w.launch(1, WEB);
    w.launch(2, "bad.dyn.example.com");
    w.locks().unreadable.lock().unwrap().push(Unreadable {
        key: "bad.dyn.example.com".into(),
        name: Some(name("bad.dyn.example.com")),
        reason: "records: expected value at line 1 column 1".into(),
    });
    let r = w.all().await;
    assert_eq!(r.frozen.len(), 1, "{r:?}");
    assert_eq!(r.frozen[0].name.as_str(), "bad.dyn.example.com");
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(w.a("bad.dyn.example.com"), None, "its name is left alone");
    assert!(
        w.status(2)
            .starts_with("frozen: bad.dyn.example.com (its lock item cannot be read"),
        "{}",
        w.status(2)
    );
    assert!(
        r.conflicts.is_empty(),
        "a frozen name is not a conflict: {r:?}"
    );
}
