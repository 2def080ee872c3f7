//! Whole invocations: SQS batches coalesced into one reconcile, failed messages back within
//! a minute, errors that make the platform retry, bad input that changes nothing.

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::writes;
use crate::handler::{handle, report_answer};
use crate::ports::RetryLater;
use crate::report::Report;
use crate::testing::fakes::FakeQueue;
use crate::testing::faults::{Op, Phase};
use crate::testing::{id, owner, World};

fn state_change(n: u32) -> String {
    json!({"version": "0", "id": format!("e{n}"), "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"instance-id": id(n).to_string(), "state": "running"}})
    .to_string()
}

fn sqs(bodies: &[(&str, String, u32)]) -> Value {
    json!({"Records": bodies.iter().map(|(m, b, receives)| json!({"messageId": m, "receiptHandle": format!("h-{m}"), "body": b,
        "attributes": {"ApproximateReceiveCount": receives.to_string()}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})).collect::<Vec<_>>()})
}

/// An answer as JSON to look into.
fn value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap()
}

fn failures(raw: &RawValue) -> Vec<String> {
    let v = value(raw);
    let mut out: Vec<String> = v["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn an_sqs_batch_is_one_reconcile_and_only_failed_messages_come_back_soon() {
    let w = World::new();
    let q = FakeQueue::default();
    w.launch(1, "a.dyn.example.com");
    w.launch(2, "b.dyn.example.com");
    let fault = w
        .faults
        .fail_for(Op::Decide, "b.dyn.example.com", Phase::Before, 1);
    let payload = sqs(&[
        ("m1", state_change(1), 1),
        ("m2", state_change(2), 2),
        ("m3", state_change(1), 1),
        ("m4", "{oops".into(), 1),
    ]);
    let out = handle(&w.rec, &q, payload, None).await.answer.unwrap();
    assert_eq!(fault.fired(), 1);
    // b's lock write failed: b's message is retried; a malformed body goes to the DLQ; a's
    // two messages (one event delivered twice) are done.
    assert_eq!(failures(&out), ["m2", "m4"]);
    assert_eq!(
        w.faults.count(Op::DescribeInstances),
        1,
        "one look for the whole batch"
    );
    assert_eq!(w.owner("a.dyn.example.com"), Some(owner(1)));
    assert_eq!(w.owner("b.dyn.example.com"), None);
    // b's message comes back after 60 s (its second receive), not after the queue's
    // visibility timeout; the malformed one is left to the dead-letter queue.
    let asked = q.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [RetryLater {
            queue_arn: "arn:aws:sqs:us-east-1:123456789012:q".into(),
            receipt_handle: "h-m2".into(),
            delay_s: 60,
        }]
    );
    let out = handle(&w.rec, &q, sqs(&[("m2", state_change(2), 3)]), None)
        .await
        .answer
        .unwrap();
    assert!(failures(&out).is_empty());
    w.assert_converged().await;
}

#[tokio::test]
async fn an_event_that_cannot_settle_is_an_error_so_the_platform_retries() {
    let w = World::new();
    let q = FakeQueue::default();
    w.launch(1, "a.dyn.example.com");
    w.faults
        .fail(Op::ChangeResourceRecordSets, Phase::Before, 1);
    let event: Value = serde_json::from_str(&state_change(1)).unwrap();
    let err = handle(&w.rec, &q, event.clone(), None)
        .await
        .answer
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.kind(), "Retryable");
    handle(&w.rec, &q, event, None).await.answer.unwrap();
    w.assert_converged().await;
}

#[tokio::test]
async fn bad_input_is_an_error_that_changes_nothing() {
    let w = World::new();
    let q = FakeQueue::default();
    let done = handle(&w.rec, &q, json!({"reconcile": "everything"}), None).await;
    let err = done.answer.unwrap_err();
    assert_eq!(err.kind(), "InvalidInput");
    assert!(!err.is_retryable());
    assert_eq!(writes(&w), 0);
}

#[tokio::test]
async fn a_manual_dry_run_answers_the_plan_and_writes_nothing() {
    let w = World::new();
    let q = FakeQueue::default();
    w.launch(1, "a.dyn.example.com");
    for payload in [
        json!({"reconcile": "all", "dry_run": true}),
        json!({"reconcile": {"instance_ids": [id(1).to_string()]}, "dry_run": true}),
    ] {
        let out = value(&handle(&w.rec, &q, payload, None).await.answer.unwrap());
        assert_eq!(out["dry_run"], true);
        assert_eq!(out["changes"].as_array().unwrap().len(), 2, "{out}");
        assert_eq!(writes(&w), 0);
    }
}

