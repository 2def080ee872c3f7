//! Host credentials as the operator manages them (`ec2-dns-ctl host add|rotate|remove|list`).
//! A new secret is made here, returned once to be shown once, and stored only as a slow
//! salted hash (and, for a host that opts into the AWS sample's protocol, encrypted in SSM).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::ddns::auth;
use crate::error::{Error, Result};
use crate::hosts::{HostName, HostRecord, Prefix};
use crate::lock::Cas;
use crate::name::{Fqdn, MAX_HOST_NAMES};
use crate::ports::{Locks, Secrets};

/// How a new host may update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOptions {
    /// Seconds without an update after which its names are released (0: never).
    pub lease: i64,
    /// Only the caller's own address may be written (the default).
    pub bound: bool,
    /// The host's own networks: a bound host may also publish any address inside them,
    /// whichever family its request came over (the binding rule, `hosts::check_binding`).
    pub prefixes: BTreeSet<Prefix>,
    /// Also accept the AWS serverless DDNS sample's protocol.
    pub sample: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            lease: 0,
            bound: true,
            prefixes: BTreeSet::new(),
            sample: false,
        }
    }
}

/// What `host list` shows of a credential (never its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRow {
    pub host: String,
    pub names: Vec<String>,
    pub lease: i64,
    pub bound: bool,
    /// The networks declared for the host (`198.51.100.0/24`, `2001:db8:12::/48`).
    pub prefixes: Vec<String>,
    pub sample: bool,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    /// Epoch seconds of the last accepted update (0: never).
    pub updated: i64,
    pub locked_until: i64,
    pub alerted: Option<String>,
    /// Its item in the table cannot be read (damaged or written by a newer release): its
    /// names are kept as they are until `host remove` deletes it.
    pub unreadable: bool,
}

impl HostRow {
    pub fn of(h: &HostRecord) -> HostRow {
        HostRow {
            host: h.name.to_string(),
            names: h.names.iter().map(|n| n.to_string()).collect(),
            lease: h.lease,
            bound: h.bound,
            prefixes: h.prefixes.iter().map(|p| p.to_string()).collect(),
            sample: h.sample,
            ipv4: h.ipv4.map(|a| a.to_string()),
            ipv6: h.ipv6.map(|a| a.to_string()),
            updated: h.updated,
            locked_until: h.locked_until,
            alerted: h.alerted.clone(),
            unreadable: false,
        }
    }

    pub fn unreadable(name: &HostName) -> HostRow {
        HostRow {
            host: name.to_string(),
            names: Vec::new(),
            lease: 0,
            bound: true,
            prefixes: Vec::new(),
            sample: false,
            ipv4: None,
            ipv6: None,
            updated: 0,
            locked_until: 0,
            alerted: None,
            unreadable: true,
        }
    }
}

/// A credential just made or rotated: its secret, to be shown once.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub host: String,
    pub names: Vec<String>,
    /// The networks declared for the host (empty: none).
    pub prefixes: Vec<String>,
    pub secret: String,
}

/// How many names a credential may hold: at least one, at most [`MAX_HOST_NAMES`] (the
/// decisions refuse a credential with more as a whole, so none is ever made).
fn check_count(names: &BTreeSet<Fqdn>) -> Result<()> {
    if names.is_empty() {
        return Err(Error::InvalidInput(
            "a host needs at least one name (--names)".into(),
        ));
    }
    if names.len() > MAX_HOST_NAMES {
        return Err(Error::InvalidInput(format!(
            "{} names; a host may have at most {MAX_HOST_NAMES}",
            names.len()
        )));
    }
    Ok(())
}

