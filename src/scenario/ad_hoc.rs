//! Ad-hoc runs (`stampede URL -c 10 -H 'Name: v' -d BODY`, oha's and hey's habits): the flags
//! become a one-step scenario written as YAML, which then goes through the same validation
//! as a file. So everything the flags can say is also a scenario file, and
//! `--print-scenario` shows it: an ad-hoc command grows into a file by redirecting it.

use std::time::Duration;

use super::plan::Target;
use super::{Overrides, parse_target};
use crate::redact::Redactor;
use crate::yaml_text::{flow, quoted};
pub use credentials::Credentials;
use credentials::{EnvRefs, header_value, path_line, target_line};

mod credentials;

/// Virtual users of a URL run that names no load.
pub const AD_HOC_VUS: u64 = 50;
/// Length of a URL run that names no stop condition.
pub const AD_HOC_DURATION: Duration = Duration::from_secs(10);

/// The request of a URL run, as the flags gave it.
#[derive(Debug, Clone, Default)]
pub struct AdHoc {
    /// The URL (environment templates already expanded).
    pub url: String,
    /// The method (`GET` when none was given).
    pub method: String,
    /// Headers in the order given.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<AdHocBody>,
    /// The time allowed for one request.
    pub timeout: Option<Duration>,
}

/// A URL run's body.
#[derive(Debug, Clone, PartialEq)]
pub enum AdHocBody {
    /// Sent as written (a template, like a scenario's `body:`).
    Text(String),
    /// `--json-body`: parsed, and written as the step's `json:`.
    Json(serde_json::Value),
}

/// The load a URL run gets: the flags', else 50 VUs for 10 seconds (as oha and hey).
pub fn with_defaults(overrides: &Overrides) -> Overrides {
    let mut ov = overrides.clone();
    if ov.vus.is_none() && ov.rate.is_none() {
        ov.vus = Some(AD_HOC_VUS);
    }
    if ov.duration.is_none() && ov.iterations.is_none() {
        ov.duration = Some(AD_HOC_DURATION);
    }
    ov
}

/// Splits `http://host:port/path?q` into the target and the rest.
pub fn split_url(url: &str) -> Result<(Target, String), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("\"{url}\" is not a URL ({e}); write e.g. http://127.0.0.1:8000/users/1")
    })?;
    let target = parse_target(&parsed[..url::Position::BeforePath])?;
    Ok((target, parsed[url::Position::BeforePath..].to_string()))
}

/// A duration the scenario language reads back exactly: `10s`, or `1500ms`.
pub(super) fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}us", d.as_micros())
    }
}

/// The scenario file of a URL run: target, load (the flags' or the defaults), one step.
/// `ov` is the load as the run will use it (`with_defaults`).
pub fn to_yaml(a: &AdHoc, ov: &Overrides, credentials: Credentials) -> Result<String, String> {
    let (target, path) = split_url(&a.url)?;
    let mut refs = EnvRefs::new(credentials);
    let target = match target {
        Target::Url(u) => target_line(&u, &mut refs),
        Target::Demo => "demo".to_string(),
    };
    let step = step_lines(a, &path, ov, &mut refs);
    let mut y = String::new();
    y.push_str("# A URL run as a scenario file: `stampede run THIS_FILE` sends the same load.\n");
    y.push_str(&refs.comment());
    y.push_str("name: ad-hoc\n");
    y.push_str(&format!("target: {}\n", quoted(&target)));
    y.push_str(&load_lines(ov));
    if !ov.secrets.is_empty() {
        let names: Vec<String> = ov.secrets.iter().map(|n| quoted(n)).collect();
        y.push_str(&format!("secrets: [{}]\n", names.join(", ")));
    }
    y.push_str(&step);
    Ok(y)
}

/// The `load:` block and the connection settings the flags gave.
fn load_lines(ov: &Overrides) -> String {
    let mut y = String::from("load:\n");
    match (ov.vus, ov.rate) {
        (_, Some(rate)) => {
            y.push_str(&format!("  rate: {rate}/s\n"));
            if let Some(m) = ov.max_in_flight {
                y.push_str(&format!("  max_in_flight: {m}\n"));
            }
        }
        (Some(vus), None) => y.push_str(&format!("  vus: {vus}\n")),
        (None, None) => {}
    }
    if let Some(d) = ov.duration {
        y.push_str(&format!("  duration: {}\n", duration(d)));
    }
    if let Some(n) = ov.iterations {
        y.push_str(&format!("  iterations: {n}\n"));
    }
    if ov.http2 {
        y.push_str("http2: true\n");
    }
    if let Some(n) = ov.streams_per_connection {
        y.push_str(&format!("streams_per_connection: {n}\n"));
    }
    if let Some(proxy) = &ov.proxy {
        y.push_str(&format!("proxy: {}\n", quoted(&proxy_line(proxy))));
    }
    if ov.proxy_from_env {
        y.push_str("proxy_from_env: true\n");
    }
    if ov.insecure {
        y.push_str("tls:\n  insecure: true\n");
    }
    y
}

