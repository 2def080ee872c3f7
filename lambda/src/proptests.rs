//! Properties over random worlds (issue: "prove it"): random event sequences with
//! duplicates, drops, late delivery and injected faults converge after one reconcile-all;
//! concurrent reconciles racing for one name leave exactly one owner whose records are the
//! ones in Route53. Case counts: `EC2_DNS_PROPTEST_CASES` (default 1,000 each; `make soak`
//! runs 10,000).

use std::net::Ipv4Addr;

use proptest::prelude::*;

use crate::fakes::Phase;
use crate::model::InstanceState;
use crate::plan::Scope;
use crate::reconcile::Request;
use crate::tests::{id, name, World};

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
const FAULT_OPS: [(&str, &str); 7] = [
    ("ec2", "DescribeInstances"),
    ("ec2", "CreateTags"),
    ("dns", "ChangeResourceRecordSets"),
    ("locks", "BatchGetItem"),
    ("locks", "Acquire"),
    ("locks", "Commit"),
    ("locks", "Release"),
];

fn cases(default: u32) -> u32 {
    std::env::var("EC2_DNS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
enum Op {
    Start(u8),
    Stop,
    Terminate,
    Tag(usize),
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
    op: Op,
    delivery: Delivery,
    fault: Option<(usize, bool)>,
}

fn step() -> impl Strategy<Value = Step> {
    let op = prop_oneof![
        3 => any::<u8>().prop_map(Op::Start),
        2 => Just(Op::Stop),
        1 => Just(Op::Terminate),
        2 => (0..TAGS.len()).prop_map(Op::Tag),
    ];
    let delivery = prop_oneof![
        4 => Just(Delivery::Once),
        1 => Just(Delivery::Twice),
        1 => Just(Delivery::Dropped),
        1 => Just(Delivery::Late),
    ];
    let fault = proptest::option::weighted(0.2, (0..FAULT_OPS.len(), any::<bool>()));
    (1u32..=4, op, delivery, fault).prop_map(|(instance, op, delivery, fault)| Step {
        instance,
        op,
        delivery,
        fault,
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

impl World {
    fn inject(&self, (op, after): (usize, bool)) {
        let (svc, op) = FAULT_OPS[op];
        let phase = if after { Phase::After } else { Phase::Before };
        match svc {
            "ec2" => self.rec.instances.faults.fail(op, phase, 1),
            "dns" => self.rec.dns.faults.fail(op, phase, 1),
            _ => self.rec.locks.faults.fail(op, phase, 1),
        }
    }

    async fn try_event(&self, n: u32) {
        let req = Request {
            scope: Scope::Instances([id(n)].into()),
            verify_dns: false,
            dry_run: false,
        };
        let _ = self.rec.reconcile(&req).await;
    }

    /// The desired state: every name claimed by a running instance is owned by one of its
    /// running claimants and points at that owner's addresses; no other name has a lock or
    /// a record.
    fn assert_desired(&self) {
        let instances = self.rec.instances.instances.lock().unwrap().clone();
        for n in NAMES {
            let claimants: Vec<_> = instances
                .values()
                .filter(|i| i.state == InstanceState::Running)
                .filter(|i| {
                    i.name_tag.as_deref().is_some_and(|t| {
                        t.split(',')
                            .any(|p| crate::name::Fqdn::parse(p).is_ok_and(|f| f == name(n)))
                    })
                })
                .collect();
            match self.owner(n) {
                Some(o) => {
                    let owner = claimants
                        .iter()
                        .find(|i| i.id == o)
                        .unwrap_or_else(|| panic!("{n} owned by non-claimant {o}"));
                    assert_eq!(
                        self.a(n),
                        owner.public_ipv4.map(|ip| vec![ip.to_string()]),
                        "{n}"
                    );
                    assert_eq!(
                        self.private_a(n),
                        owner.private_ipv4.map(|ip| vec![ip.to_string()]),
                        "{n}"
                    );
                }
                None => {
                    assert!(claimants.is_empty(), "{n} claimed but unowned");
                    assert_eq!(self.a(n), None, "{n}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_with_faults_converge_after_one_reconcile_all(steps in proptest::collection::vec(step(), 1..24)) {
        block_on(async {
            let w = World::new();
            for n in 1..=4 {
                w.launch(n, TAGS[(n as usize - 1) % 3].unwrap_or_default());
            }
            let mut late = Vec::new();
            for s in &steps {
                let terminated = w.rec.instances.get(&id(s.instance)).is_some_and(|i| i.state == InstanceState::Terminated);
                match &s.op {
                    Op::Start(_) if terminated => {}
                    Op::Start(ip) => w.rec.instances.update(&id(s.instance), |i| {
                        i.state = InstanceState::Running;
                        i.public_ipv4 = Some(Ipv4Addr::new(198, 51, 100, *ip));
                    }),
                    Op::Stop if terminated => {}
                    Op::Stop => w.set_state(s.instance, InstanceState::Stopped),
                    Op::Terminate => w.set_state(s.instance, InstanceState::Terminated),
                    Op::Tag(t) => w.set_tag(s.instance, TAGS[*t]),
                }
                if let Some(f) = s.fault {
                    w.inject(f);
                }
                match s.delivery {
                    Delivery::Once => w.try_event(s.instance).await,
                    Delivery::Twice => {
                        w.try_event(s.instance).await;
                        w.try_event(s.instance).await;
                    }
                    Delivery::Dropped => {}
                    Delivery::Late => late.push(s.instance),
                }
            }
            for n in late.into_iter().rev() {
                w.try_event(n).await;
            }
            // Faults that did not fire are dropped; one reconcile-all makes up for dropped events.
            for f in [&w.rec.instances.faults, &w.rec.dns.faults, &w.rec.locks.faults] {
                f.clear();
            }
            w.all().await;
            w.assert_converged().await;
            w.assert_desired();
        });
    }

    #[test]
    fn concurrent_claims_and_releases_leave_exactly_one_owner(
        yields in proptest::collection::vec(0u8..4, 1..16),
        stop_owner in any::<bool>(),
        scopes in proptest::collection::vec(proptest::collection::btree_set(1u32..=3, 1..=3), 2..=4),
    ) {
        block_on(async {
            let w = World::new();
            for n in 1..=3 {
                w.launch(n, "a.dyn.example.com");
            }
            if stop_owner {
                w.event(&[1]).await;
                w.set_state(1, InstanceState::Stopped);
            }
            for f in [&w.rec.instances.faults, &w.rec.dns.faults, &w.rec.locks.faults] {
                f.set_yields(yields.clone());
            }
            let runs = scopes.iter().map(|s| {
                let req = Request { scope: Scope::Instances(s.iter().map(|n| id(*n)).collect()), verify_dns: false, dry_run: false };
                let rec = &w.rec;
                async move { rec.reconcile(&req).await }
            });
            let results = futures_util::future::join_all(runs).await;
            let retry = results.iter().any(|r| r.as_ref().map_or(true, |rep| !rep.failed.is_empty()));
            let locks = w.rec.locks.snapshot();
            prop_assert!(locks.len() <= 1);
            if let Some(l) = locks.values().next() {
                prop_assert!(l.owner != id(1) || !stop_owner, "a stopped owner kept the name");
            }
            if retry {
                // A run that lost a race asks to be retried: the retry settles it.
                w.event(&[1, 2, 3]).await;
            }
            w.assert_invariants();
            prop_assert!(w.owner("a.dyn.example.com").is_some());
            w.assert_desired();
            Ok(())
        })?;
    }
}

/// Shrunk from `concurrent_claims_and_releases_leave_exactly_one_owner`: two runs for one
/// instance; the overtaken one must not back out the records the other one relies on.
#[tokio::test]
async fn an_overtaken_run_never_touches_the_records_of_the_run_that_overtook_it() {
    let w = World::new();
    for n in 1..=3 {
        w.launch(n, "a.dyn.example.com");
    }
    for f in [
        &w.rec.instances.faults,
        &w.rec.dns.faults,
        &w.rec.locks.faults,
    ] {
        f.set_yields(vec![0, 2, 2, 0]);
    }
    let req = Request {
        scope: Scope::Instances([id(1)].into()),
        verify_dns: false,
        dry_run: false,
    };
    let (a, b) = tokio::join!(w.rec.reconcile(&req), w.rec.reconcile(&req));
    assert!(a.is_ok() && b.is_ok());
    w.assert_invariants();
    w.assert_desired();
}
