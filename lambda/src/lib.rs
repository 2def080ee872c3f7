//! ec2-dns keeps Route53 A/AAAA records in step with EC2 instances that carry a name tag,
//! with a DynamoDB lock table and ownership markers in Route53, so that no instance can
//! take over a name that another running instance holds, and no slow or lost call can
//! leave a record nobody knows.
//!
//! Events are only hints ("look at instance i-… again"): every decision is re-derived from
//! EC2, the lock table and Route53, so duplicate, late and out-of-order events are harmless
//! and "reconcile everything" is the same code run over every owner.
//!
//! # Layout
//! A pipeline with one-way dependencies, **input → observe → decide → apply → report**:
//!
//! - [`input`]: typed invocations (EventBridge, SQS batch, manual command) from raw JSON.
//! - [`config`]: the environment, validated once at cold start.
//! - [`name`]: [`name::Fqdn`], the only way a name reaches Route53.
//! - [`model`]: domain types (owners, instances, zones, record sets, markers).
//! - [`lock`]: the lock item of a name and the conditional writes on it.
//! - [`decide`]: pure decisions: claims, zones, ownership, what to read, the plan.
//! - [`engine`]: observe → decide → apply, for some owners or all.
//! - [`fleet`]: Auto Scaling lifecycle hooks and warm pools.
//! - [`ports`]: the traits the engine uses; [`aws`] implements them.
//! - [`handler`]: one invocation end to end; [`retry`]: what is retried and when;
//!   [`window`]: every rule about time (change windows, clock skew, the clock);
//!   [`coalesce`]: which reconciles of everything an earlier one already served.
//! - [`status_tag`], [`report`], [`metrics`]: what the outside sees; [`bucket`]: the token
//!   bucket of every rate limit (the function's own pacing, and the fakes' AWS limits).
//! - [`operator`] and [`cli`]: the operator CLI `ec2-dns-ctl`.
// No unsafe code; the tests' counting allocator (`testing::alloc`) is the one exception.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]
// The reconcile future nests deeply (observe → decide → apply inside the runtime).
#![recursion_limit = "256"]

pub mod aws;
pub mod bucket;
pub mod cli;
pub mod coalesce;
pub mod config;
pub mod custom_resource;
pub mod ddns;
pub mod decide;
pub mod engine;
pub mod error;
pub mod fanout;
pub mod fleet;
pub mod handler;
pub mod hosts;
pub mod input;
pub mod lock;
pub mod logging;
pub mod marker;
pub mod metrics;
pub mod model;
pub mod name;
pub mod operator;
pub mod ports;
pub mod report;
pub mod retry;
pub mod shard;
pub mod status_tag;
pub mod window;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use error::{Error, Result};
