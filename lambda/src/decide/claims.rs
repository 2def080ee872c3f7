//! What a claimant asks for: its names (an instance's name tag, a host's credential) turned
//! into claims (a valid name, the managed zones it goes to, and the record sets it should
//! get there) and the problems with them. Instances and hosts are claimants alike: only
//! where their names come from, and how many they may have, differs ([`Names`]).

use std::borrow::Cow;

use std::collections::BTreeMap;

use crate::decide::outcome::{Outcome, SkipReason};
use crate::decide::slots::{Template, SLOT};
use crate::decide::zones::zones_of;
use crate::decide::Settings;
use crate::model::{Instance, InstanceState, Names, RecordSet, RecordType, Zone};
use crate::name::{parse_tag, Fqdn, TagEntry, MAX_HOST_NAMES, MAX_MANAGED_LEN};

/// One name a running claimant asks for, with the records it should get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub name: Fqdn,
    /// Sorted; at least one set.
    pub records: Vec<RecordSet>,
    /// A shared name (`shared:` in the tag): the claimant joins one set with the other
    /// members instead of holding the name alone ([`crate::decide::shared`]).
    pub shared: bool,
}

/// An entry of a claimant's names that does not become a claim, and why; `name` when the
/// entry is a valid name (so that a decision about that name can replace the problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub name: Option<Fqdn>,
    pub outcome: Outcome,
}

/// The placeholders a name tag may use, so that one tag serves many instances (an Auto
/// Scaling group propagates the same tag to all of its instances): `{id}` the instance id,
/// `{region}` and `{account}` where it lives, and `{slot}` the lowest free number of the
/// group ([`crate::decide::slots`]; filled in by the assignment, not here).
pub const PLACEHOLDERS: [&str; 4] = ["{id}", "{region}", "{account}", SLOT];

/// An instance's name tag with its placeholders filled in (borrowed when it has none, as
/// most tags: this runs for every instance of a run); `None` for a host, which has no tag.
pub fn name_tag_of(inst: &Instance) -> Option<Cow<'_, str>> {
    let tag = inst.names.tag()?;
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

/// A claimant's names refused as a whole: the text as written and why.
struct Refused {
    raw: String,
    reason: String,
}

/// The entries of a claimant's names, or why they are refused as a whole: a name tag of
/// more than [`crate::name::MAX_NAMES_PER_TAG`] entries, a credential of more than
/// [`MAX_HOST_NAMES`] names. Each source keeps its own limit; neither passes through the
/// other's.
fn entries_of(claimant: &Instance) -> Result<Vec<TagEntry>, Refused> {
    match &claimant.names {
        Names::Tag(_) => {
            let Some(tag) = name_tag_of(claimant) else {
                return Ok(Vec::new());
            };
            parse_tag(&tag).map_err(|e| Refused {
                raw: tag.to_string(),
                reason: e.to_string(),
            })
        }
        Names::Host(names) if names.len() > MAX_HOST_NAMES => {
            let listed: Vec<&str> = names.iter().map(Fqdn::as_str).collect();
            Err(Refused {
                raw: listed.join(","),
                reason: format!(
                    "{} names; a host may have at most {MAX_HOST_NAMES}",
                    names.len()
                ),
            })
        }
        Names::Host(names) => Ok(names
            .iter()
            .map(|n| TagEntry {
                raw: n.to_string(),
                parsed: Ok(n.clone()),
                shared: false,
            })
            .collect()),
    }
}

/// The valid names a claimant asks for, whatever its state (zones and addresses aside): a
/// stopped instance's tag, or a silent host's credential, still names what it may hold.
pub fn names_of(claimant: &Instance) -> Vec<Fqdn> {
    entries_of(claimant)
        .map(|entries| entries.into_iter().filter_map(|e| e.parsed.ok()).collect())
        .unwrap_or_default()
}

