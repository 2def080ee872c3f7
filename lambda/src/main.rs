//! The Lambda: composition root. Everything else lives in the library.
#![forbid(unsafe_code)]
// The reconcile future nests deeply (observe → decide → apply inside the runtime).
#![recursion_limit = "256"]

use ec2_dns::aws::container::Container;
use ec2_dns::{aws, config::Config, Error};
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

/// Exit status 1 after one `cannot start` line when the function cannot start.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    ec2_dns::logging::serve_function(serve()).await
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    if let Some(why) = aws::region_missing(&|k| std::env::var(k).ok()) {
        return Err(why.into());
    }
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "ec2-dns".into());
    let container = Container::new(aws::sdk_config().await, config, &function);
    let container = &container;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let LambdaEvent { payload, context } = event;
        container
            .invoke(payload, &context.invoked_function_arn, context.deadline)
            .await
            .map_err(Failure)
    }))
    .await
}
