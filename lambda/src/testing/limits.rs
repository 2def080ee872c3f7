//! AWS's rate limits over any port, in simulated time: [`Limited`] wraps a fake (or any
//! port) and makes every call wait for the tokens of the bucket AWS would charge it to, as
//! a client whose throttled calls are retried until they pass would wait. Run on a
//! current-thread runtime with tokio's clock paused, the waits cost no wall time: a run
//! of many simulated minutes takes seconds, and [`SimClock`] makes the reconciler's own
//! clock (windows, deadlines, lock stamps) follow the simulated time.
//!
//! Every bucket counts its calls, the tokens they took, the most tokens taken in any one
//! second and the time calls waited ([`Usage`]), so that a test can show a run stayed
//! within AWS's limits and what they cost it. The limits are [`Limits::aws`] (AWS's
//! published figures, each documented where it is defined) unless a test says otherwise.
//!
//! What a call costs follows what the SDK adapters in `crate::aws` send for it: pages of
//! `DescribeInstances` (1,000 instances each), `CreateTags` per account and region (500
//! instances each), pages of `ListHostedZones` (100 zones), one request per record-set page
//! or change batch (and one record change per change in it), DynamoDB request units.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::bucket::TokenBucket;
use crate::config::Deployed;
use crate::error::Result;
use crate::hosts::{Attempt, HostName, HostRecord, SourceCount, SourcePrefix};
use crate::lock::{Cas, HostTouch, Loaded, LockWrite};
use crate::model::{Home, Instance, InterfaceId, Owner, Zone, ZoneId};
use crate::name::Fqdn;
use crate::ports::{Instances, ListStart, Locks, RawChange, RawPage, Route53Api};
use crate::window::Clock;

/// A token bucket's figures: sustained tokens per second, and the most it holds (burst).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// The most tokens callers that wait as told can take within any one second.
    pub fn most_in_a_second(&self) -> f64 {
        self.burst + self.per_second
    }
}

/// EC2 `DescribeInstances`: a non-mutating action, whose request bucket holds 100 tokens
/// and refills at 20 per second, per account and region ("Request throttling for the
/// Amazon EC2 API", docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html,
/// "Request token bucket sizes and refill rates"; the page's own example is
/// `DescribeHosts`, another non-mutating action).
pub const EC2_DESCRIBE: Rate = Rate {
    per_second: 20.0,
    burst: 100.0,
};

/// EC2 `CreateTags`: the bucket of resource-mutating actions, 50 tokens refilled at 5 per
/// second, per account and region (same page, same table; we could not read that row in
/// the copy we had, so these are the figures of the issue that asked for this simulation:
/// check them against the page before relying on a margin).
pub const EC2_CREATE_TAGS: Rate = Rate {
    per_second: 5.0,
    burst: 50.0,
};

/// Route53 requests, every API together, per account: "five requests per second per AWS
/// account" (Route53 quotas, docs.aws.amazon.com/Route53/latest/DeveloperGuide/
/// DNSLimitations.html, "Maximums on API requests", for years). Since July 2026 the
/// throttling page (…/DeveloperGuide/throttling-api-requests.html) gives the account's
/// bucket 50 tokens refilled at 10 per second; the simulation keeps the older, stricter
/// figure and no burst beyond a few, so that a run that fits it fits the newer one too.
pub const ROUTE53_REQUESTS: Rate = Rate {
    per_second: 5.0,
    burst: 5.0,
};

/// Route53 record changes, per account ("change throughput", separate from requests, since
/// July 2026: same throttling page). We could not read its figures; until someone does,
/// the simulation refills at the function's own default budget
/// ([`crate::config::DEFAULT_ROUTE53_CHANGES`] per second), so that the time it reports is
/// what the function's pacing costs, and holds one full change batch
/// ([`crate::decide::MAX_BATCH_VALUES`] changes at most): a bucket smaller than a batch
/// would refuse a full batch forever. A test may set another (the `route53_changes` field).
pub const ROUTE53_CHANGES: Rate = Rate {
    per_second: crate::config::DEFAULT_ROUTE53_CHANGES as f64,
    burst: crate::decide::MAX_BATCH_VALUES as f64,
};

