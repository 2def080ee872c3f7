//! A reconcile of everything at scale, under AWS's rate limits, in simulated time.
//!
//! N instances over P places (account and region), one public hosted zone per place (the
//! realistic layout of an organisation: each account's names under its own zone), every
//! name fresh. The fakes sit behind [`Limited`] (AWS's buckets: Route53 requests and record
//! changes per account, EC2 `DescribeInstances` and `CreateTags` per account and region,
//! DynamoDB capacity per table), and the reconciler is composed as production composes it:
//! its own Route53 budget ([`Budget::per_second`] of the configuration's defaults) over the
//! raw API. Tokio's clock is paused, so every wait, the function's pacing and AWS's alike,
//! costs simulated time only, and the reconciler's clock ([`SimClock`]) follows it.
//!
//! The runner ([`converge`]) takes how a reconcile of everything is run as a parameter (a
//! [`Sweep`]: today [`unsharded`], one invocation of [`Reconciler::reconcile`] over
//! everything; later the sharded run, one invocation per shard message), repeats it while
//! names are left failed (as the next scheduled reconcile would), then once more, which must
//! change nothing. It asserts the final state (every name's records, lock, marker and status
//! tag) and that no bucket went beyond its limit, and prints simulated time, wall time,
//! memory and every bucket's calls against its limit.
//!
//! The default size (2,000 instances over 5 places) runs with the unit tests in a few
//! seconds and must also meet the targets (within 10 simulated minutes, no
//! invocation over its deadline or over 128 MB). `EC2_DNS_SCALE=10000` (or `100000`, or
//! `N/P` for N instances over P places) runs a larger size and prints its table; there the
//! targets are reported, not asserted: they are what the sharded run must meet, and today's
//! single invocation is not expected to. `EC2_DNS_SCALE_CHANGES=<per second>` sets the
//! Route53 record-change budget, AWS's and the function's alike.
//!
//! The figures of each size, unsharded and sharded, are in docs/benchmarks.md (`make bench`
//! runs 100,000 over 50 places sharded, with its command). What bounds a fresh run is the
//! Route53 record-change budget: two changes a name, at the function's default of 50 a
//! second, whatever the split.
//!
//! Memory is counted per thread by the tests' allocator (`testing::alloc`): this test runs
//! on its own current-thread runtime, so tests running beside it do not count. The fakes
//! live on the same thread: what they keep of a run (the records and locks it created) is
//! shown apart, and the peak, which includes it, is an upper bound of the invocation's own.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::aws::{Budget, Route53Dns};
use crate::config::Config;
use crate::engine::{Reconciler, Request};
use crate::marker::Marker;
use crate::model::{Home, Instance, Scope, ZoneId};
use crate::name::Fqdn;
use crate::testing::alloc;
use crate::testing::fakes::{FakeEc2, FakeLocks, FakeRoute53};
use crate::testing::instance;
use crate::testing::limits::{Limit, Limited, Limiter, Limits, Rate, SimClock, Usage};
use crate::window::Clock;

const MB: f64 = 1024.0 * 1024.0;
/// Lambda's longest invocation.
const LAMBDA_MAX: Duration = Duration::from_secs(900);
/// The targets: a reconcile of everything within 10 minutes, no invocation above
/// the function's 128 MB.
const TARGET_TIME: Duration = Duration::from_secs(600);
const TARGET_MEMORY: isize = 128 * 1024 * 1024;
/// Reconciles of everything tried before the run is declared not converging.
const MOST_SWEEPS: usize = 100;

/// The reconciler of the simulation: production's composition over limited fakes.
pub(crate) type SimReconciler =
    Reconciler<Limited<FakeEc2>, Route53Dns<Limited<FakeRoute53>>, Limited<FakeLocks>>;

/// One account and region, and its hosted zone.
pub(crate) struct Place {
    pub home: Home,
    pub zone: ZoneId,
    /// The zone's name: the place's instances are named below it.
    pub domain: String,
}

/// An organisation of `places` places with `instances` instances spread over them, behind
/// AWS's limits.
pub(crate) struct Sim {
    pub rec: SimReconciler,
    pub limiter: Arc<Limiter>,
    pub clock: Arc<SimClock>,
    pub places: Vec<Place>,
    pub instances: usize,
}

const REGIONS: [&str; 5] = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-west-2",
    "eu-central-1",
];

