//! The three services ec2-dns talks to, as small traits in domain types. The AWS adapters
//! in [`crate::aws`] implement them; tests use in-process fakes that enforce AWS's rules.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::error::Result;
use crate::model::{Change, Instance, InstanceId, Lock, RecordSet, Zone, ZoneId};
use crate::name::Fqdn;
use crate::plan::Expect;

/// EC2, as far as ec2-dns needs it.
pub trait Instances: Send + Sync {
    /// The instances among `ids` that EC2 knows (missing ids are simply absent).
    fn describe(&self, ids: &[InstanceId]) -> impl Future<Output = Result<Vec<Instance>>> + Send;
    /// Every instance carrying the name tag; only running ones when `running_only`.
    fn tagged(&self, running_only: bool) -> impl Future<Output = Result<Vec<Instance>>> + Send;
    /// Sets the status tag of one instance.
    fn set_status(&self, id: &InstanceId, value: &str) -> impl Future<Output = Result<()>> + Send;
}

/// What a Route53 change batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// Route53 refused the batch as a whole (`InvalidChangeBatch`): nothing was changed.
    Rejected(String),
}

/// Route53, as far as ec2-dns needs it.
pub trait Dns: Send + Sync {
    /// Every hosted zone of the account.
    fn zones(&self) -> impl Future<Output = Result<Vec<Zone>>> + Send;
    /// Every A and AAAA set of a zone, by name.
    fn zone_records(
        &self,
        zone: &ZoneId,
    ) -> impl Future<Output = Result<Vec<(Fqdn, RecordSet)>>> + Send;
    /// The A and AAAA sets of one name in one zone.
    fn name_records(
        &self,
        zone: &ZoneId,
        name: &Fqdn,
    ) -> impl Future<Output = Result<Vec<RecordSet>>> + Send;
    /// Applies one change batch atomically.
    fn change(
        &self,
        zone: &ZoneId,
        changes: &[Change],
    ) -> impl Future<Output = Result<Applied>> + Send;
}

/// Locks found, and the owner index: which names each asked-for instance owns.
pub type Loaded = (Vec<Lock>, BTreeMap<InstanceId, BTreeSet<Fqdn>>);

/// A conditional lock write either wins or finds someone else there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cas {
    /// Written; the lock's new version.
    Won(u64),
    /// The condition failed; the current owner, if there is a lock at all.
    Lost(Option<InstanceId>),
}

/// The DynamoDB lock table. Every write is conditional on the owner and version read.
pub trait Locks: Send + Sync {
    /// Consistent read of the locks of `names` and of the owner index of `owners`.
    fn load(
        &self,
        names: &[Fqdn],
        owners: &[InstanceId],
    ) -> impl Future<Output = Result<Loaded>> + Send;
    /// Every name lock in the table. With `prune`, owner-index items that releases left
    /// empty are deleted on the way (a write: never in a dry run, `plan` or `status`).
    fn scan(&self, prune: bool) -> impl Future<Output = Result<Vec<Lock>>> + Send;
    /// Takes `name` for `owner` (or updates its intent when `owner` already holds it),
    /// provided the lock is still as `expect` says; records `intent` before Route53 changes.
    fn acquire(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        expect: &Expect,
        intent: &[RecordSet],
    ) -> impl Future<Output = Result<Cas>> + Send;
    /// Records what is now in Route53 and clears the intent, if `owner` still holds
    /// `name` at `version`.
    fn commit(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        version: u64,
        records: &[RecordSet],
    ) -> impl Future<Output = Result<Cas>> + Send;
    /// Deletes the lock, if `owner` still holds `name` at `version`.
    fn release(
        &self,
        name: &Fqdn,
        owner: &InstanceId,
        version: u64,
    ) -> impl Future<Output = Result<Cas>> + Send;
}
