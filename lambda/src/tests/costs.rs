//! The calls that scale, counted: per event, per burst and per reconcile of everything.
//! (`make bench` measures the same against emulated AWS; these keep them from drifting.)

use super::writes;
use crate::engine::CHANGE_WINDOW;
use crate::model::InstanceState;
use crate::testing::faults::{Op, Phase};
use crate::testing::World;

/// A name in a domain with only a public zone.
const ONE_ZONE: &str = "web.other.example.org";

fn world() -> World {
    World::with_domains("dyn.example.com,other.example.org")
}

fn total(w: &World) -> usize {
    w.faults.calls().len()
}

#[tokio::test]
async fn a_fresh_claim_costs_five_calls_with_one_zone_and_one_more_per_zone() {
    let w = world();
    w.launch(1, ONE_ZONE);
    crate::ports::Dns::zones(&w.rec.dns).await.unwrap(); // a warm container
    w.faults.reset_calls();
    w.event(&[1]).await;
    assert_eq!(total(&w), 5, "{:?}", w.faults.counts());
    for op in [
        Op::DescribeInstances,
        Op::LoadLocks,
        Op::Decide,
        Op::ChangeResourceRecordSets,
        Op::CreateTags,
    ] {
        assert_eq!(w.faults.count(op), 1, "{op:?}");
    }
    w.launch(2, "web.dyn.example.com");
    w.faults.reset_calls();
    w.event(&[2]).await;
    assert_eq!(
        total(&w),
        6,
        "public and private zone: {:?}",
        w.faults.counts()
    );
}

#[tokio::test]
async fn a_steady_state_event_costs_two_reads_on_one_round_trip() {
    let w = world();
    w.launch(1, ONE_ZONE);
    w.event(&[1]).await;
    w.advance(10);
    w.faults.reset_calls();
    // The container read this owner's lock items last time: it reads them again beside EC2,
    // not after it. EC2's answer is held until the lock items were read.
    let gate = w.faults.hold(Op::DescribeInstances, None, Phase::Before);
    let steady = w.event(&[1]);
    let beside = async {
        gate.wait_held().await;
        assert_eq!(
            w.called(Op::LoadLocks, 1).await,
            1,
            "read while EC2 is asked"
        );
        gate.release();
    };
    let (steady, ()) = tokio::join!(steady, beside);
    assert!(steady.changes.is_empty(), "{steady:?}");
    assert_eq!(total(&w), 2, "{:?}", w.faults.counts());
    assert_eq!(w.faults.count(Op::DescribeInstances), 1);

    // A cold container guesses nothing: EC2 first, then the items its tag names.
    let cold = w.container();
    crate::ports::Dns::zones(&cold.rec.dns).await.unwrap();
    cold.faults.reset_calls();
    cold.event(&[1]).await;
    assert_eq!(cold.faults.calls(), [Op::DescribeInstances, Op::LoadLocks]);

    // Within CLOCK_SKEW of a decision another container wrote, EC2 may have been read
    // before it was written: it is read once more (invariant 9). One this container wrote
    // before its look began is older than the look, whatever the clocks say.
    w.launch(2, "db.dyn.example.com");
    w.event(&[2]).await;
    w.faults.reset_calls();
    w.event(&[2]).await;
    assert_eq!(total(&w), 2, "{:?}", w.faults.counts());
    cold.faults.reset_calls();
    cold.event(&[2]).await;
    assert_eq!(
        cold.faults.calls(),
        [Op::DescribeInstances, Op::LoadLocks, Op::DescribeInstances]
    );
}

#[tokio::test]
async fn a_stop_costs_five_calls_with_one_zone() {
    let w = world();
    w.launch(1, ONE_ZONE);
    w.event(&[1]).await;
    w.advance(CHANGE_WINDOW + 60);
    w.set_state(1, InstanceState::Stopped);
    w.faults.reset_calls();
    w.event(&[1]).await;
    assert_eq!(total(&w), 5, "{:?}", w.faults.counts());
    // Right after the claim, the claim's generation may still be in flight: one Route53
    // read more; and in another container, EC2 is read twice (the claim may be newer than
    // its first look).
    w.set_state(1, InstanceState::Running);
    w.ec2().update(&crate::testing::owner(1), |i| {
        i.public_ipv4 = Some("203.0.113.1".parse().unwrap())
    });
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    let other = w.container();
    crate::ports::Dns::zones(&other.rec.dns).await.unwrap();
    other.faults.reset_calls();
    other.event(&[1]).await;
    assert_eq!(total(&other), 7, "{:?}", other.faults.counts());
    assert_eq!(other.faults.count(Op::ListResourceRecordSets), 1);
    assert_eq!(other.faults.count(Op::DescribeInstances), 2);
}

