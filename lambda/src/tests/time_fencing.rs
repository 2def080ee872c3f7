//! Promises across time (issue 18): an observation older than a decision never overrides
//! it, a lost answer is read back before anything is concluded from it, and no Route53 call
//! is sent once its change window has closed. Each test holds a call of one run while
//! another acts, or loses an answer, at exactly the moment the defect needed.

use crate::engine::CHANGE_WINDOW;
use crate::model::InstanceState;
use crate::testing::faults::{Op, Phase};
use crate::testing::{owner, World};

const WEB: &str = "web.dyn.example.com";
const API: &str = "api.dyn.example.com";

#[tokio::test]
async fn a_reconcile_of_everything_never_releases_a_claim_made_after_it_listed_ec2() {
    let w = World::new();
    w.launch(1, WEB);
    w.set_state(1, InstanceState::Stopped);
    // The reconcile has listed EC2 (instance 1 stopped); its answer waits.
    let gate = w.faults.hold(Op::TaggedInstances, None, Phase::After);
    let all = w.all();
    let start = async {
        gate.wait_held().await;
        w.restart_with_ip(1, 7);
        let claim = w.event(&[1]).await;
        assert!(claim.failed.is_empty(), "{claim:?}");
        gate.release();
    };
    let (during, ()) = tokio::join!(all, start);

    assert!(during.changes.is_empty(), "{during:?}");
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.7".into()]));
    assert!(!w.status(1).contains("released"), "{}", w.status(1));
    let again = w.all().await;
    assert!(again.failed.is_empty(), "{again:?}");
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn a_reconcile_of_everything_never_publishes_an_address_its_holder_gave_up_meanwhile() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    // The reconcile has listed EC2 (instance 1 running on 203.0.113.1); its answer waits.
    let gate = w.faults.hold(Op::TaggedInstances, None, Phase::After);
    let all = w.all();
    let stop = async {
        gate.wait_held().await;
        w.set_state(1, InstanceState::Stopped);
        let released = w.event(&[1]).await;
        assert!(released.failed.is_empty(), "{released:?}");
        assert_eq!(w.a(WEB), None);
        gate.release();
    };
    let (during, ()) = tokio::join!(all, stop);

    // The address went back to AWS with the stop: publishing it again would dangle.
    assert_eq!(w.a(WEB), None, "{during:?}");
    assert_eq!(w.private_a(WEB), None);
    assert_eq!(w.owner(WEB), None);
    w.all().await;
    assert_eq!(w.a(WEB), None);
    w.assert_converged().await;
}

