//! In-process fakes of the three ports that enforce AWS's rules, for fast tests:
//! Route53 rejects a CREATE over an existing set, a DELETE that is not exact, and a name
//! outside the zone, and applies a batch all-or-nothing; the lock table applies every
//! condition atomically; any call can be made to fail before or after it takes effect.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::model::{
    Change, ChangeAction, Instance, InstanceId, InstanceState, Lock, RecordSet, RecordType, Zone,
    ZoneId,
};
use crate::name::Fqdn;
use crate::plan::Expect;
use crate::ports::{Applied, Cas, Dns, Instances, Loaded, Locks};

/// When an injected fault fires: before the call has any effect, or after (the effect
/// happened but the caller sees an error, like a timeout on the response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    After,
}

/// Injected failures and a call log, shared by the fakes.
#[derive(Default)]
pub struct Faults {
    pending: Mutex<Vec<(String, Phase, u32)>>,
    calls: Mutex<Vec<String>>,
    /// Scheduler yields before each call, cycled: lets concurrent reconciles interleave
    /// at every call in patterns a property test chooses.
    yields: Mutex<(Vec<u8>, usize)>,
}

impl Faults {
    /// The next `count` calls of `op` fail at `phase`.
    pub fn fail(&self, op: &str, phase: Phase, count: u32) {
        lock(&self.pending).push((op.to_string(), phase, count));
    }

    fn check(&self, op: &str, phase: Phase) -> Result<()> {
        self.check_for(op, "", phase)
    }

    /// Like `check`, but a fault registered as `op:key` fires only for that key (a name).
    fn check_for(&self, op: &str, key: &str, phase: Phase) -> Result<()> {
        if phase == Phase::Before {
            lock(&self.calls).push(op.to_string());
        }
        let keyed = format!("{op}:{key}");
        let mut pending = lock(&self.pending);
        if let Some(f) = pending
            .iter_mut()
            .find(|(o, p, n)| (o == op || *o == keyed) && *p == phase && *n > 0)
        {
            f.2 -= 1;
            return Err(Error::Aws {
                service: "fake",
                operation: "injected",
                message: format!("injected failure of {op} ({phase:?})"),
                retryable: true,
            });
        }
        Ok(())
    }

    /// Drops the faults that have not fired.
    pub fn clear(&self) {
        lock(&self.pending).clear();
    }

    /// Sets the yield pattern (empty: never yield).
    pub fn set_yields(&self, pattern: Vec<u8>) {
        *lock(&self.yields) = (pattern, 0);
    }

