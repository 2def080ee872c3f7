//! The update protocols routers and scripts already speak: dyndns2 (`/nic/update`, the
//! answer codes clients parse) and the request format of the AWS serverless DDNS sample
//! (`mode=get` / `mode=set` with a SHA-256 token), parsed into one request type.

use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ddns::http::HttpRequest;
use crate::hosts::Addresses;
use crate::name::{Fqdn, MAX_HOST_NAMES};

/// One dyndns2 answer for one host name (or for the whole request, before any name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Changed; the addresses now published.
    Good(Addresses),
    /// Already so; nothing written.
    Nochg(Addresses),
    /// No or wrong credentials.
    Badauth,
    /// The name is not this credential's, or someone else holds it.
    Nohost,
    /// A host name that is not a valid name.
    Notfqdn,
    /// More names than a request may carry.
    Numhost,
    /// Refused for the caller's conduct: locked out after repeated bad passwords, or an
    /// address that is not the caller's.
    Abuse,
    /// The change could not be made now; try again later.
    Dnserr,
    /// Something went wrong on our side.
    ServerError,
}

impl Answer {
    /// The line a client reads.
    pub fn line(&self) -> String {
        match self {
            Answer::Good(a) => format!("good {}", a.shown()),
            Answer::Nochg(a) => format!("nochg {}", a.shown()),
            Answer::Badauth => "badauth".into(),
            Answer::Nohost => "nohost".into(),
            Answer::Notfqdn => "notfqdn".into(),
            Answer::Numhost => "numhost".into(),
            Answer::Abuse => "abuse".into(),
            Answer::Dnserr => "dnserr".into(),
            Answer::ServerError => "911".into(),
        }
    }

    /// Whether the name was published (`good` or `nochg`): the host's update succeeded.
    pub fn published(&self) -> bool {
        matches!(self, Answer::Good(_) | Answer::Nochg(_))
    }
}

/// A dyndns2 update: the names and the addresses it asks for (`None`: the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub names: Vec<Fqdn>,
    pub addresses: Option<Addresses>,
}

/// Why an update request is refused before anything is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub answer: Answer,
    pub why: String,
}

/// Reads `hostname` (one name or several, comma-separated) and `myip`.
pub fn parse_update(req: &HttpRequest) -> Result<Update, Refused> {
    let refuse = |answer: Answer, why: String| Refused { answer, why };
    let raw = req
        .param("hostname")
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| refuse(Answer::Notfqdn, "no hostname".into()))?;
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > MAX_HOST_NAMES {
        return Err(refuse(
            Answer::Numhost,
            format!("{} names, the limit is {MAX_HOST_NAMES}", parts.len()),
        ));
    }
    let mut names = Vec::new();
    for p in parts {
        let name = Fqdn::parse(p).map_err(|e| refuse(Answer::Notfqdn, format!("{e}")))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let addresses = match req.param("myip").map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(Addresses::parse(m).map_err(|e| refuse(Answer::Abuse, e))?),
    };
    Ok(Update { names, addresses })
}

/// The AWS serverless DDNS sample's requests: as query parameters (`mode`, `hostname`,
/// `hash`) or as its JSON body (`execution_mode`, `ddns_hostname`, `validation_hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    Get,
    Set { hostname: String, hash: String },
}

