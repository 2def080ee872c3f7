//! Slot names (`{slot}`) under random sequences: launches, starts, stops, terminations and
//! name-tag changes of instances sharing two templates (or spelling slot names out, then
//! taking the template: two slots of one template), their events delivered once, twice,
//! late or never, reconciles of everything between them, and races in which one run's
//! lock write is held while EC2 changes and another run (an event or a reconcile of
//! everything) goes through. Properties:
//!
//! - at every quiet moment, a slot's records are fenced: marked, and at the lock's
//!   generation marked with the lock's holder (one holder per slot: the lock's);
//! - a running claimant keeps the lowest slot it holds (of two, the lower), whatever else
//!   happens;
//! - an instance's own event frees the slots of a stopped, terminated or no longer
//!   claiming instance, and so does any reconcile of everything;
//! - after a final reconcile every running claimant holds exactly one slot of each of its
//!   templates and nobody else holds one, published at its addresses and said in its
//!   status tag; a newcomer then gets the lowest free number, and a second reconcile
//!   changes nothing.
//!
//! Case count: `EC2_DNS_PROPTEST_CASES`, as for the other properties (`make soak`).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::{block_on, cases};
use crate::decide::slots::Template;
use crate::engine::{Request, CHANGE_WINDOW};
use crate::model::{InstanceState, Owner, Scope};
use crate::testing::faults::{Op, Phase};
use crate::testing::{instance, owner, World};

const WEB: &str = "web-{slot}.dyn.example.com";
const API: &str = "api-{slot}.dyn.example.com";
const TAGS: [Option<&str>; 6] = [
    Some(WEB),
    Some("web-{slot}.dyn.example.com,api-{slot}.dyn.example.com"),
    Some(API),
    Some("db.dyn.example.com"),
    None,
    // Slot names spelled out: an instance that holds both and then gets the template
    // holds two slots of it (as a race could leave it) and must keep the lower.
    Some("web-2.dyn.example.com,web-5.dyn.example.com"),
];
/// Instances `1..=LAUNCHED` run from the start; up to `MAX` may be launched by a step.
const LAUNCHED: u32 = 3;
const MAX: u32 = 6;
/// The newcomer of the final check: launched last.
const NEWCOMER: u32 = 100;

fn templates() -> [Template; 2] {
    [
        Template::parse(WEB).expect("template"),
        Template::parse(API).expect("template"),
    ]
}

#[derive(Debug, Clone)]
enum Change {
    /// The instance is launched (running, tagged with [`WEB`]) if it does not exist yet,
    /// started (with a new public address) if it is stopped.
    Start(u8),
    Stop,
    Terminate,
    Tag(usize),
    /// Time passes beyond every change window.
    Later,
}

#[derive(Debug, Clone, Copy)]
enum Delivery {
    Once,
    Twice,
    Dropped,
    /// Delivered after every other step, before the final reconcile.
    Late,
}

#[derive(Debug, Clone)]
enum Action {
    /// A change to one instance, and its event.
    Event {
        instance: u32,
        change: Change,
        delivery: Delivery,
    },
    /// A reconcile of everything.
    Reconcile,
    /// Two runs at once: an event about `first` is held at its lock write of slot `held`
    /// of [`WEB`] (of any name when `None`), before or after it takes effect; meanwhile
    /// `during` changes EC2 and a second run (an event about `second`, or a reconcile of
    /// everything when `None`) goes through; then the first goes on.
    Race {
        first: BTreeSet<u32>,
        held: Option<u32>,
        after: bool,
        during: Option<(u32, Change)>,
        second: Option<BTreeSet<u32>>,
    },
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => any::<u8>().prop_map(Change::Start),
        3 => Just(Change::Stop),
        1 => Just(Change::Terminate),
        // Mostly the template alone.
        3 => prop_oneof![3 => Just(0usize), 1 => 1..TAGS.len()].prop_map(Change::Tag),
        1 => Just(Change::Later),
    ]
}

fn instances() -> impl Strategy<Value = BTreeSet<u32>> {
    proptest::collection::btree_set(1u32..=MAX, 1..=3)
}

fn action() -> impl Strategy<Value = Action> {
    let delivery = prop_oneof![
        4 => Just(Delivery::Once),
        1 => Just(Delivery::Twice),
        1 => Just(Delivery::Dropped),
        1 => Just(Delivery::Late),
    ];
    prop_oneof![
        6 => (1u32..=MAX, change(), delivery).prop_map(|(instance, change, delivery)| {
            Action::Event { instance, change, delivery }
        }),
        1 => Just(Action::Reconcile),
        3 => (
            instances(),
            proptest::option::of(1u32..=4),
            any::<bool>(),
            proptest::option::of((1u32..=MAX, change())),
            proptest::option::weighted(0.7, instances()),
        )
            .prop_map(|(first, held, after, during, second)| Action::Race {
                first,
                held,
                after,
                during,
                second,
            }),
    ]
}

fn slot(n: u32) -> String {
    format!("web-{n}.dyn.example.com")
}

