//! The DDNS endpoint: hosts outside AWS keep their names with the protocols their routers
//! already speak. An update is authenticated against the host's credential, checked against
//! the names it may update and the address it came from, and then decided and applied by
//! the same fenced path as an instance's (the host's lease stands in for "running").
//!
//! Costs: the credential, the names' locks and the host's item come in one read; an update
//! that changes nothing writes nothing, and a change is one transaction (lock and host item
//! together) and one Route53 batch.

pub mod admin;
pub mod auth;
pub mod http;
pub mod protocol;

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::json;
use tracing::{info, warn};

use crate::decide::outcome::Outcome;
use crate::decide::{self, reads, World};
use crate::engine::{Reconciler, Request};
use crate::error::{Error, Result};
use crate::hosts::{
    check_binding, Addresses, Attempt, Binding, Failure, HostName, HostRecord, SourcePrefix,
};
use crate::lock::{HostTouch, Loaded};
use crate::model::{Home, Instance, Names, Owner, Scope};
use crate::name::Fqdn;
use crate::ports::{Alerts, Dns, Instances, Locks, Secrets};
use crate::report::Report;

use auth::Limiter;
use http::{HttpRequest, HttpResponse};
use protocol::{Answer, Sample};

/// The endpoint has no EC2 rights: it never describes an instance. A name held by an
/// instance is simply not the host's (see `decide::ownership::decide`). It knows which
/// accounts and regions the deployment manages, so that their markers count as ec2-dns's.
pub struct NoInstances {
    pub homes: Vec<Home>,
}

impl Instances for NoInstances {
    fn homes(&self) -> Vec<Home> {
        self.homes.clone()
    }

    async fn describe(&self, _home: &Home, _owners: &[Owner]) -> Result<Vec<Instance>> {
        Err(no_ec2())
    }

    async fn tagged(&self, _home: &Home, _prefix: &str) -> Result<Vec<Instance>> {
        Err(no_ec2())
    }

    async fn attached_to(
        &self,
        _home: &Home,
        _interface: &crate::model::InterfaceId,
    ) -> Result<Option<Instance>> {
        Err(no_ec2())
    }

    async fn set_status(&self, _owners: &[Owner], _value: &str) -> Result<()> {
        Err(no_ec2())
    }
}

fn no_ec2() -> Error {
    Error::Unexpected {
        service: "ec2",
        message: "the DDNS endpoint has no EC2 rights".into(),
    }
}

/// Longest one Route53 call of the endpoint may take, retries included. The function runs
/// for seconds, not minutes (a router waits for its answer), so its changes' window is
/// short; its Route53 client is bounded to fit in it.
pub const DDNS_ROUTE53_CALL_MAX: i64 = 8;

/// Where the endpoint runs.
#[derive(Debug, Clone, Default)]
pub struct EndpointConfig {
    /// When set, requests that carry this value in `x-origin-verify` come from our own
    /// CloudFront distribution, whose `cloudfront-viewer-address` header is then the caller.
    pub origin_secret: Option<String>,
}

/// The DDNS endpoint with its clients; built once per container.
pub struct Endpoint<D, L, S, A> {
    pub rec: Reconciler<NoInstances, D, L>,
    pub secrets: S,
    pub alerts: A,
    pub config: EndpointConfig,
    limiter: Limiter,
}

/// What one accepted host asked for, once authenticated.
struct Asked {
    host: HostRecord,
    names: Vec<Fqdn>,
    /// The addresses the host is to have (asked families replaced, the others kept).
    addresses: Addresses,
    loaded: Loaded,
}

impl<D: Dns, L: Locks, S: Secrets, A: Alerts> Endpoint<D, L, S, A> {
    pub fn new(
        rec: Reconciler<NoInstances, D, L>,
        secrets: S,
        alerts: A,
        config: EndpointConfig,
    ) -> Self {
        Endpoint {
            rec: rec.with_route53_call_max(DDNS_ROUTE53_CALL_MAX),
            secrets,
            alerts,
            config,
            limiter: Limiter::default(),
        }
    }

