//! The services ec2-dns talks to, as small traits in domain types. The adapters in
//! [`crate::aws`] implement them; tests use in-process fakes (`crate::testing`) that enforce
//! AWS's rules, wrapped in one fault injector.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::config::Deployed;
use crate::decide::Seen;
use crate::error::{Error, Result};
use crate::hosts::{Attempt, HostName, HostRecord, SourceCount, SourcePrefix};
use crate::lock::{Cas, HostTouch, Loaded, LockWrite};
use crate::metrics::Route53Counts;
use crate::model::{
    Change, ChangeAction, Completion, Home, Instance, InstanceId, InterfaceId, LifecycleAction,
    Owner, RecordType, Zone, ZoneId,
};
use crate::name::Fqdn;
use crate::shard::{PartDone, Run};
use crate::window::SendWindow;

/// EC2, as far as ec2-dns needs it.
pub trait Instances: Send + Sync {
    /// The accounts and regions whose instances ec2-dns manages (each asked on its own, so
    /// that one that cannot be reached leaves the others' instances observed).
    fn homes(&self) -> Vec<Home>;
    /// The instances among `owners` (all of `home`) that EC2 knows (the others are simply
    /// absent).
    fn describe(
        &self,
        home: &Home,
        owners: &[Owner],
    ) -> impl Future<Output = Result<Vec<Instance>>> + Send;
    /// Every instance of `home` carrying the name tag, in any state, whose id after `i-`
    /// starts with `prefix` (empty: all; a shard of a sharded run names one).
    fn tagged(
        &self,
        home: &Home,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Instance>>> + Send;
    /// The instance of `home` that network interface `interface` is attached to (`None`:
    /// attached to none, or unknown). One read, the instance's tags and addresses included.
    fn attached_to(
        &self,
        home: &Home,
        interface: &InterfaceId,
    ) -> impl Future<Output = Result<Option<Instance>>> + Send;
    /// Sets the status tag of every instance of `owners` to `value`.
    fn set_status(&self, owners: &[Owner], value: &str) -> impl Future<Output = Result<()>> + Send;
}

/// What became of one name's changes in one zone.
#[derive(Debug)]
pub enum Applied {
    Done,
    /// Route53 refused them (`InvalidChangeBatch`): nothing of them was applied.
    Rejected(String),
    /// Route53 refused them because a record set protection covers some of the name's
    /// record sets in the zone (`types`; `Txt`: its marker): nothing of them was applied, and
    /// no retry can change that until an operator removes the protection.
    Protected {
        types: BTreeSet<RecordType>,
        why: String,
    },
    /// The call failed: they may or may not have been applied.
    Failed(Error),
}

/// Hosted zones a run reads or writes at once: a name's public and private zone, and a
/// few more. Route53's budget is per account, so more at once would only wait longer.
pub const ZONES_AT_ONCE: usize = 4;

/// Route53, as far as ec2-dns needs it, in domain terms. Implemented once, over the raw
/// API ([`Route53Api`]), by `crate::aws::Route53Dns`, which owns the wire tactics.
pub trait Dns: Send + Sync {
    /// Every hosted zone of the account.
    fn zones(&self) -> impl Future<Output = Result<Vec<Zone>>> + Send;
    /// What `zone` holds for each of `names` (every name is in the answer).
    fn read(
        &self,
        zone: &ZoneId,
        names: &[Fqdn],
    ) -> impl Future<Output = Result<BTreeMap<Fqdn, Seen>>> + Send;
    /// What `zone` holds, for every name that has anything ec2-dns cares about.
    fn read_zone(&self, zone: &ZoneId)
        -> impl Future<Output = Result<BTreeMap<Fqdn, Seen>>> + Send;
    /// Applies changes; each name's changes in one zone land together or not at all. No
    /// call is sent once `window` has closed: the names it would have carried are
    /// `Failed` (they may be retried by the next run, which reads first).
    fn change(
        &self,
        changes: &[Change],
        window: &SendWindow<'_>,
    ) -> impl Future<Output = BTreeMap<(Fqdn, ZoneId), Applied>> + Send;
    /// What was sent to Route53 so far (cumulative): requests, record changes, and the time
    /// calls waited for the budget.
    fn usage(&self) -> Route53Counts;
    /// The ids of the batches Route53 applied since the last call, oldest first (what an
    /// Auto Scaling lifecycle action waits for: see [`Dns::in_sync`]).
    fn take_applied(&self) -> Vec<String>;
    /// `GetChange`: whether the change `id` has reached all of Route53's servers (`INSYNC`).
    fn in_sync(&self, id: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// Where a listing of record sets starts (Route53's name, type and identifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListStart {
    pub name: String,
    pub rtype: Option<String>,
    pub identifier: Option<String>,
}

/// A record set as Route53 lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSet {
    /// As Route53 spells it (lowercase, trailing dot, `\052` for `*`).
    pub name: String,
    pub rtype: String,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    /// An alias, or a routing-policy set (set identifier): never ec2-dns's.
    pub special: bool,
}

/// One page of `ListResourceRecordSets`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawPage {
    pub sets: Vec<RawSet>,
    /// Where the next page starts, when the listing is truncated.
    pub next: Option<ListStart>,
}

