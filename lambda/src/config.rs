//! Configuration from the environment, validated once at cold start.

use crate::error::Error;
use crate::marker::{DeploymentId, MarkerStyle};
use crate::model::Home;
use crate::name::Fqdn;

/// Everything the reconciler is told by its environment. Built only by [`Config::from_env`]
/// or [`Config::from_lookup`], which check every value and report every problem at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// DynamoDB table holding the ownership locks (`LOCK_TABLE`).
    pub lock_table: String,
    /// Names must lie strictly below one of these (`ALLOWED_DOMAINS`).
    pub allowed_domains: Vec<Fqdn>,
    /// Tag that carries an instance's name(s) (`NAME_TAG`, default `dnsname`).
    pub name_tag: String,
    /// Tag ec2-dns writes with the outcome: `<name_tag>-status`.
    pub status_tag: String,
    /// TTL of the records written (`RECORD_TTL`, default 60).
    pub ttl: i64,
    /// Parallel lock and tag writes per invocation (`RECONCILE_CONCURRENCY`, default 16).
    pub concurrency: usize,
    /// Route53 calls per second this function allows itself, sustained
    /// (`ROUTE53_REQUESTS_PER_SECOND`, default [`DEFAULT_ROUTE53_REQUESTS`]).
    pub route53_requests_per_second: u32,
    /// Route53 record changes per second this function allows itself, sustained
    /// (`ROUTE53_CHANGES_PER_SECOND`, default [`DEFAULT_ROUTE53_CHANGES`]).
    pub route53_changes_per_second: u32,
    /// Accounts whose instances are managed besides the deployment's own (`ACCOUNTS`,
    /// sorted), reached through [`Config::member_role`].
    pub accounts: Vec<String>,
    /// Regions whose instances are managed in every managed account (`REGIONS`, sorted);
    /// empty: the deployment's own region only.
    pub regions: Vec<String>,
    /// The role assumed in each account of `accounts` (`MEMBER_ROLE`, default
    /// `ec2-dns-member`).
    pub member_role: String,
    /// The deployment id its markers carry (`DEPLOYMENT_ID`); `None`: derived from the
    /// account, region and lock table ([`Config::deployment_for`]).
    pub deployment: Option<DeploymentId>,
    /// How markers write their owner (`MARKER_STYLE`: `plain`, the default, or `opaque`).
    pub marker_style: MarkerStyle,
    /// The Auto Scaling lifecycle hooks ec2-dns acts on (`LIFECYCLE_HOOKS`, comma-separated
    /// hook names, sorted): their launch actions are completed once the instance's names
    /// are published, their terminate actions once they are removed. A lifecycle event of
    /// any other hook is ignored before any AWS call. Empty: none (the default).
    pub lifecycle_hooks: Vec<String>,
    /// Whether name tags may ask for shared names (`SHARED_NAMES`: `true` or `false`, the
    /// default). Off, a `shared:` entry is invalid: joining a set sends part of a name's
    /// traffic to the joiner, so a deployment decides whether its taggers may.
    pub shared_names: bool,
    /// PTR records for the addresses of instances that hold names (`REVERSE_RECORDS`,
    /// `true` or `false`, the default): see [`crate::decide::reverse`]. On, at least one
    /// allowed domain must be a reverse domain (below `in-addr.arpa` or `ip6.arpa`), where
    /// the private reverse zones lie.
    pub reverse_records: bool,
    /// The function's own SQS queue (`QUEUE_URL`), where a sharded run sends its shards
    /// ([`crate::shard`]); `None`: no sharded run can start.
    pub queue_url: Option<String>,
    /// Whether the scheduled reconcile of everything runs sharded (`SHARDED_RECONCILE`,
    /// `true` or `false`, the default). Needs `QUEUE_URL`.
    pub sharded_reconcile: bool,
    /// Most owners one shard reconciles (`SHARD_SIZE`, default [`DEFAULT_SHARD_SIZE`]): a
    /// larger place splits, and the lock table is scanned in segments of about this many
    /// items.
    pub shard_size: usize,
}

/// Owners per shard by default: a shard of 2,000 instances reconciles in well under a
/// minute and a few megabytes.
pub const DEFAULT_SHARD_SIZE: i64 = 2_000;

