//! A reconcile decides and applies its names a chunk at a time ([`crate::engine::CHUNK`]):
//! how the run is cut must change nothing. Every cross-name rule (who wins a name, slots,
//! shared names, reverse records, status tags) comes from claims computed once per run, so
//! a run cut into chunks of one or three names reaches the very state one chunk reaches:
//! the same records, lock items, owner index, status tags and report.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{Request, CHANGE_WINDOW};
use crate::lock::Lock;
use crate::model::{InstanceState, Owner, Scope};
use crate::name::Fqdn;
use crate::report::Report;
use crate::testing::fakes::Key;
use crate::testing::faults::{Op, Phase};
use crate::testing::{name, owner, World};

const WEB: &str = "web.dyn.example.com";
const DB: &str = "db.dyn.example.com";
const MAIL: &str = "mail.dyn.example.com";
const FAIL: &str = "fail.dyn.example.com";

/// A world with a bit of everything, its first reconcile of everything done: a conflict,
/// a stop to release, addresses to update (a reverse name moves), slots, a shared name,
/// reverse records, a name whose public A is protected (Route53 refuses its batch, the
/// name is read and decided again), a foreign record, an invalid tag, a frozen name (its
/// holder's other names decided), and a lock write that fails once.
async fn world() -> World {
    let mut w = World::with_domains("dyn.example.com,10.in-addr.arpa,other.example.org");
    w.route53().add_zone("ZREV", "10.in-addr.arpa", true);
    w.reconfigure(|c| {
        c.reverse_records = true;
        c.shared_names = true;
    });
    w.launch(1, WEB);
    w.launch(2, &format!("{WEB},a.dyn.example.com"));
    w.launch(3, "old.dyn.example.com");
    w.launch(4, "move.dyn.example.com,b.dyn.example.com");
    w.launch(5, "app-{slot}.dyn.example.com");
    w.launch(16, "cold.other.example.org,c.dyn.example.com");
    w.all().await;
    w.advance(CHANGE_WINDOW + 60);

    // The name held outside the allowed domains now is frozen, its holder told so.
    let fewer = ["dyn.example.com", "10.in-addr.arpa"];
    w.reconfigure(|c| c.allowed_domains = fewer.iter().map(|d| name(d)).collect());

    w.set_state(3, InstanceState::Stopped);
    w.restart_with_ip(4, 44);
    w.ec2().update(&owner(4), |i| {
        i.private_ipv4 = Some("10.0.0.44".parse().unwrap());
    });
    w.set_state(5, InstanceState::Stopped);
    for n in 6..=9 {
        w.launch(n, "app-{slot}.dyn.example.com");
    }
    for n in 10..=12 {
        w.launch(n, "shared:api.dyn.example.com");
    }
    let public = w.public.clone();
    w.route53().protect(&public, DB, "A", None);
    w.launch(13, DB);
    w.put_foreign(&public, MAIL, "A", &["192.0.2.50"]);
    w.launch(14, MAIL);
    w.launch(15, "evil.com");
    w.launch(17, FAIL);
    // Its lock write fails in the next run (the run after converges).
    w.faults.fail_for(Op::Decide, FAIL, Phase::Before, 1);
    w
}

/// What a run leaves behind, and what it said; rows sorted (their order follows the
/// chunks), lock stamps without their per-write tokens.
#[derive(Debug, PartialEq)]
struct State {
    records: BTreeMap<Key, (i64, Vec<String>)>,
    locks: BTreeMap<Fqdn, Lock>,
    index: BTreeMap<Owner, BTreeSet<Fqdn>>,
    tags: BTreeMap<Owner, Option<String>>,
    report: Vec<Vec<String>>,
}

fn state(w: &World, r: &Report) -> State {
    State {
        records: w
            .route53()
            .snapshot()
            .into_iter()
            .map(|(k, s)| (k, (s.ttl, s.values)))
            .collect(),
        locks: w
            .locks()
            .snapshot()
            .into_iter()
            .map(|(n, mut l)| {
                if let Some(s) = l.stamp.as_mut() {
                    s.token = 0;
                }
                (n, l)
            })
            .collect(),
        index: w.locks().index(),
        tags: w
            .ec2()
            .all()
            .into_iter()
            .map(|i| (i.owner, i.status_tag))
            .collect(),
        report: vec![
            sorted(&r.changes),
            sorted(&r.conflicts),
            sorted(&r.skipped),
            sorted(&r.frozen),
            sorted(&r.failed),
            sorted(&r.warnings),
        ],
    }
}

/// Report rows as text, sorted.
fn sorted<T: serde::Serialize>(rows: &[T]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    out.sort();
    out
}

/// `got` is `want`, part by part (so that a difference reads).
fn same(got: &State, want: &State, ctx: &str) {
    assert_eq!(got.records, want.records, "{ctx}: Route53");
    assert_eq!(got.locks, want.locks, "{ctx}: lock items");
    assert_eq!(got.index, want.index, "{ctx}: owner index");
    assert_eq!(got.tags, want.tags, "{ctx}: status tags");
    assert_eq!(got.report, want.report, "{ctx}: report");
}

fn all(dry_run: bool) -> Request {
    Request {
        names: Default::default(),
        scope: Scope::All,
        verify_dns: true,
        dry_run,
        deadline: None,
    }
}

#[tokio::test]
async fn a_reconcile_of_everything_cut_into_chunks_reaches_the_state_of_one_chunk() {
    let whole = world().await;
    let dry = whole.run(all(true)).await;
    let whole_dry = state(&whole, &dry);
    let first = whole.all().await;
    // The world is what it says: each of its cases happened.
    assert!(
        first.conflicts.iter().any(|c| c.name.as_str() == WEB),
        "{first:?}"
    );
    assert!(
        first.conflicts.iter().any(|c| c.name.as_str() == MAIL),
        "{first:?}"
    );
    assert!(
        first.conflicts.iter().any(|c| c.name.as_str() == DB),
        "{first:?}"
    );
    // The protection is known only from Route53's refusal of db's batch (a read cannot
    // see it): the name was read and decided again within the run.
    let db = &whole.locks().snapshot()[&name(DB)];
    assert!(
        !crate::decide::protection::remembered(db, whole.rec.now()).is_empty(),
        "{db:?}"
    );
    assert!(first.failed.iter().any(|f| f.name == FAIL), "{first:?}");
    assert!(!first.frozen.is_empty(), "{first:?}");
    assert!(first.changes.iter().any(|c| c.rtype == "PTR"), "{first:?}");
    assert_eq!(whole.owner("app-5.dyn.example.com"), Some(owner(9)));
    assert_eq!(whole.a("api.dyn.example.com").map(|v| v.len()), Some(3));
    let whole_first = state(&whole, &first);
    let second = whole.all().await;
    let whole_second = state(&whole, &second);
    whole.assert_converged().await;

    for n in [1, 3] {
        let mut cut = world().await;
        cut.rec = cut.rec.with_chunk(n);
        let cut_dry = cut.run(all(true)).await;
        same(
            &state(&cut, &cut_dry),
            &whole_dry,
            &format!("dry run, chunks of {n}"),
        );
        let r = cut.all().await;
        same(&state(&cut, &r), &whole_first, &format!("chunks of {n}"));
        let r = cut.all().await;
        same(
            &state(&cut, &r),
            &whole_second,
            &format!("chunks of {n}, second round"),
        );
        cut.assert_converged().await;
    }
}
