//! `ec2-dns-ctl`: plan, apply, status, release and rebuild from an operator's laptop, with
//! the operator's own credentials, the deployed function's configuration and the same
//! library as the Lambda. See `ec2-dns-ctl --help`.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

use std::process::ExitCode;

use ec2_dns::aws::{self, DynamoLocks};
use ec2_dns::cli::{
    parse_args, render_hosts, render_issued, render_prefixes, render_rebuild, render_report,
    render_status, resolve_config, status_json, Command, HostCommand, InstanceArg, MAX_DELETES,
    USAGE,
};
use ec2_dns::ddns::admin;
use ec2_dns::engine::Request;
use ec2_dns::metrics::ApiCalls;
use ec2_dns::model::Owner;
use ec2_dns::model::Scope;
use ec2_dns::ports::Dns;
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
    match &args.command {
        Command::Help(None) => return print_ok(USAGE),
        Command::Help(Some(topic)) => {
            return match ec2_dns::cli::command_usage(topic) {
                Some(usage) => print_ok(&usage),
                None => {
                    let hint = ec2_dns::cli::did_you_mean(topic, ec2_dns::cli::COMMANDS)
                        .map(|m| format!(": did you mean {m:?}?"))
                        .unwrap_or_default();
                    eprintln!("ec2-dns-ctl: no command {topic:?}{hint} (ec2-dns-ctl --help lists the commands)");
                    ExitCode::from(1)
                }
            }
        }
        Command::Version => return print_ok(&format!("ec2-dns-ctl {}", env!("CARGO_PKG_VERSION"))),
        _ => {}
    }
    init_logging();
    let calls = ApiCalls::default();
    if let Err(e) = ec2_dns::cli::check_profile(args.profile.as_deref(), &|k| std::env::var(k).ok())
    {
        eprintln!("ec2-dns-ctl: {e}");
        return ExitCode::from(1);
    }
    // A function given by ARN names its region; --region still wins.
    let region = args.region.clone().or_else(|| {
        args.function
            .as_deref()
            .and_then(ec2_dns::cli::function_region)
    });
    let sdk = aws::sdk_config_for(args.profile.as_deref(), region.as_deref()).await;
    // The settings: the deployed function's own, with --function; else this shell's.
    let settings = match &args.function {
        None => None,
        Some(f) => {
            let vars = match aws::function_environment(&sdk, &calls, f).await {
                Ok(v) => v,
                Err(e) => return fail(&e),
            };
            match ec2_dns::cli::function_settings(f, &vars, &|k| std::env::var(k).ok()) {
                Ok((settings, notes)) => {
                    for n in notes {
                        eprintln!("note: {n}");
                    }
                    Some(settings)
                }
                Err(e) => {
                    eprintln!("ec2-dns-ctl: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    let env = |k: &str| match &settings {
        Some(s) => s.get(k).cloned().or_else(|| {
            // The function's settings are all there is; the shell may add only the
            // secrets' prefix (a DDNS deployment's, which the reconciler does not set).
            (k == "HOST_SECRETS_PREFIX")
                .then(|| std::env::var(k).ok())
                .flatten()
        }),
        None => std::env::var(k).ok(),
    };
    let Some(table) = env("LOCK_TABLE").filter(|t| !t.trim().is_empty()) else {
        eprintln!("ec2-dns-ctl: LOCK_TABLE is required (the deployed function's lock table), or --function NAME (the deployment's outputs name it)");
        return ExitCode::from(1);
    };
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
    if let Command::RunStatus(id) = &args.command {
        // The run's item is all it needs: no configuration, no other service.
        return match locks.run(id).await {
            Ok(Some(run)) if args.json => {
                print_ok(&serde_json::to_string_pretty(&run.summary()).unwrap_or_default())
            }
            Ok(Some(run)) => print_ok(&ec2_dns::cli::render_run(&run, now())),
            Ok(None) => {
                eprintln!("ec2-dns-ctl: no sharded run {id:?} in lock table {table:?} (a run's record expires 30 days after its start)");
                ExitCode::from(1)
            }
            Err(e) => fail(&e),
        };
    }
    let deployed = match locks.deployed().await {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    if let Some(warning) = deployed
        .as_ref()
        .and_then(|d| ec2_dns::cli::version_warning(env!("CARGO_PKG_VERSION"), d))
    {
        eprintln!("warning: {warning}");
    }
    let config = match resolve_config(&env, deployed.as_ref(), args.command.writes()) {
        Ok((config, notes)) => {
            for n in notes {
                eprintln!("note: {n}");
            }
            config
        }
        Err(e) => return fail(&e),
    };
    let rec = aws::reconciler(&sdk, config, home.clone(), &calls).await;
    let deadline = Some(rec.now() + RUN_FOR_S);
    let scope = |ids: Option<std::collections::BTreeSet<InstanceArg>>| match ids {
        None => Scope::All,
        Some(ids) => Scope::Owners(ids.into_iter().map(|i| i.owner(&home)).collect()),
    };
    // Instances asked for by id must exist here: a typo must not pass as "nothing to do".
    if let Command::Plan(Some(ids)) | Command::Apply(Some(ids)) = &args.command {
        let owners: Vec<Owner> = ids.iter().map(|i| i.owner(&home)).collect();
        match rec.describe_each(&owners).await {
            Ok(found) => {
                let unknown: Vec<&Owner> = owners
                    .iter()
                    .filter(|o| !found.iter().any(|i| &i.owner == *o))
                    .collect();
                if !unknown.is_empty() {
                    // Named as they were given: a bare id is in this account and region.
                    let names: Vec<String> = unknown
                        .iter()
                        .map(|o| match o.home() == &home {
                            true => o.instance_id().map(|i| i.to_string()).unwrap_or_default(),
                            false => o.to_string(),
                        })
                        .collect();
                    eprintln!(
                        "ec2-dns-ctl: no such instance in account {} region {} (or in a managed account and region, for account/region/i-…): {}",
                        home.account(),
                        home.region(),
                        names.join(", ")
                    );
                    return ExitCode::from(1);
                }
            }
            Err(e) => return fail(&e),
        }
    }
    let prefix = env("HOST_SECRETS_PREFIX")
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| aws::DEFAULT_SECRETS_PREFIX.into());
    let secrets = || aws::secrets(&sdk, &calls, &prefix);
    let report = match args.command {
        Command::Status => {
            eprintln!("reading the lock table and checking Route53 ...");
            let status =
                async { Ok::<_, ec2_dns::Error>((rec.status().await?, rec.dns.zones().await?)) };
            return match status.await {
                Ok((rows, zones)) if args.json => print_ok(
                    &serde_json::to_string_pretty(&status_json(&rows, &zones)).unwrap_or_default(),
                ),
                Ok((rows, zones)) => print_ok(&render_status(&rows, &zones, &home, rec.now())),
                Err(e) => fail(&e),
            };
        }
        Command::Rebuild { dry_run } => {
            eprintln!("reading the ownership markers in Route53 ...");
            return match rec.rebuild(dry_run).await {
                Ok(rows) if args.json => {
                    print_ok(&serde_json::to_string_pretty(&rows).unwrap_or_default())
                }
                Ok(rows) => print_ok(&render_rebuild(&rows, dry_run, &home)),
                Err(e) => fail(&e),
            };
        }
        // Answered above, before the configuration was needed.
        Command::Help(_) | Command::Version | Command::RunStatus(_) => return print_ok(USAGE),
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
            if let Err(code) = refuse_held(&rec.locks, &host, &names, args.force).await {
                return code;
            }
            let issued = admin::add(&rec.locks, &secrets, &host, names, &options, rec.now()).await;
            return issued_out(issued, args.json, false);
        }
        Command::Host(HostCommand::Rotate(host)) => {
            let secrets = secrets();
            let issued = admin::rotate(&rec.locks, &secrets, &host).await;
            return issued_out(issued, args.json, true);
        }
        Command::Host(HostCommand::Names { host, names }) => {
            let names = match admin::check_names(&names, &rec.config.allowed_domains) {
                Ok(n) => n,
                Err(e) => return fail(&e),
            };
            if let Err(code) = refuse_held(&rec.locks, &host, &names, args.force).await {
                return code;
            }
            if let Err(e) = admin::set_names(&rec.locks, &host, names).await {
                return fail(&e);
            }
            eprintln!("host {host} has its new names (same secret); reconciling it ...");
            rec.reconcile(&host_request(&home, host, deadline)).await
        }
        Command::Host(HostCommand::Prefixes { host, prefixes }) => {
            return match admin::set_prefixes(&rec.locks, &host, prefixes).await {
                Ok(record) if args.json => print_ok(
                    &serde_json::to_string_pretty(&admin::HostRow::of(&record)).unwrap_or_default(),
                ),
                Ok(record) => print_ok(&render_prefixes(&admin::HostRow::of(&record))),
                Err(e) => fail(&e),
            };
        }
        Command::Host(HostCommand::Remove(host)) => {
            let secrets = secrets();
            if let Err(e) = admin::remove(&rec.locks, &secrets, &host).await {
                return fail(&e);
            }
            eprintln!("host {host} removed; releasing its names ...");
            rec.reconcile(&host_request(&home, host, deadline)).await
        }
        Command::Plan(ids) => {
            eprintln!("planning (dry run) ...");
            let req = Request {
                names: Default::default(),
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
                names: Default::default(),
                scope: scope(ids),
                verify_dns: true,
                dry_run: false,
                deadline,
            };
            let limit = (!args.force).then_some(MAX_DELETES);
            match rec.reconcile_limited(&req, limit).await {
                Err(e @ ec2_dns::Error::TooManyDeletes { .. }) => {
                    eprintln!(
                        "ec2-dns-ctl: {e}.\nReview them with `ec2-dns-ctl plan` (a wrong ALLOWED_DOMAINS or LOCK_TABLE looks like this); if they are intended, run `ec2-dns-ctl apply --force`."
                    );
                    return ExitCode::from(1);
                }
                other => other,
            }
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
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ));
    } else {
        out(&render_report(&report, &home));
    }
    ExitCode::from(ec2_dns::cli::exit_code(&report, args.detailed))
}

/// Warnings (the audit line of a release among them) on stderr; `EC2DNS_LOG=info` or
/// `debug` for more of ours (or a full filter such as `debug,aws_smithy_runtime=trace`).
/// The SDK's own warnings (a region IMDS could not give, say) are left out: the error that
/// follows says what to do in one line.
fn init_logging() {
    ec2_dns::logging::init_cli();
}

fn issued_out(issued: ec2_dns::Result<admin::Issued>, json: bool, rotated: bool) -> ExitCode {
    match issued {
        Ok(i) if json => print_ok(&serde_json::to_string_pretty(&i).unwrap_or_default()),
        Ok(i) => print_ok(&render_issued(&i, rotated)),
        Err(e) => fail(&e),
    }
}

/// A reconcile of one host (after its credential changed or went), reading Route53.
fn host_request(
    home: &ec2_dns::model::Home,
    host: ec2_dns::hosts::HostName,
    deadline: Option<i64>,
) -> Request {
    Request {
        names: Default::default(),
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
    }
}

/// Refuses (exit status 1) names someone other than `host` holds, which the host would
/// only wait for; with `force`, warns and goes on.
async fn refuse_held<L: ec2_dns::ports::Locks>(
    locks: &L,
    host: &ec2_dns::hosts::HostName,
    names: &std::collections::BTreeSet<ec2_dns::name::Fqdn>,
    force: bool,
) -> Result<(), ExitCode> {
    let held = match admin::held_by_others(locks, host, names).await {
        Ok(h) => h,
        Err(e) => return Err(fail(&e)),
    };
    if held.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = held
        .iter()
        .map(|(n, o)| format!("{n} is held by {o}"))
        .collect();
    if !force {
        eprintln!(
            "ec2-dns-ctl: {}: the host would only wait for it; --force goes on anyway",
            list.join(", ")
        );
        return Err(ExitCode::from(1));
    }
    eprintln!("warning: {} (the host waits for it)", list.join(", "));
    Ok(())
}

fn print_ok(text: &str) -> ExitCode {
    out(&format!("{}\n", text.trim_end()));
    ExitCode::SUCCESS
}

/// Standard output, as a pipe reader wants it: `ec2-dns-ctl status | head` closes the pipe
/// early, and what is left is not an error (`println!` would panic on it).
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// 2 when trying again may help (throttling, a timeout, a partial run), 1 when it cannot
/// (arguments, configuration, credentials, access).
fn fail(e: &ec2_dns::Error) -> ExitCode {
    eprintln!("ec2-dns-ctl: {e}");
    ExitCode::from(if e.is_retryable() { 2 } else { 1 })
}

/// Epoch seconds now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
