//! The operator CLI (`ec2-dns-ctl`): arguments, the configuration it acts with, and output,
//! kept pure so they are tested without AWS. The binary in `bin/ec2-dns-ctl.rs` wires them
//! to the same reconciler as the Lambda, with the operator's own credentials.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::config::{Config, Deployed};
use crate::ddns::admin::{HostOptions, HostRow, Issued};
use crate::error::Error;
use crate::hosts::{HostName, Prefix};
use crate::model::{Home, Instance, InstanceId, Owner};
use crate::model::{Zone, ZoneId};
use crate::name::Fqdn;
use crate::operator::{Rebuilt, StatusRow};
use crate::report::Report;

pub const USAGE: &str = "\
usage: ec2-dns-ctl <command> [--function NAME] [--json] [--detailed-exitcode]
                   [--profile NAME] [--region REGION]
       ec2-dns-ctl help [COMMAND] | --version

commands:
  plan [--instances i-…,i-…]     what a reconcile would change (dry run, writes nothing);
                                 an instance of another managed account or region is
                                 account/region/i-…
  apply [--instances i-…,i-…] [--force]
                                 reconcile now (everything, or only those instances); a plan
                                 that deletes more than 10 record sets needs --force
  status                         who holds which name, since when, pointing where
  status --run ID                a sharded reconcile's progress: shards finished and pending,
                                 what they changed, and notes on failed ones
  release NAME [--dry-run]       safely release one name whose holder no longer needs it
  rebuild [--dry-run]            recreate lost lock items from the ownership markers in Route53
  host add HOST --names N,N [--prefixes P,P] [--lease 30d] [--unbound] [--sample] [--force]
                                 a credential for a host outside AWS (its secret is shown once);
                                 a name someone else holds needs --force; --prefixes: its own
                                 networks (198.51.100.0/24,2001:db8:12::/48), where it may
                                 publish addresses of either family
  host rotate HOST               a new secret for HOST (the old one stops working at once)
  host names HOST --names N,N [--force]
                                 new names for HOST, same secret (its router keeps its
                                 configuration); names it drops are released
  host prefixes HOST --prefixes P,P|none
                                 new networks for HOST, same secret
  host remove HOST               remove HOST's credential and release its names
  host list                      the hosts, their names, last addresses and updates

--function NAME (a name or an ARN; the deployment's outputs give it) reads LOCK_TABLE and
the settings from the deployed function itself; without it, the lock table comes from
LOCK_TABLE. ALLOWED_DOMAINS, NAME_TAG and RECORD_TTL come from the deployed function (it
records them in the lock table when it is deployed); set here and different, apply,
release and rebuild refuse to run. AWS comes from the standard SDK settings (AWS_PROFILE,
AWS_REGION, ...).
Exit status: 0 done, 1 error, 2 done but some names failed and should be retried,
3 done but something needs an operator: frozen names or a configuration warning; with
--detailed-exitcode (plan, apply, release, host remove) also conflicts and skipped names.";

/// Record sets `apply` deletes without `--force`: one wrong variable must not empty a zone.
pub const MAX_DELETES: usize = 10;

/// The settings the deployed function records and the CLI must act with.
pub const DEPLOYED_KEYS: [&str; 3] = ["ALLOWED_DOMAINS", "NAME_TAG", "RECORD_TTL"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Plan(Option<BTreeSet<InstanceArg>>),
    Apply(Option<BTreeSet<InstanceArg>>),
    Status,
    /// `status --run ID`: a sharded run's item ([`crate::shard::Run`]).
    RunStatus(String),
    Release {
        name: Fqdn,
        dry_run: bool,
    },
    Rebuild {
        dry_run: bool,
    },
    Host(HostCommand),
    /// `--help`, `help [COMMAND]`, `COMMAND --help`: the usage (of one command), on stdout.
    Help(Option<String>),
    /// `--version`.
    Version,
}

/// The commands, for `help COMMAND` and "did you mean".
pub const COMMANDS: &[&str] = &["plan", "apply", "status", "release", "rebuild", "host"];

/// The options, for "did you mean".
const OPTIONS: &[&str] = &[
    "--json",
    "--detailed-exitcode",
    "--profile",
    "--region",
    "--function",
    "--version",
    "--help",
    "--dry-run",
    "--force",
    "--unbound",
    "--sample",
    "--names",
    "--run",
    "--lease",
    "--prefixes",
    "--instances",
];

/// The usage of one command: its lines of [`USAGE`]; `None` for a word that is not one.
pub fn command_usage(command: &str) -> Option<String> {
    if !COMMANDS.contains(&command) {
        return None;
    }
    let mut out = Vec::new();
    let mut inside = false;
    for line in USAGE.lines() {
        let starts = line.starts_with("  ") && !line.starts_with("   ");
        if starts {
            inside = line.trim_start().starts_with(command)
                && line.trim_start()[command.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c == ' ');
        } else if !line.starts_with("   ") {
            inside = false;
        }
        if inside {
            out.push(line);
        }
    }
    Some(format!(
        "usage: ec2-dns-ctl {command} …\n\n{}\n\nec2-dns-ctl --help for the options and exit statuses.",
        out.join("\n")
    ))
}

/// A named profile (`--profile`, or else `AWS_PROFILE`) must be in the shared config or
/// credentials file: otherwise the SDK finds neither a region nor credentials and says
/// "no AWS region", which hides the real mistake.
pub fn check_profile(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let (name, from) = match (flag, env("AWS_PROFILE")) {
        (Some(p), _) => (p.to_string(), "--profile"),
        (None, Some(p)) if !p.trim().is_empty() => (p.trim().to_string(), "AWS_PROFILE"),
        _ => return Ok(()),
    };
    let home = env("HOME").unwrap_or_default();
    let config = env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
    let creds =
        env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials"));
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    if profile_in(&name, &read(&config), true) || profile_in(&name, &read(&creds), false) {
        return Ok(());
    }
    Err(format!(
        "the profile {name:?} ({from}) is in neither {config} nor {creds}: check its name, or `aws configure list-profiles`"
    ))
}

/// Whether `text`, a shared config (`[profile NAME]`, `[default]`) or credentials file
/// (`[NAME]`), has a section for profile `name`.
fn profile_in(name: &str, text: &str, config: bool) -> bool {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']'))
        .map(str::trim)
        .any(|section| match config {
            true => {
                section.strip_prefix("profile").is_some_and(|rest| {
                    rest.starts_with(char::is_whitespace) && rest.trim() == name
                }) || (name == "default" && section == "default")
            }
            false => section == name,
        })
}

/// The closest of `candidates` to `word`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min()
        .map(|(_, c)| c)
}

/// An instance named with `--instances`: `i-…` lives in the deployment's own account and
/// region; an instance of another managed account or region is `account/region/i-…`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum InstanceArg {
    Here(InstanceId),
    At(Owner),
}

impl InstanceArg {
    pub fn parse(raw: &str) -> Result<InstanceArg, String> {
        if !raw.contains('/') {
            return InstanceId::parse(raw).map(InstanceArg::Here);
        }
        let owner = Owner::parse(raw)?;
        match owner.instance_id() {
            Some(_) => Ok(InstanceArg::At(owner)),
            None => Err(format!("{raw:?} is not an instance")),
        }
    }

    /// The qualified owner, `home` being the deployment's own account and region.
    pub fn owner(&self, home: &Home) -> Owner {
        match self {
            InstanceArg::Here(id) => home.instance(id.clone()),
            InstanceArg::At(owner) => owner.clone(),
        }
    }
}

/// `ec2-dns-ctl host ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    Add {
        host: HostName,
        names: Vec<Fqdn>,
        options: HostOptions,
    },
    Rotate(HostName),
    /// New names for a host, same secret (the router keeps its configuration).
    Names {
        host: HostName,
        names: Vec<Fqdn>,
    },
    /// New networks for a host (empty: none), same secret.
    Prefixes {
        host: HostName,
        prefixes: BTreeSet<Prefix>,
    },
    Remove(HostName),
    List,
}

