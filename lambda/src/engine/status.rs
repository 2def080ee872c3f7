//! Status tags: each owner whose sentence changed gets it, with one EC2 call per distinct
//! value (EC2 throttles tag writes hard; the common values are shared by many instances).
//!
//! A run that knows its whole plan before writing (an event: one chunk of names) writes
//! the tags its lock writes settle beside its Route53 changes, not after them: once a
//! decision's lock is written its change is in flight under that lock (invariant 11), and
//! the tag is off the critical path. What Route53 then answers is written over it when it
//! says otherwise ([`Reconciler::write_statuses`] with the values already written).

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, warn};

use crate::decide::outcome::Outcome;
use crate::decide::World;
use crate::engine::Reconciler;
use crate::model::Owner;
use crate::ports::{Dns, Instances, Locks};
use crate::report::{FailRow, Report};
use crate::status_tag::{sentences, status_value};

impl<I: Instances, D: Dns, L: Locks> Reconciler<I, D, L> {
    /// Writes the status of each of `statusable` from `outcomes`, where its tag says
    /// otherwise: as EC2 said before the run, or as this run already wrote it (`written`,
    /// which gets every value written now). An owner whose outcomes include a transient
    /// failure keeps its tag until the retry, unless this run already wrote one: that one
    /// is said again with the failure in it, since it no longer holds. Failures to write
    /// go into `report` (without one, they are only logged: a later write tries again).
    pub(crate) async fn write_statuses(
        &self,
        world: &World,
        statusable: &BTreeSet<Owner>,
        outcomes: &BTreeMap<Owner, Vec<Outcome>>,
        written: &mut BTreeMap<Owner, String>,
        mut report: Option<&mut Report>,
    ) {
        let mut by_value: BTreeMap<String, Vec<Owner>> = BTreeMap::new();
        for owner in statusable {
            let Some(inst) = world.instances.get(owner) else {
                continue;
            };
            let list = outcomes.get(owner).map(Vec::as_slice).unwrap_or_default();
            let now = written.get(owner).or(inst.status_tag.as_ref());
            let value = match status_value(owner, list) {
                Some(v) => v,
                None if written.contains_key(owner) => sentences(owner, list),
                None => continue,
            };
            if now != Some(&value) {
                by_value.entry(value).or_default().push(owner.clone());
            }
        }
        for (value, owners) in by_value {
            match self.instances.set_status(&owners, &value).await {
                Ok(()) => {
                    for owner in owners {
                        written.insert(owner, value.clone());
                    }
                }
                Err(e) => match report.as_deref_mut() {
                    Some(report) => {
                        warn!(instances = owners.len(), error = %e, "status tag not written");
                        for owner in owners {
                            report.failed.push(FailRow {
                                name: self.config.status_tag.clone(),
                                instance: owner.instance_id().cloned(),
                                owner: Some(owner),
                                reason: e.to_string(),
                            });
                        }
                    }
                    None => {
                        debug!(instances = owners.len(), error = %e, "status tag not written yet; written again at the end of the run");
                    }
                },
            }
        }
    }
}
