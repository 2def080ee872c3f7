//! A sharded reconcile of everything ([`crate::shard`], [`crate::fanout`]) through the
//! handler, its shards carried by a fake queue: it reaches the state an unsharded one
//! reaches, counts every shard once however often it is delivered, splits a large place
//! the same way every time, and a shard killed midway converges when delivered again.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::handler::handle;
use crate::model::{Home, InstanceState, Owner};
use crate::testing::fakes::FakeQueue;
use crate::testing::faults::{Op, Phase};
use crate::testing::{home, id, instance, World};

const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/ec2-dns-events";

fn member() -> Home {
    Home::new("210987654321", "us-east-1").unwrap()
}

fn elsewhere() -> Home {
    Home::new("123456789012", "eu-west-1").unwrap()
}

fn launch_in(w: &World, at: &Home, n: u32, tag: &str) -> Owner {
    let mut i = instance(n, Some(tag));
    i.owner = at.instance(id(n));
    let owner = i.owner.clone();
    w.ec2().put(i);
    owner
}

/// Three places with names held, then what a day changes: a holder stops, one vanishes
/// from EC2 (its lock is all that names it), one is retagged, a record drifts, a new
/// instance comes, and one of another account takes over a stopped holder's name.
async fn fleet() -> World {
    let mut w = World::new();
    *w.ec2().homes.lock().unwrap() = vec![home(), member(), elsewhere()];
    w.reconfigure(|c| c.queue_url = Some(QUEUE.into()));
    for n in 1..=12 {
        launch_in(&w, &home(), n, &format!("h{n}.dyn.example.com"));
    }
    for n in 1..=6 {
        launch_in(&w, &member(), n, &format!("m{n}.dyn.example.com"));
    }
    for n in 1..=4 {
        launch_in(&w, &elsewhere(), n, &format!("e{n}.dyn.example.com"));
    }
    // Another account's instance wants a name that is held: it waits.
    launch_in(&w, &member(), 7, "h1.dyn.example.com");
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");

    w.set_state(2, InstanceState::Stopped);
    w.ec2()
        .instances
        .lock()
        .unwrap()
        .remove(&home().instance(id(3)));
    w.set_tag(4, Some("h4b.dyn.example.com"));
    let public = w.public.clone();
    w.put_foreign(&public, "m5.dyn.example.com", "A", &["192.0.2.99"]);
    launch_in(&w, &home(), 13, "h13.dyn.example.com");
    launch_in(&w, &member(), 8, "h2.dyn.example.com");
    w.advance(60);
    w
}

/// An SQS batch of these bodies, as Lambda hands it over.
fn batch(bodies: &[String]) -> Value {
    json!({"Records": bodies.iter().enumerate().map(|(i, b)| json!({
        "messageId": format!("m{i}"), "receiptHandle": format!("h{i}"), "body": b,
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ec2-dns-events",
        "awsRegion": "us-east-1"})).collect::<Vec<_>>()})
}

/// Hands the queue's messages to the function `per_batch` at a time until the queue is
/// empty; a message its batch reports failed is delivered again. Returns the deliveries.
async fn pump(w: &World, q: &FakeQueue, per_batch: usize) -> usize {
    let mut deliveries = 0;
    for _ in 0..50 {
        let sent: Vec<String> = q.take_sent().into_iter().map(|(_, b)| b).collect();
        if sent.is_empty() {
            return deliveries;
        }
        for chunk in sent.chunks(per_batch) {
            deliveries += chunk.len();
            let done = handle(&w.rec, q, batch(chunk), None).await;
            let answer: Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
            for f in answer["batchItemFailures"].as_array().unwrap() {
                let i: usize = f["itemIdentifier"].as_str().unwrap()[1..].parse().unwrap();
                q.sent
                    .lock()
                    .unwrap()
                    .push((QUEUE.into(), chunk[i].clone()));
            }
            // A failed message comes back after the delay the function asked for.
            let later = q.asked.lock().unwrap().drain(..).map(|r| r.delay_s).max();
            if let Some(later) = later {
                w.advance(i64::from(later));
            }
        }
    }
    panic!(
        "the queue did not drain: {:?}",
        w.locks()
            .runs
            .lock()
            .unwrap()
            .values()
            .map(|r| &r.notes)
            .collect::<Vec<_>>()
    );
}

