//! The preflight: before any load, one connection to the target (name resolved, TCP
//! connected, TLS handshake done for https) so that a target that cannot be reached is one
//! clear error and exit code 2, not a run of thousands of identical connection errors.
//!
//! It sends no HTTP request: the target's own request counts stay exactly the run's (the
//! tests compare them), and a scenario's first step may not be safe to repeat (a POST).
//! Depends on `engine::tls` and the plan's TLS settings.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use url::Url;

/// Connects once to the host of `base` within `limit`; `Err` says why it cannot be reached
/// and how to go on anyway.
pub async fn preflight(
    base: &str,
    limit: Duration,
    tls: &crate::scenario::Tls,
) -> Result<(), String> {
    let url = Url::parse(base).map_err(|e| format!("target {base}: {e}"))?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let unreachable = |why: String| {
        format!("target unreachable: {why}; check the target, or pass --no-preflight to run anyway")
    };
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let lookup = tokio::time::timeout(limit, tokio::net::lookup_host((bare.as_str(), port)));
    let addrs: Vec<_> = match lookup.await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(unreachable(format!("cannot resolve {host}: {e}"))),
        Err(_) => return Err(unreachable(format!("resolving {host} took over {limit:?}"))),
    };
    let mut last = unreachable(format!("{host} has no address"));
    for addr in addrs {
        match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) if url.scheme() == "https" => {
                return handshake(stream, &bare, limit, tls)
                    .await
                    .map_err(|e| unreachable(format!("TLS handshake with {addr} failed: {e}")));
            }
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = unreachable(format!("{} at {addr}", describe(&e))),
            Err(_) => last = unreachable(format!("no answer from {addr} within {limit:?}")),
        }
    }
    Err(last)
}

/// The words for a connect error, e.g. "connection refused".
fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => e.to_string(),
    }
}

/// A TLS handshake verified as the run's requests will be (`engine::tls`: the platform's
/// roots, which honour `SSL_CERT_FILE`, plus `tls.ca`; or none with `insecure`).
async fn handshake(
    stream: TcpStream,
    host: &str,
    limit: Duration,
    tls: &crate::scenario::Tls,
) -> Result<(), String> {
    let config = super::tls::client_config(tls, &[b"http/1.1"])?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(limit, connector.connect(name, stream)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no handshake within {limit:?}")),
    }
}
