//! The round trips an event waits for, one after another: reads that do not depend on
//! each other go out together, and so do writes that do not. Each test holds one call and
//! proves the other was made meanwhile; the state after is checked as everywhere else.

use crate::testing::faults::{Op, Phase};
use crate::testing::World;

const WEB: &str = "web.dyn.example.com";

#[tokio::test]
async fn a_fresh_claim_tags_its_instance_beside_its_route53_changes_in_every_zone() {
    let w = World::new();
    w.launch(1, WEB);
    crate::ports::Dns::zones(&w.rec.dns).await.unwrap(); // a warm container
    w.faults.reset_calls();
    let public = w
        .faults
        .hold(Op::ChangeResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let claim = w.event(&[1]);
    let meanwhile = async {
        public.wait_held().await;
        // The public zone's batch waits: the private zone's went out, and the status tag
        // that the lock write decided.
        assert_eq!(w.called(Op::CreateTags, 1).await, 1);
        assert_eq!(w.called(Op::ChangeResourceRecordSets, 2).await, 2);
        assert_eq!(w.status(1), "ok");
        assert_eq!(w.private_a(WEB), Some(vec!["10.0.0.1".into()]));
        public.release();
    };
    let (claim, ()) = tokio::join!(claim, meanwhile);
    assert!(claim.failed.is_empty(), "{claim:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.faults.count(Op::CreateTags), 1, "nothing to say again");
    assert_eq!(w.faults.calls().len(), 6, "{:?}", w.faults.counts());
    w.assert_converged().await;
}

#[tokio::test]
async fn a_status_written_beside_a_change_that_then_fails_says_the_failure() {
    let w = World::new();
    w.launch(1, WEB);
    let refused = w
        .faults
        .fail_for(Op::ChangeResourceRecordSets, "ZPUBLIC", Phase::Before, 1);
    let first = w.attempt(&[1]).await.expect("the run settles");
    assert_eq!(refused.fired(), 1);
    assert_eq!(first.failed.len(), 1, "{first:?}");
    // Written as `ok` beside the change, then said again once the change failed.
    assert_eq!(w.faults.count(Op::CreateTags), 2);
    let status = w.status(1);
    assert!(status.starts_with(&format!("error: {WEB} (")), "{status}");
    assert_eq!(w.a(WEB), None);

    // The retry publishes and says so.
    let again = w.event(&[1]).await;
    assert!(again.failed.is_empty(), "{again:?}");
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn a_lost_lock_write_tags_nothing_beside_the_changes() {
    let w = World::new();
    w.launch(1, WEB);
    let lost = w.faults.fail(Op::Decide, Phase::Before, 1);
    let first = w.attempt(&[1]).await.expect("the run settles");
    assert_eq!(lost.fired(), 1);
    assert_eq!(first.failed.len(), 1, "{first:?}");
    // Nothing was decided: no change sent, and the tag keeps its value until the retry.
    assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 0);
    assert_eq!(w.faults.count(Op::CreateTags), 0);
    assert_eq!(w.status(1), "");
    w.event(&[1]).await;
    assert_eq!(w.status(1), "ok");
    w.assert_converged().await;
}

#[tokio::test]
async fn a_name_in_flight_is_read_in_its_zones_at_once() {
    let w = World::new();
    w.launch(1, WEB);
    w.event(&[1]).await;
    // Stopped right after its claim: the claim's change may still be in flight, so the
    // stop reads what the public and the private zone hold before it decides.
    w.set_state(1, crate::model::InstanceState::Stopped);
    w.faults.reset_calls();
    let public = w
        .faults
        .hold(Op::ListResourceRecordSets, Some("ZPUBLIC"), Phase::Before);
    let stop = w.event(&[1]);
    let meanwhile = async {
        public.wait_held().await;
        assert_eq!(
            w.called(Op::ListResourceRecordSets, 2).await,
            2,
            "the private zone too"
        );
        public.release();
    };
    let (stop, ()) = tokio::join!(stop, meanwhile);
    assert!(stop.failed.is_empty(), "{stop:?}");
    assert_eq!(w.a(WEB), None);
    assert_eq!(w.private_a(WEB), None);
    assert_eq!(w.owner(WEB), None);
    w.assert_converged().await;
}
