//! The design's invariants, proven on the in-process fakes through the real reconciler.
//! Each test asserts the final state of Route53, the lock table and the status tags.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::config::Config;
use crate::fakes::{FakeEc2, FakeLocks, FakeRoute53, Phase};
use crate::model::{Instance, InstanceId, InstanceState, RecordSet, RecordType, ZoneId};
use crate::name::Fqdn;
use crate::plan::Scope;
use crate::reconcile::{Reconciler, Request};
use crate::report::Report;

pub(crate) type FakeReconciler = Reconciler<FakeEc2, FakeRoute53, FakeLocks>;

pub(crate) struct World {
    pub rec: FakeReconciler,
    pub public: ZoneId,
    pub private: ZoneId,
    /// Names where the test itself wrote records (not ec2-dns's).
    pub foreign: BTreeSet<Fqdn>,
}

pub(crate) fn name(s: &str) -> Fqdn {
    Fqdn::parse(s).unwrap()
}

pub(crate) fn id(n: u32) -> InstanceId {
    InstanceId::parse(&format!("i-{n:08x}")).unwrap()
}

pub(crate) fn instance(n: u32, tag: Option<&str>) -> Instance {
    Instance {
        id: id(n),
        state: InstanceState::Running,
        launch_time: 1_700_000_000 + i64::from(n),
        name_tag: tag.map(str::to_string),
        status_tag: None,
        public_ipv4: Some(Ipv4Addr::new(203, 0, 113, n as u8)),
        private_ipv4: Some(Ipv4Addr::new(10, 0, 0, n as u8)),
        ipv6: Vec::new(),
    }
}

impl World {
    pub fn new() -> World {
        let dns = FakeRoute53::default();
        let public = dns.add_zone("ZPUBLIC", "dyn.example.com", false);
        let private = dns.add_zone("ZPRIVATE", "dyn.example.com", true);
        dns.add_zone("ZOTHER", "other.example.org", false);
        let config = Config::from_lookup(|k| match k {
            "LOCK_TABLE" => Some("locks".into()),
            "ALLOWED_DOMAINS" => Some("dyn.example.com".into()),
            _ => None,
        })
        .unwrap();
        World {
            rec: Reconciler::new(FakeEc2::default(), dns, FakeLocks::default(), config),
            public,
            private,
            foreign: BTreeSet::new(),
        }
    }

    pub fn launch(&self, n: u32, tag: &str) -> InstanceId {
        self.rec.instances.put(instance(n, Some(tag)));
        id(n)
    }

    pub fn set_state(&self, n: u32, state: InstanceState) {
        self.rec.instances.update(&id(n), |i| {
            i.state = state;
            if state != InstanceState::Running {
                i.public_ipv4 = None;
            }
        });
    }

    pub fn restart_with_ip(&self, n: u32, last_octet: u8) {
        self.rec.instances.update(&id(n), |i| {
            i.state = InstanceState::Running;
            i.public_ipv4 = Some(Ipv4Addr::new(198, 51, 100, last_octet));
        });
    }

    pub fn set_tag(&self, n: u32, tag: Option<&str>) {
        self.rec
            .instances
            .update(&id(n), |i| i.name_tag = tag.map(str::to_string));
    }

    pub async fn event(&self, ns: &[u32]) -> Report {
        self.run(Request {
            scope: Scope::Instances(ns.iter().map(|n| id(*n)).collect()),
            verify_dns: false,
            dry_run: false,
        })
        .await
    }

    pub async fn all(&self) -> Report {
        self.run(Request {
            scope: Scope::All,
            verify_dns: true,
            dry_run: false,
        })
        .await
    }

    pub async fn run(&self, req: Request) -> Report {
        self.rec.reconcile(&req).await.expect("reconcile")
    }

    pub fn a(&self, n: &str) -> Option<Vec<String>> {
        self.values(&self.public, n, RecordType::A)
    }

    pub fn private_a(&self, n: &str) -> Option<Vec<String>> {
        self.values(&self.private, n, RecordType::A)
    }

    pub fn values(&self, zone: &ZoneId, n: &str, t: RecordType) -> Option<Vec<String>> {
        self.rec
            .dns
            .snapshot()
            .get(&(zone.clone(), name(n), t))
            .map(|s| s.values.clone())
    }

    pub fn owner(&self, n: &str) -> Option<InstanceId> {
        self.rec
            .locks
            .snapshot()
            .get(&name(n))
            .map(|l| l.owner.clone())
    }

    pub fn status(&self, n: u32) -> String {
        self.rec
            .instances
            .get(&id(n))
            .and_then(|i| i.status_tag)
            .unwrap_or_default()
    }

    pub fn put_foreign(&self, n: &str, value: &str) {
        self.rec.dns.put(
            &name(n),
            RecordSet::new(self.public.clone(), RecordType::A, 300, vec![value.into()]),
        );
    }

