//! Route53: the wire tactics over the raw API ([`Route53Dns`]: zone cache, read strategy,
//! batch limits, per-name isolation of refused batches), and the SDK client that speaks
//! the raw API for real ([`SdkRoute53`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsError;
use aws_sdk_route53::types::{self as r53, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use aws_sdk_route53::Client;
use aws_smithy_runtime_api::client::result::SdkError;
use futures_util::stream::{self, StreamExt};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::sdk_error;
use crate::bucket::TokenBucket;
use crate::decide::Seen;
use crate::error::{Error, Result};
use crate::metrics::{Route53Counts, Route53Usage};
use crate::model::{Change, ChangeAction, RecordSet, RecordType, Zone, ZoneId};
use crate::name::{Fqdn, MARKER_LABEL};
use crate::ports::{
    Applied, Dns, ListStart, RawChange, RawPage, RawSet, Route53Api, ZONES_AT_ONCE,
};
use crate::window::{SendWindow, TOO_LATE};

/// How long the hosted-zone list is reused before it is read again (in tokio's time, which
/// is the system's in production and follows a paused test clock in simulations).
const ZONE_CACHE: Duration = Duration::from_secs(300);
/// Route53's limits per change batch (they are the decisions' business too: a name's
/// changes in one zone must fit one batch).
pub use crate::decide::{MAX_BATCH_CHARS, MAX_BATCH_VALUES};
/// Above this many names to read in one zone whose size is not known, the zone is listed
/// once instead.
const WHOLE_ZONE_ABOVE: usize = 20;
/// The most record sets Route53 returns in one `ListResourceRecordSets` page.
const SETS_PER_PAGE: u64 = 300;
/// Page size when reading one name (its sets, then its marker, are near each other).
const NAME_PAGE: i32 = 10;

/// The [`Dns`] port over any implementation of the raw API.
pub struct Route53Dns<A> {
    api: A,
    zones: Mutex<Option<(Instant, Arc<Vec<Zone>>)>>,
    /// Every call waits here for the budget (none: unpaced).
    pacer: Option<Pacer>,
    usage: Route53Usage,
}

/// How fast a process may call Route53, as two token buckets like Route53's own: requests,
/// and record changes (each CREATE or DELETE of a batch). A call waits until both allow it,
/// so that a large run is slowed down rather than throttled into failures; the budget is
/// the process's own share of the account's (other tools use the account too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub requests_per_second: f64,
    pub request_burst: f64,
    pub changes_per_second: f64,
    pub change_burst: f64,
}

impl Budget {
    /// Sustained rates, with bursts of 5 seconds of requests and 10 of changes (Route53's
    /// own request bucket holds 5 seconds: 50 at 10 per second).
    pub fn per_second(requests: u32, changes: u32) -> Budget {
        Budget {
            requests_per_second: f64::from(requests.max(1)),
            request_burst: f64::from(requests.max(1)) * 5.0,
            changes_per_second: f64::from(changes.max(1)),
            change_burst: f64::from(changes.max(1)) * 10.0,
        }
    }
}

#[derive(Debug)]
struct Pacer {
    /// Requests, changes.
    buckets: std::sync::Mutex<(TokenBucket, TokenBucket)>,
}

impl Pacer {
    fn new(b: Budget) -> Pacer {
        Pacer {
            buckets: std::sync::Mutex::new((
                TokenBucket::full(b.requests_per_second, b.request_burst),
                TokenBucket::full(b.changes_per_second, b.change_burst),
            )),
        }
    }

    /// Waits until one request with `changes` record changes may be sent; how long it waited.
    async fn admit(&self, changes: usize) -> Duration {
        self.admit_within(changes, |_| true)
            .await
            .unwrap_or(Duration::ZERO)
    }

    /// [`Pacer::admit`], unless the wait is one `in_time` refuses: then nothing is taken
    /// from the budget, nothing is waited for, and the answer is `None`.
    async fn admit_within(
        &self,
        changes: usize,
        in_time: impl Fn(Duration) -> bool,
    ) -> Option<Duration> {
        let wait = {
            let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let now = tokio::time::Instant::now();
            // Paid in both buckets at the first instant both allow it, so that neither
            // is overdrawn by a call the other held back.
            let n = changes as f64;
            let at = b.0.ready(1.0, now).max(b.1.ready(n, now));
            if !in_time(at - now) {
                return None;
            }
            b.0.reserve(1.0, at);
            if changes > 0 {
                b.1.reserve(n, at);
            }
            at - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Some(wait)
    }
}

impl<A: Route53Api> Route53Dns<A> {
    /// Unpaced (tests); a deployed function paces itself ([`Route53Dns::with_budget`]).
    pub fn new(api: A) -> Self {
        Route53Dns {
            api,
            zones: Mutex::new(None),
            pacer: None,
            usage: Route53Usage::default(),
        }
    }

    /// The same adapter, every call paced to `budget`.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.pacer = Some(Pacer::new(budget));
        self
    }