#[tokio::test]
async fn an_event_reads_ec2_again_when_a_lock_was_decided_after_its_first_look() {
    let w = World::new();
    w.launch(1, WEB);
    w.set_state(1, InstanceState::Stopped);
    // A late event about the stop has seen the instance stopped; its answer waits.
    let gate = w.faults.hold(Op::DescribeInstances, None, Phase::After);
    let late = w.attempt(&[1]);
    let start = async {
        gate.wait_held().await;
        w.restart_with_ip(1, 8);
        let claim = w.event(&[1]).await;
        assert!(claim.failed.is_empty(), "{claim:?}");
        gate.release();
    };
    let (late, ()) = tokio::join!(late, start);

    let late = late.expect("the late event settles");
    assert!(late.changes.is_empty(), "{late:?}");
    assert_eq!(w.owner(WEB), Some(owner(1)));
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.8".into()]));
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn a_lock_write_whose_answer_was_lost_is_read_back_and_carried_through() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    // A new address (an Elastic IP): the lock write lands, its answer is lost, and the
    // repeat fails its condition on the first attempt's own item.
    w.restart_with_ip(1, 9);
    let lost = w.faults.replay_op(Op::Decide, Some(WEB));

    let first = w.event(&[1]).await;

    assert_eq!(lost.fired(), 1);
    assert!(first.failed.is_empty(), "{first:?}");
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.9".into()]));
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn another_runs_identical_decision_is_not_taken_for_this_runs_own() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.restart_with_ip(1, 10);
    // Two events about the same change decide the same generation from the same version;
    // one is held before its lock write until the other has written and sent everything.
    let gate = w.faults.hold(Op::Decide, Some(WEB), Phase::Before);
    let slow = w.attempt(&[1]);
    let fast = async {
        gate.wait_held().await;
        let done = w.event(&[1]).await;
        assert!(done.failed.is_empty(), "{done:?}");
        gate.release();
    };
    let (slow, ()) = tokio::join!(slow, fast);

    // The slow run lost its compare-and-swap: it reads the item back, finds another run's
    // token, and sends nothing (it does not report the other run's changes as its own).
    let slow = slow.expect("the slow run settles");
    assert!(slow.changes.is_empty(), "{slow:?}");
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.10".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn no_batch_is_sent_once_the_change_window_has_closed() {
    let mut w = World::new();
    w.launch(1, WEB);
    w.launch(2, API);
    w.faults.reset_calls();
    // Both names' public batch is slow: while it is on its way, someone writes a record at
    // one of the names (so Route53 refuses the batch) and the window closes.
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let claim = w.attempt(&[1, 2]);
    let public = w.public.clone();
    let late = async {
        gate.wait_held().await;
        w.route53().put(&public, API, "A", 300, &["192.0.2.50"]);
        w.advance(CHANGE_WINDOW + 60);
        gate.release();
    };
    let (claim, ()) = tokio::join!(claim, late);

    // Refused as a whole, the batch would be tried name by name: not after the window.
    let claim = claim.expect("the run settles");
    assert_eq!(claim.failed.len(), 2, "{claim:?}");
    assert_eq!(
        w.faults.count(Op::ChangeResourceRecordSets),
        2,
        "private, then public"
    );
    assert_eq!(w.a(WEB), None);
    w.put_foreign(&public, API, "A", &["192.0.2.50"]);
    let next = w.all().await;
    assert!(next.failed.is_empty(), "{next:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.a(API), Some(vec!["192.0.2.50".into()]));
    assert_eq!(w.owner(API), Some(owner(2)));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_holder_ec2_could_not_describe_is_a_retry_for_its_claimant_not_a_conflict() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.launch(2, WEB);
    w.advance(60);
    // The claimant is described; then EC2 fails to answer about the holder.
    let gate = w.faults.hold(Op::DescribeInstances, None, Phase::After);
    let claim = w.attempt(&[2]);
    let fail = async {
        gate.wait_held().await;
        w.faults.fail(Op::DescribeInstances, Phase::Before, 1);
        gate.release();
    };
    let (claim, ()) = tokio::join!(claim, fail);

    let claim = claim.expect("the run settles");
    assert!(claim.conflicts.is_empty(), "{claim:?}");
    let row = claim
        .failed
        .iter()
        .find(|f| f.name == WEB)
        .expect("the claimant's name failed");
    assert!(row.reason.contains("could not be observed"), "{claim:?}");
    assert!(crate::retry::must_retry(
        &claim,
        &crate::input::Hint::Owners([owner(2)].into())
    ));
    let again = w.event(&[2]).await;
    assert_eq!(again.conflicts.len(), 1, "{again:?}");
    assert_eq!(w.owner(WEB), Some(owner(1)));
}

#[tokio::test]
async fn the_items_of_names_nobody_claims_go_once_no_change_of_theirs_can_land() {
    // Five instances of a group, each its own name; the group scales in.
    let w = World::new();
    for n in 1..=5 {
        w.launch(n, "web-{id}.dyn.example.com");
    }
    w.all().await;
    assert_eq!(w.locks().snapshot().len(), 5);
    for n in 1..=5 {
        w.set_state(n, InstanceState::Terminated);
    }
    w.event(&[1, 2, 3, 4, 5]).await;
    assert!(w.route53().snapshot().is_empty() || w.a("web-i-00000001.dyn.example.com").is_none());

    // While the releases may still be landing, the free items stay.
    let during = w.all().await;
    assert!(during.failed.is_empty(), "{during:?}");
    assert_eq!(w.locks().snapshot().len(), 5, "kept within the window");

    w.advance(CHANGE_WINDOW + 60);
    w.faults.reset_calls();
    let after = w.all().await;
    assert!(
        after.failed.is_empty() && after.changes.is_empty(),
        "{after:?}"
    );
    assert!(
        w.locks().snapshot().is_empty(),
        "{:?}",
        w.locks().snapshot()
    );
    assert_eq!(w.faults.count(Op::Forget), 5);
    let again = w.all().await;
    assert!(again.changes.is_empty(), "{again:?}");
    assert_eq!(w.faults.count(Op::Forget), 5, "nothing more to forget");

    // A name comes back: a fresh claim, published as any first claim.
    w.launch(6, "web-i-00000001.dyn.example.com");
    let back = w.event(&[6]).await;
    assert!(back.failed.is_empty(), "{back:?}");
    assert_eq!(
        w.a("web-i-00000001.dyn.example.com"),
        Some(vec!["203.0.113.6".into()])
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_free_name_is_kept_while_its_release_failed_or_someone_waits_or_claims_it() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    // The release's Route53 change fails: the item is flagged, and must stay.
    w.faults
        .fail(Op::ChangeResourceRecordSets, Phase::Before, 2);
    let failed = w.event(&[1]).await;
    assert!(!failed.failed.is_empty(), "{failed:?}");
    w.advance(CHANGE_WINDOW + 60);
    // A stopped instance still names it; the reconcile repairs (deletes) and keeps the item
    // until a later run sees it quiet.
    w.all().await;
    assert!(w
        .locks()
        .snapshot()
        .contains_key(&crate::testing::name(WEB)));
    assert_eq!(w.a(WEB), None);
    w.advance(CHANGE_WINDOW + 60);
    w.all().await;
    assert!(!w
        .locks()
        .snapshot()
        .contains_key(&crate::testing::name(WEB)));
    w.assert_converged().await;
}
