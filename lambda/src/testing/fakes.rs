//! In-process fakes that enforce AWS's rules, for fast tests:
//! - [`FakeRoute53`] speaks the raw API: Route53's listing order and pagination, batches
//!   applied all or nothing, CREATE refused over an existing set, DELETE refused unless
//!   exact, CNAME alone at its name, names inside their zone, every A, AAAA and PTR value
//!   valid for its type ([`invalid_value`]), the request limits
//!   (1,000 values, 32,000 characters), refused rather than split, and record set
//!   protections (a protected name and type refuses every change, in a message modelled
//!   on Route53's others: see [`protection_message`]);
//! - [`FakeLocks`] applies every conditional write atomically, on the version (or, for a
//!   check, the generation) the write names;
//! - [`FakeEc2`] fails a tag call as a whole when one instance cannot be tagged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::aws::sort_key as order;
use crate::bucket::TokenBucket;
use crate::config::Deployed;
use crate::error::{Error, Result};
use crate::hosts::{Attempt, HostName, HostRecord, SourceCount, SourcePrefix};
use crate::lock::{Cas, Expect, HostTouch, Loaded, Lock, LockWrite, Unreadable};
use crate::model::{
    ChangeAction, Completion, Home, Instance, InstanceId, InterfaceId, LifecycleAction, Owner,
    Zone, ZoneId,
};
use crate::name::Fqdn;
use crate::ports::{
    Alerts, Groups, Instances, ListStart, Locks, Queue, RawChange, RawPage, RawSet, RetryLater,
    Route53Api, Secrets,
};
use crate::shard::{PartDone, Run};

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ------------------------------------------------------------------------------- EC2

pub struct FakeEc2 {
    pub instances: Mutex<BTreeMap<Owner, Instance>>,
    /// The accounts and regions managed (the test home unless a test adds more).
    pub homes: Mutex<Vec<Home>>,
    /// Network interfaces and the instance each is attached to (`None`: detached). An
    /// interface lives in its instance's account and region.
    pub interfaces: Mutex<BTreeMap<InterfaceId, Option<Owner>>>,
}

impl Default for FakeEc2 {
    fn default() -> Self {
        FakeEc2 {
            instances: Mutex::default(),
            homes: Mutex::new(vec![crate::testing::home()]),
            interfaces: Mutex::default(),
        }
    }
}

impl FakeEc2 {
    pub fn put(&self, inst: Instance) {
        guard(&self.instances).insert(inst.owner.clone(), inst);
    }

    pub fn get(&self, owner: &Owner) -> Option<Instance> {
        guard(&self.instances).get(owner).cloned()
    }

    pub fn update(&self, owner: &Owner, f: impl FnOnce(&mut Instance)) {
        if let Some(i) = guard(&self.instances).get_mut(owner) {
            f(i);
        }
    }

    pub fn all(&self) -> Vec<Instance> {
        guard(&self.instances).values().cloned().collect()
    }
}

impl Instances for FakeEc2 {
    fn homes(&self) -> Vec<Home> {
        guard(&self.homes).clone()
    }

    async fn describe(&self, home: &Home, owners: &[Owner]) -> Result<Vec<Instance>> {
        let all = guard(&self.instances);
        Ok(owners
            .iter()
            .filter(|o| o.home() == home)
            .filter_map(|o| all.get(o).cloned())
            .collect())
    }

    async fn tagged(&self, home: &Home, prefix: &str) -> Result<Vec<Instance>> {
        let wanted = format!("i-{prefix}");
        Ok(guard(&self.instances)
            .values()
            .filter(|i| i.names.tag().is_some() && i.owner.home() == home)
            .filter(|i| {
                i.owner
                    .instance_id()
                    .is_some_and(|id| id.as_str().starts_with(&wanted))
            })
            .cloned()
            .collect())
    }

    async fn attached_to(&self, home: &Home, interface: &InterfaceId) -> Result<Option<Instance>> {
        let attached = guard(&self.interfaces).get(interface).cloned().flatten();
        Ok(attached
            .filter(|o| o.home() == home)
            .and_then(|o| guard(&self.instances).get(&o).cloned()))
    }

