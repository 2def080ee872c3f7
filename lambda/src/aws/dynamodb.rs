//! DynamoDB lock table (layout documented in docs/contract.md):
//! - name lock, `pk` = the name: `layout` (2), `version`, `gen`, `owner` (absent while the
//!   name is free), `records`, `blocked` (JSON), `until`, `check`, `waiting` (string set),
//!   `since`, `updated`, `written` and `token` (the decision's stamp), `deployment` (the id
//!   its markers carry; absent before 0.4.0: markers without one), `members` (string set:
//!   a shared name's members, the owner among them; absent for a name held alone). Layout-1 items (no `layout`, a bare instance id as `owner`, an
//!   `intent`) are read in place and rewritten as layout 2 by their next decision.
//! - owner index, `pk` = `owner#<owner>`: `names` (string set), written in the same
//!   transaction as the lock whose holder changes.
//! - the deployed configuration, `pk` = `config#reconciler`.
//! - failed logins of a source prefix, `pk` = `source#<prefix>`: `failures`,
//!   `failed_since`, `expires` (the end of the window, for a table TTL).
//! - the last clean reconcile of everything, `pk` = `swept#reconciler`: `started` (epoch
//!   seconds), `updated`.
//! - a sharded run, `pk` = `run#<id>` (see [`runs`]).
//!
//! Every write is conditional on what was read.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::DateTime;

use super::sdk_error_on;
use crate::config::Deployed;
use crate::error::{Error, Result};
use crate::hosts::{Attempt, HostName, HostRecord, Prefix, SourceCount, SourcePrefix};
use crate::lock::{
    Blocked, Cas, Decision, Expect, HostTouch, Loaded, Lock, LockWrite, Stamp, Unreadable,
};
use crate::marker::{DeploymentId, MarkerStyle};
use crate::model::{Home, InstanceId, Owner, RecordSet};
use crate::name::Fqdn;
use crate::ports::Locks;
use crate::shard::{PartDone, Run};

mod runs;

/// The item layout this release writes.
pub const LAYOUT: u64 = 2;
const OWNER_PREFIX: &str = "owner#";
const HOST_PREFIX: &str = "host#";
const SAMPLE_PREFIX: &str = "sample#";
const SOURCE_PREFIX: &str = "source#";
const CONFIG_KEY: &str = "config#reconciler";
const SWEPT_KEY: &str = "swept#reconciler";
/// Keys per BatchGetItem call.
const KEYS_PER_BATCH: usize = 100;
/// Attempts at keys DynamoDB returns unprocessed.
const UNPROCESSED_ATTEMPTS: u32 = 5;
/// Every attribute goes through a `#` alias: several of our names (`owner`, `names`,
/// `check`, ...) are DynamoDB reserved words.
const ALIASES: [(&str, &str); 16] = [
    ("#a4", "ipv4"),
    ("#a6", "ipv6"),
    ("#al", "alerted"),
    ("#fc", "failures"),
    ("#fs", "failed_since"),
    ("#lu", "locked_until"),
    ("#v", "version"),
    ("#g", "gen"),
    ("#w", "waiting"),
    ("#c", "check"),
    ("#t", "until"),
    ("#u", "updated"),
    ("#n", "names"),
    ("#k", "pk"),
    ("#o", "owner"),
    ("#ex", "expires"),
];
/// Tries at counting one password check: each lost try means that another check (or a
/// success) changed the counters meanwhile. At most `LOCKOUT_AFTER` checks are counted
/// before a lockout, so only a storm of successes outlasts this; the check is then
/// refused, as if locked out.
const ATTEMPT_TRIES: u32 = 12;

/// The aliases an expression uses (DynamoDB refuses unused ones).
fn aliases(expr: &str) -> HashMap<String, String> {
    ALIASES
        .iter()
        .filter(|(a, _)| expr.contains(a))
        .map(|(a, n)| (a.to_string(), n.to_string()))
        .collect()
}

pub struct DynamoLocks {
    client: Client,
    table: String,
    /// Owners of layout-1 items (bare instance ids) live here.
    home: Home,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn now_text() -> String {
    DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

fn unexpected(message: String) -> Error {
    Error::Unexpected {
        service: "dynamodb",
        message,
    }
}

fn owner_key(owner: &Owner) -> String {
    format!("{OWNER_PREFIX}{owner}")
}

/// The index key a layout-1 item's holder was listed under.
fn legacy_owner_key(owner: &Owner) -> String {
    match owner.instance_id() {
        Some(id) => format!("{OWNER_PREFIX}{id}"),
        None => owner_key(owner),
    }
}

/// What one item of the table is.
enum Parsed {
    Lock(Box<Lock>),
    Index(Owner, BTreeSet<Fqdn>),
    Host(Box<HostRecord>),
    /// A host's item that cannot be read: the host is not known to be gone.
    BadHost(HostName, String),
    /// The recorded configuration, or an item of a later release.
    Other,
}

fn text<'a>(item: &'a Item, k: &str) -> Option<&'a String> {
    item.get(k).and_then(|v| v.as_s().ok())
}

