//! The DDNS endpoint's Lambda (served through a function URL): composition root.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ec2_dns::cli::resolve_config;
use ec2_dns::ddns::{handle_event, EndpointConfig};
use ec2_dns::ports::Dns;
use ec2_dns::ports::Locks;
use ec2_dns::{aws, config::Config, metrics};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// Exit status 1 after one `cannot start` line when the function cannot start.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    ec2_dns::logging::serve_function(serve()).await
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    let own = Config::from_env()?;
    if let Some(why) = aws::region_missing(&|k| std::env::var(k).ok()) {
        return Err(why.into());
    }
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "ec2-dns-ddns".into());
    let calls = metrics::ApiCalls::default();
    let sdk = aws::sdk_config().await;
    let home = aws::home(&sdk, &calls).await?;
    // Allowed domains and TTL are the reconciler's, as it recorded them in the lock table:
    // the two functions never disagree about what a name should hold.
    let deployed = aws::locks(&sdk, &own, &home, &calls).deployed().await?;
    let (config, notes) = resolve_config(&env, deployed.as_ref(), false)?;
    for note in notes {
        tracing::warn!(note, "configuration");
    }
    let settings = EndpointConfig {
        origin_secret: env("ORIGIN_SECRET"),
    };
    let prefix = env("HOST_SECRETS_PREFIX").unwrap_or_else(|| aws::DEFAULT_SECRETS_PREFIX.into());
    let endpoint = aws::endpoint(
        &sdk,
        config,
        home,
        &calls,
        settings,
        &prefix,
        env("ALERT_TOPIC_ARN"),
    );
    calls.take();
    let (endpoint, function, calls) = (&endpoint, function.as_str(), &calls);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let started = Instant::now();
        let route53 = endpoint.rec.dns.usage();
        let deadline = Some((event.context.deadline / 1000) as i64);
        let response = handle_event(endpoint, &event.payload, deadline).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line = metrics::emf(
            function,
            "ddns",
            None,
            response.failed,
            &calls.take(),
            endpoint.rec.dns.usage().since(route53),
            started.elapsed().as_millis() as u64,
            now,
        );
        println!("{line}");
        Ok::<Value, lambda_runtime::Error>(response.to_event())
    }))
    .await
}