    async fn set_status(&self, owners: &[Owner], value: &str) -> Result<()> {
        let mut all = guard(&self.instances);
        for o in owners {
            let fail = |why: String| Error::Aws {
                service: "ec2",
                operation: "CreateTags",
                message: why,
                retryable: false,
            };
            let inst = all
                .get(o)
                .ok_or_else(|| fail(format!("InvalidInstanceID.NotFound: {o}")))?;
            if !inst.state.is_taggable() {
                return Err(fail(format!(
                    "IncorrectState: {o} is {}",
                    inst.state.as_str()
                )));
            }
        }
        for o in owners {
            if let Some(i) = all.get_mut(o) {
                i.status_tag = Some(value.to_string());
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------ Auto Scaling

/// Auto Scaling's rules for lifecycle actions: an action is completed once, with the token
/// Auto Scaling gave it, for its group, hook and instance; anything else is refused as
/// Auto Scaling refuses it (`ValidationError: No active Lifecycle Action found…`, which the
/// port reports as [`Completion::NotActive`]). At most 50 instance ids per
/// `DescribeAutoScalingInstances`.
#[derive(Default)]
pub struct FakeGroups {
    /// Grouped instances: (group, lifecycle state).
    pub members: Mutex<BTreeMap<Owner, (String, String)>>,
    /// Hooks: (place, group, hook) → heartbeat timeout (seconds).
    pub hooks: Mutex<BTreeMap<(Home, String, String), i64>>,
    /// Actions waiting for completion, by token.
    pub pending: Mutex<BTreeMap<String, LifecycleAction>>,
    /// Actions completed, with their result, in order.
    pub completed: Mutex<Vec<(LifecycleAction, String)>>,
    /// Heartbeats recorded, by token.
    pub heartbeats: Mutex<Vec<String>>,
}

impl FakeGroups {
    /// An instance of `group`, in lifecycle state `state`.
    pub fn put(&self, owner: &Owner, group: &str, state: &str) {
        guard(&self.members).insert(owner.clone(), (group.to_string(), state.to_string()));
    }

    pub fn add_hook(&self, home: &Home, group: &str, hook: &str, timeout: i64) {
        guard(&self.hooks).insert((home.clone(), group.into(), hook.into()), timeout);
    }

    /// Auto Scaling starts `action`: the instance waits in `state` (`Pending:Wait`,
    /// `Warmed:Pending:Wait`, `Terminating:Wait`).
    pub fn begin(&self, action: &LifecycleAction, state: &str) {
        self.put(&action.owner, &action.group, state);
        guard(&self.pending).insert(action.token.clone(), action.clone());
    }

    pub fn completed(&self) -> Vec<(LifecycleAction, String)> {
        guard(&self.completed).clone()
    }

    pub fn is_pending(&self, token: &str) -> bool {
        guard(&self.pending).contains_key(token)
    }

    fn active(&self, a: &LifecycleAction) -> std::result::Result<(), String> {
        match guard(&self.pending).get(&a.token) {
            Some(p) if p.owner == a.owner && p.group == a.group && p.hook == a.hook => Ok(()),
            _ => Err(format!(
                "No active Lifecycle Action found with token {}",
                a.token
            )),
        }
    }
}

impl Groups for FakeGroups {
    async fn lifecycle_states(
        &self,
        home: &Home,
        ids: &[InstanceId],
    ) -> Result<BTreeMap<InstanceId, String>> {
        if ids.len() > crate::fleet::IDS_PER_CALL {
            return Err(Error::Aws {
                service: "autoscaling",
                operation: "DescribeAutoScalingInstances",
                message: "ValidationError: The number of instance ids that may be passed in is limited to 50".into(),
                retryable: false,
            });
        }
        let members = guard(&self.members);
        Ok(ids
            .iter()
            .filter_map(|id| {
                let (_, state) = members.get(&home.instance(id.clone()))?;
                Some((id.clone(), state.clone()))
            })
            .collect())
    }

    async fn hook_timeout(&self, a: &LifecycleAction) -> Result<Option<i64>> {
        let key = (a.owner.home().clone(), a.group.clone(), a.hook.clone());
        Ok(guard(&self.hooks).get(&key).copied())
    }

    async fn complete(&self, a: &LifecycleAction) -> Result<Completion> {
        if let Err(why) = self.active(a) {
            return Ok(Completion::NotActive(why));
        }
        guard(&self.pending).remove(&a.token);
        guard(&self.completed).push((a.clone(), "CONTINUE".into()));
        Ok(Completion::Completed)
    }

    async fn heartbeat(&self, a: &LifecycleAction) -> Result<Completion> {
        if let Err(why) = self.active(a) {
            return Ok(Completion::NotActive(why));
        }
        guard(&self.heartbeats).push(a.token.clone());
        Ok(Completion::Completed)
    }
}

// ---------------------------------------------------------------------------- Route53

/// A record set as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub ttl: i64,
    /// Sorted.
    pub values: Vec<String>,
    /// An alias or routing-policy set.
    pub special: bool,
}

/// (zone, name without the trailing dot, type).
pub type Key = (ZoneId, String, String);

#[derive(Default)]
pub struct FakeRoute53 {
    pub zones: Mutex<Vec<Zone>>,
    pub records: Mutex<BTreeMap<Key, Stored>>,
    /// Record set protections (zone, name, type), with their comments: every change of a
    /// protected name and type is refused, a CREATE where nothing exists yet included.
    pub protected: Mutex<BTreeMap<Key, Option<String>>>,
    /// Route53's change budget, when a test sets one ([`FakeRoute53::limit_changes`]): a
    /// batch with more record changes than the bucket holds is throttled (`Throttling: Rate
    /// exceeded`), as Route53 has done since 2026. In tokio's time, so that it follows a
    /// paused test clock.
    pub change_budget: Mutex<Option<TokenBucket>>,
    /// Every change applied, by id (`C1`, `C2`, …): how many more `GetChange` calls answer
    /// `PENDING` before `INSYNC`.
    pub changes: Mutex<BTreeMap<String, u32>>,
    /// How many `GetChange` calls a new change answers `PENDING` (0 by default).
    pub propagation_polls: Mutex<u32>,
    /// Ids applied since they were last taken.
    pub applied: Mutex<Vec<String>>,
}

/// The message of a change Route53 refuses because a record set protection covers it.
///
/// Route53 documents the refusal (`InvalidChangeBatch`, whose message carries the
/// protection's comment) but, as far as we could find, not its exact text: this one is
/// modelled on its other `InvalidChangeBatch` messages ("Tried to create resource record
/// set [name='…', type='…'] but it already exists"). The adapter depends only on the
/// `[name='…', type='…']` part and on the word "protect" (`crate::aws::route53`).
pub fn protection_message(
    action: ChangeAction,
    name: &str,
    rtype: &str,
    comment: Option<&str>,
) -> String {
    let verb = match action {
        ChangeAction::Create => "create",
        ChangeAction::Delete => "delete",
    };
    let mut m = format!(
        "Tried to {verb} resource record set [name='{name}.', type='{rtype}'] but it is protected by a resource record set protection"
    );
    if let Some(c) = comment {
        m.push_str(&format!(" (comment: {c})"));
    }
    m
}

/// Route53's check of one value of a record set, as its `InvalidChangeBatch` says it
/// (`Invalid Resource Record: 'FATAL problem: …'`): an A value is an IPv4 address, an AAAA
/// value an IPv6 address, a PTR value a domain name (labels of 1-63 characters, 255 in
/// all; a trailing dot is the root). `None`: valid, or a type this fake does not check.
pub fn invalid_value(rtype: &str, value: &str) -> Option<String> {
    let problem = match rtype {
        "A" if value.parse::<std::net::Ipv4Addr>().is_err() => {
            "ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)"
        }
        "AAAA" if value.parse::<std::net::Ipv6Addr>().is_err() => {
            "AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)"
        }
        "PTR" => {
            let labels = value.strip_suffix('.').unwrap_or(value);
            if value.len() > 255 {
                "DomainNameTooLong (Domain name is too long)"
            } else if labels.is_empty() || labels.split('.').any(str::is_empty) {
                "DomainLabelEmpty (Domain label is empty)"
            } else if labels.split('.').any(|l| l.len() > 63) {
                "DomainLabelTooLong (Domain label is too long)"
            } else {
                return None;
            }
        }
        _ => return None,
    };
    Some(format!(
        "Invalid Resource Record: 'FATAL problem: {problem} encountered with '{value}''"
    ))
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl FakeRoute53 {
    pub fn add_zone(&self, id: &str, name: &str, private: bool) -> ZoneId {
        let zone = Zone {
            id: ZoneId(id.into()),
            name: Fqdn::parse(name).unwrap_or_else(|e| panic!("zone {name}: {e}")),
            private,
            // Counted when the zones are listed.
            records: None,
        };
        guard(&self.zones).push(zone);
        ZoneId(id.into())
    }

    /// Writes a set directly, as someone outside ec2-dns would.
    pub fn put(&self, zone: &ZoneId, name: &str, rtype: &str, ttl: i64, values: &[&str]) {
        let mut values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        values.sort();
        guard(&self.records).insert(
            (zone.clone(), norm(name), rtype.to_string()),
            Stored {
                ttl,
                values,
                special: false,
            },
        );
    }

    /// An alias record, as someone outside ec2-dns would write it.
    pub fn put_alias(&self, zone: &ZoneId, name: &str, rtype: &str) {
        guard(&self.records).insert(
            (zone.clone(), norm(name), rtype.to_string()),
            Stored {
                ttl: 0,
                values: Vec::new(),
                special: true,
            },
        );
    }

    pub fn remove(&self, zone: &ZoneId, name: &str, rtype: &str) {
        guard(&self.records).remove(&(zone.clone(), norm(name), rtype.to_string()));
    }

    /// Deletes a hosted zone and everything in it (Route53 wants it empty first; the test
    /// plays the operator who emptied it).
    pub fn delete_zone(&self, zone: &ZoneId) {
        guard(&self.zones).retain(|z| &z.id != zone);
        guard(&self.records).retain(|(z, _, _), _| z != zone);
        guard(&self.protected).retain(|(z, _, _), _| z != zone);
    }

    /// Throttles change batches beyond `per_second` record changes (bursts of `burst`).
    pub fn limit_changes(&self, per_second: f64, burst: f64) {
        *guard(&self.change_budget) = Some(TokenBucket::full(per_second, burst));
    }

    /// Protects a name and type (`CreateResourceRecordSetProtections`).
    pub fn protect(&self, zone: &ZoneId, name: &str, rtype: &str, comment: Option<&str>) {
        guard(&self.protected).insert(
            (zone.clone(), norm(name), rtype.to_string()),
            comment.map(str::to_string),
        );
    }

    /// Removes a protection (`DeleteResourceRecordSetProtections`).
    pub fn unprotect(&self, zone: &ZoneId, name: &str, rtype: &str) {
        guard(&self.protected).remove(&(zone.clone(), norm(name), rtype.to_string()));
    }

    pub fn get(&self, zone: &ZoneId, name: &str, rtype: &str) -> Option<Stored> {
        guard(&self.records)
            .get(&(zone.clone(), norm(name), rtype.to_string()))
            .cloned()
    }

    pub fn snapshot(&self) -> BTreeMap<Key, Stored> {
        guard(&self.records).clone()
    }

    fn zone_name(&self, zone: &ZoneId) -> Option<String> {
        guard(&self.zones)
            .iter()
            .find(|z| &z.id == zone)
            .map(|z| z.name.to_string())
    }
}

/// The record sets of `zone` (the table is ordered by zone first).
fn in_zone<'a>(
    records: &'a BTreeMap<Key, Stored>,
    zone: &'a ZoneId,
) -> impl Iterator<Item = (&'a Key, &'a Stored)> + 'a {
    records
        .range((zone.clone(), String::new(), String::new())..)
        .take_while(move |((z, _, _), _)| z == zone)
}

/// The types of the sets at `name` in `zone`, as the changes `staged` so far leave them.
fn types_at(
    records: &BTreeMap<Key, Stored>,
    staged: &BTreeMap<Key, Option<Stored>>,
    zone: &ZoneId,
    name: &str,
) -> BTreeSet<String> {
    let from = (zone.clone(), name.to_string(), String::new());
    let at = |(z, n, _): &Key| z == zone && n == name;
    let mut types: BTreeSet<String> = records
        .range(from.clone()..)
        .take_while(|(k, _)| at(k))
        .map(|((_, _, t), _)| t.clone())
        .collect();
    for ((_, _, t), set) in staged.range(from..).take_while(|(k, _)| at(k)) {
        if set.is_some() {
            types.insert(t.clone());
        } else {
            types.remove(t);
        }
    }
    types
}

/// Route53's request limits: refused as a whole, never split.
const MAX_VALUES: usize = 1000;
const MAX_CHARS: usize = 32_000;

impl Route53Api for FakeRoute53 {
    /// With each zone's `ResourceRecordSetCount`, as Route53 gives it.
    async fn list_hosted_zones(&self) -> Result<Vec<Zone>> {
        let zones = guard(&self.zones).clone();
        let records = guard(&self.records);
        Ok(zones
            .into_iter()
            .map(|z| Zone {
                records: Some(in_zone(&records, &z.id).count() as u64),
                ..z
            })
            .collect())
    }

    async fn list_record_sets(
        &self,
        zone: &ZoneId,
        start: Option<&ListStart>,
        max_items: Option<i32>,
    ) -> Result<Option<RawPage>> {
        if self.zone_name(zone).is_none() {
            // NoSuchHostedZone.
            return Ok(None);
        }
        let records = guard(&self.records);
        let mut sets: Vec<(String, String, &Stored)> = in_zone(&records, zone)
            .map(|((_, n, t), s)| (n.clone(), t.clone(), s))
            .collect();
        sets.sort_by(|a, b| (order(&a.0), &a.1).cmp(&(order(&b.0), &b.1)));
        let from = start.map(|s| (order(&norm(&s.name)), s.rtype.clone().unwrap_or_default()));
        let listed: Vec<&(String, String, &Stored)> = sets
            .iter()
            .filter(|(n, t, _)| {
                from.as_ref()
                    .is_none_or(|(fk, ft)| (order(n), t) >= (fk.clone(), ft))
            })
            .collect();
        let max = max_items.unwrap_or(300).clamp(1, 300) as usize;
        let page = RawPage {
            sets: listed
                .iter()
                .take(max)
                .map(|(n, t, s)| RawSet {
                    name: format!("{n}."),
                    rtype: t.clone(),
                    ttl: (!s.special).then_some(s.ttl),
                    values: s.values.clone(),
                    special: s.special,
                })
                .collect(),
            next: listed.get(max).map(|(n, t, _)| ListStart {
                name: format!("{n}."),
                rtype: Some(t.clone()),
                identifier: None,
            }),
        };
        Ok(Some(page))
    }

    async fn change_batch(&self, zone: &ZoneId, changes: &[RawChange]) -> Result<Option<String>> {
        let Some(zone_name) = self.zone_name(zone) else {
            return Err(Error::Aws {
                service: "route53",
                operation: "ChangeResourceRecordSets",
                message: format!("NoSuchHostedZone: {zone}"),
                retryable: false,
            });
        };
        if let Some(b) = guard(&self.change_budget).as_mut() {
            if !b.try_take(changes.len() as f64, tokio::time::Instant::now()) {
                return Err(Error::Aws {
                    service: "route53",
                    operation: "ChangeResourceRecordSets",
                    message: "Throttling: Rate exceeded".into(),
                    retryable: true,
                });
            }
        }
        let values: usize = changes.iter().map(|c| c.values.len()).sum();
        if values > MAX_VALUES {
            return Ok(Some(format!(
                "Number of records limit of {MAX_VALUES} exceeded."
            )));
        }
        let chars: usize = changes
            .iter()
            .flat_map(|c| c.values.iter())
            .map(String::len)
            .sum();
        if chars > MAX_CHARS {
            return Ok(Some(format!(
                "Number of characters limit of {MAX_CHARS} exceeded."
            )));
        }
        // Every change a protection covers is named, before anything else is checked.
        let protected = guard(&self.protected);
        let refused: Vec<String> = changes
            .iter()
            .filter_map(|c| {
                let key = (zone.clone(), norm(&c.name), c.rtype.clone());
                let comment = protected.get(&key)?;
                Some(protection_message(
                    c.action,
                    &key.1,
                    &c.rtype,
                    comment.as_deref(),
                ))
            })
            .collect();
        drop(protected);
        if !refused.is_empty() {
            return Ok(Some(refused.join("; ")));
        }
        // Every value is checked for its type before any change is applied.
        let invalid: Vec<String> = changes
            .iter()
            .flat_map(|c| c.values.iter().filter_map(|v| invalid_value(&c.rtype, v)))
            .collect();
        if !invalid.is_empty() {
            return Ok(Some(invalid.join("; ")));
        }
        // The batch is checked against the zone as its earlier changes leave it (`staged`:
        // `None` deleted), and applied only once every change passed: all or nothing,
        // without copying the whole table for each batch.
        let mut records = guard(&self.records);
        let mut staged: BTreeMap<Key, Option<Stored>> = BTreeMap::new();
        for c in changes {
            let name = norm(&c.name);
            if !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) {
                return Ok(Some(format!(
                    "RRSet with DNS name {name}. is not permitted in zone {zone_name}."
                )));
            }
            let key = (zone.clone(), name.clone(), c.rtype.clone());
            let mut values = c.values.clone();
            values.sort();
            let set = Stored {
                ttl: c.ttl,
                values,
                special: false,
            };
            let shown = format!("[name='{name}.', type='{}']", c.rtype);
            let current = match staged.get(&key) {
                Some(now) => now.as_ref(),
                None => records.get(&key),
            };
            match c.action {
                ChangeAction::Create => {
                    if current.is_some() {
                        return Ok(Some(format!(
                            "Tried to create resource record set {shown} but it already exists"
                        )));
                    }
                    let at_name = types_at(&records, &staged, zone, &name);
                    let conflicting = if c.rtype == "CNAME" {
                        at_name.first().cloned()
                    } else {
                        at_name.get("CNAME").cloned()
                    };
                    if let Some(other) = conflicting {
                        return Ok(Some(format!(
                            "RRSet of type {} with DNS name {name}. is not permitted because a conflicting RRSet of type {other} with the same DNS name already exists in zone {zone_name}.",
                            c.rtype
                        )));
                    }
                    staged.insert(key, Some(set));
                }
                ChangeAction::Delete => match current {
                    Some(cur) if *cur == set => {
                        staged.insert(key, None);
                    }
                    Some(_) => {
                        return Ok(Some(format!(
                            "Tried to delete resource record set {shown} but the values provided do not match the current values"
                        )))
                    }
                    None => {
                        return Ok(Some(format!(
                            "Tried to delete resource record set {shown} but it was not found"
                        )))
                    }
                },
            }
        }
        for (key, set) in staged {
            match set {
                Some(set) => records.insert(key, set),
                None => records.remove(&key),
            };
        }
        let mut all = guard(&self.changes);
        let id = format!("C{}", all.len() + 1);
        all.insert(id.clone(), *guard(&self.propagation_polls));
        guard(&self.applied).push(id);
        Ok(None)
    }

    fn take_applied(&self) -> Vec<String> {
        std::mem::take(&mut *guard(&self.applied))
    }

    /// Route53's `NoSuchChange` for an id it never gave.
    async fn get_change(&self, id: &str) -> Result<bool> {
        let mut all = guard(&self.changes);
        let Some(left) = all.get_mut(id) else {
            return Err(Error::Aws {
                service: "route53",
                operation: "GetChange",
                message: format!(
                    "NoSuchChange: A change with the specified change ID does not exist: {id}"
                ),
                retryable: false,
            });
        };
        if *left == 0 {
            return Ok(true);
        }
        *left -= 1;
        Ok(false)
    }
}

// -------------------------------------------------------------------------- lock table

/// The segment of `of` an item of key `key` is in (FNV-1a: stable across runs).
fn segment_of(key: &str, of: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(of)) as u32
}