fn number(item: &Item, k: &str) -> Option<u64> {
    item.get(k)?.as_n().ok()?.parse().ok()
}

/// An owner as a lock or index item names it: qualified, or a bare instance id (layout 1,
/// an instance of `home`).
fn parse_owner(raw: &str, home: &Home) -> std::result::Result<Owner, String> {
    if raw.contains('/') {
        Owner::parse(raw)
    } else {
        InstanceId::parse(raw).map(|id| home.instance(id))
    }
}

fn parse_item(item: &Item, home: &Home) -> std::result::Result<Parsed, Unreadable> {
    let key = text(item, "pk").cloned().unwrap_or_default();
    let bad = |name: Option<Fqdn>, reason: String| Unreadable {
        key: key.clone(),
        name,
        reason,
    };
    if let Some(raw) = key.strip_prefix(OWNER_PREFIX) {
        let owner = parse_owner(raw, home).map_err(|e| bad(None, e))?;
        let names = item
            .get("names")
            .and_then(|v| v.as_ss().ok())
            .into_iter()
            .flatten()
            .filter_map(|n| Fqdn::parse(n).ok())
            .collect();
        return Ok(Parsed::Index(owner, names));
    }
    if let Some(raw) = key.strip_prefix(HOST_PREFIX) {
        return match (HostName::parse(raw), parse_host(item, raw)) {
            (_, Ok(h)) => Ok(Parsed::Host(Box::new(h))),
            (Ok(name), Err(e)) => Ok(Parsed::BadHost(name, e)),
            (Err(_), Err(e)) => Err(bad(None, e)),
        };
    }
    if key.contains('#') {
        return Ok(Parsed::Other);
    }
    let name = Fqdn::parse(&key).map_err(|e| bad(None, format!("key is not a name: {e}")))?;
    parse_lock(item, name.clone(), home)
        .map(|l| Parsed::Lock(Box::new(l)))
        .map_err(|e| bad(Some(name), e))
}

fn parse_lock(item: &Item, name: Fqdn, home: &Home) -> std::result::Result<Lock, String> {
    let sets = |k: &str| -> std::result::Result<Option<Vec<RecordSet>>, String> {
        text(item, k)
            .map(|j| serde_json::from_str(j).map_err(|e| format!("{k}: {e}")))
            .transpose()
    };
    let version = number(item, "version").ok_or("no version")?;
    let owner = text(item, "owner")
        .map(|o| parse_owner(o, home))
        .transpose()?;
    let since = text(item, "since").cloned();
    match number(item, "layout") {
        None => {
            // Layout 1: always held; its intent, if any, may have been in flight.
            let intent = sets("intent")?;
            Ok(Lock {
                name,
                version,
                gen: version,
                holder: Some(owner.ok_or("no owner")?),
                members: BTreeSet::new(),
                records: sets("records")?.unwrap_or_default(),
                blocked: Vec::new(),
                until: 0,
                check: intent.is_some(),
                zones: None,
                waiting: BTreeSet::new(),
                since,
                legacy: Some(intent.unwrap_or_default()),
                stamp: None,
                deployment: None,
                style: MarkerStyle::Plain,
            })
        }
        Some(LAYOUT) => {
            let blocked: Vec<Blocked> = text(item, "blocked")
                .map(|j| serde_json::from_str(j).map_err(|e| format!("blocked: {e}")))
                .transpose()?
                .unwrap_or_default();
            let owners = |key: &str| {
                item.get(key)
                    .and_then(|v| v.as_ss().ok())
                    .into_iter()
                    .flatten()
                    .map(|o| Owner::parse(o).map_err(|e| format!("{key}: {e}")))
                    .collect::<std::result::Result<BTreeSet<_>, _>>()
            };
            let waiting = owners("waiting")?;
            let members = owners("members")?;
            Ok(Lock {
                name,
                version,
                gen: number(item, "gen").ok_or("no gen").and_then(|g| {
                    match g <= crate::model::MAX_GEN {
                        true => Ok(g),
                        false => Err("gen above 10^15, which no release writes"),
                    }
                })?,
                holder: owner,
                members,
                records: sets("records")?.unwrap_or_default(),
                blocked,
                until: number(item, "until").unwrap_or(0) as i64,
                check: item
                    .get("check")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false),
                zones: text(item, "zones")
                    .map(|j| serde_json::from_str(j).map_err(|e| format!("zones: {e}")))
                    .transpose()?,
                waiting,
                since,
                legacy: None,
                stamp: match (number(item, "written"), number(item, "token")) {
                    (Some(at), Some(token)) => Some(Stamp {
                        at: at as i64,
                        token,
                    }),
                    _ => None,
                },
                deployment: text(item, "deployment")
                    .map(|d| DeploymentId::parse(d).map_err(|e| format!("deployment: {e}")))
                    .transpose()?,
                style: text(item, "marker_style")
                    .map(|s| MarkerStyle::parse(s).map_err(|e| format!("marker_style: {e}")))
                    .transpose()?
                    .unwrap_or_default(),
            })
        }
        Some(other) => Err(format!(
            "layout {other} is newer than this release reads ({LAYOUT})"
        )),
    }
}

