//! The JSON report of a reconcile: what was (or, in a dry run, would be) changed, and why
//! some names were not. A pure wire type: what to retry is `crate::retry`'s business.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::decide::outcome::Outcome;
use crate::decide::{Frozen, RowAction, SlotChange};
use crate::model::{InstanceId, Owner, Zone, ZoneId};
use crate::name::Fqdn;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub changes: Vec<ChangeRow>,
    pub conflicts: Vec<ConflictRow>,
    pub skipped: Vec<SkipRow>,
    /// Names left exactly as they are until an operator acts.
    pub frozen: Vec<FrozenRow>,
    pub failed: Vec<FailRow>,
    /// Configuration an operator should look at (an allowed domain no hosted zone serves).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    /// `CREATE`, `UPDATE` (old values swapped for new ones atomically), `DELETE`, or
    /// `MARK` (only the ownership marker changes).
    pub action: RowAction,
    pub name: Fqdn,
    #[serde(rename = "type")]
    pub rtype: &'static str,
    pub values: Vec<String>,
    pub old_values: Vec<String>,
    /// TTL of the set after the change and before it (`null` where there is none).
    pub ttl: Option<i64>,
    pub old_ttl: Option<i64>,
    pub zone_id: ZoneId,
    /// The zone's name (empty when the zone no longer exists).
    pub zone: String,
    pub private: bool,
    /// The instance the records are (or were) for, and its qualified owner.
    pub instance: Option<InstanceId>,
    pub owner: Option<Owner>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictRow {
    pub name: Fqdn,
    /// The claimant that did not get the name.
    pub instance: Option<InstanceId>,
    pub owner: Owner,
    /// Who holds it instead; `null` when it is a record ec2-dns did not write.
    pub holder: Option<Owner>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkipRow {
    pub instance: Option<InstanceId>,
    pub owner: Owner,
    /// The tag entry as written (or the name, when it is valid).
    pub name: String,
    pub reason: String,
    /// Refused as invalid: a tag entry that is not a name ec2-dns may manage (rather than a
    /// valid name skipped for want of a zone or an address). The status tag says `invalid:`
    /// for these, `skipped:` for the others.
    pub invalid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrozenRow {
    pub name: Fqdn,
    pub holder: Option<Owner>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailRow {
    /// The name, or the status tag's key for a tag that could not be written.
    pub name: String,
    pub instance: Option<InstanceId>,
    pub owner: Option<Owner>,
    pub reason: String,
}

impl Report {
    /// Adds the rows of one name's slot changes.
    pub fn add_changes(&mut self, rows: &[SlotChange], zones: &[Zone]) {
        for r in rows {
            let zone = zones.iter().find(|z| z.id == r.slot.zone);
            self.changes.push(ChangeRow {
                action: r.action,
                name: r.name.clone(),
                rtype: r.slot.rtype.as_str(),
                values: r.values.clone(),
                old_values: r.old_values.clone(),
                ttl: r.ttl,
                old_ttl: r.old_ttl,
                zone_id: r.slot.zone.clone(),
                zone: zone.map(|z| z.name.to_string()).unwrap_or_default(),
                private: zone.is_some_and(|z| z.private),
                instance: r.owner.as_ref().and_then(|o| o.instance_id().cloned()),
                owner: r.owner.clone(),
            });
        }
    }

    /// Adds the row an outcome calls for (successes are rows of `changes`, not here).
    pub fn add_outcome(&mut self, owner: &Owner, outcome: &Outcome) {
        let instance = owner.instance_id().cloned();
        match outcome {
            Outcome::Published { .. } | Outcome::Released { .. } | Outcome::Frozen { .. } => {}
            Outcome::Conflict {
                name,
                holder,
                reason,
            } => self.conflicts.push(ConflictRow {
                name: name.clone(),
                instance,
                owner: owner.clone(),
                holder: holder.clone(),
                reason: reason.text(holder.as_ref(), owner),
            }),
            Outcome::Invalid { raw, reason } => self.skipped.push(SkipRow {
                instance,
                owner: owner.clone(),
                name: raw.clone(),
                reason: reason.clone(),
                invalid: true,
            }),
            Outcome::Skipped { name, reason } => self.skipped.push(SkipRow {
                instance,
                owner: owner.clone(),
                name: name.to_string(),
                reason: reason.to_string(),
                invalid: false,
            }),
            Outcome::NoSlot { template } => self.skipped.push(SkipRow {
                instance,
                owner: owner.clone(),
                name: template.clone(),
                reason: crate::status_tag::no_slot(),
                invalid: false,
            }),
            Outcome::Failed { name, reason } => self.failed.push(FailRow {
                name: name.to_string(),
                instance,
                owner: Some(owner.clone()),
                reason: reason.clone(),
            }),
        }
    }

    pub fn add_frozen(&mut self, frozen: &[Frozen]) {
        self.frozen.extend(frozen.iter().map(|f| FrozenRow {
            name: f.name.clone(),
            holder: f.holder.clone(),
            reason: f.reason.to_string(),
        }));
    }

    /// Takes in the report of a second look at `owners` in the same call: their rows of
    /// this report are replaced by that one's; its changes are added.
    pub fn merge_retry(&mut self, owners: &BTreeSet<Owner>, next: Report) {
        let theirs = |o: &Owner| owners.contains(o);
        self.conflicts.retain(|r| !theirs(&r.owner));
        self.skipped.retain(|r| !theirs(&r.owner));
        self.failed
            .retain(|r| !r.owner.as_ref().is_some_and(theirs));
        self.changes.extend(next.changes);
        for r in next.conflicts {
            if !self.conflicts.contains(&r) {
                self.conflicts.push(r);
            }
        }
        for r in next.skipped {
            if !self.skipped.contains(&r) {
                self.skipped.push(r);
            }
        }
        for r in next.failed {
            if !self.failed.contains(&r) {
                self.failed.push(r);
            }
        }
        for w in next.warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
    }

    /// The owners with something to retry.
    pub fn failed_owners(&self) -> impl Iterator<Item = &Owner> {
        self.failed.iter().filter_map(|f| f.owner.as_ref())
    }
}