/// DynamoDB, the lock table (on demand): a new on-demand table sustains up to 12,000 read
/// request units and 4,000 write request units per second ("DynamoDB on-demand capacity
/// mode", docs.aws.amazon.com/amazondynamodb/latest/developerguide/
/// on-demand-capacity-mode.html, "Initial throughput and scaling properties"; the default
/// table quota is 40,000 of each). A strongly consistent read of an item up to 4 KB is one
/// read unit, a write of up to 1 KB one write unit, twice that inside a transaction. Far
/// above what a reconcile needs: modelled as one table-wide bucket each, with a second of
/// burst, not per partition.
pub const DYNAMODB_READS: Rate = Rate {
    per_second: 12_000.0,
    burst: 12_000.0,
};

/// See [`DYNAMODB_READS`].
pub const DYNAMODB_WRITES: Rate = Rate {
    per_second: 4_000.0,
    burst: 4_000.0,
};

/// Instances per `DescribeInstances` page (the adapter asks for 1,000).
const INSTANCES_PER_PAGE: usize = 1000;
/// Instance ids per `DescribeInstances` by id.
const IDS_PER_DESCRIBE: usize = 1000;
/// Instances per `CreateTags` call (the adapter's chunk).
const INSTANCES_PER_TAG_CALL: usize = 500;
/// Hosted zones per `ListHostedZones` page (Route53's most).
const ZONES_PER_PAGE: usize = 100;
/// Keys per `BatchGetItem`.
const KEYS_PER_BATCH_GET: usize = 100;
/// Items per `Scan` page: a page is at most 1 MB, and a lock or index item is taken to be
/// about 400 bytes; a page costs 256 read units (1 MB at 4 KB a unit, strongly consistent).
const ITEMS_PER_SCAN_PAGE: usize = 2_600;
const READ_UNITS_PER_SCAN_PAGE: f64 = 256.0;

/// The limits AWS applies to ec2-dns's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    /// `DescribeInstances` requests, per account and region.
    Ec2Describe,
    /// `CreateTags` requests, per account and region.
    Ec2CreateTags,
    /// Route53 requests, per account.
    Route53Requests,
    /// Route53 record changes, per account.
    Route53Changes,
    /// DynamoDB read request units, per table.
    DynamoReads,
    /// DynamoDB write request units, per table.
    DynamoWrites,
}

impl Limit {
    pub fn label(self) -> &'static str {
        match self {
            Limit::Ec2Describe => "EC2 DescribeInstances",
            Limit::Ec2CreateTags => "EC2 CreateTags",
            Limit::Route53Requests => "Route53 requests",
            Limit::Route53Changes => "Route53 record changes",
            Limit::DynamoReads => "DynamoDB read units",
            Limit::DynamoWrites => "DynamoDB write units",
        }
    }
}

/// One bucket: a limit, in the place AWS keeps it (EC2's per account and region; the
/// others' per account or table, `home` `None`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketId {
    pub limit: Limit,
    pub home: Option<Home>,
}

impl BucketId {
    fn of(limit: Limit) -> BucketId {
        BucketId { limit, home: None }
    }

    fn at(limit: Limit, home: &Home) -> BucketId {
        BucketId {
            limit,
            home: Some(home.clone()),
        }
    }
}

/// The figures of every limit, and a fixed time every call takes once admitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub ec2_describe: Rate,
    pub ec2_create_tags: Rate,
    pub route53_requests: Rate,
    pub route53_changes: Rate,
    pub dynamodb_reads: Rate,
    pub dynamodb_writes: Rate,
    /// Added to every call after its tokens are paid (`ZERO`: calls take no time).
    pub latency: Duration,
}

impl Limits {
    /// AWS's published figures (see each constant), calls taking no time of their own.
    pub fn aws() -> Limits {
        Limits {
            ec2_describe: EC2_DESCRIBE,
            ec2_create_tags: EC2_CREATE_TAGS,
            route53_requests: ROUTE53_REQUESTS,
            route53_changes: ROUTE53_CHANGES,
            dynamodb_reads: DYNAMODB_READS,
            dynamodb_writes: DYNAMODB_WRITES,
            latency: Duration::ZERO,
        }
    }

    pub fn rate(&self, limit: Limit) -> Rate {
        match limit {
            Limit::Ec2Describe => self.ec2_describe,
            Limit::Ec2CreateTags => self.ec2_create_tags,
            Limit::Route53Requests => self.route53_requests,
            Limit::Route53Changes => self.route53_changes,
            Limit::DynamoReads => self.dynamodb_reads,
            Limit::DynamoWrites => self.dynamodb_writes,
        }
    }
}