    /// Yields to the scheduler as the pattern says; called at the start of every fake call.
    async fn enter(&self) {
        let n = {
            let mut y = lock(&self.yields);
            let (pattern, at) = &mut *y;
            if pattern.is_empty() {
                0
            } else {
                *at = (*at + 1) % pattern.len();
                pattern[*at]
            }
        };
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }

    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    pub fn count(&self, op: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.as_str() == op)
            .count()
    }

    pub fn reset_calls(&self) {
        lock(&self.calls).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct FakeEc2 {
    pub instances: Mutex<BTreeMap<InstanceId, Instance>>,
    pub faults: Faults,
}

impl FakeEc2 {
    pub fn put(&self, inst: Instance) {
        lock(&self.instances).insert(inst.id.clone(), inst);
    }

    pub fn get(&self, id: &InstanceId) -> Option<Instance> {
        lock(&self.instances).get(id).cloned()
    }

    pub fn update(&self, id: &InstanceId, f: impl FnOnce(&mut Instance)) {
        if let Some(i) = lock(&self.instances).get_mut(id) {
            f(i);
        }
    }
}

impl Instances for FakeEc2 {
    async fn describe(&self, ids: &[InstanceId]) -> Result<Vec<Instance>> {
        self.faults.enter().await;
        self.faults.check("DescribeInstances", Phase::Before)?;
        let all = lock(&self.instances);
        let out = ids.iter().filter_map(|id| all.get(id).cloned()).collect();
        drop(all);
        self.faults.check("DescribeInstances", Phase::After)?;
        Ok(out)
    }

    async fn tagged(&self, running_only: bool) -> Result<Vec<Instance>> {
        self.faults.enter().await;
        self.faults.check("DescribeInstances", Phase::Before)?;
        let out = lock(&self.instances)
            .values()
            .filter(|i| {
                i.name_tag.is_some() && (!running_only || i.state == InstanceState::Running)
            })
            .cloned()
            .collect();
        self.faults.check("DescribeInstances", Phase::After)?;
        Ok(out)
    }

    async fn set_status(&self, id: &InstanceId, value: &str) -> Result<()> {
        self.faults.enter().await;
        self.faults.check("CreateTags", Phase::Before)?;
        {
            let mut all = lock(&self.instances);
            let inst = all.get_mut(id).ok_or_else(|| Error::Aws {
                service: "ec2",
                operation: "CreateTags",
                message: format!("InvalidInstanceID.NotFound: {id}"),
                retryable: false,
            })?;
            if !inst.state.is_taggable() {
                return Err(Error::Aws {
                    service: "ec2",
                    operation: "CreateTags",
                    message: format!("IncorrectState: {id} is {}", inst.state.as_str()),
                    retryable: false,
                });
            }
            inst.status_tag = Some(value.to_string());
        }
        self.faults.check("CreateTags", Phase::After)
    }
}

pub type RecordKey = (ZoneId, Fqdn, RecordType);

#[derive(Default)]
pub struct FakeRoute53 {
    pub zones: Mutex<Vec<Zone>>,
    pub records: Mutex<BTreeMap<RecordKey, RecordSet>>,
    pub faults: Faults,
}

impl FakeRoute53 {
    pub fn add_zone(&self, id: &str, name: &str, private: bool) -> ZoneId {
        let zone = Zone {
            id: ZoneId(id.into()),
            name: Fqdn::parse(name).unwrap_or_else(|e| panic!("zone {name}: {e}")),
            private,
        };
        lock(&self.zones).push(zone);
        ZoneId(id.into())
    }

    /// Writes a set directly, as someone outside ec2-dns would.
    pub fn put(&self, name: &Fqdn, set: RecordSet) {
        lock(&self.records).insert((set.zone_id.clone(), name.clone(), set.rtype), set);
    }

    pub fn remove(&self, zone: &ZoneId, name: &Fqdn, rtype: RecordType) {
        lock(&self.records).remove(&(zone.clone(), name.clone(), rtype));
    }

    pub fn snapshot(&self) -> BTreeMap<RecordKey, RecordSet> {
        lock(&self.records).clone()
    }
}

impl Dns for FakeRoute53 {
    async fn zones(&self) -> Result<Vec<Zone>> {
        self.faults.enter().await;
        self.faults.check("ListHostedZones", Phase::Before)?;
        Ok(lock(&self.zones).clone())
    }

    async fn zone_records(&self, zone: &ZoneId) -> Result<Vec<(Fqdn, RecordSet)>> {
        self.faults.enter().await;
        self.faults.check("ListResourceRecordSets", Phase::Before)?;
        Ok(lock(&self.records)
            .iter()
            .filter(|((z, _, _), _)| z == zone)
            .map(|((_, n, _), s)| (n.clone(), s.clone()))
            .collect())
    }

    async fn name_records(&self, zone: &ZoneId, name: &Fqdn) -> Result<Vec<RecordSet>> {
        self.faults.enter().await;
        self.faults.check("ListResourceRecordSets", Phase::Before)?;
        Ok(lock(&self.records)
            .iter()
            .filter(|((z, n, _), _)| z == zone && n == name)
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn change(&self, zone: &ZoneId, changes: &[Change]) -> Result<Applied> {
        self.faults.enter().await;
        self.faults
            .check("ChangeResourceRecordSets", Phase::Before)?;
        {
            let zone_name = lock(&self.zones)
                .iter()
                .find(|z| &z.id == zone)
                .map(|z| z.name.clone())
                .ok_or_else(|| Error::Aws {
                    service: "route53",
                    operation: "ChangeResourceRecordSets",
                    message: format!("NoSuchHostedZone: {zone}"),
                    retryable: false,
                })?;
            let mut records = lock(&self.records);
            // Validate the whole batch against a copy; apply only if every change is valid.
            let mut next = records.clone();
            for c in changes {
                let key = (zone.clone(), c.name.clone(), c.set.rtype);
                if c.set.zone_id != *zone || !c.name.is_at_or_below(&zone_name) {
                    return Ok(Applied::Rejected(format!(
                        "RRSet with DNS name {}. is not permitted in zone {zone_name}.",
                        c.name
                    )));
                }
                match c.action {
                    ChangeAction::Create => {
                        if next.contains_key(&key) {
                            return Ok(Applied::Rejected(format!(
                                "Tried to create resource record set [name='{}.', type='{}'] but it already exists",
                                c.name,
                                c.set.rtype.as_str()
                            )));
                        }
                        next.insert(key, c.set.clone());
                    }
                    ChangeAction::Delete => match next.get(&key) {
                        Some(cur) if cur == &c.set => {
                            next.remove(&key);
                        }
                        Some(_) => {
                            return Ok(Applied::Rejected(format!(
                                "Tried to delete resource record set [name='{}.', type='{}'] but the values provided do not match the current values",
                                c.name,
                                c.set.rtype.as_str()
                            )))
                        }
                        None => {
                            return Ok(Applied::Rejected(format!(
                                "Tried to delete resource record set [name='{}.', type='{}'] but it was not found",
                                c.name,
                                c.set.rtype.as_str()
                            )))
                        }
                    },
                }
            }
            *records = next;
        }
        self.faults
            .check("ChangeResourceRecordSets", Phase::After)?;
        Ok(Applied::Done)
    }
}

#[derive(Default)]
pub struct FakeLocks {
    pub locks: Mutex<BTreeMap<Fqdn, Lock>>,
    pub index: Mutex<BTreeMap<InstanceId, BTreeSet<Fqdn>>>,
    pub faults: Faults,
}

impl FakeLocks {
    pub fn snapshot(&self) -> BTreeMap<Fqdn, Lock> {
        lock(&self.locks).clone()
    }

    /// Runs one atomic write: `f` sees the locks and the index under one guard.
    fn atomic<T>(
        &self,
        op: &str,
        name: &Fqdn,
        f: impl FnOnce(&mut BTreeMap<Fqdn, Lock>, &mut BTreeMap<InstanceId, BTreeSet<Fqdn>>) -> T,
    ) -> Result<T> {
        self.faults.check_for(op, name.as_str(), Phase::Before)?;
        let out = {
            let mut locks = lock(&self.locks);
            let mut index = lock(&self.index);
            f(&mut locks, &mut index)
        };
        self.faults.check_for(op, name.as_str(), Phase::After)?;
        Ok(out)
    }
}

fn held(
    locks: &BTreeMap<Fqdn, Lock>,
    name: &Fqdn,
    owner: &InstanceId,
    version: u64,
) -> std::result::Result<(), Cas> {
    match locks.get(name) {
        Some(l) if &l.owner == owner && l.version == version => Ok(()),
        Some(l) => Err(Cas::Lost(Some(l.owner.clone()))),
        None => Err(Cas::Lost(None)),
    }
}

impl Locks for FakeLocks {
    async fn load(&self, names: &[Fqdn], owners: &[InstanceId]) -> Result<Loaded> {
        self.faults.enter().await;
        self.faults.check("BatchGetItem", Phase::Before)?;
        let locks = lock(&self.locks);
        let index = lock(&self.index);
        Ok((
            names.iter().filter_map(|n| locks.get(n).cloned()).collect(),
            owners
                .iter()
                .filter_map(|o| Some((o.clone(), index.get(o)?.clone())))
                .collect(),
        ))
    }

    async fn scan(&self, _prune: bool) -> Result<Vec<Lock>> {
        self.faults.enter().await;
        self.faults.check("Scan", Phase::Before)?;
        Ok(lock(&self.locks).values().cloned().collect())
    }

    async fn acquire(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        expect: &Expect,
        intent: &[RecordSet],
    ) -> Result<Cas> {
        self.faults.enter().await;
        self.atomic("Acquire", name, |locks, index| match expect {
            Expect::Absent => {
                if let Some(l) = locks.get(name) {
                    return Cas::Lost(Some(l.owner.clone()));
                }
                locks.insert(
                    name.clone(),
                    Lock {
                        name: name.clone(),
                        owner: owner.clone(),
                        version: 1,
                        records: Vec::new(),
                        intent: Some(intent.to_vec()),
                        since: None,
                    },
                );
                index.entry(owner.clone()).or_default().insert(name.clone());
                Cas::Won(1)
            }
            Expect::Held {
                owner: current,
                version,
            } => {
                if let Err(lost) = held(locks, name, current, *version) {
                    return lost;
                }
                let Some(l) = locks.get_mut(name) else {
                    return Cas::Lost(None);
                };
                l.owner = owner.clone();
                l.version += 1;
                l.intent = Some(intent.to_vec());
                if current != owner {
                    if let Some(s) = index.get_mut(current) {
                        s.remove(name);
                    }
                    index.entry(owner.clone()).or_default().insert(name.clone());
                }
                Cas::Won(l.version)
            }
        })
    }

    async fn commit(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        version: u64,
        records: &[RecordSet],
    ) -> Result<Cas> {
        self.faults.enter().await;
        self.atomic("Commit", name, |locks, _| {
            if let Err(lost) = held(locks, name, owner, version) {
                return lost;
            }
            let Some(l) = locks.get_mut(name) else {
                return Cas::Lost(None);
            };
            l.records = records.to_vec();
            l.intent = None;
            l.version += 1;
            Cas::Won(l.version)
        })
    }

    async fn release(&self, name: &Fqdn, owner: &InstanceId, version: u64) -> Result<Cas> {
        self.faults.enter().await;
        self.atomic("Release", name, |locks, index| {
            if let Err(lost) = held(locks, name, owner, version) {
                return lost;
            }
            locks.remove(name);
            if let Some(s) = index.get_mut(owner) {
                s.remove(name);
            }
            Cas::Won(version)
        })
    }
}