/// Checks the names a credential is for: how many (duplicates count once), and each
/// strictly below an allowed domain.
pub fn check_names(names: &[Fqdn], allowed: &[Fqdn]) -> Result<BTreeSet<Fqdn>> {
    let set: BTreeSet<Fqdn> = names.iter().cloned().collect();
    check_count(&set)?;
    for n in &set {
        if !allowed.iter().any(|d| n.is_strictly_below(d)) {
            return Err(Error::InvalidInput(format!(
                "{n} is not below an allowed domain ({})",
                allowed
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
    }
    Ok(set)
}

/// The names of `names` that someone other than `host` holds now (an instance, or another
/// host), with their holder: a new credential for them would only wait. `host add` refuses
/// them unless forced.
pub async fn held_by_others<L: Locks>(
    locks: &L,
    host: &HostName,
    names: &BTreeSet<Fqdn>,
) -> Result<Vec<(Fqdn, crate::model::Owner)>> {
    let names: Vec<Fqdn> = names.iter().cloned().collect();
    let loaded = locks.load(&names, &[]).await?;
    Ok(loaded
        .locks
        .into_iter()
        .filter_map(|l| {
            let holder = l.holder?;
            (holder.host() != Some(host)).then_some((l.name, holder))
        })
        .collect())
}

/// New names for `host`, its secret and everything else kept: one conditional write of its
/// item. The caller then reconciles the host, which releases the names it dropped and
/// claims the new ones with its last addresses.
pub async fn set_names<L: Locks>(
    locks: &L,
    host: &HostName,
    names: BTreeSet<Fqdn>,
) -> Result<HostRecord> {
    check_count(&names)?;
    let mut record = locks
        .host(host)
        .await?
        .ok_or_else(|| Error::InvalidInput(format!("no host {host}")))?;
    record.names = names;
    record.version += 1;
    match locks.put_host(&record, false).await? {
        Cas::Won(_) => Ok(record),
        Cas::Lost => Err(Error::InvalidInput(format!(
            "host {host} changed meanwhile (an update, a rotation): run the command again"
        ))),
    }
}

/// Networks may be declared only for a bound host (an unbound one may publish anything
/// anyway: declaring them would suggest a limit that is not there).
fn check_prefixes(bound: bool, prefixes: &BTreeSet<Prefix>) -> Result<()> {
    if !bound && !prefixes.is_empty() {
        return Err(Error::InvalidInput(
            "--prefixes limits a bound host; an --unbound host may publish any address".into(),
        ));
    }
    Ok(())
}

/// New networks for `host` (none to clear them), its secret, names and addresses kept: one
/// conditional write of its item. They rule its next update: the addresses it has now stay
/// published until it sends new ones, as a family it does not send is kept.
pub async fn set_prefixes<L: Locks>(
    locks: &L,
    host: &HostName,
    prefixes: BTreeSet<Prefix>,
) -> Result<HostRecord> {
    let mut record = locks
        .host(host)
        .await?
        .ok_or_else(|| Error::InvalidInput(format!("no host {host}")))?;
    check_prefixes(record.bound, &prefixes)?;
    record.prefixes = prefixes;
    record.version += 1;
    match locks.put_host(&record, false).await? {
        Cas::Won(_) => Ok(record),
        Cas::Lost => Err(Error::InvalidInput(format!(
            "host {host} changed meanwhile (an update, a rotation): run the command again"
        ))),
    }
}

/// Makes a credential and its secret. Refused, before anything is written, when `names`
/// holds none or more than [`MAX_HOST_NAMES`], when networks are declared for an unbound
/// host, or when the host exists.
pub async fn add<L: Locks, S: Secrets>(
    locks: &L,
    secrets: &S,
    host: &HostName,
    names: BTreeSet<Fqdn>,
    opts: &HostOptions,
    now: i64,
) -> Result<Issued> {
    check_count(&names)?;
    if opts.lease < 0 {
        return Err(Error::InvalidInput(
            "--lease must be 0 (never) or a number of seconds".into(),
        ));
    }
    check_prefixes(opts.bound, &opts.prefixes)?;
    let secret = auth::new_secret()?;
    let record = HostRecord {
        name: host.clone(),
        version: 1,
        names,
        password: auth::hash_password(&secret)?,
        sample: opts.sample,
        bound: opts.bound,
        prefixes: opts.prefixes.clone(),
        lease: opts.lease,
        ipv4: None,
        ipv6: None,
        updated: 0,
        created: now,
        failures: 0,
        failed_since: 0,
        locked_until: 0,
        alerted: None,
    };
    // The credential first (it fails if the host exists, before anything else is touched),
    // then the sample secret; without its secret the credential is taken back.
    if let Cas::Lost = locks.put_host(&record, true).await? {
        return Err(Error::InvalidInput(format!(
            "host {host} exists; use `host rotate` for a new secret"
        )));
    }
    if opts.sample {
        if let Err(e) = secrets.put_secret(host, &secret).await {
            if let Err(undo) = locks.delete_host(&record).await {
                tracing::error!(host = %host, error = %undo,
                    "the credential could not be taken back; run `host remove` for it");
            }
            return Err(e);
        }
    }
    Ok(issued(&record, secret))
}

/// A new secret for an existing host (the old one stops working at once), and its
/// failed-login counters cleared.
pub async fn rotate<L: Locks, S: Secrets>(
    locks: &L,
    secrets: &S,
    host: &HostName,
) -> Result<Issued> {
    let mut record = locks
        .host(host)
        .await?
        .ok_or_else(|| Error::InvalidInput(format!("no host {host}")))?;
    let secret = auth::new_secret()?;
    record.password = auth::hash_password(&secret)?;
    record.version += 1;
    (record.failures, record.failed_since, record.locked_until) = (0, 0, 0);
    // Both stores get the new secret or neither keeps it: the sample secret first (the old
    // one kept to put back), then the credential.
    let old = match record.sample {
        true => {
            let old = secrets.secret(host).await?;
            secrets.put_secret(host, &secret).await?;
            old
        }
        false => None,
    };
    let written = locks.put_host(&record, false).await;
    if !matches!(written, Ok(Cas::Won(_))) {
        // Put the old sample secret back (or take the new one away if there was none), so
        // that the stored secret still matches the credential; the first error is the one
        // reported.
        if record.sample {
            let undone = match &old {
                Some(old) => secrets.put_secret(host, old).await,
                None => secrets.delete_secret(host).await,
            };
            if let Err(undo) = undone {
                tracing::error!(host = %host, error = %undo,
                    "the sample secret could not be restored; run `host rotate` again");
            }
        }
        return Err(match written {
            Err(e) => e,
            _ => Error::InvalidInput(format!(
                "host {host} changed meanwhile; run the command again"
            )),
        });
    }
    Ok(issued(&record, secret))
}

/// Removes a credential (and its sample secret). Its names are released by the next
/// reconcile of the host (the CLI runs it at once). An item that cannot be read is removed
/// too (with any sample secret under its name), since nothing else can repair it.
pub async fn remove<L: Locks, S: Secrets>(
    locks: &L,
    secrets: &S,
    host: &HostName,
) -> Result<HostRecord> {
    let record = match locks.host(host).await {
        Ok(Some(record)) => record,
        Ok(None) if locks.scan().await?.unreadable_hosts.contains(host) => unreadable_record(host),
        Ok(None) => return Err(Error::InvalidInput(format!("no host {host}"))),
        Err(Error::Unexpected { message, .. }) => {
            tracing::warn!(host = %host, %message, "removing a host item that cannot be read");
            unreadable_record(host)
        }
        Err(e) => return Err(e),
    };
    locks.delete_host(&record).await?;
    if record.sample {
        secrets.delete_secret(host).await?;
    }
    Ok(record)
}

/// What is known of a host whose item cannot be read: its name. `sample` is set so that a
/// secret stored under the name is deleted with it.
fn unreadable_record(host: &HostName) -> HostRecord {
    HostRecord {
        name: host.clone(),
        version: 0,
        names: BTreeSet::new(),
        password: String::new(),
        sample: true,
        bound: true,
        prefixes: BTreeSet::new(),
        lease: 0,
        ipv4: None,
        ipv6: None,
        updated: 0,
        created: 0,
        failures: 0,
        failed_since: 0,
        locked_until: 0,
        alerted: None,
    }
}

pub async fn list<L: Locks>(locks: &L) -> Result<Vec<HostRow>> {
    let loaded = locks.scan().await?;
    let mut rows: Vec<HostRow> = loaded.hosts.iter().map(HostRow::of).collect();
    rows.extend(loaded.unreadable_hosts.iter().map(HostRow::unreadable));
    rows.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(rows)
}

fn issued(r: &HostRecord, secret: String) -> Issued {
    Issued {
        host: r.name.to_string(),
        names: r.names.iter().map(|n| n.to_string()).collect(),
        prefixes: r.prefixes.iter().map(|p| p.to_string()).collect(),
        secret,
    }
}