impl Command {
    /// Whether the command writes (and so must act with the deployed configuration).
    pub fn writes(&self) -> bool {
        match self {
            Command::Plan(_)
            | Command::Status
            | Command::RunStatus(_)
            | Command::Help(_)
            | Command::Version => false,
            Command::Apply(_) => true,
            Command::Release { dry_run, .. } | Command::Rebuild { dry_run } => !dry_run,
            Command::Host(h) => !matches!(h, HostCommand::List),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub command: Command,
    pub json: bool,
    /// Exit 3 for conflicts and skipped names too (`--detailed-exitcode`).
    pub detailed: bool,
    /// `--profile`: the named AWS profile, over `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `--region`: the region, over `AWS_REGION` and the profile's.
    pub region: Option<String>,
    /// `--function`: the deployed function (name or ARN) whose configuration the CLI acts
    /// with: its `LOCK_TABLE` and settings, read with `lambda:GetFunctionConfiguration`.
    pub function: Option<String>,
    /// `apply` may delete more than [`MAX_DELETES`] record sets.
    pub force: bool,
}

/// Parses the arguments after the program name; the error is a message for the user.
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut json = false;
    let mut detailed = false;
    let (mut profile, mut region): (Option<String>, Option<String>) = (None, None);
    let mut function: Option<String> = None;
    let mut help = false;
    let mut dry_run = false;
    let mut force = false;
    let mut instances: Option<BTreeSet<InstanceArg>> = None;
    let mut names: Option<Vec<Fqdn>> = None;
    let mut run: Option<String> = None;
    let mut lease: Option<i64> = None;
    let mut prefixes: Option<BTreeSet<Prefix>> = None;
    let (mut unbound, mut sample) = (false, false);
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--detailed-exitcode" => detailed = true,
            "--profile" => {
                let p = it.next().ok_or("--profile needs the name of a profile")?;
                profile = Some(p.clone());
            }
            "--function" => {
                let f = it
                    .next()
                    .filter(|f| !f.trim().is_empty() && !f.starts_with("--"))
                    .ok_or("--function needs the deployed function's name or ARN")?;
                function = Some(f.trim().to_string());
            }
            "--region" => {
                let r = it.next().ok_or("--region needs a region, e.g. eu-west-1")?;
                crate::model::Home::new("000000000000", r)
                    .map_err(|e| format!("--region {r:?}: {e}"))?;
                region = Some(r.clone());
            }
            "--version" | "-V" | "version" if words.is_empty() => {
                return Ok(Args {
                    command: Command::Version,
                    json,
                    detailed,
                    profile,
                    region,
                    function,
                    force,
                })
            }
            "--dry-run" => dry_run = true,
            "--force" => force = true,
            "--unbound" => unbound = true,
            "--sample" => sample = true,
            "--names" => {
                let list = it
                    .next()
                    .ok_or("--names needs a comma-separated list of names")?;
                let mut parsed = Vec::new();
                for n in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    parsed.push(Fqdn::parse(n).map_err(|e| format!("{n:?}: {e}"))?);
                }
                names = Some(parsed);
            }
            "--run" => {
                let id = it
                    .next()
                    .ok_or("--run needs the run id that started it ({\"run\": ...})")?;
                crate::shard::valid_run_id(id)?;
                run = Some(id.clone());
            }
            "--prefixes" => {
                let raw = it.next().ok_or(
                    "--prefixes needs a comma-separated list of networks (198.51.100.0/24,2001:db8:12::/48), or none",
                )?;
                prefixes = Some(
                    crate::hosts::parse_prefixes(raw).map_err(|e| format!("--prefixes: {e}"))?,
                );
            }
            "--lease" => {
                let raw = it
                    .next()
                    .ok_or("--lease needs a duration (0, 3600, 90m, 12h, 30d)")?;
                lease = Some(parse_duration(raw)?);
            }
            "--instances" => {
                let list = it
                    .next()
                    .ok_or("--instances needs a comma-separated list of instance ids")?;
                let mut ids = BTreeSet::new();
                for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    ids.insert(InstanceArg::parse(id)?);
                }
                if ids.is_empty() {
                    return Err("--instances needs at least one instance id".into());
                }
                instances = Some(ids);
            }
            "-h" | "--help" => help = true,
            "help" if words.is_empty() => help = true,
            flag if flag.starts_with('-') => {
                return Err(match did_you_mean(flag, OPTIONS) {
                    Some(m) => format!(
                    "unknown option {flag:?}: did you mean {m:?}? (ec2-dns-ctl --help lists them)"
                ),
                    None => format!("unknown option {flag:?} (ec2-dns-ctl --help lists them)"),
                })
            }
            word => words.push(word.to_string()),
        }
    }
    if help {
        return Ok(Args {
            command: Command::Help(words.first().cloned()),
            json,
            detailed,
            profile,
            region,
            function,
            force,
        });
    }
    let command = match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["plan"] => Command::Plan(instances.clone()),
        ["apply"] => Command::Apply(instances.clone()),
        ["status"] => match run.take() {
            Some(id) => Command::RunStatus(id),
            None => Command::Status,
        },
        ["release", name] => Command::Release {
            name: Fqdn::parse(name).map_err(|e| format!("{name:?}: {e}"))?,
            dry_run,
        },
        ["release"] => return Err("release needs the NAME to release".into()),
        ["rebuild"] => Command::Rebuild { dry_run },
        ["host", "add", host] => Command::Host(HostCommand::Add {
            host: HostName::parse(host)?,
            names: names.take().ok_or("host add needs --names")?,
            options: HostOptions {
                lease: lease.take().unwrap_or(0),
                bound: !unbound,
                prefixes: prefixes.take().unwrap_or_default(),
                sample,
            },
        }),
        ["host", "rotate", host] => Command::Host(HostCommand::Rotate(HostName::parse(host)?)),
        ["host", "remove", host] => Command::Host(HostCommand::Remove(HostName::parse(host)?)),
        ["host", "names", host] => Command::Host(HostCommand::Names {
            host: HostName::parse(host)?,
            names: names.take().ok_or("host names needs --names")?,
        }),
        ["host", "prefixes", host] => Command::Host(HostCommand::Prefixes {
            host: HostName::parse(host)?,
            prefixes: prefixes
                .take()
                .ok_or("host prefixes needs --prefixes (a list of networks, or none)")?,
        }),
        ["host", "list"] => Command::Host(HostCommand::List),
        ["host", ..] => {
            return Err(format!(
                "host needs add HOST --names ..., rotate HOST, names HOST --names ..., prefixes HOST --prefixes ..., remove HOST or list\n\n{USAGE}"
            ))
        }
        [] => return Err(USAGE.into()),
        [first, ..] if !COMMANDS.contains(first) => {
            return Err(match did_you_mean(first, COMMANDS) {
                Some(m) => format!(
                    "unknown command {first:?}: did you mean {m:?}? (ec2-dns-ctl --help lists the commands)"
                ),
                None => format!(
                    "unknown command {first:?} (ec2-dns-ctl --help lists the commands)"
                ),
            })
        }
        other => {
            return Err(format!(
                "{:?} is not a use of {}: ec2-dns-ctl help {}",
                other.join(" "),
                other[0],
                other[0]
            ))
        }
    };
    if run.is_some() {
        return Err("--run applies to status only".into());
    }
    let adding = matches!(command, Command::Host(HostCommand::Add { .. }));
    let naming = adding || matches!(command, Command::Host(HostCommand::Names { .. }));
    if !naming && names.is_some() {
        return Err("--names applies to host add and host names only".into());
    }
    if prefixes.is_some() {
        return Err("--prefixes applies to host add and host prefixes only".into());
    }
    if !adding && (lease.is_some() || unbound || sample) {
        return Err("--lease, --unbound and --sample apply to host add only".into());
    }
    if force && !(naming || matches!(command, Command::Apply(_))) {
        return Err("--force applies to apply, host add and host names only".into());
    }
    if instances.is_some() && !matches!(command, Command::Plan(_) | Command::Apply(_)) {
        return Err("--instances applies to plan and apply only".into());
    }
    if dry_run && !matches!(command, Command::Release { .. } | Command::Rebuild { .. }) {
        return Err(
            "--dry-run applies to release and rebuild only (plan is the dry run of apply)".into(),
        );
    }
    let reports = matches!(
        command,
        Command::Plan(_)
            | Command::Apply(_)
            | Command::Release { .. }
            | Command::Host(HostCommand::Remove(_))
            | Command::Host(HostCommand::Names { .. })
    );
    if detailed && !reports {
        return Err(
            "--detailed-exitcode applies to plan, apply, release and host remove only".into(),
        );
    }
    Ok(Args {
        command,
        json,
        detailed,
        profile,
        region,
        function,
        force,
    })
}

