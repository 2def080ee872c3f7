//! Slot names (`{slot}`): every running instance of a group gets the lowest free number,
//! keeps it, frees it when it stops, and no two running instances ever share one, under
//! any race. A slot is an ordinary name under its ordinary lock: the design's invariants
//! hold unchanged.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{InstanceState, Owner};
use crate::testing::faults::{Op, Phase};
use crate::testing::{owner, World};

const WEB: &str = "web-{slot}.dyn.example.com";

fn slot(n: u32) -> String {
    format!("web-{n}.dyn.example.com")
}

/// Which slot each owner holds, from the lock table; fails when one holds two or a slot's
/// records are not its holder's alone.
fn slots(w: &World) -> BTreeMap<Owner, String> {
    let mut out: BTreeMap<Owner, String> = BTreeMap::new();
    for (name, lock) in w.locks().snapshot() {
        let Some(holder) = lock.holder else { continue };
        if !name.as_str().starts_with("web-") {
            continue;
        }
        if let Some(other) = out.insert(holder.clone(), name.to_string()) {
            panic!("{holder} holds two slots: {other} and {name}");
        }
    }
    let values: BTreeSet<Vec<String>> = out.values().filter_map(|n| w.a(n)).collect();
    assert_eq!(
        values.len(),
        out.len(),
        "every slot its own address: {out:?}"
    );
    out
}

fn holds(pairs: &[(u32, u32)]) -> BTreeMap<Owner, String> {
    pairs.iter().map(|(i, n)| (owner(*i), slot(*n))).collect()
}