/// Route53 requests per second by default: half the account's documented sustained rate
/// (10 per second, bursts of 50, since July 2026), which every user and tool of the account
/// shares.
pub const DEFAULT_ROUTE53_REQUESTS: u32 = 5;
/// Route53 record changes per second by default. Route53 budgets record changes per second
/// per account since July 2026; its figures could not be looked up when this was written,
/// so the default is deliberately low (a reconcile of a thousand new names, 4,000 changes,
/// takes a little over a minute) and configurable.
pub const DEFAULT_ROUTE53_CHANGES: u32 = 50;

/// The role name of `MEMBER_ROLE` when none is given.
pub const DEFAULT_MEMBER_ROLE: &str = "ec2-dns-member";

impl Config {
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any key lookup (the environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let mut problems = Vec::new();
        let lock_table = match get("LOCK_TABLE").map(|s| s.trim().to_string()) {
            Some(t) if valid_table_name(&t) => t,
            Some(t) => {
                problems.push(format!(
                    "LOCK_TABLE {t:?} is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ - .)"
                ));
                String::new()
            }
            None => {
                problems.push("LOCK_TABLE is required".to_string());
                String::new()
            }
        };
        let mut allowed_domains = Vec::new();
        match get("ALLOWED_DOMAINS") {
            None => problems.push("ALLOWED_DOMAINS is required (comma-separated domains)".into()),
            Some(raw) => {
                for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match Fqdn::parse(part) {
                        Ok(d) if !allowed_domains.contains(&d) => allowed_domains.push(d),
                        Ok(_) => {}
                        Err(e) => problems.push(format!("ALLOWED_DOMAINS entry {part:?}: {e}")),
                    }
                }
                if allowed_domains.is_empty() && !raw.split(',').any(|p| !p.trim().is_empty()) {
                    problems.push("ALLOWED_DOMAINS is empty".into());
                }
            }
        }
        let name_tag = get("NAME_TAG")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "dnsname".to_string());
        if name_tag.is_empty()
            || name_tag.len() > 121
            || name_tag.to_ascii_lowercase().starts_with("aws:")
        {
            problems.push(format!(
                "NAME_TAG {name_tag:?} must be 1-121 characters and must not start with \"aws:\""
            ));
        }
        let ttl = parse_number(&get, "RECORD_TTL", 60, 1, 172_800, &mut problems);
        let concurrency = parse_number(&get, "RECONCILE_CONCURRENCY", 16, 1, 64, &mut problems);
        let route53_requests = parse_number(
            &get,
            "ROUTE53_REQUESTS_PER_SECOND",
            DEFAULT_ROUTE53_REQUESTS.into(),
            1,
            100,
            &mut problems,
        );
        let route53_changes = parse_number(
            &get,
            "ROUTE53_CHANGES_PER_SECOND",
            DEFAULT_ROUTE53_CHANGES.into(),
            1,
            10_000,
            &mut problems,
        );
        let accounts = parse_list(&get, "ACCOUNTS", &mut problems, |a| {
            Home::new(a, "us-east-1").map(|_| ())
        });
        let regions = parse_list(&get, "REGIONS", &mut problems, |r| {
            Home::new("000000000000", r).map(|_| ())
        });
        let member_role = get("MEMBER_ROLE")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| DEFAULT_MEMBER_ROLE.to_string());
        if !valid_role_name(&member_role) {
            problems.push(format!(
                "MEMBER_ROLE {member_role:?} is not an IAM role name (1-64 of a-z A-Z 0-9 + = , . @ _ -)"
            ));
        }
        let deployment = match get("DEPLOYMENT_ID").map(|s| s.trim().to_string()) {
            None => None,
            Some(d) if d.is_empty() => None,
            Some(d) => match DeploymentId::parse(&d) {
                Ok(id) => Some(id),
                Err(e) => {
                    problems.push(format!("DEPLOYMENT_ID {e}"));
                    None
                }
            },
        };
        let marker_style = match get("MARKER_STYLE").map(|s| s.trim().to_string()) {
            None => MarkerStyle::Plain,
            Some(s) if s.is_empty() => MarkerStyle::Plain,
            Some(s) => MarkerStyle::parse(&s).unwrap_or_else(|e| {
                problems.push(format!("MARKER_STYLE {e}"));
                MarkerStyle::Plain
            }),
        };
        let lifecycle_hooks = parse_list(&get, "LIFECYCLE_HOOKS", &mut problems, |h| {
            valid_hook_name(h).then_some(()).ok_or_else(|| {
                "is not a lifecycle hook name (1-255 of a-z A-Z 0-9 - _ /)".to_string()
            })
        });
        let shared_names = parse_flag(&get, "SHARED_NAMES", &mut problems);
        let reverse_records = parse_flag(&get, "REVERSE_RECORDS", &mut problems);
        if reverse_records
            && !allowed_domains.is_empty()
            && !allowed_domains
                .iter()
                .any(crate::decide::reverse::is_reverse)
        {
            problems.push(
                "REVERSE_RECORDS is true but no ALLOWED_DOMAINS entry is a reverse domain: add the private reverse zones' domain (such as 10.in-addr.arpa or d.f.ip6.arpa), PTR records are written only below an allowed domain".into(),
            );
        }
        let queue_url = get("QUEUE_URL")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(u) = &queue_url {
            if !u.starts_with("https://") && !u.starts_with("http://") {
                problems.push(format!("QUEUE_URL {u:?} is not a queue URL (https://…)"));
            }
        }
        let sharded_reconcile = parse_flag(&get, "SHARDED_RECONCILE", &mut problems);
        if sharded_reconcile && queue_url.is_none() {
            problems.push(
                "SHARDED_RECONCILE is true but QUEUE_URL is not set: a sharded run sends its shards to the function's own queue".into(),
            );
        }
        let shard_size = parse_number(
            &get,
            "SHARD_SIZE",
            DEFAULT_SHARD_SIZE,
            100,
            20_000,
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(Error::Config(problems.join("; ")));
        }
        Ok(Config {
            lock_table,
            allowed_domains,
            status_tag: format!("{name_tag}-status"),
            name_tag,
            ttl,
            concurrency: concurrency as usize,
            route53_requests_per_second: route53_requests as u32,
            route53_changes_per_second: route53_changes as u32,
            accounts,
            regions,
            member_role,
            deployment,
            marker_style,
            lifecycle_hooks,
            shared_names,
            reverse_records,
            queue_url,
            sharded_reconcile,
            shard_size: shard_size as usize,
        })
    }

    /// The deployment id this deployment's markers carry: `DEPLOYMENT_ID`, or one derived
    /// from its own account and region (`own`) and its lock table.
    pub fn deployment_for(&self, own: &Home) -> DeploymentId {
        self.deployment
            .clone()
            .unwrap_or_else(|| DeploymentId::derived(own, &self.lock_table))
    }

    /// The accounts and regions whose instances this deployment manages: its own account and
    /// those of `ACCOUNTS`, each in the regions of `REGIONS` (or in its own region only).
    pub fn homes(&self, own: &Home) -> Vec<Home> {
        let regions: Vec<&str> = match self.regions.is_empty() {
            true => vec![own.region()],
            false => self.regions.iter().map(String::as_str).collect(),
        };
        let mut accounts: Vec<&str> = vec![own.account()];
        accounts.extend(self.accounts.iter().map(String::as_str));
        let mut out: Vec<Home> = accounts
            .iter()
            .flat_map(|a| regions.iter().filter_map(move |r| Home::new(a, r).ok()))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `MARKER_STYLE`'s value for a style.
pub fn style_name(style: MarkerStyle) -> &'static str {
    match style {
        MarkerStyle::Plain => "plain",
        MarkerStyle::Opaque => "opaque",
    }
}