    /// Waits for the budget; how long.
    async fn pace(&self, changes: usize) -> u64 {
        match &self.pacer {
            Some(p) => p.admit(changes).await.as_millis() as u64,
            None => 0,
        }
    }

    /// Waits for the budget, and counts the call.
    async fn admit(&self, changes: usize) {
        let waited = self.pace(changes).await;
        self.usage.count(changes, waited);
    }

    /// One change batch, paced and counted, sent only if `window` is still open once the
    /// budget allows it (`None`: not sent). A batch the budget would let go only after the
    /// window has closed is not waited for, nor paid for: once a run's window is out, its
    /// remaining batches fail at once instead of each waiting its turn to be dropped.
    async fn change_batch(
        &self,
        zone: &ZoneId,
        raw: &[RawChange],
        window: &SendWindow<'_>,
    ) -> Option<Result<Option<String>>> {
        let waited = match &self.pacer {
            Some(p) => {
                let wait = p
                    .admit_within(raw.len(), |wait| window.open_after(wait))
                    .await?;
                wait.as_millis() as u64
            }
            None => 0,
        };
        if !window.open() {
            return None;
        }
        self.usage.count(raw.len(), waited);
        Some(self.api.change_batch(zone, raw).await)
    }

    /// The raw API underneath (tests reach the fake through it).
    pub fn api(&self) -> &A {
        &self.api
    }

    /// One page of a listing; a zone that no longer exists holds nothing, and the zone list
    /// that still named it is read again on the next call (a deleted zone must not fail
    /// every run that reads it until the cache runs out).
    async fn page(
        &self,
        zone: &ZoneId,
        start: Option<&ListStart>,
        max_items: Option<i32>,
    ) -> Result<RawPage> {
        self.admit(0).await;
        match self.api.list_record_sets(zone, start, max_items).await? {
            Some(page) => Ok(page),
            None => {
                tracing::warn!(zone = %zone, "hosted zone no longer exists; read as empty");
                *self.zones.lock().await = None;
                Ok(RawPage::default())
            }
        }
    }

    /// One name's sets and marker: a listing that starts at the name and stops once past
    /// where Route53 sorts its marker.
    async fn read_name(&self, zone: &ZoneId, name: &Fqdn) -> Result<Seen> {
        let marker = name.marker_name();
        let stop_after = sort_key(&marker);
        let mut seen = Seen::default();
        let mut start = Some(ListStart {
            name: format!("{name}."),
            rtype: None,
            identifier: None,
        });
        while let Some(from) = start.take() {
            let page = self.page(zone, Some(&from), Some(NAME_PAGE)).await?;
            for set in &page.sets {
                let at = set.name.trim_end_matches('.').to_ascii_lowercase();
                if sort_key(&at) > stop_after {
                    return Ok(finish(seen));
                }
                if at == name.as_str() {
                    absorb(&mut seen, zone, set, false);
                } else if at == marker {
                    absorb(&mut seen, zone, set, true);
                }
            }
            start = page.next;
        }
        Ok(finish(seen))
    }