fn numbers(set: &BTreeSet<u32>) -> Vec<u32> {
    set.iter().copied().collect()
}

fn everything() -> Request {
    Request {
        names: Default::default(),
        scope: Scope::All,
        verify_dns: true,
        dry_run: false,
        deadline: None,
    }
}

/// Applies a change to EC2 (none to a terminated instance).
fn apply(w: &World, n: u32, change: &Change) {
    let Some(inst) = w.ec2().get(&owner(n)) else {
        if let Change::Start(_) = change {
            w.ec2().put(instance(n, Some(WEB)));
        }
        return;
    };
    if inst.state == InstanceState::Terminated {
        return;
    }
    match change {
        Change::Start(ip) if inst.state != InstanceState::Running => w.restart_with_ip(n, *ip),
        Change::Start(_) => {}
        Change::Stop => w.set_state(n, InstanceState::Stopped),
        Change::Terminate => w.set_state(n, InstanceState::Terminated),
        Change::Tag(t) => w.set_tag(n, TAGS[*t]),
        Change::Later => w.advance(CHANGE_WINDOW + 60),
    }
}

/// Whether `o` runs and its name tag asks for template `t`.
fn claims(w: &World, o: &Owner, t: &Template) -> bool {
    w.ec2().get(o).is_some_and(|i| {
        i.state == InstanceState::Running
            && i.names.tag().is_some_and(|tag| {
                tag.split(',')
                    .any(|e| Template::parse(e).is_ok_and(|x| x == *t))
            })
    })
}

/// Whether `o` runs and its name tag spells out `name` (a slot name written by hand: an
/// ordinary claim, which may wait for a holder like any name).
fn spells(w: &World, o: &Owner, name: &str) -> bool {
    w.ec2().get(o).is_some_and(|i| {
        i.state == InstanceState::Running
            && i.names
                .tag()
                .is_some_and(|tag| tag.split(',').any(|e| e == name))
    })
}

/// Whether `o` may hold slot `k` of `t`: it claims the template, or spells the name out.
fn may_hold(w: &World, o: &Owner, t: &Template, k: u32) -> bool {
    claims(w, o, t) || t.name(k).is_some_and(|n| spells(w, o, n.as_str()))
}

/// The slots each holder holds, per template, from the lock table.
fn held(w: &World) -> BTreeMap<(Template, Owner), BTreeSet<u32>> {
    let mut out: BTreeMap<(Template, Owner), BTreeSet<u32>> = BTreeMap::new();
    for (n, lock) in w.locks().snapshot() {
        let Some(h) = lock.holder else { continue };
        for t in templates() {
            if let Some(k) = t.number_of(&n) {
                out.entry((t, h.clone())).or_default().insert(k);
            }
        }
    }
    out
}

/// Safe at any quiet moment: every record is marked, no marker is ahead of its lock, a
/// slot's marker at the lock's generation names the lock's holder, and the owner index
/// gives a slot to nobody but that holder: whatever raced, a slot has one holder and is
/// published for it alone.
fn assert_safe(w: &World) {
    w.assert_marked();
    let locks = w.locks().snapshot();
    for (o, names) in w.locks().index() {
        for n in names {
            if templates().iter().any(|t| t.number_of(&n).is_some()) {
                assert_eq!(
                    locks.get(&n).and_then(|l| l.holder.as_ref()),
                    Some(&o),
                    "the owner index gives {n} to {o}"
                );
            }
        }
    }
    for (n, lock) in locks {
        if templates().iter().all(|t| t.number_of(&n).is_none()) {
            continue;
        }
        for zone in [&w.public, &w.private] {
            let Some(m) = w.marker(zone, n.as_str()) else {
                continue;
            };
            if m.gen == lock.gen {
                assert!(
                    lock.holder.as_ref().is_some_and(|h| m.names(h)),
                    "{n} in {zone}: the marker of the lock's generation names {:?}, the lock {:?}",
                    m.owner,
                    lock.holder
                );
            }
        }
    }
}

/// Every slot held is held by a running claimant of its template (or by a running
/// instance whose tag spells the slot's name out).
fn assert_freed(w: &World, why: &str) {
    for ((t, o), ks) in held(w) {
        for k in &ks {
            assert!(may_hold(w, &o, &t, *k), "{why}: {o} holds {t} slots {ks:?}");
        }
    }
}

/// A running claimant of a template keeps the lowest slot of it that it held.
fn assert_kept(
    w: &World,
    before: &BTreeMap<(Template, Owner), BTreeSet<u32>>,
    claimed: &BTreeSet<(Template, Owner)>,
) {
    let after = held(w);
    for (key, ks) in before {
        if !claimed.contains(key) || !claims(w, &key.1, &key.0) {
            continue;
        }
        let lowest = ks.iter().min().expect("a holder holds one");
        assert!(
            after.get(key).is_some_and(|now| now.contains(lowest)),
            "{} of {}: held {ks:?}, now {:?}",
            key.1,
            key.0,
            after.get(key)
        );
    }
}