/// The exit status of a command that reconciled (`plan`, `apply`, `release`, `host
/// remove`): 2 when some names failed (retry); 3 when something needs an operator (frozen
/// names, a configuration warning) or, with `detailed`, when any name was not published as
/// claimed (conflicts, skipped names); otherwise 0. Ordinary fleets have conflicts and bad
/// tags: `set -e` scripts must not stop on them unless they ask to.
pub fn exit_code(report: &Report, detailed: bool) -> u8 {
    let operator = !(report.frozen.is_empty() && report.warnings.is_empty());
    let ordinary = !(report.conflicts.is_empty() && report.skipped.is_empty());
    if !report.failed.is_empty() {
        2
    } else if operator || (detailed && ordinary) {
        3
    } else {
        0
    }
}

/// The variables of a deployment's settings (`crate::config`, and the hosts' secrets).
const SETTINGS: &[&str] = &[
    "LOCK_TABLE",
    "ALLOWED_DOMAINS",
    "NAME_TAG",
    "RECORD_TTL",
    "ACCOUNTS",
    "REGIONS",
    "MEMBER_ROLE",
    "DEPLOYMENT_ID",
    "MARKER_STYLE",
    "RECONCILE_CONCURRENCY",
    "ROUTE53_REQUESTS_PER_SECOND",
    "ROUTE53_CHANGES_PER_SECOND",
    "HOST_SECRETS_PREFIX",
    "LIFECYCLE_HOOKS",
    "SHARED_NAMES",
    "REVERSE_RECORDS",
];

/// A warning when this CLI (version `mine`) and the deployed function that recorded
/// `deployed` may not understand each other. CHANGELOG.md's rule: before 1.0 a minor
/// version may change the lock table layout or the contract, from 1.0 only a major one; a
/// function that records no version is 0.3 or older.
pub fn version_warning(mine: &str, deployed: &Deployed) -> Option<String> {
    let line = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.trim().split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(if major == 0 { (0, minor) } else { (major, 0) })
    };
    let use_instead = |theirs: &str| match theirs.split('.').collect::<Vec<_>>().as_slice() {
        ["0", minor, ..] => format!("ec2-dns-ctl 0.{minor}.x"),
        [major, ..] => format!("ec2-dns-ctl {major}.x"),
        _ => "the ec2-dns-ctl of the function's release".into(),
    };
    match deployed.version.as_deref() {
        None => Some(format!(
            "function {} records no version: it is ec2-dns 0.3 or older, and ec2-dns-ctl {mine} may not read its lock table as it writes it (CHANGELOG.md, Upgrading). Upgrade the function, or use the ec2-dns-ctl of its release.",
            deployed.function
        )),
        Some(theirs) if line(theirs) != line(mine) => Some(format!(
            "function {} is ec2-dns {theirs} and this is ec2-dns-ctl {mine}: {} may change the lock table or the contract (CHANGELOG.md, Upgrading). Use {}.",
            deployed.function,
            if line(mine).is_some_and(|(major, _)| major == 0) && line(theirs).is_some_and(|(major, _)| major == 0) { "before 1.0, a minor version" } else { "a major version" },
            use_instead(theirs)
        )),
        Some(_) => None,
    }
}

/// The region of a function given by ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`).
pub fn function_region(function: &str) -> Option<String> {
    let parts: Vec<&str> = function.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, _, "function", ..] if !region.is_empty() => {
            Some(region.to_string())
        }
        _ => None,
    }
}

/// The settings `--function` acts with: the function's environment over this shell's. A
/// shell variable that says otherwise is set aside, with a note (the deployed function is
/// the truth; the shell only fills in what the function does not set, such as
/// `HOST_SECRETS_PREFIX` when the function leaves it at its default). The function must be
/// a reconciler: its environment names a `LOCK_TABLE`.
pub fn function_settings(
    function: &str,
    vars: &std::collections::BTreeMap<String, String>,
    shell: &dyn Fn(&str) -> Option<String>,
) -> Result<(std::collections::BTreeMap<String, String>, Vec<String>), String> {
    if vars.get("LOCK_TABLE").is_none_or(|t| t.trim().is_empty()) {
        return Err(format!(
            "function {function} has no LOCK_TABLE in its environment: it is not an ec2-dns reconciler (the deployment's outputs name the function)"
        ));
    }
    let notes = vars
        .iter()
        .filter(|(k, _)| SETTINGS.contains(&k.as_str()))
        .filter_map(|(k, theirs)| {
            let mine = shell(k).filter(|v| !v.trim().is_empty())?;
            (mine.trim() != theirs.trim()).then(|| {
                format!("{k} from this shell ({mine:?}) is set aside: function {function} has {theirs:?}")
            })
        })
        .collect();
    Ok((vars.clone(), notes))
}

/// The configuration the CLI acts with: the deployed function's, with the lock table named
/// here. A setting given here that differs from the deployed one is refused for a command
/// that writes, and only warned about for one that reads. Without a recorded deployment,
/// the environment must say everything.
pub fn resolve_config(
    get: &dyn Fn(&str) -> Option<String>,
    deployed: Option<&Deployed>,
    writes: bool,
) -> Result<(Config, Vec<String>), Error> {
    let Some(d) = deployed else {
        let config = Config::from_lookup(get).map_err(|e| {
            // The problems alone: `Error::Config` says "invalid configuration" once.
            let problems = match e {
                Error::Config(p) => p,
                other => other.to_string(),
            };
            Error::Config(format!(
                "{problems} (the lock table records no deployed configuration yet: the function has not started since it was deployed, so the environment must give it)"
            ))
        })?;
        return Ok((
            config,
            vec![
                "the lock table records no deployed configuration: acting with the environment's"
                    .into(),
            ],
        ));
    };
    // The environment's own values, checked against the deployed ones.
    let mine = Config::from_lookup(|k| match k {
        "ALLOWED_DOMAINS" => get(k).or_else(|| Some(list(&d.allowed_domains))),
        "NAME_TAG" => get(k).or_else(|| Some(d.name_tag.clone())),
        "RECORD_TTL" => get(k).or_else(|| Some(d.ttl.to_string())),
        "ACCOUNTS" => get(k).or_else(|| Some(d.accounts.join(","))),
        "REGIONS" => get(k).or_else(|| Some(d.regions.join(","))),
        "MEMBER_ROLE" => get(k).or_else(|| Some(d.member_role.clone())),
        "DEPLOYMENT_ID" => get(k).or_else(|| d.deployment.as_ref().map(|x| x.to_string())),
        "MARKER_STYLE" => {
            get(k).or_else(|| Some(crate::config::style_name(d.marker_style).to_string()))
        }
        "LIFECYCLE_HOOKS" => get(k).or_else(|| Some(d.lifecycle_hooks.join(","))),
        "SHARED_NAMES" => get(k).or_else(|| Some(d.shared_names.to_string())),
        "REVERSE_RECORDS" => get(k).or_else(|| Some(d.reverse_records.to_string())),
        other => get(other),
    })?;
    let differences = mine.differences(d);
    if !differences.is_empty() && writes {
        return Err(Error::Config(format!(
            "this shell's configuration differs from the deployed function's ({}): {}. Unset those variables to act with the deployed configuration.",
            d.function,
            differences.join("; ")
        )));
    }
    let notes = differences
        .into_iter()
        .map(|d| format!("{d}; acting with the deployed value"))
        .collect();
    Ok((mine.adopt(d), notes))
}