fn no_run(run: &str) -> Error {
    Error::InvalidInput(format!("no sharded run {run:?} in the lock table"))
}

#[derive(Default)]
pub struct FakeLocks {
    pub locks: Mutex<BTreeMap<Fqdn, Lock>>,
    pub index: Mutex<BTreeMap<Owner, BTreeSet<Fqdn>>>,
    pub unreadable: Mutex<Vec<Unreadable>>,
    pub deployed: Mutex<Option<Deployed>>,
    /// The start of the last reconcile of everything that finished without failures.
    pub swept: Mutex<Option<i64>>,
    pub hosts: Mutex<BTreeMap<HostName, HostRecord>>,
    /// The sample protocol's pointers: name → host credential.
    pub samples: Mutex<BTreeMap<Fqdn, HostName>>,
    /// Host items damaged in the table: read as unreadable.
    pub bad_hosts: Mutex<BTreeSet<HostName>>,
    /// Failed logins per source prefix (`source#<prefix>` items).
    pub sources: Mutex<BTreeMap<SourcePrefix, SourceCount>>,
    /// Sharded runs (`run#<id>` items).
    pub runs: Mutex<BTreeMap<String, Run>>,
}

impl FakeLocks {
    pub fn snapshot(&self) -> BTreeMap<Fqdn, Lock> {
        guard(&self.locks).clone()
    }

