//! Any single failure, at any call, before or after it takes effect, reads included: the
//! failing run may report or raise, and the next event converges. Every injected fault is
//! shown to have fired.

use crate::engine::Request;
use crate::model::{InstanceState, Scope};
use crate::testing::faults::{Op, Phase};
use crate::testing::{name, owner, World};

const WEB: &str = "web.dyn.example.com";

/// A start → restart → handover → stop story; `step` says how far it has gone.
fn story(w: &World, step: usize) {
    match step {
        0 => {}
        1 => w.restart_with_ip(1, 7),
        2 => w.set_state(1, InstanceState::Stopped),
        _ => w.set_state(2, InstanceState::Terminated),
    }
}

async fn world_at(step: usize) -> World {
    let w = World::new();
    w.launch(1, WEB);
    w.launch(2, WEB);
    for s in 0..step {
        story(&w, s);
        w.event(&[1, 2]).await;
    }
    story(&w, step);
    w
}

fn check(w: &World, step: usize, ctx: &str) {
    let holder = w
        .locks()
        .snapshot()
        .get(&name(WEB))
        .and_then(|l| l.holder.clone());
    match step {
        0 => assert_eq!(holder, Some(owner(1)), "{ctx}"),
        1 => {
            assert_eq!(holder, Some(owner(1)), "{ctx}");
            assert_eq!(w.a(WEB), Some(vec!["198.51.100.7".into()]), "{ctx}");
        }
        2 => {
            assert_eq!(holder, Some(owner(2)), "{ctx}");
            assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]), "{ctx}");
        }
        _ => {
            assert_eq!(holder, None, "{ctx}");
            assert!(w.route53().snapshot().is_empty(), "{ctx}");
        }
    }
}

#[tokio::test]
async fn any_single_failure_converges_on_the_next_event() {
    let req = Request {
        names: Default::default(),
        scope: Scope::Owners([owner(1), owner(2)].into()),
        verify_dns: false,
        dry_run: false,
        deadline: None,
    };
    let mut injected = 0;
    for step in 0..4 {
        // The calls this step makes, found by running it once without faults.
        let probe = world_at(step).await;
        probe.faults.reset_calls();
        probe.run(req.clone()).await;
        let mut ops = probe.faults.calls();
        ops.sort();
        ops.dedup();
        assert!(!ops.is_empty());
        for op in ops {
            for phase in [Phase::Before, Phase::After] {
                let w = world_at(step).await;
                let fault = w.faults.fail(op, phase, 1);
                let _ = w.rec.reconcile(&req).await;
                let ctx = format!("step {step}, {op:?} {phase:?}");
                assert_eq!(fault.fired(), 1, "{ctx}: the fault never fired");
                injected += 1;
                w.faults.clear();
                w.event(&[1, 2]).await;
                check(&w, step, &ctx);
                w.assert_invariants();
                w.assert_converged().await;
            }
        }
    }
    assert!(injected >= 40, "only {injected} faults injected");
}

#[tokio::test]
async fn any_single_failure_of_a_reconcile_of_everything_converges_on_the_next_one() {
    for step in 0..4 {
        let probe = world_at(step).await;
        probe.faults.reset_calls();
        probe.all().await;
        let mut ops = probe.faults.calls();
        ops.sort();
        ops.dedup();
        assert!(ops.contains(&Op::ScanLocks) && ops.contains(&Op::TaggedInstances));
        for op in ops {
            for phase in [Phase::Before, Phase::After] {
                let w = world_at(step).await;
                let fault = w.faults.fail(op, phase, 1);
                let _ = w
                    .rec
                    .reconcile(&Request {
                        names: Default::default(),
                        scope: Scope::All,
                        verify_dns: true,
                        dry_run: false,
                        deadline: None,
                    })
                    .await;
                let ctx = format!("step {step}, reconcile-all, {op:?} {phase:?}");
                assert_eq!(fault.fired(), 1, "{ctx}: the fault never fired");
                w.faults.clear();
                w.all().await;
                check(&w, step, &ctx);
                w.assert_converged().await;
            }
        }
    }
}

#[tokio::test]
async fn a_zone_list_that_cannot_be_read_fails_the_run_and_writes_nothing() {
    let w = World::new();
    w.launch(1, WEB);
    let fault = w.faults.fail(Op::ListHostedZones, Phase::After, 1);
    assert!(w.rec.reconcile(&World::request(&[1])).await.is_err());
    assert_eq!(fault.fired(), 1);
    assert_eq!(w.faults.writes(), 0);
    w.event(&[1]).await;
    w.assert_converged().await;
}
