//! Auto Scaling lifecycle hooks and warm pools ([`crate::fleet`]): launch actions are
//! completed with `CONTINUE` once the names are published and in sync (whatever DNS came
//! to), terminate actions once the names are removed; warm-pool instances are never
//! published, by their events or by a reconcile of everything. The example events are
//! those of Auto Scaling's documentation ("Warm pool example events and patterns").

use std::time::Duration;

use serde_json::{json, Value};

use crate::fleet::Wait;

use crate::handler::handle_with;
use crate::model::{Completion, InstanceState, LifecycleAction, Owner, Place, Transition};
use crate::ports::Groups;
use crate::testing::fakes::FakeQueue;
use crate::testing::faults::{Op, Phase};
use crate::testing::{home, id, owner, World};

const NAME: &str = "web.dyn.example.com";
const LAUNCH: &str = "web-launch";
const TERMINATE: &str = "web-terminate";

/// A lifecycle action event as Auto Scaling sends it to EventBridge.
fn event(n: u32, hook: &str, transition: Transition, origin: &str, destination: &str) -> Value {
    let (detail_type, lifecycle) = match transition {
        Transition::Launching => (
            "EC2 Instance-launch Lifecycle Action",
            "autoscaling:EC2_INSTANCE_LAUNCHING",
        ),
        Transition::Terminating => (
            "EC2 Instance-terminate Lifecycle Action",
            "autoscaling:EC2_INSTANCE_TERMINATING",
        ),
    };
    json!({
        "version": "0", "id": "12345678-1234-1234-1234-123456789012",
        "detail-type": detail_type, "source": "aws.autoscaling",
        "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:d4738357-2d40-4038-ae7e-b00ae0227003:autoScalingGroupName/web"],
        "detail": {
            "LifecycleActionToken": format!("71514b9d-6a40-4b26-8523-{n:012}"),
            "AutoScalingGroupName": "web",
            "LifecycleHookName": hook,
            "EC2InstanceId": id(n).to_string(),
            "LifecycleTransition": lifecycle,
            "NotificationMetadata": "additional-info",
            "Origin": origin,
            "Destination": destination
        }
    })
}

fn launch(n: u32) -> Value {
    event(n, LAUNCH, Transition::Launching, "EC2", "AutoScalingGroup")
}

fn terminate(n: u32) -> Value {
    event(
        n,
        TERMINATE,
        Transition::Terminating,
        "AutoScalingGroup",
        "EC2",
    )
}

/// The action an event describes, as Auto Scaling holds it.
fn action(e: &Value) -> LifecycleAction {
    let d = &e["detail"];
    let s = |k: &str| d[k].as_str().unwrap().to_string();
    let place = |k: &str| Place::parse(d[k].as_str().unwrap()).unwrap();
    LifecycleAction {
        owner: home().instance(crate::model::InstanceId::parse(&s("EC2InstanceId")).unwrap()),
        group: s("AutoScalingGroupName"),
        hook: s("LifecycleHookName"),
        token: s("LifecycleActionToken"),
        transition: if s("LifecycleTransition").ends_with("LAUNCHING") {
            Transition::Launching
        } else {
            Transition::Terminating
        },
        origin: place("Origin"),
        destination: place("Destination"),
    }
}

/// A world whose operator listed both hooks, with instance `n` of group `web` named `tag`.
/// Time runs a thousand times faster: a poll every 5 ms, a hook's second 1 ms.
fn world_with(n: u32, tag: &str) -> World {
    let mut w = World::new();
    w.rec.lifecycle_wait = Wait {
        poll: Duration::from_millis(5),
        max: Duration::from_millis(180),
        margin: Duration::from_millis(15),
        second: Duration::from_millis(1),
    };
    w.reconfigure(|c| c.lifecycle_hooks = vec![LAUNCH.into(), TERMINATE.into()]);
    w.launch(n, tag);
    w.ec2().update(&owner(n), |i| i.group = Some("web".into()));
    w.groups().add_hook(&home(), "web", LAUNCH, 3600);
    w.groups().add_hook(&home(), "web", TERMINATE, 3600);
    w
}

