//! One fault wrapper over any port: [`Faulty`] wraps a fake, and every call passes through
//! [`Faults`], which can fail it or hold it, before or after it takes effect (reads
//! included: a read failing "after" has read and throws the answer away), and can make
//! concurrent runs interleave at every call. Every fault counts how often it fired, so a
//! test can prove that what it injected happened.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::Deployed;
use crate::error::{Error, Result};
use crate::hosts::{Attempt, HostName, HostRecord, SourceCount, SourcePrefix};
use crate::lock::{Cas, HostTouch, Loaded, LockWrite};
use crate::model::{
    Completion, Home, Instance, InstanceId, InterfaceId, LifecycleAction, Owner, Zone, ZoneId,
};
use crate::name::Fqdn;
use crate::ports::{Groups, Instances, ListStart, Locks, RawChange, RawPage, Route53Api};
use crate::shard::{PartDone, Run};

/// Every call a port can get, by service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    DescribeInstances,
    TaggedInstances,
    CreateTags,
    ListHostedZones,
    ListResourceRecordSets,
    ChangeResourceRecordSets,
    LoadLocks,
    ScanLocks,
    Decide,
    Wait,
    Settle,
    Check,
    Forget,
    PruneIndex,
    ReadDeployed,
    RecordDeployed,
    ReadHost,
    PutHost,
    DeleteHost,
    TouchHost,
    /// A password check counted against a host, before it is made.
    CountAttempt,
    /// A failed login counted against its source prefix.
    CountSourceFailure,
    /// The record of the last reconcile of everything (read before a reconcile of
    /// everything that an event asks for, written after one that finished without failures).
    ReadSwept,
    RecordSwept,
    /// Route53's `GetChange` (a lifecycle action waits for `INSYNC`).
    GetChange,
    /// Auto Scaling's lifecycle states of grouped instances (`DescribeAutoScalingInstances`).
    DescribeAutoScalingInstances,
    /// A lifecycle hook's timeout (`DescribeLifecycleHooks`).
    DescribeLifecycleHooks,
    CompleteLifecycleAction,
    RecordLifecycleActionHeartbeat,
    /// The lock table's item count (`DescribeTable`), which sizes a sharded run's segments.
    DescribeTable,
    /// A sharded run's item: created, a part split, a part recorded, read.
    StartRun,
    SplitPart,
    RecordPart,
    ReadRun,
}

impl Op {
    /// The calls that change something.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::CreateTags
                | Op::ChangeResourceRecordSets
                | Op::Decide
                | Op::Wait
                | Op::Settle
                | Op::Check
                | Op::Forget
                | Op::PruneIndex
                | Op::RecordDeployed
                | Op::PutHost
                | Op::DeleteHost
                | Op::TouchHost
                | Op::CountAttempt
                | Op::CountSourceFailure
                | Op::RecordSwept
                | Op::CompleteLifecycleAction
                | Op::RecordLifecycleActionHeartbeat
                | Op::StartRun
                | Op::SplitPart
                | Op::RecordPart
        )
    }

    /// The calls of the reconciler (the host calls belong to the DDNS endpoint).
    pub fn all() -> [Op; 16] {
        [
            Op::DescribeInstances,
            Op::TaggedInstances,
            Op::CreateTags,
            Op::ListHostedZones,
            Op::ListResourceRecordSets,
            Op::ChangeResourceRecordSets,
            Op::LoadLocks,
            Op::ScanLocks,
            Op::Decide,
            Op::Wait,
            Op::Settle,
            Op::Check,
            Op::Forget,
            Op::PruneIndex,
            Op::ReadDeployed,
            Op::RecordDeployed,
        ]
    }
}

/// Before the call has any effect, or after (the effect happened but the caller sees an
/// error, like a timeout on the response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    After,
}

/// A held call's gate.
#[derive(Default)]
pub struct Gate {
    released: AtomicBool,
    open: Notify,
    entered: Notify,
    held: AtomicU32,
}

