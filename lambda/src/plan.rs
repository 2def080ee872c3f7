//! The planner: desired state (instances and their tags) plus observed state (locks and,
//! when read, Route53) in; per-name actions and per-instance outcomes out.
//!
//! Pure: no I/O, no clock, no SDK types. Every decision ec2-dns makes is made here, so the
//! invariants of the design are properties of [`plan`] that tests can check exhaustively.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Instance, InstanceId, InstanceState, Lock, RecordSet, RecordType, Zone};
use crate::name::{parse_tag, Fqdn};

/// What the planner is told about the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allowed_domains: Vec<Fqdn>,
    pub ttl: i64,
}

/// Everything observed for one reconcile.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Every instance the observation returned (targets, lock owners, claimants).
    pub instances: BTreeMap<InstanceId, Instance>,
    /// Locks of the names in scope.
    pub locks: BTreeMap<Fqdn, Lock>,
    /// Hosted zones (all of them; the planner keeps those under the allowed domains).
    pub zones: Vec<Zone>,
    /// Route53's A and AAAA sets of the names that were read (an empty list: read, none
    /// there). For a name not in the map the lock's `records` are trusted (event handling)
    /// and the apply step recovers from mismatches.
    pub dns: BTreeMap<Fqdn, Vec<RecordSet>>,
}

/// Which instances a reconcile is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Instances(BTreeSet<InstanceId>),
}

/// The lock state a write expects to find (the compare half of compare-and-swap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Absent,
    Held { owner: InstanceId, version: u64 },
}

/// One name's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make `owner` the holder of `name` with records `new`: take or update the lock, swap
    /// `old` for `new` in Route53, record `new` in the lock.
    Publish {
        name: Fqdn,
        owner: InstanceId,
        expect: Expect,
        old: Vec<RecordSet>,
        new: Vec<RecordSet>,
    },
    /// Nobody may hold `name`: delete `old` from Route53, then the lock.
    Release {
        name: Fqdn,
        owner: InstanceId,
        version: u64,
        old: Vec<RecordSet>,
    },
}

impl Action {
    pub fn name(&self) -> &Fqdn {
        match self {
            Action::Publish { name, .. } | Action::Release { name, .. } => name,
        }
    }
}

/// What happened to one name of one instance; becomes a status-tag sentence and a report row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Published {
        name: Fqdn,
        values: Vec<String>,
    },
    Conflict {
        name: Fqdn,
        owner: Option<InstanceId>,
        reason: String,
    },
    Invalid {
        raw: String,
        reason: String,
    },
    Skipped {
        name: Fqdn,
        reason: String,
    },
    Released {
        name: Fqdn,
        reason: String,
    },
    Failed {
        name: Fqdn,
        reason: String,
    },
}

impl Outcome {
    pub fn name(&self) -> Option<&Fqdn> {
        match self {
            Outcome::Invalid { .. } => None,
            Outcome::Published { name, .. }
            | Outcome::Conflict { name, .. }
            | Outcome::Skipped { name, .. }
            | Outcome::Released { name, .. }
            | Outcome::Failed { name, .. } => Some(name),
        }
    }

    /// The sentence for the status tag.
    pub fn sentence(&self) -> String {
        match self {
            Outcome::Published { name, values } => format!("ok: {name} -> {}", values.join(", ")),
            Outcome::Conflict {
                name,
                owner: Some(o),
                ..
            } => format!("conflict: {name} is owned by {o}"),
            Outcome::Conflict {
                name,
                owner: None,
                reason,
            } => format!("conflict: {name} {reason}"),
            Outcome::Invalid { raw, reason } => format!("invalid: {} ({reason})", printable(raw)),
            Outcome::Skipped { name, reason } => format!("skipped: {name} ({reason})"),
            Outcome::Released { name, reason } => format!("released: {name} ({reason})"),
            Outcome::Failed { name, reason } => format!("error: {name} ({reason})"),
        }
    }
}