    /// The design's invariants over the whole state:
    /// one owner per name (by construction of the table) and an index that agrees;
    /// every settled lock's records are exactly in Route53, and belong to a running owner
    /// claiming the name; no record without a lock except the test's own.
    pub fn assert_invariants(&self) {
        let locks = self.rec.locks.snapshot();
        let records = self.rec.dns.snapshot();
        let index = self.rec.locks.index.lock().unwrap().clone();
        for (owner, names) in &index {
            for n in names {
                assert_eq!(
                    locks.get(n).map(|l| &l.owner),
                    Some(owner),
                    "index says {owner} owns {n}"
                );
            }
        }
        for (n, l) in &locks {
            assert!(
                index.get(&l.owner).is_some_and(|s| s.contains(n)),
                "index misses {n} of {}",
                l.owner
            );
            assert!(l.intent.is_none(), "lock of {n} left with an intent");
            for set in &l.records {
                assert_eq!(
                    records.get(&(set.zone_id.clone(), n.clone(), set.rtype)),
                    Some(set),
                    "record of {n} differs from its lock"
                );
            }
            let owner = self.rec.instances.get(&l.owner).expect("owner exists");
            assert_eq!(
                owner.state,
                InstanceState::Running,
                "{n} owned by non-running {}",
                l.owner
            );
        }
        for (_, n, _) in records.keys() {
            assert!(
                locks.contains_key(n) || self.foreign.contains(n),
                "orphan record {n}"
            );
        }
    }

    /// Converged: a full reconcile finds nothing to change.
    pub async fn assert_converged(&self) {
        let r = self
            .run(Request {
                scope: Scope::All,
                verify_dns: true,
                dry_run: true,
            })
            .await;
        assert!(r.changes.is_empty(), "not converged: {:?}", r.changes);
        self.assert_invariants();
    }
}

fn writes(w: &World) -> usize {
    ["Acquire", "Commit", "Release"]
        .iter()
        .map(|op| w.rec.locks.faults.count(op))
        .sum::<usize>()
        + w.rec.dns.faults.count("ChangeResourceRecordSets")
        + w.rec.instances.faults.count("CreateTags")
}

#[tokio::test]
async fn a_running_instance_gets_public_and_private_records() {
    let w = World::new();
    w.launch(1, "Web.Dyn.Example.com");
    let r = w.event(&[1]).await;
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
    assert_eq!(
        w.private_a("web.dyn.example.com"),
        Some(vec!["10.0.0.1".into()])
    );
    assert_eq!(w.owner("web.dyn.example.com"), Some(id(1)));
    assert_eq!(
        w.status(1),
        "ok: web.dyn.example.com -> 10.0.0.1, 203.0.113.1"
    );
    assert_eq!(r.changes.len(), 2);
    w.assert_converged().await;
}

#[tokio::test]
async fn ipv6_addresses_get_an_aaaa_record_in_the_public_zone_only() {
    let w = World::new();
    let mut i = instance(1, Some("web.dyn.example.com"));
    i.ipv6 = vec![
        "2001:db8::2".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    ];
    w.rec.instances.put(i);
    w.event(&[1]).await;
    assert_eq!(
        w.values(&w.public, "web.dyn.example.com", RecordType::Aaaa),
        Some(vec!["2001:db8::1".into(), "2001:db8::2".into()])
    );
    assert_eq!(
        w.values(&w.private, "web.dyn.example.com", RecordType::Aaaa),
        None
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn stopping_the_owner_deletes_its_records_and_its_lock() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert_eq!(w.a("web.dyn.example.com"), None);
    assert_eq!(w.private_a("web.dyn.example.com"), None);
    assert_eq!(w.owner("web.dyn.example.com"), None);
    assert_eq!(
        w.status(1),
        "released: web.dyn.example.com (instance stopped)"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_terminated_owner_releases_its_name_and_is_not_tagged() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    let before = w.status(1);
    w.set_state(1, InstanceState::Terminated);
    w.event(&[1]).await;
    assert_eq!(w.a("web.dyn.example.com"), None);
    assert_eq!(w.owner("web.dyn.example.com"), None);
    assert_eq!(w.status(1), before);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_vanished_owner_is_released_by_reconcile_all() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.rec.instances.instances.lock().unwrap().remove(&id(1));
    w.all().await;
    assert_eq!(w.a("web.dyn.example.com"), None);
    assert_eq!(w.owner("web.dyn.example.com"), None);
    assert!(w.rec.locks.snapshot().is_empty());
}

#[tokio::test]
async fn a_second_instance_with_the_same_name_does_not_take_over() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.launch(2, "web.dyn.example.com");
    let r = w.event(&[2]).await;
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.owner("web.dyn.example.com"), Some(id(1)));
    assert_eq!(
        w.status(2),
        format!("conflict: web.dyn.example.com is owned by {}", id(1))
    );
    assert_eq!(r.conflicts.len(), 1);
    assert_eq!(r.conflicts[0].owner, Some(id(1)));
    w.event(&[1, 2]).await;
    w.all().await;
    assert_eq!(w.owner("web.dyn.example.com"), Some(id(1)));
    w.assert_converged().await;
}