fn list(domains: &[Fqdn]) -> String {
    domains
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
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

/// How every table names an owner: as the operator would type it. An instance of the CLI's
/// own account and region is its bare id (`i-…`), a host there `host/NAME`; an owner
/// elsewhere is qualified (`account/region/i-…`), as `--instances` takes it.
pub fn owner_cell(o: &Owner, home: &Home) -> String {
    match o.home() == home {
        true => match (o.instance_id(), o) {
            (Some(id), _) => id.to_string(),
            (None, Owner::Host { name, .. }) => format!("host/{name}"),
            (None, other) => other.to_string(),
        },
        false => o.to_string(),
    }
}

/// A report as readable tables, with a one-line summary first; owners as [`owner_cell`]
/// names them for an operator in `home`.
pub fn render_report(r: &Report, home: &Home) -> String {
    let cell = |o: &Owner| owner_cell(o, home);
    let (invalid, skipped): (Vec<_>, Vec<_>) = r.skipped.iter().partition(|s| s.invalid);
    let verb = if r.dry_run { "would change" } else { "changed" };
    let mut out = format!(
        "{} record set(s) {verb}, {} conflict(s), {} invalid, {} skipped, {} frozen, {} failed\n",
        r.changes.len(),
        r.conflicts.len(),
        invalid.len(),
        skipped.len(),
        r.frozen.len(),
        r.failed.len()
    );
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if !r.changes.is_empty() {
        let rows: Vec<Vec<String>> = r
            .changes
            .iter()
            .map(|c| {
                let kind = if c.private { "private" } else { "public" };
                vec![
                    // As Route53 (and the IAM policy) sees it: a swap is a DELETE of the
                    // exact old set and a CREATE, in one batch.
                    match c.action {
                        crate::decide::RowAction::Create => "CREATE",
                        crate::decide::RowAction::Delete => "DELETE",
                        crate::decide::RowAction::Update => "DELETE+CREATE",
                        crate::decide::RowAction::Mark => "MARK (DELETE+CREATE)",
                    }
                    .to_string(),
                    c.name.to_string(),
                    c.rtype.into(),
                    c.old_values.join(","),
                    c.values.join(","),
                    match (c.old_ttl, c.ttl) {
                        (Some(o), Some(n)) if o != n => format!("{o} -> {n}"),
                        (_, Some(t)) | (Some(t), None) => t.to_string(),
                        (None, None) => String::new(),
                    },
                    if c.zone.is_empty() {
                        c.zone_id.to_string()
                    } else {
                        format!("{} ({kind})", c.zone)
                    },
                    c.owner.as_ref().map_or(String::new(), cell),
                ]
            })
            .collect();
        out += "\n";
        out += &table(
            &[
                "ACTION", "NAME", "TYPE", "OLD", "NEW", "TTL", "ZONE", "OWNER",
            ],
            &rows,
        );
        let _ = writeln!(
            out,
            "Each name's batch also creates, replaces or deletes its ownership marker (TXT _ec2-dns.<name>); Route53 is sent only CREATE and DELETE."
        );
    }
    if !r.conflicts.is_empty() {
        let rows: Vec<Vec<String>> = r
            .conflicts
            .iter()
            .map(|c| {
                vec![
                    c.name.to_string(),
                    cell(&c.owner),
                    c.holder
                        .as_ref()
                        .map_or("(a record ec2-dns did not write)".into(), cell),
                    c.reason.clone(),
                ]
            })
            .collect();
        out += "\nconflicts:\n";
        out += &table(&["NAME", "CLAIMANT", "HELD BY", "REASON"], &rows);
    }
    // Tag entries ec2-dns cannot use are "invalid", as the owners' status tags say; valid
    // names it cannot publish (no zone, no address) are "skipped".
    for (title, rows) in [
        (
            "invalid (tag entries that are not names ec2-dns may manage):",
            &invalid,
        ),
        ("skipped (valid names that cannot be published):", &skipped),
    ] {
        if rows.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|s| vec![cell(&s.owner), s.name.clone(), s.reason.clone()])
            .collect();
        out += &format!("\n{title}\n");
        out += &table(&["OWNER", "NAME", "REASON"], &rows);
    }
    if !r.frozen.is_empty() {
        let rows: Vec<Vec<String>> = r
            .frozen
            .iter()
            .map(|f| {
                vec![
                    f.name.to_string(),
                    f.holder.as_ref().map_or(String::new(), cell),
                    f.reason.clone(),
                ]
            })
            .collect();
        out += "\nfrozen (left as they are; `ec2-dns-ctl release NAME` to let go):\n";
        out += &table(&["NAME", "HOLDER", "REASON"], &rows);
    }
    if !r.failed.is_empty() {
        let rows: Vec<Vec<String>> = r
            .failed
            .iter()
            .map(|f| {
                vec![
                    f.name.clone(),
                    f.owner.as_ref().map_or(String::new(), cell),
                    f.reason.clone(),
                ]
            })
            .collect();
        out += "\nfailed (retry):\n";
        out += &table(&["NAME", "OWNER", "REASON"], &rows);
    }
    out
}

fn state_of(holder: Option<&Instance>) -> &'static str {
    holder.map_or("gone", |i| i.state.as_str())
}

/// The lock table as `status` shows it; records carry the same keys as the rows of a
/// plan's `changes` (`type`, `values`, `ttl`, `zone_id`, `zone`, `private`).
pub fn status_json(rows: &[StatusRow], zones: &[Zone]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let l = &r.lock;
                let records: Vec<Value> = l
                    .records
                    .iter()
                    .map(|s| {
                        let zone = zones.iter().find(|z| z.id == s.zone_id);
                        json!({
                            "type": s.rtype.as_str(), "values": s.values, "ttl": s.ttl,
                            "zone_id": s.zone_id,
                            "zone": zone.map(|z| z.name.to_string()).unwrap_or_default(),
                            "private": zone.is_some_and(|z| z.private),
                        })
                    })
                    .collect();
                json!({
                    "name": l.name, "owner": l.holder,
                    "instance": l.holder.as_ref().and_then(|h| h.instance_id()),
                    "owner_state": state_of(r.holder.as_ref()),
                    "since": l.since, "generation": l.gen, "records": records,
                    "blocked": l.blocked, "waiting": l.waiting, "members": l.members,
                    "check": l.check, "layout": if l.legacy.is_some() { 1 } else { 2 },
                    "route53": r.route53(),
                })
            })
            .collect(),
    )
}

/// `0`, `3600`, `90m`, `12h`, `30d` as seconds.
pub fn parse_duration(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{raw:?} is not a duration (0, 3600, 90m, 12h, 30d)"
            ))
        }
    };
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|s| *s <= 366 * 86_400)
        .ok_or_else(|| format!("{raw:?} is not a duration of at most a year"))
}

