//! The calls that scale, counted: per event, per burst and per reconcile of everything.
//! (`make bench` measures the same against emulated AWS; these keep them from drifting.)

use super::writes;
use crate::engine::CHANGE_WINDOW;
use crate::model::InstanceState;
use crate::testing::faults::Op;
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
async fn a_steady_state_event_costs_two_reads() {
    let w = world();
    w.launch(1, ONE_ZONE);
    w.event(&[1]).await;
    w.advance(10);
    w.faults.reset_calls();
    w.event(&[1]).await;
    assert_eq!(w.faults.calls(), [Op::DescribeInstances, Op::LoadLocks]);
    // Within CLOCK_SKEW of a decision, EC2 may have been read before it was written: it is
    // read once more (invariant 9).
    w.launch(2, "db.dyn.example.com");
    w.event(&[2]).await;
    w.faults.reset_calls();
    w.event(&[2]).await;
    assert_eq!(
        w.faults.calls(),
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
    // read more; and EC2 is read twice (the claim is newer than the first look).
    w.set_state(1, InstanceState::Running);
    w.ec2().update(&crate::testing::owner(1), |i| {
        i.public_ipv4 = Some("203.0.113.1".parse().unwrap())
    });
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    w.faults.reset_calls();
    w.event(&[1]).await;
    assert_eq!(total(&w), 7, "{:?}", w.faults.counts());
    assert_eq!(w.faults.count(Op::ListResourceRecordSets), 1);
    assert_eq!(w.faults.count(Op::DescribeInstances), 2);
}

#[tokio::test]
async fn a_burst_of_a_thousand_fresh_names_is_cheap() {
    let w = world();
    let all: Vec<u32> = (1..=1000).collect();
    for n in &all {
        w.launch(*n, &format!("host{n}.dyn.example.com"));
    }
    w.faults.reset_calls();
    let r = w.event(&all).await;
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