#[tokio::test]
async fn when_the_owner_stops_the_longest_running_claimant_gets_the_name() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.launch(3, "web.dyn.example.com");
    w.launch(2, "web.dyn.example.com");
    w.event(&[3, 2]).await;
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert_eq!(w.owner("web.dyn.example.com"), Some(id(2)));
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.2".into()]));
    assert_eq!(
        w.status(2),
        "ok: web.dyn.example.com -> 10.0.0.2, 203.0.113.2"
    );
    assert_eq!(
        w.status(3),
        format!("conflict: web.dyn.example.com is owned by {}", id(2))
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_stale_stopped_event_for_a_running_instance_changes_nothing() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    let (locks, records) = (w.rec.locks.snapshot(), w.rec.dns.snapshot());
    w.rec.locks.faults.reset_calls();
    w.rec.dns.faults.reset_calls();
    w.rec.instances.faults.reset_calls();
    // The instance was stopped and started again before the stop event arrived.
    w.event(&[1]).await;
    assert_eq!(w.rec.locks.snapshot(), locks);
    assert_eq!(w.rec.dns.snapshot(), records);
    assert_eq!(writes(&w), 0);
}

#[tokio::test]
async fn a_duplicate_event_costs_two_reads_and_writes_nothing() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.rec.locks.faults.reset_calls();
    w.rec.dns.faults.reset_calls();
    w.rec.instances.faults.reset_calls();
    w.event(&[1]).await;
    assert_eq!(writes(&w), 0);
    assert_eq!(w.rec.instances.faults.calls(), ["DescribeInstances"]);
    assert_eq!(w.rec.locks.faults.calls(), ["BatchGetItem"]);
    assert!(w.rec.dns.faults.calls().is_empty(), "zone list is cached");
}