/// A credential just issued: the secret is shown here once.
pub fn render_issued(i: &Issued, rotated: bool) -> String {
    let verb = if rotated { "has a new secret" } else { "added" };
    let prefixes = match i.prefixes.is_empty() {
        true => String::new(),
        false => format!("; prefixes: {}", i.prefixes.join(", ")),
    };
    format!(
        "host {} {verb}; names: {}{prefixes}\n\nuser:     {}\npassword: {}\n\nThe password is shown only now: put it in the router, or keep it in a password manager.\n",
        i.host,
        i.names.join(", "),
        i.host,
        i.secret
    )
}

/// `host prefixes`: what the host may now publish besides its requests' own addresses.
pub fn render_prefixes(row: &HostRow) -> String {
    match row.prefixes.is_empty() {
        true => format!(
            "host {} has no prefixes: it may publish only the address each request comes from\n",
            row.host
        ),
        false => format!(
            "host {} prefixes: {} (same secret); its next update may publish addresses inside them, of either family\n",
            row.host,
            row.prefixes.join(", ")
        ),
    }
}

pub fn render_hosts(rows: &[HostRow]) -> String {
    if rows.is_empty() {
        return "no hosts\n".into();
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|h| {
            let addresses: Vec<&str> = h.ipv4.iter().chain(&h.ipv6).map(String::as_str).collect();
            let mut flags = Vec::new();
            if h.unreadable {
                flags.push("UNREADABLE (host remove deletes it)".to_string());
            }
            if !h.bound {
                flags.push("unbound".to_string());
            }
            if !h.prefixes.is_empty() {
                flags.push(format!("prefixes={}", h.prefixes.join(",")));
            }
            if h.sample {
                flags.push("sample".to_string());
            }
            if h.locked_until > 0 {
                flags.push(format!("locked-until={}", rfc3339(h.locked_until)));
            }
            if let Some(a) = &h.alerted {
                flags.push(format!("alerted={a}"));
            }
            vec![
                h.host.clone(),
                h.names.join(","),
                addresses.join(","),
                if h.updated == 0 {
                    "never".into()
                } else {
                    rfc3339(h.updated)
                },
                if h.lease == 0 {
                    "none".into()
                } else {
                    duration(h.lease)
                },
                flags.join(" "),
            ]
        })
        .collect();
    table(
        &["HOST", "NAMES", "ADDRESSES", "UPDATED", "LEASE", "FLAGS"],
        &body,
    )
}