/// Reason text for a record that ec2-dns did not write.
pub const UNMANAGED: &str = "has a record ec2-dns did not write";
/// Reason text for a record whose values were changed by someone else.
pub const FOREIGN_VALUES: &str = "has record values ec2-dns did not write";

/// Most characters of an EC2 tag value.
pub const MAX_TAG_VALUE: usize = 256;

/// The result of planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Outcomes per instance, in tag order, assuming every action succeeds.
    pub outcomes: BTreeMap<InstanceId, Vec<Outcome>>,
    /// Instances whose every name was planned, so their status tag can be rewritten whole.
    pub statusable: BTreeSet<InstanceId>,
}

/// One name an instance may have, with the records it should get.
#[derive(Debug, Clone)]
struct Claim {
    name: Fqdn,
    records: Vec<RecordSet>,
}

/// Computes the actions that bring `world` to the desired state for `scope`.
///
/// Deterministic and idempotent: planning the world that results from applying a plan
/// yields no actions ("a second round changes nothing").
pub fn plan(world: &World, scope: &Scope, settings: &Settings) -> Plan {
    let zones: Vec<&Zone> = world
        .zones
        .iter()
        .filter(|z| {
            settings
                .allowed_domains
                .iter()
                .any(|d| z.name.is_at_or_below(d))
        })
        .collect();
    let in_scope = |id: &InstanceId| match scope {
        Scope::All => true,
        Scope::Instances(ids) => ids.contains(id),
    };

    let mut out = Plan::default();
    // Claims of every running instance; outcomes for the tag problems of those in scope.
    let mut claims: BTreeMap<&InstanceId, Vec<Claim>> = BTreeMap::new();
    let mut problems: BTreeMap<&InstanceId, Vec<Outcome>> = BTreeMap::new();
    for inst in world.instances.values() {
        if inst.state == InstanceState::Running {
            let (valid, bad) = claims_of(inst, &zones, settings);
            claims.insert(&inst.id, valid);
            problems.insert(&inst.id, bad);
        }
    }

    // The names this reconcile decides: claimed or owned by an instance in scope.
    let mut names: BTreeSet<&Fqdn> = BTreeSet::new();
    for (id, cs) in &claims {
        if in_scope(id) {
            names.extend(cs.iter().map(|c| &c.name));
        }
    }
    for lock in world.locks.values() {
        if in_scope(&lock.owner) || matches!(scope, Scope::All) {
            names.insert(&lock.name);
        }
    }

    // Claimants per name, built once: planning stays linear in instances and names.
    let mut by_name: BTreeMap<&Fqdn, Vec<(&Instance, &Claim)>> = BTreeMap::new();
    for (id, cs) in &claims {
        if let Some(inst) = world.instances.get(*id) {
            for c in cs {
                by_name.entry(&c.name).or_default().push((inst, c));
            }
        }
    }
    for name in &names {
        let claimants = by_name.remove(*name).unwrap_or_default();
        plan_name(world, name, claimants, &mut out);
    }

    // An instance's status tag is rewritten whole, so only when every name it claims was
    // planned here; its tag problems then join its outcomes.
    for inst in world.instances.values() {
        let complete = in_scope(&inst.id)
            || claims
                .get(&inst.id)
                .is_some_and(|cs| cs.iter().all(|c| names.contains(&c.name)));
        if !complete {
            continue;
        }
        if let Some(bad) = problems.remove(&inst.id).filter(|b| !b.is_empty()) {
            let entry = out.outcomes.entry(inst.id.clone()).or_default();
            entry.splice(0..0, bad);
        }
        if inst.state.is_taggable() {
            out.statusable.insert(inst.id.clone());
        }
    }
    out
}