impl Gate {
    /// Lets every held call (and every later one of this hold) go on.
    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.open.notify_waiters();
    }

    /// Whether a call is being held (or was: a released hold stays counted).
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst) > 0
    }

    /// Waits until a call is being held (or fails the test after 5 s).
    pub async fn wait_held(&self) {
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while self.held.load(Ordering::SeqCst) == 0 {
                let entered = self.entered.notified();
                if self.held.load(Ordering::SeqCst) > 0 {
                    break;
                }
                entered.await;
            }
        })
        .await;
        assert!(waited.is_ok(), "no call was held");
    }

    async fn pass(&self) {
        self.held.fetch_add(1, Ordering::SeqCst);
        self.entered.notify_waiters();
        while !self.released.load(Ordering::SeqCst) {
            let open = self.open.notified();
            if self.released.load(Ordering::SeqCst) {
                break;
            }
            open.await;
        }
    }
}

enum Effect {
    Fail,
    Hold(Arc<Gate>),
    /// After the call took effect, its answer is lost and the call is sent again (what the
    /// SDK does on a timeout): the caller gets the second answer.
    Replay,
}

/// One injected fault: what it matches, what it does, how often it fired.
pub struct Fault {
    op: Op,
    /// Only calls about this key (a name, or a zone id) when set.
    key: Option<String>,
    phase: Phase,
    left: AtomicU32,
    fired: AtomicU32,
    effect: Effect,
}

impl Fault {
    pub fn fired(&self) -> u32 {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let idle: Vec<String> = guard(&self.added)
            .iter()
            .filter(|f| f.fired() == 0)
            .map(|f| format!("{:?} {:?} (key {:?})", f.op, f.phase, f.key))
            .collect();
        assert!(
            idle.is_empty(),
            "injected but never fired: {}",
            idle.join("; ")
        );
    }
}

