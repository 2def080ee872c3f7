//! What an instance asks for: its name tag turned into claims (a valid name, the managed
//! zones it goes to, and the record sets it should get there) and the problems with it.

use std::borrow::Cow;

use crate::decide::outcome::Outcome;
use crate::decide::zones::zones_of;
use crate::decide::Settings;
use crate::model::{Instance, InstanceState, RecordSet, RecordType, Zone};
use crate::name::{parse_tag, Fqdn, MAX_MANAGED_LEN};

/// One name a running instance asks for, with the records it should get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub name: Fqdn,
    /// Sorted; at least one set.
    pub records: Vec<RecordSet>,
}

/// A tag entry that does not become a claim, and why; `name` when the entry is a valid
/// name (so that a decision about that name can replace the problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub name: Option<Fqdn>,
    pub outcome: Outcome,
}

/// The placeholders a name tag may use, so that one tag serves many instances (an Auto
/// Scaling group propagates the same tag to all of its instances): `{id}` the instance id,
/// `{region}` and `{account}` where it lives.
pub const PLACEHOLDERS: [&str; 3] = ["{id}", "{region}", "{account}"];

/// An instance's name tag with its placeholders filled in (borrowed when it has none, as
/// most tags: this runs for every instance of a reconcile).
pub fn name_tag_of(inst: &Instance) -> Option<Cow<'_, str>> {
    let tag = inst.name_tag.as_deref()?;
    if !tag.contains('{') {
        return Some(Cow::Borrowed(tag));
    }
    let home = inst.owner.home();
    let id = inst
        .owner
        .instance_id()
        .map(|i| i.as_str())
        .unwrap_or("{id}");
    Some(Cow::Owned(
        tag.replace("{id}", id)
            .replace("{region}", home.region())
            .replace("{account}", home.account()),
    ))
}

/// The valid names in an instance's tag, whatever its state (zones and addresses aside).
pub fn tag_names(inst: &Instance) -> Vec<Fqdn> {
    name_tag_of(inst)
        .as_deref()
        .and_then(|t| parse_tag(t).ok())
        .map(|entries| entries.into_iter().filter_map(|e| e.parsed.ok()).collect())
        .unwrap_or_default()
}

/// The claims of an instance and the problems with its tag. Only a running instance
/// claims anything (and only its problems are worth reporting).
pub fn claims_of(
    inst: &Instance,
    zones: &[Zone],
    settings: &Settings,
) -> (Vec<Claim>, Vec<Problem>) {
    let (mut claims, mut problems) = (Vec::new(), Vec::new());
    let Some(tag) = name_tag_of(inst).filter(|_| inst.state == InstanceState::Running) else {
        return (claims, problems);
    };
    let entries = match parse_tag(&tag) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem {
                name: None,
                outcome: Outcome::Invalid {
                    raw: tag.to_string(),
                    reason: e.to_string(),
                },
            });
            return (claims, problems);
        }
    };
    for entry in entries {
        let invalid = |reason: String| Outcome::Invalid {
            raw: entry.raw.clone(),
            reason,
        };
        let name = match entry.parsed {
            Ok(n) => n,
            Err(_) if entry.raw.contains('{') => {
                problems.push(Problem {
                    name: None,
                    outcome: invalid(format!(
                        "unknown placeholder: a name tag may use {}",
                        PLACEHOLDERS.join(", ")
                    )),
                });
                continue;
            }
            Err(e) => {
                problems.push(Problem {
                    name: None,
                    outcome: invalid(e.to_string()),
                });
                continue;
            }
        };
        let refuse = |problems: &mut Vec<Problem>, outcome: Outcome| {
            problems.push(Problem {
                name: Some(name.clone()),
                outcome,
            })
        };
        if name.as_str().len() > MAX_MANAGED_LEN {
            refuse(
                &mut problems,
                invalid(format!(
                    "name is {} characters long, the limit is {MAX_MANAGED_LEN} (its ownership marker needs 9 more)",
                    name.as_str().len()
                )),
            );
            continue;
        }
        if !settings
            .allowed_domains
            .iter()
            .any(|d| name.is_strictly_below(d))
        {
            refuse(&mut problems, invalid("not below an allowed domain".into()));
            continue;
        }
        let chosen = zones_of(&name, zones, &settings.allowed_domains);
        if chosen.is_empty() {
            refuse(
                &mut problems,
                Outcome::Skipped {
                    name: name.clone(),
                    reason: "no hosted zone for this name".into(),
                },
            );
            continue;
        }
        if chosen.iter().any(|z| z.name == name) {
            refuse(
                &mut problems,
                invalid("a zone apex is never managed".into()),
            );
            continue;
        }
        let records = records_for(inst, &chosen, settings.ttl);
        if records.is_empty() {
            let reason = if chosen.iter().all(|z| z.private) {
                "no private IPv4 address"
            } else {
                "no public IPv4 or IPv6 address"
            };
            refuse(
                &mut problems,
                Outcome::Skipped {
                    name: name.clone(),
                    reason: reason.into(),
                },
            );
            continue;
        }
        claims.push(Claim { name, records });
    }
    (claims, problems)
}

/// A public zone gets the public IPv4 (A) and the IPv6 addresses (AAAA); a private zone
/// the private IPv4.
fn records_for(inst: &Instance, zones: &[&Zone], ttl: i64) -> Vec<RecordSet> {
    let mut records = Vec::new();
    for z in zones {
        let set = |t, v: Vec<String>| RecordSet::new(z.id.clone(), t, ttl, v);
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
    records.sort();
    records
}
