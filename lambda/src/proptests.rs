//! Properties over random worlds: random event sequences with duplicates, drops, late
//! delivery, time passing and injected faults (reads included) converge after one
//! reconcile of everything; concurrent runs racing for one name while EC2 changes under
//! them leave exactly one holder whose records (IPv6 and private zone included) are the
//! ones in Route53. Case counts: `EC2_DNS_PROPTEST_CASES` (default 1,000 each; `make soak`
//! runs 10,000).

mod slots;

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use crate::engine::{Request, CHANGE_WINDOW};
use crate::model::{InstanceState, Scope};
use crate::testing::faults::{Op, Phase};
use crate::testing::{name, owner, World};

const NAMES: [&str; 3] = [
    "a.dyn.example.com",
    "b.dyn.example.com",
    "c.dyn.example.com",
];
const TAGS: [Option<&str>; 6] = [
    Some("a.dyn.example.com"),
    Some("b.dyn.example.com"),
    Some("a.dyn.example.com,b.dyn.example.com"),
    Some("C.dyn.example.com."),
    Some("*.dyn.example.com"),
    None,
];

pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("EC2_DNS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
enum Change {
    Start(u8),
    Stop,
    Terminate,
    Tag(usize),
    Ipv6(bool),
    /// Time passes beyond every change window.
    Later,
}

#[derive(Debug, Clone, Copy)]
enum Delivery {
    Once,
    Twice,
    Dropped,
    Late,
}

#[derive(Debug, Clone)]
struct Step {
    instance: u32,
    change: Change,
    delivery: Delivery,
    fault: Option<(usize, bool)>,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => any::<u8>().prop_map(Change::Start),
        2 => Just(Change::Stop),
        1 => Just(Change::Terminate),
        2 => (0..TAGS.len()).prop_map(Change::Tag),
        1 => any::<bool>().prop_map(Change::Ipv6),
        1 => Just(Change::Later),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let delivery = prop_oneof![
        4 => Just(Delivery::Once),
        1 => Just(Delivery::Twice),
        1 => Just(Delivery::Dropped),
        1 => Just(Delivery::Late),
    ];
    let fault = proptest::option::weighted(0.25, (0..Op::all().len(), any::<bool>()));
    (1u32..=4, change(), delivery, fault).prop_map(|(instance, change, delivery, fault)| Step {
        instance,
        change,
        delivery,
        fault,
    })
}

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

impl World {
    fn apply(&self, n: u32, change: &Change) {
        let gone = self
            .ec2()
            .get(&owner(n))
            .is_some_and(|i| i.state == InstanceState::Terminated);
        match change {
            _ if gone => {}
            Change::Start(ip) => self.ec2().update(&owner(n), |i| {
                i.state = InstanceState::Running;
                i.public_ipv4 = Some(Ipv4Addr::new(198, 51, 100, *ip));
            }),
            Change::Stop => self.set_state(n, InstanceState::Stopped),
            Change::Terminate => self.set_state(n, InstanceState::Terminated),
            Change::Tag(t) => self.set_tag(n, TAGS[*t]),
            Change::Ipv6(on) => self.ec2().update(&owner(n), |i| {
                i.ipv6 = if *on {
                    vec![Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n as u16)]
                } else {
                    Vec::new()
                }
            }),
            Change::Later => self.advance(CHANGE_WINDOW + 60),
        }
    }

    async fn try_event(&self, ns: &[u32]) {
        let _ = self.rec.reconcile(&World::request(ns)).await;
    }

    /// The desired state: every name claimed by a running instance is held by one of its
    /// running claimants and points at that holder's addresses in every zone; no other name
    /// has a holder or a record.
    fn assert_desired(&self) {
        let instances = self.ec2().all();
        for n in NAMES {
            let claimants: Vec<_> = instances
                .iter()
                .filter(|i| i.state == InstanceState::Running)
                .filter(|i| {
                    i.names.tag().is_some_and(|t| {
                        t.split(',')
                            .any(|p| crate::name::Fqdn::parse(p).is_ok_and(|f| f == name(n)))
                    })
                })
                .collect();
            match self.owner(n) {
                Some(o) => {
                    let holder = claimants
                        .iter()
                        .find(|i| i.owner == o)
                        .unwrap_or_else(|| panic!("{n} held by non-claimant {o}"));
                    assert_eq!(
                        self.a(n),
                        holder.public_ipv4.map(|ip| vec![ip.to_string()]),
                        "{n}"
                    );
                    assert_eq!(
                        self.private_a(n),
                        holder.private_ipv4.map(|ip| vec![ip.to_string()]),
                        "{n}"
                    );
                    let v6: Vec<String> = holder.ipv6.iter().map(|a| a.to_string()).collect();
                    assert_eq!(
                        self.values(&self.public, n, "AAAA"),
                        (!v6.is_empty()).then_some(v6),
                        "{n}"
                    );
                }
                None => {
                    assert!(claimants.is_empty(), "{n} claimed but not held");
                    assert_eq!(self.a(n), None, "{n}");
                    assert_eq!(self.private_a(n), None, "{n}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_with_faults_converge_after_one_reconcile_of_everything(steps in proptest::collection::vec(step(), 1..24)) {
        block_on(async {
            let w = World::new();
            for n in 1..=4 {
                w.launch(n, TAGS[(n as usize - 1) % 3].unwrap_or_default());
            }
            let mut late = Vec::new();
            for s in &steps {
                w.apply(s.instance, &s.change);
                if let Some((op, after)) = s.fault {
                    w.faults.may_fail(Op::all()[op], if after { Phase::After } else { Phase::Before }, 1);
                }
                match s.delivery {
                    Delivery::Once => w.try_event(&[s.instance]).await,
                    Delivery::Twice => {
                        w.try_event(&[s.instance]).await;
                        w.try_event(&[s.instance]).await;
                    }
                    Delivery::Dropped => {}
                    Delivery::Late => late.push(s.instance),
                }
            }
            for n in late.into_iter().rev() {
                w.try_event(&[n]).await;
            }
            // Faults that did not fire are dropped; once every window is over, one reconcile
            // of everything makes up for dropped events and failed calls.
            w.faults.clear();
            w.advance(CHANGE_WINDOW + 60);
            w.all().await;
            w.assert_converged().await;
            w.assert_desired();
        });
    }

    #[test]
    fn concurrent_runs_while_ec2_changes_leave_exactly_one_holder(
        yields in proptest::collection::vec(0u8..4, 1..16),
        held_first in any::<bool>(),
        scopes in proptest::collection::vec(proptest::collection::btree_set(1u32..=3, 1..=3), 2..=4),
        changes in proptest::collection::vec((1u32..=3, change()), 0..4),
        ipv6 in any::<bool>(),
    ) {
        block_on(async {
            let w = World::new();
            for n in 1..=3 {
                w.launch(n, "a.dyn.example.com");
                if ipv6 {
                    w.apply(n, &Change::Ipv6(true));
                }
            }
            if held_first {
                w.event(&[1]).await;
            }
            w.faults.set_yields(yields.clone());
            let runs = scopes.iter().map(|s| {
                let req = Request { names: Default::default(),
                    scope: Scope::Owners(s.iter().map(|n| owner(*n)).collect()),
                    verify_dns: false,
                    dry_run: false,
                    deadline: None,
                };
                let rec = &w.rec;
                async move { rec.reconcile(&req).await }
            });
            // EC2 changes while the runs interleave.
            let mutate = async {
                for (n, c) in &changes {
                    tokio::task::yield_now().await;
                    w.apply(*n, c);
                }
            };
            let (results, ()) = tokio::join!(futures_util::future::join_all(runs), mutate);
            let _ = results;
            // Safe at once, whatever the interleaving: nothing unmarked, nothing ahead of the
            // lock (one holder per name is the lock table's own structure).
            w.assert_marked();
            // Whatever the runs saw, the retries of their events (and of the changes' events)
            // after the windows settle it.
            w.faults.set_yields(Vec::new());
            w.advance(CHANGE_WINDOW + 60);
            w.event(&[1, 2, 3]).await;
            w.all().await;
            w.assert_converged().await;
            w.assert_desired();
        });
    }
}

/// The shared name of [`random_shared_sets_keep_exactly_their_running_members`], and the
/// tags its instances switch between: shared, alone, shared beside another name, none.
const SHARED: &str = "s.dyn.example.com";
const SHARED_TAGS: [Option<&str>; 4] = [
    Some("shared:s.dyn.example.com"),
    Some("s.dyn.example.com"),
    Some("shared:S.dyn.example.com,a.dyn.example.com"),
    None,
];

impl World {
    /// A shared name's desired state: while a member of its set runs and claims it shared,
    /// the set holds exactly the running shared claimants (their addresses are checked by
    /// `assert_invariants`); held alone, its holder runs and claims it alone; free, nobody
    /// claims it.
    fn assert_shared_desired(&self) {
        let running: Vec<_> = self
            .ec2()
            .all()
            .into_iter()
            .filter(|i| i.state == InstanceState::Running)
            .collect();
        let claims = |shared: bool| -> std::collections::BTreeSet<crate::model::Owner> {
            running
                .iter()
                .filter(|i| {
                    i.names.tag().is_some_and(|t| {
                        crate::name::parse_tag(t).is_ok_and(|es| {
                            es.iter().any(|e| {
                                e.shared == shared && e.parsed.as_ref() == Ok(&name(SHARED))
                            })
                        })
                    })
                })
                .map(|i| i.owner.clone())
                .collect()
        };
        let (shared, alone) = (claims(true), claims(false));
        let lock = self.locks().snapshot().get(&name(SHARED)).cloned();
        match lock
            .as_ref()
            .and_then(|l| l.holder.as_ref().map(|h| (l, h)))
        {
            Some((l, _)) if l.shared() => assert_eq!(l.members, shared, "members"),
            Some((_, h)) => assert!(alone.contains(h), "held alone by {h}, not a claimant"),
            None => assert!(
                shared.is_empty() && alone.is_empty(),
                "claimed but free: {shared:?} {alone:?}"
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), failure_persistence: None, ..ProptestConfig::default() })]

    /// No member stays in a shared set after it stops, and the set never loses a running
    /// member, whatever the order of events, faults and concurrent runs.
    #[test]
    fn random_shared_sets_keep_exactly_their_running_members(
        steps in proptest::collection::vec(step(), 1..20),
        yields in proptest::collection::vec(0u8..4, 0..12),
        scopes in proptest::collection::vec(proptest::collection::btree_set(1u32..=4, 1..=2), 1..=3),
    ) {
        block_on(async {
            let mut w = World::new();
            w.reconfigure(|c| c.shared_names = true);
            for n in 1..=4 {
                w.launch(n, SHARED_TAGS[if n == 4 { 1 } else { 0 }].unwrap_or_default());
            }
            for s in &steps {
                match s.change {
                    Change::Tag(t) => w.set_tag(s.instance, SHARED_TAGS[t % SHARED_TAGS.len()]),
                    ref c => w.apply(s.instance, c),
                }
                if let Some((op, after)) = s.fault {
                    w.faults.may_fail(Op::all()[op], if after { Phase::After } else { Phase::Before }, 1);
                }
                match s.delivery {
                    Delivery::Dropped => {}
                    _ => w.try_event(&[s.instance]).await,
                }
            }
            // Then runs of several members at once, interleaved.
            w.faults.clear();
            w.faults.set_yields(yields.clone());
            let runs = scopes.iter().map(|s| {
                let req = World::request(&s.iter().copied().collect::<Vec<_>>());
                let rec = &w.rec;
                async move { rec.reconcile(&req).await }
            });
            let _ = futures_util::future::join_all(runs).await;
            w.assert_marked();
            w.faults.set_yields(Vec::new());
            w.advance(CHANGE_WINDOW + 60);
            w.all().await;
            w.assert_converged().await;
            w.assert_shared_desired();
        });
    }
}

/// Shrunk from `concurrent_runs_while_ec2_changes_leave_exactly_one_holder`: two runs for
/// one instance; the overtaken one must not touch the records the other relies on.
#[tokio::test]
async fn an_overtaken_run_never_touches_the_records_of_the_run_that_overtook_it() {
    let w = World::new();
    for n in 1..=3 {
        w.launch(n, "a.dyn.example.com");
    }
    w.faults.set_yields(vec![0, 2, 2, 0]);
    let req = World::request(&[1]);
    let (a, b) = tokio::join!(w.rec.reconcile(&req), w.rec.reconcile(&req));
    assert!(a.is_ok() && b.is_ok());
    w.faults.set_yields(Vec::new());
    w.event(&[1]).await;
    w.assert_invariants();
    w.assert_desired();
}