    pub fn index(&self) -> BTreeMap<Owner, BTreeSet<Fqdn>> {
        guard(&self.index).clone()
    }

    fn readable_host(&self, name: &HostName) -> Option<HostRecord> {
        if guard(&self.bad_hosts).contains(name) {
            return None;
        }
        guard(&self.hosts).get(name).cloned()
    }

    pub fn host_now(&self, name: &str) -> Option<HostRecord> {
        guard(&self.hosts)
            .get(&HostName::parse(name).ok()?)
            .cloned()
    }

    /// Puts an item as an older release (or a test) left it.
    pub fn put(&self, lock: Lock) {
        if let Some(h) = &lock.holder {
            guard(&self.index)
                .entry(h.clone())
                .or_default()
                .insert(lock.name.clone());
        }
        guard(&self.locks).insert(lock.name.clone(), lock);
    }

    pub fn remove(&self, name: &Fqdn) {
        guard(&self.locks).remove(name);
        for names in guard(&self.index).values_mut() {
            names.remove(name);
        }
    }

    fn write_now(&self, w: &LockWrite) -> Cas {
        let mut locks = guard(&self.locks);
        let mut index = guard(&self.index);
        let mut hosts = guard(&self.hosts);
        let name = w.name();
        let current = locks.get(name);
        match w {
            LockWrite::Decide(d) => {
                let version = match (&d.expect, current) {
                    (Expect::Absent, None) => 1,
                    (Expect::Version(v), Some(l)) if l.version == *v => v + 1,
                    _ => return Cas::Lost,
                };
                // The host's own item changes in the same transaction, only while it exists.
                if let Some(t) = &d.host {
                    match hosts.get_mut(&t.name) {
                        Some(h) => h.apply(t),
                        None => return Cas::Lost,
                    }
                }
                let mut lock = d.lock(version);
                if lock.holder.is_some() && lock.since.is_none() {
                    lock.since = Some("2026-12-01T00:00:00Z".into());
                }
                let moves = d.index_moves();
                for p in moves.removed {
                    if let Some(names) = index.get_mut(p) {
                        names.remove(name);
                    }
                }
                for h in moves.added {
                    index.entry(h.clone()).or_default().insert(name.clone());
                }
                locks.insert(name.clone(), lock);
                Cas::Won(version)
            }
            LockWrite::Wait {
                version, waiting, ..
            } => match locks.get_mut(name) {
                Some(l) if l.version == *version => {
                    l.waiting.extend(waiting.iter().cloned());
                    l.version += 1;
                    Cas::Won(l.version)
                }
                _ => Cas::Lost,
            },
            LockWrite::Settle { version, .. } => match locks.get_mut(name) {
                Some(l) if l.version == *version => {
                    l.check = false;
                    l.version += 1;
                    Cas::Won(l.version)
                }
                _ => Cas::Lost,
            },
            LockWrite::Forget { version, .. } => match locks.get(name) {
                Some(l) if l.version == *version && l.holder.is_none() => {
                    locks.remove(name);
                    Cas::Won(version + 1)
                }
                _ => Cas::Lost,
            },
            LockWrite::Check { gen, now, .. } => match locks.get_mut(name) {
                Some(l) if l.gen == *gen => {
                    l.check = true;
                    l.until = *now;
                    l.version += 1;
                    Cas::Won(l.version)
                }
                _ => Cas::Lost,
            },
        }
    }
}

