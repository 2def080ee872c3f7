//! CloudWatch metrics in Embedded Metric Format: one JSON line per invocation on stdout,
//! which CloudWatch Logs turns into metrics in the `ec2-dns` namespace.
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `Changes` / `Creates` / `Updates` / `Deletes` / `Marks` | Count | record changes applied (or planned, in a dry run); `Marks`: ownership markers alone |
//! | `Conflicts` | Count | names not published because someone else holds them |
//! | `InvalidNames` | Count | tag entries refused |
//! | `Skipped` | Count | names skipped (no zone, no address) |
//! | `Frozen` | Count | names left alone until an operator acts (outside the configuration, unreadable lock item) |
//! | `Failed` | Count | names or status tags that did not settle (retried) |
//! | `Errors` | Count | invocations answered with an error |
//! | `AwsApiCalls` | Count | AWS API attempts, retries included |
//! | `Route53Requests` | Count | Route53 requests sent (reads and changes; the SDK's retries not counted again) |
//! | `Route53RecordChanges` | Count | record set changes (CREATE, DELETE) in the change batches sent, refused ones included: what Route53's change budget counts |
//! | `Route53PacedTime` | Milliseconds | time Route53 calls waited for the function's own budget (`ROUTE53_REQUESTS_PER_SECOND`, `ROUTE53_CHANGES_PER_SECOND`) |
//! | `ReconcileDuration` | Milliseconds | handler time |
//!
//! Dimension: `Function` (the function name). Properties (not metrics): `Trigger`,
//! `DryRun` and `ApiCalls` (attempts per `service:Operation`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{json, Map, Value};

use crate::decide::RowAction;
use crate::report::Report;

pub const NAMESPACE: &str = "ec2-dns";

/// Counts AWS API attempts per `service:Operation`; shared by every client of a container.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls(Arc<Mutex<BTreeMap<String, u64>>>);

impl ApiCalls {
    /// The counts since the last call, and a fresh start.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "ec2-dns-api-calls"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(m) => format!("{}:{}", m.service(), m.name()),
            None => "unknown".to_string(),
        };
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
        Ok(())
    }
}

/// What a process sent Route53, counted by the adapter; cumulative, so that a run's share
/// is the difference of two readings ([`Route53Counts::since`]).
#[derive(Debug, Clone, Default)]
pub struct Route53Usage(Arc<[AtomicU64; 3]>);

/// A reading of [`Route53Usage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Route53Counts {
    pub requests: u64,
    pub record_changes: u64,
    /// Milliseconds calls waited for the budget.
    pub paced_ms: u64,
}

impl Route53Usage {
    /// One request carrying `changes` record changes, sent after waiting `paced_ms`.
    pub fn count(&self, changes: usize, paced_ms: u64) {
        self.0[0].fetch_add(1, Ordering::Relaxed);
        self.0[1].fetch_add(changes as u64, Ordering::Relaxed);
        self.0[2].fetch_add(paced_ms, Ordering::Relaxed);
    }

    pub fn read(&self) -> Route53Counts {
        Route53Counts {
            requests: self.0[0].load(Ordering::Relaxed),
            record_changes: self.0[1].load(Ordering::Relaxed),
            paced_ms: self.0[2].load(Ordering::Relaxed),
        }
    }
}

impl Route53Counts {
    /// What was counted after `before` was read.
    pub fn since(self, before: Route53Counts) -> Route53Counts {
        Route53Counts {
            requests: self.requests.saturating_sub(before.requests),
            record_changes: self.record_changes.saturating_sub(before.record_changes),
            paced_ms: self.paced_ms.saturating_sub(before.paced_ms),
        }
    }
}

/// The EMF document for one invocation.
#[allow(clippy::too_many_arguments)]
pub fn emf(
    function: &str,
    trigger: &str,
    report: Option<&Report>,
    error: bool,
    calls: &BTreeMap<String, u64>,
    route53: Route53Counts,
    duration_ms: u64,
    timestamp_ms: u64,
) -> Value {
    let count = |action: RowAction| {
        report.map_or(0, |r| {
            r.changes.iter().filter(|c| c.action == action).count()
        })
    };
    let mut values: Vec<(&str, &str, Value)> = vec![
        (
            "Changes",
            "Count",
            json!(report.map_or(0, |r| r.changes.len())),
        ),
        ("Creates", "Count", json!(count(RowAction::Create))),
        ("Updates", "Count", json!(count(RowAction::Update))),
        ("Deletes", "Count", json!(count(RowAction::Delete))),
        ("Marks", "Count", json!(count(RowAction::Mark))),
        (
            "Conflicts",
            "Count",
            json!(report.map_or(0, |r| r.conflicts.len())),
        ),
        (
            "InvalidNames",
            "Count",
            json!(report.map_or(0, |r| r.skipped.iter().filter(|s| s.invalid).count())),
        ),
        (
            "Skipped",
            "Count",
            json!(report.map_or(0, |r| r.skipped.iter().filter(|s| !s.invalid).count())),
        ),
        (
            "Frozen",
            "Count",
            json!(report.map_or(0, |r| r.frozen.len())),
        ),
        (
            "Failed",
            "Count",
            json!(report.map_or(0, |r| r.failed.len())),
        ),
        ("Errors", "Count", json!(u64::from(error))),
        ("AwsApiCalls", "Count", json!(calls.values().sum::<u64>())),
        ("Route53Requests", "Count", json!(route53.requests)),
        (
            "Route53RecordChanges",
            "Count",
            json!(route53.record_changes),
        ),
        ("Route53PacedTime", "Milliseconds", json!(route53.paced_ms)),
    ];
    values.push(("ReconcileDuration", "Milliseconds", json!(duration_ms)));
    let mut doc = document(function, &values, timestamp_ms);
    doc.insert("Trigger".into(), json!(trigger));
    doc.insert("DryRun".into(), json!(report.is_some_and(|r| r.dry_run)));
    doc.insert("ApiCalls".into(), json!(calls));
    Value::Object(doc)
}