/// The (template, owner) pairs that run and claim now.
fn claimants(w: &World) -> BTreeSet<(Template, Owner)> {
    w.ec2()
        .all()
        .into_iter()
        .flat_map(|i| templates().map(|t| (t, i.owner.clone())))
        .filter(|(t, o)| claims(w, o, t))
        .collect()
}

/// Two runs at once (see [`Action::Race`]).
async fn race(
    w: &World,
    first: &BTreeSet<u32>,
    held_slot: Option<u32>,
    after: bool,
    during: &Option<(u32, Change)>,
    second: &Option<BTreeSet<u32>>,
) {
    let key = held_slot.map(slot);
    let phase = if after { Phase::After } else { Phase::Before };
    let gate = w.faults.may_hold(Op::Decide, key.as_deref(), phase);
    let done = Cell::new(false);
    let one = async {
        let _ = w.attempt(&numbers(first)).await;
        done.set(true);
    };
    let other = async {
        while !gate.is_held() && !done.get() {
            tokio::task::yield_now().await;
        }
        if !gate.is_held() {
            // The first run made no such write: nothing to hold.
            w.faults.clear();
        }
        if let Some((n, c)) = during {
            apply(w, *n, c);
        }
        let _ = match second {
            Some(ns) => w.attempt(&numbers(ns)).await,
            None => w.rec.reconcile(&everything()).await,
        };
        gate.release();
    };
    tokio::join!(one, other);
    w.faults.clear();
}

/// The final check: one reconcile of everything after every window, then the desired
/// state, a newcomer's slot and a second reconcile.
async fn assert_settled(w: &World) {
    w.faults.clear();
    w.advance(CHANGE_WINDOW + 60);
    let r = w.all().await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_safe(w);
    assert_freed(w, "after the final reconcile");
    let holds = held(w);
    for (t, o) in claimants(w) {
        let ks = holds.get(&(t.clone(), o.clone()));
        assert_eq!(ks.map(BTreeSet::len), Some(1), "{o} of {t}: {ks:?}");
        let k = *ks.and_then(|s| s.first()).expect("one slot");
        let n = t.name(k).expect("a slot name");
        let inst = w.ec2().get(&o).expect("a claimant");
        assert_eq!(
            w.a(n.as_str()),
            inst.public_ipv4.map(|ip| vec![ip.to_string()]),
            "{n}"
        );
        let status = w
            .ec2()
            .get(&o)
            .and_then(|i| i.status_tag)
            .unwrap_or_default();
        // (After what the last change released, if anything: `released: …; ok: …`.)
        assert!(
            status.contains(&format!("ok: {n}")) || status.contains(&format!(", {n}")),
            "{o}: {status}"
        );
    }
    // A newcomer takes the lowest number nobody holds.
    let taken: BTreeSet<u32> = holds
        .iter()
        .filter(|((t, _), _)| t.to_string() == WEB)
        .flat_map(|(_, ks)| ks.iter().copied())
        .collect();
    let lowest = (1..).find(|k| !taken.contains(k)).expect("a free number");
    w.launch(NEWCOMER, WEB);
    let r = w.event(&[NEWCOMER]).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(
        w.owner(&slot(lowest)),
        Some(owner(NEWCOMER)),
        "held {taken:?}"
    );
    let mut after = held(w);
    after.remove(&(templates()[0].clone(), owner(NEWCOMER)));
    assert_eq!(after, holds, "nobody else moved");
    w.assert_converged().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn slot_names_stay_unshared_kept_and_lowest_free_under_random_events_reconciles_and_races(
        actions in proptest::collection::vec(action(), 1..20),
    ) {
        block_on(async {
            let w = World::new();
            for n in 1..=LAUNCHED {
                w.launch(n, WEB);
            }
            let mut late = Vec::new();
            for a in &actions {
                let before = held(&w);
                let claimed = claimants(&w);
                match a {
                    Action::Event { instance, change, delivery } => {
                        apply(&w, *instance, change);
                        let times = match delivery {
                            Delivery::Once => 1,
                            Delivery::Twice => 2,
                            Delivery::Dropped => 0,
                            Delivery::Late => {
                                late.push(*instance);
                                0
                            }
                        };
                        for _ in 0..times {
                            let _ = w.attempt(&[*instance]).await;
                        }
                        if times > 0 {
                            // Its own event frees what the instance no longer claims.
                            let o = owner(*instance);
                            for ((t, h), ks) in held(&w) {
                                assert!(h != o || ks.iter().all(|k| may_hold(&w, &o, &t, *k)), "{o} still holds {t} slots {ks:?}");
                            }
                        }
                    }
                    Action::Reconcile => {
                        let _ = w.rec.reconcile(&everything()).await;
                        assert_freed(&w, "after a reconcile of everything");
                    }
                    Action::Race { first, held, after, during, second } => {
                        race(&w, first, *held, *after, during, second).await;
                    }
                }
                assert_safe(&w);
                assert_kept(&w, &before, &claimed);
            }
            for n in late {
                let _ = w.attempt(&[n]).await;
            }
            assert_settled(&w).await;
        });
    }
}