    /// Answers one function URL request; `deadline` is when the platform stops us.
    pub async fn handle(&self, req: &HttpRequest, deadline: Option<i64>) -> HttpResponse {
        let source = self.source(req);
        let path = req.path.trim_end_matches('/');
        if !matches!(req.method.as_str(), "GET" | "POST") {
            return HttpResponse::text(405, "method not allowed").with_header("allow", "GET, POST");
        }
        match path {
            "/nic/update" | "/v3/update" => self.dyndns2(req, source, deadline).await,
            "/checkip" => HttpResponse::text(200, format!("Current IP Address: {source}\n")),
            "/checkip.json" => HttpResponse::json(200, &json!({ "ip": source.to_string() })),
            _ => match protocol::parse_sample(req) {
                Some(Ok(sample)) => self.sample(sample, source, deadline).await,
                Some(Err(why)) => sample_answer(400, "fail", &why),
                None => HttpResponse::text(404, "not found"),
            },
        }
    }

    /// The caller's address: the function URL's source, or, behind our own CloudFront
    /// (proved by the origin secret), the viewer's.
    fn source(&self, req: &HttpRequest) -> IpAddr {
        let from_cloudfront = self.config.origin_secret.as_deref().is_some_and(|secret| {
            req.header("x-origin-verify").is_some_and(|given| {
                given.len() == secret.len()
                    && bool::from(subtle::ConstantTimeEq::ct_eq(
                        given.as_bytes(),
                        secret.as_bytes(),
                    ))
            })
        });
        if from_cloudfront {
            if let Some(viewer) = req
                .header("cloudfront-viewer-address")
                .and_then(parse_viewer_address)
            {
                return viewer;
            }
        }
        req.source
    }

    async fn dyndns2(
        &self,
        req: &HttpRequest,
        source: IpAddr,
        deadline: Option<i64>,
    ) -> HttpResponse {
        let now = self.rec.now();
        let Some((user, password)) = req.basic_auth() else {
            return HttpResponse::text(401, "badauth")
                .with_header("www-authenticate", "Basic realm=\"ec2-dns\"");
        };
        let prefix = SourcePrefix::of(source);
        if self.limiter.blocked(prefix, now) {
            info!(%source, "update refused: too many failed logins from this address");
            return lines(&[Answer::Abuse]);
        }
        let update = match protocol::parse_update(req) {
            Ok(u) => u,
            Err(refused) => {
                info!(%source, reason = %refused.why, "update refused");
                return lines(&[refused.answer]);
            }
        };
        let host_name = HostName::parse(&user).ok();
        let owners: Vec<Owner> = host_name
            .iter()
            .map(|name| Owner::Host {
                home: self.rec.home.clone(),
                name: name.clone(),
            })
            .collect();
        let names = if host_name.is_some() {
            &update.names[..]
        } else {
            &[]
        };
        let read = self
            .rec
            .locks
            .load_with_source(names, &owners, &prefix)
            .await;
        let (loaded, count) = match read {
            Ok(read) => read,
            Err(e) => {
                warn!(error = %e, "update failed: the lock table could not be read");
                return lines(&[Answer::ServerError]);
            }
        };
        // The count of every container: a source over the limit is refused unchecked.
        self.limiter.learn(prefix, count);
        if auth::over_limit(count, now) {
            info!(%source, "update refused: too many failed logins from this address");
            return lines(&[Answer::Abuse]);
        }
        let found = host_name
            .as_ref()
            .and_then(|n| loaded.hosts.iter().find(|h| &h.name == n).cloned());
        let Some(host) = found else {
            auth::verify_nobody(&password);
            self.source_failed(prefix, now).await;
            info!(%source, user = %crate::status_tag::printable(&user), "update refused: no such host");
            return lines(&[Answer::Badauth]);
        };
        let (host, counted) = match self.before_check(host, source, now).await {
            Ok(counted) => counted,
            Err(answer) => return lines(&[answer]),
        };
        if !auth::verify_password(&host.password, &password) {
            self.wrong_secret(&host, source, counted, now).await;
            return lines(&[Answer::Badauth]);
        }
        let asked = match update.addresses {
            Some(a) => a,
            None => Addresses::of(source),
        };
        let addresses = match check_binding(asked, source, host.binding()) {
            Ok(a) => a,
            Err(why) => {
                info!(%source, host = %host.name, reason = %why.0, "update refused: address not the caller's");
                if counted {
                    self.clear_failures(&host.name).await;
                }
                return lines(&vec![Answer::Abuse; update.names.len()]);
            }
        };
        let addresses = Addresses {
            ipv4: addresses.ipv4.or(host.ipv4),
            ipv6: addresses.ipv6.or(host.ipv6),
        };
        let name = host.name.clone();
        let asked = Asked {
            host,
            names: update.names,
            addresses,
            loaded,
        };
        let answers = self.publish(asked, now, deadline).await;
        if counted && !answers.iter().any(Answer::published) {
            self.clear_failures(&name).await;
        }
        lines(&answers)
    }