    /// The whole zone, page by page, keeping what is seen for the names `keep` wants.
    async fn list(
        &self,
        zone: &ZoneId,
        keep: impl Fn(&Fqdn) -> bool,
    ) -> Result<BTreeMap<Fqdn, Seen>> {
        let mut out: BTreeMap<Fqdn, Seen> = BTreeMap::new();
        let mut start: Option<ListStart> = None;
        loop {
            let page = self.page(zone, start.as_ref(), None).await?;
            for set in &page.sets {
                let at = set.name.trim_end_matches('.');
                let (name, at_marker) = match Fqdn::of_marker(at) {
                    Some(name) => (name, true),
                    None => match Fqdn::parse(at) {
                        Ok(name) => (name, false),
                        Err(_) => continue,
                    },
                };
                if keep(&name) {
                    absorb(out.entry(name).or_default(), zone, set, at_marker);
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(out.into_iter().map(|(n, s)| (n, finish(s))).collect())
    }

    /// The record sets `zone` held when the zone list was last read (`None`: not known).
    async fn known_records(&self, zone: &ZoneId) -> Option<u64> {
        let cache = self.zones.lock().await;
        let (_, zones) = cache.as_ref()?;
        zones.iter().find(|z| &z.id == zone)?.records
    }

    /// Sends one batch. Refused because record set protections cover some of its names,
    /// those names are taken out (`Protected`: no retry can land them) and the rest is sent
    /// again as one batch; refused otherwise with several names in it, each name is tried
    /// alone so that one name in the way cannot hold up the others. Every call, the
    /// name-by-name ones included, is sent only while `window` is open; the names of a call
    /// not sent fail.
    async fn send(
        &self,
        zone: &ZoneId,
        batch: &[(Fqdn, Vec<Change>)],
        window: &SendWindow<'_>,
        out: &mut BTreeMap<(Fqdn, ZoneId), Applied>,
    ) {
        let too_late = || Applied::Failed(Error::Incomplete(TOO_LATE.into()));
        let mut pending: Vec<&(Fqdn, Vec<Change>)> = batch.iter().collect();
        while !pending.is_empty() {
            let raw: Vec<RawChange> = pending
                .iter()
                .flat_map(|(_, cs)| cs.iter().map(raw_change))
                .collect();
            let why = match self.change_batch(zone, &raw, window).await {
                None => {
                    for (name, _) in pending {
                        out.insert((name.clone(), zone.clone()), too_late());
                    }
                    return;
                }
                Some(Ok(None)) => {
                    for (name, _) in pending {
                        out.insert((name.clone(), zone.clone()), Applied::Done);
                    }
                    return;
                }
                Some(Ok(Some(why))) => why,
                Some(Err(e)) => {
                    let message = e.to_string();
                    for (name, _) in pending {
                        out.insert(
                            (name.clone(), zone.clone()),
                            Applied::Failed(Error::Aws {
                                service: "route53",
                                operation: "ChangeResourceRecordSets",
                                message: message.clone(),
                                retryable: e.is_retryable(),
                            }),
                        );
                    }
                    return;
                }
            };
            let protected = protected_in(&why, &pending);
            if !protected.is_empty() {
                pending.retain(|(name, _)| !protected.contains_key(name));
                for (name, types) in protected {
                    let why = why.clone();
                    out.insert((name, zone.clone()), Applied::Protected { types, why });
                }
                continue;
            }
            if let [(name, _)] = pending.as_slice() {
                out.insert((name.clone(), zone.clone()), Applied::Rejected(why));
                return;
            }
            for entry in pending {
                let (name, cs) = entry;
                let raw: Vec<RawChange> = cs.iter().map(raw_change).collect();
                let r = match self.change_batch(zone, &raw, window).await {
                    None => too_late(),
                    Some(Ok(None)) => Applied::Done,
                    Some(Ok(Some(why))) => match protected_in(&why, &[entry]).remove(name) {
                        Some(types) => Applied::Protected { types, why },
                        None => Applied::Rejected(why),
                    },
                    Some(Err(e)) => Applied::Failed(e),
                };
                out.insert((name.clone(), zone.clone()), r);
            }
            return;
        }
    }
}

/// The names of `batch` a refusal says a record set protection covers, with the types
/// covered (`Txt`: the name's marker).
///
/// Route53 documents that it refuses a change to a protected name and type with
/// `InvalidChangeBatch` and that the message carries the protection's comment, but not the
/// message's exact text. Its other `InvalidChangeBatch` messages name a record set as
/// `[name='web.example.com.', type='A']`, one sentence per refused change, so a sentence
/// that says "protect" names what is protected. One that names nothing, in a batch of one
/// name, covers all of that name's changes: nothing of them can land.
fn protected_in(why: &str, batch: &[&(Fqdn, Vec<Change>)]) -> BTreeMap<Fqdn, BTreeSet<RecordType>> {
    let mut out: BTreeMap<Fqdn, BTreeSet<RecordType>> = BTreeMap::new();
    let mut unnamed = false;
    for sentence in sentences(why) {
        if !sentence.to_ascii_lowercase().contains("protect") {
            continue;
        }
        let named = named_sets(sentence);
        unnamed |= named.is_empty();
        for (at, rtype) in named {
            for (name, _) in batch {
                let t = match RecordType::parse(&rtype) {
                    Some(RecordType::Txt) if at == name.marker_name() => RecordType::Txt,
                    Some(t) if RecordType::AT_NAME.contains(&t) && at == name.as_str() => t,
                    _ => continue,
                };
                out.entry(name.clone()).or_default().insert(t);
            }
        }
    }
    if let ([(name, changes)], true) = (batch, unnamed && out.is_empty()) {
        out.insert(name.clone(), changes.iter().map(|c| c.set.rtype).collect());
    }
    out
}

/// The sentences of an `InvalidChangeBatch` message: its messages, joined by `; ` (the SDK
/// adapter) or listed as `[first, Second]` (Route53's own message).
fn sentences(why: &str) -> Vec<&str> {
    let why = why.trim();
    let why = why
        .strip_prefix('[')
        .and_then(|w| w.strip_suffix(']'))
        .unwrap_or(why);
    let bytes = why.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i + 2 < bytes.len() {
        if matches!(bytes[i], b',' | b';')
            && bytes[i + 1] == b' '
            && bytes[i + 2].is_ascii_uppercase()
        {
            out.push(&why[start..i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push(&why[start..]);
    out
}

/// Every `[name='…', type='…']` of a sentence, as (name without the trailing dot,
/// lowercase; type).
fn named_sets(sentence: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = sentence;
    while let Some(at) = rest.find("[name='") {
        rest = &rest[at + "[name='".len()..];
        let Some((name, after)) = rest.split_once('\'') else {
            break;
        };
        let Some(after) = after.strip_prefix(", type='") else {
            continue;
        };
        let Some((rtype, after)) = after.split_once('\'') else {
            break;
        };
        out.push((
            name.trim_end_matches('.').to_ascii_lowercase(),
            rtype.to_ascii_uppercase(),
        ));
        rest = after;
    }
    out
}

impl<A: Route53Api> Dns for Route53Dns<A> {
    async fn zones(&self) -> Result<Vec<Zone>> {
        let mut cache = self.zones.lock().await;
        if let Some((at, zones)) = cache.as_ref() {
            if at.elapsed() < ZONE_CACHE {
                return Ok(zones.as_ref().clone());
            }
        }
        self.admit(0).await;
        let zones = Arc::new(self.api.list_hosted_zones().await?);
        *cache = Some((Instant::now(), zones.clone()));
        Ok(zones.as_ref().clone())
    }

    /// Route53 reads are the scarce ones (5 requests per second per account), so a zone's
    /// names are read the way that costs fewer requests ([`read_by`]): the whole zone, in
    /// pages of 300 record sets, or name by name, a request each. Listing, only the names
    /// asked for are kept.
    async fn read(&self, zone: &ZoneId, names: &[Fqdn]) -> Result<BTreeMap<Fqdn, Seen>> {
        let mut out: BTreeMap<Fqdn, Seen> = BTreeMap::new();
        match read_by(self.known_records(zone).await, names.len()) {
            ReadBy::Listing => {
                let wanted: BTreeSet<&Fqdn> = names.iter().collect();
                out = self.list(zone, |n| wanted.contains(n)).await?;
            }
            ReadBy::Names => {
                for name in names {
                    out.insert(name.clone(), self.read_name(zone, name).await?);
                }
            }
        }
        for name in names {
            out.entry(name.clone()).or_default();
        }
        Ok(out)
    }

    async fn read_zone(&self, zone: &ZoneId) -> Result<BTreeMap<Fqdn, Seen>> {
        self.list(zone, |_| true).await
    }

    async fn change(
        &self,
        changes: &[Change],
        window: &SendWindow<'_>,
    ) -> BTreeMap<(Fqdn, ZoneId), Applied> {
        let mut per_zone: BTreeMap<ZoneId, BTreeMap<Fqdn, Vec<Change>>> = BTreeMap::new();
        for c in changes {
            per_zone
                .entry(c.set.zone_id.clone())
                .or_default()
                .entry(c.name.clone())
                .or_default()
                .push(c.clone());
        }
        // Zones at once (their batches independent: each a compare-and-swap of its own
        // names), each zone's batches one after another; the pacer spaces them all.
        let sent: Vec<BTreeMap<(Fqdn, ZoneId), Applied>> = stream::iter(per_zone)
            .map(|(zone, names)| async move {
                let mut out = BTreeMap::new();
                for batch in split_batches(names.into_iter().collect()) {
                    self.send(&zone, &batch, window, &mut out).await;
                }
                out
            })
            .buffer_unordered(ZONES_AT_ONCE)
            .collect()
            .await;
        sent.into_iter().flatten().collect()
    }

    fn usage(&self) -> Route53Counts {
        self.usage.read()
    }

    fn take_applied(&self) -> Vec<String> {
        self.api.take_applied()
    }

    async fn in_sync(&self, id: &str) -> Result<bool> {
        self.admit(0).await;
        self.api.get_change(id).await
    }
}

/// How [`Route53Dns`] reads some names of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadBy {
    /// The whole zone, page by page.
    Listing,
    /// Each name on its own (a listing that starts at it).
    Names,
}

/// Reading `names` names of a zone holding `records` record sets: by listing when its pages
/// (`ceil(records / 300)`) are fewer requests than the names; without a count, by listing
/// above [`WHOLE_ZONE_ABOVE`] names.
///
/// Why by cost and not by the number of names alone: a shard that owns 50 names of a
/// 400,000-record zone must not list the zone (1,334 pages, 4.5 minutes of the account's 5
/// requests per second, for 50 names), and one that owns 2,000 names of a 4,000-record
/// zone should list it (14 pages instead of 2,000 requests).
fn read_by(records: Option<u64>, names: usize) -> ReadBy {
    match records {
        Some(sets) if sets.div_ceil(SETS_PER_PAGE).max(1) < names as u64 => ReadBy::Listing,
        Some(_) => ReadBy::Names,
        None if names > WHOLE_ZONE_ABOVE => ReadBy::Listing,
        None => ReadBy::Names,
    }
}

/// Route53's listing order: labels reversed, with the trailing dot, in ASCII.
pub(crate) fn sort_key(name: &str) -> String {
    let mut labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    labels.reverse();
    labels.join(".") + "."
}

/// Adds one listed set to what is seen for a name (at the name, or at its marker name).
fn absorb(seen: &mut Seen, zone: &ZoneId, set: &RawSet, at_marker: bool) {
    let plain =
        |t: RecordType| RecordSet::new(zone.clone(), t, set.ttl.unwrap_or(-1), set.values.clone());
    if at_marker {
        if set.rtype == "TXT"
            && !set.special
            && seen.marker.is_none()
            && seen.marker_taken.is_none()
        {
            seen.marker = Some(plain(RecordType::Txt));
        } else {
            seen.marker_taken = Some(format!("{} at {MARKER_LABEL}", set.rtype));
            seen.marker = None;
        }
        return;
    }
    match RecordType::parse(&set.rtype) {
        Some(t) if RecordType::AT_NAME.contains(&t) && !set.special && set.ttl.is_some() => {
            seen.sets.push(plain(t))
        }
        _ => {
            seen.others.insert(set.rtype.clone());
        }
    }
}

fn finish(mut seen: Seen) -> Seen {
    seen.sets.sort();
    seen
}

fn raw_change(c: &Change) -> RawChange {
    let name = match c.set.rtype {
        RecordType::Txt => c.name.marker_name(),
        _ => c.name.to_string(),
    };
    RawChange {
        action: c.action,
        name,
        rtype: c.set.rtype.as_str().to_string(),
        ttl: c.set.ttl,
        values: c.set.values.clone(),
    }
}

/// Splits a zone's changes into batches within Route53's limits, never splitting one
/// name's changes (its DELETE and CREATE, marker included, must land together).
pub fn split_batches(names: Vec<(Fqdn, Vec<Change>)>) -> Vec<Vec<(Fqdn, Vec<Change>)>> {
    let mut batches: Vec<Vec<(Fqdn, Vec<Change>)>> = Vec::new();
    let (mut values, mut chars) = (0usize, 0usize);
    for (name, changes) in names {
        let v: usize = changes.iter().map(|c| c.set.values.len()).sum();
        let c: usize = changes
            .iter()
            .flat_map(|c| c.set.values.iter())
            .map(String::len)
            .sum();
        let full = values + v > MAX_BATCH_VALUES || chars + c > MAX_BATCH_CHARS;
        if batches.is_empty() || full {
            batches.push(Vec::new());
            (values, chars) = (0, 0);
        }
        values += v;
        chars += c;
        if let Some(last) = batches.last_mut() {
            last.push((name, changes));
        }
    }
    batches
}

/// The raw API through the SDK.
pub struct SdkRoute53 {
    client: Client,
    /// Ids of the batches applied since they were last taken.
    applied: std::sync::Mutex<Vec<String>>,
}

impl SdkRoute53 {
    pub fn new(client: Client) -> Self {
        SdkRoute53 {
            client,
            applied: Default::default(),
        }
    }
}

fn build_change(c: &RawChange) -> Result<r53::Change> {
    let bad = |e: aws_sdk_route53::error::BuildError| Error::Unexpected {
        service: "route53",
        message: e.to_string(),
    };
    let mut records = Vec::new();
    for v in &c.values {
        records.push(ResourceRecord::builder().value(v).build().map_err(bad)?);
    }
    let set = ResourceRecordSet::builder()
        .name(&c.name)
        .r#type(RrType::from(c.rtype.as_str()))
        .ttl(c.ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(bad)?;
    let action = match c.action {
        ChangeAction::Create => r53::ChangeAction::Create,
        ChangeAction::Delete => r53::ChangeAction::Delete,
    };
    r53::Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(bad)
}

impl Route53Api for SdkRoute53 {
    async fn list_hosted_zones(&self) -> Result<Vec<Zone>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_hosted_zones()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("route53", "ListHostedZones", e))?;
            for z in page.hosted_zones() {
                let Ok(name) = Fqdn::parse(z.name()) else {
                    continue;
                };
                let id = z.id().trim_start_matches("/hostedzone/");
                out.push(Zone {
                    id: ZoneId(id.into()),
                    name,
                    private: z.config().is_some_and(|c| c.private_zone()),
                    records: z
                        .resource_record_set_count()
                        .and_then(|n| u64::try_from(n).ok()),
                });
            }
            match page.next_marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn list_record_sets(
        &self,
        zone: &ZoneId,
        start: Option<&ListStart>,
        max_items: Option<i32>,
    ) -> Result<Option<RawPage>> {
        let mut req = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&*zone.0);
        if let Some(s) = start {
            req = req
                .start_record_name(&s.name)
                .set_start_record_type(s.rtype.as_deref().map(RrType::from))
                .set_start_record_identifier(s.identifier.clone());
        }
        if let Some(m) = max_items {
            req = req.max_items(m);
        }
        let page = match req.send().await {
            Ok(page) => page,
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), ListResourceRecordSetsError::NoSuchHostedZone(_)) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(sdk_error("route53", "ListResourceRecordSets", e)),
        };
        let sets = page
            .resource_record_sets()
            .iter()
            .map(|s| RawSet {
                name: s.name().to_ascii_lowercase(),
                rtype: s.r#type().as_str().to_string(),
                ttl: s.ttl(),
                values: s
                    .resource_records()
                    .iter()
                    .map(|r| r.value().to_string())
                    .collect(),
                special: s.alias_target().is_some() || s.set_identifier().is_some(),
            })
            .collect();
        let next = match (page.is_truncated(), page.next_record_name()) {
            (true, Some(n)) => Some(ListStart {
                name: n.to_string(),
                rtype: page.next_record_type().map(|t| t.as_str().to_string()),
                identifier: page.next_record_identifier().map(str::to_string),
            }),
            _ => None,
        };
        Ok(Some(RawPage { sets, next }))
    }

    async fn change_batch(&self, zone: &ZoneId, changes: &[RawChange]) -> Result<Option<String>> {
        if changes.is_empty() {
            return Ok(None);
        }
        let built = changes
            .iter()
            .map(build_change)
            .collect::<Result<Vec<_>>>()?;
        let batch = ChangeBatch::builder()
            .comment("ec2-dns")
            .set_changes(Some(built))
            .build()
            .map_err(|e| Error::Unexpected {
                service: "route53",
                message: e.to_string(),
            })?;
        let sent = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&*zone.0)
            .change_batch(batch)
            .send()
            .await;
        match sent {
            Ok(out) => {
                if let Some(info) = out.change_info() {
                    self.applied
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(info.id().to_string());
                }
                Ok(None)
            }
            Err(SdkError::ServiceError(se)) => {
                if let ChangeResourceRecordSetsError::InvalidChangeBatch(e) = se.err() {
                    let mut m: Vec<String> = e.messages().to_vec();
                    m.extend(e.message().map(str::to_string));
                    return Ok(Some(m.join("; ")));
                }
                Err(sdk_error(
                    "route53",
                    "ChangeResourceRecordSets",
                    SdkError::ServiceError(se),
                ))
            }
            Err(e) => Err(sdk_error("route53", "ChangeResourceRecordSets", e)),
        }
    }

    fn take_applied(&self) -> Vec<String> {
        std::mem::take(&mut *self.applied.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn get_change(&self, id: &str) -> Result<bool> {
        let out = self
            .client
            .get_change()
            .id(id)
            .send()
            .await
            .map_err(|e| sdk_error("route53", "GetChange", e))?;
        Ok(out
            .change_info()
            .is_some_and(|c| *c.status() == r53::ChangeStatus::Insync))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marker::Marker;
    use crate::model::Owner;
    use crate::window::ROUTE53_CALL_MAX;

    /// One fresh claim: an A set and its marker.
    fn claim(n: u32, values: usize) -> (Fqdn, Vec<Change>) {
        let name = Fqdn::parse(&format!("host{n}.dyn.example.com")).unwrap();
        let zone = ZoneId("Z1".into());
        let ips: Vec<String> = (0..values)
            .map(|i| match values {
                1 => format!("203.0.{}.{}", n % 250, i),
                _ => format!("2001:db8:{n:x}:{i:x}:{:0>40}", 1),
            })
            .collect();
        let set = RecordSet::new(zone.clone(), RecordType::A, 60, ips);
        let marker = Marker {
            owner: crate::marker::Marked::Owner(
                Owner::parse(&format!("123456789012/us-east-1/i-{n:017x}")).unwrap(),
            ),
            gen: 1,
            types: [RecordType::A].into(),
            deployment: None,
        }
        .set(&zone);
        let changes = [set, marker]
            .into_iter()
            .map(|set| Change {
                action: ChangeAction::Create,
                name: name.clone(),
                set,
            })
            .collect();
        (name, changes)
    }

    fn within_limits(batches: &[Vec<(Fqdn, Vec<Change>)>]) {
        for b in batches {
            let changes = b.iter().flat_map(|(_, cs)| cs.iter());
            let values: usize = changes.clone().map(|c| c.set.values.len()).sum();
            let chars: usize = changes
                .flat_map(|c| c.set.values.iter())
                .map(String::len)
                .sum();
            assert!(
                values <= MAX_BATCH_VALUES && chars <= MAX_BATCH_CHARS,
                "{values} values, {chars} chars"
            );
        }
    }

    #[test]
    fn batches_stay_within_both_limits_and_never_split_a_name() {
        // A thousand fresh claims: 2,000 values, about 60 characters each: two batches.
        let names: Vec<_> = (1..=1000).map(|n| claim(n, 1)).collect();
        let batches = split_batches(names.clone());
        assert_eq!(batches.len(), 2);
        within_limits(&batches);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 1000);
        // The character limit binds before the value limit when values are long: 300 names
        // of five 60-character values are 1,800 values (two batches by values) but more
        // than 100,000 characters.
        let wide: Vec<_> = (1..=300).map(|n| claim(n, 5)).collect();
        let batches = split_batches(wide);
        assert!(batches.len() >= 4, "{} batches", batches.len());
        within_limits(&batches);
        for b in &batches {
            for (_, cs) in b {
                assert_eq!(cs.len(), 2, "a name's set and marker travel together");
            }
        }
    }

    #[test]
    fn the_largest_swap_of_a_name_fits_one_batch() {
        use crate::decide::{too_large_for_a_batch, MAX_SET_VALUES};
        use crate::model::MAX_GEN;
        let name = Fqdn::parse("web.dyn.example.com").unwrap();
        let zone = ZoneId("Z1".into());
        // Full-length IPv6 addresses (39 characters), all different between old and new.
        let aaaa = |base: u32| {
            let values = (0..MAX_SET_VALUES as u32)
                .map(|i| format!("2001:0db8:{:04x}:ffff:ffff:ffff:ffff:{:04x}", base, i))
                .collect();
            RecordSet::new(zone.clone(), RecordType::Aaaa, 60, values)
        };
        let a = |ip: &str| RecordSet::new(zone.clone(), RecordType::A, 60, vec![ip.into()]);
        let marker = |n: u32| {
            Marker {
                owner: crate::marker::Marked::Owner(
                    Owner::parse(&format!("123456789012/ap-southeast-4/i-{n:017x}")).unwrap(),
                ),
                gen: MAX_GEN,
                types: [RecordType::A, RecordType::Aaaa].into(),
                // The longest deployment id a marker may carry.
                deployment: Some(
                    crate::marker::DeploymentId::parse("abcdefghijklmnopqrstuvwx").unwrap(),
                ),
            }
            .set(&zone)
        };
        let change = |action, set| Change {
            action,
            name: name.clone(),
            set,
        };
        let swap = vec![
            change(ChangeAction::Delete, aaaa(1)),
            change(ChangeAction::Delete, a("203.0.113.1")),
            change(ChangeAction::Delete, marker(1)),
            change(ChangeAction::Create, aaaa(2)),
            change(ChangeAction::Create, a("203.0.113.200")),
            change(ChangeAction::Create, marker(2)),
        ];
        assert_eq!(too_large_for_a_batch(&swap), None);
        let batches = split_batches(vec![(name.clone(), swap.clone())]);
        assert_eq!(batches.len(), 1);
        within_limits(&batches);
        // A set an older release wrote with 800 addresses cannot be swapped in one batch.
        let mut big = swap;
        big[0]
            .set
            .values
            .extend((0..450).map(|i| format!("2001:0db8:0000:ffff:ffff:ffff:eeee:{i:04x}")));
        assert!(too_large_for_a_batch(&big).is_some_and(|r| r.contains("zone Z1")));
    }

    #[test]
    fn a_refusal_names_the_protected_sets_whatever_the_message_looks_like() {
        let web = claim(1, 1);
        let api = claim(2, 1);
        let batch = [&web, &api];
        let at = |n: &str, t: &str, tail: &str| {
            format!("Tried to delete resource record set [name='{n}.', type='{t}'] {tail}")
        };
        let protected = at(
            "host1.dyn.example.com",
            "A",
            "but it is protected (comment: freeze)",
        );
        let exists = at("host2.dyn.example.com", "A", "but it already exists");
        let marker = at(
            "_ec2-dns.host2.dyn.example.com",
            "TXT",
            "but it is protected",
        );
        // Route53's own form ("[first, Second]") and the SDK adapter's ("first; second").
        for why in [
            format!("[{protected}, {exists}]"),
            format!("{exists}; {protected}"),
        ] {
            let found = protected_in(&why, &batch);
            assert_eq!(
                found,
                BTreeMap::from([(web.0.clone(), BTreeSet::from([RecordType::A]))]),
                "{why}"
            );
        }
        let found = protected_in(&format!("[{marker}]"), &batch);
        assert_eq!(
            found,
            BTreeMap::from([(api.0.clone(), BTreeSet::from([RecordType::Txt]))])
        );
        // A refusal for another reason names nothing protected.
        assert!(protected_in(&format!("[{exists}]"), &batch).is_empty());
        // One that says "protected" but names nothing covers a lone name's every change.
        let vague = "The change is refused: a record set protection exists";
        assert!(
            protected_in(vague, &batch).is_empty(),
            "two names: unknown which"
        );
        assert_eq!(
            protected_in(vague, &[&web]),
            BTreeMap::from([(
                web.0.clone(),
                BTreeSet::from([RecordType::A, RecordType::Txt])
            )])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_the_budget_would_send_only_after_its_window_fails_at_once_and_costs_nothing() {
        use crate::testing::fakes::FakeRoute53;
        use crate::window::Clock;
        struct At(i64);
        impl Clock for At {
            fn now(&self) -> i64 {
                self.0
            }
        }
        let fake = FakeRoute53::default();
        fake.add_zone("Z1", "dyn.example.com", false);
        // Four record changes at once, then one a second.
        let dns = Route53Dns::new(fake).with_budget(Budget {
            requests_per_second: 100.0,
            request_burst: 100.0,
            changes_per_second: 1.0,
            change_burst: 4.0,
        });
        let changes =
            |ns: &[u32]| -> Vec<Change> { ns.iter().flat_map(|n| claim(*n, 1).1).collect() };
        let clock = At(1000);
        let window = |slack: i64| SendWindow {
            until: 1000 + ROUTE53_CALL_MAX + slack,
            call_max: ROUTE53_CALL_MAX,
            clock: &clock,
        };
        let started = tokio::time::Instant::now();
        let done = dns.change(&changes(&[1, 2]), &window(1)).await;
        assert!(
            done.values().all(|a| matches!(a, Applied::Done)),
            "{done:?}"
        );
        // The next name's two changes would go in two seconds: past a window of one.
        let late = dns.change(&changes(&[3]), &window(1)).await;
        assert!(
            late.values()
                .all(|a| matches!(a, Applied::Failed(e) if e.to_string().contains(TOO_LATE))),
            "{late:?}"
        );
        assert_eq!(started.elapsed(), Duration::ZERO, "not waited for");
        // Nothing was taken for it: with room, the same name waits two seconds, not four.
        let sent = dns.change(&changes(&[3]), &window(10)).await;
        assert!(
            sent.values().all(|a| matches!(a, Applied::Done)),
            "{sent:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(
            dns.usage().record_changes,
            6,
            "the late batch was never sent"
        );
    }

    #[test]
    fn a_zone_is_read_the_way_that_costs_fewer_requests() {
        // A shard's 50 names of a 400,000-record zone: 50 requests, not 1,334 pages.
        assert_eq!(read_by(Some(400_000), 50), ReadBy::Names);
        // 2,000 names of a 4,000-record zone: 14 pages, not 2,000 requests.
        assert_eq!(read_by(Some(4_000), 2_000), ReadBy::Listing);
        // Three names of a small zone: one page.
        assert_eq!(read_by(Some(40), 3), ReadBy::Listing);
        // One request either way: the name alone.
        assert_eq!(read_by(Some(0), 1), ReadBy::Names);
        assert_eq!(read_by(Some(300), 1), ReadBy::Names);
        // Size unknown: listed above 20 names, as before zones were counted.
        assert_eq!(read_by(None, 20), ReadBy::Names);
        assert_eq!(read_by(None, 21), ReadBy::Listing);
    }

    #[tokio::test]
    async fn a_large_zone_is_read_name_by_name_and_a_small_one_listed_by_the_requests_each_costs() {
        use crate::testing::fakes::FakeRoute53;
        let fake = FakeRoute53::default();
        let big = fake.add_zone("ZBIG", "big.example.com", false);
        let small = fake.add_zone("ZSMALL", "small.example.com", false);
        // 3,000 record sets: ten pages. 40: one.
        for n in 0..3000 {
            fake.put(
                &big,
                &format!("h{n}.big.example.com"),
                "A",
                60,
                &["203.0.113.1"],
            );
        }
        for n in 0..40 {
            let at = format!("h{n}.small.example.com");
            fake.put(&small, &at, "A", 60, &["203.0.113.2"]);
        }
        let dns = Route53Dns::new(fake);
        let zones = dns.zones().await.unwrap();
        let counted: Vec<_> = zones
            .iter()
            .map(|z| (z.id.to_string(), z.records))
            .collect();
        assert_eq!(
            counted,
            [("ZBIG".into(), Some(3000)), ("ZSMALL".into(), Some(40))]
        );
        let names = |zone: &str, n: usize| -> Vec<Fqdn> {
            (0..n)
                .map(|i| Fqdn::parse(&format!("h{i}.{zone}.example.com")).unwrap())
                .collect()
        };
        let requests_to_read = |zone: ZoneId, names: Vec<Fqdn>| {
            let dns = &dns;
            async move {
                let before = dns.usage();
                let seen = dns.read(&zone, &names).await.unwrap();
                for n in &names {
                    assert_eq!(seen[n].sets.len(), 1, "{n} read");
                }
                assert_eq!(seen.len(), names.len(), "only the names asked for");
                dns.usage().since(before).requests
            }
        };
        assert_eq!(requests_to_read(big.clone(), names("big", 5)).await, 5);
        assert_eq!(requests_to_read(big, names("big", 30)).await, 10);
        assert_eq!(requests_to_read(small, names("small", 3)).await, 1);
    }

    #[test]
    fn route53_sorts_a_name_its_marker_and_its_neighbours_by_reversed_labels() {
        let web = sort_key("web.dyn.example.com");
        let marker = sort_key("_ec2-dns.web.dyn.example.com");
        assert!(web < marker);
        // A neighbour whose label continues with a character below '.' sorts before the
        // marker, one below the name that sorts after `_` comes after it.
        assert!(sort_key("web-2.dyn.example.com") < marker);
        assert!(sort_key("a.web.dyn.example.com") > marker);
        assert!(sort_key("1.web.dyn.example.com") < marker);
    }
}