/// The `flows:` block: one flow of one step, the flags' request.
fn step_lines(a: &AdHoc, path: &str, ov: &Overrides, refs: &mut EnvRefs) -> String {
    let hidden = Redactor::new(&ov.secrets, Vec::new());
    let mut y = String::from("flows:\n  - name: url\n    steps:\n");
    y.push_str(&format!("      - method: {}\n", quoted(&a.method)));
    y.push_str(&format!(
        "        url: {}\n",
        quoted(&path_line(path, refs))
    ));
    if !a.headers.is_empty() {
        y.push_str("        headers:\n");
        for (name, value) in &a.headers {
            let value = match hidden.hides_header(name) {
                true => header_value(name, value, refs),
                false => value.clone(),
            };
            y.push_str(&format!("          {}: {}\n", quoted(name), quoted(&value)));
        }
    }
    match &a.body {
        Some(AdHocBody::Text(text)) => y.push_str(&format!("        body: {}\n", quoted(text))),
        Some(AdHocBody::Json(value)) => y.push_str(&format!("        json: {}\n", flow(value))),
        None => {}
    }
    if let Some(t) = a.timeout {
        y.push_str(&format!("        timeout: {}\n", duration(t)));
    }
    if let Some(n) = ov.follow_redirects {
        y.push_str(&format!("        follow_redirects: {n}\n"));
    }
    y
}

/// A `--proxy` URL for the file: its password, if any, becomes `{{ env.PROXY_PASSWORD }}`
/// (a printed scenario is meant to be kept; a password in it would be kept too).
fn proxy_line(url: &str) -> String {
    match super::validate::parse_proxy(url) {
        Ok(p) => match &p.credentials {
            Some((user, _)) => {
                let shown = p.shown();
                let rest = shown.trim_start_matches("http://");
                let user: String =
                    percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC)
                        .collect();
                format!("http://{user}:{{{{ env.PROXY_PASSWORD }}}}@{rest}")
            }
            None => p.shown(),
        },
        // Not a proxy stampede takes (validation says why): still, no password is printed.
        Err(_) => match url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://{host}")
            }
            None => url
                .rsplit_once('@')
                .map_or(url, |(_, host)| host)
                .to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_holds_every_flag() {
        let a = AdHoc {
            url: "http://127.0.0.1:8000/users?page=2".into(),
            method: "POST".into(),
            headers: vec![("x-key".into(), "a \"quoted\" value".into())],
            body: Some(AdHocBody::Json(serde_json::json!({"n": 1, "s": "x"}))),
            timeout: Some(Duration::from_millis(1500)),
        };
        let ov = with_defaults(&Overrides {
            rate: Some(20.0),
            max_in_flight: Some(7),
            http2: true,
            streams_per_connection: Some(4),
            proxy: Some("http://ann:pw@proxy.local:3128".into()),
            insecure: true,
            follow_redirects: Some(3),
            ..Overrides::default()
        });
        let y = to_yaml(&a, &ov, Credentials::FromEnv).expect("yaml");
        for line in [
            "target: \"http://127.0.0.1:8000\"",
            "  rate: 20/s",
            "  max_in_flight: 7",
            "  duration: 10s",
            "      - method: \"POST\"",
            "        url: \"/users?page=2\"",
            "          \"x-key\": \"a \\\"quoted\\\" value\"",
            "        json: {\"n\":1,\"s\":\"x\"}",
            "        timeout: 1500ms",
            "http2: true",
            "streams_per_connection: 4",
            "proxy: \"http://ann:{{ env.PROXY_PASSWORD }}@proxy.local:3128\"",
            "tls:",
            "  insecure: true",
            "        follow_redirects: 3",
        ] {
            assert!(y.lines().any(|l| l == line), "no line {line:?} in\n{y}");
        }
        assert!(!y.contains("pw"), "the proxy password is not printed:\n{y}");
        assert_eq!(proxy_line("https://ann:pw@p:3128"), "https://p:3128");
    }

    /// Characters some YAML readers take as line breaks (NEL, U+2028) are escaped, so the
    /// printed file reads back to the same request.
    #[test]
    fn line_separators_in_a_header_or_body_are_escaped() {
        let a = AdHoc {
            url: "http://127.0.0.1:8000/".into(),
            method: "POST".into(),
            headers: vec![("x-note".into(), "a\u{2028}b\u{85}c".into())],
            body: Some(AdHocBody::Json(serde_json::json!({"s": "x\u{2029}y"}))),
            timeout: None,
        };
        let ov = with_defaults(&Overrides::default());
        let y = to_yaml(&a, &ov, Credentials::FromEnv).expect("yaml");
        assert!(
            y.contains("a\\u2028b\\u0085c") && y.contains("x\\u2029y"),
            "{y}"
        );
        let env = |_: &str| None;
        let plan = crate::scenario::parse(&y, "printed.yaml", "p", &env, &Overrides::default())
            .expect("the printed file loads");
        let step = &plan.flows[0].steps[0];
        let sent = step.headers.get("x-note").map(|v| v.as_bytes());
        assert_eq!(sent, Some("a\u{2028}b\u{85}c".as_bytes()));
    }
}