    /// Before a password (or sample token) is checked: unless the request comes from the
    /// host's last accepted address, the check is counted against the credential first,
    /// atomically, and refused (`abuse`) while the credential is locked out. So however
    /// many requests run at once, in however many containers, no more passwords are
    /// checked than the lockout allows, and none while it lasts. The host comes back with
    /// its counters as counted, and whether this check was counted.
    async fn before_check(
        &self,
        host: HostRecord,
        source: IpAddr,
        now: i64,
    ) -> std::result::Result<(HostRecord, bool), Answer> {
        if host.from_last_address(source) {
            return Ok((host, false));
        }
        match self.rec.locks.count_attempt(&host, now).await {
            Ok(Attempt::Counted(f)) => {
                let mut host = host;
                (host.failures, host.failed_since, host.locked_until) =
                    (f.failures, f.failed_since, f.locked_until);
                Ok((host, true))
            }
            Ok(Attempt::Locked) => {
                info!(%source, host = %host.name, "update refused: credential locked out");
                Err(Answer::Abuse)
            }
            Ok(Attempt::Gone) => {
                info!(%source, host = %host.name, "update refused: no such host");
                Err(Answer::Badauth)
            }
            Err(e) => {
                warn!(host = %host.name, error = %e, "update failed: the check could not be counted");
                Err(Answer::ServerError)
            }
        }
    }

    /// A wrong password (or token): counted against the source prefix, and against the
    /// credential when it was not counted before the check (from the host's last accepted
    /// address, where a wrong one still counts; nothing while locked out).
    async fn wrong_secret(&self, host: &HostRecord, source: IpAddr, counted: bool, now: i64) {
        self.source_failed(SourcePrefix::of(source), now).await;
        let (failures, locked_until) = if counted {
            (Some(host.failures), host.locked_until)
        } else {
            match self.rec.locks.count_attempt(host, now).await {
                Ok(Attempt::Counted(f)) => (Some(f.failures), f.locked_until),
                Ok(_) => (None, host.locked_until),
                Err(e) => {
                    warn!(host = %host.name, error = %e, "failed login not recorded");
                    (None, host.locked_until)
                }
            }
        };
        let locked = locked_until > now;
        info!(%source, host = %host.name, failures, locked, "update refused: bad credentials");
    }

    /// A failed login of `source` (a wrong password, an unknown user), counted in the table
    /// for every container; only here when the table cannot count it.
    async fn source_failed(&self, source: SourcePrefix, now: i64) {
        let counted = self
            .rec
            .locks
            .count_source_failure(&source, now, auth::SOURCE_WINDOW)
            .await;
        match counted {
            Ok(count) => self.limiter.learn(source, count),
            Err(e) => {
                warn!(%source, error = %e, "failed login of the source not recorded");
                self.limiter.failed(source, now);
            }
        }
    }

    /// The right secret was given but nothing was published: the check counted before it
    /// was made is taken back, as a success would (the counters are cleared).
    async fn clear_failures(&self, host: &HostName) {
        let mut touch = HostTouch::new(host.clone());
        touch.failure = Some(Failure {
            failures: 0,
            failed_since: 0,
            locked_until: 0,
        });
        if let Err(e) = self.rec.locks.touch_host(&touch).await {
            warn!(%host, error = %e, "counters not cleared");
        }
    }