#[tokio::test]
async fn a_restart_with_a_new_address_swaps_the_record() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.restart_with_ip(1, 9);
    let r = w.event(&[1]).await;
    assert_eq!(
        w.a("web.dyn.example.com"),
        Some(vec!["198.51.100.9".into()])
    );
    assert_eq!(r.changes.len(), 1);
    assert_eq!(r.changes[0].action, "UPDATE");
    assert_eq!(r.changes[0].old_values, ["203.0.113.1"]);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_rename_releases_the_old_name_and_claims_the_new_one() {
    let w = World::new();
    w.launch(1, "old.dyn.example.com");
    w.event(&[1]).await;
    w.set_tag(1, Some("new.dyn.example.com"));
    w.event(&[1]).await;
    assert_eq!(w.a("old.dyn.example.com"), None);
    assert_eq!(w.owner("old.dyn.example.com"), None);
    assert_eq!(w.a("new.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
    assert_eq!(w.owner("new.dyn.example.com"), Some(id(1)));
    w.assert_converged().await;
}

#[tokio::test]
async fn removing_the_tag_releases_the_name_and_hands_it_over() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.launch(2, "web.dyn.example.com");
    w.event(&[2]).await;
    w.set_tag(1, None);
    w.event(&[1]).await;
    assert_eq!(w.owner("web.dyn.example.com"), Some(id(2)));
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.2".into()]));
    assert!(
        w.status(1).starts_with("released: web.dyn.example.com"),
        "{}",
        w.status(1)
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn several_names_in_one_tag_are_each_published() {
    let w = World::new();
    w.launch(1, "a.dyn.example.com, b.dyn.example.com");
    w.event(&[1]).await;
    assert_eq!(w.owner("a.dyn.example.com"), Some(id(1)));
    assert_eq!(w.owner("b.dyn.example.com"), Some(id(1)));
    assert_eq!(
        w.rec.dns.faults.count("ChangeResourceRecordSets"),
        2,
        "one batch per zone"
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn invalid_names_are_refused_with_a_reason_and_change_nothing() {
    let cases = [
        ("*.dyn.example.com", "wildcards are not allowed"),
        ("dyn.example.com", "not below an allowed domain"),
        ("evil.com", "not below an allowed domain"),
        (
            "web.dyn.example.com.evil.com",
            "not below an allowed domain",
        ),
        ("xdyn.example.com", "not below an allowed domain"),
        ("a..b.dyn.example.com", "empty label"),
        ("we_b.dyn.example.com", "character '_' is not allowed"),
        ("-a.dyn.example.com", "hyphen"),
    ];
    for (tag, reason) in cases {
        let w = World::new();
        w.launch(1, tag);
        let r = w.event(&[1]).await;
        assert!(w.rec.dns.snapshot().is_empty(), "{tag}");
        assert!(w.rec.locks.snapshot().is_empty(), "{tag}");
        assert_eq!(r.skipped.len(), 1, "{tag}");
        assert!(
            r.skipped[0].reason.contains(reason),
            "{tag}: {}",
            r.skipped[0].reason
        );
        assert!(
            w.status(1).starts_with("invalid: "),
            "{tag}: {}",
            w.status(1)
        );
        assert!(w.status(1).contains(reason), "{tag}: {}", w.status(1));
    }
}

#[tokio::test]
async fn a_zone_apex_below_an_allowed_domain_is_refused() {
    let w = World::new();
    w.rec.dns.add_zone("ZSUB", "sub.dyn.example.com", false);
    w.launch(1, "sub.dyn.example.com");
    w.event(&[1]).await;
    assert!(w.rec.dns.snapshot().is_empty());
    assert_eq!(
        w.status(1),
        "invalid: sub.dyn.example.com (a zone apex is never managed)"
    );
}

#[tokio::test]
async fn the_longest_matching_zone_gets_the_record() {
    let w = World::new();
    let sub = w.rec.dns.add_zone("ZSUB", "sub.dyn.example.com", false);
    w.launch(1, "web.sub.dyn.example.com");
    w.event(&[1]).await;
    assert_eq!(
        w.values(&sub, "web.sub.dyn.example.com", RecordType::A),
        Some(vec!["203.0.113.1".into()])
    );
    assert_eq!(w.a("web.sub.dyn.example.com"), None);
    assert_eq!(
        w.private_a("web.sub.dyn.example.com"),
        None,
        "the private zone is not the longest match"
    );
}

#[tokio::test]
async fn an_instance_without_a_public_address_is_skipped_for_a_public_only_zone() {
    let w = World::new();
    let mut i = instance(1, Some("web.other.example.org"));
    i.public_ipv4 = None;
    w.rec.instances.put(i);
    let mut w = w;
    w.rec.config.allowed_domains.push(name("other.example.org"));
    let r = w.event(&[1]).await;
    assert!(w.rec.dns.snapshot().is_empty());
    assert_eq!(r.skipped[0].reason, "no public IPv4 or IPv6 address");
    assert_eq!(
        w.status(1),
        "skipped: web.other.example.org (no public IPv4 or IPv6 address)"
    );
}

#[tokio::test]
async fn a_record_ec2_dns_did_not_write_is_left_alone_and_reported() {
    for verify in [false, true] {
        let mut w = World::new();
        w.put_foreign("web.dyn.example.com", "192.0.2.99");
        w.foreign.insert(name("web.dyn.example.com"));
        w.launch(1, "web.dyn.example.com");
        let r = w
            .run(Request {
                scope: Scope::Instances([id(1)].into()),
                verify_dns: verify,
                dry_run: false,
            })
            .await;
        assert_eq!(
            w.a("web.dyn.example.com"),
            Some(vec!["192.0.2.99".into()]),
            "verify={verify}"
        );
        assert_eq!(
            w.private_a("web.dyn.example.com"),
            None,
            "batch for the name is all-or-nothing: verify={verify}"
        );
        assert_eq!(
            w.owner("web.dyn.example.com"),
            None,
            "the claim was given back: verify={verify}"
        );
        assert_eq!(r.conflicts.len(), 1, "verify={verify}");
        assert_eq!(r.conflicts[0].owner, None);
        assert_eq!(
            w.status(1),
            "conflict: web.dyn.example.com has a record ec2-dns did not write"
        );
        w.assert_invariants();
    }
}

#[tokio::test]
async fn an_unmanaged_record_equal_to_what_ec2_dns_would_write_is_not_adopted() {
    for verify in [false, true] {
        let mut w = World::new();
        // A boot script wrote exactly the instance's address, with ec2-dns's TTL.
        w.rec.dns.put(
            &name("web.dyn.example.com"),
            RecordSet::new(
                w.public.clone(),
                RecordType::A,
                60,
                vec!["203.0.113.1".into()],
            ),
        );
        w.foreign.insert(name("web.dyn.example.com"));
        w.launch(1, "web.dyn.example.com");
        let r = w
            .run(Request {
                scope: Scope::Instances([id(1)].into()),
                verify_dns: verify,
                dry_run: false,
            })
            .await;
        assert_eq!(w.owner("web.dyn.example.com"), None, "verify={verify}");
        assert_eq!(w.private_a("web.dyn.example.com"), None, "verify={verify}");
        assert_eq!(r.conflicts.len(), 1, "verify={verify}");
        // And so a stop never deletes it.
        w.set_state(1, InstanceState::Stopped);
        w.event(&[1]).await;
        assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
    }
}

#[tokio::test]
async fn record_values_changed_by_someone_else_are_never_overwritten_or_deleted() {
    let mut w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.rec
        .dns
        .remove(&w.public, &name("web.dyn.example.com"), RecordType::A);
    w.rec.dns.put(
        &name("web.dyn.example.com"),
        RecordSet::new(
            w.public.clone(),
            RecordType::A,
            60,
            vec!["192.0.2.50".into()],
        ),
    );
    w.foreign.insert(name("web.dyn.example.com"));
    let r = w.all().await;
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["192.0.2.50".into()]));
    assert_eq!(r.conflicts.len(), 1);
    // Even when the owner stops, the foreign value stays.
    w.set_state(1, InstanceState::Stopped);
    w.event(&[1]).await;
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["192.0.2.50".into()]));
    assert_eq!(w.private_a("web.dyn.example.com"), None);
    assert_eq!(w.owner("web.dyn.example.com"), None);
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_writes_nothing() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    let r = w
        .run(Request {
            scope: Scope::All,
            verify_dns: true,
            dry_run: true,
        })
        .await;
    assert!(r.dry_run);
    assert_eq!(r.changes.len(), 2);
    assert_eq!(writes(&w), 0);
    assert!(w.rec.dns.snapshot().is_empty());
    assert_eq!(w.status(1), "");
    let applied = w.all().await;
    assert_eq!(
        applied.changes, r.changes,
        "the dry run announced exactly what was applied"
    );
}

#[tokio::test]
async fn reconcile_all_repairs_a_deleted_record() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    w.rec
        .dns
        .remove(&w.public, &name("web.dyn.example.com"), RecordType::A);
    let r = w.all().await;
    assert_eq!(r.changes.len(), 1);
    assert_eq!(r.changes[0].action, "CREATE");
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_stale_lock_of_a_stopped_owner_is_taken_over() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    // The stop event is lost.
    w.set_state(1, InstanceState::Stopped);
    w.launch(2, "web.dyn.example.com");
    w.event(&[2]).await;
    assert_eq!(w.owner("web.dyn.example.com"), Some(id(2)));
    assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.2".into()]));
    w.assert_converged().await;
}

