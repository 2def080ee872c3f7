//! The operator's actions: status, release, rebuilding a lost lock table from the markers.

use super::writes;
use crate::decide::RowAction;
use crate::model::InstanceState;
use crate::testing::{name, owner, World};

const WEB: &str = "web.dyn.example.com";

#[tokio::test]
async fn an_operator_release_of_a_stuck_name_deletes_exactly_its_records_and_frees_it() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    // The holder stopped and every event about it was lost.
    w.set_state(1, InstanceState::Stopped);
    w.faults.reset_calls();
    let dry = w.rec.release_name(&name(WEB), true).await.unwrap();
    assert_eq!(dry.changes.len(), 2);
    assert_eq!(writes(&w), 0, "a dry run writes nothing");
    assert!(w.a(WEB).is_some());
    let r = w.rec.release_name(&name(WEB), false).await.unwrap();
    assert_eq!(
        r.changes.iter().map(|c| c.action).collect::<Vec<_>>(),
        [RowAction::Delete, RowAction::Delete]
    );
    assert_eq!((w.a(WEB), w.owner(WEB)), (None, None));
    assert_eq!(w.status(1), "released (released by an operator)");
    w.assert_converged().await;
}

#[tokio::test]
async fn an_operator_cannot_release_a_name_its_running_holder_still_claims() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let err = w.rec.release_name(&name(WEB), false).await.unwrap_err();
    assert!(err.to_string().contains("still claims it"), "{err}");
    assert_eq!(w.owner(WEB), Some(owner(1)));
    let err = w
        .rec
        .release_name(&name("other.dyn.example.com"), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not held"), "{err}");
}

#[tokio::test]
async fn an_operator_release_leaves_values_ec2_dns_did_not_write() {
    let mut w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    let public = w.public.clone();
    w.route53().remove(&public, WEB, "A");
    w.put_foreign(&public, WEB, "A", &["192.0.2.77"]);
    w.set_tag(1, None);
    let r = w.rec.release_name(&name(WEB), false).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), Some(vec!["192.0.2.77".into()]));
    assert_eq!(w.private_a(WEB), None);
    assert_eq!(w.owner(WEB), None);
    w.assert_invariants();
}

#[tokio::test]
async fn status_lists_every_held_name_with_its_holder_state_and_writes_nothing() {
    let w = World::new();
    w.launch(1, "a.dyn.example.com");
    w.launch(2, "b.dyn.example.com");
    w.event(&[1, 2]).await;
    w.set_state(2, InstanceState::Stopped);
    w.faults.reset_calls();
    let rows = w.rec.status().await.unwrap();
    assert_eq!(writes(&w), 0);
    let got: Vec<(String, &str, String)> = rows
        .iter()
        .map(|r| {
            (
                r.lock.name.to_string(),
                r.holder.as_ref().map_or("gone", |i| i.state.as_str()),
                r.route53(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a.dyn.example.com".to_string(), "running", "ok".to_string()),
            ("b.dyn.example.com".to_string(), "stopped", "ok".to_string())
        ]
    );
    // Route53 is read, not trusted: a record deleted behind ec2-dns's back shows.
    let public = w.public.clone();
    w.route53().remove(&public, "a.dyn.example.com", "A");
    let rows = w.rec.status().await.unwrap();
    assert_eq!(rows[0].route53(), "A missing in dyn.example.com (public)");
}

#[tokio::test]
async fn a_lost_lock_table_is_rebuilt_from_the_markers() {
    let mut w = World::new();
    w.launch(1, "a.dyn.example.com");
    w.launch(2, "b.dyn.example.com");
    w.launch(3, "b.dyn.example.com");
    w.event(&[1, 2, 3]).await;
    let before = w.locks().snapshot();
    // The table is lost (restored empty).
    for n in ["a.dyn.example.com", "b.dyn.example.com"] {
        w.locks().remove(&name(n));
    }
    // Another deployment (another account) marks a name in the same zone: not ours to lock.
    let theirs = crate::marker::Marker {
        owner: crate::marker::Marked::Owner(
            crate::model::Owner::parse("210987654321/us-east-1/i-0123456789abcdef0").unwrap(),
        ),
        gen: 4,
        types: [crate::model::RecordType::A].into(),
        deployment: None,
    };
    let public = w.public.clone();
    w.put_foreign(
        &public,
        "_ec2-dns.c.dyn.example.com",
        "TXT",
        &[&theirs.value()],
    );
    w.put_foreign(&public, "c.dyn.example.com", "A", &["192.0.2.40"]);
    w.faults.reset_calls();
    let dry = w.rec.rebuild(true).await.unwrap();
    assert_eq!(dry.len(), 2, "{dry:?}");
    assert_eq!(writes(&w), 0, "a dry run writes nothing");
    let rows = w.rec.rebuild(false).await.unwrap();
    assert!(rows.iter().all(|r| r.skipped.is_none()), "{rows:?}");
    let after = w.locks().snapshot();
    for (n, old) in &before {
        let new = &after[n];
        assert_eq!(
            (&new.holder, new.gen, &new.records),
            (&old.holder, old.gen, &old.records),
            "{n}"
        );
    }
    // Nothing to change afterwards; a second rebuild leaves existing items alone.
    w.assert_converged().await;
    let again = w.rec.rebuild(false).await.unwrap();
    assert!(again.iter().all(|r| r.skipped.is_some()));
    // And the names still change hands correctly.
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert_eq!(w.a("a.dyn.example.com"), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn an_operator_release_hands_the_name_to_its_waiting_claimant() {
    let w = World::new();
    w.launch(1, WEB);
    w.launch(2, WEB);
    w.event(&[1, 2]).await;
    // The holder's tag is removed and its events are lost.
    w.set_tag(1, None);
    let r = w.rec.release_name(&name(WEB), false).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.owner(WEB), Some(owner(2)));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    assert_eq!(w.status(2), "ok");
    assert_eq!(
        w.status(1),
        "released (released by an operator; handed over to i-00000002)"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn an_operator_release_keeps_the_status_of_an_instance_with_other_names() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com, api.dyn.example.com");
    w.event(&[1]).await;
    w.set_tag(1, Some("api.dyn.example.com"));
    w.rec.release_name(&name(WEB), false).await.unwrap();
    assert_eq!(w.owner(WEB), None);
    assert_eq!(
        w.status(1),
        "ok",
        "its other name's status is not overwritten"
    );
}