impl Sim {
    /// `changes_per_second`: the Route53 record-change budget, AWS's and the function's
    /// (`None`: the defaults of both).
    pub fn new(instances: usize, places: usize, changes_per_second: Option<u32>) -> Sim {
        let mut limits = Limits::aws();
        let mut env: Vec<(&str, String)> = vec![
            ("LOCK_TABLE", "locks".into()),
            ("ALLOWED_DOMAINS", "example.com".into()),
        ];
        if let Some(c) = changes_per_second {
            limits.route53_changes.per_second = f64::from(c);
            env.push(("ROUTE53_CHANGES_PER_SECOND", c.to_string()));
        }
        let config = Config::from_lookup(|k| {
            env.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        let places: Vec<Place> = (0..places)
            .map(|p| Place {
                home: Home::new(&format!("{:012}", 100_000_000_000 + p / 5), REGIONS[p % 5])
                    .unwrap(),
                zone: ZoneId(format!("Z{p:04}").into()),
                domain: format!("p{p}.example.com"),
            })
            .collect();
        let ec2 = FakeEc2::default();
        *ec2.homes.lock().unwrap() = places.iter().map(|p| p.home.clone()).collect();
        let dns = FakeRoute53::default();
        for p in &places {
            dns.add_zone(&p.zone.0, &p.domain, false);
        }
        for k in 0..instances {
            let place = &places[k % places.len()];
            ec2.put(sim_instance(k, place));
        }
        let limiter = Limiter::new(limits);
        let clock = Arc::new(SimClock::new(1_800_000_000));
        let budget = Budget::per_second(
            config.route53_requests_per_second,
            config.route53_changes_per_second,
        );
        let home = places[0].home.clone();
        let rec = Reconciler::new(
            Limited::new(ec2, limiter.clone()),
            Route53Dns::new(Limited::new(dns, limiter.clone())).with_budget(budget),
            Limited::new(FakeLocks::default(), limiter.clone()),
            config,
            home,
        )
        .with_clock(Box::new(clock.clone()));
        Sim {
            rec,
            limiter,
            clock,
            places,
            instances,
        }
    }

    fn ec2(&self) -> &FakeEc2 {
        &self.rec.instances.inner
    }

    fn route53(&self) -> &FakeRoute53 {
        &self.rec.dns.api().inner
    }

    fn locks(&self) -> &FakeLocks {
        &self.rec.locks.inner
    }

    /// Every instance's name is published in its place's zone with its address and a
    /// marker naming it, locked to it, and its status tag says so; and nothing else is.
    fn assert_published(&self) {
        let locks = self.locks().snapshot();
        let records = self.route53().snapshot();
        assert_eq!(locks.len(), self.instances, "one lock per name");
        assert_eq!(
            records.len(),
            2 * self.instances,
            "an A set and a marker per name"
        );
        for inst in self.ec2().all() {
            let name = inst.names.tag().map(str::to_string).unwrap_or_default();
            let place = &self.places[place_of(&inst)];
            let fqdn = Fqdn::parse(&name).unwrap();
            let lock = &locks[&fqdn];
            assert_eq!(lock.holder.as_ref(), Some(&inst.owner), "{name} held");
            let a = self.route53().get(&place.zone, &name, "A");
            let ip = inst.public_ipv4.map(|a| a.to_string());
            assert_eq!(a.map(|s| s.values), Some(vec![ip.unwrap()]), "{name}");
            let marker = self
                .route53()
                .get(&place.zone, &fqdn.marker_name(), "TXT")
                .and_then(|s| Marker::parse(&s.values));
            assert!(
                marker.is_some_and(|m| m.names(&inst.owner)),
                "{name}: marker"
            );
            assert_eq!(inst.status_tag.as_deref(), Some("ok"), "{name}: status");
        }
    }
}

/// Instance `k` of `place`: named `n<k>.<place's zone>`, a distinct public address.
fn sim_instance(k: usize, place: &Place) -> Instance {
    let n = u32::try_from(k + 1).unwrap();
    let mut i = instance(n, Some(&format!("n{k}.{}", place.domain)));
    // Ids as EC2 gives them today: `i-0` and 16 hex digits, spread over their range.
    let hex = (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    i.owner = place
        .home
        .instance(crate::model::InstanceId::parse(&format!("i-0{hex:016x}")).unwrap());
    // 198.18.0.0/15 (benchmarking): 131,072 addresses.
    i.public_ipv4 = Some(Ipv4Addr::from(0xC612_0000 + n));
    i.private_ipv4 = Some(Ipv4Addr::from(0x0A00_0000 + n));
    i
}

/// The place of an instance, from its name (`n<k>.p<place>.example.com`).
fn place_of(inst: &Instance) -> usize {
    inst.names
        .tag()
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| p.strip_prefix('p'))
        .and_then(|p| p.parse().ok())
        .unwrap()
}

/// One invocation of the function, as measured around it.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub simulated: Duration,
    pub wall: Duration,
    /// Bytes allocated and live at the peak, above the start (the fakes' growth included).
    pub peak: isize,
    /// Bytes the fakes kept of it (records and locks created), once its answer was dropped.
    pub kept: isize,
    pub changes: usize,
    pub failed: usize,
    /// Its deadline, from its start (Lambda's 15 minutes).
    pub deadline: Duration,
}

/// How a reconcile of everything is run: the invocations it took, in order. Today's is
/// [`unsharded`]; a sharded run sends shard messages and handles each as an invocation,
/// measured with [`invoke`] or its own equivalent.
pub(crate) trait Sweep: AsyncFn(&Sim) -> Vec<Invocation> {}

impl<F: AsyncFn(&Sim) -> Vec<Invocation>> Sweep for F {}

/// Runs `req` as one invocation, measuring its simulated and wall time and its memory.
pub(crate) async fn invoke(sim: &Sim, req: &Request) -> Invocation {
    let base = alloc::live();
    alloc::reset_peak();
    let wall = std::time::Instant::now();
    let started = sim.clock.elapsed();
    let epoch = sim.clock.now();
    let report = sim.rec.reconcile(req).await.expect("reconcile");
    let simulated = sim.clock.elapsed() - started;
    let peak = alloc::peak() - base;
    let (changes, failed) = (report.changes.len(), report.failed.len());
    if let Some(f) = report.failed.first() {
        println!(
            "  {failed} failed, the first: {} ({})",
            f.name,
            f.reason.chars().take(120).collect::<String>()
        );
    }
    drop(report);
    Invocation {
        simulated,
        wall: wall.elapsed(),
        peak,
        kept: alloc::live() - base,
        changes,
        failed,
        deadline: req.deadline.map_or(LAMBDA_MAX, |d| {
            Duration::from_secs((d - epoch).max(0) as u64)
        }),
    }
}

/// Today's reconcile of everything: one invocation over every owner, reading Route53 (the
/// scheduled reconcile), with Lambda's longest deadline.
pub(crate) async fn unsharded(sim: &Sim) -> Vec<Invocation> {
    let req = Request {
        scope: Scope::All,
        verify_dns: true,
        dry_run: false,
        deadline: Some(sim.clock.now() + LAMBDA_MAX.as_secs() as i64),
        names: Default::default(),
    };
    vec![invoke(sim, &req).await]
}

/// Shards that run at once: the event source mapping's maximum concurrency this
/// organisation would set (the stacks' default is 2); `EC2_DNS_SCALE_CONCURRENCY` sets
/// another (1: every shard's peak memory is its own).
pub(crate) const SHARD_CONCURRENCY: usize = 10;

fn shard_concurrency() -> usize {
    std::env::var("EC2_DNS_SCALE_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(SHARD_CONCURRENCY)
}

/// A sharded reconcile of everything ([`crate::fanout`]): the starting invocation, then
/// every shard message as an invocation, [`shard_concurrency`] at a time, until the queue
/// is empty (a split sends more). Shards running at once share the tests' allocator, so
/// each shard's peak is reported as the peak of its wave: an upper bound of its own.
pub(crate) async fn sharded(sim: &Sim) -> Vec<Invocation> {
    use futures_util::stream::{self, StreamExt};
    let queue = crate::testing::fakes::FakeQueue::default();
    let deadline = || Some(sim.clock.now() + LAMBDA_MAX.as_secs() as i64);
    let id = format!("sim{}", sim.clock.now());
    let base = alloc::live();
    alloc::reset_peak();
    let (started, epoch) = (sim.clock.elapsed(), sim.clock.now());
    let wall = std::time::Instant::now();
    crate::fanout::start(&sim.rec, &queue, &id, "schedule", false)
        .await
        .expect("the run starts");
    let mut out = vec![Invocation {
        simulated: sim.clock.elapsed() - started,
        wall: wall.elapsed(),
        peak: alloc::peak() - base,
        kept: alloc::live() - base,
        changes: 0,
        failed: 0,
        deadline: Duration::from_secs((deadline().unwrap_or(epoch) - epoch).max(0) as u64),
    }];
    loop {
        let tasks: Vec<crate::shard::Task> = queue
            .take_sent()
            .into_iter()
            .filter_map(|(_, body)| {
                crate::shard::Task::from_body(&serde_json::from_str(&body).ok()?)?.ok()
            })
            .collect();
        if tasks.is_empty() {
            return out;
        }
        for wave in tasks.chunks(shard_concurrency()) {
            let base = alloc::live();
            alloc::reset_peak();
            let done: Vec<Invocation> = stream::iter(wave)
                .map(|task| async {
                    let (started, epoch, end) = (sim.clock.elapsed(), sim.clock.now(), deadline());
                    let wall = std::time::Instant::now();
                    let outcome = crate::fanout::run_part(&sim.rec, &queue, task, end)
                        .await
                        .expect("a shard");
                    let (changes, failed) = match &outcome {
                        crate::fanout::PartOutcome::Finished(r) => (r.changes.len(), 0),
                        crate::fanout::PartOutcome::Retry { report, why } => {
                            println!("  shard {} to be retried: {why}", task.part);
                            (report.changes.len(), report.failed.len().max(1))
                        }
                        _ => (0, 0),
                    };
                    Invocation {
                        simulated: sim.clock.elapsed() - started,
                        wall: wall.elapsed(),
                        peak: 0,
                        kept: 0,
                        changes,
                        failed,
                        deadline: Duration::from_secs((end.unwrap_or(epoch) - epoch).max(0) as u64),
                    }
                })
                .buffer_unordered(shard_concurrency())
                .collect()
                .await;
            let (peak, kept) = (alloc::peak() - base, alloc::live() - base);
            out.extend(done.into_iter().map(|i| Invocation { peak, kept, ..i }));
        }
    }
}

/// One reconcile of everything, with what AWS's buckets saw of it.
pub(crate) struct Swept {
    pub invocations: Vec<Invocation>,
    pub usage: Vec<Usage>,
    pub simulated: Duration,
    pub wall: Duration,
}

impl Swept {
    fn changes(&self) -> usize {
        self.invocations.iter().map(|i| i.changes).sum()
    }

    /// Names left failed by its invocations (for an unsharded run, its one invocation; for
    /// a sharded run, every shard's).
    fn failed(&self) -> usize {
        self.invocations.iter().map(|i| i.failed).sum()
    }
}

async fn sweep_once(sim: &Sim, sweep: &impl Sweep) -> Swept {
    sim.limiter.reset();
    let wall = std::time::Instant::now();
    let started = sim.clock.elapsed();
    let invocations = sweep(sim).await;
    Swept {
        invocations,
        usage: sim.limiter.usage(),
        simulated: sim.clock.elapsed() - started,
        wall: wall.elapsed(),
    }
}

/// What [`converge`] found.
pub(crate) struct Converged {
    /// The reconciles of everything until none left a name failed.
    pub fresh: Vec<Swept>,
    /// One more, which changed nothing.
    pub steady: Swept,
}

/// Runs `sweep` from the state `sim` is in until a run leaves no name failed (at most
/// [`MOST_SWEEPS`]), then once more, which must change nothing and fail nothing.
pub(crate) async fn converge(sim: &Sim, sweep: impl Sweep) -> Converged {
    let mut fresh = Vec::new();
    loop {
        let s = sweep_once(sim, &sweep).await;
        let done = s.failed() == 0;
        fresh.push(s);
        if done {
            break;
        }
        assert!(
            fresh.len() < MOST_SWEEPS,
            "still failing after {MOST_SWEEPS} reconciles of everything"
        );
    }
    let steady = sweep_once(sim, &sweep).await;
    assert_eq!(
        (steady.changes(), steady.failed()),
        (0, 0),
        "a reconcile of a converged organisation changes nothing"
    );
    Converged { fresh, steady }
}

/// Every bucket stayed within its limit: the limiter works, and nothing bypassed it.
fn assert_within_limits(swept: &Swept) {
    let beyond: Vec<String> = swept
        .usage
        .iter()
        .filter_map(|u| u.beyond(&u.rate))
        .collect();
    assert!(beyond.is_empty(), "beyond AWS's limits: {beyond:?}");
}

fn mb(bytes: isize) -> String {
    format!("{:.1}", bytes as f64 / MB)
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{}m {:04.1}s", (s / 60.0) as u64, s % 60.0)
    } else {
        format!("{s:.1}s")
    }
}

/// The buckets of a run, one row per limit (EC2's many places summed, their peak the
/// highest of any place).
fn usage_rows(usage: &[Usage]) -> Vec<String> {
    let mut by_limit: BTreeMap<Limit, (u64, f64, f64, Duration, usize, Rate)> = BTreeMap::new();
    for u in usage {
        let row = by_limit
            .entry(u.id.limit)
            .or_insert((0, 0.0, 0.0, Duration::ZERO, 0, u.rate));
        row.0 += u.calls;
        row.1 += u.tokens;
        row.2 = row.2.max(u.peak);
        row.3 += u.waited;
        row.4 += 1;
    }
    by_limit
        .into_iter()
        .map(|(limit, (calls, tokens, peak, waited, buckets, rate))| {
            let label = match buckets {
                1 => limit.label().to_string(),
                n => format!("{} (x{n})", limit.label()),
            };
            format!(
                "    {label:<30} {calls:>8} {tokens:>9.0} {peak:>8.0} {:>9.0} {:>10}",
                rate.most_in_a_second(),
                minutes(waited)
            )
        })
        .collect()
}

fn print_table(sim: &Sim, c: &Converged) {
    println!(
        "scale: {} instances over {} places (one public zone each); Route53 changes {}/s",
        sim.instances,
        sim.places.len(),
        sim.limiter.limits().route53_changes.per_second
    );
    let rows = c
        .fresh
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("fresh #{}", i + 1), s))
        .chain(std::iter::once(("steady".to_string(), &c.steady)));
    for (label, s) in rows {
        if s.invocations.len() > 8 {
            // A sharded run: its invocations summed up.
            let most = |f: fn(&Invocation) -> Duration| {
                s.invocations.iter().map(f).max().unwrap_or_default()
            };
            println!(
                "  {label:<9} {} invocations (1 start, {} shards, {} at a time; peak: of the shards running at once): longest {:>10} (deadline {:>7})  peak {:>7} MB  changes {:>7}  failed {:>6}",
                s.invocations.len(),
                s.invocations.len() - 1,
                shard_concurrency(),
                minutes(most(|i| i.simulated)),
                minutes(most(|i| i.deadline)),
                mb(s.invocations.iter().map(|i| i.peak).max().unwrap_or(0)),
                s.changes(),
                s.failed()
            );
        }
        for inv in s.invocations.iter().filter(|_| s.invocations.len() <= 8) {
            println!(
                "  {label:<9} simulated {:>10} (deadline {:>7})  wall {:>6.1}s  peak {:>7} MB (fakes kept {:>6} MB)  changes {:>7}  failed {:>6}",
                minutes(inv.simulated),
                minutes(inv.deadline),
                inv.wall.as_secs_f64(),
                mb(inv.peak),
                mb(inv.kept),
                inv.changes,
                inv.failed
            );
        }
        println!(
            "    {:<30} {:>8} {:>9} {:>8} {:>9} {:>10}   (reconcile of everything: {} simulated, {:.1}s wall; waited: summed over calls)",
            "bucket",
            "calls",
            "tokens",
            "peak/s",
            "limit/s",
            "waited",
            minutes(s.simulated),
            s.wall.as_secs_f64()
        );
        for row in usage_rows(&s.usage) {
            println!("{row}");
        }
    }
    let total: Duration = c.fresh.iter().map(|s| s.simulated).sum();
    let peak = c
        .fresh
        .iter()
        .chain([&c.steady])
        .flat_map(|s| &s.invocations)
        .map(|i| i.peak)
        .max()
        .unwrap_or(0);
    let over_deadline = c
        .fresh
        .iter()
        .chain([&c.steady])
        .flat_map(|s| &s.invocations)
        .filter(|i| i.simulated > i.deadline)
        .count();
    println!(
        "  targets: published in {} of simulated time ({} reconciles of everything; target {}), steady run {}, highest peak {} MB (target 128), invocations over their deadline: {over_deadline}",
        minutes(total),
        c.fresh.len(),
        minutes(TARGET_TIME),
        minutes(c.steady.simulated),
        mb(peak),
    );
}