#[tokio::test]
async fn status_tags_are_written_only_when_they_change() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com");
    w.event(&[1]).await;
    assert_eq!(w.rec.instances.faults.count("CreateTags"), 1);
    w.all().await;
    w.event(&[1]).await;
    assert_eq!(w.rec.instances.faults.count("CreateTags"), 1);
}

#[tokio::test]
async fn many_instances_share_one_change_batch_per_zone() {
    let w = World::new();
    let ids: Vec<u32> = (1..=200).collect();
    for n in &ids {
        w.launch(*n, &format!("host{n}.dyn.example.com"));
    }
    w.event(&ids).await;
    assert_eq!(w.rec.dns.faults.count("ChangeResourceRecordSets"), 2);
    assert_eq!(
        w.rec.dns.faults.count("ListResourceRecordSets"),
        2,
        "fresh claims read each zone once, not each name"
    );
    assert_eq!(w.rec.instances.faults.count("DescribeInstances"), 1);
    assert_eq!(w.rec.locks.faults.count("BatchGetItem"), 1);
    w.assert_converged().await;
}

/// Every single failure at every call the reconciler makes, before or after the call takes
/// effect, in every step of a start → restart → handover → stop story: the failing run may
/// report or raise, but the next run converges and the invariants hold.
#[tokio::test]
async fn any_single_failure_converges_on_the_next_event() {
    let ops = [
        ("ec2", "DescribeInstances"),
        ("ec2", "CreateTags"),
        ("dns", "ChangeResourceRecordSets"),
        ("dns", "ListResourceRecordSets"),
        ("locks", "BatchGetItem"),
        ("locks", "Acquire"),
        ("locks", "Commit"),
        ("locks", "Release"),
    ];
    for step in 0..4 {
        for (svc, op) in ops {
            for phase in [Phase::Before, Phase::After] {
                let w = World::new();
                w.launch(1, "web.dyn.example.com");
                w.launch(2, "web.dyn.example.com");
                let story = |s: usize| match s {
                    0 => {}
                    1 => w.restart_with_ip(1, 7),
                    2 => w.set_state(1, InstanceState::Stopped),
                    _ => w.set_state(2, InstanceState::Terminated),
                };
                for s in 0..step {
                    story(s);
                    w.event(&[1, 2]).await;
                }
                story(step);
                let faults = match svc {
                    "ec2" => &w.rec.instances.faults,
                    "dns" => &w.rec.dns.faults,
                    _ => &w.rec.locks.faults,
                };
                faults.fail(op, phase, 1);
                let _ = w
                    .rec
                    .reconcile(&Request {
                        scope: Scope::Instances([id(1), id(2)].into()),
                        verify_dns: false,
                        dry_run: false,
                    })
                    .await;
                faults.clear();
                w.event(&[1, 2]).await;
                let ctx = format!("step {step}, {op} {phase:?}");
                let locks = w.rec.locks.snapshot();
                let running_owner = locks
                    .get(&name("web.dyn.example.com"))
                    .map(|l| l.owner.clone());
                match step {
                    0 => assert_eq!(running_owner, Some(id(1)), "{ctx}"),
                    1 => {
                        assert_eq!(running_owner, Some(id(1)), "{ctx}");
                        assert_eq!(
                            w.a("web.dyn.example.com"),
                            Some(vec!["198.51.100.7".into()]),
                            "{ctx}"
                        );
                    }
                    2 => {
                        assert_eq!(running_owner, Some(id(2)), "{ctx}");
                        assert_eq!(
                            w.a("web.dyn.example.com"),
                            Some(vec!["203.0.113.2".into()]),
                            "{ctx}"
                        );
                    }
                    _ => {
                        assert_eq!(running_owner, None, "{ctx}");
                        assert!(w.rec.dns.snapshot().is_empty(), "{ctx}");
                    }
                }
                w.assert_invariants();
                w.assert_converged().await;
            }
        }
    }
}