/// Epoch seconds as RFC 3339 to the second (`2026-12-07T10:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// Seconds as the largest whole unit `--lease` takes: `30d`, `12h`, `90m`, `45s`.
pub fn duration(secs: i64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= n && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// A zone as the tables name it: `dyn.example.com (public)`, or its id when it is gone.
fn zone_label(id: &ZoneId, zones: &[Zone]) -> String {
    zones
        .iter()
        .find(|z| &z.id == id)
        .map_or(id.to_string(), |z| {
            format!(
                "{} ({})",
                z.name,
                if z.private { "private" } else { "public" }
            )
        })
}

/// A sharded run as `status --run` shows it: whether it is complete, its shards, what they
/// changed, and the pending shards and notes an operator acts on.
pub fn render_run(run: &crate::shard::Run, now: i64) -> String {
    let c = run.counts;
    let pending = run.pending();
    let shards = run.parts.len() - run.split.len();
    let mut out = vec![
        format!(
            "run {} ({}{}), started {} s ago: {}",
            run.id,
            run.trigger,
            if run.dry_run { ", dry run" } else { "" },
            (now - run.started).max(0),
            match pending.is_empty() {
                true => "complete".to_string(),
                false => format!("{} of {shards} shards pending", pending.len()),
            }
        ),
        format!(
            "shards {} finished, {} split; owners {}; changes {}, conflicts {}, skipped {}, frozen {}, failed {}",
            run.finished.len(),
            run.split.len(),
            c.owners,
            c.changes,
            c.conflicts,
            c.skipped,
            c.frozen,
            c.failed
        ),
    ];
    if !pending.is_empty() {
        out.push(String::new());
        out.push("pending (queued, running, being retried, or in the dead-letter queue):".into());
        out.extend(pending.iter().map(|p| format!("  {p}")));
    }
    if !run.notes.is_empty() {
        out.push(String::new());
        out.push("notes:".into());
        out.extend(run.notes.iter().map(|(p, n)| format!("  {p}: {n}")));
    }
    out.join("\n")
}

/// The lock table for a terminal: one line per name that fits 120 columns (owners as
/// [`owner_cell`], the time held relative, `ROUTE53` `ok` or `differs`), then its record
/// sets, what Route53 holds otherwise (`! …`) and who waits for the name, each on an
/// indented line of its own. `now`: epoch
/// seconds.
pub fn render_status(rows: &[StatusRow], zones: &[Zone], home: &Home, now: i64) -> String {
    if rows.is_empty() {
        return "no names are held\n".into();
    }
    let mut out = String::new();
    let widths = {
        let w = |f: &dyn Fn(&StatusRow) -> usize, min: usize| {
            rows.iter().map(f).max().unwrap_or(0).max(min)
        };
        [
            w(&|r| r.lock.name.to_string().len(), 4),
            w(
                &|r| {
                    r.lock
                        .holder
                        .as_ref()
                        .map_or(0, |h| owner_cell(h, home).len())
                },
                5,
            ),
            w(&|r| state_of(r.holder.as_ref()).len(), 5),
            w(&|r| held_for(r.lock.since.as_deref(), now).len(), 4),
        ]
    };
    let line = |cells: [&str; 5]| {
        let mut l = String::new();
        for (c, w) in cells.iter().zip(widths.iter().chain([&0])) {
            let _ = write!(l, "{c:<w$}  ");
        }
        l.trim_end().to_string() + "\n"
    };
    out += &line(["NAME", "OWNER", "STATE", "HELD", "ROUTE53"]);
    for r in rows {
        let l = &r.lock;
        out += &line([
            &l.name.to_string(),
            &l.holder
                .as_ref()
                .map_or(String::new(), |h| owner_cell(h, home)),
            state_of(r.holder.as_ref()),
            &held_for(l.since.as_deref(), now),
            if r.dns.is_empty() { "ok" } else { "differs" },
        ]);
        for s in &l.records {
            let _ = writeln!(
                out,
                "    {:<5} {}  {}",
                s.rtype.as_str(),
                s.values.join(","),
                zone_label(&s.zone_id, zones)
            );
        }
        if l.check {
            out += "    (to be checked: a change of it may still be on its way)\n";
        }
        for p in &r.dns {
            let _ = writeln!(out, "    ! {p}");
        }
        if l.shared() {
            let members: Vec<String> = l.members.iter().map(|m| owner_cell(m, home)).collect();
            let _ = writeln!(out, "    shared by: {}", members.join(", "));
        }
        if !l.waiting.is_empty() {
            let waiting: Vec<String> = l.waiting.iter().map(|w| owner_cell(w, home)).collect();
            let _ = writeln!(out, "    waiting: {}", waiting.join(", "));
        }
    }
    out
}

/// How long a name has been held, from its `since` (RFC 3339): `45s`, `12m`, `5h`, `3d`.
fn held_for(since: Option<&str>, now: i64) -> String {
    let Some(t) = since.and_then(|s| {
        aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime).ok()
    }) else {
        return since.unwrap_or_default().to_string();
    };
    let secs = (now - t.secs()).max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub fn render_rebuild(rows: &[Rebuilt], dry_run: bool, home: &Home) -> String {
    let done = rows.iter().filter(|r| r.skipped.is_none()).count();
    let verb = if dry_run {
        "would be rebuilt"
    } else {
        "rebuilt"
    };
    let mut out = format!("{done} lock item(s) {verb} from ownership markers\n");
    if !rows.is_empty() {
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.name.to_string(),
                    match &r.holder {
                        crate::marker::Marked::Owner(o) => owner_cell(o, home),
                        hidden => hidden.to_string(),
                    },
                    r.gen.to_string(),
                    r.skipped.clone().unwrap_or_else(|| "ok".into()),
                ]
            })
            .collect();
        out += "\n";
        out += &table(&["NAME", "HOLDER", "GENERATION", "RESULT"], &body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::RowAction;
    use crate::lock::Lock;
    use crate::report::ChangeRow;
    use crate::testing::{id, instance, name, owner};

    #[test]
    fn a_function_gives_its_settings_and_the_shell_is_told_when_it_differs() {
        let vars: std::collections::BTreeMap<String, String> = [
            ("LOCK_TABLE", "ec2dns-Locks-1X2Y"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
            ("EC2DNS_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shell = |k: &str| match k {
            "LOCK_TABLE" => Some("old-table".to_string()),
            "ALLOWED_DOMAINS" => Some("dyn.example.com".to_string()),
            "EC2DNS_LOG" => Some("debug".to_string()),
            _ => None,
        };
        let (settings, notes) = function_settings("ec2-dns-prod", &vars, &shell).unwrap();
        assert_eq!(settings["LOCK_TABLE"], "ec2dns-Locks-1X2Y");
        assert_eq!(
            notes,
            vec![
                "LOCK_TABLE from this shell (\"old-table\") is set aside: function ec2-dns-prod has \"ec2dns-Locks-1X2Y\""
            ]
        );
        let err = function_settings("ec2-dns-ddns", &Default::default(), &shell).unwrap_err();
        assert!(err.contains("not an ec2-dns reconciler"), "{err}");
    }

    #[test]
    fn the_cli_holds_warmed_instances_back_as_the_function_does() {
        let d = Deployed {
            lifecycle_hooks: vec!["launch-hook".into()],
            ..deployed()
        };
        let none = |k: &str| (k == "LOCK_TABLE").then(|| "locks".to_string());
        let (config, notes) = resolve_config(&none, Some(&d), true).unwrap();
        assert_eq!(config.lifecycle_hooks, ["launch-hook"]);
        assert!(notes.is_empty(), "{notes:?}");
        let other = |k: &str| match k {
            "LOCK_TABLE" => Some("locks".to_string()),
            "LIFECYCLE_HOOKS" => Some("other-hook".to_string()),
            _ => None,
        };
        let err = resolve_config(&other, Some(&d), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LIFECYCLE_HOOKS is \"other-hook\" here"),
            "{err}"
        );
    }

    #[test]
    fn versions_that_may_differ_in_their_lock_table_are_warned_of() {
        let at = |v: Option<&str>| Deployed {
            version: v.map(str::to_string),
            ..deployed()
        };
        assert_eq!(version_warning("0.4.0", &at(Some("0.4.2"))), None);
        assert_eq!(version_warning("1.2.0", &at(Some("1.0.3"))), None);
        let w = version_warning("0.4.0", &at(Some("0.5.0"))).unwrap();
        assert!(
            w.contains("ec2-dns 0.5.0")
                && w.contains("before 1.0")
                && w.contains("Use ec2-dns-ctl 0.5.x"),
            "{w}"
        );
        let w = version_warning("2.0.0", &at(Some("1.9.0"))).unwrap();
        assert!(
            w.contains("a major version") && w.contains("Use ec2-dns-ctl 1.x"),
            "{w}"
        );
        let w = version_warning("0.4.0", &at(None)).unwrap();
        assert!(w.contains("0.3 or older"), "{w}");
    }

    #[test]
    fn a_function_arn_names_its_region() {
        assert_eq!(
            function_region("arn:aws:lambda:eu-west-1:123456789012:function:ec2-dns").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(function_region("ec2-dns"), None);
        let a = args("status --function ec2-dns-prod").unwrap();
        assert_eq!(a.function.as_deref(), Some("ec2-dns-prod"));
        assert!(args("status --function --json")
            .unwrap_err()
            .contains("--function needs"));
    }

    fn args(s: &str) -> Result<Args, String> {
        parse_args(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn status_of_a_run_takes_its_id_and_shows_what_is_pending() {
        assert_eq!(
            args("status --run r1800000000-0a1b2c3d").unwrap().command,
            Command::RunStatus("r1800000000-0a1b2c3d".into())
        );
        for (bad, says) in [
            ("status --run", "--run needs the run id"),
            ("status --run a/b", "is not a run id"),
            ("plan --run r1", "--run applies to status only"),
        ] {
            let e = args(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let mut run = crate::shard::Run {
            id: "r1".into(),
            started: 1_000,
            trigger: "manual".into(),
            parts: ["locks/0/1", "place/123456789012/us-east-1/"]
                .map(String::from)
                .into(),
            ..Default::default()
        };
        run.finished.insert("locks/0/1".into());
        run.counts.changes = 3;
        run.notes.insert(
            "place/123456789012/us-east-1/".into(),
            "1 failed, to be retried (first: a.dyn.example.com: Throttling)".into(),
        );
        let out = render_run(&run, 1_060);
        assert!(
            out.starts_with("run r1 (manual), started 60 s ago: 1 of 2 shards pending"),
            "{out}"
        );
        assert!(out.contains("changes 3,"), "{out}");
        assert!(out.contains("  place/123456789012/us-east-1/\n"), "{out}");
        assert!(out.contains("Throttling"), "{out}");
        run.finished.insert("place/123456789012/us-east-1/".into());
        assert!(render_run(&run, 1_060).contains(": complete"));
    }

    #[test]
    fn commands_and_options_parse_strictly() {
        assert_eq!(
            args("plan").unwrap(),
            Args {
                command: Command::Plan(None),
                json: false,
                detailed: false,
                profile: None,
                region: None,
                function: None,
                force: false,
            }
        );
        assert_eq!(
            args("apply --instances i-00000001,i-00000002 --json").unwrap(),
            Args {
                command: Command::Apply(Some(
                    [InstanceArg::Here(id(1)), InstanceArg::Here(id(2))].into()
                )),
                json: true,
                detailed: false,
                profile: None,
                region: None,
                function: None,
                force: false,
            }
        );
        assert_eq!(
            args("plan --instances 210987654321/eu-west-1/i-00000003")
                .unwrap()
                .command,
            Command::Plan(Some(
                [InstanceArg::At(
                    Owner::parse("210987654321/eu-west-1/i-00000003").unwrap()
                )]
                .into()
            ))
        );
        assert_eq!(args("status").unwrap().command, Command::Status);
        assert_eq!(args("--help").unwrap().command, Command::Help(None));
        assert_eq!(
            args("plan -h").unwrap().command,
            Command::Help(Some("plan".into()))
        );
        assert!(args("apply --force").unwrap().force);
        assert_eq!(
            args("release Web.Dyn.Example.com. --dry-run")
                .unwrap()
                .command,
            Command::Release {
                name: name("web.dyn.example.com"),
                dry_run: true
            }
        );
        assert_eq!(
            args("rebuild --dry-run").unwrap().command,
            Command::Rebuild { dry_run: true }
        );
        for (bad, says) in [
            ("", "usage"),
            ("deploy", "unknown command"),
            (
                "plan --force",
                "--force applies to apply, host add and host names only",
            ),
            ("host names h", "host names needs --names"),
            (
                "status --names a.dyn.example.com",
                "host add and host names only",
            ),
            ("plan --forcefully", "unknown option"),
            ("apply --instances vol-12345678", "not an EC2 instance id"),
            ("release", "needs the NAME"),
            ("release *.dyn.example.com", "wildcards"),
            ("status --instances i-00000001", "plan and apply only"),
            ("apply --dry-run", "release and rebuild only"),
        ] {
            let err = args(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    fn deployed() -> Deployed {
        Deployed {
            allowed_domains: vec![name("dyn.example.com")],
            name_tag: "dnsname".into(),
            ttl: 60,
            accounts: vec!["210987654321".into()],
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            member_role: "ec2-dns-member".into(),
            deployment: Some(crate::marker::DeploymentId::parse("prod").unwrap()),
            marker_style: Default::default(),
            lifecycle_hooks: vec![],
            shared_names: false,
            reverse_records: false,
            version: Some(env!("CARGO_PKG_VERSION").into()),
            function: "ec2-dns".into(),
            updated: "2026-12-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn ordinary_conflicts_exit_0_unless_details_are_asked_for() {
        use crate::report::{ConflictRow, FrozenRow};
        let mut r = Report::default();
        assert_eq!((exit_code(&r, false), exit_code(&r, true)), (0, 0));
        r.conflicts.push(ConflictRow {
            name: name("web.dyn.example.com"),
            instance: Some(id(2)),
            owner: owner(2),
            holder: Some(owner(1)),
            reason: "owned by i-00000001".into(),
        });
        assert_eq!((exit_code(&r, false), exit_code(&r, true)), (0, 3));
        let mut frozen = Report::default();
        frozen.frozen.push(FrozenRow {
            name: name("old.example.org"),
            holder: None,
            reason: "outside ALLOWED_DOMAINS".into(),
        });
        assert_eq!(
            (exit_code(&frozen, false), exit_code(&frozen, true)),
            (3, 3)
        );
        r.failed.push(crate::report::FailRow {
            name: "web.dyn.example.com".into(),
            instance: Some(id(2)),
            owner: Some(owner(2)),
            reason: "throttled".into(),
        });
        assert_eq!((exit_code(&r, false), exit_code(&r, true)), (2, 2));
        assert!(args("plan --detailed-exitcode").unwrap().detailed);
        assert!(args("status --detailed-exitcode").is_err());
    }

    #[test]
    fn typos_get_a_suggestion_and_help_speaks_of_one_command() {
        assert_eq!(did_you_mean("plna", COMMANDS), Some("plan"));
        assert_eq!(did_you_mean("stauts", COMMANDS), Some("status"));
        assert_eq!(did_you_mean("--jsno", OPTIONS), Some("--json"));
        assert_eq!(did_you_mean("frobnicate", COMMANDS), None);
        let err = args("plna").unwrap_err();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("did you mean \"plan\""), "{err}");
        let err = args("plan --forse").unwrap_err();
        assert!(err.contains("did you mean \"--force\""), "{err}");
        assert_eq!(
            args("help apply").unwrap().command,
            Command::Help(Some("apply".into()))
        );
        assert_eq!(
            args("release --help").unwrap().command,
            Command::Help(Some("release".into()))
        );
        let usage = command_usage("release").unwrap();
        assert!(usage.contains("release NAME [--dry-run]"), "{usage}");
        assert!(!usage.contains("rebuild"), "{usage}");
        let host = command_usage("host").unwrap();
        assert!(
            host.contains("host add") && host.contains("host list"),
            "{host}"
        );
        assert_eq!(command_usage("nope"), None);
        assert_eq!(args("--version").unwrap().command, Command::Version);
        let a = args("status --profile ops --region eu-west-1").unwrap();
        assert_eq!(
            (a.profile.as_deref(), a.region.as_deref()),
            (Some("ops"), Some("eu-west-1"))
        );
        assert!(args("status --region EU").is_err());
    }

    #[test]
    fn a_missing_profile_is_named_as_such() {
        let dir = std::env::temp_dir().join(format!("ec2-dns-profiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config");
        let creds = dir.join("credentials");
        std::fs::write(
            &config,
            "[default]\nregion = us-east-1\n[profile ops]\nregion = eu-west-1\n",
        )
        .unwrap();
        std::fs::write(&creds, "[keys]\naws_access_key_id = x\n").unwrap();
        let (c, k) = (config.display().to_string(), creds.display().to_string());
        let env = |profile: Option<&'static str>| {
            let (c, k) = (c.clone(), k.clone());
            move |key: &str| match key {
                "AWS_CONFIG_FILE" => Some(c.clone()),
                "AWS_SHARED_CREDENTIALS_FILE" => Some(k.clone()),
                "AWS_PROFILE" => profile.map(str::to_string),
                _ => None,
            }
        };
        assert!(check_profile(None, &env(None)).is_ok());
        for known in ["ops", "keys", "default"] {
            assert!(check_profile(Some(known), &env(None)).is_ok(), "{known}");
        }
        let err = check_profile(Some("opps"), &env(None)).unwrap_err();
        assert!(
            err.contains("the profile \"opps\" (--profile) is in neither"),
            "{err}"
        );
        let err = check_profile(None, &env(Some("prod"))).unwrap_err();
        assert!(err.contains("(AWS_PROFILE)"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn times_and_leases_read_as_people_write_them() {
        assert_eq!(rfc3339(1_796_644_800), "2026-12-07T12:00:00Z");
        assert_eq!(duration(2_592_000), "30d");
        assert_eq!(duration(43_200), "12h");
        assert_eq!(duration(5_400), "90m");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(90_061), "90061s");
        assert_eq!(parse_duration(&duration(5_400)), Ok(5_400));
    }

    #[test]
    fn without_a_recorded_configuration_the_problem_is_said_once() {
        let env = |k: &str| (k == "LOCK_TABLE").then(|| "locks".to_string());
        let err = resolve_config(&env, None, false).unwrap_err().to_string();
        assert_eq!(err.matches("invalid configuration").count(), 1, "{err}");
        assert!(
            err.starts_with("invalid configuration: ALLOWED_DOMAINS is required"),
            "{err}"
        );
        assert!(
            err.contains("has not started since it was deployed"),
            "{err}"
        );
    }

    #[test]
    fn the_cli_acts_with_the_deployed_configuration_and_refuses_a_different_one() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        // Nothing but the table here: the deployed configuration, silently.
        let (c, notes) =
            resolve_config(&env(&[("LOCK_TABLE", "locks")]), Some(&deployed()), true).unwrap();
        assert_eq!(
            (c.name_tag.as_str(), c.ttl, c.lock_table.as_str()),
            ("dnsname", 60, "locks")
        );
        assert!(notes.is_empty());
        assert_eq!(
            (
                c.accounts.join(","),
                c.regions.join(","),
                c.member_role.as_str()
            ),
            (
                "210987654321".into(),
                "eu-west-1,us-east-1".into(),
                "ec2-dns-member"
            )
        );
        // Another account list here: refused for apply (the accounts are the fleet).
        let err = resolve_config(
            &env(&[
                ("LOCK_TABLE", "locks"),
                ("ACCOUNTS", "210987654321,111111111111"),
            ]),
            Some(&deployed()),
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ACCOUNTS is \"111111111111,210987654321\" here but \"210987654321\""),
            "{err}"
        );
        // Another NAME_TAG here: refused for apply, warned about for plan.
        let other = env(&[("LOCK_TABLE", "locks"), ("NAME_TAG", "Name")]);
        let err = resolve_config(&other, Some(&deployed()), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("NAME_TAG is \"Name\" here but \"dnsname\""),
            "{err}"
        );
        let (c, notes) = resolve_config(&other, Some(&deployed()), false).unwrap();
        assert_eq!(c.name_tag, "dnsname");
        assert_eq!(notes.len(), 1);
        // The same values spelled differently are the same configuration.
        let same = env(&[
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "Dyn.Example.com."),
        ]);
        assert!(resolve_config(&same, Some(&deployed()), true).is_ok());
        // Nothing recorded: the environment must say everything.
        assert!(resolve_config(&env(&[("LOCK_TABLE", "locks")]), None, false).is_err());
        let full = env(&[
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
        ]);
        assert_eq!(resolve_config(&full, None, true).unwrap().1.len(), 1);
    }

    #[test]
    fn a_report_reads_as_tables() {
        let mut r = Report {
            dry_run: true,
            ..Report::default()
        };
        r.changes.push(ChangeRow {
            action: RowAction::Update,
            name: name("web.dyn.example.com"),
            rtype: "A",
            values: vec!["198.51.100.9".into()],
            old_values: vec!["203.0.113.1".into()],
            ttl: Some(300),
            old_ttl: Some(60),
            zone_id: crate::model::ZoneId("ZPUBLIC".into()),
            zone: "dyn.example.com".into(),
            private: false,
            instance: Some(id(1)),
            owner: Some(owner(1)),
        });
        r.skipped.push(crate::report::SkipRow {
            instance: Some(id(2)),
            owner: owner(2),
            name: "*.dyn.example.com".into(),
            reason: "wildcards are not allowed".into(),
            invalid: true,
        });
        r.conflicts.push(crate::report::ConflictRow {
            name: name("api.dyn.example.com"),
            instance: None,
            owner: Home::new("210987654321", "eu-west-1")
                .unwrap()
                .instance(id(3)),
            holder: Some(owner(1)),
            reason: "owned by i-00000001".into(),
        });
        let out = render_report(&r, &crate::testing::home());
        assert!(
            out.starts_with(
                "1 record set(s) would change, 1 conflict(s), 1 invalid, 0 skipped, 0 frozen, 0 failed\n"
            ),
            "{out}"
        );
        // One term per idea, as the status tags say it; owners as an operator types them.
        assert!(out.contains("\ninvalid (tag entries"), "{out}");
        assert!(!out.contains("\nskipped"), "{out}");
        assert!(
            out.contains("api.dyn.example.com  210987654321/eu-west-1/i-00000003  i-00000001"),
            "{out}"
        );
        assert!(
            out.contains("DELETE+CREATE  web.dyn.example.com  A     203.0.113.1  198.51.100.9  60 -> 300  dyn.example.com (public)  i-00000001"),
            "{out}"
        );
    }

    #[test]
    fn status_shows_owner_state_and_records_in_120_columns() {
        let mut lock = crate::testing::lock("web.dyn.example.com", 1, "203.0.113.1");
        lock.waiting.insert(owner(2));
        lock.since = Some("2026-12-04T10:00:00Z".into());
        let now = aws_smithy_types::DateTime::from_str(
            "2026-12-07T10:30:00Z",
            aws_smithy_types::date_time::Format::DateTime,
        )
        .unwrap()
        .secs();
        // The widest ordinary row: a long name, an owner of another account, dual stack.
        let far = Home::new("210987654321", "ap-southeast-2").unwrap();
        let mut wide = lock.clone();
        wide.name = name("build-runner-0042.eu-central.ci.dyn.example.com");
        wide.holder = Some(far.instance(InstanceId::parse("i-0123456789abcdef0").unwrap()));
        wide.records.push(crate::model::RecordSet {
            rtype: crate::model::RecordType::Aaaa,
            values: vec!["2600:1f18:4a3b:9c00:1234:5678:9abc:def0".into()],
            ..wide.records[0].clone()
        });
        let rows = vec![
            StatusRow {
                lock: lock.clone(),
                holder: Some(instance(1, None)),
                dns: vec![],
            },
            StatusRow {
                lock: Lock {
                    name: name("old.dyn.example.com"),
                    waiting: Default::default(),
                    ..lock
                },
                holder: None,
                dns: vec!["A missing in dyn.example.com (public)".into()],
            },
            StatusRow {
                lock: wide,
                holder: None,
                dns: vec!["AAAA blocked in dyn.example.com (public) by a protected AAAA record set (Route53 record set protection)".into()],
            },
        ];
        let zones = [Zone {
            id: ZoneId("ZPUBLIC".into()),
            name: name("dyn.example.com"),
            private: false,
            records: None,
        }];
        let out = render_status(&rows, &zones, &crate::testing::home(), now);
        for line in out.lines().filter(|l| !l.trim_start().starts_with('!')) {
            assert!(
                line.chars().count() <= 120,
                "{} columns: {line}",
                line.len()
            );
        }
        assert!(
            out.contains("    A     203.0.113.1  dyn.example.com (public)"),
            "{out}"
        );
        assert!(out.contains("    waiting: i-00000002"), "{out}");
        assert!(
            out.contains("    ! A missing in dyn.example.com (public)"),
            "{out}"
        );
        assert!(out.contains("web.dyn.example.com"), "{out}");
        let web = out.lines().find(|l| l.starts_with("web.")).unwrap();
        assert!(
            web.split_whitespace().collect::<Vec<_>>()
                == ["web.dyn.example.com", "i-00000001", "running", "3d", "ok"],
            "{web}"
        );
        let old = out.lines().find(|l| l.starts_with("old.")).unwrap();
        assert!(old.ends_with("gone     3d    differs"), "{old}");
        assert!(
            out.contains("210987654321/ap-southeast-2/i-0123456789abcdef0"),
            "{out}"
        );
        let json = status_json(&rows, &zones);
        assert_eq!(json[0]["records"][0]["zone"], "dyn.example.com");
        assert_eq!(json[0]["instance"], "i-00000001");
        assert_eq!(json[0]["waiting"][0], "123456789012/us-east-1/i-00000002");
        assert_eq!(json[1]["owner_state"], "gone");
        assert_eq!(json[1]["route53"], "A missing in dyn.example.com (public)");
    }

    #[test]
    fn a_hosts_networks_are_given_when_added_changed_later_and_listed() {
        let net = |raw: &str| crate::hosts::parse_prefixes(raw).unwrap();
        let Command::Host(HostCommand::Add { options, .. }) =
            args("host add home --names home.dyn.example.com --prefixes 198.51.100.0/24,2001:db8:12::/48")
                .unwrap()
                .command
        else {
            panic!("not host add");
        };
        assert_eq!(options.prefixes, net("198.51.100.0/24,2001:db8:12::/48"));
        assert!(options.bound);
        assert_eq!(
            args("host prefixes home --prefixes 2001:db8:34::/48")
                .unwrap()
                .command,
            Command::Host(HostCommand::Prefixes {
                host: HostName::parse("home").unwrap(),
                prefixes: net("2001:db8:34::/48"),
            })
        );
        assert_eq!(
            args("host prefixes home --prefixes none").unwrap().command,
            Command::Host(HostCommand::Prefixes {
                host: HostName::parse("home").unwrap(),
                prefixes: BTreeSet::new(),
            })
        );
        for (bad, says) in [
            ("host prefixes home", "host prefixes needs --prefixes"),
            (
                "host list --prefixes none",
                "host add and host prefixes only",
            ),
            (
                "host names home --names a.dyn.example.com --prefixes none",
                "host add and host prefixes only",
            ),
            (
                "host add home --names a.dyn.example.com --prefixes ::/0",
                "wider than a /32",
            ),
            (
                "host prefixes home --prefixes 198.51.100.7/24",
                "did you mean 198.51.100.0/24",
            ),
        ] {
            let err = args(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        let mut row = HostRow::unreadable(&HostName::parse("home").unwrap());
        row.unreadable = false;
        row.prefixes = vec!["198.51.100.0/24".into(), "2001:db8:12::/48".into()];
        let listed = render_hosts(std::slice::from_ref(&row));
        assert!(
            listed.contains("prefixes=198.51.100.0/24,2001:db8:12::/48"),
            "{listed}"
        );
        assert!(render_prefixes(&row).contains("198.51.100.0/24, 2001:db8:12::/48"));
        let issued = Issued {
            host: "home".into(),
            names: vec!["home.dyn.example.com".into()],
            prefixes: row.prefixes.clone(),
            secret: "s".into(),
        };
        assert!(render_issued(&issued, false)
            .starts_with("host home added; names: home.dyn.example.com; prefixes: 198.51.100.0/24, 2001:db8:12::/48\n"));
        row.prefixes.clear();
        assert!(render_prefixes(&row).contains("has no prefixes"));
    }
}