/// An EMF document of `values` (name, unit, value), in the namespace, by function.
fn document(
    function: &str,
    values: &[(&str, &str, Value)],
    timestamp_ms: u64,
) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": values.iter().map(|(n, u, _)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }],
        }),
    );
    doc.insert("Function".into(), json!(function));
    for (n, _, v) in values {
        doc.insert(n.to_string(), v.clone());
    }
    doc
}

/// The EMF document of a sharded run that completed ([`crate::fanout`]): its counts and
/// how long it took, once per run.
pub fn run_emf(function: &str, run: &crate::shard::Run, seconds: i64, timestamp_ms: u64) -> Value {
    let c = run.counts;
    let values: [(&str, &str, Value); 6] = [
        ("RunShards", "Count", json!(run.finished.len())),
        ("RunOwners", "Count", json!(c.owners)),
        ("RunChanges", "Count", json!(c.changes)),
        ("RunConflicts", "Count", json!(c.conflicts)),
        ("RunFailed", "Count", json!(c.failed)),
        ("RunDuration", "Seconds", json!(seconds.max(0))),
    ];
    let mut doc = document(function, &values, timestamp_ms);
    doc.insert("Run".into(), json!(run.id));
    doc.insert("DryRun".into(), json!(run.dry_run));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::handle;
    use crate::testing::fakes::FakeQueue;
    use crate::testing::World;

    #[tokio::test]
    async fn an_invocation_emits_one_emf_document_with_every_metric() {
        let w = World::new();
        w.launch(1, "web.dyn.example.com");
        w.launch(2, "web.dyn.example.com");
        w.launch(3, "*.dyn.example.com");
        let done = handle(
            &w.rec,
            &FakeQueue::default(),
            json!({"reconcile": "all"}),
            None,
        )
        .await;
        let calls = BTreeMap::from([
            ("EC2:DescribeInstances".to_string(), 2),
            ("Route 53:ChangeResourceRecordSets".to_string(), 2),
        ]);
        let doc = emf(
            "ec2-dns",
            done.trigger,
            done.report.as_ref(),
            done.answer.is_err(),
            &calls,
            Route53Counts {
                requests: 3,
                record_changes: 4,
                paced_ms: 0,
            },
            42,
            1_700_000_000_000,
        );
        // What CloudWatch parses: the line is one JSON object with the _aws envelope.
        let line = doc.to_string();
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let meta = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(meta["Namespace"], "ec2-dns");
        assert_eq!(meta["Dimensions"], json!([["Function"]]));
        let names: Vec<&str> = meta["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in &names {
            assert!(
                parsed.get(*n).is_some_and(Value::is_number),
                "metric {n} has no value"
            );
        }
        assert_eq!(parsed["Function"], "ec2-dns");
        assert_eq!(parsed["Trigger"], "manual");
        assert_eq!(
            (parsed["Creates"].as_u64(), parsed["Changes"].as_u64()),
            (Some(2), Some(2))
        );
        assert_eq!(parsed["Conflicts"], 1);
        assert_eq!(parsed["InvalidNames"], 1);
        assert_eq!(parsed["Skipped"], 0);
        assert_eq!(parsed["Errors"], 0);
        assert_eq!(parsed["AwsApiCalls"], 4);
        assert_eq!(
            (
                parsed["Route53Requests"].as_u64(),
                parsed["Route53RecordChanges"].as_u64()
            ),
            (Some(3), Some(4))
        );
        assert_eq!(parsed["ReconcileDuration"], 42);
        assert_eq!(parsed["ApiCalls"]["EC2:DescribeInstances"], 2);
    }

    #[tokio::test]
    async fn a_rejected_payload_counts_as_an_error() {
        let w = World::new();
        let done = handle(&w.rec, &FakeQueue::default(), json!([]), None).await;
        let doc = emf(
            "f",
            done.trigger,
            done.report.as_ref(),
            done.answer.is_err(),
            &BTreeMap::new(),
            Route53Counts::default(),
            1,
            1,
        );
        assert_eq!(
            (doc["Errors"].as_u64(), doc["Trigger"].as_str()),
            (Some(1), Some("invalid"))
        );
    }
}