/// The configuration a deployed function records in its lock table (at cold start, when it
/// differs), so that the operator CLI acts with the function's configuration and never with
/// a different one by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub allowed_domains: Vec<Fqdn>,
    pub name_tag: String,
    pub ttl: i64,
    /// `ACCOUNTS`, `REGIONS` and `MEMBER_ROLE` (recorded since 0.3.0; absent: the defaults).
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub member_role: String,
    /// The deployment id the function writes in its markers (recorded since 0.4.0).
    pub deployment: Option<DeploymentId>,
    /// `MARKER_STYLE` (recorded since 0.4.0; absent: plain).
    pub marker_style: MarkerStyle,
    /// `LIFECYCLE_HOOKS` (recorded since 0.4.0; absent: none): a CLI that reconciles must
    /// hold warmed instances back as the function does.
    pub lifecycle_hooks: Vec<String>,
    /// `SHARED_NAMES` (recorded since 0.4.0; absent: off): a CLI that reconciles must keep
    /// the sets the function keeps.
    pub shared_names: bool,
    /// `REVERSE_RECORDS` (absent: off, as a function older than reverse records left it): a CLI that reconciles must
    /// keep the PTR records the function writes.
    pub reverse_records: bool,
    /// The version of the function that recorded it (recorded since 0.4.0; absent: 0.3 or
    /// older).
    pub version: Option<String>,
    /// The function that recorded it.
    pub function: String,
    /// When (RFC 3339).
    pub updated: String,
}

