//! Test support: fakes that enforce AWS's rules, one fault wrapper over them, AWS's rate
//! limits over them in simulated time (`limits`), a settable clock, and [`World`], a reconciler over all of it with assertions on the final state of
//! Route53, the lock table and the status tags.

pub mod alloc;
pub mod fakes;
pub mod faults;
pub mod limits;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::aws::Route53Dns;
use crate::config::Config;
use crate::engine::{Clock, Reconciler, Request};
use crate::fleet::Grouped;
use crate::lock::Lock;
use crate::marker::Marker;
use crate::model::{
    Home, Instance, InstanceId, InstanceState, Names, Owner, RecordSet, RecordType, Scope, ZoneId,
};
use crate::name::Fqdn;
use crate::report::Report;
use fakes::{FakeEc2, FakeGroups, FakeLocks, FakeRoute53};
use faults::{Faults, Faulty};

/// EC2 as the (fake) Auto Scaling groups qualify it, as in production.
pub type TestReconciler = Reconciler<
    Grouped<Faulty<FakeEc2>, Faulty<FakeGroups>>,
    Route53Dns<Faulty<FakeRoute53>>,
    Faulty<FakeLocks>,
>;

/// EC2 and Auto Scaling fakes under one set of faults.
fn grouped(faults: &Arc<Faults>) -> Grouped<Faulty<FakeEc2>, Faulty<FakeGroups>> {
    Grouped {
        inner: Faulty::new(FakeEc2::default(), faults.clone()),
        groups: Faulty::new(FakeGroups::default(), faults.clone()),
        enabled: true,
    }
}

pub fn name(s: &str) -> Fqdn {
    Fqdn::parse(s).unwrap()
}

pub fn id(n: u32) -> InstanceId {
    InstanceId::parse(&format!("i-{n:08x}")).unwrap()
}

pub fn home() -> Home {
    Home::new("123456789012", "us-east-1").unwrap()
}

/// The deployment id of the test world's reconciler (derived: it sets no `DEPLOYMENT_ID`).
pub fn deployment() -> crate::marker::DeploymentId {
    crate::marker::DeploymentId::derived(&home(), "locks")
}

/// Another deployment's id.
pub fn other_deployment() -> crate::marker::DeploymentId {
    crate::marker::DeploymentId::parse("staging").unwrap()
}

/// The settings of a world over `dyn.example.com` with the defaults.
pub fn settings() -> crate::decide::Settings {
    crate::decide::Settings {
        allowed_domains: vec![name("dyn.example.com")],
        ttl: 60,
        deployment: deployment(),
        style: Default::default(),
        shared_names: false,
        reverse: false,
    }
}

pub fn owner(n: u32) -> Owner {
    home().instance(id(n))
}

pub fn instance(n: u32, tag: Option<&str>) -> Instance {
    Instance {
        owner: owner(n),
        state: InstanceState::Running,
        launch_time: 1_700_000_000 + i64::from(n),
        names: Names::Tag(tag.map(str::to_string)),
        status_tag: None,
        public_ipv4: Some(Ipv4Addr::new(203, 0, 113, n as u8)),
        private_ipv4: Some(Ipv4Addr::new(10, 0, 0, n as u8)),
        ipv6: Vec::new(),
        group: None,
    }
}

/// A settled lock of instance `n` with one public A record.
pub fn lock(n: &str, holder: u32, ip: &str) -> Lock {
    Lock {
        name: name(n),
        version: 4,
        gen: 3,
        holder: Some(owner(holder)),
        members: Default::default(),
        records: vec![RecordSet::new(
            ZoneId("ZPUBLIC".into()),
            RecordType::A,
            60,
            vec![ip.into()],
        )],
        blocked: Vec::new(),
        until: 0,
        check: false,
        zones: None,
        waiting: BTreeSet::new(),
        since: Some("2026-11-23T10:00:00Z".into()),
        legacy: None,
        stamp: None,
        deployment: None,
        style: Default::default(),
    }
}

