//! One Lambda container of the reconciler: what it builds once, and what each invocation
//! does around the handler (the CloudFormation answer, the metrics line).
//!
//! Nothing is asked of AWS before the first poll for an invocation: the clients are built
//! with the first invocation, whose function ARN names the account
//! ([`super::home_of_function`]; `sts:GetCallerIdentity` only when it cannot), and that
//! invocation records the configuration beside its own work (1 or 2 calls, counted with
//! it), so that the CLI acts with what this function runs.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{AwsReconciler, SqsQueue};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::handler::handle_with;
use crate::metrics::{self, ApiCalls};
use crate::ports::Dns;

pub struct Container {
    sdk: SdkConfig,
    config: Config,
    function: String,
    calls: ApiCalls,
    ready: OnceCell<(AwsReconciler, SqsQueue)>,
}

impl Container {
    pub fn new(sdk: SdkConfig, config: Config, function: &str) -> Container {
        Container {
            sdk,
            config,
            function: function.to_string(),
            calls: ApiCalls::default(),
            ready: OnceCell::new(),
        }
    }

    /// The reconciler and the queue client, built by the first invocation.
    async fn ready(&self, invoked_arn: &str) -> Result<&(AwsReconciler, SqsQueue)> {
        self.ready
            .get_or_try_init(|| async {
                let home = match super::home_of_function(&self.sdk, invoked_arn) {
                    Some(home) => home,
                    None => super::home(&self.sdk, &self.calls).await?,
                };
                let reconciler =
                    super::reconciler(&self.sdk, self.config.clone(), home, &self.calls)
                        .await
                        .with_function(&self.function);
                Ok((reconciler, super::queue(&self.sdk, &self.calls)))
            })
            .await
    }

    /// One invocation: `payload` as the platform gave it, the invoked function's ARN and
    /// the deadline (epoch milliseconds). Prints its metrics line.
    pub async fn invoke(
        &self,
        payload: Value,
        invoked_arn: &str,
        deadline_ms: u64,
    ) -> Result<Box<RawValue>> {
        let started = Instant::now();
        let first = !self.ready.initialized();
        let (reconciler, queue) = self.ready(invoked_arn).await?;
        let route53 = reconciler.dns.usage();
        let deadline = Some((deadline_ms / 1000) as i64);
        let groups = &reconciler.instances.groups;
        let handled = handle_with(reconciler, queue, groups, payload, deadline);
        let mut done = if first {
            tokio::join!(reconciler.record_deployed(&self.function), handled).1
        } else {
            handled.await
        };
        if let Some(d) = done.deliver.take() {
            // CloudFormation waits for this, not for the invocation's answer; if it cannot be
            // sent, the invocation fails and the platform retries it.
            if let Err(e) = super::https::put(&d.url, d.body).await {
                tracing::error!(error = %e, "could not answer CloudFormation");
                done.answer = Err(Error::Incomplete(format!(
                    "could not answer CloudFormation at its ResponseURL: {e}"
                )));
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line = metrics::emf(
            &self.function,
            done.trigger,
            done.report.as_ref(),
            done.answer.is_err(),
            &self.calls.take(),
            reconciler.dns.usage().since(route53),
            started.elapsed().as_millis() as u64,
            now,
        );
        println!("{line}");
        done.answer
    }
}