impl Config {
    /// What this configuration records as deployed.
    pub fn deployed(&self, function: &str, updated: &str, own: &Home) -> Deployed {
        Deployed {
            deployment: Some(self.deployment_for(own)),
            marker_style: self.marker_style,
            allowed_domains: self.allowed_domains.clone(),
            name_tag: self.name_tag.clone(),
            ttl: self.ttl,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            member_role: self.member_role.clone(),
            lifecycle_hooks: self.lifecycle_hooks.clone(),
            shared_names: self.shared_names,
            reverse_records: self.reverse_records,
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            function: function.to_string(),
            updated: updated.to_string(),
        }
    }

    /// Whether `deployed` says the same as this configuration (who recorded it aside).
    pub fn same_as(&self, deployed: &Deployed) -> bool {
        self.differences(deployed).is_empty()
    }

    /// Each setting in which `deployed` differs from this configuration, as a sentence.
    pub fn differences(&self, deployed: &Deployed) -> Vec<String> {
        let mut out = Vec::new();
        let list = |d: &[Fqdn]| {
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut mine = self.allowed_domains.clone();
        let mut theirs = deployed.allowed_domains.clone();
        mine.sort();
        theirs.sort();
        if mine != theirs {
            out.push(format!(
                "ALLOWED_DOMAINS is {:?} here but {:?} in the deployed function",
                list(&self.allowed_domains),
                list(&deployed.allowed_domains)
            ));
        }
        if self.name_tag != deployed.name_tag {
            out.push(format!(
                "NAME_TAG is {:?} here but {:?} in the deployed function",
                self.name_tag, deployed.name_tag
            ));
        }
        if self.ttl != deployed.ttl {
            out.push(format!(
                "RECORD_TTL is {} here but {} in the deployed function",
                self.ttl, deployed.ttl
            ));
        }
        for (key, mine, theirs) in [
            ("ACCOUNTS", &self.accounts, &deployed.accounts),
            ("REGIONS", &self.regions, &deployed.regions),
        ] {
            if mine != theirs {
                out.push(format!(
                    "{key} is {:?} here but {:?} in the deployed function",
                    mine.join(","),
                    theirs.join(",")
                ));
            }
        }
        if let (Some(mine), Some(theirs)) = (&self.deployment, &deployed.deployment) {
            if mine != theirs {
                out.push(format!(
                    "DEPLOYMENT_ID is {:?} here but {:?} in the deployed function",
                    mine.as_str(),
                    theirs.as_str()
                ));
            }
        }
        if self.marker_style != deployed.marker_style {
            out.push(format!(
                "MARKER_STYLE is {:?} here but {:?} in the deployed function",
                style_name(self.marker_style),
                style_name(deployed.marker_style)
            ));
        }
        if self.lifecycle_hooks != deployed.lifecycle_hooks {
            out.push(format!(
                "LIFECYCLE_HOOKS is {:?} here but {:?} in the deployed function",
                self.lifecycle_hooks.join(","),
                deployed.lifecycle_hooks.join(",")
            ));
        }
        if self.shared_names != deployed.shared_names {
            out.push(format!(
                "SHARED_NAMES is {} here but {} in the deployed function",
                self.shared_names, deployed.shared_names
            ));
        }
        if self.reverse_records != deployed.reverse_records {
            out.push(format!(
                "REVERSE_RECORDS is \"{}\" here but \"{}\" in the deployed function",
                self.reverse_records, deployed.reverse_records
            ));
        }
        if self.member_role != deployed.member_role {
            out.push(format!(
                "MEMBER_ROLE is {:?} here but {:?} in the deployed function",
                self.member_role, deployed.member_role
            ));
        }
        out
    }

    /// The deployed configuration, for the lock table named here.
    pub fn adopt(&self, deployed: &Deployed) -> Config {
        Config {
            allowed_domains: deployed.allowed_domains.clone(),
            status_tag: format!("{}-status", deployed.name_tag),
            name_tag: deployed.name_tag.clone(),
            ttl: deployed.ttl,
            accounts: deployed.accounts.clone(),
            regions: deployed.regions.clone(),
            member_role: deployed.member_role.clone(),
            deployment: deployed
                .deployment
                .clone()
                .or_else(|| self.deployment.clone()),
            marker_style: deployed.marker_style,
            lifecycle_hooks: deployed.lifecycle_hooks.clone(),
            shared_names: deployed.shared_names,
            reverse_records: deployed.reverse_records,
            ..self.clone()
        }
    }
}

/// A `true`/`false` setting (any case; unset or empty: `false`).
fn parse_flag(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    problems: &mut Vec<String>,
) -> bool {
    match get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(v) if v.is_empty() || v == "false" => false,
        Some(v) if v == "true" => true,
        Some(v) => {
            problems.push(format!("{key} {v:?} must be true or false"));
            false
        }
    }
}

