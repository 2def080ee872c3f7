//! `ec2-dns-ctl`: plan, apply, status and release from an operator's laptop, with the
//! operator's own credentials and the same library as the Lambda. See `ec2-dns-ctl --help`.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

use std::process::ExitCode;

use ec2_dns::cli::{parse_args, render_report, render_status, status_json, Command};
use ec2_dns::reconcile::Request;
use ec2_dns::{config::Config, metrics::ApiCalls};

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(1);
        }
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ec2-dns-ctl: {e}");
            return ExitCode::from(1);
        }
    };
    let calls = ApiCalls::default();
    let rec = ec2_dns::aws::reconciler(config, &calls).await;
    let report = match args.command {
        Command::Status => {
            eprintln!("reading the lock table ...");
            return match rec.status().await {
                Ok(rows) if args.json => print_ok(&status_json(&rows).to_string()),
                Ok(rows) => print_ok(&render_status(&rows)),
                Err(e) => fail(&e),
            };
        }
        Command::Plan(scope) => {
            eprintln!("planning (dry run) ...");
            rec.reconcile(&Request {
                scope,
                verify_dns: true,
                dry_run: true,
            })
            .await
        }
        Command::Apply(scope) => {
            eprintln!("reconciling ...");
            rec.reconcile(&Request {
                scope,
                verify_dns: true,
                dry_run: false,
            })
            .await
        }
        Command::Release { name, dry_run } => {
            eprintln!(
                "releasing {name}{} ...",
                if dry_run { " (dry run)" } else { "" }
            );
            rec.release_name(&name, dry_run).await
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    eprintln!("{} AWS API call(s)", calls.take().values().sum::<u64>());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render_report(&report));
    }
    if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn print_ok(text: &str) -> ExitCode {
    println!("{}", text.trim_end());
    ExitCode::SUCCESS
}

fn fail(e: &ec2_dns::Error) -> ExitCode {
    eprintln!("ec2-dns-ctl: {e}");
    ExitCode::from(1)
}
