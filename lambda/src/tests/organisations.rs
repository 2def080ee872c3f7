//! Many accounts and regions under one deployment: every managed account and region is
//! read on its own, owners are qualified so that two instances with the same id never
//! collide, one name still has one owner across accounts, and an account or region that
//! cannot be read keeps what its instances hold while the others are reconciled.

use crate::input::{managed_only, Hint};
use crate::model::{Home, InstanceState, Owner};
use crate::testing::faults::{Op, Phase};
use crate::testing::{home, id, instance, World};

const WEB: &str = "web.dyn.example.com";
const API: &str = "api.dyn.example.com";
const DB: &str = "db.dyn.example.com";

fn member() -> Home {
    Home::new("210987654321", "us-east-1").unwrap()
}

fn elsewhere() -> Home {
    Home::new("123456789012", "eu-west-1").unwrap()
}

/// A world whose deployment also manages `member()` and its own account in eu-west-1.
fn org() -> World {
    let w = World::new();
    *w.ec2().homes.lock().unwrap() = vec![home(), member(), elsewhere()];
    w
}

/// Instance `n` of `at`, running with tag `tag`.
fn launch_in(w: &World, at: &Home, n: u32, tag: &str) -> Owner {
    let mut i = instance(n, Some(tag));
    i.owner = at.instance(id(n));
    let owner = i.owner.clone();
    w.ec2().put(i);
    owner
}

#[tokio::test]
async fn instances_of_every_managed_account_and_region_get_their_names() {
    let w = org();
    // The same instance id in three places: three owners.
    let here = launch_in(&w, &home(), 1, WEB);
    let there = launch_in(&w, &member(), 1, API);
    let away = launch_in(&w, &elsewhere(), 1, DB);
    let r = w.all().await;
    assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
    for (name, owner) in [(WEB, &here), (API, &there), (DB, &away)] {
        assert_eq!(w.owner(name).as_ref(), Some(owner), "{name}");
        assert_eq!(w.marker(&w.public, name).unwrap().owner, *owner);
        assert_eq!(w.a(name), Some(vec!["203.0.113.1".into()]));
    }
    assert_eq!(
        w.faults.count(Op::TaggedInstances),
        3,
        "one listing per home"
    );
    w.assert_converged().await;

    // An event about the member's instance: it stops, its name goes.
    w.ec2().update(&there, |i| {
        i.state = InstanceState::Stopped;
        i.public_ipv4 = None;
    });
    let r = w
        .run(World::request_for(std::slice::from_ref(&there)))
        .await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!((w.owner(API), w.a(API)), (None, None));
    w.assert_converged().await;
}

#[tokio::test]
async fn one_name_has_one_owner_across_accounts() {
    let w = org();
    let first = launch_in(&w, &home(), 1, WEB);
    w.all().await;
    let second = launch_in(&w, &member(), 2, WEB);
    let r = w.all().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(r.conflicts[0].owner, second);
    assert_eq!(w.owner(WEB), Some(first.clone()));
    let lock = w.locks().snapshot()[&crate::testing::name(WEB)].clone();
    assert!(lock.waiting.contains(&second), "{lock:?}");
    // The holder stops: the waiter in the other account takes the name over.
    w.ec2().update(&first, |i| {
        i.state = InstanceState::Stopped;
        i.public_ipv4 = None;
    });
    w.run(World::request_for(&[first])).await;
    assert_eq!(w.owner(WEB), Some(second));
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.2".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn an_account_that_cannot_be_read_keeps_its_names_and_the_others_are_reconciled() {
    let w = org();
    let there = launch_in(&w, &member(), 1, API);
    let here = launch_in(&w, &home(), 2, WEB);
    w.all().await;
    assert_eq!(w.owner(API), Some(there.clone()));
    // The member's role is broken (or its region is down); meanwhile the instance here
    // gets a new address.
    let key = member().to_string();
    let listing = w
        .faults
        .fail_for(Op::TaggedInstances, &key, Phase::Before, 10);
    let describe = w
        .faults
        .fail_for(Op::DescribeInstances, &key, Phase::Before, 10);
    w.ec2().update(&here, |i| {
        i.public_ipv4 = Some("198.51.100.2".parse().unwrap())
    });
    let r = w.all().await;
    assert_eq!(listing.fired(), 1);
    assert_eq!(w.a(WEB), Some(vec!["198.51.100.2".into()]), "reconciled");
    assert_eq!(
        (w.owner(API), w.a(API)),
        (Some(there.clone()), Some(vec!["203.0.113.1".into()])),
        "unobserved, not gone"
    );
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert_eq!(r.failed[0].name, "210987654321/us-east-1");
    assert!(r.failed[0].reason.contains("not reconciled"), "{r:?}");
    // An event about the member's own instance cannot be served: it is retried.
    assert!(w
        .rec
        .reconcile(&World::request_for(std::slice::from_ref(&there)))
        .await
        .is_err());
    assert!(describe.fired() >= 1);
    // Reachable again: everything converges.
    w.faults.clear();
    w.assert_converged().await;
    assert_eq!(w.owner(API), Some(there));
}