/// Auto Scaling's pattern for a lifecycle hook name: `[A-Za-z0-9\-_\/]+`, 1-255 long.
fn valid_hook_name(h: &str) -> bool {
    (1..=255).contains(&h.len())
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/".contains(&b))
}

fn valid_role_name(r: &str) -> bool {
    (1..=64).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// A comma-separated list, each entry checked; sorted, without repeats.
fn parse_list(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    problems: &mut Vec<String>,
    check: impl Fn(&str) -> Result<(), String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in get(key)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match check(part) {
            Ok(()) => out.push(part.to_string()),
            Err(e) => problems.push(format!("{key} entry {part:?}: {e}")),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn valid_table_name(t: &str) -> bool {
    (3..=255).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn parse_number(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
    problems: &mut Vec<String>,
) -> i64 {
    match get(key) {
        None => default,
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                problems.push(format!(
                    "{key} {raw:?} must be a whole number from {min} to {max}"
                ));
                default
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn shared_names_are_off_unless_set_to_true() {
        let base = [
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
        ];
        assert!(!cfg(&base).unwrap().shared_names);
        let with = |v: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("SHARED_NAMES", v));
            cfg(&pairs)
        };
        assert!(with(" TRUE ").unwrap().shared_names);
        assert!(!with("false").unwrap().shared_names);
        assert!(!with("").unwrap().shared_names);
        let err = with("yes").unwrap_err().to_string();
        assert!(
            err.contains("SHARED_NAMES \"yes\" must be true or false"),
            "{err}"
        );
    }

    #[test]
    fn a_sharded_schedule_needs_the_queue_and_shards_have_a_sane_size() {
        let base = [
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
        ];
        let c = cfg(&base).unwrap();
        assert_eq!(
            (c.queue_url, c.sharded_reconcile, c.shard_size),
            (None, false, 2000)
        );
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            cfg(&pairs)
        };
        let queue = (
            "QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/ec2-dns-events",
        );
        let c = with(&[queue, ("SHARDED_RECONCILE", "true"), ("SHARD_SIZE", "500")]).unwrap();
        assert_eq!((c.sharded_reconcile, c.shard_size), (true, 500));
        for (extra, says) in [
            (vec![("SHARDED_RECONCILE", "true")], "QUEUE_URL is not set"),
            (vec![queue, ("SHARD_SIZE", "50")], "SHARD_SIZE"),
            (vec![("QUEUE_URL", "ec2-dns-events")], "is not a queue URL"),
        ] {
            let e = with(&extra).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn lifecycle_hooks_are_opted_in_by_name_and_checked() {
        let base = [
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
        ];
        assert!(cfg(&base).unwrap().lifecycle_hooks.is_empty());
        let with = |v: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("LIFECYCLE_HOOKS", v));
            cfg(&pairs)
        };
        assert_eq!(
            with(" web-launch, web/terminate ,web-launch,")
                .unwrap()
                .lifecycle_hooks,
            ["web-launch", "web/terminate"]
        );
        let err = with("ok,not a hook,").unwrap_err().to_string();
        assert!(
            err.contains("LIFECYCLE_HOOKS entry \"not a hook\"")
                && err.contains("lifecycle hook name"),
            "{err}"
        );
        let long: &'static str = Box::leak("h".repeat(256).into_boxed_str());
        assert!(with(long).is_err());
    }

    #[test]
    fn defaults_fill_in_the_optional_settings() {
        let c = cfg(&[
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "Dyn.Example.com., b.example.org"),
        ])
        .unwrap();
        assert_eq!(c.name_tag, "dnsname");
        assert_eq!(c.status_tag, "dnsname-status");
        assert_eq!(c.ttl, 60);
        assert_eq!(c.concurrency, 16);
        let domains: Vec<_> = c.allowed_domains.iter().map(|d| d.as_str()).collect();
        assert_eq!(domains, ["dyn.example.com", "b.example.org"]);
        assert!(c.accounts.is_empty() && c.regions.is_empty());
        assert_eq!(c.member_role, "ec2-dns-member");
        let own = Home::new("123456789012", "us-east-1").unwrap();
        assert_eq!(c.homes(&own), [own]);
    }

    #[test]
    fn accounts_and_regions_make_the_homes_managed() {
        let c = cfg(&[
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
            ("ACCOUNTS", " 210987654321 ,111111111111,210987654321"),
            ("REGIONS", "eu-west-1,us-east-1"),
            ("MEMBER_ROLE", "dns-reader"),
        ])
        .unwrap();
        assert_eq!(c.accounts, ["111111111111", "210987654321"]);
        assert_eq!(c.member_role, "dns-reader");
        let own = Home::new("123456789012", "us-east-1").unwrap();
        let homes: Vec<String> = c.homes(&own).iter().map(|h| h.to_string()).collect();
        assert_eq!(
            homes,
            [
                "111111111111/eu-west-1",
                "111111111111/us-east-1",
                "123456789012/eu-west-1",
                "123456789012/us-east-1",
                "210987654321/eu-west-1",
                "210987654321/us-east-1",
            ]
        );
        let err = cfg(&[
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
            ("ACCOUNTS", "12345,210987654321"),
            ("REGIONS", "EU West"),
            ("MEMBER_ROLE", "role/with/path"),
        ])
        .unwrap_err()
        .to_string();
        for part in [
            "ACCOUNTS entry \"12345\"",
            "REGIONS entry \"EU West\"",
            "MEMBER_ROLE \"role/with/path\"",
        ] {
            assert!(err.contains(part), "{part} missing from {err}");
        }
    }

    #[test]
    fn the_deployment_id_is_set_or_derived_from_account_region_and_table() {
        let own = Home::new("123456789012", "us-east-1").unwrap();
        let base = [
            ("LOCK_TABLE", "locks"),
            ("ALLOWED_DOMAINS", "dyn.example.com"),
        ];
        let derived = cfg(&base).unwrap();
        assert_eq!(derived.deployment, None);
        assert_eq!(
            derived.deployment_for(&own),
            DeploymentId::derived(&own, "locks")
        );
        let blank = cfg(&[base[0], base[1], ("DEPLOYMENT_ID", "  ")]).unwrap();
        assert_eq!(blank.deployment, None);
        let set = cfg(&[base[0], base[1], ("DEPLOYMENT_ID", " prod ")]).unwrap();
        assert_eq!(set.deployment_for(&own).as_str(), "prod");
        let err = cfg(&[base[0], base[1], ("DEPLOYMENT_ID", "Prod_1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DEPLOYMENT_ID \"Prod_1\" is not a deployment id"),
            "{err}"
        );
        // The CLI acts with the deployed function's id, and says so when its own differs.
        let deployed = set.deployed("ec2-dns", "2026-12-07T00:00:00Z", &own);
        assert_eq!(
            derived.adopt(&deployed).deployment_for(&own).as_str(),
            "prod"
        );
        let staging = cfg(&[base[0], base[1], ("DEPLOYMENT_ID", "staging")]).unwrap();
        assert_eq!(
            staging.differences(&deployed),
            ["DEPLOYMENT_ID is \"staging\" here but \"prod\" in the deployed function"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = cfg(&[
            ("ALLOWED_DOMAINS", "*.example.com"),
            ("RECORD_TTL", "0"),
            ("NAME_TAG", "aws:x"),
        ])
        .unwrap_err()
        .to_string();
        for part in [
            "LOCK_TABLE is required",
            "ALLOWED_DOMAINS entry",
            "RECORD_TTL",
            "NAME_TAG",
        ] {
            assert!(err.contains(part), "{part} missing from {err}");
        }
    }

    #[test]
    fn missing_allowed_domains_is_an_error() {
        let err = cfg(&[("LOCK_TABLE", "locks"), ("ALLOWED_DOMAINS", " , ")]).unwrap_err();
        assert!(
            err.to_string().contains("ALLOWED_DOMAINS is empty"),
            "{err}"
        );
    }
}