/// Injected faults, interleaving and a call log, shared by every wrapped port of a test.
///
/// A fault or hold that never fired fails the test when the last port holding these
/// faults is dropped: an injected failure the code never met proves nothing, and no test
/// has to remember to assert it.
#[derive(Default)]
pub struct Faults {
    faults: Mutex<Vec<Arc<Fault>>>,
    /// Every fault ever added, cleared ones included.
    added: Mutex<Vec<Arc<Fault>>>,
    calls: Mutex<Vec<Op>>,
    /// Scheduler yields before each call, cycled: lets concurrent reconciles interleave at
    /// every call in patterns a property test chooses.
    yields: Mutex<(Vec<u8>, usize)>,
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Faults {
    fn add(
        &self,
        op: Op,
        key: Option<&str>,
        phase: Phase,
        count: u32,
        effect: Effect,
    ) -> Arc<Fault> {
        let f = Arc::new(Fault {
            op,
            key: key.map(str::to_string),
            phase,
            left: AtomicU32::new(count),
            fired: AtomicU32::new(0),
            effect,
        });
        guard(&self.faults).push(f.clone());
        guard(&self.added).push(f.clone());
        f
    }

    /// The next `count` calls of `op` fail at `phase`.
    pub fn fail(&self, op: Op, phase: Phase, count: u32) -> Arc<Fault> {
        self.add(op, None, phase, count, Effect::Fail)
    }

    /// Like [`Faults::fail`], for a random exploration that does not know whether the call
    /// will come: the one kind of fault that may go unfired.
    pub fn may_fail(&self, op: Op, phase: Phase, count: u32) -> Arc<Fault> {
        let f = self.fail(op, phase, count);
        guard(&self.added).retain(|a| !Arc::ptr_eq(a, &f));
        f
    }

    /// Like [`Faults::fail`], for calls about `key` only (a name or a zone id).
    pub fn fail_for(&self, op: Op, key: &str, phase: Phase, count: u32) -> Arc<Fault> {
        self.add(op, Some(key), phase, count, Effect::Fail)
    }

    /// The next `ChangeResourceRecordSets` (in `zone`, when given) takes effect, loses its
    /// answer, and is sent again: the caller sees the answer to the repeat.
    pub fn replay(&self, zone: Option<&str>) -> Arc<Fault> {
        self.replay_op(Op::ChangeResourceRecordSets, zone)
    }

    /// The next call of `op` (about `key`, when given) takes effect, loses its answer and
    /// is sent again, as the SDK does after a timeout: the caller sees the repeat's answer
    /// (for a conditional write, a failed condition: its own first attempt is there).
    pub fn replay_op(&self, op: Op, key: Option<&str>) -> Arc<Fault> {
        self.add(op, key, Phase::After, 1, Effect::Replay)
    }

    /// Whether this call of `op` is to be replayed (counted as fired).
    fn take_replay(&self, op: Op, key: Option<&str>) -> bool {
        let list = guard(&self.faults);
        let Some(f) = list.iter().find(|f| {
            f.op == op
                && matches!(f.effect, Effect::Replay)
                && f.key.as_deref().is_none_or(|k| Some(k) == key)
                && f.left.load(Ordering::SeqCst) > 0
        }) else {
            return false;
        };
        f.left.fetch_sub(1, Ordering::SeqCst);
        f.fired.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// The next call of `op` (about `key`, when given) waits at `phase` until released.
    pub fn hold(&self, op: Op, key: Option<&str>, phase: Phase) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        self.add(op, key, phase, 1, Effect::Hold(gate.clone()));
        gate
    }

    /// Like [`Faults::hold`], for a random exploration that does not know whether the call
    /// will come: unlike every other hold, it may go unfired (drop it with [`Faults::clear`]).
    pub fn may_hold(&self, op: Op, key: Option<&str>, phase: Phase) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        let f = self.add(op, key, phase, 1, Effect::Hold(gate.clone()));
        guard(&self.added).retain(|a| !Arc::ptr_eq(a, &f));
        gate
    }

    /// Drops the faults that have not fired and releases every hold.
    pub fn clear(&self) {
        for f in guard(&self.faults).drain(..) {
            if let Effect::Hold(g) = &f.effect {
                g.release();
            }
        }
    }

    pub fn set_yields(&self, pattern: Vec<u8>) {
        *guard(&self.yields) = (pattern, 0);
    }

    pub fn calls(&self) -> Vec<Op> {
        guard(&self.calls).clone()
    }

    pub fn count(&self, op: Op) -> usize {
        guard(&self.calls).iter().filter(|c| **c == op).count()
    }

    /// Calls per operation since the last reset.
    pub fn counts(&self) -> BTreeMap<Op, usize> {
        let mut out = BTreeMap::new();
        for c in guard(&self.calls).iter() {
            *out.entry(*c).or_default() += 1;
        }
        out
    }

    pub fn writes(&self) -> usize {
        guard(&self.calls).iter().filter(|c| c.writes()).count()
    }

    pub fn reset_calls(&self) {
        guard(&self.calls).clear();
    }

    async fn yield_now(&self) {
        let n = {
            let mut y = guard(&self.yields);
            let (pattern, at) = &mut *y;
            if pattern.is_empty() {
                0
            } else {
                *at = (*at + 1) % pattern.len();
                pattern[*at]
            }
        };
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }

    /// The fault this call triggers at `phase`, if any (counted as fired).
    fn take(&self, op: Op, key: Option<&str>, phase: Phase) -> Option<Arc<Fault>> {
        let list = guard(&self.faults);
        let f = list.iter().find(|f| {
            f.op == op
                && f.phase == phase
                && !matches!(f.effect, Effect::Replay)
                && (f.key.is_none() || f.key.as_deref() == key)
                && f.left.load(Ordering::SeqCst) > 0
        })?;
        f.left.fetch_sub(1, Ordering::SeqCst);
        f.fired.fetch_add(1, Ordering::SeqCst);
        Some(f.clone())
    }