/// Auto Scaling starts the action of `e`: the instance waits in `state`.
fn begin(w: &World, e: &Value, state: &str) -> LifecycleAction {
    let a = action(e);
    w.groups().begin(&a, state);
    a
}

async fn deliver(w: &World, e: Value) -> crate::Result<Value> {
    let q = FakeQueue::default();
    handle_with(&w.rec, &q, &w.rec.instances.groups, e, None)
        .await
        .answer
        .map(|raw| serde_json::from_str(raw.get()).unwrap())
}

fn completed(w: &World) -> Vec<(Owner, String, String)> {
    w.groups()
        .completed()
        .into_iter()
        .map(|(a, result)| (a.owner, a.token, result))
        .collect()
}

#[tokio::test]
async fn a_launch_action_is_completed_with_continue_once_the_name_is_published() {
    let w = world_with(1, NAME);
    let e = launch(1);
    let a = begin(&w, &e, "Pending:Wait");
    let answer = deliver(&w, e).await.unwrap();

    assert_eq!(w.a(NAME), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.owner(NAME), Some(owner(1)));
    assert_eq!(w.status(1), "ok");
    assert_eq!(
        completed(&w),
        [(owner(1), a.token.clone(), "CONTINUE".into())]
    );
    assert!(!w.groups().is_pending(&a.token));
    assert_eq!(answer["lifecycle"][0]["result"], "completed");
    assert_eq!(answer["lifecycle"][0]["in_sync"], true);
    // Each change (one batch per zone) asked about once: the fake is in sync at once; no
    // heartbeat needed, so the hook's timeout is not even read.
    assert_eq!(w.faults.count(Op::ChangeResourceRecordSets), 2);
    assert_eq!(w.faults.count(Op::GetChange), 2);
    assert_eq!(w.faults.count(Op::RecordLifecycleActionHeartbeat), 0);
    assert_eq!(w.faults.count(Op::DescribeLifecycleHooks), 0);
}

#[tokio::test]
async fn the_launch_waits_for_insync_and_keeps_a_short_hook_alive_with_heartbeats() {
    let w = world_with(1, NAME);
    w.groups().add_hook(&home(), "web", LAUNCH, 30);
    *w.route53().propagation_polls.lock().unwrap() = 8; // 40 s at one poll per 5 s
    let e = launch(1);
    let a = begin(&w, &e, "Pending:Wait");
    let answer = deliver(&w, e).await.unwrap();

    // Both zones' changes, until each is in sync.
    assert_eq!(w.faults.count(Op::GetChange), 2 * 9);
    assert_eq!(answer["lifecycle"][0]["in_sync"], true);
    // A 30 s hook would have timed out during a 40 s wait: heartbeats kept it alive.
    let beats = w.groups().heartbeats.lock().unwrap().clone();
    assert!(
        beats.len() >= 2 && beats.iter().all(|t| *t == a.token),
        "{beats:?}"
    );
    assert_eq!(w.faults.count(Op::DescribeLifecycleHooks), 1);
    assert_eq!(completed(&w), [(owner(1), a.token, "CONTINUE".into())]);
    // Completed after the wait, never before.
    let calls = w.faults.calls();
    let last_poll = calls.iter().rposition(|c| *c == Op::GetChange).unwrap();
    let done = calls
        .iter()
        .position(|c| *c == Op::CompleteLifecycleAction)
        .unwrap();
    assert!(last_poll < done);
}

#[tokio::test]
async fn a_change_that_never_syncs_does_not_hold_up_the_scale_out() {
    let w = world_with(1, NAME);
    *w.route53().propagation_polls.lock().unwrap() = 10_000;
    let e = launch(1);
    let a = begin(&w, &e, "Pending:Wait");
    let answer = deliver(&w, e).await.unwrap();
    assert_eq!(answer["lifecycle"][0]["in_sync"], false);
    assert_eq!(completed(&w), [(owner(1), a.token, "CONTINUE".into())]);
}