#[tokio::test]
async fn a_burst_of_a_thousand_fresh_names_is_cheap() {
    let w = world();
    let all: Vec<u32> = (1..=1000).collect();
    for n in &all {
        w.launch(*n, &format!("host{n}.dyn.example.com"));
    }
    w.faults.reset_calls();
    // One plan for the whole batch (not chunks of 500): its status tags go out beside its
    // first Route53 batch, held here.
    let first = w
        .faults
        .hold(Op::ChangeResourceRecordSets, None, Phase::Before);
    let burst = w.event(&all);
    let beside = async {
        first.wait_held().await;
        let tags = w.called(Op::CreateTags, 1).await;
        assert_eq!(tags, 1, "one tag value for all, meanwhile");
        first.release();
    };
    let (r, ()) = tokio::join!(burst, beside);
    assert!(
        r.failed.is_empty(),
        "{:?}",
        &r.failed[..r.failed.len().min(3)]
    );
    let counts = w.faults.counts();
    assert_eq!(counts.get(&Op::DescribeInstances), Some(&1), "{counts:?}");
    assert!(
        counts[&Op::ChangeResourceRecordSets] <= 4,
        "two zones, two batches each: {counts:?}"
    );
    assert!(counts[&Op::Decide] <= 1000, "{counts:?}");
    assert!(
        counts[&Op::CreateTags] <= 10,
        "grouped by value: {counts:?}"
    );
    assert_eq!(
        counts.get(&Op::ListResourceRecordSets),
        None,
        "fresh claims read nothing"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_reconcile_of_a_converged_fleet_only_reads() {
    let w = world();
    for n in 1..=50 {
        w.launch(n, &format!("host{n}.dyn.example.com"));
    }
    w.launch(51, "host1.dyn.example.com");
    w.event(&(1..=51).collect::<Vec<_>>()).await;
    w.all().await;
    w.faults.reset_calls();
    let r = w.all().await;
    assert!(r.changes.is_empty(), "{r:?}");
    assert_eq!(writes(&w), 0, "{:?}", w.faults.counts());
}

/// A `{slot}` name in a domain with only a public zone.
const SLOT: &str = "web-{slot}.other.example.org";

#[tokio::test]
async fn a_slot_claim_and_stop_cost_one_read_more_than_a_plain_name_and_a_lost_slot_one_look_more()
{
    let w = world();
    w.launch(1, SLOT);
    w.launch(2, SLOT);
    crate::ports::Dns::zones(&w.rec.dns).await.unwrap(); // a warm container
    w.faults.reset_calls();
    w.event(&[1]).await;
    // A fresh claim's five calls, and one read of the first window of slot items.
    assert_eq!(total(&w), 6, "{:?}", w.faults.counts());
    assert_eq!(w.faults.count(Op::LoadLocks), 2);
    assert_eq!(
        w.owner("web-1.other.example.org"),
        Some(crate::testing::owner(1))
    );

    // Instance 3's claim of slot 2 is held before its conditional write while instance 2's
    // event takes slot 2: instance 3's write fails, and the same call looks again.
    w.launch(3, SLOT);
    w.advance(CHANGE_WINDOW + 60);
    let gate = w.faults.hold(
        Op::Decide,
        Some("web-2.other.example.org"),
        crate::testing::faults::Phase::Before,
    );
    w.faults.reset_calls();
    let loser = async {
        let r = w.attempt(&[3]).await.unwrap();
        assert!(r.failed.is_empty(), "{r:?}");
    };
    let winner = async {
        gate.wait_held().await;
        // The loser's first look: EC2, the owner index, the slot window, its write (held).
        assert_eq!(
            w.faults.calls(),
            [
                Op::DescribeInstances,
                Op::LoadLocks,
                Op::LoadLocks,
                Op::Decide
            ]
        );
        w.faults.reset_calls();
        w.event(&[2]).await;
        assert_eq!(total(&w), 6, "the winner's claim: {:?}", w.faults.counts());
        w.faults.reset_calls();
        gate.release();
    };
    tokio::join!(loser, winner);
    // After its lost write (counted with the winner's calls: logged as it was held), the
    // loser reads the item back (lost race, or a lost answer to its own write?), then looks
    // again: EC2, the owner index, the slot window (the winner's lock is seconds old, but
    // this container wrote it before the look began: EC2 is not read once more); then its
    // write, its batch, its tag.
    assert_eq!(
        w.faults.calls(),
        [
            Op::LoadLocks,
            Op::DescribeInstances,
            Op::LoadLocks,
            Op::LoadLocks,
            Op::Decide,
            Op::ChangeResourceRecordSets,
            Op::CreateTags
        ]
    );
    assert_eq!(
        w.owner("web-3.other.example.org"),
        Some(crate::testing::owner(3))
    );

    // Its stop costs a settled stop's five calls, and one read more: the tag names only the
    // template, so the slot's item is read once the owner index has named it.
    w.advance(CHANGE_WINDOW + 60);
    w.set_state(3, InstanceState::Stopped);
    w.faults.reset_calls();
    w.event(&[3]).await;
    assert_eq!(total(&w), 6, "{:?}", w.faults.counts());
    assert_eq!(w.faults.count(Op::LoadLocks), 2);
    assert_eq!(w.owner("web-3.other.example.org"), None);
    w.assert_converged().await;
}