fn plan_name(world: &World, name: &Fqdn, mut claimants: Vec<(&Instance, &Claim)>, out: &mut Plan) {
    let lock = world.locks.get(name);
    // Running claimants, longest-running first.
    claimants.sort_by(|(a, _), (b, _)| (a.launch_time, &a.id).cmp(&(b.launch_time, &b.id)));

    let winner = lock
        .and_then(|l| claimants.iter().find(|(i, _)| i.id == l.owner))
        .or(claimants.first())
        .copied();
    let observed = world.dns.get(name).map(Vec::as_slice);

    let mut note =
        |id: &InstanceId, o: Outcome| out.outcomes.entry(id.clone()).or_default().push(o);
    let conflict_all =
        |note: &mut dyn FnMut(&InstanceId, Outcome), owner: Option<&InstanceId>, reason: &str| {
            for (i, _) in &claimants {
                if Some(&i.id) != owner {
                    note(
                        &i.id,
                        Outcome::Conflict {
                            name: name.clone(),
                            owner: owner.cloned(),
                            reason: match owner {
                                Some(o) => format!("owned by instance {o}"),
                                None => reason.to_string(),
                            },
                        },
                    );
                }
            }
        };

    match (lock, winner) {
        (None, None) => {}
        (None, Some((w, claim))) => {
            let occupied = observed.is_some_and(|obs| {
                obs.iter()
                    .any(|s| claim.records.iter().any(|r| r.slot() == s.slot()))
            });
            if occupied {
                conflict_all(&mut note, None, UNMANAGED);
            } else {
                note(&w.id, published(name, &claim.records));
                conflict_all(&mut note, Some(&w.id), "");
                out.actions.push(Action::Publish {
                    name: name.clone(),
                    owner: w.id.clone(),
                    expect: Expect::Absent,
                    old: Vec::new(),
                    new: claim.records.clone(),
                });
            }
        }
        (Some(l), None) => {
            let (old, foreign) = ours(l, observed, &[]);
            if !foreign.is_empty() {
                note(
                    &l.owner,
                    Outcome::Conflict {
                        name: name.clone(),
                        owner: None,
                        reason: FOREIGN_VALUES.into(),
                    },
                );
            }
            note(
                &l.owner,
                Outcome::Released {
                    name: name.clone(),
                    reason: release_reason(world.instances.get(&l.owner)),
                },
            );
            out.actions.push(Action::Release {
                name: name.clone(),
                owner: l.owner.clone(),
                version: l.version,
                old,
            });
        }
        (Some(l), Some((w, claim))) => {
            let (old, foreign) = ours(l, observed, &claim.records);
            if !foreign.is_empty() {
                // Someone changed the record behind our back: leave it alone, say so.
                conflict_all(&mut note, None, FOREIGN_VALUES);
                return;
            }
            note(&w.id, published(name, &claim.records));
            conflict_all(&mut note, Some(&w.id), "");
            if l.owner != w.id {
                note(
                    &l.owner,
                    Outcome::Released {
                        name: name.clone(),
                        reason: format!(
                            "{}; handed over to {}",
                            release_reason(world.instances.get(&l.owner)),
                            w.id
                        ),
                    },
                );
            }
            let unchanged = l.owner == w.id
                && l.intent.is_none()
                && l.records == claim.records
                && old == claim.records;
            if !unchanged {
                out.actions.push(Action::Publish {
                    name: name.clone(),
                    owner: w.id.clone(),
                    expect: Expect::Held {
                        owner: l.owner.clone(),
                        version: l.version,
                    },
                    old,
                    new: claim.records.clone(),
                });
            }
        }
    }
}

fn published(name: &Fqdn, records: &[RecordSet]) -> Outcome {
    let mut values: Vec<String> = records
        .iter()
        .flat_map(|r| r.values.iter().cloned())
        .collect();
    values.sort();
    values.dedup();
    Outcome::Published {
        name: name.clone(),
        values,
    }
}