#[tokio::test]
async fn when_no_account_can_be_read_the_run_fails_and_nothing_is_released() {
    let w = org();
    launch_in(&w, &home(), 1, WEB);
    w.all().await;
    let fault = w.faults.fail(Op::TaggedInstances, Phase::Before, 3);
    let req = crate::engine::Request {
        names: Default::default(),
        scope: crate::model::Scope::All,
        verify_dns: true,
        dry_run: false,
        deadline: None,
    };
    assert!(w.rec.reconcile(&req).await.is_err());
    assert_eq!(fault.fired(), 3);
    assert_eq!(w.a(WEB), Some(vec!["203.0.113.1".into()]));
}

#[tokio::test]
async fn an_account_no_longer_managed_keeps_its_names_until_an_operator_releases_them() {
    let w = org();
    let there = launch_in(&w, &member(), 1, API);
    w.all().await;
    // The account is taken out of ACCOUNTS: its instance is neither seen nor gone.
    *w.ec2().homes.lock().unwrap() = vec![home(), elsewhere()];
    let r = w.all().await;
    assert!(r.failed.is_empty() && r.changes.is_empty(), "{r:?}");
    assert_eq!(w.owner(API), Some(there));
    assert_eq!(w.a(API), Some(vec!["203.0.113.1".into()]));
    // The operator lets the name go: its records, provably this deployment's by the lock,
    // are deleted, and the name is free.
    let r = w
        .rec
        .release_name(&crate::testing::name(API), false)
        .await
        .unwrap();
    assert!(r.failed.is_empty() && r.conflicts.is_empty(), "{r:?}");
    assert_eq!((w.owner(API), w.a(API)), (None, None));
    assert!(w.marker(&w.public, API).is_none());
    w.assert_converged().await;
}

#[test]
fn events_from_accounts_or_regions_not_managed_are_ignored_with_the_reason() {
    let homes = [home(), member()];
    let stranger = Home::new("999999999999", "us-east-1")
        .unwrap()
        .instance(id(7));
    let mine = member().instance(id(8));
    match managed_only(Hint::Owners([stranger.clone()].into()), &homes) {
        Hint::Ignore(why) => assert!(
            why.contains("999999999999") && why.contains("does not manage"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        managed_only(Hint::Owners([stranger, mine.clone()].into()), &homes),
        Hint::Owners([mine].into())
    );
    let scheduled = Hint::All(crate::input::Asked::default());
    assert_eq!(managed_only(scheduled.clone(), &homes), scheduled);
}

/// A stranger: an account of the organisation this deployment does not manage.
const STRANGER: &str = "999999999999";

/// A `DisassociateAddress` recorded by CloudTrail in `account` and `region`.
fn disassociate_in(account: &str, region: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": "3c5d9a0b-1111-2222-3333-444444444444",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
        "account": account, "time": "2026-11-23T12:00:00Z", "region": region, "resources": [],
        "detail": {"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com",
                   "eventName": "DisassociateAddress", "awsRegion": region,
                   "requestParameters": {"associationId": "eipassoc-1"},
                   "responseElements": {"requestId": "r-1", "_return": true},
                   "recipientAccountId": account}
    })
}

