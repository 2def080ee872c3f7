//! IPv6 addresses assigned to or unassigned from a network interface (CloudTrail's
//! `AssignIpv6Addresses`, `UnassignIpv6Addresses`): the AAAA records of the instance the
//! interface is attached to follow within the one event, at the cost of one EC2 read more
//! than an event about the instance; an interface that leads to no tagged instance, or an
//! event from a place not managed, changes nothing.

use serde_json::{json, Value};

use super::writes;
use crate::engine::CHANGE_WINDOW;
use crate::handler::handle;
use crate::model::{InterfaceId, ZoneId};
use crate::ports::RetryLater;
use crate::testing::fakes::FakeQueue;
use crate::testing::faults::{Op, Phase};
use crate::testing::{home, instance, owner, World};

/// In a domain with only a public zone: one Route53 batch per change.
const WEB: &str = "web.other.example.org";

fn world() -> World {
    World::with_domains("dyn.example.com,other.example.org")
}

fn eni(n: u32) -> InterfaceId {
    InterfaceId::parse(&format!("eni-{n:017x}")).unwrap()
}

/// Attaches interface `n` to instance `to` (`None`: detached).
fn attach(w: &World, n: u32, to: Option<u32>) {
    w.ec2()
        .interfaces
        .lock()
        .unwrap()
        .insert(eni(n), to.map(owner));
}

fn set_ipv6(w: &World, n: u32, addresses: &[&str]) {
    w.ec2().update(&owner(n), |i| {
        i.ipv6 = addresses.iter().map(|a| a.parse().unwrap()).collect()
    });
}

