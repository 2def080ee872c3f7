//! HTTP over a Lambda function URL: the request event (API Gateway HTTP API payload format
//! 2.0) parsed into a bounded, validated request, and the response the function URL turns
//! back into HTTP. Nothing the caller sends reaches the rest of the endpoint unchecked.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use serde_json::{json, Value};

/// Limits on what a request may carry; anything larger is refused before it is looked at.
pub const MAX_PATH: usize = 256;
pub const MAX_QUERY: usize = 2048;
pub const MAX_HEADER: usize = 4096;
pub const MAX_BODY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order (a repeated key appears twice).
    pub query: Vec<(String, String)>,
    /// Lower-cased header names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// The caller's address, as the function URL reports it.
    pub source: IpAddr,
}

impl HttpRequest {
    /// The first value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).map(String::as_str)
    }

    /// HTTP Basic credentials, if the request carries well-formed ones.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let value = self.header("authorization")?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    }
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// Reads a function URL event.
pub fn parse_event(event: &Value) -> Result<HttpRequest, BadRequest> {
    let bad = |m: &str| BadRequest(m.to_string());
    let ctx = event
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .ok_or_else(|| bad("not a function URL request"))?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let method = text(ctx.get("method")).ok_or_else(|| bad("no method"))?;
    let source: IpAddr = text(ctx.get("sourceIp"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no source address"))?;
    let path = text(event.get("rawPath")).unwrap_or_else(|| "/".into());
    if path.len() > MAX_PATH {
        return Err(bad("path too long"));
    }
    let raw_query = text(event.get("rawQueryString")).unwrap_or_default();
    if raw_query.len() > MAX_QUERY {
        return Err(bad("query too long"));
    }
    let mut query = Vec::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k)?, decode(v)?);
        query.push((k, v));
    }
    let mut headers = BTreeMap::new();
    if let Some(map) = event.get("headers").and_then(Value::as_object) {
        for (k, v) in map {
            let v = v.as_str().unwrap_or_default();
            if v.len() > MAX_HEADER {
                return Err(bad("header too long"));
            }
            if v.chars().any(|c| c.is_control() && c != '\t') {
                return Err(bad("control character in a header"));
            }
            headers.insert(k.to_ascii_lowercase(), v.to_string());
        }
    }
    let body = match text(event.get("body")) {
        None => String::new(),
        Some(b) if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|_| bad("body is not base64"))?;
            String::from_utf8(raw).map_err(|_| bad("body is not UTF-8"))?
        }
        Some(b) => b,
    };
    if body.len() > MAX_BODY {
        return Err(bad("body too long"));
    }
    Ok(HttpRequest {
        method,
        path,
        query,
        headers,
        body,
        source,
    })
}

/// Percent-decoding of a query component (`+` is a space), refusing what is not UTF-8.
fn decode(raw: &str) -> Result<String, BadRequest> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| BadRequest("bad percent-encoding".into()))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(out).map_err(|_| BadRequest("query is not UTF-8".into()))?;
    if text.chars().any(char::is_control) {
        return Err(BadRequest("control character in the query".into()));
    }
    Ok(text)
}

/// What the function answers; the function URL makes it the HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
    /// The request failed on our side (`911`, `dnserr`, a 5xx): counted as an error in
    /// the metrics, whatever the HTTP status the protocol wants.
    pub failed: bool,
}

impl HttpResponse {
    pub fn text(status: u16, body: impl Into<String>) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            headers: Vec::new(),
            failed: status >= 500,
        }
    }

    pub fn json(status: u16, body: &Value) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "application/json",
            body: body.to_string(),
            headers: Vec::new(),
            failed: status >= 500,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> HttpResponse {
        self.headers.push((name, value.into()));
        self
    }

    /// The function's answer to the function URL.
    pub fn to_event(&self) -> Value {
        let mut headers = serde_json::Map::new();
        headers.insert("content-type".into(), json!(self.content_type));
        headers.insert("cache-control".into(), json!("no-store"));
        for (k, v) in &self.headers {
            headers.insert((*k).to_string(), json!(v));
        }
        json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.body,
            "isBase64Encoded": false,
        })
    }
}

#[cfg(test)]
pub(crate) fn event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    source: &str,
) -> Value {
    let mut h = serde_json::Map::new();
    for (k, v) in headers {
        h.insert(k.to_string(), json!(v));
    }
    json!({
        "version": "2.0", "rawPath": path, "rawQueryString": query, "headers": h,
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": source}},
        "isBase64Encoded": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_url_event_is_read_and_bounded() {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("home:pa:ss")
        );
        let e = event(
            "GET",
            "/nic/update",
            "hostname=a.example.com%2Cb.example.com&myip=1.2.3.4&x",
            &[("Authorization", &auth), ("user-agent", "ddclient/3.10")],
            "198.51.100.1",
        );
        let r = parse_event(&e).unwrap();
        assert_eq!(r.param("hostname"), Some("a.example.com,b.example.com"));
        assert_eq!(r.param("x"), Some(""));
        assert_eq!(r.basic_auth(), Some(("home".into(), "pa:ss".into())));
        assert_eq!(r.source.to_string(), "198.51.100.1");
        for (query, says) in [
            ("hostname=%ff", "not UTF-8"),
            ("hostname=%0d%0aX", "control character"),
            ("hostname=%zz", "percent-encoding"),
        ] {
            let err = parse_event(&event("GET", "/", query, &[], "198.51.100.1")).unwrap_err();
            assert!(err.0.contains(says), "{query}: {err:?}");
        }
        let long = "a".repeat(MAX_QUERY + 1);
        assert!(parse_event(&event("GET", "/", &long, &[], "1.2.3.4")).is_err());
        let injected = event("GET", "/", "", &[("x", "a\r\nSet-Cookie: y")], "1.2.3.4");
        assert!(parse_event(&injected).is_err());
        assert!(parse_event(&json!({"rawPath": "/"})).is_err());
    }

    #[test]
    fn malformed_credentials_are_no_credentials() {
        for value in ["Bearer x", "Basic !!!", "Basic Zm9v", "Basic //79"] {
            let r = parse_event(&event(
                "GET",
                "/",
                "",
                &[("authorization", value)],
                "1.2.3.4",
            ))
            .unwrap();
            assert_eq!(r.basic_auth(), None, "{value}");
        }
    }
}