mod handler {
    use serde_json::{json, Value};

    use super::*;
    use crate::handler::handle;

    fn state_change(n: u32) -> String {
        json!({"version": "0", "id": format!("e{n}"), "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {"instance-id": id(n).to_string(), "state": "running"}})
        .to_string()
    }

    fn sqs(bodies: &[(&str, String)]) -> Value {
        json!({"Records": bodies.iter().map(|(m, b)| json!({"messageId": m, "receiptHandle": "h", "body": b,
            "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})).collect::<Vec<_>>()})
    }

    fn failures(v: &Value) -> Vec<String> {
        v["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn an_sqs_batch_is_one_reconcile_and_reports_only_the_messages_that_failed() {
        let w = World::new();
        w.launch(1, "a.dyn.example.com");
        w.launch(2, "b.dyn.example.com");
        w.rec
            .locks
            .faults
            .fail("Acquire:b.dyn.example.com", Phase::Before, 1);
        let payload = sqs(&[
            ("m1", state_change(1)),
            ("m2", state_change(2)),
            ("m3", state_change(1)),
            ("m4", "{oops".into()),
        ]);
        let out = handle(&w.rec, payload).await.unwrap();
        let mut failed = failures(&out);
        failed.sort();
        // b's lock write failed: b's message is retried, a malformed body goes to the DLQ,
        // and a's two messages (one event delivered twice) are done.
        assert_eq!(failed, ["m2", "m4"]);
        assert_eq!(
            w.rec.instances.faults.count("DescribeInstances"),
            1,
            "one look for the whole batch"
        );
        assert_eq!(w.owner("a.dyn.example.com"), Some(id(1)));
        assert_eq!(w.owner("b.dyn.example.com"), None);
        // The retry settles everything.
        let out = handle(
            &w.rec,
            sqs(&[("m1", state_change(1)), ("m2", state_change(2))]),
        )
        .await
        .unwrap();
        assert!(failures(&out).is_empty());
        w.assert_converged().await;
    }

    #[tokio::test]
    async fn an_event_that_cannot_settle_is_an_error_so_the_platform_retries() {
        let w = World::new();
        w.launch(1, "a.dyn.example.com");
        w.rec
            .dns
            .faults
            .fail("ChangeResourceRecordSets", Phase::Before, 1);
        let err = handle(&w.rec, serde_json::from_str(&state_change(1)).unwrap())
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.kind(), "Retryable");
        handle(&w.rec, serde_json::from_str(&state_change(1)).unwrap())
            .await
            .unwrap();
        w.assert_converged().await;
    }

    #[tokio::test]
    async fn bad_input_is_an_error_that_changes_nothing() {
        let w = World::new();
        let err = handle(&w.rec, json!({"reconcile": "everything"}))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "InvalidInput");
        assert!(!err.is_retryable());
        assert_eq!(writes(&w), 0);
    }
}

/// Hostile and malformed name tags: each is refused with a reason and an `invalid:` status
/// tag, and nothing is written to Route53 or the lock table.
pub(crate) const HOSTILE_TAGS: &[&str] = &[
    "*",
    "*.dyn.example.com",
    "*.web.dyn.example.com",
    "web*.dyn.example.com",
    "dyn.example.com",
    "example.com",
    "com",
    "evil.com",
    "dyn.example.com.evil.com",
    "web.dyn.example.com.evil.com",
    "xdyn.example.com",
    "web.xdyn.example.com",
    "web.dyn-example.com",
    "web.dynexample.com",
    "web.dyn.example.co",
    "203.0.113.7",
    "a..b.dyn.example.com",
    ".web.dyn.example.com",
    "web.dyn.example.com..",
    "..",
    "-web.dyn.example.com",
    "web-.dyn.example.com",
    "web.-.dyn.example.com",
    "_acme-challenge.dyn.example.com",
    "we_b.dyn.example.com",
    "web dyn.dyn.example.com",
    "web\tx.dyn.example.com",
    "web\n.dyn.example.com",
    "web.dyn.example.com\r\nX-Injected: 1",
    "web\u{0}.dyn.example.com",
    "wéb.dyn.example.com",
    "w\u{435}b.dyn.example.com",
    "web.dyn.ex\u{430}mple.com",
    "web\u{200b}.dyn.example.com",
    "\u{202e}moc.elpmaxe.nyd.bew",
    "web.dyn.example.com;rm -rf /",
    "web.dyn.example.com' OR '1'='1",
    "<script>.dyn.example.com",
    "$(id).dyn.example.com",
    "`id`.dyn.example.com",
    "web.dyn.example.com/32",
    "web.dyn.example.com:80",
    "http://web.dyn.example.com",
    "web@dyn.example.com",
    "web%2edyn.example.com",
];

#[tokio::test]
async fn every_hostile_name_tag_is_refused_with_a_reason_and_changes_nothing() {
    let long_label = format!("{}.dyn.example.com", "a".repeat(64));
    let long_name = format!(
        "{}.dyn.example.com",
        ["abcdefghijklmnopqrstuvwxyz0123456789"; 7].join(".")
    );
    let many = (0..11)
        .map(|i| format!("n{i}.dyn.example.com"))
        .collect::<Vec<_>>()
        .join(",");
    let huge = "x".repeat(10_000);
    let mut corpus: Vec<String> = HOSTILE_TAGS.iter().map(|s| s.to_string()).collect();
    corpus.extend([long_label, long_name, many, huge]);
    assert!(corpus.len() >= 40);
    for tag in &corpus {
        let w = World::new();
        w.launch(1, tag);
        let r = w.event(&[1]).await;
        assert!(w.rec.dns.snapshot().is_empty(), "{tag:?} wrote a record");
        assert!(w.rec.locks.snapshot().is_empty(), "{tag:?} took a lock");
        assert!(
            !r.skipped.is_empty() && r.skipped.iter().all(|s| !s.reason.is_empty()),
            "{tag:?}: {:?}",
            r.skipped
        );
        let status = w.status(1);
        assert!(status.starts_with("invalid: "), "{tag:?}: {status:?}");
        assert!(
            status.chars().count() <= 256 && !status.chars().any(char::is_control),
            "{tag:?}: {status:?}"
        );
    }
}

#[tokio::test]
async fn a_tag_mixing_valid_and_hostile_names_publishes_only_the_valid_one() {
    let w = World::new();
    w.launch(1, "web.dyn.example.com, *.dyn.example.com, evil.com");
    let r = w.event(&[1]).await;
    assert_eq!(w.owner("web.dyn.example.com"), Some(id(1)));
    assert_eq!(r.skipped.len(), 2);
    assert_eq!(
        w.status(1),
        "invalid: *.dyn.example.com (wildcards are not allowed); invalid: evil.com (not below an allowed domain); ok: web.dyn.example.com -> 10.0.0.1, 203.0.113.1"
    );
    w.assert_converged().await;
}

mod operator {
    use super::*;

    #[tokio::test]
    async fn an_operator_release_of_a_stuck_name_deletes_exactly_its_records_and_the_lock() {
        let w = World::new();
        w.launch(1, "web.dyn.example.com");
        w.event(&[1]).await;
        // The owner stopped and every event about it was lost.
        w.set_state(1, InstanceState::Stopped);
        let dry = w
            .rec
            .release_name(&name("web.dyn.example.com"), true)
            .await
            .unwrap();
        assert_eq!(dry.changes.len(), 2);
        assert!(
            w.a("web.dyn.example.com").is_some(),
            "a dry run changes nothing"
        );
        let r = w
            .rec
            .release_name(&name("web.dyn.example.com"), false)
            .await
            .unwrap();
        assert_eq!(
            r.changes.iter().map(|c| c.action).collect::<Vec<_>>(),
            ["DELETE", "DELETE"]
        );
        assert_eq!(w.a("web.dyn.example.com"), None);
        assert_eq!(w.owner("web.dyn.example.com"), None);
        w.assert_converged().await;
    }

    #[tokio::test]
    async fn an_operator_cannot_release_a_name_its_running_owner_still_claims() {
        let w = World::new();
        w.launch(1, "web.dyn.example.com");
        w.event(&[1]).await;
        let err = w
            .rec
            .release_name(&name("web.dyn.example.com"), false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("still claims it"), "{err}");
        assert_eq!(w.owner("web.dyn.example.com"), Some(id(1)));
        let err = w
            .rec
            .release_name(&name("other.dyn.example.com"), false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("has no lock"), "{err}");
    }

    #[tokio::test]
    async fn an_operator_release_leaves_values_ec2_dns_did_not_write() {
        let mut w = World::new();
        w.launch(1, "web.dyn.example.com");
        w.event(&[1]).await;
        w.rec
            .dns
            .remove(&w.public, &name("web.dyn.example.com"), RecordType::A);
        w.put_foreign("web.dyn.example.com", "192.0.2.77");
        w.foreign.insert(name("web.dyn.example.com"));
        w.set_tag(1, None);
        let r = w
            .rec
            .release_name(&name("web.dyn.example.com"), false)
            .await
            .unwrap();
        assert_eq!(r.conflicts.len(), 1);
        assert_eq!(w.a("web.dyn.example.com"), Some(vec!["192.0.2.77".into()]));
        assert_eq!(w.private_a("web.dyn.example.com"), None);
        assert_eq!(w.owner("web.dyn.example.com"), None);
    }

    #[tokio::test]
    async fn status_lists_every_owned_name_with_its_owner_state() {
        let w = World::new();
        w.launch(1, "a.dyn.example.com");
        w.launch(2, "b.dyn.example.com");
        w.event(&[1, 2]).await;
        w.set_state(2, InstanceState::Stopped);
        let rows = w.rec.status().await.unwrap();
        let got: Vec<(String, &str)> = rows
            .iter()
            .map(|(l, o)| {
                (
                    l.name.to_string(),
                    o.as_ref().map_or("gone", |i| i.state.as_str()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a.dyn.example.com".to_string(), "running"),
                ("b.dyn.example.com".to_string(), "stopped")
            ]
        );
    }
}

/// Claims of the threat model (docs/security.md), each with its own test.
mod threat_model {
    use super::*;
    use crate::model::Lock;

    #[tokio::test]
    async fn an_earlier_launched_claimant_does_not_displace_a_running_owner() {
        let w = World::new();
        w.launch(5, "web.dyn.example.com");
        w.event(&[5]).await;
        // Instance 1 was launched before the owner (launch time grows with the number).
        w.launch(1, "web.dyn.example.com");
        w.event(&[1]).await;
        w.all().await;
        assert_eq!(w.owner("web.dyn.example.com"), Some(id(5)));
        assert!(w
            .status(1)
            .starts_with("conflict: web.dyn.example.com is owned by"));
    }

    #[tokio::test]
    async fn a_crash_after_the_route53_change_then_a_stop_leaves_no_record() {
        let w = World::new();
        w.launch(1, "web.dyn.example.com");
        w.rec
            .dns
            .faults
            .fail("ChangeResourceRecordSets", Phase::After, 2);
        let _ = w
            .rec
            .reconcile(&Request {
                scope: Scope::Instances([id(1)].into()),
                verify_dns: false,
                dry_run: false,
            })
            .await;
        assert!(
            w.rec.locks.snapshot()[&name("web.dyn.example.com")]
                .intent
                .is_some(),
            "the run stopped before its commit"
        );
        w.rec.dns.faults.clear();
        w.set_state(1, InstanceState::Stopped);
        w.event(&[1]).await;
        assert!(w.rec.dns.snapshot().is_empty());
        assert!(w.rec.locks.snapshot().is_empty());
    }

    #[tokio::test]
    async fn a_forged_lock_deletes_nothing_whose_exact_values_it_does_not_name() {
        let mut w = World::new();
        w.put_foreign("web.dyn.example.com", "192.0.2.10");
        w.foreign.insert(name("web.dyn.example.com"));
        // Someone with write access to the table forges a lock for a gone instance, naming
        // other values than the record holds.
        let forged = RecordSet::new(
            w.public.clone(),
            RecordType::A,
            300,
            vec!["192.0.2.11".into()],
        );
        w.rec.locks.locks.lock().unwrap().insert(
            name("web.dyn.example.com"),
            Lock {
                name: name("web.dyn.example.com"),
                owner: id(9),
                version: 1,
                records: vec![forged],
                intent: None,
                since: None,
            },
        );
        w.rec
            .locks
            .index
            .lock()
            .unwrap()
            .entry(id(9))
            .or_default()
            .insert(name("web.dyn.example.com"));
        w.all().await;
        assert_eq!(w.a("web.dyn.example.com"), Some(vec!["192.0.2.10".into()]));
        assert!(
            w.rec.locks.snapshot().is_empty(),
            "the forged lock is released"
        );
    }

    #[tokio::test]
    async fn a_zone_above_the_allowed_domains_is_never_used() {
        let w = World::new();
        w.rec.dns.zones.lock().unwrap().clear();
        let parent = w.rec.dns.add_zone("ZPARENT", "example.com", false);
        w.launch(1, "web.dyn.example.com");
        let r = w.all().await;
        assert!(w.rec.dns.snapshot().is_empty());
        assert_eq!(
            w.values(&parent, "web.dyn.example.com", RecordType::A),
            None
        );
        assert_eq!(r.skipped[0].reason, "no hosted zone for this name");
    }

    #[tokio::test]
    async fn refused_tag_text_is_cut_to_80_characters_in_the_status() {
        let w = World::new();
        let raw = format!("{}_.dyn.example.com", "a".repeat(100));
        w.launch(1, &raw);
        w.event(&[1]).await;
        let status = w.status(1);
        assert!(
            status.starts_with(&format!("invalid: {}...", "a".repeat(80))),
            "{status}"
        );
        assert!(!status.contains(&"a".repeat(81)));
    }

    #[tokio::test]
    async fn a_hand_written_status_tag_decides_nothing_and_is_replaced() {
        let w = World::new();
        w.launch(1, "web.dyn.example.com");
        w.event(&[1]).await;
        let mut forger = instance(2, Some("web.dyn.example.com"));
        forger.status_tag = Some("ok: web.dyn.example.com -> 6.6.6.6".into());
        w.rec.instances.put(forger);
        w.event(&[2]).await;
        assert_eq!(w.owner("web.dyn.example.com"), Some(id(1)));
        assert_eq!(w.a("web.dyn.example.com"), Some(vec!["203.0.113.1".into()]));
        assert_eq!(
            w.status(2),
            format!("conflict: web.dyn.example.com is owned by {}", id(1))
        );
    }
}
