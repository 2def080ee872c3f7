//! The one error type of the crate.

/// Everything that can stop a reconcile. Expected outcomes (a conflict, an invalid tag, an
/// instance without an address) are not errors: they are reported. An error means
/// "this did not complete, retry me" unless [`Error::is_retryable`] says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The invocation payload is not one we understand. Retrying cannot help.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The environment does not describe a usable configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An AWS call failed (after the SDK's own retries, where it retries).
    #[error("{service} {operation} failed: {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        message: String,
        retryable: bool,
    },
    /// AWS answered something we cannot interpret (a missing field, a malformed item).
    #[error("unexpected {service} data: {message}")]
    Unexpected {
        service: &'static str,
        message: String,
    },
    /// Some names or instances could not be brought in line; the report says which.
    #[error("reconcile incomplete: {0}")]
    Incomplete(String),
    /// The plan deletes more record sets than the caller allowed; nothing was written.
    #[error("the plan deletes {planned} record sets, more than the {limit} allowed without force; nothing was changed")]
    TooManyDeletes { planned: usize, limit: usize },
}

impl Error {
    /// Whether trying again later can succeed: throttling, timeouts, 5xx and partial
    /// reconciles can; bad input and configuration cannot.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::InvalidInput(_) | Error::Config(_) | Error::TooManyDeletes { .. } => false,
            Error::Aws { retryable, .. } => *retryable,
            Error::Unexpected { .. } | Error::Incomplete(_) => true,
        }
    }

    /// The `errorType` the Lambda runtime reports for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) | Error::TooManyDeletes { .. } => "InvalidInput",
            Error::Config(_) => "InvalidConfiguration",
            _ if self.is_retryable() => "Retryable",
            _ => "AwsError",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