    async fn at(&self, op: Op, key: Option<&str>, phase: Phase) -> Result<()> {
        let Some(f) = self.take(op, key, phase) else {
            return Ok(());
        };
        match &f.effect {
            // Taken by `change_batch` itself, never here.
            Effect::Replay => Ok(()),
            Effect::Fail => Err(Error::Aws {
                service: "fake",
                operation: "injected",
                message: format!("injected failure of {op:?} ({phase:?})"),
                retryable: true,
            }),
            Effect::Hold(gate) => {
                gate.pass().await;
                Ok(())
            }
        }
    }

    /// Runs one call through the faults: yields, `Before`, the call, `After`.
    pub async fn run<T>(
        &self,
        op: Op,
        key: Option<&str>,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.yield_now().await;
        guard(&self.calls).push(op);
        self.at(op, key, Phase::Before).await?;
        let out = call.await;
        self.at(op, key, Phase::After).await?;
        out
    }
}

/// Any port, with faults.
pub struct Faulty<P> {
    /// Shared, so that a second function (the DDNS endpoint) can run over the same fakes.
    pub inner: Arc<P>,
    pub faults: Arc<Faults>,
}

impl<P> Faulty<P> {
    pub fn new(inner: P, faults: Arc<Faults>) -> Self {
        Faulty {
            inner: Arc::new(inner),
            faults,
        }
    }
}

impl<P> Clone for Faulty<P> {
    fn clone(&self) -> Self {
        Faulty {
            inner: self.inner.clone(),
            faults: self.faults.clone(),
        }
    }
}

/// EC2 faults are keyed by the home (`account/region`) asked.
impl<P: Instances> Instances for Faulty<P> {
    fn homes(&self) -> Vec<Home> {
        self.inner.homes()
    }

    async fn describe(&self, home: &Home, owners: &[Owner]) -> Result<Vec<Instance>> {
        let key = home.to_string();
        self.faults
            .run(
                Op::DescribeInstances,
                Some(&key),
                self.inner.describe(home, owners),
            )
            .await
    }

    async fn tagged(&self, home: &Home, prefix: &str) -> Result<Vec<Instance>> {
        let key = home.to_string();
        self.faults
            .run(
                Op::TaggedInstances,
                Some(&key),
                self.inner.tagged(home, prefix),
            )
            .await
    }

    /// The same EC2 call as [`Instances::describe`] (DescribeInstances, by filter).
    async fn attached_to(&self, home: &Home, interface: &InterfaceId) -> Result<Option<Instance>> {
        let key = home.to_string();
        self.faults
            .run(
                Op::DescribeInstances,
                Some(&key),
                self.inner.attached_to(home, interface),
            )
            .await
    }

    async fn set_status(&self, owners: &[Owner], value: &str) -> Result<()> {
        self.faults
            .run(Op::CreateTags, None, self.inner.set_status(owners, value))
            .await
    }
}

/// Auto Scaling faults are keyed by the home asked, or the action's instance.
impl<P: Groups> Groups for Faulty<P> {
    async fn lifecycle_states(
        &self,
        home: &Home,
        ids: &[InstanceId],
    ) -> Result<BTreeMap<InstanceId, String>> {
        let key = home.to_string();
        self.faults
            .run(
                Op::DescribeAutoScalingInstances,
                Some(&key),
                self.inner.lifecycle_states(home, ids),
            )
            .await
    }

    async fn hook_timeout(&self, a: &LifecycleAction) -> Result<Option<i64>> {
        self.faults
            .run(
                Op::DescribeLifecycleHooks,
                Some(&a.hook),
                self.inner.hook_timeout(a),
            )
            .await
    }

