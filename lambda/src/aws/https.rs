//! One HTTP(S) PUT, for the CloudFormation custom resource's answer: its `ResponseURL` is a
//! presigned S3 URL (HTTPS, the system's roots), or a local one in tests (HTTP).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Longest the answer may take, connection included.
pub const PUT_TIMEOUT: Duration = Duration::from_secs(20);

/// PUTs `body` to `url`. The content type is empty, as the presigned URL was signed for
/// (S3 refuses a request whose headers differ from the signed ones). Fails on any status
/// but 2xx, naming it.
pub async fn put(url: &str, body: Vec<u8>) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .map_err(|e| format!("TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let len = body.len();
    let request = hyper::Request::put(uri)
        .header("content-type", "")
        .header("content-length", len)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(PUT_TIMEOUT, async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        Ok::<_, String>((status, text))
    })
    .await
    .map_err(|_| format!("no answer within {} s", PUT_TIMEOUT.as_secs()))??;
    match answer {
        (status, _) if status.is_success() => Ok(()),
        (status, text) => Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        )),
    }
}