    /// Decides and applies the host's names; one answer per name, in the order asked.
    async fn publish(&self, asked: Asked, now: i64, deadline: Option<i64>) -> Vec<Answer> {
        let Asked {
            host,
            names,
            addresses,
            loaded,
        } = asked;
        let mine: Vec<Fqdn> = names
            .iter()
            .filter(|n| host.names.contains(*n))
            .cloned()
            .collect();
        if mine.is_empty() {
            info!(host = %host.name, "update refused: no name of this credential");
            return vec![Answer::Nohost; names.len()];
        }
        let mut updated = host.clone();
        (updated.ipv4, updated.ipv6) = (addresses.ipv4, addresses.ipv6);
        updated.updated = now;
        // The host claims the names it asked for (only their locks were read), straight from
        // its credential: no tag, so no tag's limit.
        let mut me = updated.as_claimant(now, &self.rec.home);
        me.names = Names::Host(mine.iter().cloned().collect());
        let owner = me.owner.clone();

        let mut world = World {
            now,
            homes: self.rec.instances.homes(),
            ..World::default()
        };
        world.instances.insert(owner.clone(), me);
        let only_locks = Loaded {
            hosts: Vec::new(),
            index: Default::default(),
            ..loaded
        };
        crate::engine::take_loaded(&mut world, only_locks);
        let scope = Scope::Owners(BTreeSet::from([owner.clone()]));
        let req = Request {
            names: Default::default(),
            scope: scope.clone(),
            verify_dns: false,
            dry_run: false,
            deadline,
        };
        let settings = self.rec.settings();
        let prepared = async {
            world.zones = self.rec.dns.zones().await?;
            let names = reads::names_to_read(&world, &scope, &settings);
            world.seen = self.rec.read_names(&world, names, false).await?;
            Ok::<_, Error>(())
        };
        if let Err(e) = prepared.await {
            warn!(host = %host.name, error = %e, "update failed: Route53 could not be read");
            self.alert_failing(&host, &e.to_string()).await;
            return names
                .iter()
                .map(|n| match mine.contains(n) {
                    true => Answer::Dnserr,
                    false => Answer::Nohost,
                })
                .collect();
        }
        let changed_addresses = (host.ipv4, host.ipv6) != (addresses.ipv4, addresses.ipv6);
        let mut touch = HostTouch::new(host.name.clone());
        touch.addresses = Some((addresses.ipv4, addresses.ipv6, now));
        if host.failures > 0 || host.locked_until > 0 {
            touch.failure = Some(Failure {
                failures: 0,
                failed_since: 0,
                locked_until: 0,
            });
        }
        let plan = decide::plan(&world, &scope, &settings);
        let decided = published_by(&plan, &owner);
        let (report, touched) = self.rec.apply_with(&world, plan, &req, Some(&touch)).await;
        let answers: Vec<Answer> = names
            .iter()
            .map(|n| {
                if !mine.contains(n) {
                    return Answer::Nohost;
                }
                answer_for(&report, &decided, &owner, n, changed_addresses, addresses)
            })
            .collect();
        let published = answers
            .iter()
            .any(|a| matches!(a, Answer::Good(_) | Answer::Nochg(_)));
        let failed = answers.contains(&Answer::Dnserr);
        // Record the update when a name took it and no decision carried it, or only the
        // lease when it is due: an update that changes nothing usually writes nothing. An
        // alert is cleared only once the host works again.
        let clear_alert = published && !failed && host.alerted.is_some();
        let carried =
            touched || !(changed_addresses || host.lease_due(now) || touch.failure.is_some());
        if published && (!carried || clear_alert) {
            if carried {
                (touch.addresses, touch.failure) = (None, None);
            }
            if clear_alert {
                touch.alerted = Some(None);
            }
            if let Err(e) = self.rec.locks.touch_host(&touch).await {
                warn!(host = %host.name, error = %e, "host update not recorded");
            }
        }
        if failed {
            let why: Vec<String> = report
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.name, f.reason))
                .collect();
            self.alert_failing(&host, &why.join("; ")).await;
        } else if published && host.alerted.is_some() {
            self.send_alert(
                &format!("ec2-dns: host {} recovered", host.name),
                &format!(
                    "Host {} updated its names again ({}).",
                    host.name,
                    addresses.shown()
                ),
            )
            .await;
        }
        for (n, a) in names.iter().zip(&answers) {
            info!(host = %host.name, name = %n, answer = %a.line(), "host update");
        }
        answers
    }

    /// Alerts once per failure: again only after the host has recovered.
    async fn alert_failing(&self, host: &HostRecord, why: &str) {
        if host.alerted.as_deref() == Some("failing") {
            return;
        }
        self.send_alert(
            &format!("ec2-dns: updates of host {} fail", host.name),
            &format!(
                "Host {} sent an update that could not be applied: {why}. The endpoint answers dnserr and the host will retry; a scheduled reconcile also repairs it.",
                host.name
            ),
        )
        .await;
        let mut touch = HostTouch::new(host.name.clone());
        touch.alerted = Some(Some("failing".into()));
        if let Err(e) = self.rec.locks.touch_host(&touch).await {
            warn!(host = %host.name, error = %e, "alert state not recorded");
        }
    }

    /// The scheduled sweep: alerts once about each host that went silent past its lease
    /// (the reconciler's scheduled reconcile releases its names); returns those hosts.
    pub async fn sweep(&self) -> Result<Vec<HostName>> {
        let now = self.rec.now();
        let loaded = self.rec.locks.scan().await?;
        let mut out = Vec::new();
        for h in loaded.hosts {
            let silent = h.lease > 0 && h.updated > 0 && !h.live(now);
            if !silent || h.alerted.as_deref() == Some("silent") {
                continue;
            }
            self.send_alert(
                &format!("ec2-dns: host {} went silent", h.name),
                &format!(
                    "Host {} has not updated for {} s, past its lease of {} s; its names ({}) are released by the next reconcile.",
                    h.name,
                    now - h.updated,
                    h.lease,
                    h.names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
                ),
            )
            .await;
            let mut touch = HostTouch::new(h.name.clone());
            touch.alerted = Some(Some("silent".into()));
            self.rec.locks.touch_host(&touch).await?;
            out.push(h.name);
        }
        Ok(out)
    }

    async fn send_alert(&self, subject: &str, message: &str) {
        if let Err(e) = self.alerts.alert(subject, message).await {
            warn!(error = %e, subject, "alert not sent");
        }
    }

    /// The AWS serverless DDNS sample's protocol.
    async fn sample(&self, sample: Sample, source: IpAddr, deadline: Option<i64>) -> HttpResponse {
        let (hostname, hash) = match sample {
            Sample::Get => return sample_answer(200, "success", &source.to_string()),
            Sample::Set { hostname, hash } => (hostname, hash),
        };
        let now = self.rec.now();
        let refused = || sample_answer(403, "fail", "Invalid validation hash or host name.");
        let prefix = SourcePrefix::of(source);
        if self.limiter.blocked(prefix, now) {
            return refused();
        }
        let Ok(name) = Fqdn::parse(hostname.trim_end_matches('.')) else {
            return sample_answer(400, "fail", "The host name is not a valid name.");
        };
        let found = async {
            let Some(host_name) = self.rec.locks.sample_host(&name).await? else {
                return Ok(None);
            };
            let Some(host) = self.rec.locks.host(&host_name).await? else {
                return Ok(None);
            };
            if !host.sample || !host.names.contains(&name) {
                return Ok(None);
            }
            let secret = self.secrets.secret(&host.name).await?;
            Ok::<_, Error>(secret.map(|s| (host, s)))
        };
        let (host, secret) = match found.await {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.source_failed(prefix, now).await;
                return refused();
            }
            Err(e) => {
                warn!(error = %e, "sample update failed");
                return sample_answer(500, "fail", "Internal error; try again later.");
            }
        };
        let (host, counted) = match self.before_check(host, source, now).await {
            Ok(counted) => counted,
            Err(Answer::ServerError) => {
                return sample_answer(500, "fail", "Internal error; try again later.")
            }
            Err(_) => return refused(),
        };
        let expected = protocol::sample_token(&source.to_string(), &hostname, &secret);
        if !protocol::token_matches(&expected, &hash) {
            self.wrong_secret(&host, source, counted, now).await;
            return refused();
        }
        let name_of_host = host.name.clone();
        // The sample always publishes the caller's own address (a public one).
        let Ok(own) = check_binding(Addresses::of(source), source, Binding::Unbound) else {
            if counted {
                self.clear_failures(&name_of_host).await;
            }
            return sample_answer(403, "fail", "The request's address cannot be published.");
        };
        let addresses = Addresses {
            ipv4: own.ipv4.or(host.ipv4),
            ipv6: own.ipv6.or(host.ipv6),
        };
        let loaded = match self.rec.locks.load(std::slice::from_ref(&name), &[]).await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "sample update failed");
                if counted {
                    self.clear_failures(&name_of_host).await;
                }
                return sample_answer(500, "fail", "Internal error; try again later.");
            }
        };
        let asked = Asked {
            host,
            names: vec![name],
            addresses,
            loaded,
        };
        let answers = self.publish(asked, now, deadline).await;
        if counted && !answers.iter().any(Answer::published) {
            self.clear_failures(&name_of_host).await;
        }
        match answers.first() {
            Some(Answer::Good(_)) => sample_answer(
                201,
                "success",
                &format!("Your IP address was changed to {source}"),
            ),
            Some(Answer::Nochg(_)) => sample_answer(
                200,
                "success",
                "Your IP address matches the current Route53 DNS record.",
            ),
            Some(Answer::Nohost) => sample_answer(403, "fail", "The name is not this host's."),
            _ => sample_answer(
                503,
                "fail",
                "The change could not be made now; try again later.",
            ),
        }
    }
}