#[tokio::test]
async fn an_address_event_from_a_place_not_managed_costs_no_aws_call() {
    let w = org();
    let q = crate::testing::fakes::FakeQueue::default();
    launch_in(&w, &member(), 1, API);
    w.all().await;
    w.faults.reset_calls();
    // Another account of the organisation, and a managed account in a region not managed.
    for (account, region) in [(STRANGER, "us-east-1"), ("210987654321", "ap-south-1")] {
        let event = disassociate_in(account, region);
        let done = crate::handler::handle(&w.rec, &q, event.clone(), None).await;
        let answer: serde_json::Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
        let why = answer["ignored"].as_str().unwrap_or_default();
        assert!(
            why.contains(account) && why.contains("does not manage"),
            "{answer}"
        );
        // The same through the queue: no failure, nothing to retry.
        let batch = serde_json::json!({"Records": [{"messageId": "m1", "receiptHandle": "h",
            "body": event.to_string(), "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            "awsRegion": "us-east-1"}]});
        let done = crate::handler::handle(&w.rec, &q, batch, None).await;
        let answer: serde_json::Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
        assert_eq!(
            answer["batchItemFailures"],
            serde_json::json!([]),
            "{answer}"
        );
    }
    assert!(w.faults.calls().is_empty(), "{:?}", w.faults.counts());
    assert!(q.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_lost_lock_table_is_rebuilt_with_the_names_of_every_managed_account_and_region() {
    let mut w = org();
    // The member's instance holds API; an instance here, launched earlier, claims it later
    // and waits. Another managed place holds DB.
    let there = launch_in(&w, &member(), 2, API);
    let away = launch_in(&w, &elsewhere(), 3, DB);
    w.all().await;
    let here = launch_in(&w, &home(), 1, API);
    w.all().await;
    assert_eq!(w.owner(API), Some(there.clone()));
    let before = w.locks().snapshot();
    // The table is lost (restored empty).
    for n in [API, DB] {
        w.locks().remove(&crate::testing::name(n));
    }
    // A deployment of an account this one does not manage marks a name in the same zone.
    let theirs = crate::marker::Marker {
        owner: crate::marker::Marked::Owner(
            Home::new(STRANGER, "us-east-1").unwrap().instance(id(9)),
        ),
        gen: 4,
        types: [crate::model::RecordType::A].into(),
        deployment: None,
    };
    let public = w.public.clone();
    w.put_foreign(
        &public,
        "_ec2-dns.c.dyn.example.com",
        "TXT",
        &[&theirs.value()],
    );
    w.put_foreign(&public, "c.dyn.example.com", "A", &["192.0.2.40"]);

    let rows = w.rec.rebuild(false).await.unwrap();

    let rebuilt: Vec<(String, Owner)> = rows
        .iter()
        .filter(|r| r.skipped.is_none())
        .filter_map(|r| Some((r.name.to_string(), r.holder.owner()?.clone())))
        .collect();
    assert_eq!(
        rebuilt,
        [
            (API.to_string(), there.clone()),
            (DB.to_string(), away.clone())
        ],
        "{rows:?}"
    );
    let after = w.locks().snapshot();
    for n in [API, DB] {
        let (old, new) = (
            &before[&crate::testing::name(n)],
            &after[&crate::testing::name(n)],
        );
        assert_eq!(
            (&new.holder, new.gen, &new.records),
            (&old.holder, old.gen, &old.records),
            "{n}"
        );
    }
    assert!(!after.contains_key(&crate::testing::name("c.dyn.example.com")));
    // The earlier-launched claimant here does not take the member's name over.
    let r = w.all().await;
    assert_eq!(w.owner(API), Some(there.clone()));
    assert_eq!(w.a(API), Some(vec!["203.0.113.2".into()]));
    assert!(r.conflicts.iter().any(|c| c.owner == here), "{r:?}");
    assert_eq!(w.a("c.dyn.example.com"), Some(vec!["192.0.2.40".into()]));
    w.assert_converged().await;
}
