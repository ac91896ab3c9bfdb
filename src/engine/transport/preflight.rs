//! The preflight: before any load, one connection to the target (name resolved, TCP
//! connected, TLS handshake done for https) so that a target that cannot be reached is one
//! clear error and exit code 2, not a run of thousands of identical connection errors.
//!
//! It sends no HTTP request: the target's own request counts stay exactly the run's (the
//! tests compare them), and a scenario's first step may not be safe to repeat (a POST).
//! Through a proxy, the connection is the run's own (`dial`: the tunnel, then TLS).
//! Depends on `tls`, `dial` and the plan's TLS and HTTP settings.

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
    http: &crate::scenario::Http,
) -> Result<(), String> {
    let url = Url::parse(base).map_err(|e| format!("target {base}: {e}"))?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let unreachable = |why: String| {
        format!("target unreachable: {why}; check the target, or pass --no-preflight to run anyway")
    };
    let dialer = super::dial::Dialer::new(tls, http, limit)?;
    let at = super::dial::Endpoint::of(&url);
    if let super::dial::Route::Forward(p) | super::dial::Route::Tunnel(p) = dialer.route(&at) {
        // The proxy resolves the target's name; what can be checked is the way through it.
        let via = p.shown();
        return match dialer.dial(&at).await {
            Ok(_) => Ok(()),
            Err(f) => Err(unreachable(format!(
                "through the proxy {via}: {}",
                f.message
            ))),
        };
    }
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
                return handshake(stream, &bare, limit, tls, http.version2)
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
    http2: bool,
) -> Result<(), String> {
    let alpn: &[u8] = if http2 { b"h2" } else { b"http/1.1" };
    let config = super::tls::client_config(tls, &[alpn])?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(limit, connector.connect(name, stream)).await {
        Ok(Ok(stream)) if http2 && stream.get_ref().1.alpn_protocol() != Some(b"h2") => Err(
            "the server did not agree to HTTP/2 (ALPN h2): it speaks only HTTP/1.1; run \
             without http2"
                .to_string(),
        ),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(super::tls::describe_io(&e)),
        Err(_) => Err(format!("no handshake within {limit:?}")),
    }
}