fn parse_host(item: &Item, raw: &str) -> std::result::Result<HostRecord, String> {
    let num = |k: &str| number(item, k).unwrap_or(0) as i64;
    let flag = |k: &str, default: bool| {
        item.get(k)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(default)
    };
    let names = item
        .get("names")
        .and_then(|v| v.as_ss().ok())
        .into_iter()
        .flatten()
        .map(|n| Fqdn::parse(n).map_err(|e| format!("names: {e}")))
        .collect::<std::result::Result<BTreeSet<_>, _>>()?;
    Ok(HostRecord {
        name: HostName::parse(raw)?,
        version: number(item, "version").ok_or("no version")?,
        names,
        password: text(item, "password").cloned().ok_or("no password")?,
        sample: flag("sample", false),
        bound: flag("bound", true),
        prefixes: item
            .get("prefixes")
            .and_then(|v| v.as_ss().ok())
            .into_iter()
            .flatten()
            .map(|p| Prefix::parse(p).map_err(|e| format!("prefixes: {e}")))
            .collect::<std::result::Result<BTreeSet<_>, _>>()?,
        lease: num("lease"),
        ipv4: text(item, "ipv4").and_then(|a| a.parse().ok()),
        ipv6: text(item, "ipv6").and_then(|a| a.parse().ok()),
        updated: num("updated"),
        created: num("created"),
        failures: num("failures") as u32,
        failed_since: num("failed_since"),
        locked_until: num("locked_until"),
        alerted: text(item, "alerted").cloned(),
    })
}

/// The failed logins of a source prefix (none without an item).
fn parse_source(item: Option<&Item>) -> SourceCount {
    let num = |k: &str| item.and_then(|i| number(i, k)).unwrap_or(0);
    SourceCount {
        failures: u32::try_from(num("failures")).unwrap_or(u32::MAX),
        since: num("failed_since") as i64,
    }
}

/// The keys of `load`: the names' locks, the owners' index items and the hosts' items.
fn load_keys(names: &[Fqdn], owners: &[Owner]) -> BTreeSet<String> {
    names
        .iter()
        .map(|n| n.to_string())
        .chain(owners.iter().map(owner_key))
        .chain(
            owners
                .iter()
                .filter_map(Owner::host)
                .map(|h| format!("{HOST_PREFIX}{h}")),
        )
        .collect()
}

/// The item of a host credential.
fn host_item(h: &HostRecord) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".to_string(), s(format!("{HOST_PREFIX}{}", h.name))),
        ("version".to_string(), n(h.version)),
        ("password".to_string(), s(h.password.as_str())),
        ("sample".to_string(), AttributeValue::Bool(h.sample)),
        ("bound".to_string(), AttributeValue::Bool(h.bound)),
        ("lease".to_string(), n(h.lease)),
        ("updated".to_string(), n(h.updated)),
        ("created".to_string(), n(h.created)),
        ("failures".to_string(), n(h.failures)),
        ("failed_since".to_string(), n(h.failed_since)),
        ("locked_until".to_string(), n(h.locked_until)),
    ]);
    if !h.names.is_empty() {
        item.insert(
            "names".into(),
            AttributeValue::Ss(h.names.iter().map(|x| x.to_string()).collect()),
        );
    }
    // Only when declared: an item without it (every item before 0.4) has none.
    if !h.prefixes.is_empty() {
        item.insert(
            "prefixes".into(),
            AttributeValue::Ss(h.prefixes.iter().map(|p| p.to_string()).collect()),
        );
    }
    if let Some(a) = h.ipv4 {
        item.insert("ipv4".into(), s(a.to_string()));
    }
    if let Some(a) = h.ipv6 {
        item.insert("ipv6".into(), s(a.to_string()));
    }
    if let Some(a) = &h.alerted {
        item.insert("alerted".into(), s(a.as_str()));
    }
    item
}

