//! observe → decide → apply → report, for some owners or for everything. Events are only
//! hints about which owners to look at again; every decision is re-derived from EC2, the
//! lock table and Route53.

mod apply;
mod observe;
mod recent;
mod status;

use std::collections::BTreeSet;
use std::time::Instant;

use tracing::{info, instrument};

use crate::config::Config;
use crate::decide::{self, Claims, Planner, Settings, World};
use crate::error::Result;
use crate::model::{Home, Owner, Scope};
use crate::name::Fqdn;
use crate::ports::{Dns, Instances, Locks};
use crate::report::Report;

/// What to reconcile and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub scope: Scope,
    /// Read Route53 for every name in scope instead of trusting the locks (manual and
    /// scheduled reconciles: this is what repairs drift).
    pub verify_dns: bool,
    /// Plan and report, write nothing.
    pub dry_run: bool,
    /// Epoch seconds after which this run is stopped (the Lambda deadline); no change is
    /// sent that could still be in flight after it.
    pub deadline: Option<i64>,
    /// With owners: names decided too, whoever holds them (a lock-table shard's items that
    /// name no owner: a released name whose removal must still be finished). Ignored for a
    /// reconcile of everything, which decides every name.
    pub names: BTreeSet<Fqdn>,
}

impl Request {
    /// What an event asks for: a full reconcile reads Route53 (the drift repair and the
    /// backstop for lost events); an event about owners trusts the locks.
    pub fn for_event(scope: Scope, deadline: Option<i64>) -> Request {
        Request {
            verify_dns: scope == Scope::All,
            scope,
            dry_run: false,
            deadline,
            names: BTreeSet::new(),
        }
    }
}

pub use crate::window::{Clock, SystemClock};

/// The reconciler with its clients; built once per container and reused.
pub struct Reconciler<I, D, L> {
    pub instances: I,
    pub dns: D,
    pub locks: L,
    pub config: Config,
    /// The account and region of this deployment: owners of manual requests live there.
    pub home: Home,
    /// The function's name, as it records its configuration (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: String,
    /// Longest a Route53 call may take, retries included: the Route53 client's operation
    /// timeout must be this (see [`ROUTE53_CALL_MAX`]).
    route53_call_max: i64,
    pub(crate) clock: Box<dyn Clock>,
    /// How a lifecycle action waits for Route53 ([`crate::fleet::WAIT`]).
    pub lifecycle_wait: crate::fleet::Wait,
    /// How many names a run decides and applies at a time ([`CHUNK`]; at least one).
    chunk: usize,
    /// The names this container last read for each owner ([`recent`]).
    recent: recent::Recent,
    /// The tokens of the decisions this reconciler stamps: it knows its own, and their
    /// order (see [`crate::lock::Tokens::made_before`]).
    pub(crate) tokens: crate::lock::Tokens,
}

impl<I: Instances, D: Dns, L: Locks> Reconciler<I, D, L> {
    pub fn new(instances: I, dns: D, locks: L, config: Config, home: Home) -> Self {
        Reconciler {
            instances,
            dns,
            locks,
            config,
            home,
            function: "ec2-dns".into(),
            route53_call_max: ROUTE53_CALL_MAX,
            clock: Box::new(SystemClock),
            lifecycle_wait: crate::fleet::WAIT,
            chunk: CHUNK,
            recent: recent::Recent::default(),
            tokens: crate::lock::Tokens::default(),
        }
    }

