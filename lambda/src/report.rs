//! The JSON report of a reconcile: what was (or, in a dry run, would be) changed, and why
//! some names were not.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::{InstanceId, RecordSet, ZoneId};
use crate::name::Fqdn;
use crate::plan::Outcome;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub changes: Vec<ChangeRow>,
    pub conflicts: Vec<ConflictRow>,
    pub skipped: Vec<SkipRow>,
    pub failed: Vec<FailRow>,
    /// Instances with a failed name or tag write: their events must be retried.
    #[serde(skip)]
    pub failed_instances: BTreeSet<InstanceId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    /// `CREATE`, `UPDATE` (old values swapped for new ones atomically) or `DELETE`.
    pub action: &'static str,
    pub name: Fqdn,
    #[serde(rename = "type")]
    pub rtype: &'static str,
    pub values: Vec<String>,
    pub old_values: Vec<String>,
    pub zone_id: ZoneId,
    pub instance: InstanceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictRow {
    pub name: Fqdn,
    pub instance: InstanceId,
    pub owner: Option<InstanceId>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkipRow {
    pub instance: InstanceId,
    pub name: String,
    pub reason: String,
    /// Refused as invalid (rather than skipped for want of a zone or an address).
    #[serde(skip)]
    pub invalid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailRow {
    pub name: String,
    pub instance: Option<InstanceId>,
    pub reason: String,
}

impl Report {
    /// Adds the rows for turning `old` into `new` for `name`, one per (zone, type) slot.
    pub fn add_changes(
        &mut self,
        name: &Fqdn,
        instance: &InstanceId,
        old: &[RecordSet],
        new: &[RecordSet],
    ) {
        let mut slots: Vec<_> = old
            .iter()
            .chain(new)
            .map(|s| (s.zone_id.clone(), s.rtype))
            .collect();
        slots.sort();
        slots.dedup();
        for (zone, rtype) in slots {
            let find = |sets: &[RecordSet]| {
                sets.iter()
                    .find(|s| s.zone_id == zone && s.rtype == rtype)
                    .cloned()
            };
            let (o, n) = (find(old), find(new));
            let action = match (&o, &n) {
                (Some(o), Some(n)) if o == n => continue,
                (Some(_), Some(_)) => "UPDATE",
                (None, Some(_)) => "CREATE",
                (Some(_), None) => "DELETE",
                (None, None) => continue,
            };
            self.changes.push(ChangeRow {
                action,
                name: name.clone(),
                rtype: rtype.as_str(),
                values: n.map(|s| s.values).unwrap_or_default(),
                old_values: o.map(|s| s.values).unwrap_or_default(),
                zone_id: zone,
                instance: instance.clone(),
            });
        }
    }

    /// Adds the row an outcome calls for (successes are rows of `changes`, not here).
    pub fn add_outcome(&mut self, instance: &InstanceId, outcome: &Outcome) {
        match outcome {
            Outcome::Published { .. } | Outcome::Released { .. } => {}
            Outcome::Conflict {
                name,
                owner,
                reason,
            } => self.conflicts.push(ConflictRow {
                name: name.clone(),
                instance: instance.clone(),
                owner: owner.clone(),
                reason: reason.clone(),
            }),
            Outcome::Invalid { raw, reason } => self.skipped.push(SkipRow {
                instance: instance.clone(),
                name: raw.clone(),
                reason: reason.clone(),
                invalid: true,
            }),
            Outcome::Skipped { name, reason } => self.skipped.push(SkipRow {
                instance: instance.clone(),
                name: name.to_string(),
                reason: reason.clone(),
                invalid: false,
            }),
            Outcome::Failed { name, reason } => {
                self.failed.push(FailRow {
                    name: name.to_string(),
                    instance: Some(instance.clone()),
                    reason: reason.clone(),
                });
                self.failed_instances.insert(instance.clone());
            }
        }
    }
}