#[tokio::test]
async fn a_report_too_large_for_an_answer_gives_a_summary_and_says_where_the_rows_went() {
    let w = World::new();
    for n in 1..=20 {
        w.launch(n, &format!("n{n}.dyn.example.com"));
    }
    w.launch(21, "n1.dyn.example.com");
    let report: Report = w.dry_all().await;
    let whole = report_answer(&report, usize::MAX).unwrap();
    assert_eq!(value(&whole)["changes"].as_array().unwrap().len(), 40);
    assert!(value(&whole).get("summary").is_none());
    // The same report, with room for less than all of it.
    let cut = value(&report_answer(&report, whole.get().len() - 1).unwrap());
    assert_eq!(cut["summary"], true);
    assert_eq!(cut["counts"]["changes"], 40);
    assert_eq!(cut["counts"]["creates"], 40);
    assert_eq!(cut["counts"]["conflicts"], 1);
    assert_eq!(cut["conflicts"].as_array().unwrap().len(), 1, "{cut}");
    assert_eq!(cut["omitted"]["changes"], 0, "{cut}");
    assert_eq!(cut["report"]["rows"], 41, "{cut}");
    assert!(cut["report"]["query"]
        .as_str()
        .unwrap()
        .contains("report row"));
    assert!(cut["note"].as_str().unwrap().contains("ec2-dns-ctl plan"));
}

