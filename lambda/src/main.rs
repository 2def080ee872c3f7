//! The Lambda: composition root. Everything else lives in the library.
#![forbid(unsafe_code)]
// The reconcile future nests deeply (observe → decide → apply inside the runtime).
#![recursion_limit = "256"]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ec2_dns::ports::Dns;
use ec2_dns::{aws, config::Config, handler::handle_with, metrics, Error};
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
    let calls = metrics::ApiCalls::default();
    let sdk = aws::sdk_config().await;
    let home = aws::home(&sdk, &calls).await?;
    let reconciler = aws::reconciler(&sdk, config, home, &calls)
        .await
        .with_function(&function);
    let queue = aws::queue(&sdk, &calls);
    reconciler.record_deployed(&function).await;
    calls.take(); // start-up calls belong to no invocation
    let (reconciler, queue, function, calls) = (&reconciler, &queue, function.as_str(), &calls);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let started = Instant::now();
        let route53 = reconciler.dns.usage();
        let deadline = Some((event.context.deadline / 1000) as i64);
        let groups = &reconciler.instances.groups;
        let mut done = handle_with(reconciler, queue, groups, event.payload, deadline).await;
        if let Some(d) = done.deliver.take() {
            // CloudFormation waits for this, not for the invocation's answer; if it cannot be
            // sent, the invocation fails and the platform retries it.
            if let Err(e) = aws::https::put(&d.url, d.body).await {
                tracing::error!(error = %e, "could not answer CloudFormation");
                done.answer = Err(Error::Incomplete(format!(
                    "could not answer CloudFormation at its ResponseURL: {e}"
                )));
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let ms = started.elapsed().as_millis() as u64;
        let failed = done.answer.is_err();
        let line = metrics::emf(
            function,
            done.trigger,
            done.report.as_ref(),
            failed,
            &calls.take(),
            reconciler.dns.usage().since(route53),
            ms,
            now,
        );
        println!("{line}");
        done.answer.map_err(Failure)
    }))
    .await
}
