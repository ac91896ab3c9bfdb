//! `http2:`, `streams_per_connection:`, `proxy:` and `proxy_from_env:` (and `--http2`,
//! `--streams-per-connection`, `--proxy`, `--proxy-from-env`): the HTTP version and the way
//! to the target. Proxy URLs, from the file, the flag or the environment, are checked here,
//! so a bad one is an error before any request.
//!
//! Depends on the `Validator`, `raw`, `plan` and `template`.

use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::scenario::plan::{Http, Proxies, ProxyUrl};
use crate::scenario::raw::RawScenario;
use crate::scenario::template::substitute_env;

/// The most users that may share one HTTP/2 connection (servers commonly allow 100 to 250
/// concurrent streams; a larger number would only queue inside the client).
const MOST_STREAMS: u64 = 1000;

/// The HTTP settings: the command line's beat the file's.
pub(super) fn build_http(raw: &RawScenario, vd: &mut Validator<'_>) -> Http {
    let ov = vd.overrides;
    let version2 = ov.http2 || raw.http2.as_ref().is_some_and(|h| h.value);
    let streams = match (ov.streams_per_connection, &raw.streams_per_connection) {
        (Some(n), _) => n,
        (None, Some(n)) if !(1..=MOST_STREAMS).contains(&n.value) => {
            let message = format!("{} is not from 1 to {MOST_STREAMS}", n.value);
            vd.problems.on(n, "streams_per_connection", message);
            1
        }
        (None, Some(n)) => n.value as u32,
        (None, None) => 1,
    };
    if streams > 1 && !version2 {
        let message = "streams_per_connection shares HTTP/2 connections between users; add \
                       `http2: true` (or --http2), or remove it";
        match &raw.streams_per_connection {
            Some(n) if ov.streams_per_connection.is_none() => {
                vd.problems.on(n, "streams_per_connection", message)
            }
            _ => vd
                .problems
                .at(Location::UNKNOWN, "--streams-per-connection", message),
        }
    }
    let proxy = match (&ov.proxy, &raw.proxy) {
        (Some(url), _) => parse_proxy(url)
            .map(|p| Some(single(p, "--proxy")))
            .unwrap_or_else(|e| {
                vd.problems.at(Location::UNKNOWN, "--proxy", e);
                None
            }),
        (None, Some(value)) => file_proxy(value, vd),
        (None, None)
            if ov.proxy_from_env || raw.proxy_from_env.as_ref().is_some_and(|p| p.value) =>
        {
            env_proxies(vd)
        }
        (None, None) => None,
    };
    Http {
        version2,
        streams,
        proxy,
    }
}

/// One proxy for every target.
fn single(p: ProxyUrl, source: &str) -> Proxies {
    Proxies {
        http: Some(p.clone()),
        https: Some(p),
        bypass: Vec::new(),
        source: source.to_string(),
    }
}

/// `proxy:` in the file (environment templates allowed: a proxy URL may hold a password).
fn file_proxy(value: &Spanned<String>, vd: &mut Validator<'_>) -> Option<Proxies> {
    let text = match substitute_env(&value.value, vd.env) {
        Ok(t) => t,
        Err(e) => {
            vd.problems.on(value, "proxy", e);
            return None;
        }
    };
    match parse_proxy(&text) {
        Ok(p) => Some(single(p, "proxy:")),
        Err(e) => {
            vd.problems.on(value, "proxy", e);
            None
        }
    }
}