/// A sharded reconcile of everything asked for by hand (`extra`: more of the request).
async fn ask(w: &World, q: &FakeQueue, extra: Value) -> crate::handler::Handled {
    let mut payload = json!({"reconcile": "all", "sharded": true});
    if let (Some(p), Some(more)) = (payload.as_object_mut(), extra.as_object()) {
        p.extend(more.clone());
    }
    handle(&w.rec, q, payload, None).await
}

/// Starts a sharded run by hand and returns its id.
async fn start(w: &World, q: &FakeQueue) -> String {
    let done = ask(w, q, json!({})).await;
    let answer: Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
    assert_eq!(
        answer["status"],
        format!(
            "ec2-dns-ctl status --run {}",
            answer["run"].as_str().unwrap()
        )
    );
    answer["run"].as_str().unwrap().to_string()
}

type State = (
    BTreeMap<(String, String, String), Vec<String>>,
    BTreeMap<String, (Option<Owner>, BTreeSet<Owner>)>,
    BTreeMap<Owner, Option<String>>,
);

/// Records (markers by owner), locks (holder and members) and status tags.
fn state(w: &World) -> State {
    let mut records = BTreeMap::new();
    for ((zone, n, t), s) in w.route53().snapshot() {
        let values = match t == "TXT" {
            true => vec![w
                .marker(&zone, n.trim_start_matches("_ec2-dns."))
                .map_or("unreadable marker".to_string(), |m| m.owner.to_string())],
            false => s.values,
        };
        records.insert((zone.to_string(), n, t), values);
    }
    let locks = w
        .locks()
        .snapshot()
        .into_iter()
        .map(|(n, l)| (n.to_string(), (l.holder, l.members)))
        .collect();
    let tags = w
        .ec2()
        .all()
        .into_iter()
        .map(|i| (i.owner, i.status_tag))
        .collect();
    (records, locks, tags)
}

/// Asserts two states are equal, naming each difference.
fn same(a: &State, b: &State) {
    fn diff<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
        what: &str,
        a: &BTreeMap<K, V>,
        b: &BTreeMap<K, V>,
    ) -> Vec<String> {
        a.keys()
            .chain(b.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| format!("{what} {k:?}: {:?} vs {:?}", a.get(k), b.get(k)))
            .collect()
    }
    // A holder that stops hands its name over to a waiter reconciled with it; in another
    // shard, the name is released, then claimed: the status tag of the one that stopped
    // names the taker only in the first case.
    let tags = |s: &State| -> BTreeMap<Owner, Option<String>> {
        s.2.iter()
            .map(|(o, t)| {
                let t = t.as_ref().map(|t| match t.split_once("; handed over to ") {
                    Some((head, _)) => format!("{head})"),
                    None => t.clone(),
                });
                (o.clone(), t)
            })
            .collect()
    };
    let mut d = diff("record", &a.0, &b.0);
    d.extend(diff("lock", &a.1, &b.1));
    d.extend(diff("status tag", &tags(a), &tags(b)));
    assert!(d.is_empty(), "{}", d.join("\n"));
}

