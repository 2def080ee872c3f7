//! The Lambda: composition root. Everything else lives in the library.
#![forbid(unsafe_code)]
// The reconcile future nests deeply (observe → plan → apply inside the runtime).
#![recursion_limit = "256"]

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use ec2_dns::aws::{DynamoLocks, Ec2Instances, Route53Dns};
use ec2_dns::config::Config;
use ec2_dns::handler::handle;
use ec2_dns::reconcile::Reconciler;
use ec2_dns::Error;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

/// The platform sees our error kind (`InvalidInput`, `Retryable`, ...) as `errorType`.
#[derive(Debug)]
struct Failure(Error);

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Diagnostic {
        Diagnostic {
            error_type: f.0.kind().to_string(),
            error_message: f.0.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    // One SDK configuration and one client per service, reused by every invocation.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await;
    let reconciler = Reconciler::new(
        Ec2Instances::new(
            aws_sdk_ec2::Client::new(&sdk),
            &config.name_tag,
            &config.status_tag,
        ),
        Route53Dns::new(aws_sdk_route53::Client::new(&sdk)),
        DynamoLocks::new(aws_sdk_dynamodb::Client::new(&sdk), &config.lock_table),
        config,
    );
    let reconciler = &reconciler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(reconciler, event.payload).await.map_err(Failure)
    }))
    .await
}