impl Locks for FakeLocks {
    async fn load(&self, names: &[Fqdn], owners: &[Owner]) -> Result<Loaded> {
        let locks = guard(&self.locks);
        let index = guard(&self.index);
        Ok(Loaded {
            locks: names.iter().filter_map(|n| locks.get(n).cloned()).collect(),
            index: owners
                .iter()
                .filter_map(|o| Some((o.clone(), index.get(o)?.clone())))
                .collect(),
            unreadable: guard(&self.unreadable)
                .iter()
                .filter(|u| u.name.as_ref().is_some_and(|n| names.contains(n)))
                .cloned()
                .collect(),
            empty_index: Vec::new(),
            hosts: owners
                .iter()
                .filter_map(|o| self.readable_host(o.host()?))
                .collect(),
            unreadable_hosts: owners
                .iter()
                .filter_map(Owner::host)
                .filter(|h| guard(&self.bad_hosts).contains(*h))
                .cloned()
                .collect(),
        })
    }

    async fn scan(&self) -> Result<Loaded> {
        self.scan_segment(0, 1).await
    }

    /// Items are spread over segments by a hash of their key, as DynamoDB spreads them.
    async fn scan_segment(&self, segment: u32, of: u32) -> Result<Loaded> {
        if of == 0 || segment >= of {
            return Err(Error::InvalidInput(format!(
                "segment {segment} of {of}: the segment must be below the number of segments"
            )));
        }
        let mine = |key: &str| segment_of(key, of) == segment;
        let index = guard(&self.index);
        let index: BTreeMap<Owner, BTreeSet<Fqdn>> = index
            .iter()
            .filter(|(o, _)| mine(&format!("owner#{o}")))
            .map(|(o, n)| (o.clone(), n.clone()))
            .collect();
        let bad = guard(&self.bad_hosts);
        Ok(Loaded {
            locks: guard(&self.locks)
                .values()
                .filter(|l| mine(l.name.as_str()))
                .cloned()
                .collect(),
            unreadable: guard(&self.unreadable)
                .iter()
                .filter(|u| mine(&u.key))
                .cloned()
                .collect(),
            empty_index: index
                .iter()
                .filter(|(_, names)| names.is_empty())
                .map(|(o, _)| format!("owner#{o}"))
                .collect(),
            index,
            hosts: guard(&self.hosts)
                .values()
                .filter(|h| !bad.contains(&h.name) && mine(&format!("host#{}", h.name)))
                .cloned()
                .collect(),
            unreadable_hosts: bad
                .iter()
                .filter(|h| mine(&format!("host#{h}")))
                .cloned()
                .collect(),
        })
    }