#[tokio::test]
async fn a_sharded_run_reaches_the_state_an_unsharded_one_reaches() {
    let single = fleet().await;
    let r = single.all().await;
    assert!(r.failed.is_empty(), "{r:?}");

    let sharded = fleet().await;
    let q = FakeQueue::default();
    let run = start(&sharded, &q).await;
    let parts = q.sent.lock().unwrap().len();
    assert_eq!(
        parts,
        3 + 1,
        "one shard per place and one lock-table segment"
    );
    pump(&sharded, &q, 10).await;

    same(&state(&sharded), &state(&single));
    // What the day changed, as both see it.
    assert_eq!(
        sharded.a("h3.dyn.example.com"),
        None,
        "a vanished holder's name goes"
    );
    assert_eq!(
        sharded.owner("h2.dyn.example.com"),
        Some(member().instance(id(8)))
    );
    assert_eq!(
        sharded.owner("h13.dyn.example.com"),
        Some(home().instance(id(13)))
    );

    let recorded = sharded.locks().runs.lock().unwrap()[&run].clone();
    assert!(recorded.complete(), "{recorded:?}");
    assert_eq!(recorded.finished.len(), 4);
    assert_eq!(recorded.counts.failed, 0);
    assert!(recorded.counts.changes > 0);
    sharded.assert_converged().await;
}

#[tokio::test]
async fn a_shard_delivered_twice_is_counted_once_and_changes_nothing_more() {
    let w = fleet().await;
    let q = FakeQueue::default();
    let run = start(&w, &q).await;
    let sent: Vec<String> = q
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    pump(&w, &q, 10).await;
    let counted = w.locks().runs.lock().unwrap()[&run].clone();
    let before = state(&w);

    w.faults.reset_calls();
    // SQS delivers at least once: every shard again.
    q.sent
        .lock()
        .unwrap()
        .extend(sent.into_iter().map(|b| (QUEUE.to_string(), b)));
    pump(&w, &q, 1).await;
    assert_eq!(w.locks().runs.lock().unwrap()[&run], counted);
    assert_eq!(state(&w), before);
    assert_eq!(w.faults.writes(), 0, "{:?}", w.faults.counts());
}