/// The update expression of a host touch, and its values.
fn touch_expression(t: &HostTouch) -> (String, Vec<(&'static str, AttributeValue)>) {
    let (mut set, mut remove, mut values) = (Vec::new(), Vec::new(), Vec::new());
    if let Some((v4, v6, at)) = &t.addresses {
        match v4 {
            Some(a) => {
                set.push("#a4 = :a4");
                values.push((":a4", s(a.to_string())));
            }
            None => remove.push("#a4"),
        }
        match v6 {
            Some(a) => {
                set.push("#a6 = :a6");
                values.push((":a6", s(a.to_string())));
            }
            None => remove.push("#a6"),
        }
        set.push("#u = :at");
        values.push((":at", n(at)));
    }
    if let Some(at) = t.refreshed {
        set.push("#u = :rt");
        values.push((":rt", n(at)));
    }
    match &t.alerted {
        Some(Some(kind)) => {
            set.push("#al = :al");
            values.push((":al", s(kind.as_str())));
        }
        Some(None) => remove.push("#al"),
        None => {}
    }
    if let Some(f) = &t.failure {
        set.extend(["#fc = :fc", "#fs = :fs", "#lu = :lu"]);
        values.push((":fc", n(f.failures)));
        values.push((":fs", n(f.failed_since)));
        values.push((":lu", n(f.locked_until)));
    }
    let mut expr = String::new();
    if !set.is_empty() {
        expr += &format!("SET {}", set.join(", "));
    }
    if !remove.is_empty() {
        expr += &format!(" REMOVE {}", remove.join(", "));
    }
    (expr.trim().to_string(), values)
}

/// A comma-separated list attribute (absent: empty).
fn words(item: &Item, key: &str) -> Vec<String> {
    text(item, key)
        .map(|t| {
            t.split(',')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_config(item: &Item) -> Option<Deployed> {
    let allowed_domains = text(item, "allowed_domains")?
        .split(',')
        .filter(|d| !d.is_empty())
        .map(Fqdn::parse)
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()?;
    Some(Deployed {
        allowed_domains,
        name_tag: text(item, "name_tag")?.clone(),
        ttl: number(item, "ttl")? as i64,
        accounts: words(item, "accounts"),
        regions: words(item, "regions"),
        member_role: text(item, "member_role")
            .cloned()
            .unwrap_or_else(|| crate::config::DEFAULT_MEMBER_ROLE.to_string()),
        deployment: text(item, "deployment").and_then(|d| DeploymentId::parse(d).ok()),
        marker_style: text(item, "marker_style")
            .and_then(|s| MarkerStyle::parse(s).ok())
            .unwrap_or_default(),
        lifecycle_hooks: words(item, "lifecycle_hooks"),
        shared_names: item
            .get("shared_names")
            .is_some_and(|v| matches!(v, AttributeValue::Bool(true))),
        reverse_records: text(item, "reverse_records").is_some_and(|v| v == "true"),
        version: text(item, "version").cloned(),
        function: text(item, "function").cloned().unwrap_or_default(),
        updated: text(item, "updated").cloned().unwrap_or_default(),
    })
}

/// Adds one parsed item to what a read found.
fn absorb(
    out: &mut Loaded,
    parsed: std::result::Result<Parsed, Unreadable>,
    key: String,
    item: &Item,
) {
    match parsed {
        Ok(Parsed::Lock(l)) => out.locks.push(*l),
        Ok(Parsed::Index(owner, names)) => {
            if !item.contains_key("names") {
                out.empty_index.push(key);
            }
            out.index.entry(owner).or_default().extend(names);
        }
        Ok(Parsed::Host(h)) => out.hosts.push(*h),
        Ok(Parsed::BadHost(name, reason)) => {
            out.unreadable.push(Unreadable {
                key: format!("{HOST_PREFIX}{name}"),
                name: None,
                reason,
            });
            out.unreadable_hosts.insert(name);
        }
        Ok(Parsed::Other) => {}
        Err(bad) => out.unreadable.push(bad),
    }
}

/// The item a decision writes (a whole new item: what the previous layout had is gone).
fn decision_item(d: &Decision) -> Result<Item> {
    let now = now_text();
    let mut item: Item = HashMap::from([
        ("pk".to_string(), s(d.name.as_str())),
        ("layout".to_string(), n(LAYOUT)),
        (
            "version".to_string(),
            n(match d.expect {
                Expect::Absent => 1,
                Expect::Version(v) => v + 1,
            }),
        ),
        ("gen".to_string(), n(d.gen)),
        ("records".to_string(), s(json(&d.records)?)),
        ("until".to_string(), n(d.until)),
        ("zones".to_string(), s(json(&d.zones)?)),
        ("updated".to_string(), s(now.as_str())),
        ("written".to_string(), n(d.stamp.at)),
        ("token".to_string(), n(d.stamp.token)),
    ]);
    if let Some(id) = &d.deployment {
        item.insert("deployment".into(), s(id.as_str()));
    }
    if d.style != MarkerStyle::Plain {
        item.insert("marker_style".into(), s(crate::config::style_name(d.style)));
    }
    if let Some(h) = &d.holder {
        item.insert("owner".into(), s(h.to_string()));
        item.insert("since".into(), s(d.since.clone().unwrap_or(now)));
    }
    if !d.blocked.is_empty() {
        item.insert("blocked".into(), s(json(&d.blocked)?));
    }
    if !d.members.is_empty() {
        item.insert(
            "members".into(),
            AttributeValue::Ss(d.members.iter().map(|o| o.to_string()).collect()),
        );
    }
    if !d.waiting.is_empty() {
        item.insert(
            "waiting".into(),
            AttributeValue::Ss(d.waiting.iter().map(|o| o.to_string()).collect()),
        );
    }
    Ok(item)
}

/// JSON of the lists kept in lock items.
fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| unexpected(e.to_string()))
}

impl DynamoLocks {
    /// An SDK error of a call on the lock table, naming the table.
    fn fail<E>(&self, operation: &'static str, err: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        sdk_error_on(
            "dynamodb",
            operation,
            Some(&format!("lock table \"{}\"", self.table)),
            err,
        )
    }

    /// An `UpdateItem`'s answer: its output, `None` when its condition failed, or the
    /// error.
    pub(super) fn unless_condition_failed<O>(
        &self,
        answer: std::result::Result<O, SdkError<UpdateItemError, HttpResponse>>,
    ) -> Result<Option<O>> {
        match answer {
            Ok(out) => Ok(Some(out)),
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail("UpdateItem", e)),
        }
    }

    pub fn new(client: Client, table: &str, home: Home) -> Self {
        DynamoLocks {
            client,
            table: table.to_string(),
            home,
        }
    }

    /// One item of the table, read consistently.
    async fn item(&self, key: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail("GetItem", e))?;
        Ok(out.item)
    }

    /// A host touch as one item of a transaction (only while the host item exists).
    fn touch_item(&self, t: &HostTouch) -> Result<TransactWriteItem> {
        let (expr, values) = touch_expression(t);
        let condition = "attribute_exists(#k)";
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{HOST_PREFIX}{}", t.name)))
            .update_expression(&expr)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(aliases(&format!("{expr} {condition}"))));
        for (k, v) in values {
            update = update.expression_attribute_values(k, v);
        }
        let update = update.build().map_err(|e| unexpected(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn index_update(&self, key: String, op: &str, name: &Fqdn) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(format!("{op} #n :n"))
            .set_expression_attribute_names(Some(aliases("#n")))
            .expression_attribute_values(":n", AttributeValue::Ss(vec![name.to_string()]))
            .build()
            .map_err(|e| unexpected(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The owner-index changes a decision makes (none when the holder and members stay).
    fn index_changes(&self, d: &Decision) -> Result<Vec<TransactWriteItem>> {
        let moves = d.index_moves();
        let mut out = Vec::with_capacity(moves.removed.len() + moves.added.len());
        for p in moves.removed {
            let key = if d.previous_legacy && d.previous.as_ref() == Some(p) {
                legacy_owner_key(p)
            } else {
                owner_key(p)
            };
            out.push(self.index_update(key, "DELETE", &d.name)?);
        }
        for h in moves.added {
            out.push(self.index_update(owner_key(h), "ADD", &d.name)?);
        }
        Ok(out)
    }

    async fn decide(&self, d: &Decision) -> Result<Cas> {
        let item = decision_item(d)?;
        let version = match d.expect {
            Expect::Absent => 1,
            Expect::Version(v) => v + 1,
        };
        let (condition, values): (&str, Vec<(&str, AttributeValue)>) = match d.expect {
            Expect::Absent => ("attribute_not_exists(#k)", vec![]),
            Expect::Version(v) => ("#v = :v", vec![(":v", n(v))]),
        };
        let mut index = self.index_changes(d)?;
        if let Some(t) = &d.host {
            index.push(self.touch_item(t)?);
        }
        if index.is_empty() {
            let mut req = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(aliases(condition)));
            for (k, v) in values {
                req = req.expression_attribute_values(k, v);
            }
            return match req.send().await {
                Ok(_) => Ok(Cas::Won(version)),
                Err(SdkError::ServiceError(se))
                    if matches!(se.err(), PutItemError::ConditionalCheckFailedException(_)) =>
                {
                    Ok(Cas::Lost)
                }
                Err(e) => Err(self.fail("PutItem", e)),
            };
        }
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(aliases(condition)));
        for (k, v) in values {
            put = put.expression_attribute_values(k, v);
        }
        let put = put.build().map_err(|e| unexpected(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(index);
        self.transact(items, version).await
    }

    /// Runs a transaction whose first item is the name lock; a failed condition on it is
    /// a lost compare-and-swap.
    async fn transact(&self, items: Vec<TransactWriteItem>, won: u64) -> Result<Cas> {
        let r = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match r {
            Ok(_) => Ok(Cas::Won(won)),
            Err(SdkError::ServiceError(se)) => {
                if let TransactWriteItemsError::TransactionCanceledException(tc) = se.err() {
                    let codes: Vec<&str> = tc
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None"))
                        .collect();
                    if codes.first() == Some(&"ConditionalCheckFailed") {
                        return Ok(Cas::Lost);
                    }
                    // Cancelled for another reason (a conflicting transaction, throttling):
                    // nothing was written; retry.
                    return Err(Error::Aws {
                        service: "dynamodb",
                        operation: "TransactWriteItems",
                        message: format!("transaction cancelled: {codes:?}"),
                        retryable: true,
                    });
                }
                Err(self.fail("TransactWriteItems", SdkError::ServiceError(se)))
            }
            Err(e) => Err(self.fail("TransactWriteItems", e)),
        }
    }

    /// A conditional UpdateItem; the version always moves on.
    async fn update(
        &self,
        name: &Fqdn,
        expr: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        won: u64,
    ) -> Result<Cas> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(name.as_str()))
            .update_expression(expr)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(aliases(&format!("{expr} {condition}"))))
            .expression_attribute_values(":now", s(now_text()));
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        Ok(match self.unless_condition_failed(req.send().await)? {
            Some(_) => Cas::Won(won),
            None => Cas::Lost,
        })
    }

    async fn batch_get(&self, keys: Vec<String>) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(KEYS_PER_BATCH) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|k| HashMap::from([("pk".to_string(), s(k.as_str()))]))
                .collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == UNPROCESSED_ATTEMPTS {
                    return Err(Error::Aws {
                        service: "dynamodb",
                        operation: "BatchGetItem",
                        message: format!("{} keys still unprocessed", pending.len()),
                        retryable: true,
                    });
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| unexpected(e.to_string()))?;
                let page = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| self.fail("BatchGetItem", e))?;
                out.extend(
                    page.responses()
                        .and_then(|r| r.get(&self.table))
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
                if let Some(left) = page.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    pending = left.keys().to_vec();
                }
            }
        }
        Ok(out)
    }
}