    async fn item_count(&self) -> Result<Option<u64>> {
        let n = guard(&self.locks).len()
            + guard(&self.index).len()
            + guard(&self.hosts).len()
            + guard(&self.runs).len();
        Ok(Some(n as u64))
    }

    async fn start_run(&self, run: &Run) -> Result<bool> {
        let mut runs = guard(&self.runs);
        if runs.contains_key(&run.id) {
            return Ok(false);
        }
        runs.insert(run.id.clone(), run.clone());
        Ok(true)
    }

    async fn split_part(&self, run: &str, part: &str, children: &[String]) -> Result<()> {
        let mut runs = guard(&self.runs);
        let r = runs.get_mut(run).ok_or_else(|| no_run(run))?;
        r.split.insert(part.to_string());
        r.parts.extend(children.iter().cloned());
        Ok(())
    }

    /// Conditional, as on DynamoDB: a finished part is added once.
    async fn record_part(&self, run: &str, done: &PartDone) -> Result<Option<Run>> {
        let mut runs = guard(&self.runs);
        let r = runs.get_mut(run).ok_or_else(|| no_run(run))?;
        if done.finished && r.finished.contains(&done.part) {
            return Ok(None);
        }
        if let Some(note) = &done.note {
            r.notes.insert(done.part.clone(), note.clone());
        }
        if done.finished {
            r.finished.insert(done.part.clone());
            let c = &mut r.counts;
            let d = done.counts;
            c.owners += d.owners;
            c.changes += d.changes;
            c.conflicts += d.conflicts;
            c.skipped += d.skipped;
            c.frozen += d.frozen;
            c.failed += d.failed;
        }
        Ok(Some(r.clone()))
    }