/// The size `EC2_DNS_SCALE` asks for: `N` (places: 10 up to 10,000 instances, 50 beyond)
/// or `N/P`.
fn asked_size() -> Option<(usize, usize)> {
    let v = std::env::var("EC2_DNS_SCALE").ok()?;
    let (n, p) = match v.split_once('/') {
        Some((n, p)) => (n.trim().parse().ok()?, p.trim().parse().ok()?),
        None => {
            let n: usize = v.trim().parse().ok()?;
            (n, if n <= 10_000 { 10 } else { 50 })
        }
    };
    Some((n, p.max(1)))
}

fn asked_changes() -> Option<u32> {
    std::env::var("EC2_DNS_SCALE_CHANGES").ok()?.parse().ok()
}

#[tokio::test(start_paused = true)]
async fn two_thousand_instances_over_five_places_are_published_within_aws_s_limits_and_the_next_run_changes_nothing(
) {
    let sim = Sim::new(2_000, 5, None);
    let c = converge(&sim, unsharded).await;
    print_table(&sim, &c);
    sim.assert_published();
    for s in c.fresh.iter().chain([&c.steady]) {
        assert_within_limits(s);
    }
    // The targets, met at this size by today's single invocation.
    assert_eq!(c.fresh.len(), 1, "published by the first reconcile");
    let fresh = &c.fresh[0];
    assert!(fresh.simulated <= TARGET_TIME, "{:?}", fresh.simulated);
    for inv in c
        .fresh
        .iter()
        .chain([&c.steady])
        .flat_map(|s| &s.invocations)
    {
        assert!(inv.simulated <= inv.deadline, "{inv:?}");
        assert!(inv.peak < TARGET_MEMORY, "{inv:?}");
    }
    // The record changes bound the fresh run: 4,000 of them, a bucket's worth at once and
    // the rest at the budget's rate, cannot take less simulated time than that.
    let changes = fresh
        .usage
        .iter()
        .find(|u| u.id.limit == Limit::Route53Changes)
        .expect("changes counted");
    assert_eq!(changes.tokens, 4_000.0);
    let rate = changes.rate;
    let least = (changes.tokens - rate.burst) / rate.per_second;
    assert!(
        fresh.simulated.as_secs_f64() >= least,
        "{:?} for {} changes",
        fresh.simulated,
        changes.tokens
    );
    // And the check has teeth: the same run judged against half the rate is beyond it.
    let half = Rate {
        per_second: rate.per_second / 2.0,
        ..rate
    };
    assert!(changes.beyond(&half).is_some(), "{changes:?}");
}

