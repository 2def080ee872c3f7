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

use crate::error::Error;

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
