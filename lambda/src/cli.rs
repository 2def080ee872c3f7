//! The operator CLI (`ec2-dns-ctl`): argument parsing and output, kept pure so it is tested
//! without AWS. The binary in `bin/ec2-dns-ctl.rs` wires it to the same reconciler as the
//! Lambda, with the operator's own credentials.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::model::{Instance, InstanceId, Lock};
use crate::name::Fqdn;
use crate::plan::Scope;
use crate::report::Report;

pub const USAGE: &str = "\
usage: ec2-dns-ctl <command> [--json]

commands:
  plan [--instances i-…,i-…]     what a reconcile would change (dry run, writes nothing)
  apply [--instances i-…,i-…]    reconcile now (everything, or only those instances)
  status                         who owns which name, since when, pointing where
  release NAME [--dry-run]       safely release one name whose owner no longer needs it

Configuration comes from the same environment as the Lambda (LOCK_TABLE, ALLOWED_DOMAINS,
NAME_TAG, RECORD_TTL) and AWS from the standard SDK settings (AWS_PROFILE, AWS_REGION, ...).
Exit status: 0 done, 1 error, 2 done but some names failed and should be retried.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Plan(Scope),
    Apply(Scope),
    Status,
    Release { name: Fqdn, dry_run: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub command: Command,
    pub json: bool,
}

/// Parses the arguments after the program name; the error is a message for the user.
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut json = false;
    let mut dry_run = false;
    let mut instances: Option<BTreeSet<InstanceId>> = None;
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--dry-run" => dry_run = true,
            "--instances" => {
                let list = it
                    .next()
                    .ok_or("--instances needs a comma-separated list of instance ids")?;
                let mut ids = BTreeSet::new();
                for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    ids.insert(InstanceId::parse(id)?);
                }
                if ids.is_empty() {
                    return Err("--instances needs at least one instance id".into());
                }
                instances = Some(ids);
            }
            "-h" | "--help" | "help" => return Err(USAGE.into()),
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option {flag:?}\n\n{USAGE}"))
            }
            word => words.push(word.to_string()),
        }
    }
    let scope = instances.clone().map_or(Scope::All, Scope::Instances);
    let command = match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["plan"] => Command::Plan(scope),
        ["apply"] => Command::Apply(scope),
        ["status"] => Command::Status,
        ["release", name] => Command::Release {
            name: Fqdn::parse(name).map_err(|e| format!("{name:?}: {e}"))?,
            dry_run,
        },
        ["release"] => return Err("release needs the NAME to release".into()),
        [] => return Err(USAGE.into()),
        other => return Err(format!("unknown command {:?}\n\n{USAGE}", other.join(" "))),
    };
    if instances.is_some() && !matches!(command, Command::Plan(_) | Command::Apply(_)) {
        return Err("--instances applies to plan and apply only".into());
    }
    if dry_run && !matches!(command, Command::Release { .. }) {
        return Err("--dry-run applies to release only (plan is the dry run of apply)".into());
    }
    Ok(Args { command, json })
}

/// Left-aligned columns.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "{cell:<w$}  ");
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// A report as readable tables, with a one-line summary first.
pub fn render_report(r: &Report) -> String {
    let verb = if r.dry_run { "would change" } else { "changed" };
    let mut out = format!(
        "{} record set(s) {verb}, {} conflict(s), {} skipped, {} failed\n",
        r.changes.len(),
        r.conflicts.len(),
        r.skipped.len(),
        r.failed.len()
    );
    if !r.changes.is_empty() {
        let rows: Vec<Vec<String>> = r
            .changes
            .iter()
            .map(|c| {
                vec![
                    c.action.into(),
                    c.name.to_string(),
                    c.rtype.into(),
                    c.old_values.join(","),
                    c.values.join(","),
                    c.zone_id.to_string(),
                    c.instance.to_string(),
                ]
            })
            .collect();
        out += "\n";
        out += &table(
            &["ACTION", "NAME", "TYPE", "OLD", "NEW", "ZONE", "INSTANCE"],
            &rows,
        );
    }
    if !r.conflicts.is_empty() {
        let rows: Vec<Vec<String>> = r
            .conflicts
            .iter()
            .map(|c| {
                vec![
                    c.name.to_string(),
                    c.instance.to_string(),
                    c.owner
                        .as_ref()
                        .map_or("(unmanaged record)".into(), |o| o.to_string()),
                    c.reason.clone(),
                ]
            })
            .collect();
        out += "\nconflicts:\n";
        out += &table(&["NAME", "INSTANCE", "HELD BY", "REASON"], &rows);
    }
    if !r.skipped.is_empty() {
        let rows: Vec<Vec<String>> = r
            .skipped
            .iter()
            .map(|s| vec![s.instance.to_string(), s.name.clone(), s.reason.clone()])
            .collect();
        out += "\nskipped:\n";
        out += &table(&["INSTANCE", "NAME", "REASON"], &rows);
    }
    if !r.failed.is_empty() {
        let rows: Vec<Vec<String>> = r
            .failed
            .iter()
            .map(|f| {
                vec![
                    f.name.clone(),
                    f.instance.as_ref().map_or(String::new(), |i| i.to_string()),
                    f.reason.clone(),
                ]
            })
            .collect();
        out += "\nfailed (retry):\n";
        out += &table(&["NAME", "INSTANCE", "REASON"], &rows);
    }
    out
}