/// The call as CloudTrail records it in `account` and EventBridge delivers it.
fn ipv6_call(name: &str, n: u32, account: &str) -> Value {
    json!({"version": "0", "id": format!("{name}-{n}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": account, "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
        "resources": [],
        "detail": {"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": name,
                   "awsRegion": "us-east-1", "recipientAccountId": account,
                   "requestParameters": {"networkInterfaceId": eni(n).to_string(), "ipv6AddressCount": 1},
                   "responseElements": {format!("{name}Response"): {"requestId": "r-1",
                       "networkInterfaceId": eni(n).to_string(),
                       "assignedIpv6Addresses": {"item": ["2001:db8::2"]}}}}})
}

fn own(name: &str, n: u32) -> Value {
    ipv6_call(name, n, home().account())
}

async fn answer(w: &World, q: &FakeQueue, event: Value) -> Value {
    let done = handle(&w.rec, q, event, None).await;
    serde_json::from_str(done.answer.unwrap().get()).unwrap()
}

fn aaaa(w: &World) -> Option<Vec<String>> {
    w.values(&ZoneId("ZOTHER".into()), WEB, "AAAA")
}

#[tokio::test]
async fn the_aaaa_record_follows_an_ipv6_event_within_that_event() {
    let w = world();
    let q = FakeQueue::default();
    w.launch(1, WEB);
    set_ipv6(&w, 1, &["2001:db8::1"]);
    attach(&w, 7, Some(1));
    w.event(&[1]).await;
    assert_eq!(aaaa(&w), Some(vec!["2001:db8::1".into()]));
    let a = || w.values(&ZoneId("ZOTHER".into()), WEB, "A");
    let before = a();
    assert!(before.is_some());

    // Assigned: one read finds the instance, then the event is the instance's (its last
    // change settled, so no Route53 read).
    w.advance(CHANGE_WINDOW + 60);
    set_ipv6(&w, 1, &["2001:db8::1", "2001:db8::2"]);
    w.faults.reset_calls();
    let report = answer(&w, &q, own("AssignIpv6Addresses", 7)).await;
    assert_eq!(
        report["changes"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(
        aaaa(&w),
        Some(vec!["2001:db8::1".into(), "2001:db8::2".into()])
    );
    assert_eq!(
        w.faults.calls(),
        [
            Op::DescribeInstances,
            Op::DescribeInstances,
            Op::LoadLocks,
            Op::Decide,
            Op::ChangeResourceRecordSets,
        ],
        "one read more than an event about the instance"
    );

    // Unassigned, every one: the AAAA record goes, the A record stays.
    w.advance(CHANGE_WINDOW + 60);
    set_ipv6(&w, 1, &[]);
    let report = answer(&w, &q, own("UnassignIpv6Addresses", 7)).await;
    assert_eq!(report["changes"][0]["action"], "DELETE", "{report}");
    assert_eq!(aaaa(&w), None);
    assert_eq!(a(), before);
    w.assert_converged().await;
}

#[tokio::test]
async fn an_interface_of_no_instance_or_of_an_untagged_one_is_ignored_after_one_read() {
    let w = world();
    let q = FakeQueue::default();
    w.ec2().put(instance(2, None));
    attach(&w, 2, Some(2));
    attach(&w, 3, None);
    for (n, says) in [
        (
            2,
            format!("attached to {}, which has no \"dnsname\" tag", owner(2)),
        ),
        (
            3,
            format!(
                "{} (account 123456789012 region us-east-1) is not attached to an instance",
                eni(3)
            ),
        ),
        (
            4,
            format!(
                "{} (account 123456789012 region us-east-1) is not attached to an instance",
                eni(4)
            ),
        ),
    ] {
        w.faults.reset_calls();
        let got = answer(&w, &q, own("AssignIpv6Addresses", n)).await;
        let why = got["ignored"].as_str().unwrap_or_default();
        assert!(why.contains(&says), "{got}");
        assert_eq!(w.faults.calls(), [Op::DescribeInstances]);
        assert_eq!(writes(&w), 0);
    }
}

#[tokio::test]
async fn an_ipv6_event_from_a_place_not_managed_costs_no_aws_call() {
    let w = world();
    let q = FakeQueue::default();
    w.launch(1, WEB);
    attach(&w, 7, Some(1));
    w.faults.reset_calls();
    let got = answer(&w, &q, ipv6_call("AssignIpv6Addresses", 7, "999999999999")).await;
    let why = got["ignored"].as_str().unwrap_or_default();
    assert!(
        why.contains("999999999999") && why.contains("does not manage"),
        "{got}"
    );
    assert!(w.faults.calls().is_empty(), "{:?}", w.faults.counts());
}

fn sqs(bodies: &[(&str, Value)]) -> Value {
    json!({"Records": bodies.iter().map(|(m, b)| json!({"messageId": m, "receiptHandle": format!("h-{m}"),
        "body": b.to_string(), "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1"})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn in_a_batch_an_interface_is_read_once_and_one_that_cannot_be_read_comes_back_soon() {
    let w = world();
    let q = FakeQueue::default();
    w.launch(1, WEB);
    set_ipv6(&w, 1, &["2001:db8::1"]);
    attach(&w, 7, Some(1));
    attach(&w, 8, None);
    // Its instance cannot be read: the message comes back soon, the others are done.
    let fault = w.faults.fail(Op::DescribeInstances, Phase::Before, 1);
    w.faults.reset_calls();
    let batch = sqs(&[
        ("m1", own("AssignIpv6Addresses", 7)),
        ("m2", own("AssignIpv6Addresses", 8)),
        ("m4", own("AssignIpv6Addresses", 7)),
    ]);
    let got = answer(&w, &q, batch).await;
    assert_eq!(fault.fired(), 1);
    assert_eq!(
        got["batchItemFailures"],
        json!([{"itemIdentifier": "m1"}, {"itemIdentifier": "m4"}]),
        "{got}"
    );
    assert_eq!(
        w.faults.calls(),
        [Op::DescribeInstances, Op::DescribeInstances],
        "one read per interface, the failed one not asked again in the batch"
    );
    let retry = |m: &str| RetryLater {
        queue_arn: "arn:aws:sqs:us-east-1:123456789012:q".into(),
        receipt_handle: format!("h-{m}"),
        delay_s: 30,
    };
    assert_eq!(*q.asked.lock().unwrap(), [retry("m1"), retry("m4")]);
    assert_eq!(aaaa(&w), None);
    // Delivered again, twice in one batch: one read for the interface, one reconcile.
    w.faults.reset_calls();
    let batch = sqs(&[
        ("m1", own("AssignIpv6Addresses", 7)),
        ("m3", own("AssignIpv6Addresses", 7)),
    ]);
    assert_eq!(answer(&w, &q, batch).await["batchItemFailures"], json!([]));
    assert_eq!(
        w.faults.count(Op::DescribeInstances),
        2,
        "{:?}",
        w.faults.counts()
    );
    assert_eq!(aaaa(&w), Some(vec!["2001:db8::1".into()]));
    w.assert_converged().await;
}