/// Counts the `report row` lines logged on this thread while `f` runs, by list.
fn report_rows_logged(f: impl FnOnce()) -> std::collections::BTreeMap<String, usize> {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Default)]
    struct Fields {
        message: String,
        list: String,
    }
    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "list" {
                self.list = value.to_string();
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "message" => self.message = format!("{value:?}"),
                "list" => self.list = format!("{value:?}"),
                _ => {}
            }
        }
    }
    struct Rows(Arc<Mutex<std::collections::BTreeMap<String, usize>>>);
    impl Subscriber for Rows {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut f = Fields::default();
            event.record(&mut f);
            if f.message == "report row" {
                *self.0.lock().unwrap().entry(f.list).or_default() += 1;
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let counts = Arc::new(Mutex::new(Default::default()));
    tracing::subscriber::with_default(Rows(counts.clone()), f);
    let out = counts.lock().unwrap().clone();
    out
}

#[tokio::test]
async fn a_summary_answer_logs_every_row_of_the_report_and_a_whole_one_logs_none() {
    let w = World::new();
    for n in 1..=(crate::handler::SUMMARY_ROWS as u32 / 2 + 3) {
        w.launch(n, &format!("n{n}.dyn.example.com"));
    }
    w.launch(9_999, "n1.dyn.example.com");
    let report: Report = w.dry_all().await;
    let changes = report.changes.len();
    assert!(changes > crate::handler::SUMMARY_ROWS, "{changes}");
    let mut cut = None;
    let logged = report_rows_logged(|| cut = Some(report_answer(&report, 1_000).unwrap()));
    let cut = value(&cut.unwrap());
    assert_eq!(cut["summary"], true);
    assert_eq!(
        logged,
        [
            ("changes".to_string(), changes),
            ("conflicts".to_string(), 1)
        ]
        .into()
    );
    assert_eq!(cut["report"]["rows"], changes + 1);
    assert_eq!(
        cut["changes"].as_array().unwrap().len(),
        crate::handler::SUMMARY_ROWS
    );
    assert_eq!(
        cut["omitted"]["changes"],
        changes - crate::handler::SUMMARY_ROWS
    );
    assert_eq!(cut["conflicts"].as_array().unwrap().len(), 1);
    let logged = report_rows_logged(|| {
        report_answer(&report, usize::MAX).unwrap();
    });
    assert!(logged.is_empty(), "{logged:?}");
}

/// A `DisassociateAddress` of the deployment's own account and region, emitted at `at`
/// (epoch seconds): it asks for a reconcile of everything.
fn disassociate(at: i64) -> String {
    let time = aws_smithy_types::DateTime::from_secs(at)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    json!({"version": "0", "id": format!("d{at}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": "123456789012", "time": time, "region": "us-east-1",
        "resources": [],
        "detail": {"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com",
                   "eventName": "DisassociateAddress", "awsRegion": "us-east-1",
                   "requestParameters": {"associationId": "eipassoc-1"},
                   "recipientAccountId": "123456789012"}})
    .to_string()
}

fn now(w: &World) -> i64 {
    w.clock.0.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test]
async fn a_storm_of_address_events_costs_one_reconcile_of_everything() {
    let w = World::new();
    let q = FakeQueue::default();
    w.launch(1, "a.dyn.example.com");
    let emitted = now(&w) - 300;
    // Within one batch, several events asking for everything are one reconcile.
    let batch = sqs(&[
        ("m1", disassociate(emitted), 1),
        ("m2", disassociate(emitted + 1), 1),
        ("m3", disassociate(emitted + 2), 1),
    ]);
    let out = handle(&w.rec, &q, batch, None).await.answer.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(w.faults.count(Op::TaggedInstances), 1, "one reconcile");
    assert_eq!(w.a("a.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
    // Later invocations for events emitted before that reconcile started cost one read.
    w.advance(30);
    w.faults.reset_calls();
    let event: Value = serde_json::from_str(&disassociate(emitted + 3)).unwrap();
    let answer = value(&handle(&w.rec, &q, event, None).await.answer.unwrap());
    assert!(
        answer["ignored"]
            .as_str()
            .is_some_and(|why| why.contains("finished without failures")),
        "{answer}"
    );
    let batch = sqs(&[
        ("m4", disassociate(emitted + 4), 2),
        ("m5", disassociate(emitted + 5), 1),
    ]);
    let out = handle(&w.rec, &q, batch, None).await.answer.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(w.faults.calls().len(), 2, "{:?}", w.faults.counts());
    assert_eq!(writes(&w), 0);
    assert!(q.asked.lock().unwrap().is_empty());
    w.assert_converged().await;
}

#[tokio::test]
async fn an_event_emitted_after_the_last_clean_reconcile_started_is_reconciled() {
    let w = World::new();
    let q = FakeQueue::default();
    w.launch(1, "a.dyn.example.com");
    let started = now(&w);
    let first: Value = serde_json::from_str(&disassociate(started - 300)).unwrap();
    handle(&w.rec, &q, first, None).await.answer.unwrap();
    // The address moves; its event was emitted within the clock margin of that start, or
    // after it: each is reconciled.
    for (octet, emitted) in [(7, started - 30), (8, started + 5)] {
        w.advance(10);
        w.restart_with_ip(1, octet);
        let event: Value = serde_json::from_str(&disassociate(emitted)).unwrap();
        handle(&w.rec, &q, event, None).await.answer.unwrap();
        assert_eq!(
            w.a("a.dyn.example.com"),
            Some(vec![format!("198.51.100.{octet}")])
        );
    }
    // An event emitted well before the last clean start is served by it.
    w.faults.reset_calls();
    let event: Value = serde_json::from_str(&disassociate(started - 61)).unwrap();
    handle(&w.rec, &q, event, None).await.answer.unwrap();
    assert_eq!(w.faults.calls().len(), 1, "{:?}", w.faults.counts());
}

#[tokio::test]
async fn a_reconcile_of_everything_with_failures_serves_no_later_event() {
    let w = World::new();
    let q = FakeQueue::default();
    w.launch(1, "a.dyn.example.com");
    let emitted = now(&w) - 300;
    let fault = w
        .faults
        .fail_for(Op::Decide, "a.dyn.example.com", Phase::Before, 1);
    let event: Value = serde_json::from_str(&disassociate(emitted)).unwrap();
    let err = handle(&w.rec, &q, event.clone(), None)
        .await
        .answer
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(fault.fired(), 1);
    // Its retry, and any older event, is reconciled: nothing recorded the failed run.
    w.advance(30);
    handle(&w.rec, &q, event.clone(), None)
        .await
        .answer
        .unwrap();
    assert_eq!(w.owner("a.dyn.example.com"), Some(owner(1)));
    // When the record cannot be read, the event is reconciled.
    w.set_tag(1, Some("b.dyn.example.com"));
    let unreadable = w.faults.fail(Op::ReadSwept, Phase::Before, 1);
    handle(&w.rec, &q, event, None).await.answer.unwrap();
    assert_eq!(unreadable.fired(), 1);
    assert_eq!(w.owner("b.dyn.example.com"), Some(owner(1)));
    w.assert_converged().await;
}
