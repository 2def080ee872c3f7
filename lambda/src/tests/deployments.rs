//! Deployments are separate (invariant 12): two deployments sharing a hosted zone see each
//! other's names as foreign; markers written before deployment ids stay ours only where
//! our own table wrote them; a move keeps its records by keeping its deployment id; and a
//! place added or left out never makes another deployment's markers ours, or ours foreign.

use std::collections::BTreeSet;

use crate::lock::Lock;
use crate::marker::{DeploymentId, Marker};
use crate::model::{Home, InstanceState, RecordSet, RecordType};
use crate::testing::faults::Op;
use crate::testing::{home, id, instance, name, owner, World};

const WEB: &str = "web.dyn.example.com";
const API: &str = "api.dyn.example.com";
const SHARED: &str = "shared.dyn.example.com";

/// Production (its id derived) and staging (`DEPLOYMENT_ID=staging`), one zone between them.
fn prod_and_staging() -> (World, World) {
    let prod = World::new();
    let staging = prod.beside("locks-staging", Some("staging"));
    (prod, staging)
}

#[tokio::test]
async fn two_deployments_sharing_a_zone_never_delete_each_others_records() {
    let (prod, staging) = prod_and_staging();
    prod.launch(1, WEB);
    staging.launch(2, API);
    prod.event(&[1]).await;
    staging.event(&[2]).await;
    assert_eq!(
        prod.marker(&prod.public, WEB).unwrap().deployment,
        Some(crate::testing::deployment())
    );
    assert_eq!(
        staging.marker(&prod.public, API).unwrap().deployment,
        Some(DeploymentId::parse("staging").unwrap())
    );
    // Every reconcile of everything, by either, reads the zone and finds the other's
    // records: someone else's, never an orphan of its own.
    for _ in 0..2 {
        let p = prod.all().await;
        let s = staging.all().await;
        assert!(p.changes.is_empty() && p.failed.is_empty(), "{p:?}");
        assert!(s.changes.is_empty() && s.failed.is_empty(), "{s:?}");
    }
    assert_eq!(prod.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(prod.a(API), Some(vec!["203.0.113.2".into()]));
    // A stop in one deployment removes only its own name.
    staging.set_state(2, InstanceState::Stopped);
    staging.event(&[2]).await;
    assert_eq!(prod.a(API), None);
    assert_eq!(prod.a(WEB), Some(vec!["203.0.113.1".into()]));
    prod.assert_invariants_beside(&[&staging]);
    staging.assert_invariants_beside(&[&prod]);
}

#[tokio::test]
async fn a_name_held_by_another_deployment_is_a_conflict_not_a_takeover() {
    let (prod, staging) = prod_and_staging();
    staging.launch(2, SHARED);
    staging.event(&[2]).await;
    // A production instance launched later wants the same name.
    prod.launch(1, SHARED);
    let r = prod.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert!(
        prod.status(1).contains("of another deployment"),
        "{}",
        prod.status(1)
    );
    assert_eq!(prod.a(SHARED), Some(vec!["203.0.113.2".into()]));
    assert_eq!(
        staging.marker(&staging.public, SHARED).unwrap().owner,
        owner(2)
    );
    // Reported once, not retried: a second event and a reconcile change nothing.
    prod.faults.reset_calls();
    let again = prod.all().await;
    assert!(
        again.changes.is_empty() && again.failed.is_empty(),
        "{again:?}"
    );
    assert_eq!(prod.faults.count(Op::ChangeResourceRecordSets), 0);
    // Once staging lets it go, production takes it.
    staging.set_state(2, InstanceState::Stopped);
    staging.event(&[2]).await;
    prod.all().await;
    assert_eq!(prod.owner(SHARED), Some(owner(1)));
    assert_eq!(prod.a(SHARED), Some(vec!["203.0.113.1".into()]));
    prod.assert_converged().await;
    staging.assert_invariants_beside(&[&prod]);
}

#[tokio::test]
async fn a_move_that_keeps_the_deployment_id_takes_the_records_over_in_place() {
    // From CloudFormation to Terraform: a new table, the old deployment's id.
    let old = World::new();
    old.launch(1, WEB);
    old.event(&[1]).await;
    let id = crate::testing::deployment();
    let new = old.beside("locks-terraform", Some(id.as_str()));
    new.ec2().put(old.ec2().get(&owner(1)).unwrap());
    new.faults.reset_calls();
    let r = new.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(new.owner(WEB), Some(owner(1)));
    assert_eq!(new.a(WEB), Some(vec!["203.0.113.1".into()]));
    // The record was never deleted: only its marker moved to a new generation.
    let rows: Vec<_> = r.changes.iter().map(|c| c.action).collect();
    assert!(
        rows.iter().all(|a| *a == crate::decide::RowAction::Mark),
        "{rows:?}"
    );
    let m = new.marker(&new.public, WEB).unwrap();
    assert_eq!(m.deployment, Some(id));
    assert!(m.gen > old.locks().snapshot()[&name(WEB)].gen);
    new.assert_converged().await;
}

#[tokio::test]
async fn a_new_deployment_with_its_own_id_does_not_take_over_a_names_records() {
    // The same move without keeping the id: the old deployment's records are foreign to
    // the new one, reported as a conflict, never deleted.
    let old = World::new();
    old.launch(1, WEB);
    old.event(&[1]).await;
    let new = old.beside("locks-terraform", None);
    new.ec2().put(old.ec2().get(&owner(1)).unwrap());
    let r = new.all().await;
    assert!(r.failed.is_empty() && r.changes.is_empty(), "{r:?}");
    assert!(
        new.status(1).contains("of another deployment"),
        "{}",
        new.status(1)
    );
    assert_eq!(old.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(
        old.marker(&old.public, WEB).unwrap().deployment,
        Some(crate::testing::deployment())
    );
}

/// Route53 and the lock as 0.3 left them: a settled lock of instance 1 with no deployment,
/// and markers naming none, in the public and the private zone.
fn as_left_by_0_3(w: &World, n: &str, gen: u64) {
    let mut records = Vec::new();
    for (zone, ip) in [(&w.public, "203.0.113.1"), (&w.private, "10.0.0.1")] {
        records.push(RecordSet::new(
            zone.clone(),
            RecordType::A,
            60,
            vec![ip.into()],
        ));
        w.route53().put(zone, n, "A", 60, &[ip]);
        let marker = Marker {
            owner: crate::marker::Marked::Owner(owner(1)),
            gen,
            types: [RecordType::A].into(),
            deployment: None,
        };
        w.route53()
            .put(zone, &name(n).marker_name(), "TXT", 300, &[&marker.value()]);
    }
    records.sort();
    w.locks().put(Lock {
        name: name(n),
        version: gen + 1,
        gen,
        holder: Some(owner(1)),
        members: Default::default(),
        records,
        blocked: Vec::new(),
        until: 0,
        check: false,
        zones: Some([w.public.clone(), w.private.clone()].into()),
        waiting: BTreeSet::new(),
        since: Some("2026-11-01T00:00:00Z".into()),
        legacy: None,
        stamp: None,
        deployment: None,
        style: Default::default(),
    });
}

#[tokio::test]
async fn markers_written_before_deployment_ids_stay_ours_where_our_table_wrote_them() {
    let w = World::new();
    w.launch(1, WEB);
    as_left_by_0_3(&w, WEB, 6);
    // A steady name costs what it cost before: nothing is rewritten.
    w.faults.reset_calls();
    let r = w.event(&[1]).await;
    assert!(r.changes.is_empty() && r.failed.is_empty(), "{r:?}");
    assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0);
    // A reconcile that reads Route53 finds the old marker ours: nothing to fix.
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    // The next change deletes the old marker exactly and writes one with the id.
    w.restart_with_ip(1, 9);
    w.event(&[1]).await;
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.9".into()]));
    let m = w.marker(&w.public, WEB).unwrap();
    assert_eq!(
        (m.gen, m.deployment),
        (7, Some(crate::testing::deployment()))
    );
    // And a stop removes everything of ours.
    w.set_state(1, InstanceState::Stopped);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), None);
    assert_eq!(w.marker(&w.public, WEB), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn an_old_marker_of_a_stop_trusted_from_the_lock_is_deleted_exactly() {
    let w = World::new();
    w.launch(1, WEB);
    as_left_by_0_3(&w, WEB, 6);
    w.set_state(1, InstanceState::Stopped);
    w.faults.reset_calls();
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    // One batch per zone, none refused (a refusal would read the zone).
    assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 2);
    assert_eq!(w.faults.count(Op::ListResourceRecordSets), 0);
    assert_eq!(w.a(WEB), None);
    assert_eq!(w.marker(&w.public, WEB), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn an_old_marker_our_table_never_wrote_is_someone_elses() {
    // Another deployment of this account, still on 0.3, marked a name in the shared zone:
    // its marker names no deployment, and our table has no lock of the name.
    let mut w = World::new();
    let theirs = Marker {
        owner: crate::marker::Marked::Owner(owner(7)),
        gen: 3,
        types: [RecordType::A].into(),
        deployment: None,
    };
    let public = w.public.clone();
    w.put_foreign(&public, &name(API).marker_name(), "TXT", &[&theirs.value()]);
    w.put_foreign(&public, API, "A", &["192.0.2.7"]);
    w.launch(1, API);
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    // The private zone is free to take; the public one is someone else's.
    assert!(r.changes.iter().all(|c| c.zone_id == w.private), "{r:?}");
    assert!(
        w.status(1).contains("another deployment"),
        "{}",
        w.status(1)
    );
    assert_eq!(w.a(API), Some(vec!["192.0.2.7".into()]));
    assert_eq!(w.marker(&public, API), Some(theirs));
    w.assert_converged().await;
}

#[tokio::test]
async fn adding_a_region_never_adopts_another_deployments_markers_there() {
    // Another deployment manages eu-west-1 and has marked a name for an instance there.
    let mut w = World::new();
    let west = Home::new("123456789012", "eu-west-1").unwrap();
    let theirs = Marker {
        owner: crate::marker::Marked::Owner(west.instance(id(5))),
        gen: 4,
        types: [RecordType::A].into(),
        deployment: Some(crate::testing::other_deployment()),
    };
    let public = w.public.clone();
    w.put_foreign(&public, &name(API).marker_name(), "TXT", &[&theirs.value()]);
    w.put_foreign(&public, API, "A", &["192.0.2.5"]);
    // This deployment now manages eu-west-1 too, where that instance runs and claims it.
    *w.ec2().homes.lock().unwrap() = vec![home(), west.clone()];
    let mut i = instance(5, Some(API));
    i.owner = west.instance(id(5));
    w.ec2().put(i);
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert!(r.changes.iter().all(|c| c.zone_id == w.private), "{r:?}");
    assert_ne!(
        w.marker(&public, API).and_then(|m| m.deployment),
        Some(crate::testing::deployment()),
        "not adopted"
    );
    assert_eq!(w.marker(&public, API), Some(theirs));
    assert_eq!(w.a(API), Some(vec!["192.0.2.5".into()]));
    // Even an operator's rebuild does not lock it from the other deployment's marker.
    w.locks().remove(&name(API));
    let rows = w.rec.rebuild(false).await.unwrap();
    let rebuilt = &rows.iter().find(|r| r.name == name(API)).unwrap().records;
    assert!(rebuilt.iter().all(|s| s.zone_id == w.private), "{rows:?}");
}

#[tokio::test]
async fn rebuild_takes_only_this_deployments_markers() {
    let (prod, staging) = prod_and_staging();
    prod.launch(1, WEB);
    staging.launch(2, API);
    prod.event(&[1]).await;
    staging.event(&[2]).await;
    prod.locks().remove(&name(WEB));
    let rows = prod.rec.rebuild(false).await.unwrap();
    let rebuilt: Vec<String> = rows.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(rebuilt, [WEB]);
    assert_eq!(prod.owner(WEB), Some(owner(1)));
    let again = prod.all().await;
    assert!(
        again.changes.is_empty() && again.failed.is_empty(),
        "{again:?}"
    );
    prod.assert_invariants_beside(&[&staging]);
    staging.assert_invariants_beside(&[&prod]);
}

#[tokio::test]
async fn leaving_out_a_place_while_a_release_there_is_pending_strands_nothing() {
    // An instance of eu-west-1 holds a name and stops; its release is decided, but the
    // Route53 change fails. Then eu-west-1 is left out of REGIONS. The pending release is
    // still this deployment's to finish: its marker is ours, whatever place its owner is in.
    let west = Home::new("123456789012", "eu-west-1").unwrap();
    let w = World::new();
    *w.ec2().homes.lock().unwrap() = vec![home(), west.clone()];
    let mut i = instance(5, Some(WEB));
    i.owner = west.instance(id(5));
    let holder = i.owner.clone();
    w.ec2().put(i);
    w.all().await;
    assert_eq!(w.owner(WEB), Some(holder.clone()));
    w.ec2().update(&holder, |i| {
        i.state = InstanceState::Stopped;
        i.public_ipv4 = None;
    });
    let fault = w.faults.fail(
        Op::ChangeResourceRecordSets,
        crate::testing::faults::Phase::Before,
        2,
    );
    let r = w
        .run(World::request_for(std::slice::from_ref(&holder)))
        .await;
    assert_eq!(fault.fired(), 2, "{r:?}");
    assert_eq!(w.owner(WEB), None, "released in the table");
    assert!(w.a(WEB).is_some(), "the release did not land");
    // eu-west-1 is no longer managed.
    *w.ec2().homes.lock().unwrap() = vec![home()];
    w.advance(crate::engine::CHANGE_WINDOW + 60);
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), None, "{r:?}");
    assert_eq!(w.marker(&w.public, WEB), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn opaque_markers_show_no_ids_and_still_rebuild_and_release() {
    let mut w = World::new();
    w.reconfigure(|c| c.marker_style = crate::marker::MarkerStyle::Opaque);
    w.launch(1, WEB);
    w.launch(2, API);
    w.event(&[1, 2]).await;
    let txt = w
        .route53()
        .get(&w.public, &name(WEB).marker_name(), "TXT")
        .unwrap()
        .values;
    assert!(
        !txt[0].contains("123456789012") && !txt[0].contains("i-0"),
        "{txt:?}"
    );
    assert!(w.marker(&w.public, WEB).unwrap().names(&owner(1)));
    // The table is lost: rebuild finds each opaque marker's owner among the instances.
    w.locks().remove(&name(WEB));
    w.locks().remove(&name(API));
    let rows = w.rec.rebuild(false).await.unwrap();
    assert!(rows.iter().all(|r| r.skipped.is_none()), "{rows:?}");
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(w.owner(API), Some(owner(2)));
    w.assert_converged().await;
    // A stop deletes the opaque marker exactly, trusted from the rebuilt lock.
    w.set_state(1, InstanceState::Stopped);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(WEB), None);
    assert_eq!(w.marker(&w.public, WEB), None);
    // A plain deployment beside it sees the opaque markers as someone else's.
    let other = w.beside("locks-other", None);
    other.launch(3, API);
    let r = other.event(&[3]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert!(
        other.status(3).contains("another deployment"),
        "{}",
        other.status(3)
    );
    w.assert_converged().await;
}