/// One change of a `ChangeResourceRecordSets` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChange {
    pub action: ChangeAction,
    pub name: String,
    pub rtype: String,
    pub ttl: i64,
    pub values: Vec<String>,
}

/// The three Route53 calls ec2-dns makes, as the wire has them. The SDK client implements
/// them for real; the test fake implements them with Route53's rules.
pub trait Route53Api: Send + Sync {
    /// All pages of `ListHostedZones`.
    fn list_hosted_zones(&self) -> impl Future<Output = Result<Vec<Zone>>> + Send;
    /// One page of `ListResourceRecordSets`; `None`: the zone does not exist (any more).
    fn list_record_sets(
        &self,
        zone: &ZoneId,
        start: Option<&ListStart>,
        max_items: Option<i32>,
    ) -> impl Future<Output = Result<Option<RawPage>>> + Send;
    /// One `ChangeResourceRecordSets` batch: `Ok(None)` applied, `Ok(Some(why))` refused
    /// as a whole (`InvalidChangeBatch`).
    fn change_batch(
        &self,
        zone: &ZoneId,
        changes: &[RawChange],
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// The ids of the batches applied by [`Route53Api::change_batch`] since the last call
    /// (`ChangeInfo.Id`), oldest first.
    fn take_applied(&self) -> Vec<String>;
    /// `GetChange`: `true` once the change is `INSYNC`.
    fn get_change(&self, id: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// The DynamoDB lock table. Every write is conditional (see [`LockWrite`]).
pub trait Locks: Send + Sync {
    /// Consistent read of the locks of `names` and of the owner index of `owners`.
    fn load(&self, names: &[Fqdn], owners: &[Owner])
        -> impl Future<Output = Result<Loaded>> + Send;
    /// Every item of the table.
    fn scan(&self) -> impl Future<Output = Result<Loaded>> + Send;
    /// Every item of segment `segment` of `of` (DynamoDB's parallel scan: each item is in
    /// exactly one segment).
    fn scan_segment(&self, segment: u32, of: u32) -> impl Future<Output = Result<Loaded>> + Send;
    /// How many items the table holds, as DynamoDB last counted them (it does about every
    /// six hours); `None` when it does not say.
    fn item_count(&self) -> impl Future<Output = Result<Option<u64>>> + Send;
    /// Creates the item of a sharded run; `false` when one of that id exists (a retried
    /// start), which is left as it is.
    fn start_run(&self, run: &Run) -> impl Future<Output = Result<bool>> + Send;
    /// Records that part `part` of run `run` split into `children` (added to its parts).
    fn split_part(
        &self,
        run: &str,
        part: &str,
        children: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records a part's result: with `done.finished`, once (its counts added to the run's,
    /// atomically, and the run as it is after returned; `None` when that part was recorded
    /// already); otherwise only its note.
    fn record_part(
        &self,
        run: &str,
        done: &PartDone,
    ) -> impl Future<Output = Result<Option<Run>>> + Send;
    /// A sharded run's item (consistent read).
    fn run(&self, id: &str) -> impl Future<Output = Result<Option<Run>>> + Send;
    fn write(&self, w: &LockWrite) -> impl Future<Output = Result<Cas>> + Send;
    /// Deletes owner-index items, each only while its name list is still empty.
    fn prune_index(&self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
    /// The configuration the deployed function last recorded.
    fn deployed(&self) -> impl Future<Output = Result<Option<Deployed>>> + Send;
    /// Records the function's configuration (at its cold start, when it differs).
    fn record_deployed(&self, d: &Deployed) -> impl Future<Output = Result<()>> + Send;
    /// When the last reconcile of everything that finished without failures started (epoch
    /// seconds, the function's clock), as recorded by [`Locks::record_swept`].
    fn swept(&self) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// Records that a reconcile of everything which started at `started` finished without
    /// failures. Never moves the recorded time back (a slower, older run finishing later
    /// leaves the newer time).
    fn record_swept(&self, started: i64) -> impl Future<Output = Result<()>> + Send;
    /// One host credential (consistent read).
    fn host(&self, name: &HostName) -> impl Future<Output = Result<Option<HostRecord>>> + Send;
    /// The host credential that answers the AWS sample's protocol for `name`.
    fn sample_host(&self, name: &Fqdn) -> impl Future<Output = Result<Option<HostName>>> + Send;
    /// Creates a host credential (`Won` unless one of that name exists), or replaces one
    /// at the version read (a new secret, new names).
    fn put_host(&self, host: &HostRecord, create: bool)
        -> impl Future<Output = Result<Cas>> + Send;
    fn delete_host(&self, host: &HostRecord) -> impl Future<Output = Result<()>> + Send;
    /// Records a host's update, lease, alert or failed logins (not conditional: the last
    /// word wins, and none of it decides ownership).
    fn touch_host(&self, touch: &HostTouch) -> impl Future<Output = Result<()>> + Send;
    /// Counts one password check against `host` before it is made, atomically on the item
    /// as it is (`read` is what the caller read: the first guess), unless the credential is
    /// locked out ([`HostRecord::attempt`]). However many run at once, no more checks are
    /// counted than the lockout allows.
    fn count_attempt(
        &self,
        read: &HostRecord,
        now: i64,
    ) -> impl Future<Output = Result<Attempt>> + Send;
    /// [`Locks::load`], and the failed logins of `source`, in the same read.
    fn load_with_source(
        &self,
        names: &[Fqdn],
        owners: &[Owner],
        source: &SourcePrefix,
    ) -> impl Future<Output = Result<(Loaded, SourceCount)>> + Send;
    /// Counts one failed login of `source` atomically, in windows of `window` seconds;
    /// the count after it.
    fn count_source_failure(
        &self,
        source: &SourcePrefix,
        now: i64,
        window: i64,
    ) -> impl Future<Output = Result<SourceCount>> + Send;
}

/// A failed SQS message to make visible again after `delay_s` seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryLater {
    pub queue_arn: String,
    pub receipt_handle: String,
    pub delay_s: i32,
}

/// The event queue, as far as the function itself acts on it: a failed message is retried
/// soon (a DNS change must not wait for the queue's visibility timeout).
pub trait Queue: Send + Sync {
    fn retry_later(&self, messages: &[RetryLater]) -> impl Future<Output = Result<()>> + Send;
    /// Sends each of `bodies` as one message to the queue at `url` (an error when any was
    /// not accepted: sending them all again is harmless, their receivers are idempotent).
    fn send(&self, url: &str, bodies: &[String]) -> impl Future<Output = Result<()>> + Send;
}

/// Where the shared secrets of hosts that use the AWS sample's protocol are kept, encrypted
/// at rest (SSM SecureString parameters), away from the lock table.
pub trait Secrets: Send + Sync {
    fn secret(&self, host: &HostName) -> impl Future<Output = Result<Option<String>>> + Send;
    fn put_secret(&self, host: &HostName, secret: &str) -> impl Future<Output = Result<()>> + Send;
    fn delete_secret(&self, host: &HostName) -> impl Future<Output = Result<()>> + Send;
}

/// Where alerts go (an SNS topic). Sending is best effort: a failure is logged.
pub trait Alerts: Send + Sync {
    fn alert(&self, subject: &str, message: &str) -> impl Future<Output = Result<()>> + Send;
}

/// No alerts configured.
pub struct NoAlerts;

impl Alerts for NoAlerts {
    async fn alert(&self, _subject: &str, _message: &str) -> Result<()> {
        Ok(())
    }
}

/// Auto Scaling, as far as ec2-dns needs it.
pub trait Groups: Send + Sync {
    /// The lifecycle state (`InService`, `Pending:Wait`, `Warmed:Running`,
    /// `Terminating:Wait`, …) of each of `ids` (at most [`crate::fleet::IDS_PER_CALL`], instances of
    /// `home`) that belongs to a group; the others are absent.
    fn lifecycle_states(
        &self,
        home: &Home,
        ids: &[InstanceId],
    ) -> impl Future<Output = Result<BTreeMap<InstanceId, String>>> + Send;
    /// The hook's heartbeat timeout in seconds (`None`: no such hook).
    fn hook_timeout(
        &self,
        action: &LifecycleAction,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// `CompleteLifecycleAction` with `CONTINUE`, the only result ec2-dns ever gives.
    fn complete(&self, action: &LifecycleAction)
        -> impl Future<Output = Result<Completion>> + Send;
    /// `RecordLifecycleActionHeartbeat`: the hook's timeout starts again.
    fn heartbeat(
        &self,
        action: &LifecycleAction,
    ) -> impl Future<Output = Result<Completion>> + Send;
}