/// Splits what Route53 holds for a locked name into what ec2-dns wrote (safe to delete) and
/// what someone else wrote in a slot ec2-dns uses (never touched). Without an observation,
/// the lock's `records` are taken as the truth; the apply step recovers if they are not.
pub fn ours(
    lock: &Lock,
    observed: Option<&[RecordSet]>,
    new: &[RecordSet],
) -> (Vec<RecordSet>, Vec<RecordSet>) {
    let Some(observed) = observed else {
        return (lock.records.clone(), Vec::new());
    };
    let slots: BTreeSet<_> = lock
        .records
        .iter()
        .chain(lock.intent.iter().flatten())
        .chain(new)
        .map(RecordSet::slot)
        .collect();
    let (mut mine, mut foreign) = (Vec::new(), Vec::new());
    for set in observed.iter().filter(|s| slots.contains(&s.slot())) {
        if lock.wrote(set) {
            mine.push(set.clone());
        } else {
            foreign.push(set.clone());
        }
    }
    mine.sort();
    (mine, foreign)
}

fn release_reason(owner: Option<&Instance>) -> String {
    match owner.map(|i| i.state) {
        None | Some(InstanceState::Gone) => "instance gone".into(),
        Some(InstanceState::Running) => "no longer claimed by the instance".into(),
        Some(s) => format!("instance {}", s.as_str()),
    }
}

/// The names a running instance asks for, as records, and the problems with its tag.
fn claims_of(inst: &Instance, zones: &[&Zone], settings: &Settings) -> (Vec<Claim>, Vec<Outcome>) {
    let (mut valid, mut problems) = (Vec::new(), Vec::new());
    let Some(tag) = inst.name_tag.as_deref() else {
        return (valid, problems);
    };
    let entries = match parse_tag(tag) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Outcome::Invalid {
                raw: tag.to_string(),
                reason: e.to_string(),
            });
            return (valid, problems);
        }
    };
    for entry in entries {
        let name = match entry.parsed {
            Ok(n) => n,
            Err(e) => {
                problems.push(Outcome::Invalid {
                    raw: entry.raw,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if !settings
            .allowed_domains
            .iter()
            .any(|d| name.is_strictly_below(d))
        {
            problems.push(Outcome::Invalid {
                raw: entry.raw,
                reason: "not below an allowed domain".into(),
            });
            continue;
        }
        // Longest suffix among the managed zones; public and private zones of that name.
        let best = zones
            .iter()
            .filter(|z| name.is_at_or_below(&z.name))
            .map(|z| z.name.label_count())
            .max();
        let Some(best) = best else {
            problems.push(Outcome::Skipped {
                name,
                reason: "no hosted zone for this name".into(),
            });
            continue;
        };
        let chosen: Vec<&&Zone> = zones
            .iter()
            .filter(|z| name.is_at_or_below(&z.name) && z.name.label_count() == best)
            .collect();
        if chosen.iter().any(|z| z.name == name) {
            problems.push(Outcome::Invalid {
                raw: entry.raw,
                reason: "a zone apex is never managed".into(),
            });
            continue;
        }
        let mut records = Vec::new();
        for z in &chosen {
            let set = |t, v: Vec<String>| RecordSet::new(z.id.clone(), t, settings.ttl, v);
            if z.private {
                if let Some(ip) = inst.private_ipv4 {
                    records.push(set(RecordType::A, vec![ip.to_string()]));
                }
            } else {
                if let Some(ip) = inst.public_ipv4 {
                    records.push(set(RecordType::A, vec![ip.to_string()]));
                }
                if !inst.ipv6.is_empty() {
                    records.push(set(
                        RecordType::Aaaa,
                        inst.ipv6.iter().map(|a| a.to_string()).collect(),
                    ));
                }
            }
        }
        if records.is_empty() {
            let reason = if chosen.iter().all(|z| z.private) {
                "no private IPv4 address"
            } else {
                "no public IPv4 or IPv6 address"
            };
            problems.push(Outcome::Skipped {
                name,
                reason: reason.into(),
            });
            continue;
        }
        records.sort();
        valid.push(Claim { name, records });
    }
    (valid, problems)
}

/// The status-tag value for an instance, or `None` when there is nothing to say (no names)
/// or an outcome is a transient failure (the tag keeps its last sentence until the retry).
pub fn status_value(outcomes: &[Outcome]) -> Option<String> {
    if outcomes.is_empty() || outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. })) {
        return None;
    }
    let mut value = outcomes
        .iter()
        .map(Outcome::sentence)
        .collect::<Vec<_>>()
        .join("; ");
    if value.chars().count() > MAX_TAG_VALUE {
        value = value.chars().take(MAX_TAG_VALUE - 3).collect::<String>() + "...";
    }
    Some(value)
}