    /// The same reconciler deciding and applying `n` names at a time instead of
    /// [`CHUNK`]: tests cut small worlds into many chunks with it.
    #[cfg(test)]
    pub(crate) fn with_chunk(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// The same reconciler for the function named `name`.
    pub fn with_function(mut self, name: &str) -> Self {
        self.function = name.to_string();
        self
    }

    /// The same reconciler for a Route53 client bounded to `secs` per call (a function with
    /// a short timeout: no change may be sent that could land after its window).
    pub fn with_route53_call_max(mut self, secs: i64) -> Self {
        self.route53_call_max = secs;
        self
    }

    /// The same reconciler with another clock.
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn settings(&self) -> Settings {
        Settings {
            allowed_domains: self.config.allowed_domains.clone(),
            ttl: self.config.ttl,
            deployment: self.config.deployment_for(&self.home),
            style: self.config.marker_style,
            shared_names: self.config.shared_names,
            reverse: self.config.reverse_records,
        }
    }

    /// Brings the owners in `req.scope` (and the names they hold or claim) to the desired
    /// state. Idempotent: safe to re-run after a partial failure, and a second run changes
    /// nothing. Errors only when the state could not be read; per-name failures are in the
    /// report (`failed`) and leave a state the next run converges from.
    #[instrument(skip_all, fields(scope = %req.scope, dry_run = req.dry_run))]
    pub async fn reconcile(&self, req: &Request) -> Result<Report> {
        self.reconcile_limited(req, None).await
    }

    /// [`Self::reconcile`], refusing (before writing anything) a plan that deletes more than
    /// `max_deletes` record sets: one wrong setting must not empty a zone unnoticed.
    ///
    /// A claimant that lost a fresh slot to another run deciding at the same time (the
    /// slot's conditional write failed) is reconciled again within this call, at most
    /// [`SLOT_ATTEMPTS`] times in all: the next look reads that slot as held and picks the
    /// next free one, so the loser does not wait for its input's retry to get a name.
    pub async fn reconcile_limited(
        &self,
        req: &Request,
        max_deletes: Option<usize>,
    ) -> Result<Report> {
        let (mut report, mut lost) = self.reconcile_once(req, max_deletes).await?;
        let mut attempts = 1;
        while !lost.is_empty() && attempts < SLOT_ATTEMPTS {
            attempts += 1;
            info!(
                owners = lost.len(),
                attempt = attempts,
                "a slot was taken by another run meanwhile; choosing again"
            );
            let again = Request {
                scope: Scope::Owners(lost.clone()),
                ..req.clone()
            };
            let (next, still) = self.reconcile_once(&again, max_deletes).await?;
            report.merge_retry(&lost, next);
            lost = still;
        }
        Ok(report)
    }

    /// One observe, decide, apply; with the in-scope owners whose fresh slot was taken by
    /// another run meanwhile.
    async fn reconcile_once(
        &self,
        req: &Request,
        max_deletes: Option<usize>,
    ) -> Result<(Report, BTreeSet<Owner>)> {
        let started = Instant::now();
        let route53 = self.dns.usage();
        let world = self.observe(req).await?;
        let fresh = decide::slots::fresh(&world, &req.scope);
        let mut report = self.settle(&world, req, max_deletes).await?;
        for (home, why) in &world.unreachable {
            let reason = format!(
                "EC2 could not be read in account {} region {}: {why}; its instances were not reconciled, and the names they hold are kept",
                home.account(),
                home.region()
            );
            tracing::warn!("{reason}");
            report.failed.push(crate::report::FailRow {
                name: home.to_string(),
                instance: None,
                owner: None,
                reason,
            });
        }
        for domain in
            decide::zones::unserved_domains(&world.zones, &self.settings().allowed_domains)
        {
            let warning = format!(
                "no hosted zone serves the allowed domain {domain}: its names get no records; check ALLOWED_DOMAINS, and that the zone exists in this account"
            );
            tracing::warn!(target: apply::OUTCOME, "{warning}");
            report.warnings.push(warning);
        }
        let route53 = self.dns.usage().since(route53);
        info!(
            changes = report.changes.len(),
            conflicts = report.conflicts.len(),
            skipped = report.skipped.len(),
            frozen = report.frozen.len(),
            failed = report.failed.len(),
            route53_requests = route53.requests,
            route53_record_changes = route53.record_changes,
            route53_paced_ms = route53.paced_ms,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reconcile finished"
        );
        let lost = if req.dry_run {
            BTreeSet::new()
        } else {
            report
                .failed
                .iter()
                .filter(|f| f.reason.starts_with(apply::LOCK_CHANGED))
                .filter_map(|f| {
                    let owner = f.owner.as_ref()?;
                    fresh
                        .get(owner)
                        .is_some_and(|names| names.iter().any(|n| n.as_str() == f.name))
                        .then(|| owner.clone())
                })
                .collect()
        };
        Ok((report, lost))
    }

    /// Decides every name of `req.scope` in `world` and applies the decisions (a dry run:
    /// reports them), [`CHUNK`] names at a time: each chunk decided, its lock writes, its
    /// Route53 batches and its report rows done before the next is decided; then the run's
    /// outcomes, status tags and housekeeping once, from every name's outcome.
    ///
    /// With `max_deletes`, the whole plan is made first and refused (before anything is
    /// written) when it deletes more than `max_deletes` record sets.
    pub(crate) async fn settle(
        &self,
        world: &World,
        req: &Request,
        max_deletes: Option<usize>,
    ) -> Result<Report> {
        let settings = self.settings();
        if let Some(limit) = max_deletes {
            let plan = decide::plan(world, &req.scope, &settings);
            let planned = plan
                .names
                .iter()
                .flat_map(|n| &n.rows)
                .filter(|r| r.action == decide::RowAction::Delete)
                .count();
            if planned > limit {
                return Err(crate::Error::TooManyDeletes { planned, limit });
            }
            return Ok(if req.dry_run {
                apply::dry_run(world, &plan)
            } else {
                self.apply(world, plan, req).await
            });
        }
        let mut progress = apply::Progress::default();
        let plan = {
            let claims = Claims::new(world, &settings);
            let by_name = claims.by_name(world);
            let mut planner = Planner::new(world, &req.scope, &settings, &claims, &by_name);
            let whole = match req.scope {
                Scope::All => self.chunk,
                Scope::Owners(_) => self.chunk.max(EVENT_PLAN),
            };
            if !req.dry_run && planner.count() <= whole {
                // One chunk (an event): the whole plan is known before anything is written.
                let mut plan = planner.finish();
                progress.expect(&plan);
                let names = std::mem::take(&mut plan.names);
                self.apply_chunk(world, names, req, None, Some(&claims), &mut progress)
                    .await;
                return Ok(self.apply_end(world, plan, req, progress).await.0);
            }
            while let Some(chunk) = planner.next_chunk(self.chunk) {
                if req.dry_run {
                    apply::dry_chunk(&mut progress, world, &chunk);
                } else {
                    self.apply_chunk(world, chunk, req, None, Some(&claims), &mut progress)
                        .await;
                }
            }
            planner.finish()
        };
        Ok(if req.dry_run {
            apply::dry_end(progress, &plan)
        } else {
            self.apply_end(world, plan, req, progress).await.0
        })
    }
}

pub use crate::window::{CHANGE_WINDOW, ROUTE53_CALL_MAX};
pub use recent::RECENT_OWNERS;

/// How many names a run decides and applies at a time ([`Reconciler::settle`]): the work
/// of one chunk is all a run holds of its names' work, beside the world it read and the
/// report. 500 names fill Route53 batches well (about one per zone and chunk for fresh
/// names), and keep a reconcile of everything at 10,000 names in about 40 MB.
pub const CHUNK: usize = 500;

/// Most names an event (some owners) decides and applies as one chunk: an SQS batch of a
/// burst, whose Route53 batches then fill to Route53's limits instead of breaking at every
/// [`CHUNK`], and whose status tags go out beside its changes. A few megabytes at most;
/// a larger one goes by chunks like a reconcile of everything.
pub const EVENT_PLAN: usize = 2_000;

pub(crate) use apply::dry_run as dry_run_report;
pub use apply::log_outcome;
pub(crate) use observe::take as take_loaded;

/// Most looks one call takes at a claimant whose fresh slot another run took meanwhile
/// (see [`Reconciler::reconcile_limited`]); after them, its input is retried.
pub const SLOT_ATTEMPTS: u32 = 3;
