//! Shared names (`shared:<name>`, with `SHARED_NAMES=true`): one set holding every running
//! member's addresses, every change of it a compare-and-swap of the whole set; no member
//! left in it after it stops; exclusive and shared claims never take each other's name.

use std::collections::BTreeSet;

use crate::model::{InstanceState, Owner};
use crate::testing::faults::{Op, Phase};
use crate::testing::{owner, World};

const API: &str = "api.dyn.example.com";
const SHARED: &str = "shared:api.dyn.example.com";

fn world() -> World {
    let mut w = World::new();
    w.reconfigure(|c| c.shared_names = true);
    w
}

fn public(n: u32) -> String {
    format!("203.0.113.{n}")
}

fn set(ns: &[u32]) -> Option<Vec<String>> {
    let mut v: Vec<String> = ns.iter().map(|n| public(*n)).collect();
    v.sort();
    Some(v)
}

fn members(w: &World) -> BTreeSet<Owner> {
    w.locks()
        .snapshot()
        .get(&crate::testing::name(API))
        .map(|l| l.members.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_running_member_is_in_one_set_and_a_second_round_changes_nothing() {
    let w = world();
    for n in [1, 2, 3] {
        w.launch(n, SHARED);
    }
    let r = w.all().await;
    assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
    assert_eq!(w.a(API), set(&[1, 2, 3]));
    assert_eq!(
        w.private_a(API).map(|v| v.len()),
        Some(3),
        "the private zone gets every member's private address"
    );
    assert_eq!(members(&w), (1..=3).map(owner).collect());
    for n in 1..=3 {
        assert_eq!(w.status(n), "ok");
    }
    w.assert_invariants();
    w.assert_converged().await;

    // Each member joins by its own event as well.
    let w = world();
    for n in [1, 2, 3] {
        w.launch(n, SHARED);
        let r = w.event(&[n]).await;
        assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
        w.assert_invariants();
    }
    assert_eq!(w.a(API), set(&[1, 2, 3]));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_member_that_stops_leaves_the_set_in_its_own_event_and_the_last_frees_the_name() {
    let w = world();
    for n in [1, 2, 3] {
        w.launch(n, SHARED);
    }
    w.all().await;
    // Not the member the markers name: the set shrinks, the holder stays.
    w.set_state(2, InstanceState::Stopped);
    let r = w.event(&[2]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(API), set(&[1, 3]));
    assert_eq!(w.owner(API), Some(owner(1)));
    w.assert_invariants();
    // The member the markers name: another member is named, nobody else leaves.
    w.set_state(1, InstanceState::Terminated);
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(API), set(&[3]));
    assert_eq!(w.owner(API), Some(owner(3)));
    let marker = w.marker(&w.public, API).expect("a marker");
    assert!(marker.names(&owner(3)), "{marker:?}");
    w.assert_invariants();
    // The last member: the records go, the name is free.
    w.set_state(3, InstanceState::Stopped);
    w.event(&[3]).await;
    assert_eq!(w.a(API), None);
    assert_eq!(w.owner(API), None);
    assert!(members(&w).is_empty());
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn exclusive_and_shared_claims_never_take_each_others_name() {
    let w = world();
    // A shared set first: an exclusive claimant launched before every member waits, and is
    // told why.
    w.launch(5, SHARED);
    w.launch(6, SHARED);
    w.all().await;
    w.launch(3, API);
    let r = w.event(&[3]).await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(
        w.status(3).contains("is shared by other instances"),
        "{}",
        w.status(3)
    );
    assert_eq!(w.a(API), set(&[5, 6]));
    w.assert_invariants();
    // The member the markers name stops: the other member keeps the name shared.
    w.set_state(5, InstanceState::Stopped);
    w.event(&[5]).await;
    assert_eq!(w.a(API), set(&[6]));
    w.assert_invariants();
    // The last member stops: the waiting exclusive claimant takes the name.
    w.set_state(6, InstanceState::Stopped);
    let r = w.event(&[6]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.owner(API), Some(owner(3)));
    assert_eq!(w.a(API), set(&[3]));
    assert!(members(&w).is_empty(), "held alone now");
    w.assert_invariants();
    // Held alone: a shared claimant launched before the holder does not join it.
    w.launch(2, SHARED);
    let r = w.event(&[2]).await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(
        w.status(2).contains("alone; a shared claim never takes it"),
        "{}",
        w.status(2)
    );
    assert_eq!(w.a(API), set(&[3]));
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn a_free_name_takes_the_kind_of_its_longest_running_claimant() {
    let w = world();
    w.launch(2, SHARED);
    w.launch(1, API);
    w.launch(3, SHARED);
    let r = w.all().await;
    assert_eq!(w.owner(API), Some(owner(1)));
    assert_eq!(w.a(API), set(&[1]));
    assert_eq!(r.conflicts.len(), 2, "{r:?}");
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn without_shared_names_enabled_a_shared_entry_is_invalid_and_changes_nothing() {
    let w = World::new();
    w.launch(1, &format!("{SHARED},web.dyn.example.com"));
    let r = w.all().await;
    assert_eq!(w.a(API), None);
    assert!(
        w.a("web.dyn.example.com").is_some(),
        "the other name is published"
    );
    assert_eq!(r.skipped.len(), 1, "{r:?}");
    assert!(
        w.status(1)
            .contains("shared names are not enabled in this deployment (SHARED_NAMES)"),
        "{}",
        w.status(1)
    );
    w.assert_invariants();
}

#[tokio::test]
async fn a_member_joining_while_another_joins_loses_nothing_when_its_write_is_held() {
    let w = world();
    w.launch(1, SHARED);
    w.event(&[1]).await;
    w.launch(2, SHARED);
    w.launch(3, SHARED);
    // Instance 2's join is held just before its conditional write of the lock; instance
    // 3 joins meanwhile from the same lock.
    let gate = w.faults.hold(Op::Decide, Some(API), Phase::Before);
    let second = w.attempt(&[2]);
    let third = async {
        gate.wait_held().await;
        let r = w.event(&[3]).await;
        assert!(r.failed.is_empty(), "{r:?}");
        assert_eq!(w.a(API), set(&[1, 3]));
        gate.release();
    };
    let (second, ()) = tokio::join!(second, third);
    // Its write lost the compare-and-swap as a whole: nothing of it landed, the set is
    // the one the other run wrote, and the event is retried.
    let second = second.unwrap();
    assert!(
        second.failed.iter().any(|f| f.owner == Some(owner(2)))
            && second.failed.iter().all(|f| f.name == API),
        "{second:?}"
    );
    assert_eq!(w.a(API), set(&[1, 3]));
    w.assert_invariants();
    let r = w.event(&[2]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(API), set(&[1, 2, 3]));
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn a_member_leaving_while_a_join_is_in_flight_is_out_of_the_set_once_it_lands() {
    let w = world();
    w.launch(1, SHARED);
    w.launch(2, SHARED);
    w.all().await;
    w.launch(3, SHARED);
    // Instance 3's join is decided and its Route53 batch held on the way.
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let join = w.attempt(&[3]);
    let leave = async {
        gate.wait_held().await;
        w.set_state(2, InstanceState::Stopped);
        // The join is in flight: the leave waits for it instead of building on a set
        // that may or may not have landed.
        let r = w.event(&[2]).await;
        assert_eq!(r.failed.len(), 1, "{r:?}");
        gate.release();
    };
    let (join, ()) = tokio::join!(join, leave);
    assert!(join.unwrap().failed.is_empty());
    assert_eq!(w.a(API), set(&[1, 2, 3]), "the join landed as decided");
    let r = w.event(&[2]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.a(API), set(&[1, 3]), "no member stays after it stops");
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn a_set_records_the_members_its_lock_lists_before_newcomers_up_to_the_limit() {
    let w = world();
    let max = crate::decide::shared::MAX_MEMBERS as u32;
    for n in 1..=max + 2 {
        w.launch(n, SHARED);
    }
    let r = w.all().await;
    assert_eq!(members(&w).len(), max as usize);
    assert_eq!(r.conflicts.len(), 2, "{r:?}");
    assert!(
        w.status(max + 1).contains("is shared by a full set"),
        "{}",
        w.status(max + 1)
    );
    // A member leaves: the longest-waiting newcomer takes its place.
    w.set_state(5, InstanceState::Stopped);
    w.event(&[5]).await;
    w.all().await;
    assert!(members(&w).contains(&owner(max + 1)));
    assert!(!members(&w).contains(&owner(max + 2)));
    w.assert_invariants();
    w.assert_converged().await;
}