    async fn complete(&self, a: &LifecycleAction) -> Result<Completion> {
        let key = a.owner.to_string();
        self.faults
            .run(
                Op::CompleteLifecycleAction,
                Some(&key),
                self.inner.complete(a),
            )
            .await
    }

    async fn heartbeat(&self, a: &LifecycleAction) -> Result<Completion> {
        let key = a.owner.to_string();
        self.faults
            .run(
                Op::RecordLifecycleActionHeartbeat,
                Some(&key),
                self.inner.heartbeat(a),
            )
            .await
    }
}

impl<P: Route53Api> Route53Api for Faulty<P> {
    async fn list_hosted_zones(&self) -> Result<Vec<Zone>> {
        self.faults
            .run(Op::ListHostedZones, None, self.inner.list_hosted_zones())
            .await
    }

    async fn list_record_sets(
        &self,
        zone: &ZoneId,
        start: Option<&ListStart>,
        max_items: Option<i32>,
    ) -> Result<Option<RawPage>> {
        self.faults
            .run(
                Op::ListResourceRecordSets,
                Some(&zone.0),
                self.inner.list_record_sets(zone, start, max_items),
            )
            .await
    }

    async fn change_batch(&self, zone: &ZoneId, changes: &[RawChange]) -> Result<Option<String>> {
        let op = Op::ChangeResourceRecordSets;
        if !self.faults.take_replay(op, Some(&zone.0)) {
            return self
                .faults
                .run(op, Some(&zone.0), self.inner.change_batch(zone, changes))
                .await;
        }
        self.faults
            .run(op, Some(&zone.0), async {
                self.inner.change_batch(zone, changes).await?;
                self.inner.change_batch(zone, changes).await
            })
            .await
    }

    fn take_applied(&self) -> Vec<String> {
        self.inner.take_applied()
    }

    async fn get_change(&self, id: &str) -> Result<bool> {
        self.faults
            .run(Op::GetChange, Some(id), self.inner.get_change(id))
            .await
    }
}

impl<P: Locks> Locks for Faulty<P> {
    async fn load(&self, names: &[Fqdn], owners: &[Owner]) -> Result<Loaded> {
        self.faults
            .run(Op::LoadLocks, None, self.inner.load(names, owners))
            .await
    }

    async fn scan(&self) -> Result<Loaded> {
        self.faults
            .run(Op::ScanLocks, None, self.inner.scan())
            .await
    }

    async fn scan_segment(&self, segment: u32, of: u32) -> Result<Loaded> {
        self.faults
            .run(Op::ScanLocks, None, self.inner.scan_segment(segment, of))
            .await
    }

    async fn item_count(&self) -> Result<Option<u64>> {
        self.faults
            .run(Op::DescribeTable, None, self.inner.item_count())
            .await
    }

    async fn start_run(&self, run: &Run) -> Result<bool> {
        self.faults
            .run(Op::StartRun, None, self.inner.start_run(run))
            .await
    }

    async fn split_part(&self, run: &str, part: &str, children: &[String]) -> Result<()> {
        self.faults
            .run(
                Op::SplitPart,
                Some(part),
                self.inner.split_part(run, part, children),
            )
            .await
    }

    async fn record_part(&self, run: &str, done: &PartDone) -> Result<Option<Run>> {
        self.faults
            .run(
                Op::RecordPart,
                Some(&done.part),
                self.inner.record_part(run, done),
            )
            .await
    }

    async fn run(&self, id: &str) -> Result<Option<Run>> {
        self.faults.run(Op::ReadRun, None, self.inner.run(id)).await
    }