#[tokio::test]
async fn a_large_place_splits_the_same_way_every_time_and_each_part_is_counted_once() {
    let mut w = World::new();
    w.reconfigure(|c| {
        c.queue_url = Some(QUEUE.into());
        c.shard_size = 10;
    });
    // Ids as EC2 gives them: 17 hex digits, spread over the whole range.
    let mut owners = Vec::new();
    for n in 0..60u64 {
        let hex = format!("{:017x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 4);
        let mut i = instance(n as u32 + 1, Some(&format!("n{n}.dyn.example.com")));
        i.owner = home().instance(crate::model::InstanceId::parse(&format!("i-{hex}")).unwrap());
        owners.push(i.owner.clone());
        w.ec2().put(i);
    }
    let q = FakeQueue::default();
    let run = start(&w, &q).await;
    pump(&w, &q, 10).await;
    let recorded = w.locks().runs.lock().unwrap()[&run].clone();
    assert!(recorded.complete(), "{recorded:?}");
    assert!(recorded.split.contains("place/123456789012/us-east-1/"));
    let place_owners: u64 = 60;
    // Every instance was reconciled by exactly one place shard (the lock segment names
    // none: the table was empty when the run started).
    assert_eq!(recorded.counts.owners, place_owners, "{recorded:?}");
    for (n, o) in owners.iter().enumerate() {
        assert_eq!(w.owner(&format!("n{n}.dyn.example.com")).as_ref(), Some(o));
    }
    // A split part delivered again sends the same 16 parts, and nothing is counted twice.
    let again = crate::shard::Task {
        run: run.clone(),
        part: "place/123456789012/us-east-1/".into(),
        dry_run: false,
    };
    q.sent.lock().unwrap().push((QUEUE.into(), again.body()));
    pump(&w, &q, 10).await;
    assert_eq!(w.locks().runs.lock().unwrap()[&run], recorded);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_shard_killed_midway_is_delivered_again_and_converges_with_no_orphan() {
    let w = fleet().await;
    let q = FakeQueue::default();
    let run = start(&w, &q).await;
    // The home place's shard: its Route53 change lands, and the function is killed before
    // it hears the answer (a timeout, an out-of-memory kill).
    let bodies: Vec<String> = q.take_sent().into_iter().map(|(_, b)| b).collect();
    let (home_part, others): (Vec<String>, Vec<String>) = bodies
        .into_iter()
        .partition(|b| b.contains("place/123456789012/us-east-1/"));
    let gate = w
        .faults
        .hold(Op::ChangeResourceRecordSets, None, Phase::After);
    tokio::select! {
        _ = handle(&w.rec, &q, batch(&home_part), None) => panic!("the change was not held"),
        _ = gate.wait_held() => {}
    }
    gate.release();
    let pending = w.locks().runs.lock().unwrap()[&run].pending().len();
    assert_eq!(pending, 4, "a killed shard records nothing");

    // The other shards run meanwhile; the killed one's message comes back after the
    // queue's visibility timeout (six times the function's timeout: past the window in
    // which its change could still be in flight, so it is decided afresh).
    q.sent
        .lock()
        .unwrap()
        .extend(others.into_iter().map(|b| (QUEUE.to_string(), b)));
    pump(&w, &q, 1).await;
    assert_eq!(
        w.locks().runs.lock().unwrap()[&run].pending().len(),
        1,
        "only the killed shard is pending"
    );
    w.advance(6 * 60);
    q.sent
        .lock()
        .unwrap()
        .extend(home_part.into_iter().map(|b| (QUEUE.to_string(), b)));
    pump(&w, &q, 1).await;
    let recorded = w.locks().runs.lock().unwrap()[&run].clone();
    assert!(recorded.complete(), "{recorded:?}");
    assert_eq!(
        w.owner("h13.dyn.example.com"),
        Some(home().instance(id(13)))
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_failed_shard_is_retried_with_a_note_and_the_run_completes_after() {
    let w = fleet().await;
    let q = FakeQueue::default();
    let run = start(&w, &q).await;
    let fault = w
        .faults
        .fail_for(Op::ChangeResourceRecordSets, &w.public.0, Phase::Before, 1);
    let first: Vec<String> = q.take_sent().into_iter().map(|(_, b)| b).collect();
    let done = handle(&w.rec, &q, batch(&first), None).await;
    let answer: Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
    assert_eq!(
        answer["batchItemFailures"].as_array().unwrap().len(),
        1,
        "{answer}"
    );
    assert_eq!(fault.fired(), 1);
    let noted = w.locks().runs.lock().unwrap()[&run].clone();
    assert_eq!(noted.pending().len(), 1);
    let part = noted.pending()[0].clone();
    assert!(
        noted.notes[&part].contains("failed, to be retried"),
        "{noted:?}"
    );
    assert!(
        q.asked.lock().unwrap().len() == 1,
        "its message comes back soon"
    );

    // The queue delivers it again.
    let failed = answer["batchItemFailures"][0]["itemIdentifier"]
        .as_str()
        .unwrap()[1..]
        .parse::<usize>()
        .unwrap();
    q.sent
        .lock()
        .unwrap()
        .push((QUEUE.into(), first[failed].clone()));
    pump(&w, &q, 10).await;
    let recorded = w.locks().runs.lock().unwrap()[&run].clone();
    assert!(recorded.complete(), "{recorded:?}");
    assert_eq!(recorded.counts.failed, 0);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_run_that_cannot_send_its_shards_fails_loudly_and_a_dry_run_changes_nothing() {
    let w = fleet().await;
    let q = FakeQueue::default();
    q.fail_sends
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let done = ask(&w, &q, json!({})).await;
    let e = done.answer.unwrap_err().to_string();
    assert!(e.contains("SendMessageBatch"), "{e}");
    q.fail_sends
        .store(false, std::sync::atomic::Ordering::SeqCst);

    let before = state(&w);
    let done = ask(&w, &q, json!({"dry_run": true})).await;
    let answer: Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
    assert_eq!(answer["dry_run"], true);
    w.faults.reset_calls();
    pump(&w, &q, 10).await;
    let writes: Vec<Op> = w
        .faults
        .counts()
        .into_keys()
        .filter(|op| op.writes() && *op != Op::RecordPart)
        .collect();
    assert!(writes.is_empty(), "a dry run wrote {writes:?}");
    assert_eq!(state(&w), before);
    let run = answer["run"].as_str().unwrap();
    let recorded = w.locks().runs.lock().unwrap()[run].clone();
    assert!(recorded.complete() && recorded.dry_run && recorded.counts.changes > 0);
}

#[tokio::test]
async fn without_a_queue_a_sharded_run_is_refused_with_the_reason() {
    let w = World::new();
    let q = FakeQueue::default();
    let done = ask(&w, &q, json!({})).await;
    let e = done.answer.unwrap_err().to_string();
    assert!(e.contains("QUEUE_URL is not set"), "{e}");
    assert!(q.sent.lock().unwrap().is_empty());
    assert!(w.locks().runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_shard_that_finds_too_little_time_left_is_handed_back_as_a_new_message() {
    let w = fleet().await;
    let q = FakeQueue::default();
    let run = start(&w, &q).await;
    let bodies: Vec<String> = q.take_sent().into_iter().map(|(_, b)| b).collect();
    let (locks, places): (Vec<String>, Vec<String>) =
        bodies.into_iter().partition(|b| b.contains("\"locks/"));
    let batch_of = [locks[0].clone(), places[0].clone()];
    // The first shard of the batch takes 60 of the invocation's 100 seconds.
    let gate = w.faults.hold(Op::ScanLocks, None, Phase::Before);
    let deadline = w.rec.now() + 100;
    let handled = handle(&w.rec, &q, batch(&batch_of), Some(deadline));
    let advance = async {
        gate.wait_held().await;
        w.advance(60);
        gate.release();
    };
    let (done, ()) = tokio::join!(handled, advance);
    let answer: Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let sent: Vec<String> = q.take_sent().into_iter().map(|(_, b)| b).collect();
    assert_eq!(sent, [places[0].clone()], "handed back as it was");
    let recorded = w.locks().runs.lock().unwrap()[&run].clone();
    let part = crate::shard::Task::from_body(&serde_json::from_str(&places[0]).unwrap())
        .unwrap()
        .unwrap()
        .part;
    assert!(recorded.pending().contains(&&part), "{recorded:?}");
    assert!(recorded.finished.iter().any(|p| p.starts_with("locks/")));
}

/// The schedule's event, as EventBridge puts it on the queue.
fn scheduled(at: &str) -> String {
    json!({"version": "0", "id": "s1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": at, "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ec2-dns-schedule"], "detail": {}})
    .to_string()
}

#[tokio::test]
async fn a_sharded_schedule_starts_one_run_per_event_and_a_clean_run_serves_later_events() {
    let mut w = fleet().await;
    w.reconfigure(|c| c.sharded_reconcile = true);
    let q = FakeQueue::default();
    let event = scheduled("2027-01-15T08:00:00Z");
    let done = handle(&w.rec, &q, batch(std::slice::from_ref(&event)), None).await;
    let answer: Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert!(
        done.report.is_none(),
        "nothing reconciled in the starting invocation"
    );
    let shards = q.sent.lock().unwrap().len();
    assert_eq!(shards, 4);
    // Delivered again (at least once): the same run, its pending shards sent again.
    handle(&w.rec, &q, batch(std::slice::from_ref(&event)), None).await;
    assert_eq!(w.locks().runs.lock().unwrap().len(), 1, "one run per event");
    assert_eq!(q.sent.lock().unwrap().len(), 2 * shards);
    pump(&w, &q, 10).await;
    let run = w.locks().runs.lock().unwrap()["s-m0"].clone();
    assert!(run.complete() && run.trigger == "schedule", "{run:?}");
    assert_eq!(*w.locks().swept.lock().unwrap(), Some(run.started));

    // An event emitted well before that run started is served by it: no second run.
    let earlier = scheduled("2027-01-15T07:58:00Z");
    let mut again = batch(&[earlier]);
    again["Records"][0]["messageId"] = json!("m-later");
    let done = handle(&w.rec, &q, again, None).await;
    let answer: Value = serde_json::from_str(done.answer.unwrap().get()).unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(
        w.locks().runs.lock().unwrap().len(),
        1,
        "served: no new run"
    );
    assert!(q.take_sent().is_empty());
}