/// The claims of a claimant and the problems with its names. Only a running claimant (a
/// host: while its lease holds) claims anything, and only its problems are worth
/// reporting. Every name is checked the same way, whoever asks for it: its length (its
/// marker must fit), strictly below an allowed domain, a managed zone that is not its apex,
/// and an address for that zone. A `{slot}` template claims the name `slots` gives it
/// ([`crate::decide::slots::assign`]), checked like any other.
pub fn claims_of(
    claimant: &Instance,
    zones: &[Zone],
    settings: &Settings,
    slots: &BTreeMap<Template, Option<Fqdn>>,
) -> (Vec<Claim>, Vec<Problem>) {
    let (mut claims, mut problems) = (Vec::new(), Vec::new());
    if claimant.state != InstanceState::Running {
        return (claims, problems);
    }
    let entries = match entries_of(claimant) {
        Ok(e) => e,
        Err(Refused { raw, reason }) => {
            problems.push(Problem {
                name: None,
                outcome: Outcome::Invalid { raw, reason },
            });
            return (claims, problems);
        }
    };
    for entry in entries {
        let invalid = |reason: String| Outcome::Invalid {
            raw: entry.raw.clone(),
            reason,
        };
        if entry.shared && !settings.shared_names {
            problems.push(Problem {
                name: entry.parsed.clone().ok(),
                outcome: invalid(
                    "shared names are not enabled in this deployment (SHARED_NAMES)".into(),
                ),
            });
            continue;
        }
        if entry.shared && entry.raw.contains(SLOT) {
            problems.push(Problem {
                name: None,
                outcome: invalid(format!(
                    "a shared name cannot use {SLOT}: its members share one name"
                )),
            });
            continue;
        }
        let name = match entry.parsed {
            Ok(n) => n,
            Err(_) if entry.raw.contains(SLOT) => match Template::parse(&entry.raw) {
                Err(reason) => {
                    problems.push(Problem {
                        name: None,
                        outcome: invalid(reason),
                    });
                    continue;
                }
                Ok(template) => match slots.get(&template) {
                    Some(Some(n)) => n.clone(),
                    _ => {
                        problems.push(Problem {
                            name: None,
                            outcome: Outcome::NoSlot {
                                template: template.to_string(),
                            },
                        });
                        continue;
                    }
                },
            },
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
        if crate::decide::reverse::is_reverse(&name) {
            refuse(
                &mut problems,
                invalid("a reverse name is written from an instance's addresses (REVERSE_RECORDS), never claimed by name".into()),
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
                    reason: SkipReason::NoZone,
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
        let records = records_for(claimant, &chosen, settings.ttl);
        if records.is_empty() {
            refuse(
                &mut problems,
                Outcome::Skipped {
                    name: name.clone(),
                    reason: SkipReason::NoAddress {
                        private_only: chosen.iter().all(|z| z.private),
                    },
                },
            );
            continue;
        }
        claims.push(Claim {
            name,
            records,
            shared: entry.shared,
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::{HostName, HostRecord};
    use crate::model::ZoneId;
    use crate::testing::{home, instance, name};

    fn names(count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("n{i}.dyn.example.com"))
            .collect()
    }

    /// A host with a live lease, as the decisions see its credential.
    fn host(listed: &[String]) -> Instance {
        let record = HostRecord {
            name: HostName::parse("home").unwrap(),
            version: 1,
            names: listed.iter().map(|n| name(n)).collect(),
            password: String::new(),
            sample: false,
            bound: true,
            prefixes: Default::default(),
            lease: 0,
            ipv4: Some("198.51.100.7".parse().unwrap()),
            ipv6: None,
            updated: 1_000,
            created: 10,
            failures: 0,
            failed_since: 0,
            locked_until: 0,
            alerted: None,
        };
        record.as_claimant(2_000, &home())
    }

    #[test]
    fn each_claimant_keeps_its_own_limit_and_every_name_is_checked_alike() {
        let zones = [
            Zone {
                id: ZoneId("ZPUBLIC".into()),
                name: name("dyn.example.com"),
                private: false,
                records: None,
            },
            Zone {
                id: ZoneId("ZPRIVATE".into()),
                name: name("dyn.example.com"),
                private: true,
                records: None,
            },
        ];
        let settings = crate::testing::settings();
        let outside = vec!["a.example.org".to_string(), "b.dyn.example.com".into()];
        let stopped = Instance {
            state: InstanceState::Stopped,
            ..host(&names(15))
        };
        // (case, claimant, names claimed, problems as (name, reason), names it may hold)
        type Row<'a> = (
            &'a str,
            Instance,
            usize,
            Vec<(Option<&'a str>, String)>,
            usize,
        );
        let table: Vec<Row> = vec![
            (
                "an instance tag of 10 names",
                instance(1, Some(&names(10).join(","))),
                10,
                vec![],
                10,
            ),
            (
                "an instance tag of 11 names is refused whole",
                instance(1, Some(&names(11).join(","))),
                0,
                vec![(None, "more than 10 names in one tag".into())],
                0,
            ),
            ("a host of 15 names", host(&names(15)), 15, vec![], 15),
            ("a host of 20 names", host(&names(20)), 20, vec![], 20),
            (
                "a host of 21 names is refused whole",
                host(&names(21)),
                0,
                vec![(None, "21 names; a host may have at most 20".into())],
                0,
            ),
            (
                "a host name outside the allowed domains is refused, the others claimed",
                host(&outside),
                1,
                vec![(Some("a.example.org"), "not below an allowed domain".into())],
                2,
            ),
            (
                "a host whose lease ran out claims nothing but may still hold its names",
                stopped,
                0,
                vec![],
                15,
            ),
        ];
        for (case, claimant, claimed, expected, may_hold) in table {
            let (claims, problems) = claims_of(&claimant, &zones, &settings, &BTreeMap::new());
            assert_eq!(claims.len(), claimed, "{case}");
            let got: Vec<(Option<&str>, String)> = problems
                .iter()
                .map(|p| {
                    let reason = match &p.outcome {
                        Outcome::Invalid { reason, .. } => reason.clone(),
                        Outcome::Skipped { reason, .. } => reason.to_string(),
                        other => panic!("{case}: {other:?}"),
                    };
                    (p.name.as_ref().map(Fqdn::as_str), reason)
                })
                .collect();
            assert_eq!(got, expected, "{case}");
            if claimant.owner.host().is_some() {
                // A host gets its public address only, in the public zone.
                for c in &claims {
                    assert_eq!(
                        c.records,
                        vec![RecordSet::new(
                            ZoneId("ZPUBLIC".into()),
                            RecordType::A,
                            60,
                            vec!["198.51.100.7".into()]
                        )],
                        "{case}"
                    );
                }
            }
            assert_eq!(names_of(&claimant).len(), may_hold, "{case}");
        }
    }
}
