//! Status tags: each owner whose sentence changed gets it, with one EC2 call per distinct
//! value (EC2 throttles tag writes hard; the common values are shared by many instances).

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use crate::decide::outcome::Outcome;
use crate::decide::World;
use crate::engine::Reconciler;
use crate::model::Owner;
use crate::ports::{Dns, Instances, Locks};
use crate::report::{FailRow, Report};
use crate::status_tag::status_value;

impl<I: Instances, D: Dns, L: Locks> Reconciler<I, D, L> {
    pub(crate) async fn write_statuses(
        &self,
        world: &World,
        statusable: &BTreeSet<Owner>,
        outcomes: &BTreeMap<Owner, Vec<Outcome>>,
        report: &mut Report,
    ) {
        let mut by_value: BTreeMap<String, Vec<Owner>> = BTreeMap::new();
        for owner in statusable {
            let Some(inst) = world.instances.get(owner) else {
                continue;
            };
            let list = outcomes.get(owner).map(Vec::as_slice).unwrap_or_default();
            let Some(value) = status_value(owner, list) else {
                continue;
            };
            if inst.status_tag.as_deref() != Some(value.as_str()) {
                by_value.entry(value).or_default().push(owner.clone());
            }
        }
        for (value, owners) in by_value {
            if let Err(e) = self.instances.set_status(&owners, &value).await {
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
        }
    }
}