    async fn run(&self, id: &str) -> Result<Option<Run>> {
        Ok(guard(&self.runs).get(id).cloned())
    }

    async fn write(&self, w: &LockWrite) -> Result<Cas> {
        Ok(self.write_now(w))
    }

    async fn prune_index(&self, keys: &[String]) -> Result<()> {
        guard(&self.index)
            .retain(|o, names| !(names.is_empty() && keys.contains(&format!("owner#{o}"))));
        Ok(())
    }

    async fn deployed(&self) -> Result<Option<Deployed>> {
        Ok(guard(&self.deployed).clone())
    }

    async fn record_deployed(&self, d: &Deployed) -> Result<()> {
        *guard(&self.deployed) = Some(d.clone());
        Ok(())
    }

    async fn swept(&self) -> Result<Option<i64>> {
        Ok(*guard(&self.swept))
    }

    /// Conditional, as on DynamoDB: only a later start replaces the recorded one.
    async fn record_swept(&self, started: i64) -> Result<()> {
        let mut swept = guard(&self.swept);
        if swept.is_none_or(|s| s < started) {
            *swept = Some(started);
        }
        Ok(())
    }

    async fn host(&self, name: &HostName) -> Result<Option<HostRecord>> {
        if guard(&self.bad_hosts).contains(name) {
            return Err(Error::Unexpected {
                service: "dynamodb",
                message: format!("host item {name} cannot be read"),
            });
        }
        Ok(guard(&self.hosts).get(name).cloned())
    }

    async fn sample_host(&self, name: &Fqdn) -> Result<Option<HostName>> {
        Ok(guard(&self.samples).get(name).cloned())
    }