#[tokio::test]
async fn a_group_gets_the_lowest_numbers_in_launch_order_and_a_second_round_changes_nothing() {
    let w = World::new();
    for n in [3, 1, 2] {
        w.launch(n, WEB);
    }
    let r = w.all().await;
    assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
    assert_eq!(slots(&w), holds(&[(1, 1), (2, 2), (3, 3)]));
    assert_eq!(w.a(&slot(2)), Some(vec!["203.0.113.2".into()]));
    assert_eq!(w.status(2), format!("ok: {}", slot(2)));
    // The report's rows name the concrete names.
    let named: BTreeSet<String> = r.changes.iter().map(|c| c.name.to_string()).collect();
    assert_eq!(named, (1..=3).map(slot).collect());
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn a_stopped_instance_frees_its_slot_for_the_next_and_the_others_keep_theirs() {
    let w = World::new();
    for n in 1..=3 {
        w.launch(n, WEB);
        let r = w.event(&[n]).await;
        assert!(r.failed.is_empty(), "{r:?}");
    }
    assert_eq!(slots(&w), holds(&[(1, 1), (2, 2), (3, 3)]));
    w.set_state(2, InstanceState::Stopped);
    w.event(&[2]).await;
    assert_eq!(slots(&w), holds(&[(1, 1), (3, 3)]));
    assert_eq!(w.a(&slot(2)), None);
    w.launch(4, WEB);
    let r = w.event(&[4]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(slots(&w), holds(&[(1, 1), (3, 3), (4, 2)]));
    assert_eq!(w.status(4), format!("ok: {}", slot(2)));
    // Instance 2 starts again: it takes the next free number, nobody moves.
    w.restart_with_ip(2, 22);
    w.event(&[2]).await;
    assert_eq!(slots(&w), holds(&[(1, 1), (2, 4), (3, 3), (4, 2)]));
    // Freeing slot 1 moves nobody down: a running instance keeps its number.
    w.set_state(1, InstanceState::Terminated);
    w.event(&[1]).await;
    let r = w.all().await;
    assert!(r.failed.is_empty() && r.changes.is_empty(), "{r:?}");
    assert_eq!(slots(&w), holds(&[(2, 4), (3, 3), (4, 2)]));
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn an_instance_left_with_two_slots_keeps_the_lowest_and_releases_the_other() {
    let w = World::new();
    w.launch(1, "web-2.dyn.example.com,web-5.dyn.example.com");
    w.event(&[1]).await;
    assert_eq!(w.owner(&slot(5)), Some(owner(1)));
    // Its tag becomes the template (as a race could leave it): it holds two slots.
    w.set_tag(1, Some(WEB));
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(slots(&w), holds(&[(1, 2)]));
    assert_eq!(w.a(&slot(5)), None);
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn an_event_finds_a_free_slot_beyond_the_first_window_of_reads() {
    let w = World::new();
    let many = crate::decide::slots::FIRST_READ + 3;
    for n in 1..=many {
        w.launch(n, WEB);
    }
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    w.set_state(7, InstanceState::Stopped);
    w.event(&[7]).await;
    w.launch(200, WEB);
    w.launch(201, WEB);
    let r = w.event(&[200, 201]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    let got = slots(&w);
    assert_eq!(got[&owner(200)], slot(7));
    assert_eq!(got[&owner(201)], slot(many + 1));
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn two_claims_racing_for_one_slot_never_share_it_and_both_end_with_a_slot() {
    let w = World::new();
    w.launch(1, WEB);
    w.launch(2, WEB);
    // Instance 1's claim of slot 1 is held just before its conditional write; instance 2's
    // event, decided meanwhile from the same table, picks slot 1 too and wins it.
    let gate = w.faults.hold(Op::Decide, Some(&slot(1)), Phase::Before);
    let first = w.attempt(&[1]);
    let second = async {
        gate.wait_held().await;
        let r = w.event(&[2]).await;
        assert!(r.failed.is_empty(), "{r:?}");
        assert_eq!(slots(&w), holds(&[(2, 1)]));
        w.assert_invariants();
        gate.release();
    };
    let (first, ()) = tokio::join!(first, second);
    // The loser's write failed as a whole (nothing of it landed); the same call looked
    // again, read slot 1 as held and took slot 2.
    let first = first.unwrap();
    assert!(first.failed.is_empty(), "{first:?}");
    let named: BTreeSet<String> = first.changes.iter().map(|c| c.name.to_string()).collect();
    assert_eq!(named, [slot(2)].into());
    assert_eq!(slots(&w), holds(&[(1, 2), (2, 1)]));
    assert_eq!(w.status(1), format!("ok: {}", slot(2)));
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn a_claim_that_loses_every_look_is_retried_through_its_input_and_then_gets_a_slot() {
    let w = World::new();
    for n in 1..=4 {
        w.launch(n, WEB);
    }
    // Instance 1 looks three times (SLOT_ATTEMPTS); each time another instance's event
    // takes the slot it picked just before its write.
    let gates: Vec<_> = (1..=3)
        .map(|n| w.faults.hold(Op::Decide, Some(&slot(n)), Phase::Before))
        .collect();
    let first = w.attempt(&[1]);
    let others = async {
        for (i, gate) in gates.iter().enumerate() {
            gate.wait_held().await;
            let r = w.event(&[i as u32 + 2]).await;
            assert!(r.failed.is_empty(), "{r:?}");
            w.assert_invariants();
            gate.release();
        }
    };
    let (first, ()) = tokio::join!(first, others);
    let first = first.unwrap();
    assert_eq!(
        crate::engine::SLOT_ATTEMPTS,
        3,
        "the gates above expect three looks"
    );
    // Bounded: the call gives up with a failure (its input is retried), nothing shared.
    assert_eq!(first.failed.len(), 1, "{first:?}");
    assert_eq!(slots(&w), holds(&[(2, 1), (3, 2), (4, 3)]));
    let retry = w.event(&[1]).await;
    assert!(retry.failed.is_empty(), "{retry:?}");
    assert_eq!(slots(&w), holds(&[(1, 4), (2, 1), (3, 2), (4, 3)]));
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn a_claimant_never_waits_for_a_held_slot_and_an_invalid_template_is_said_so() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.launch(2, WEB);
    let r = w.event(&[2]).await;
    assert!(r.conflicts.is_empty(), "{r:?}");
    assert!(
        w.locks().snapshot().values().all(|l| l.waiting.is_empty()),
        "nobody waits"
    );
    w.launch(3, "web.{slot}.dyn.example.com");
    w.event(&[3]).await;
    assert_eq!(
        w.status(3),
        "invalid: web.{slot}.dyn.example.com ({slot} must be in the first label)"
    );
    w.assert_invariants();
}

#[tokio::test]
async fn a_holder_with_a_template_described_by_an_event_leaves_the_claimant_a_slot_that_was_read() {
    let w = World::new();
    // Slots 1 to 33 held, then 32 freed: the first window of reads has one free slot.
    for n in 3..=35 {
        w.launch(n, WEB);
    }
    w.all().await;
    w.set_state(34, InstanceState::Stopped);
    w.event(&[34]).await;
    assert_eq!(w.owner(&slot(32)), None);
    // Instance 1 (launched first) holds `shared`, and its tag gained the template since
    // its last event; instance 2 asks for both. Instance 2's event describes instance 1
    // (the holder of `shared`), which the assignment serves first: slot 32 is its.
    w.launch(1, "shared.dyn.example.com");
    w.event(&[1]).await;
    let both = "shared.dyn.example.com,web-{slot}.dyn.example.com";
    w.set_tag(1, Some(both));
    w.launch(2, both);
    let r = w.event(&[2]).await;
    // Instance 2 gets a slot in that event: one that was read and found free (slot 33 is
    // held; a claim of it would fail on every look).
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.owner(&slot(34)), Some(owner(2)));
    let r = w.event(&[1]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(w.owner(&slot(32)), Some(owner(1)));
    slots(&w);
    w.assert_invariants();
    w.assert_converged().await;
}

#[tokio::test]
async fn a_slot_costs_one_read_more_than_a_plain_name() {
    let w = World::with_domains("dyn.example.com,other.example.org");
    let tag = "web-{slot}.other.example.org";
    w.launch(1, tag);
    crate::ports::Dns::zones(&w.rec.dns).await.unwrap(); // a warm container
    w.faults.reset_calls();
    w.event(&[1]).await;
    // The owner index, then the first window of slot items.
    assert_eq!(
        w.faults.calls(),
        [
            Op::DescribeInstances,
            Op::LoadLocks,
            Op::LoadLocks,
            Op::Decide,
            Op::ChangeResourceRecordSets,
            Op::CreateTags
        ]
    );
    w.advance(10);
    w.faults.reset_calls();
    w.event(&[1]).await;
    // Steady: the owner index names the slot, whose item is read next.
    assert_eq!(
        w.faults.calls(),
        [Op::DescribeInstances, Op::LoadLocks, Op::LoadLocks]
    );
}

#[tokio::test]
async fn a_slot_another_instance_spells_out_is_not_given_to_a_newcomer() {
    let w = World::new();
    // Instance 1 asks for web-1 by name, before anyone holds it; instance 2 for a slot.
    w.launch(1, "web-1.dyn.example.com");
    w.launch(2, "web-{slot}.dyn.example.com");
    let r = w.all().await;
    assert!(r.conflicts.is_empty() && r.failed.is_empty(), "{r:?}");
    assert_eq!(w.owner("web-1.dyn.example.com"), Some(owner(1)));
    assert_eq!(w.owner("web-2.dyn.example.com"), Some(owner(2)));
    w.assert_converged().await;
}