/// The lock table as `status` shows it.
pub fn status_json(rows: &[(Lock, Option<Instance>)]) -> Value {
    Value::Array(
        rows.iter()
            .map(|(l, o)| {
                json!({
                    "name": l.name, "owner": l.owner,
                    "owner_state": o.as_ref().map_or("gone", |i| i.state.as_str()),
                    "since": l.since, "version": l.version, "records": l.records,
                    "change_in_flight": l.intent.is_some(),
                })
            })
            .collect(),
    )
}

pub fn render_status(rows: &[(Lock, Option<Instance>)]) -> String {
    if rows.is_empty() {
        return "no names are owned\n".into();
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(l, o)| {
            let records = l
                .records
                .iter()
                .map(|s| format!("{} {} {}", s.rtype.as_str(), s.zone_id, s.values.join(",")))
                .collect::<Vec<_>>()
                .join("; ");
            let note = if l.intent.is_some() {
                " (change in flight)"
            } else {
                ""
            };
            vec![
                l.name.to_string(),
                l.owner.to_string(),
                o.as_ref().map_or("gone", |i| i.state.as_str()).to_string(),
                l.since.clone().unwrap_or_default(),
                format!("{records}{note}"),
            ]
        })
        .collect();
    table(&["NAME", "OWNER", "STATE", "SINCE", "RECORDS"], &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ChangeRow;
    use crate::tests::{id, instance, name};

    fn args(s: &str) -> Result<Args, String> {
        parse_args(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn commands_and_options_parse_strictly() {
        assert_eq!(
            args("plan").unwrap(),
            Args {
                command: Command::Plan(Scope::All),
                json: false
            }
        );
        assert_eq!(
            args("apply --instances i-00000001,i-00000002 --json").unwrap(),
            Args {
                command: Command::Apply(Scope::Instances([id(1), id(2)].into())),
                json: true
            }
        );
        assert_eq!(args("status").unwrap().command, Command::Status);
        assert_eq!(
            args("release Web.Dyn.Example.com. --dry-run")
                .unwrap()
                .command,
            Command::Release {
                name: name("web.dyn.example.com"),
                dry_run: true
            }
        );
        for (bad, says) in [
            ("", "usage"),
            ("deploy", "unknown command"),
            ("plan --force", "unknown option"),
            ("apply --instances vol-12345678", "not an EC2 instance id"),
            ("release", "needs the NAME"),
            ("release *.dyn.example.com", "wildcards"),
            ("status --instances i-00000001", "plan and apply only"),
            ("apply --dry-run", "release only"),
        ] {
            let err = args(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_report_reads_as_tables() {
        let mut r = Report {
            dry_run: true,
            ..Report::default()
        };
        r.changes.push(ChangeRow {
            action: "UPDATE",
            name: name("web.dyn.example.com"),
            rtype: "A",
            values: vec!["198.51.100.9".into()],
            old_values: vec!["203.0.113.1".into()],
            zone_id: crate::model::ZoneId("ZPUBLIC".into()),
            instance: id(1),
        });
        let out = render_report(&r);
        assert!(
            out.starts_with("1 record set(s) would change, 0 conflict(s), 0 skipped, 0 failed\n"),
            "{out}"
        );
        assert!(out.contains("ACTION  NAME"), "{out}");
        assert!(
            out.contains(
                "UPDATE  web.dyn.example.com  A     203.0.113.1  198.51.100.9  ZPUBLIC  i-00000001"
            ),
            "{out}"
        );
    }

    #[test]
    fn status_shows_owner_state_and_records() {
        let lock = Lock {
            name: name("web.dyn.example.com"),
            owner: id(1),
            version: 4,
            records: vec![crate::model::RecordSet::new(
                crate::model::ZoneId("ZPUBLIC".into()),
                crate::model::RecordType::A,
                60,
                vec!["203.0.113.1".into()],
            )],
            intent: None,
            since: Some("2026-11-23T10:00:00Z".into()),
        };
        let rows = vec![
            (lock.clone(), Some(instance(1, None))),
            (
                Lock {
                    name: name("old.dyn.example.com"),
                    ..lock
                },
                None,
            ),
        ];
        let out = render_status(&rows);
        assert!(out.contains("web.dyn.example.com  i-00000001  running  2026-11-23T10:00:00Z  A ZPUBLIC 203.0.113.1"), "{out}");
        assert!(
            out.contains("old.dyn.example.com  i-00000001  gone"),
            "{out}"
        );
        assert_eq!(status_json(&rows)[1]["owner_state"], "gone");
    }
}
