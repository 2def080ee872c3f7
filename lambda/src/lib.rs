//! ec2-dns keeps Route53 A/AAAA records in step with EC2 instances that carry a name tag,
//! with DynamoDB ownership locks so that no instance can take over a name that another
//! running instance holds.
//!
//! Events are only hints ("look at instance i-… again"): every decision is re-derived from
//! EC2, the lock table and Route53, so duplicate, late and out-of-order events are harmless
//! and "reconcile everything" is the same code run over every instance.
//!
//! # Layout
//! A pipeline with one-way dependencies, **input → observe → plan → apply → report**:
//!
//! - [`input`]: typed invocations (EventBridge, SQS batch, manual command) from raw JSON.
//! - [`config`]: the environment, validated once at cold start.
//! - [`name`]: [`name::Fqdn`], the only way a name reaches Route53.
//! - [`model`]: domain types (instances, zones, record sets, locks).
//! - [`plan`]: pure planner: desired + observed → actions and outcomes.
//! - [`reconcile`]: observe → plan → apply → report, for some instances or all.
//! - [`ports`]: the traits `Instances`, `Dns`, `Locks`; [`aws`] implements them.
//! - [`handler`]: one invocation end to end, including SQS `batchItemFailures`.
//! - [`metrics`]: CloudWatch Embedded Metric Format, one line per invocation.
//! - [`cli`]: the operator CLI `ec2-dns-ctl` (plan, apply, status, release).
#![forbid(unsafe_code)]
// The reconcile future nests deeply (observe → plan → apply inside the runtime).
#![recursion_limit = "256"]

pub mod aws;
pub mod cli;
pub mod config;
pub mod error;
pub mod handler;
pub mod input;
pub mod metrics;
pub mod model;
pub mod name;
pub mod plan;
pub mod ports;
pub mod reconcile;
pub mod report;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use error::{Error, Result};