    async fn put_host(&self, host: &HostRecord, create: bool) -> Result<Cas> {
        let mut hosts = guard(&self.hosts);
        let current = hosts.get(&host.name).map(|h| h.version);
        let ok = match current {
            None => create,
            Some(v) => !create && v + 1 == host.version,
        };
        if !ok {
            return Ok(Cas::Lost);
        }
        if host.sample {
            let mut samples = guard(&self.samples);
            for n in &host.names {
                samples.insert(n.clone(), host.name.clone());
            }
        }
        hosts.insert(host.name.clone(), host.clone());
        Ok(Cas::Won(host.version))
    }

    async fn delete_host(&self, host: &HostRecord) -> Result<()> {
        guard(&self.bad_hosts).remove(&host.name);
        guard(&self.hosts).remove(&host.name);
        guard(&self.samples).retain(|_, h| *h != host.name);
        Ok(())
    }

    async fn touch_host(&self, touch: &HostTouch) -> Result<()> {
        if let Some(h) = guard(&self.hosts).get_mut(&touch.name) {
            h.apply(touch);
        }
        Ok(())
    }

    /// Atomic like DynamoDB's conditional update: on the item as it is, not as read.
    async fn count_attempt(&self, read: &HostRecord, now: i64) -> Result<Attempt> {
        let mut hosts = guard(&self.hosts);
        let Some(h) = hosts.get_mut(&read.name) else {
            return Ok(Attempt::Gone);
        };
        Ok(match h.attempt(now) {
            Some(f) => {
                (h.failures, h.failed_since, h.locked_until) =
                    (f.failures, f.failed_since, f.locked_until);
                Attempt::Counted(f)
            }
            None => Attempt::Locked,
        })
    }

    async fn load_with_source(
        &self,
        names: &[Fqdn],
        owners: &[Owner],
        source: &SourcePrefix,
    ) -> Result<(Loaded, SourceCount)> {
        let loaded = self.load(names, owners).await?;
        let count = guard(&self.sources).get(source).copied();
        Ok((loaded, count.unwrap_or_default()))
    }

    async fn count_source_failure(
        &self,
        source: &SourcePrefix,
        now: i64,
        window: i64,
    ) -> Result<SourceCount> {
        let mut sources = guard(&self.sources);
        let count = sources.entry(*source).or_default();
        *count = count.after_failure(now, window);
        Ok(*count)
    }
}

// ------------------------------------------------------------------------------- SQS

/// The event queue, recording what the function asked of it.
#[derive(Default)]
pub struct FakeQueue {
    pub asked: Mutex<Vec<RetryLater>>,
    /// Messages sent: (queue URL, body).
    pub sent: Mutex<Vec<(String, String)>>,
    /// Every send fails (SQS unavailable, or no permission).
    pub fail_sends: std::sync::atomic::AtomicBool,
}

impl FakeQueue {
    /// The messages sent so far, taken (as a queue hands them to its consumer).
    pub fn take_sent(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *guard(&self.sent))
    }
}

impl Queue for FakeQueue {
    async fn retry_later(&self, messages: &[RetryLater]) -> Result<()> {
        guard(&self.asked).extend(messages.iter().cloned());
        Ok(())
    }

    async fn send(&self, url: &str, bodies: &[String]) -> Result<()> {
        if self.fail_sends.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Aws {
                service: "sqs",
                operation: "SendMessageBatch",
                message: "injected: the queue is unavailable".into(),
                retryable: true,
            });
        }
        let mut sent = guard(&self.sent);
        sent.extend(bodies.iter().map(|b| (url.to_string(), b.clone())));
        Ok(())
    }
}

// ------------------------------------------------------------------------ SSM and SNS

/// SSM parameters of the sample protocol's secrets.
#[derive(Default)]
pub struct FakeSecrets {
    pub secrets: Mutex<BTreeMap<HostName, String>>,
    /// Every PutParameter fails (SSM unavailable, or no permission).
    pub fail_puts: std::sync::atomic::AtomicBool,
}

impl Secrets for FakeSecrets {
    async fn secret(&self, host: &HostName) -> Result<Option<String>> {
        Ok(guard(&self.secrets).get(host).cloned())
    }

    async fn put_secret(&self, host: &HostName, secret: &str) -> Result<()> {
        if self.fail_puts.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Aws {
                service: "ssm",
                operation: "PutParameter",
                message: "injected".into(),
                retryable: true,
            });
        }
        guard(&self.secrets).insert(host.clone(), secret.to_string());
        Ok(())
    }

    async fn delete_secret(&self, host: &HostName) -> Result<()> {
        guard(&self.secrets).remove(host);
        Ok(())
    }
}

/// The alert topic: what was published (subject, message).
#[derive(Default)]
pub struct FakeAlerts {
    pub sent: Mutex<Vec<(String, String)>>,
}

impl FakeAlerts {
    pub fn subjects(&self) -> Vec<String> {
        guard(&self.sent).iter().map(|(s, _)| s.clone()).collect()
    }
}

impl Alerts for FakeAlerts {
    async fn alert(&self, subject: &str, message: &str) -> Result<()> {
        guard(&self.sent).push((subject.to_string(), message.to_string()));
        Ok(())
    }
}
