//! Adapters: the only place SDK types appear. Each implements one port with the subset of
//! the service's API that ec2-dns uses, and maps SDK errors by variant.

mod dynamodb;
mod ec2;
mod route53;

pub use dynamodb::DynamoLocks;
pub use ec2::Ec2Instances;
pub use route53::Route53Dns;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use std::time::Duration;

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion};

use crate::config::Config;
use crate::error::Error;
use crate::metrics::ApiCalls;
use crate::reconcile::Reconciler;

/// The production reconciler: one SDK configuration from the standard sources (region,
/// credentials chain, `AWS_ENDPOINT_URL`), standard retries (5 attempts; throttling and
/// `PriorRequestNotComplete` back off), bounded timeouts, and one client per service whose
/// every attempt is counted in `calls`. Built once per container and reused.
pub async fn reconciler(
    config: Config,
    calls: &ApiCalls,
) -> Reconciler<Ec2Instances, Route53Dns, DynamoLocks> {
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
    let ec2 = aws_sdk_ec2::config::Builder::from(&sdk)
        .interceptor(calls.clone())
        .build();
    let r53 = aws_sdk_route53::config::Builder::from(&sdk)
        .interceptor(calls.clone())
        .build();
    let ddb = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(calls.clone())
        .build();
    Reconciler::new(
        Ec2Instances::new(
            aws_sdk_ec2::Client::from_conf(ec2),
            &config.name_tag,
            &config.status_tag,
        ),
        Route53Dns::new(aws_sdk_route53::Client::from_conf(r53)),
        DynamoLocks::new(aws_sdk_dynamodb::Client::from_conf(ddb), &config.lock_table),
        config,
    )
}

/// Error codes that mean "slow down or try again" on any of the three services.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "TooManyRequestsException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "Unavailable",
];

/// Maps an SDK error (after the SDK's own retries) to ours: timeouts, connection failures,
/// throttling and 5xx are retryable; everything else (access denied, validation) is not.
pub(crate) fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, Response>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(se) => {
            se.raw().status().is_server_error()
                || se
                    .err()
                    .code()
                    .is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        _ => true,
    };
    Error::Aws {
        service,
        operation,
        message: DisplayErrorContext(&err).to_string(),
        retryable,
    }
}

#[cfg(test)]
mod tests;