/// What one bucket saw since it was made or last [`Limiter::reset`].
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub id: BucketId,
    pub rate: Rate,
    pub calls: u64,
    pub tokens: f64,
    /// The most tokens paid within any one second (a window ending at a payment).
    pub peak: f64,
    /// Time calls spent waiting for this bucket's tokens.
    pub waited: Duration,
    /// From the start of counting to the last payment.
    pub span: Duration,
}

impl Usage {
    /// Why this bucket's calls went beyond what `rate` allows, if they did: more than
    /// burst + rate tokens within one second, or more in all than the burst and the refill
    /// of the time they took.
    pub fn beyond(&self, rate: &Rate) -> Option<String> {
        // Float sums of many fractional refills: a hair of slack.
        let slack = 1e-6 * self.tokens.max(1.0);
        if self.peak > rate.most_in_a_second() + slack {
            return Some(format!(
                "{}: {:.1} in one second, above {:.1} (burst {} + {} per second)",
                self.label(),
                self.peak,
                rate.most_in_a_second(),
                rate.burst,
                rate.per_second
            ));
        }
        let allowed = rate.burst + rate.per_second * self.span.as_secs_f64();
        if self.tokens > allowed + slack {
            return Some(format!(
                "{}: {:.1} in {:.1} s, above the {allowed:.1} a bucket of {} at {} per second allows",
                self.label(),
                self.tokens,
                self.span.as_secs_f64(),
                rate.burst,
                rate.per_second
            ));
        }
        None
    }

    pub fn label(&self) -> String {
        match &self.id.home {
            Some(h) => format!("{} ({h})", self.id.limit.label()),
            None => self.id.limit.label().to_string(),
        }
    }
}

/// One bucket and its counts.
struct Metered {
    bucket: TokenBucket,
    calls: u64,
    tokens: f64,
    waited: Duration,
    /// Payments within the last second before the latest: (when, tokens), oldest first.
    recent: VecDeque<(Instant, f64)>,
    in_window: f64,
    peak: f64,
    since: Instant,
    last: Instant,
}

impl Metered {
    fn new(rate: Rate) -> Metered {
        let now = Instant::now();
        Metered {
            bucket: TokenBucket::full(rate.per_second, rate.burst),
            calls: 0,
            tokens: 0.0,
            waited: Duration::ZERO,
            recent: VecDeque::new(),
            in_window: 0.0,
            peak: 0.0,
            since: now,
            last: now,
        }
    }

    /// Records a payment of `n` at `at` (payments come in order: the bucket pays in turn).
    fn record(&mut self, n: f64, at: Instant, waited: Duration) {
        self.calls += 1;
        self.tokens += n;
        self.waited += waited;
        self.last = self.last.max(at);
        if let Some(start) = at.checked_sub(Duration::from_secs(1)) {
            while let Some(&(t, m)) = self.recent.front() {
                if t > start {
                    break;
                }
                self.in_window -= m;
                self.recent.pop_front();
            }
        }
        self.recent.push_back((at, n));
        self.in_window += n;
        self.peak = self.peak.max(self.in_window);
    }
}