/// User text made safe for a tag and a log line: control characters become `?`, and it is
/// cut short.
fn printable(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if raw.chars().count() > 80 {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ZoneId;
    use crate::tests::{id, instance, name};

    fn settings() -> Settings {
        Settings {
            allowed_domains: vec![name("dyn.example.com")],
            ttl: 60,
        }
    }

    fn zones() -> Vec<Zone> {
        vec![Zone {
            id: ZoneId("Z1".into()),
            name: name("dyn.example.com"),
            private: false,
        }]
    }

    fn a(ip: &str) -> Vec<RecordSet> {
        vec![RecordSet::new(
            ZoneId("Z1".into()),
            RecordType::A,
            60,
            vec![ip.into()],
        )]
    }

    fn lock(n: &str, owner: u32, records: Vec<RecordSet>) -> Lock {
        Lock {
            name: name(n),
            owner: id(owner),
            version: 3,
            records,
            intent: None,
            since: None,
        }
    }

    /// Applies a plan to the world as if every action succeeded.
    fn simulate(world: &World, plan: &Plan) -> World {
        let mut next = world.clone();
        for action in &plan.actions {
            match action {
                Action::Publish {
                    name, owner, new, ..
                } => {
                    let version = next.locks.get(name).map_or(1, |l| l.version + 2);
                    next.locks.insert(
                        name.clone(),
                        Lock {
                            name: name.clone(),
                            owner: owner.clone(),
                            version,
                            records: new.clone(),
                            intent: None,
                            since: None,
                        },
                    );
                    if let Some(seen) = next.dns.get_mut(name) {
                        *seen = new.clone();
                    }
                }
                Action::Release { name, .. } => {
                    next.locks.remove(name);
                    if let Some(seen) = next.dns.get_mut(name) {
                        seen.clear();
                    }
                }
            }
        }
        next
    }

    struct Case {
        name: &'static str,
        instances: Vec<Instance>,
        locks: Vec<Lock>,
        dns: Vec<(&'static str, Vec<RecordSet>)>,
        scope: Scope,
        /// (action kind, name, owner) expected, in order.
        want: Vec<(&'static str, &'static str, u32)>,
    }

    fn stopped(n: u32, tag: &str) -> Instance {
        let mut i = instance(n, Some(tag));
        i.state = InstanceState::Stopped;
        i
    }

    #[test]
    fn the_planner_decides_each_case_and_a_second_round_changes_nothing() {
        let web = "web.dyn.example.com";
        let cases = vec![
            Case {
                name: "new claim",
                instances: vec![instance(1, Some(web))],
                locks: vec![],
                dns: vec![],
                scope: Scope::All,
                want: vec![("publish", web, 1)],
            },
            Case {
                name: "already published",
                instances: vec![instance(1, Some(web))],
                locks: vec![lock(web, 1, a("203.0.113.1"))],
                dns: vec![],
                scope: Scope::All,
                want: vec![],
            },
            Case {
                name: "new address",
                instances: vec![instance(1, Some(web))],
                locks: vec![lock(web, 1, a("198.51.100.1"))],
                dns: vec![],
                scope: Scope::All,
                want: vec![("publish", web, 1)],
            },
            Case {
                name: "owner stopped, nobody waiting",
                instances: vec![stopped(1, web)],
                locks: vec![lock(web, 1, a("203.0.113.1"))],
                dns: vec![],
                scope: Scope::All,
                want: vec![("release", web, 1)],
            },
            Case {
                name: "owner stopped, claimant waiting",
                instances: vec![stopped(1, web), instance(2, Some(web))],
                locks: vec![lock(web, 1, a("203.0.113.1"))],
                dns: vec![],
                scope: Scope::Instances([id(1)].into()),
                want: vec![("publish", web, 2)],
            },
            Case {
                name: "running owner keeps its name",
                instances: vec![instance(1, Some(web)), instance(2, Some(web))],
                locks: vec![lock(web, 1, a("203.0.113.1"))],
                dns: vec![],
                scope: Scope::Instances([id(2)].into()),
                want: vec![],
            },
            Case {
                name: "two new claimants: the longest running wins",
                instances: vec![instance(5, Some(web)), instance(4, Some(web))],
                locks: vec![],
                dns: vec![],
                scope: Scope::All,
                want: vec![("publish", web, 4)],
            },
            Case {
                name: "owner gone",
                instances: vec![],
                locks: vec![lock(web, 1, a("203.0.113.1"))],
                dns: vec![],
                scope: Scope::All,
                want: vec![("release", web, 1)],
            },
            Case {
                name: "drift: record deleted",
                instances: vec![instance(1, Some(web))],
                locks: vec![lock(web, 1, a("203.0.113.1"))],
                dns: vec![(web, vec![])],
                scope: Scope::All,
                want: vec![("publish", web, 1)],
            },
            Case {
                name: "unmanaged record: no claim",
                instances: vec![instance(1, Some(web))],
                locks: vec![],
                dns: vec![(web, a("192.0.2.1"))],
                scope: Scope::All,
                want: vec![],
            },
            Case {
                name: "foreign values: left alone",
                instances: vec![instance(1, Some(web))],
                locks: vec![lock(web, 1, a("203.0.113.1"))],
                dns: vec![(web, a("192.0.2.1"))],
                scope: Scope::All,
                want: vec![],
            },
            Case {
                name: "name outside scope untouched",
                instances: vec![instance(1, Some(web)), stopped(2, "other.dyn.example.com")],
                locks: vec![lock("other.dyn.example.com", 2, a("203.0.113.2"))],
                dns: vec![],
                scope: Scope::Instances([id(1)].into()),
                want: vec![("publish", web, 1)],
            },
        ];
        for case in cases {
            let world = World {
                instances: case
                    .instances
                    .iter()
                    .map(|i| (i.id.clone(), i.clone()))
                    .collect(),
                locks: case
                    .locks
                    .iter()
                    .map(|l| (l.name.clone(), l.clone()))
                    .collect(),
                zones: zones(),
                dns: case.dns.iter().map(|(n, s)| (name(n), s.clone())).collect(),
            };
            let p = plan(&world, &case.scope, &settings());
            let got: Vec<(&str, String, InstanceId)> = p
                .actions
                .iter()
                .map(|a| match a {
                    Action::Publish { name, owner, .. } => {
                        ("publish", name.to_string(), owner.clone())
                    }
                    Action::Release { name, owner, .. } => {
                        ("release", name.to_string(), owner.clone())
                    }
                })
                .collect();
            let want: Vec<(&str, String, InstanceId)> = case
                .want
                .iter()
                .map(|(k, n, o)| (*k, n.to_string(), id(*o)))
                .collect();
            assert_eq!(got, want, "{}", case.name);
            let again = plan(&simulate(&world, &p), &case.scope, &settings());
            assert!(
                again.actions.is_empty(),
                "{}: second round planned {:?}",
                case.name,
                again.actions
            );
        }
    }

    #[test]
    fn a_status_sentence_is_cut_to_the_tag_limit() {
        let outcomes: Vec<Outcome> = (0..10)
            .map(|i| Outcome::Conflict {
                name: name(&format!("host-with-a-long-name-{i}.dyn.example.com")),
                owner: Some(id(1)),
                reason: String::new(),
            })
            .collect();
        let v = status_value(&outcomes).unwrap();
        assert_eq!(v.chars().count(), MAX_TAG_VALUE);
        assert!(v.ends_with("..."));
    }

    #[test]
    fn control_characters_never_reach_a_status_tag() {
        let o = Outcome::Invalid {
            raw: "a\nb\u{7}.example.com".into(),
            reason: "x".into(),
        };
        assert_eq!(o.sentence(), "invalid: a?b?.example.com (x)");
    }
}