/// `None` when the request is not the sample's at all.
pub fn parse_sample(req: &HttpRequest) -> Option<Result<Sample, String>> {
    let body: Option<Value> = serde_json::from_str(&req.body).ok();
    let field = |q: &str, j: &str| {
        req.param(q).map(str::to_string).or_else(|| {
            body.as_ref()
                .and_then(|b| b.get(j))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    };
    let mode = field("mode", "execution_mode")?;
    Some(match mode.as_str() {
        "get" => Ok(Sample::Get),
        "set" => match (
            field("hostname", "ddns_hostname"),
            field("hash", "validation_hash"),
        ) {
            (Some(hostname), Some(hash)) => Ok(Sample::Set { hostname, hash }),
            _ => Err("set mode needs hostname and hash".into()),
        },
        _ => Err("You must pass mode=get or mode=set arguments.".into()),
    })
}

/// The sample's token: SHA-256 of address + host name (as the client sent it) + secret,
/// in lowercase hex.
pub fn sample_token(address: &str, hostname: &str, secret: &str) -> String {
    let digest = Sha256::digest(format!("{address}{hostname}{secret}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares a token in constant time (case-insensitively: it is hex).
pub fn token_matches(expected: &str, given: &str) -> bool {
    let given = given.trim().to_ascii_lowercase();
    given.len() == expected.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddns::http::{event, parse_event};

    fn req(query: &str) -> HttpRequest {
        parse_event(&event("GET", "/nic/update", query, &[], "203.0.113.9")).unwrap()
    }

    #[test]
    fn an_update_names_its_hosts_and_maybe_its_addresses() {
        let u = parse_update(&req(
            "hostname=A.dyn.example.com,b.dyn.example.com.,a.dyn.example.com&myip=203.0.113.9",
        ))
        .unwrap();
        let names: Vec<&str> = u.names.iter().map(Fqdn::as_str).collect();
        assert_eq!(names, ["a.dyn.example.com", "b.dyn.example.com"]);
        assert_eq!(u.addresses.unwrap().shown(), "203.0.113.9");
        assert_eq!(
            parse_update(&req("hostname=a.dyn.example.com"))
                .unwrap()
                .addresses,
            None
        );
        let many: Vec<String> = (0..21).map(|i| format!("h{i}.dyn.example.com")).collect();
        for (query, answer) in [
            ("", Answer::Notfqdn),
            ("hostname=*.dyn.example.com", Answer::Notfqdn),
            ("hostname=a..b", Answer::Notfqdn),
            (&format!("hostname={}", many.join(",")), Answer::Numhost),
            ("hostname=a.dyn.example.com&myip=not-an-ip", Answer::Abuse),
        ] {
            assert_eq!(
                parse_update(&req(query)).unwrap_err().answer,
                answer,
                "{query}"
            );
        }
    }

    #[test]
    fn every_answer_has_the_line_clients_parse() {
        let a = Addresses::parse("203.0.113.9,2001:db8::9").unwrap();
        let lines: Vec<String> = [
            Answer::Good(a),
            Answer::Nochg(a),
            Answer::Badauth,
            Answer::Nohost,
            Answer::Notfqdn,
            Answer::Numhost,
            Answer::Abuse,
            Answer::Dnserr,
            Answer::ServerError,
        ]
        .iter()
        .map(Answer::line)
        .collect();
        assert_eq!(
            lines,
            [
                "good 203.0.113.9,2001:db8::9",
                "nochg 203.0.113.9,2001:db8::9",
                "badauth",
                "nohost",
                "notfqdn",
                "numhost",
                "abuse",
                "dnserr",
                "911"
            ]
        );
    }

    #[test]
    fn the_sample_protocol_is_read_from_the_query_or_its_json_body() {
        assert_eq!(parse_sample(&req("mode=get")), Some(Ok(Sample::Get)));
        assert_eq!(
            parse_sample(&req("mode=set&hostname=h.dyn.example.com.&hash=ab")),
            Some(Ok(Sample::Set {
                hostname: "h.dyn.example.com.".into(),
                hash: "ab".into()
            }))
        );
        let mut body = event("POST", "/", "", &[], "203.0.113.9");
        body["body"] = serde_json::json!(
            r#"{"execution_mode":"set","ddns_hostname":"h.x.","validation_hash":"cd"}"#
        );
        assert_eq!(
            parse_sample(&parse_event(&body).unwrap()),
            Some(Ok(Sample::Set {
                hostname: "h.x.".into(),
                hash: "cd".into()
            }))
        );
        assert_eq!(parse_sample(&req("hostname=x")), None);
        assert!(matches!(parse_sample(&req("mode=put")), Some(Err(_))));
    }

    #[test]
    fn the_sample_token_is_sha256_of_address_name_and_secret() {
        // echo -n "203.0.113.9h.dyn.example.com.s3cret" | sha256sum
        let t = sample_token("203.0.113.9", "h.dyn.example.com.", "s3cret");
        assert_eq!(
            t,
            "00a4700305d39b4bca28aa4abb1f653d02e5aac0d3b37f5b7b012223c567ee8c"
        );
        assert!(token_matches(&t, &t.to_ascii_uppercase()));
        assert!(!token_matches(&t, &t[..63]));
        assert!(!token_matches(
            &t,
            &sample_token("203.0.113.9", "h.dyn.example.com", "s3cret")
        ));
    }
}