#[tokio::test(start_paused = true)]
async fn at_the_size_asked_for_a_reconcile_of_everything_converges_within_aws_s_limits() {
    let Some((instances, places)) = asked_size() else {
        return;
    };
    let sim = Sim::new(instances, places, asked_changes());
    let c = converge(&sim, unsharded).await;
    print_table(&sim, &c);
    sim.assert_published();
    for s in c.fresh.iter().chain([&c.steady]) {
        assert_within_limits(s);
    }
}

#[tokio::test(start_paused = true)]
async fn two_thousand_instances_over_five_places_are_published_by_a_sharded_run_within_aws_s_limits(
) {
    let mut sim = Sim::new(2_000, 5, None);
    sim.rec.config.queue_url = Some("https://sqs.us-east-1.amazonaws.com/100000000000/q".into());
    sim.rec.config.shard_size = 300;
    let c = converge(&sim, sharded).await;
    print_table(&sim, &c);
    sim.assert_published();
    for s in c.fresh.iter().chain([&c.steady]) {
        assert_within_limits(s);
    }
    assert_eq!(c.fresh.len(), 1, "published by the first run");
    assert!(
        c.fresh[0].simulated <= TARGET_TIME,
        "{:?}",
        c.fresh[0].simulated
    );
    let shards = c.fresh[0].invocations.len() - 1;
    assert!(
        shards > 5 + 1,
        "the places (400 instances each) split: {shards} shards"
    );
    for inv in c
        .fresh
        .iter()
        .chain([&c.steady])
        .flat_map(|s| &s.invocations)
    {
        assert!(inv.simulated <= inv.deadline, "{inv:?}");
        assert!(inv.peak < TARGET_MEMORY, "{inv:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn at_the_size_asked_for_a_sharded_run_converges_within_aws_s_limits() {
    let Some((instances, places)) = asked_size() else {
        return;
    };
    let mut sim = Sim::new(instances, places, asked_changes());
    sim.rec.config.queue_url = Some("https://sqs.us-east-1.amazonaws.com/100000000000/q".into());
    let c = converge(&sim, sharded).await;
    print_table(&sim, &c);
    sim.assert_published();
    for s in c.fresh.iter().chain([&c.steady]) {
        assert_within_limits(s);
    }
}