#[tokio::test]
async fn a_conflict_or_an_invalid_tag_still_continues_the_launch_and_is_reported() {
    let w = world_with(1, NAME);
    // Another running instance holds the name.
    w.launch(9, NAME);
    w.event(&[9]).await;
    let e = launch(1);
    let a = begin(&w, &e, "Pending:Wait");
    let answer = deliver(&w, e).await.unwrap();
    assert_eq!(w.owner(NAME), Some(owner(9)));
    assert!(w.status(1).starts_with("conflict"), "{}", w.status(1));
    assert_eq!(answer["conflicts"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(completed(&w), [(owner(1), a.token, "CONTINUE".into())]);

    let w = world_with(2, "-not-a-name-");
    let e = launch(2);
    let a = begin(&w, &e, "Pending:Wait");
    deliver(&w, e).await.unwrap();
    assert!(w.status(2).starts_with("invalid"), "{}", w.status(2));
    assert_eq!(completed(&w), [(owner(2), a.token, "CONTINUE".into())]);
}

#[tokio::test]
async fn a_failure_to_publish_completes_the_launch_and_the_retry_converges() {
    let w = world_with(1, NAME);
    let e = launch(1);
    let a = begin(&w, &e, "Pending:Wait");
    let fault = w
        .faults
        .fail(Op::ChangeResourceRecordSets, Phase::Before, 2);
    let err = deliver(&w, e.clone()).await.unwrap_err();
    assert_eq!(fault.fired(), 2);
    assert!(err.is_retryable(), "{err}");
    // DNS never holds up a scale-out: continued, never abandoned.
    assert_eq!(
        completed(&w),
        [(owner(1), a.token.clone(), "CONTINUE".into())]
    );
    assert_eq!(w.a(NAME), None);

    // The platform delivers the event again: the name is published, and the action, done
    // already, is simply not active any more.
    let answer = deliver(&w, e).await.unwrap();
    assert_eq!(w.a(NAME), Some(vec!["203.0.113.1".into()]));
    assert!(
        answer["lifecycle"][0]["result"]
            .as_str()
            .unwrap()
            .starts_with("not-active"),
        "{answer}"
    );
    assert_eq!(completed(&w).len(), 1);
}

#[tokio::test]
async fn auto_scaling_refuses_a_second_completion_and_a_wrong_token() {
    let w = world_with(1, NAME);
    let a = begin(&w, &launch(1), "Pending:Wait");
    let groups = &w.rec.instances.groups;
    let wrong = LifecycleAction {
        token: "not-the-token".into(),
        ..a.clone()
    };
    assert!(matches!(
        groups.complete(&wrong).await,
        Ok(Completion::NotActive(_))
    ));
    let other_hook = LifecycleAction {
        hook: TERMINATE.into(),
        ..a.clone()
    };
    assert!(matches!(
        groups.complete(&other_hook).await,
        Ok(Completion::NotActive(_))
    ));
    assert_eq!(groups.complete(&a).await.unwrap(), Completion::Completed);
    assert!(matches!(
        groups.complete(&a).await,
        Ok(Completion::NotActive(why)) if why.contains("No active Lifecycle Action")
    ));
    assert!(matches!(
        groups.heartbeat(&a).await,
        Ok(Completion::NotActive(_))
    ));
}

#[tokio::test]
async fn a_terminate_action_removes_the_names_first_then_completes() {
    let w = world_with(1, NAME);
    w.event(&[1]).await;
    assert_eq!(w.owner(NAME), Some(owner(1)));
    let e = terminate(1);
    // EC2 still says running while the hook waits.
    let a = begin(&w, &e, "Terminating:Wait");
    w.faults.reset_calls();
    deliver(&w, e).await.unwrap();
    assert_eq!(w.a(NAME), None);
    assert_eq!(w.owner(NAME), None);
    assert_eq!(completed(&w), [(owner(1), a.token, "CONTINUE".into())]);
    let calls = w.faults.calls();
    let removed = calls
        .iter()
        .position(|c| *c == Op::ChangeResourceRecordSets)
        .unwrap();
    let done = calls
        .iter()
        .position(|c| *c == Op::CompleteLifecycleAction)
        .unwrap();
    assert!(removed < done, "{calls:?}");
    // Level-triggered: a reconcile of everything while the hook still waits does not put
    // the name back.
    w.all().await;
    assert_eq!(w.a(NAME), None);
}

#[tokio::test]
async fn a_terminate_whose_names_could_not_be_removed_waits_for_the_retry() {
    let w = world_with(1, NAME);
    w.event(&[1]).await;
    let e = terminate(1);
    let a = begin(&w, &e, "Terminating:Wait");
    w.faults
        .fail(Op::ChangeResourceRecordSets, Phase::Before, 1);
    assert!(deliver(&w, e.clone()).await.is_err());
    assert!(
        w.groups().is_pending(&a.token),
        "not completed before the names are gone"
    );
    deliver(&w, e).await.unwrap();
    assert_eq!(w.a(NAME), None);
    assert_eq!(completed(&w), [(owner(1), a.token, "CONTINUE".into())]);
}

#[tokio::test]
async fn hooks_the_operator_did_not_list_are_ignored_at_no_cost() {
    let w = world_with(1, NAME);
    let e = event(
        1,
        "someone-elses-hook",
        Transition::Launching,
        "EC2",
        "AutoScalingGroup",
    );
    begin(&w, &e, "Pending:Wait");
    w.faults.reset_calls();
    let answer = deliver(&w, e).await.unwrap();
    assert!(
        answer["ignored"]
            .as_str()
            .unwrap()
            .contains("LIFECYCLE_HOOKS"),
        "{answer}"
    );
    assert!(w.faults.calls().is_empty());
    assert!(completed(&w).is_empty());
    assert_eq!(w.a(NAME), None);
}

#[tokio::test]
async fn a_warm_pool_instance_is_never_published_until_it_joins_the_group() {
    let w = world_with(1, NAME);
    // Launched into the warm pool: nothing is published, the action is completed at once.
    let e = event(1, LAUNCH, Transition::Launching, "EC2", "WarmPool");
    let a = begin(&w, &e, "Warmed:Pending:Wait");
    w.faults.reset_calls();
    deliver(&w, e).await.unwrap();
    assert_eq!(completed(&w), [(owner(1), a.token, "CONTINUE".into())]);
    assert_eq!(w.faults.calls(), [Op::CompleteLifecycleAction]);
    assert_eq!(w.a(NAME), None);

    // Warmed and running: neither its own events nor a reconcile of everything publish it.
    w.groups().put(&owner(1), "web", "Warmed:Running");
    w.event(&[1]).await;
    let report = w.all().await;
    assert_eq!(w.a(NAME), None);
    assert!(report.changes.is_empty(), "{report:?}");

    // It leaves the pool for the group: published, then completed.
    let e = event(
        1,
        LAUNCH,
        Transition::Launching,
        "WarmPool",
        "AutoScalingGroup",
    );
    let a = begin(&w, &e, "Pending:Wait");
    deliver(&w, e).await.unwrap();
    assert_eq!(w.a(NAME), Some(vec!["203.0.113.1".into()]));
    assert_eq!(completed(&w)[1], (owner(1), a.token, "CONTINUE".into()));

    // Scaled in back to the pool: its records go, then the action is completed.
    w.groups().put(&owner(1), "web", "InService");
    let e = event(
        1,
        TERMINATE,
        Transition::Terminating,
        "AutoScalingGroup",
        "WarmPool",
    );
    let a = begin(&w, &e, "Warmed:Pending:Wait");
    deliver(&w, e).await.unwrap();
    assert_eq!(w.a(NAME), None);
    assert_eq!(w.owner(NAME), None);
    assert_eq!(completed(&w)[2], (owner(1), a.token, "CONTINUE".into()));
}

#[tokio::test]
async fn group_lifecycle_states_are_read_in_batches_only_for_grouped_running_instances() {
    let w = World::new();
    for n in 1..=120 {
        w.launch(n, &format!("web-{n}.dyn.example.com"));
        w.ec2().update(&owner(n), |i| i.group = Some("web".into()));
        w.groups().put(&owner(n), "web", "InService");
    }
    w.groups().put(&owner(7), "web", "Warmed:Running");
    // Outside any group, or stopped: never asked about.
    w.launch(200, "solo.dyn.example.com");
    w.launch(201, "stopped.dyn.example.com");
    w.ec2()
        .update(&owner(201), |i| i.group = Some("web".into()));
    w.set_state(201, InstanceState::Stopped);
    w.faults.reset_calls();
    w.all().await;
    assert_eq!(w.faults.count(Op::DescribeAutoScalingInstances), 3); // 50 + 50 + 20
    assert_eq!(
        w.a("web-1.dyn.example.com"),
        Some(vec!["203.0.113.1".into()])
    );
    assert_eq!(w.a("web-7.dyn.example.com"), None);
    assert!(w.a("solo.dyn.example.com").is_some());

    // A deployment that lists no hook has not opted in: Auto Scaling is never asked.
    let mut w = World::new();
    w.rec.instances.enabled = false;
    w.launch(1, NAME);
    w.ec2().update(&owner(1), |i| i.group = Some("web".into()));
    w.groups().put(&owner(1), "web", "Warmed:Running");
    w.all().await;
    assert_eq!(w.faults.count(Op::DescribeAutoScalingInstances), 0);
    assert!(w.a(NAME).is_some());
}

#[tokio::test]
async fn an_sqs_batch_completes_its_actions_after_one_reconcile() {
    let w = world_with(1, NAME);
    w.launch(2, "b.dyn.example.com");
    let e1 = launch(1);
    let a1 = begin(&w, &e1, "Pending:Wait");
    let e2 = event(
        2,
        "not-listed",
        Transition::Launching,
        "EC2",
        "AutoScalingGroup",
    );
    let records: Vec<Value> = [("m1", e1), ("m2", e2)].iter().map(|(m, b)| json!({"messageId": m, "receiptHandle": format!("h-{m}"), "body": b.to_string(),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})).collect();
    let batch = json!({ "Records": records });
    // The first completion fails (throttled): that message, and only it, comes back.
    w.faults.fail(Op::CompleteLifecycleAction, Phase::Before, 1);
    let answer = deliver(&w, batch.clone()).await.unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": "m1"}])
    );
    assert_eq!(w.a(NAME), Some(vec!["203.0.113.1".into()]));
    assert!(w.groups().is_pending(&a1.token));
    let answer = deliver(&w, batch).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    assert_eq!(completed(&w), [(owner(1), a1.token, "CONTINUE".into())]);
}

#[test]
fn auto_scaling_s_example_events_parse_and_malformed_ones_say_what_is_wrong() {
    let parse = |e: &Value| crate::input::parse(e, "dnsname", &home());
    let into_pool = event(1, LAUNCH, Transition::Launching, "EC2", "WarmPool");
    match parse(&into_pool).unwrap() {
        crate::input::Invocation::Event(crate::input::Hint::Lifecycle(a)) => {
            assert_eq!(*a, action(&into_pool));
            assert_eq!(a.intent(), crate::model::Intent::Nothing);
        }
        other => panic!("{other:?}"),
    }
    // A group without a warm pool may say neither Origin nor Destination.
    let mut plain = launch(1);
    for k in ["Origin", "Destination"] {
        plain["detail"].as_object_mut().unwrap().remove(k);
    }
    assert!(matches!(
        parse(&plain).unwrap(),
        crate::input::Invocation::Event(crate::input::Hint::Lifecycle(a)) if a.intent() == crate::model::Intent::Publish
    ));
    let mut test = launch(1);
    test["detail"]["LifecycleTransition"] = json!("autoscaling:TEST_NOTIFICATION");
    assert!(matches!(
        parse(&test).unwrap(),
        crate::input::Invocation::Event(crate::input::Hint::Ignore(_))
    ));
    for (k, v, says) in [
        (
            "LifecycleActionToken",
            Value::Null,
            "without detail.LifecycleActionToken",
        ),
        ("EC2InstanceId", json!("vol-1"), "not an EC2 instance id"),
        (
            "Destination",
            json!("Moon"),
            "is not EC2, AutoScalingGroup or WarmPool",
        ),
        (
            "LifecycleTransition",
            json!("autoscaling:EC2_INSTANCE_TERMINATING"),
            "expected \"autoscaling:EC2_INSTANCE_LAUNCHING\"",
        ),
    ] {
        let mut bad = launch(1);
        bad["detail"][k] = v;
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains(says), "{k}: {err}");
    }
}
