//! One log variable for all three binaries: `EC2DNS_LOG` (`error`, `warn`, `info`, `debug`,
//! or a filter such as `ec2_dns=debug,aws_smithy_runtime=debug`). Unset, the functions keep
//! Lambda's own controls (`AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, `INFO` by default) and the
//! CLI logs warnings only; the SDK's own warnings (a region IMDS could not give, say) are left
//! out of a level word's filter, as the error that follows says what matters.

use lambda_runtime::tracing::subscriber::{self, EnvFilter};

/// The filter for `EC2DNS_LOG`'s value, when it is set.
pub fn ec2dns_filter(value: &str) -> Option<String> {
    let value = value.trim();
    match value.to_ascii_lowercase().as_str() {
        "" => None,
        l @ ("debug" | "info" | "warn" | "error" | "trace") => Some(format!(
            "warn,aws_config=error,ec2_dns={l},ec2_dns_ctl={l},ec2_dns_ddns={l}"
        )),
        _ => Some(value.to_string()),
    }
}

/// The filter of a function: `EC2DNS_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
/// `info`.
pub fn function_filter(env: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some(f) = env("EC2DNS_LOG").and_then(|v| ec2dns_filter(&v)) {
        return f;
    }
    env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| env("RUST_LOG"))
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "info".to_string())
}

/// The filter of the CLI: `EC2DNS_LOG`, else warnings only, without the lines that repeat
/// the report it prints (each warning and outcome is said once, in the report).
pub fn cli_filter(env: &dyn Fn(&str) -> Option<String>) -> String {
    env("EC2DNS_LOG")
        .and_then(|v| ec2dns_filter(&v))
        .unwrap_or_else(|| "warn,aws_config=error,ec2_dns::outcome=off".to_string())
}

/// A function's logging: lines on stdout, JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (as
/// Lambda's advanced logging controls set it).
pub fn init_function() {
    let env = |k: &str| std::env::var(k).ok();
    let collector = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(EnvFilter::new(function_filter(&env)))
        .with_writer(std::io::stdout);
    if env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        collector.json().init()
    } else {
        collector.init()
    }
}

/// A function's `main`: its logging, then `serve`; when it cannot start, one `cannot start`
/// line and exit status 1 (not the SDK's or Rust's debug output).
pub async fn serve_function<F, E>(serve: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    init_function();
    match serve.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            lambda_runtime::tracing::error!(error = %e, "cannot start");
            std::process::ExitCode::from(1)
        }
    }
}

/// The CLI's logging: lines on stderr, so that `--json` output can be piped.
pub fn init_cli() {
    subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::new(cli_filter(&|k| std::env::var(k).ok())))
        .with_target(false)
        .without_time()
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn one_variable_sets_the_level_of_every_binary() {
        let debug = &[("EC2DNS_LOG", "debug"), ("AWS_LAMBDA_LOG_LEVEL", "ERROR")];
        assert!(function_filter(&env(debug)).contains("ec2_dns=debug"));
        assert!(cli_filter(&env(debug)).contains("ec2_dns_ctl=debug"));
        assert_eq!(
            function_filter(&env(&[("EC2DNS_LOG", "ec2_dns=trace")])),
            "ec2_dns=trace"
        );
        // Unset: Lambda's own controls for the functions, warnings for the CLI.
        assert_eq!(
            function_filter(&env(&[
                ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
                ("RUST_LOG", "warn")
            ])),
            "debug"
        );
        assert_eq!(function_filter(&env(&[("RUST_LOG", "warn")])), "warn");
        assert_eq!(function_filter(&env(&[])), "info");
        assert_eq!(
            cli_filter(&env(&[])),
            "warn,aws_config=error,ec2_dns::outcome=off"
        );
        assert_eq!(ec2dns_filter("  "), None);
    }
}