impl DynamoLocks {
    /// One conditional update of a source prefix's item; `None` when its condition failed.
    async fn update_source(
        &self,
        key: &str,
        expr: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<SourceCount>> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(expr)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(aliases(&format!("{expr} {condition}"))))
            .return_values(ReturnValue::AllNew);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        Ok(self
            .unless_condition_failed(req.send().await)?
            .map(|out| parse_source(out.attributes())))
    }
}

impl Locks for DynamoLocks {
    async fn load(&self, names: &[Fqdn], owners: &[Owner]) -> Result<Loaded> {
        let keys: Vec<String> = load_keys(names, owners).into_iter().collect();
        let mut out = Loaded::default();
        for item in self.batch_get(keys).await? {
            let key = text(&item, "pk").cloned().unwrap_or_default();
            absorb(&mut out, parse_item(&item, &self.home), key, &item);
        }
        Ok(out)
    }

    async fn scan(&self) -> Result<Loaded> {
        self.scan_pages(None).await
    }

    async fn scan_segment(&self, segment: u32, of: u32) -> Result<Loaded> {
        self.scan_pages(Some((segment, of))).await
    }

    async fn item_count(&self) -> Result<Option<u64>> {
        self.count_items().await
    }

    async fn start_run(&self, run: &Run) -> Result<bool> {
        self.put_run(run).await
    }

