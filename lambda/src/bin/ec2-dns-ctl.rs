//! `ec2-dns-ctl`: plan, apply, status, release and rebuild from an operator's laptop, with
//! the operator's own credentials, the deployed function's configuration and the same
//! library as the Lambda. See `ec2-dns-ctl --help`.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

use std::process::ExitCode;

use ec2_dns::aws::{self, DynamoLocks};
use ec2_dns::cli::{
    parse_args, render_hosts, render_issued, render_rebuild, render_report, render_status,
    resolve_config, status_json, Command, HostCommand,
};
use ec2_dns::ddns::admin;
use ec2_dns::engine::Request;
use ec2_dns::metrics::ApiCalls;
use ec2_dns::model::Owner;
use ec2_dns::model::Scope;
use ec2_dns::ports::Locks;

/// How long the CLI may take: a reconcile started here never sends a change later.
const RUN_FOR_S: i64 = 600;

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
    let Some(table) = std::env::var("LOCK_TABLE")
        .ok()
        .filter(|t| !t.trim().is_empty())
    else {
        eprintln!("ec2-dns-ctl: LOCK_TABLE is required (the deployed function's lock table)");
        return ExitCode::from(1);
    };
    let calls = ApiCalls::default();
    let sdk = aws::sdk_config().await;
    let home = match aws::home(&sdk, &calls).await {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let ddb = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(calls.clone())
        .build();
    let locks = DynamoLocks::new(
        aws_sdk_dynamodb::Client::from_conf(ddb),
        table.trim(),
        home.clone(),
    );
    let deployed = match locks.deployed().await {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let env = |k: &str| std::env::var(k).ok();
    let config = match resolve_config(&env, deployed.as_ref(), args.command.writes()) {
        Ok((config, notes)) => {
            for n in notes {
                eprintln!("note: {n}");
            }
            config
        }
        Err(e) => return fail(&e),
    };
    let rec = aws::reconciler(&sdk, config, home.clone(), &calls);
    let deadline = Some(rec.now() + RUN_FOR_S);
    let scope = |ids: Option<std::collections::BTreeSet<_>>| match ids {
        None => Scope::All,
        Some(ids) => Scope::Owners(ids.into_iter().map(|i| home.instance(i)).collect()),
    };
    let prefix = std::env::var("HOST_SECRETS_PREFIX")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| aws::DEFAULT_SECRETS_PREFIX.into());
    let secrets = || aws::secrets(&sdk, &calls, &prefix);
    let report = match args.command {
        Command::Status => {
            eprintln!("reading the lock table ...");
            return match rec.status().await {
                Ok(rows) if args.json => print_ok(&status_json(&rows).to_string()),
                Ok(rows) => print_ok(&render_status(&rows)),
                Err(e) => fail(&e),
            };
        }
        Command::Rebuild { dry_run } => {
            eprintln!("reading the ownership markers in Route53 ...");
            return match rec.rebuild(dry_run).await {
                Ok(rows) if args.json => {
                    print_ok(&serde_json::to_string_pretty(&rows).unwrap_or_default())
                }
                Ok(rows) => print_ok(&render_rebuild(&rows, dry_run)),
                Err(e) => fail(&e),
            };
        }
        Command::Host(HostCommand::List) => {
            return match admin::list(&rec.locks).await {
                Ok(rows) if args.json => {
                    print_ok(&serde_json::to_string_pretty(&rows).unwrap_or_default())
                }
                Ok(rows) => print_ok(&render_hosts(&rows)),
                Err(e) => fail(&e),
            };
        }
        Command::Host(HostCommand::Add {
            host,
            names,
            options,
        }) => {
            let secrets = secrets();
            let names = match admin::check_names(&names, &rec.config.allowed_domains) {
                Ok(n) => n,
                Err(e) => return fail(&e),
            };
            let issued = admin::add(&rec.locks, &secrets, &host, names, &options, rec.now()).await;
            return issued_out(issued, args.json, false);
        }
        Command::Host(HostCommand::Rotate(host)) => {
            let secrets = secrets();
            let issued = admin::rotate(&rec.locks, &secrets, &host).await;
            return issued_out(issued, args.json, true);
        }
        Command::Host(HostCommand::Remove(host)) => {
            let secrets = secrets();
            if let Err(e) = admin::remove(&rec.locks, &secrets, &host).await {
                return fail(&e);
            }
            eprintln!("host {host} removed; releasing its names ...");
            let req = Request {
                scope: Scope::Owners(
                    [Owner::Host {
                        home: home.clone(),
                        name: host,
                    }]
                    .into(),
                ),
                verify_dns: true,
                dry_run: false,
                deadline,
            };
            rec.reconcile(&req).await
        }
        Command::Plan(ids) => {
            eprintln!("planning (dry run) ...");
            let req = Request {
                scope: scope(ids),
                verify_dns: true,
                dry_run: true,
                deadline,
            };
            rec.reconcile(&req).await
        }
        Command::Apply(ids) => {
            eprintln!("reconciling ...");
            let req = Request {
                scope: scope(ids),
                verify_dns: true,
                dry_run: false,
                deadline,
            };
            rec.reconcile(&req).await
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

fn issued_out(issued: ec2_dns::Result<admin::Issued>, json: bool, rotated: bool) -> ExitCode {
    match issued {
        Ok(i) if json => print_ok(&serde_json::to_string_pretty(&i).unwrap_or_default()),
        Ok(i) => print_ok(&render_issued(&i, rotated)),
        Err(e) => fail(&e),
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