/// Every bucket of a simulated AWS, shared by the ports wrapped in [`Limited`].
pub struct Limiter {
    limits: Limits,
    buckets: Mutex<BTreeMap<BucketId, Metered>>,
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Limiter {
    pub fn new(limits: Limits) -> Arc<Limiter> {
        Arc::new(Limiter {
            limits,
            buckets: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Waits until one call costing `costs` (tokens per bucket) may be sent: paid in every
    /// bucket at the first instant all of them hold their share, then the fixed latency.
    pub async fn admit(&self, costs: &[(BucketId, f64)]) {
        let now = Instant::now();
        let at = {
            let mut buckets = guard(&self.buckets);
            let mut at = now;
            for (id, n) in costs {
                let b = buckets
                    .entry(id.clone())
                    .or_insert_with(|| Metered::new(self.limits.rate(id.limit)));
                at = at.max(b.bucket.ready(*n, now));
            }
            for (id, n) in costs {
                if let Some(b) = buckets.get_mut(id) {
                    b.bucket.reserve(*n, at);
                    b.record(*n, at, at - now);
                }
            }
            at
        };
        let until = at + self.limits.latency;
        if until > now {
            tokio::time::sleep_until(until).await;
        }
    }

    /// One call charged to one bucket.
    async fn one(&self, id: BucketId, n: f64) {
        self.admit(&[(id, n)]).await;
    }

    /// `calls` calls one after the other, each of one token.
    async fn each(&self, id: &BucketId, calls: usize) {
        for _ in 0..calls {
            self.one(id.clone(), 1.0).await;
        }
    }

    /// What every bucket saw, in bucket order.
    pub fn usage(&self) -> Vec<Usage> {
        guard(&self.buckets)
            .iter()
            .map(|(id, m)| Usage {
                id: id.clone(),
                rate: self.limits.rate(id.limit),
                calls: m.calls,
                tokens: m.tokens,
                peak: m.peak,
                waited: m.waited,
                span: m.last.saturating_duration_since(m.since),
            })
            .collect()
    }

    /// Starts counting afresh (a new run); the buckets keep their levels, as AWS's do.
    pub fn reset(&self) {
        let now = Instant::now();
        for m in guard(&self.buckets).values_mut() {
            m.calls = 0;
            m.tokens = 0.0;
            m.waited = Duration::ZERO;
            m.recent.clear();
            m.in_window = 0.0;
            m.peak = 0.0;
            m.since = now;
            m.last = now;
        }
    }
}

/// A port whose every call first waits for AWS's rate limits ([`Limiter`]).
pub struct Limited<P> {
    pub inner: P,
    pub limiter: Arc<Limiter>,
}

impl<P> Limited<P> {
    pub fn new(inner: P, limiter: Arc<Limiter>) -> Limited<P> {
        Limited { inner, limiter }
    }
}

fn pages(items: usize, per_page: usize) -> usize {
    items.div_ceil(per_page).max(1)
}

impl<P: Instances> Instances for Limited<P> {
    fn homes(&self) -> Vec<Home> {
        self.inner.homes()
    }

    /// By id, 1,000 ids per call (none for no id of `home`).
    async fn describe(&self, home: &Home, owners: &[Owner]) -> Result<Vec<Instance>> {
        let ids = owners.iter().filter(|o| o.home() == home).count();
        let calls = ids.div_ceil(IDS_PER_DESCRIBE);
        self.limiter
            .each(&BucketId::at(Limit::Ec2Describe, home), calls)
            .await;
        self.inner.describe(home, owners).await
    }

    /// One page before the answer, the further pages it took after it. With an id
    /// prefix, the listing is still of every tagged instance of the place (the prefix is
    /// kept client-side): its pages are counted whole.
    async fn tagged(&self, home: &Home, prefix: &str) -> Result<Vec<Instance>> {
        let id = BucketId::at(Limit::Ec2Describe, home);
        self.limiter.one(id.clone(), 1.0).await;
        let listed = self.inner.tagged(home, "").await?;
        let more = pages(listed.len(), INSTANCES_PER_PAGE) - 1;
        self.limiter.each(&id, more).await;
        let wanted = format!("i-{prefix}");
        Ok(listed
            .into_iter()
            .filter(|i| {
                i.owner
                    .instance_id()
                    .is_some_and(|id| id.as_str().starts_with(&wanted))
            })
            .collect())
    }

    async fn attached_to(&self, home: &Home, interface: &InterfaceId) -> Result<Option<Instance>> {
        self.limiter
            .one(BucketId::at(Limit::Ec2Describe, home), 1.0)
            .await;
        self.inner.attached_to(home, interface).await
    }

    /// Per account and region, 500 instances per call.
    async fn set_status(&self, owners: &[Owner], value: &str) -> Result<()> {
        let mut per_home: BTreeMap<&Home, usize> = BTreeMap::new();
        for o in owners {
            *per_home.entry(o.home()).or_default() += 1;
        }
        for (home, n) in per_home {
            let calls = n.div_ceil(INSTANCES_PER_TAG_CALL);
            self.limiter
                .each(&BucketId::at(Limit::Ec2CreateTags, home), calls)
                .await;
        }
        self.inner.set_status(owners, value).await
    }
}

impl<P: Route53Api> Route53Api for Limited<P> {
    /// One page before the answer, the further pages after it.
    async fn list_hosted_zones(&self) -> Result<Vec<Zone>> {
        let id = BucketId::of(Limit::Route53Requests);
        self.limiter.one(id.clone(), 1.0).await;
        let zones = self.inner.list_hosted_zones().await?;
        let more = pages(zones.len(), ZONES_PER_PAGE) - 1;
        self.limiter.each(&id, more).await;
        Ok(zones)
    }

    async fn list_record_sets(
        &self,
        zone: &ZoneId,
        start: Option<&ListStart>,
        max_items: Option<i32>,
    ) -> Result<Option<RawPage>> {
        self.limiter
            .one(BucketId::of(Limit::Route53Requests), 1.0)
            .await;
        self.inner.list_record_sets(zone, start, max_items).await
    }

    /// One request and one record change per change (an empty batch is not sent).
    async fn change_batch(&self, zone: &ZoneId, changes: &[RawChange]) -> Result<Option<String>> {
        if !changes.is_empty() {
            self.limiter
                .admit(&[
                    (BucketId::of(Limit::Route53Requests), 1.0),
                    (BucketId::of(Limit::Route53Changes), changes.len() as f64),
                ])
                .await;
        }
        self.inner.change_batch(zone, changes).await
    }

    fn take_applied(&self) -> Vec<String> {
        self.inner.take_applied()
    }

    async fn get_change(&self, id: &str) -> Result<bool> {
        self.limiter
            .one(BucketId::of(Limit::Route53Requests), 1.0)
            .await;
        self.inner.get_change(id).await
    }
}

/// The write units of a lock write: a decision that moves owner-index entries (or touches
/// its host) is a transaction of that many items, two units each; any other write is one
/// item.
fn write_units(w: &LockWrite) -> f64 {
    let LockWrite::Decide(d) = w else {
        return 1.0;
    };
    let moves = d.index_moves();
    let items = 1 + moves.removed.len() + moves.added.len() + usize::from(d.host.is_some());
    if items == 1 {
        1.0
    } else {
        2.0 * items as f64
    }
}

impl<P: Locks> Limited<P> {
    async fn read(&self, units: f64) {
        self.limiter
            .one(BucketId::of(Limit::DynamoReads), units)
            .await;
    }

    async fn write_unit(&self, units: f64) {
        self.limiter
            .one(BucketId::of(Limit::DynamoWrites), units)
            .await;
    }

    /// `BatchGetItem`s of 100 keys, one strongly consistent read unit per key.
    async fn batch_get(&self, keys: usize) {
        let mut left = keys;
        while left > 0 {
            let n = left.min(KEYS_PER_BATCH_GET);
            self.read(n as f64).await;
            left -= n;
        }
    }
}

impl<P: Locks> Locks for Limited<P> {
    async fn load(&self, names: &[Fqdn], owners: &[Owner]) -> Result<Loaded> {
        self.batch_get(names.len() + owners.len()).await;
        self.inner.load(names, owners).await
    }

    /// One page before the answer, the further pages after it.
    async fn scan(&self) -> Result<Loaded> {
        self.read(READ_UNITS_PER_SCAN_PAGE).await;
        let loaded = self.inner.scan().await?;
        let items = loaded.locks.len()
            + loaded.index.len()
            + loaded.unreadable.len()
            + loaded.hosts.len()
            + loaded.unreadable_hosts.len();
        for _ in 1..pages(items, ITEMS_PER_SCAN_PAGE) {
            self.read(READ_UNITS_PER_SCAN_PAGE).await;
        }
        Ok(loaded)
    }

    /// As [`Self::scan`], over one segment.
    async fn scan_segment(&self, segment: u32, of: u32) -> Result<Loaded> {
        self.read(READ_UNITS_PER_SCAN_PAGE).await;
        let loaded = self.inner.scan_segment(segment, of).await?;
        let items = loaded.locks.len()
            + loaded.index.len()
            + loaded.unreadable.len()
            + loaded.hosts.len()
            + loaded.unreadable_hosts.len();
        for _ in 1..pages(items, ITEMS_PER_SCAN_PAGE) {
            self.read(READ_UNITS_PER_SCAN_PAGE).await;
        }
        Ok(loaded)
    }

    /// `DescribeTable` is a control-plane call: no read capacity.
    async fn item_count(&self) -> Result<Option<u64>> {
        self.inner.item_count().await
    }

    async fn start_run(&self, run: &crate::shard::Run) -> Result<bool> {
        self.write_unit(1.0).await;
        self.inner.start_run(run).await
    }

    async fn split_part(&self, run: &str, part: &str, children: &[String]) -> Result<()> {
        self.write_unit(1.0).await;
        self.inner.split_part(run, part, children).await
    }

    async fn record_part(
        &self,
        run: &str,
        done: &crate::shard::PartDone,
    ) -> Result<Option<crate::shard::Run>> {
        self.write_unit(1.0).await;
        self.inner.record_part(run, done).await
    }

    async fn run(&self, id: &str) -> Result<Option<crate::shard::Run>> {
        self.read(1.0).await;
        self.inner.run(id).await
    }

    async fn write(&self, w: &LockWrite) -> Result<Cas> {
        self.write_unit(write_units(w)).await;
        self.inner.write(w).await
    }

    /// One `DeleteItem` per key.
    async fn prune_index(&self, keys: &[String]) -> Result<()> {
        for _ in keys {
            self.write_unit(1.0).await;
        }
        self.inner.prune_index(keys).await
    }

    async fn deployed(&self) -> Result<Option<Deployed>> {
        self.read(1.0).await;
        self.inner.deployed().await
    }

    async fn record_deployed(&self, d: &Deployed) -> Result<()> {
        self.write_unit(1.0).await;
        self.inner.record_deployed(d).await
    }

    async fn swept(&self) -> Result<Option<i64>> {
        self.read(1.0).await;
        self.inner.swept().await
    }

    async fn record_swept(&self, started: i64) -> Result<()> {
        self.write_unit(1.0).await;
        self.inner.record_swept(started).await
    }

    async fn host(&self, name: &HostName) -> Result<Option<HostRecord>> {
        self.read(1.0).await;
        self.inner.host(name).await
    }

    async fn sample_host(&self, name: &Fqdn) -> Result<Option<HostName>> {
        self.read(1.0).await;
        self.inner.sample_host(name).await
    }

    async fn put_host(&self, host: &HostRecord, create: bool) -> Result<Cas> {
        self.write_unit(1.0).await;
        self.inner.put_host(host, create).await
    }

    async fn delete_host(&self, host: &HostRecord) -> Result<()> {
        self.write_unit(1.0).await;
        self.inner.delete_host(host).await
    }

    async fn touch_host(&self, touch: &HostTouch) -> Result<()> {
        self.write_unit(1.0).await;
        self.inner.touch_host(touch).await
    }

    async fn count_attempt(&self, read: &HostRecord, now: i64) -> Result<Attempt> {
        self.write_unit(1.0).await;
        self.inner.count_attempt(read, now).await
    }

    async fn load_with_source(
        &self,
        names: &[Fqdn],
        owners: &[Owner],
        source: &SourcePrefix,
    ) -> Result<(Loaded, SourceCount)> {
        self.batch_get(names.len() + owners.len() + 1).await;
        self.inner.load_with_source(names, owners, source).await
    }

    async fn count_source_failure(
        &self,
        source: &SourcePrefix,
        now: i64,
        window: i64,
    ) -> Result<SourceCount> {
        self.write_unit(1.0).await;
        self.inner.count_source_failure(source, now, window).await
    }
}

/// The reconciler's clock in simulated time: `base` epoch seconds when made, moving with
/// tokio's clock (paused in a simulation, so it moves only as simulated waits pass).
pub struct SimClock {
    base: i64,
    start: Instant,
}

impl SimClock {
    pub fn new(base: i64) -> SimClock {
        SimClock {
            base,
            start: Instant::now(),
        }
    }

    /// Simulated time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Clock for SimClock {
    fn now(&self) -> i64 {
        self.base + self.start.elapsed().as_secs() as i64
    }
}

impl Clock for Arc<SimClock> {
    fn now(&self) -> i64 {
        self.as_ref().now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fakes::{FakeEc2, FakeRoute53};
    use crate::testing::{home, instance};

    fn zone_change(n: usize) -> RawChange {
        RawChange {
            action: crate::model::ChangeAction::Create,
            name: format!("n{n}.dyn.example.com"),
            rtype: "A".into(),
            ttl: 60,
            values: vec!["203.0.113.1".into()],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_a_burst_wait_their_turn_in_simulated_time_and_stay_within_the_limit() {
        let limiter = Limiter::new(Limits::aws());
        let ec2 = Limited::new(FakeEc2::default(), limiter.clone());
        ec2.inner.put(instance(1, Some("web.dyn.example.com")));
        let started = Instant::now();
        let wall = std::time::Instant::now();
        for _ in 0..300 {
            ec2.tagged(&home(), "").await.unwrap();
        }
        // 100 from the bucket, the other 200 at 20 per second: 10 simulated seconds, in
        // (almost) no wall time.
        let took = started.elapsed();
        assert!(
            took.abs_diff(Duration::from_secs(10)) < Duration::from_millis(2),
            "{took:?}"
        );
        assert!(wall.elapsed() < Duration::from_secs(5));
        let usage = limiter.usage();
        assert_eq!(usage.len(), 1);
        let u = &usage[0];
        assert_eq!((u.calls, u.tokens), (300, 300.0));
        assert!(u.peak <= 120.0 && u.peak >= 100.0, "{u:?}");
        assert_eq!(u.beyond(&EC2_DESCRIBE), None);
        // The same calls judged against a smaller limit are beyond it: the check can fail.
        let smaller = Rate {
            per_second: 5.0,
            burst: 50.0,
        };
        assert!(u
            .beyond(&smaller)
            .is_some_and(|why| why.contains("one second")));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_without_a_limit_are_beyond_aws_s() {
        let unlimited = Rate {
            per_second: 1e9,
            burst: 1e9,
        };
        let limiter = Limiter::new(Limits {
            route53_requests: unlimited,
            route53_changes: unlimited,
            ..Limits::aws()
        });
        let dns = Limited::new(FakeRoute53::default(), limiter.clone());
        let zone = dns.inner.add_zone("Z1", "dyn.example.com", false);
        for n in 0..20 {
            dns.change_batch(&zone, &[zone_change(n)]).await.unwrap();
        }
        let requests = limiter
            .usage()
            .into_iter()
            .find(|u| u.id.limit == Limit::Route53Requests)
            .unwrap();
        assert_eq!(requests.calls, 20);
        assert!(requests.beyond(&ROUTE53_REQUESTS).is_some(), "{requests:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_for_both_its_request_and_its_record_changes() {
        let limiter = Limiter::new(Limits {
            route53_changes: Rate {
                per_second: 10.0,
                burst: 10.0,
            },
            ..Limits::aws()
        });
        let dns = Limited::new(FakeRoute53::default(), limiter.clone());
        let zone = dns.inner.add_zone("Z1", "dyn.example.com", false);
        let started = Instant::now();
        let batch = |from: usize| (from..from + 10).map(zone_change).collect::<Vec<_>>();
        dns.change_batch(&zone, &batch(0)).await.unwrap();
        dns.change_batch(&zone, &batch(10)).await.unwrap();
        dns.change_batch(&zone, &batch(20)).await.unwrap();
        // Requests would allow all three at once; the changes allow one batch a second.
        let took = started.elapsed();
        assert!(
            took.abs_diff(Duration::from_secs(2)) < Duration::from_millis(2),
            "{took:?}"
        );
        for u in limiter.usage() {
            assert_eq!(u.beyond(&u.rate), None);
        }
        assert_eq!(dns.inner.snapshot().len(), 30, "every batch applied");
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_count_keeps_the_buckets_as_they_are_like_aws() {
        let limiter = Limiter::new(Limits::aws());
        let dns = Limited::new(FakeRoute53::default(), limiter.clone());
        let burst = limiter.limits().route53_requests.burst as usize;
        for _ in 0..burst {
            dns.list_hosted_zones().await.unwrap();
        }
        limiter.reset();
        let started = Instant::now();
        dns.list_hosted_zones().await.unwrap();
        // The bucket is still empty: the next call waits for a token.
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        let usage = limiter.usage();
        assert_eq!((usage[0].calls, usage[0].tokens), (1, 1.0), "{usage:?}");
        assert_eq!(usage[0].waited, Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn the_simulated_clock_moves_with_the_waits() {
        let clock = SimClock::new(1_800_000_000);
        let limiter = Limiter::new(Limits::aws());
        let ec2 = Limited::new(FakeEc2::default(), limiter);
        let everyone: Vec<Owner> = Vec::new();
        // 120 status writes of one instance each, per the 50-token bucket at 5 per second:
        // 14 simulated seconds.
        ec2.inner.put(instance(1, Some("web.dyn.example.com")));
        for _ in 0..120 {
            ec2.set_status(&[crate::testing::owner(1)], "ok")
                .await
                .unwrap();
        }
        ec2.set_status(&everyone, "ok").await.unwrap();
        assert_eq!(clock.now(), 1_800_000_014);
        assert_eq!(
            ec2.inner
                .get(&crate::testing::owner(1))
                .unwrap()
                .status_tag
                .as_deref(),
            Some("ok")
        );
    }
}