/// A clock the test sets.
pub struct TestClock(pub AtomicI64);

impl Clock for Arc<TestClock> {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A reconciler over fakes, and what a test needs around it.
pub struct World {
    pub rec: TestReconciler,
    pub faults: Arc<Faults>,
    pub clock: Arc<TestClock>,
    pub public: ZoneId,
    pub private: ZoneId,
    /// (zone, name, type) the test itself wrote: not ec2-dns's.
    pub foreign: BTreeSet<(ZoneId, String, String)>,
}

impl World {
    pub fn new() -> World {
        World::with_domains("dyn.example.com")
    }

    pub fn with_domains(domains: &str) -> World {
        let dns = FakeRoute53::default();
        let public = dns.add_zone("ZPUBLIC", "dyn.example.com", false);
        let private = dns.add_zone("ZPRIVATE", "dyn.example.com", true);
        dns.add_zone("ZOTHER", "other.example.org", false);
        let config = Config::from_lookup(|k| match k {
            "LOCK_TABLE" => Some("locks".into()),
            "ALLOWED_DOMAINS" => Some(domains.into()),
            _ => None,
        })
        .unwrap();
        let faults = Arc::new(Faults::default());
        let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000)));
        let rec = Reconciler::new(
            grouped(&faults),
            Route53Dns::new(Faulty::new(dns, faults.clone())),
            Faulty::new(FakeLocks::default(), faults.clone()),
            config,
            home(),
        )
        .with_clock(Box::new(clock.clone()));
        World {
            rec,
            faults,
            clock,
            public,
            private,
            foreign: BTreeSet::new(),
        }
    }

    /// A second deployment beside this one: the same hosted zones (one Route53), its own
    /// lock table (`LOCK_TABLE` = `table`) and its own instances (those carrying its name
    /// tag, in the same account and region), with `DEPLOYMENT_ID` = `id` (`None`: derived).
    pub fn beside(&self, table: &str, id: Option<&str>) -> World {
        let config = Config::from_lookup(|k| match k {
            "LOCK_TABLE" => Some(table.into()),
            "ALLOWED_DOMAINS" => Some(
                self.rec
                    .config
                    .allowed_domains
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            "DEPLOYMENT_ID" => id.map(str::to_string),
            _ => None,
        })
        .unwrap();
        let faults = Arc::new(Faults::default());
        let dns = Faulty {
            inner: self.rec.dns.api().inner.clone(),
            faults: faults.clone(),
        };
        let rec = Reconciler::new(
            grouped(&faults),
            Route53Dns::new(dns),
            Faulty::new(FakeLocks::default(), faults.clone()),
            config,
            home(),
        )
        .with_clock(Box::new(self.clock.clone()));
        self.sibling(rec, faults)
    }

    /// Another container of the same function: the same fakes, configuration and clock,
    /// its own reconciler (nothing remembered, its own stamps) and its own fault log.
    pub fn container(&self) -> World {
        let faults = Arc::new(Faults::default());
        let ec2 = &self.rec.instances;
        let rec = Reconciler::new(
            Grouped {
                inner: Faulty {
                    inner: ec2.inner.inner.clone(),
                    faults: faults.clone(),
                },
                groups: Faulty {
                    inner: ec2.groups.inner.clone(),
                    faults: faults.clone(),
                },
                enabled: ec2.enabled,
            },
            Route53Dns::new(Faulty {
                inner: self.rec.dns.api().inner.clone(),
                faults: faults.clone(),
            }),
            Faulty {
                inner: self.rec.locks.inner.clone(),
                faults: faults.clone(),
            },
            self.rec.config.clone(),
            home(),
        )
        .with_clock(Box::new(self.clock.clone()));
        self.sibling(rec, faults)
    }

    /// How often `op` was called, once it reaches `n` (yielding to the run meanwhile) or
    /// after a while: a test that holds one call asks what went out beside it.
    pub async fn called(&self, op: faults::Op, n: usize) -> usize {
        for _ in 0..200 {
            if self.faults.count(op) >= n {
                break;
            }
            tokio::task::yield_now().await;
        }
        self.faults.count(op)
    }

    /// A world beside this one around `rec`: the same clock and zones.
    fn sibling(&self, rec: TestReconciler, faults: Arc<Faults>) -> World {
        World {
            rec,
            faults,
            clock: self.clock.clone(),
            public: self.public.clone(),
            private: self.private.clone(),
            foreign: self.foreign.clone(),
        }
    }

    /// The same fakes with another configuration (a redeploy).
    pub fn reconfigure(&mut self, f: impl FnOnce(&mut Config)) {
        f(&mut self.rec.config);
    }

    pub fn ec2(&self) -> &FakeEc2 {
        &self.rec.instances.inner.inner
    }

    /// The Auto Scaling fake.
    pub fn groups(&self) -> &FakeGroups {
        &self.rec.instances.groups.inner
    }

    pub fn route53(&self) -> &FakeRoute53 {
        &self.rec.dns.api().inner
    }

    pub fn locks(&self) -> &FakeLocks {
        &self.rec.locks.inner
    }

    pub fn advance(&self, secs: i64) {
        self.clock.0.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn launch(&self, n: u32, tag: &str) -> Owner {
        self.ec2().put(instance(n, Some(tag)));
        owner(n)
    }

    pub fn set_state(&self, n: u32, state: InstanceState) {
        self.ec2().update(&owner(n), |i| {
            i.state = state;
            if state != InstanceState::Running {
                i.public_ipv4 = None;
            }
        });
    }

    pub fn restart_with_ip(&self, n: u32, last_octet: u8) {
        self.ec2().update(&owner(n), |i| {
            i.state = InstanceState::Running;
            i.public_ipv4 = Some(Ipv4Addr::new(198, 51, 100, last_octet));
        });
    }

    pub fn set_tag(&self, n: u32, tag: Option<&str>) {
        self.ec2()
            .update(&owner(n), |i| i.names = Names::Tag(tag.map(str::to_string)));
    }

    pub fn request(ns: &[u32]) -> Request {
        World::request_for(&ns.iter().map(|n| owner(*n)).collect::<Vec<_>>())
    }

    /// An event's request about these owners (of any account and region).
    pub fn request_for(owners: &[Owner]) -> Request {
        Request {
            names: Default::default(),
            scope: Scope::Owners(owners.iter().cloned().collect()),
            verify_dns: false,
            dry_run: false,
            deadline: None,
        }
    }

    /// An event's reconcile, whatever it comes to.
    pub async fn attempt(&self, ns: &[u32]) -> crate::Result<Report> {
        let req = World::request(ns);
        self.rec.reconcile(&req).await
    }

    pub async fn event(&self, ns: &[u32]) -> Report {
        self.run(World::request(ns)).await
    }

    pub async fn all(&self) -> Report {
        self.run(Request {
            names: Default::default(),
            scope: Scope::All,
            verify_dns: true,
            dry_run: false,
            deadline: None,
        })
        .await
    }

    pub async fn dry_all(&self) -> Report {
        self.run(Request {
            names: Default::default(),
            scope: Scope::All,
            verify_dns: true,
            dry_run: true,
            deadline: None,
        })
        .await
    }

    pub async fn run(&self, req: Request) -> Report {
        self.rec.reconcile(&req).await.expect("reconcile")
    }

    pub fn values(&self, zone: &ZoneId, n: &str, t: &str) -> Option<Vec<String>> {
        self.route53().get(zone, n, t).map(|s| s.values)
    }

    pub fn a(&self, n: &str) -> Option<Vec<String>> {
        self.values(&self.public, n, "A")
    }

    pub fn private_a(&self, n: &str) -> Option<Vec<String>> {
        self.values(&self.private, n, "A")
    }

    pub fn marker(&self, zone: &ZoneId, n: &str) -> Option<Marker> {
        let set = self.route53().get(zone, &name(n).marker_name(), "TXT")?;
        Marker::parse(&set.values)
    }

    /// The holder of a name (`None`: no lock, or a free one).
    pub fn owner(&self, n: &str) -> Option<Owner> {
        self.locks()
            .snapshot()
            .get(&name(n))
            .and_then(|l| l.holder.clone())
    }

    pub fn status(&self, n: u32) -> String {
        self.ec2()
            .get(&owner(n))
            .and_then(|i| i.status_tag)
            .unwrap_or_default()
    }

    /// Writes a set the way someone outside ec2-dns would.
    pub fn put_foreign(&mut self, zone: &ZoneId, n: &str, rtype: &str, values: &[&str]) {
        self.route53().put(zone, n, rtype, 300, values);
        self.foreign
            .insert((zone.clone(), n.to_string(), rtype.to_string()));
    }

    /// The design's invariants over the whole state, once it has settled:
    /// - the owner index agrees with the locks;
    /// - every held lock's records are exactly in Route53, with the current marker beside
    ///   them in each of their zones, and its holder runs;
    /// - every address set and marker in Route53 is a held lock's (per zone and type), or
    ///   the test's own: no orphans, no stale markers.
    pub fn assert_invariants(&self) {
        self.assert_invariants_beside(&[]);
    }

    /// [`World::assert_invariants`] for a deployment sharing its zones with `others`
    /// (worlds made by [`World::beside`]): what their locks hold is not an orphan here.
    pub fn assert_invariants_beside(&self, others: &[&World]) {
        let theirs: BTreeSet<(ZoneId, String, String)> = others
            .iter()
            .flat_map(|w| w.locks().snapshot().into_values())
            .flat_map(|l| {
                let n = l.name.clone();
                l.believed().into_iter().flat_map(move |(zone, sets)| {
                    let n = n.clone();
                    sets.into_iter().map(move |set| {
                        let at = match set.rtype {
                            RecordType::Txt => n.marker_name(),
                            _ => n.to_string(),
                        };
                        (zone.clone(), at, set.rtype.as_str().to_string())
                    })
                })
            })
            .collect();
        let locks = self.locks().snapshot();
        let index = self.locks().index();
        let records = self.route53().snapshot();
        for (holder, names) in &index {
            for n in names {
                assert!(
                    locks
                        .get(n)
                        .is_some_and(|l| l.participants().contains(holder)),
                    "index says {holder} holds {n}"
                );
            }
        }
        let mut ours: BTreeMap<(ZoneId, String, String), Vec<String>> = BTreeMap::new();
        for (n, l) in &locks {
            let Some(holder) = &l.holder else {
                assert!(l.records.is_empty(), "free lock of {n} lists records");
                continue;
            };
            assert!(
                index.get(holder).is_some_and(|s| s.contains(n)),
                "index misses {n} of {holder}"
            );
            assert!(!l.check, "lock of {n} left flagged");
            // A shared name: every member is indexed and runs, and the set holds exactly
            // the members' addresses (none of a member that left).
            if l.shared() {
                assert!(l.members.contains(holder), "{n}: holder not a member");
                let mut want: BTreeMap<(ZoneId, RecordType), BTreeSet<String>> = BTreeMap::new();
                for m in &l.members {
                    assert!(
                        index.get(m).is_some_and(|s| s.contains(n)),
                        "index misses {n} of member {m}"
                    );
                    let inst = self.ec2().get(m).expect("member exists");
                    assert_eq!(
                        inst.state,
                        InstanceState::Running,
                        "{n}: member {m} not running"
                    );
                    for set in &l.records {
                        let zone_private = set.zone_id == self.private;
                        let addr: Vec<String> = match (set.rtype, zone_private) {
                            (RecordType::A, false) => {
                                inst.public_ipv4.iter().map(|a| a.to_string()).collect()
                            }
                            (RecordType::A, true) => {
                                inst.private_ipv4.iter().map(|a| a.to_string()).collect()
                            }
                            (RecordType::Aaaa, _) => {
                                inst.ipv6.iter().map(|a| a.to_string()).collect()
                            }
                            _ => Vec::new(),
                        };
                        want.entry((set.zone_id.clone(), set.rtype))
                            .or_default()
                            .extend(addr);
                    }
                }
                for set in &l.records {
                    let values: BTreeSet<String> = set.values.iter().cloned().collect();
                    assert_eq!(
                        Some(&values),
                        want.get(&(set.zone_id.clone(), set.rtype)),
                        "{n}: {} set in {} is not its members' addresses",
                        set.rtype.as_str(),
                        set.zone_id
                    );
                }
            }
            for set in &l.records {
                ours.insert(
                    (
                        set.zone_id.clone(),
                        n.to_string(),
                        set.rtype.as_str().into(),
                    ),
                    set.values.clone(),
                );
            }
            for (zone, sets) in l.believed() {
                for set in sets {
                    let at = if set.rtype == RecordType::Txt {
                        n.marker_name()
                    } else {
                        n.to_string()
                    };
                    let got = records.get(&(zone.clone(), at.clone(), set.rtype.as_str().into()));
                    assert_eq!(
                        got.map(|s| (s.ttl, s.values.clone())),
                        Some((set.ttl, set.values.clone())),
                        "{} {at} in {zone} differs from the lock",
                        set.rtype.as_str()
                    );
                    if set.rtype == RecordType::Txt {
                        ours.insert((zone.clone(), at, "TXT".into()), set.values.clone());
                    }
                }
            }
            let inst = match holder.host() {
                Some(h) => self
                    .locks()
                    .host_now(h.as_str())
                    .map(|r| r.as_claimant(self.clock.0.load(Ordering::SeqCst), &home())),
                None => self.ec2().get(holder),
            }
            .expect("holder exists");
            assert_eq!(
                inst.state,
                InstanceState::Running,
                "{n} held by non-running {holder}"
            );
        }
        for (zone, n, t) in records.keys() {
            if !matches!(t.as_str(), "A" | "AAAA" | "PTR" | "TXT") {
                continue;
            }
            let key = (zone.clone(), n.clone(), t.clone());
            assert!(
                ours.contains_key(&key) || self.foreign.contains(&key) || theirs.contains(&key),
                "orphan {t} {n} in {zone}"
            );
        }
    }

    /// Safety at any moment, even mid-race: every address set of a managed name in Route53
    /// has a marker beside it listing its type, of a generation no newer than the lock's.
    /// (ec2-dns never writes a record that does not describe its owner.)
    pub fn assert_marked(&self) {
        let locks = self.locks().snapshot();
        for ((zone, n, t), _) in self.route53().snapshot() {
            if !matches!(t.as_str(), "A" | "AAAA" | "PTR")
                || self.foreign.contains(&(zone.clone(), n.clone(), t.clone()))
            {
                continue;
            }
            let m = self
                .marker(&zone, &n)
                .unwrap_or_else(|| panic!("{t} {n} in {zone} has no marker"));
            assert!(
                m.types.iter().any(|x| x.as_str() == t),
                "{t} {n} in {zone}: marker lists {:?}",
                m.types
            );
            let lock_gen = locks.get(&name(&n)).map_or(0, |l| l.gen);
            assert!(
                m.gen <= lock_gen,
                "{n} in {zone}: marker generation {} above the lock's {lock_gen}",
                m.gen
            );
        }
    }

    /// One more reconcile of everything changes nothing, and the invariants hold.
    pub async fn assert_converged(&self) {
        let again = self.all().await;
        assert!(
            again.changes.is_empty() && again.failed.is_empty(),
            "not converged: {again:?}"
        );
        self.assert_invariants();
    }
}