/// `--proxy-from-env`: `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy`, lower case
/// first as curl reads them, then upper case. No proxy variable set: no proxy.
fn env_proxies(vd: &mut Validator<'_>) -> Option<Proxies> {
    let read = |name: &str| -> Option<(String, String)> {
        [name.to_ascii_lowercase(), name.to_string()]
            .into_iter()
            .find_map(|n| {
                (vd.env)(&n)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (n.clone(), v))
            })
    };
    let parse = |found: Option<(String, String)>, vd: &mut Validator<'_>| {
        let (name, value) = found?;
        match parse_proxy(&value) {
            Ok(p) => Some((name, p)),
            Err(e) => {
                vd.problems.at(Location::UNKNOWN, &name, e);
                None
            }
        }
    };
    let all = read("ALL_PROXY");
    let http = parse(read("HTTP_PROXY").or_else(|| all.clone()), vd);
    let https = parse(read("HTTPS_PROXY").or(all), vd);
    let bypass = read("NO_PROXY")
        .map(|(_, v)| {
            v.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if http.is_none() && https.is_none() {
        return None;
    }
    let names: Vec<&str> = [&http, &https]
        .into_iter()
        .flatten()
        .map(|(n, _)| n.as_str())
        .collect();
    let mut source = names.join(", ");
    if names.len() == 2 && names[0] == names[1] {
        source = names[0].to_string();
    }
    Some(Proxies {
        http: http.map(|(_, p)| p),
        https: https.map(|(_, p)| p),
        bypass,
        source,
    })
}

/// An HTTP proxy's URL: `http://[user:password@]host[:port]`, or `host:port` (as the
/// environment variables are often written).
pub fn parse_proxy(text: &str) -> Result<ProxyUrl, String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let hint = "write it as http://host:port (or http://user:password@host:port)";
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| format!("the proxy is not a URL ({e}); {hint}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "{}:// proxies are not supported, only http:// ones (https targets go through \
             them in a CONNECT tunnel, still encrypted end to end); {hint}",
            url.scheme()
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("the proxy URL has no host; {hint}"))?;
    let credentials = (!url.username().is_empty()).then(|| {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        (
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        )
    });
    Ok(ProxyUrl {
        host: host.trim_matches(['[', ']']).to_string(),
        port: url.port_or_known_default().unwrap_or(80),
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_and_without_a_scheme() {
        let p = parse_proxy("http://ann:p%40ss@proxy.local:3128").expect("valid");
        assert_eq!((p.host.as_str(), p.port), ("proxy.local", 3128));
        assert_eq!(p.credentials, Some(("ann".into(), "p@ss".into())));
        assert_eq!(
            format!("{p:?}"),
            "http://proxy.local:3128 (with credentials)"
        );
        let bare = parse_proxy("10.0.0.1:8080").expect("valid");
        assert_eq!(
            (bare.host.as_str(), bare.port, bare.credentials),
            ("10.0.0.1", 8080, None)
        );
        let v6 = parse_proxy("http://[::1]:9").expect("valid");
        assert_eq!(v6.shown(), "http://[::1]:9");
        let socks = parse_proxy("socks5://h:1").expect_err("unsupported");
        assert!(socks.contains("only http://"), "{socks}");
    }

    #[test]
    fn no_proxy_names_a_host_and_its_subdomains() {
        let p = parse_proxy("http://proxy:3128").expect("valid");
        let proxies = Proxies {
            http: Some(p.clone()),
            https: None,
            bypass: vec!["example.com".into(), ".internal".into(), "127.0.0.1".into()],
            source: "test".into(),
        };
        let direct = |host: &str, port: u16| proxies.route(false, host, port).is_none();
        assert!(direct("example.com", 80));
        assert!(direct("api.example.com", 80));
        assert!(direct("svc.internal", 80));
        assert!(direct("127.0.0.1", 80));
        assert!(!direct("notexample.com", 80));
        assert!(
            proxies.route(true, "other.org", 443).is_none(),
            "no https proxy"
        );
        let more = Proxies {
            bypass: vec![
                "localhost:8080".into(),
                "[::1]".into(),
                "10.0.0.0/8".into(),
                "fd00::/8".into(),
            ],
            ..proxies.clone()
        };
        let direct = |host: &str, port: u16| more.route(false, host, port).is_none();
        assert!(direct("localhost", 8080));
        assert!(
            !direct("localhost", 9090),
            "another port goes through the proxy"
        );
        assert!(direct("[::1]", 80));
        assert!(direct("10.20.30.40", 80));
        assert!(!direct("11.0.0.1", 80));
        assert!(direct("[fd12::1]", 80));
        assert!(!direct("[fe80::1]", 80));
        assert!(!direct("10.example.com", 80));
        let all = Proxies {
            bypass: vec!["*".into()],
            ..proxies
        };
        assert!(all.route(false, "anything", 80).is_none());
    }
}