/// One function URL invocation: the event in, the response event out. A request that
/// cannot be read is answered 400 with the reason, and nothing is looked up.
pub async fn handle_event<D: Dns, L: Locks, S: Secrets, A: Alerts>(
    endpoint: &Endpoint<D, L, S, A>,
    event: &serde_json::Value,
    deadline: Option<i64>,
) -> HttpResponse {
    // The schedule's event: the sweep for silent hosts.
    if event.get("detail-type").and_then(serde_json::Value::as_str) == Some("Scheduled Event") {
        return match endpoint.sweep().await {
            Ok(silent) => HttpResponse::json(
                200,
                &json!({ "silent": silent.iter().map(|h| h.to_string()).collect::<Vec<_>>() }),
            ),
            Err(e) => {
                warn!(error = %e, "sweep failed");
                HttpResponse::json(500, &json!({ "error": e.to_string() }))
            }
        };
    }
    match http::parse_event(event) {
        Ok(req) => endpoint.handle(&req, deadline).await,
        Err(bad) => {
            info!(reason = %bad.0, "request refused");
            HttpResponse::text(400, format!("badrequest: {}\n", bad.0))
        }
    }
}

/// The names the plan publishes for `owner` (written by it, or already so, or in flight
/// under a lock that will write them), before any write is tried.
fn published_by(plan: &decide::Plan, owner: &Owner) -> BTreeSet<Fqdn> {
    plan.outcomes
        .get(owner)
        .into_iter()
        .flatten()
        .filter_map(|o| match o {
            Outcome::Published { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// One name's answer from its decision (`published`: the names the plan publishes for the
/// host) and the report of what was applied. Never a lie: `good` and `nochg` only for a name
/// the decision publishes and nothing undid; a name refused or skipped (invalid, outside
/// the allowed domains, held by someone else) is `nohost`, and a name neither published
/// nor explained is `dnserr`, so that the client tries again.
fn answer_for(
    report: &Report,
    published: &BTreeSet<Fqdn>,
    owner: &Owner,
    name: &Fqdn,
    changed: bool,
    a: Addresses,
) -> Answer {
    let mine = |o: &Option<Owner>| o.as_ref() == Some(owner);
    if report
        .failed
        .iter()
        .any(|f| f.name == name.as_str() && mine(&f.owner))
        || report.frozen.iter().any(|f| &f.name == name)
    {
        return Answer::Dnserr;
    }
    if report
        .conflicts
        .iter()
        .any(|c| &c.name == name && &c.owner == owner)
        || report
            .skipped
            .iter()
            .any(|s| s.name == name.as_str() && &s.owner == owner)
    {
        return Answer::Nohost;
    }
    if !published.contains(name) {
        warn!(%owner, %name, "update failed: no decision publishes the name for the host");
        return Answer::Dnserr;
    }
    if changed || report.changes.iter().any(|c| &c.name == name) {
        Answer::Good(a)
    } else {
        Answer::Nochg(a)
    }
}

/// dyndns2 answers, one line per name.
fn lines(answers: &[Answer]) -> HttpResponse {
    let body: Vec<String> = answers.iter().map(Answer::line).collect();
    let mut response = HttpResponse::text(200, body.join("\n") + "\n");
    response.failed = answers
        .iter()
        .any(|a| matches!(a, Answer::Dnserr | Answer::ServerError));
    response
}

fn sample_answer(status: u16, outcome: &str, message: &str) -> HttpResponse {
    HttpResponse::json(
        status,
        &json!({ "return_status": outcome, "return_message": message }),
    )
}

/// CloudFront's viewer address header: `198.51.100.10:46532` or `[2001:db8::1]:46532`.
fn parse_viewer_address(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    match raw.parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => raw.rsplit_once(':')?.0.parse().ok(),
    }
}

#[cfg(test)]
mod tests;