    async fn split_part(&self, run: &str, part: &str, children: &[String]) -> Result<()> {
        self.add_split(run, part, children).await
    }

    async fn record_part(&self, run: &str, done: &PartDone) -> Result<Option<Run>> {
        self.add_part(run, done).await
    }

    async fn run(&self, id: &str) -> Result<Option<Run>> {
        self.get_run(id).await
    }

    async fn write(&self, w: &LockWrite) -> Result<Cas> {
        match w {
            LockWrite::Decide(d) => self.decide(d).await,
            LockWrite::Wait {
                name,
                version,
                waiting,
            } => {
                let list: Vec<String> = waiting.iter().map(|o| o.to_string()).collect();
                self.update(
                    name,
                    "ADD #w :w SET #v = :v1, #u = :now",
                    "#v = :v",
                    vec![
                        (":w", AttributeValue::Ss(list)),
                        (":v", n(version)),
                        (":v1", n(version + 1)),
                    ],
                    version + 1,
                )
                .await
            }
            LockWrite::Settle { name, version } => {
                self.update(
                    name,
                    "REMOVE #c SET #v = :v1, #u = :now",
                    "#v = :v",
                    vec![(":v", n(version)), (":v1", n(version + 1))],
                    version + 1,
                )
                .await
            }
            LockWrite::Forget { name, version } => {
                let condition = "#v = :v AND attribute_not_exists(#o)";
                let r = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(name.as_str()))
                    .condition_expression(condition)
                    .set_expression_attribute_names(Some(aliases(condition)))
                    .expression_attribute_values(":v", n(version))
                    .send()
                    .await;
                match r {
                    Ok(_) => Ok(Cas::Won(version + 1)),
                    Err(SdkError::ServiceError(se))
                        if matches!(
                            se.err(),
                            DeleteItemError::ConditionalCheckFailedException(_)
                        ) =>
                    {
                        Ok(Cas::Lost)
                    }
                    Err(e) => Err(self.fail("DeleteItem", e)),
                }
            }
            LockWrite::Check { name, gen, now } => {
                // The version the write lands on is not known here (the condition is on
                // the generation); callers of a check do not need it.
                self.update(
                    name,
                    "SET #c = :yes, #t = :until, #v = #v + :one, #u = :now",
                    "#g = :g",
                    vec![
                        (":yes", AttributeValue::Bool(true)),
                        (":until", n(now)),
                        (":one", n(1)),
                        (":g", n(gen)),
                    ],
                    0,
                )
                .await
            }
        }
    }

    async fn prune_index(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            let r = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(key.as_str()))
                .condition_expression("attribute_not_exists(#n)")
                .set_expression_attribute_names(Some(aliases("#n")))
                .send()
                .await;
            if let Err(e) = r {
                tracing::debug!(key, error = %self.fail("DeleteItem", e), "empty owner index kept");
            }
        }
        Ok(())
    }

    async fn deployed(&self) -> Result<Option<Deployed>> {
        Ok(self.item(CONFIG_KEY).await?.as_ref().and_then(parse_config))
    }

    async fn record_deployed(&self, d: &Deployed) -> Result<()> {
        let domains: Vec<String> = d.allowed_domains.iter().map(|x| x.to_string()).collect();
        let mut put = self.client.put_item();
        if let Some(id) = &d.deployment {
            put = put.item("deployment", s(id.as_str()));
        }
        if d.marker_style != MarkerStyle::Plain {
            put = put.item("marker_style", s(crate::config::style_name(d.marker_style)));
        }
        if let Some(v) = &d.version {
            put = put.item("version", s(v.as_str()));
        }
        if !d.lifecycle_hooks.is_empty() {
            put = put.item("lifecycle_hooks", s(d.lifecycle_hooks.join(",")));
        }
        if d.shared_names {
            put = put.item("shared_names", AttributeValue::Bool(true));
        }
        if d.reverse_records {
            put = put.item("reverse_records", s("true"));
        }
        put.table_name(&self.table)
            .item("pk", s(CONFIG_KEY))
            .item("allowed_domains", s(domains.join(",")))
            .item("name_tag", s(d.name_tag.as_str()))
            .item("ttl", n(d.ttl))
            .item("accounts", s(d.accounts.join(",")))
            .item("regions", s(d.regions.join(",")))
            .item("member_role", s(d.member_role.as_str()))
            .item("function", s(d.function.as_str()))
            .item("updated", s(d.updated.as_str()))
            .send()
            .await
            .map_err(|e| self.fail("PutItem", e))?;
        Ok(())
    }

    async fn swept(&self) -> Result<Option<i64>> {
        Ok(self
            .item(SWEPT_KEY)
            .await?
            .and_then(|i| number(&i, "started"))
            .map(|t| t as i64))
    }

    async fn record_swept(&self, started: i64) -> Result<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(SWEPT_KEY))
            .item("started", n(started))
            .item("updated", s(now_text()))
            .condition_expression("attribute_not_exists(#k) OR #st < :st")
            .expression_attribute_names("#k", "pk")
            .expression_attribute_names("#st", "started")
            .expression_attribute_values(":st", n(started))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // A run that started later has recorded its start already: it stays.
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }

    async fn host(&self, name: &HostName) -> Result<Option<HostRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{HOST_PREFIX}{name}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail("GetItem", e))?;
        out.item()
            .map(|item| parse_host(item, name.as_str()).map_err(unexpected))
            .transpose()
    }

    async fn sample_host(&self, name: &Fqdn) -> Result<Option<HostName>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{SAMPLE_PREFIX}{name}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail("GetItem", e))?;
        Ok(out
            .item()
            .and_then(|i| text(i, "host"))
            .and_then(|h| HostName::parse(h).ok()))
    }

    async fn put_host(&self, host: &HostRecord, create: bool) -> Result<Cas> {
        let (condition, values): (&str, Vec<(&str, AttributeValue)>) = if create {
            ("attribute_not_exists(#k)", vec![])
        } else {
            ("#v = :v", vec![(":v", n(host.version.saturating_sub(1)))])
        };
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(host_item(host)))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(aliases(condition)));
        for (k, v) in values {
            put = put.expression_attribute_values(k, v);
        }
        let mut items = vec![TransactWriteItem::builder()
            .put(put.build().map_err(|e| unexpected(e.to_string()))?)
            .build()];
        if host.sample {
            for name in &host.names {
                let pointer = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(format!("{SAMPLE_PREFIX}{name}")))
                    .item("host", s(host.name.as_str()))
                    .build()
                    .map_err(|e| unexpected(e.to_string()))?;
                items.push(TransactWriteItem::builder().put(pointer).build());
            }
        }
        self.transact(items, host.version).await
    }

    async fn delete_host(&self, host: &HostRecord) -> Result<()> {
        let keys = std::iter::once(format!("{HOST_PREFIX}{}", host.name)).chain(
            host.names
                .iter()
                .filter(|_| host.sample)
                .map(|n| format!("{SAMPLE_PREFIX}{n}")),
        );
        for key in keys {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(key))
                .send()
                .await
                .map_err(|e| self.fail("DeleteItem", e))?;
        }
        Ok(())
    }

    async fn touch_host(&self, touch: &HostTouch) -> Result<()> {
        let (expr, values) = touch_expression(touch);
        if expr.is_empty() {
            return Ok(());
        }
        let condition = "attribute_exists(#k)";
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{HOST_PREFIX}{}", touch.name)))
            .update_expression(&expr)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(aliases(&format!("{expr} {condition}"))));
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        // A failed condition: the credential was removed meanwhile, nothing to record.
        self.unless_condition_failed(req.send().await)?;
        Ok(())
    }

    /// A compare-and-swap of the three counters on the values last seen (the caller's
    /// read, then what a lost try found), so that every check counted is counted once,
    /// on the counters as they are, and none while the credential is locked out.
    async fn count_attempt(&self, read: &HostRecord, now: i64) -> Result<Attempt> {
        let key = format!("{HOST_PREFIX}{}", read.name);
        let mut seen = read.clone();
        for _ in 0..ATTEMPT_TRIES {
            let Some(next) = seen.attempt(now) else {
                return Ok(Attempt::Locked);
            };
            let was = [
                ("#fc", ":fc0", i64::from(seen.failures)),
                ("#fs", ":fs0", seen.failed_since),
                ("#lu", ":lu0", seen.locked_until),
            ];
            // A counter that reads 0 may be absent (an item made by hand).
            let same: Vec<String> = was
                .iter()
                .map(|(a, v, x)| match x {
                    0 => format!("(attribute_not_exists({a}) OR {a} = {v})"),
                    _ => format!("{a} = {v}"),
                })
                .collect();
            let condition = format!("attribute_exists(#k) AND {}", same.join(" AND "));
            let expr = "SET #fc = :fc, #fs = :fs, #lu = :lu";
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(key.as_str()))
                .update_expression(expr)
                .condition_expression(&condition)
                .set_expression_attribute_names(Some(aliases(&format!("{expr} {condition}"))))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .expression_attribute_values(":fc", n(next.failures))
                .expression_attribute_values(":fs", n(next.failed_since))
                .expression_attribute_values(":lu", n(next.locked_until));
            for (_, v, x) in was {
                req = req.expression_attribute_values(v, n(x));
            }
            let lost = match req.send().await {
                Ok(_) => return Ok(Attempt::Counted(next)),
                Err(SdkError::ServiceError(se)) => match se.err() {
                    UpdateItemError::ConditionalCheckFailedException(e) => e.item().cloned(),
                    _ => return Err(self.fail("UpdateItem", SdkError::ServiceError(se))),
                },
                Err(e) => return Err(self.fail("UpdateItem", e)),
            };
            // The item as it is: in the error, or read again.
            seen = match lost {
                Some(item) => parse_host(&item, read.name.as_str()).map_err(unexpected)?,
                None => match self.host(&read.name).await? {
                    Some(h) => h,
                    None => return Ok(Attempt::Gone),
                },
            };
        }
        Ok(Attempt::Locked)
    }

    async fn load_with_source(
        &self,
        names: &[Fqdn],
        owners: &[Owner],
        source: &SourcePrefix,
    ) -> Result<(Loaded, SourceCount)> {
        let source_key = format!("{SOURCE_PREFIX}{source}");
        let mut keys = load_keys(names, owners);
        keys.insert(source_key.clone());
        let mut out = Loaded::default();
        let mut count = SourceCount::default();
        for item in self.batch_get(keys.into_iter().collect()).await? {
            let key = text(&item, "pk").cloned().unwrap_or_default();
            if key == source_key {
                count = parse_source(Some(&item));
                continue;
            }
            absorb(&mut out, parse_item(&item, &self.home), key, &item);
        }
        Ok((out, count))
    }

    /// One more in the current window (`ADD`, conditional on the window), or a new window
    /// (conditional on there being none current): atomic either way, so that no failure of
    /// any container is lost.
    async fn count_source_failure(
        &self,
        source: &SourcePrefix,
        now: i64,
        window: i64,
    ) -> Result<SourceCount> {
        let key = format!("{SOURCE_PREFIX}{source}");
        let cut = now - window;
        for _ in 0..3 {
            let more = self
                .update_source(
                    &key,
                    "ADD #fc :one",
                    "#fs > :cut",
                    vec![(":one", n(1)), (":cut", n(cut))],
                )
                .await?;
            if let Some(count) = more {
                return Ok(count);
            }
            let fresh = self
                .update_source(
                    &key,
                    "SET #fc = :one, #fs = :now, #ex = :ex",
                    "attribute_not_exists(#k) OR #fs <= :cut",
                    vec![
                        (":one", n(1)),
                        (":now", n(now)),
                        (":ex", n(now + window)),
                        (":cut", n(cut)),
                    ],
                )
                .await?;
            if let Some(count) = fresh {
                return Ok(count);
            }
        }
        Err(unexpected(format!(
            "the failed logins of {source} kept changing"
        )))
    }
}