    async fn write(&self, w: &LockWrite) -> Result<Cas> {
        let op = match w {
            LockWrite::Decide(_) => Op::Decide,
            LockWrite::Wait { .. } => Op::Wait,
            LockWrite::Settle { .. } => Op::Settle,
            LockWrite::Check { .. } => Op::Check,
            LockWrite::Forget { .. } => Op::Forget,
        };
        let key = Some(w.name().as_str());
        if self.faults.take_replay(op, key) {
            return self
                .faults
                .run(op, key, async {
                    self.inner.write(w).await?;
                    self.inner.write(w).await
                })
                .await;
        }
        self.faults.run(op, key, self.inner.write(w)).await
    }

    async fn prune_index(&self, keys: &[String]) -> Result<()> {
        self.faults
            .run(Op::PruneIndex, None, self.inner.prune_index(keys))
            .await
    }

    async fn deployed(&self) -> Result<Option<Deployed>> {
        self.faults
            .run(Op::ReadDeployed, None, self.inner.deployed())
            .await
    }

    async fn record_deployed(&self, d: &Deployed) -> Result<()> {
        self.faults
            .run(Op::RecordDeployed, None, self.inner.record_deployed(d))
            .await
    }

    async fn swept(&self) -> Result<Option<i64>> {
        self.faults
            .run(Op::ReadSwept, None, self.inner.swept())
            .await
    }

    async fn record_swept(&self, started: i64) -> Result<()> {
        self.faults
            .run(Op::RecordSwept, None, self.inner.record_swept(started))
            .await
    }

    async fn host(&self, name: &HostName) -> Result<Option<HostRecord>> {
        self.faults
            .run(Op::ReadHost, Some(name.as_str()), self.inner.host(name))
            .await
    }

    async fn sample_host(&self, name: &Fqdn) -> Result<Option<HostName>> {
        self.faults
            .run(
                Op::ReadHost,
                Some(name.as_str()),
                self.inner.sample_host(name),
            )
            .await
    }

    async fn put_host(&self, host: &HostRecord, create: bool) -> Result<Cas> {
        self.faults
            .run(
                Op::PutHost,
                Some(host.name.as_str()),
                self.inner.put_host(host, create),
            )
            .await
    }

    async fn delete_host(&self, host: &HostRecord) -> Result<()> {
        self.faults
            .run(
                Op::DeleteHost,
                Some(host.name.as_str()),
                self.inner.delete_host(host),
            )
            .await
    }

    async fn touch_host(&self, touch: &HostTouch) -> Result<()> {
        self.faults
            .run(
                Op::TouchHost,
                Some(touch.name.as_str()),
                self.inner.touch_host(touch),
            )
            .await
    }

    async fn count_attempt(&self, read: &HostRecord, now: i64) -> Result<Attempt> {
        self.faults
            .run(
                Op::CountAttempt,
                Some(read.name.as_str()),
                self.inner.count_attempt(read, now),
            )
            .await
    }

    /// The same one read as [`Locks::load`].
    async fn load_with_source(
        &self,
        names: &[Fqdn],
        owners: &[Owner],
        source: &SourcePrefix,
    ) -> Result<(Loaded, SourceCount)> {
        self.faults
            .run(
                Op::LoadLocks,
                None,
                self.inner.load_with_source(names, owners, source),
            )
            .await
    }

    async fn count_source_failure(
        &self,
        source: &SourcePrefix,
        now: i64,
        window: i64,
    ) -> Result<SourceCount> {
        let key = source.to_string();
        self.faults
            .run(
                Op::CountSourceFailure,
                Some(&key),
                self.inner.count_source_failure(source, now, window),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "injected but never fired: ScanLocks Before")]
    fn a_fault_that_never_fired_fails_its_test() {
        let faults = Faults::default();
        faults.fail(Op::ScanLocks, Phase::Before, 1);
    }

    #[test]
    fn a_fault_that_fired_and_an_exploratory_one_pass() {
        let faults = Faults::default();
        faults.may_fail(Op::Decide, Phase::After, 1);
        faults.fail(Op::ScanLocks, Phase::Before, 1);
        assert!(faults.take(Op::ScanLocks, None, Phase::Before).is_some());
    }
}
