//! One document fetched over HTTP(S) for a command that reads it (`init --from-openapi
//! URL`): the system's certificate authorities, a time limit, a size cap, and an error that
//! names the URL and why. Not part of any load.

use std::time::Duration;

use super::tls;
use crate::scenario::Tls;

/// Fetches `url` within `limit`, at most `cap` bytes of body; `Err` names the URL and what
/// went wrong (no answer, a status other than 2xx, a body over the cap, not UTF-8).
pub async fn fetch(url: &str, limit: Duration, cap: u64) -> Result<String, String> {
    // reqwest is built without a default crypto provider; install ring's once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = tls::client_config(&Tls::default(), &[b"http/1.1"])?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .user_agent(super::contract::USER_AGENT)
        .no_proxy()
        .timeout(limit)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let fail = |e: reqwest::Error| format!("cannot fetch {url}: {}", super::failure::chain(&e));
    let mut response = client.get(url).send().await.map_err(fail)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("cannot fetch {url}: the server answered {status}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > cap {
            return Err(format!(
                "cannot fetch {url}: its body is over {} MiB",
                cap >> 20
            ));
        }
    }
    String::from_utf8(body).map_err(|_| format!("{url}: the document is not UTF-8 text"))
}
