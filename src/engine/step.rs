//! The prepared step: a flow's steps bound to the target (`ReadyStep`), the request each
//! sends (fixed once when nothing in it varies, or rendered for the user), the request a
//! redirect asks for, and the judgement of an answer (checks, expected status, extractions).
//!
//! Depends on `user` (the state templates render from and extractions go into), the
//! transport's request and answer types, `scenario` (the step as planned) and `metrics` (the
//! error classes). Invariants: a step whose request has no dynamic part is prepared once
//! (`ReadyStep::fixed`) and sent as is; only steps with templates, or users with cookies,
//! build a request per send. A soft check's failure sets its bit and is never the failure.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue,
    LOCATION, PROXY_AUTHORIZATION,
};

use super::user::{Feed, Globals, User};
use super::{Keep, Prepared, Reply, Wire};
use crate::metrics::ErrorClass;
use crate::scenario::{Body, Extraction, Flow, Response, Scope, Step};

/// A flow whose requests are ready for one target.
#[derive(Debug)]
pub(super) struct ReadyFlow {
    /// Its position among the load's flows (the recorder times its iterations under it);
    /// `usize::MAX` for the setup flow, which is not timed.
    pub index: usize,
    /// How often it is picked, relative to the other flows.
    pub weight: u64,
    /// A closed-model user starts its iterations at most once per `pace`.
    pub pace: Option<Duration>,
    /// Its steps, in order.
    pub steps: Vec<ReadyStep>,
    /// The data feeds this flow reads (indexes into `Globals::data`).
    pub feeds: Vec<usize>,
}

impl ReadyFlow {
    /// Binds `flow` to `base`; `data` are the run's feeds (the flow notes which it reads).
    /// Its `index` is `usize::MAX` until the workload places it among the load's flows.
    pub(super) fn new(
        flow: &Flow,
        base: &str,
        cookies: bool,
        data: &[Feed],
    ) -> Result<Self, String> {
        let steps = flow
            .steps
            .iter()
            .map(|s| ReadyStep::new(s, base, cookies))
            .collect::<Result<Vec<_>, _>>()?;
        let mut feeds: Vec<usize> = Vec::new();
        for step in &flow.steps {
            for (set, _) in step_templates(step).flat_map(|t| t.data_columns()) {
                if let Some(i) = data.iter().position(|f| f.set.name == set)
                    && !feeds.contains(&i)
                {
                    feeds.push(i);
                }
            }
        }
        Ok(Self {
            index: usize::MAX,
            weight: flow.weight,
            pace: flow.pace,
            steps,
            feeds,
        })
    }
}

/// One step, bound to the target.
#[derive(Debug)]
pub(super) struct ReadyStep {
    /// The step as planned: rendered per request, judged against its expectations.
    pub spec: Step,
    /// The whole request, when nothing in it varies.
    fixed: Option<Prepared>,
    /// The target's base URL (paths are appended to it).
    base: String,
    keep: Keep,
}

/// Name-value fields rendered and urlencoded (`a=1&b=x+y`): a query, or a `form:` body.
fn urlencoded(
    fields: &[(String, crate::scenario::Template)],
    scope: &mut dyn Scope,
) -> Result<String, String> {
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    let mut value = String::new();
    for (name, t) in fields {
        value.clear();
        t.render_into(scope, &mut value)
            .map_err(|m| m.to_string())?;
        pairs.append_pair(name, &value);
    }
    Ok(pairs.finish())
}

/// Every template of a step.
fn step_templates(step: &Step) -> impl Iterator<Item = &crate::scenario::Template> {
    let body: Vec<&crate::scenario::Template> = match &step.body {
        Some(Body::Text(t)) => vec![t],
        Some(Body::Json(j)) => j.templates().collect(),
        Some(Body::Form(fields)) => fields.iter().map(|(_, t)| t).collect(),
        Some(Body::Multipart(m)) => m.templates().collect(),
        Some(Body::File(_)) | None => Vec::new(),
    };
    std::iter::once(&step.url.template)
        .chain(step.query.iter().map(|(_, t)| t))
        .chain(step.header_templates.iter().map(|(_, t)| t))
        .chain(body)
}

impl ReadyStep {
    fn new(step: &Step, base: &str, cookies: bool) -> Result<Self, String> {
        let keep = Keep {
            body: step.extract.iter().any(Extraction::needs_body)
                || step.expect.checks.iter().any(|c| c.kind.needs_body()),
            // A redirect is followed by its Location header.
            headers: cookies
                || step.follow_redirects > 0
                || step.extract.iter().any(Extraction::needs_headers)
                || step.expect.checks.iter().any(|c| c.kind.needs_headers()),
            max_body: step.max_body,
        };
        let mut ready = Self {
            spec: step.clone(),
            fixed: None,
            base: base.to_string(),
            keep,
        };
        if step.is_literal() {
            // Rendering a literal step needs no user; a failure here is a bad URL.
            let mut nobody = User::new(0, fastrand::u64(..), false);
            let mut fixed = ready
                .render(&mut nobody, &Globals::default())
                .map_err(|e| format!("step \"{}\": {e}", step.name))?;
            fixed.wire = Wire::reusable();
            ready.fixed = Some(fixed);
        }
        Ok(ready)
    }

    /// The request to send for `user`: the fixed one, or one rendered now. `Err` says why
    /// it cannot be built (counted as error class `render`).
    pub(super) fn request<'a>(
        &'a self,
        user: &mut User,
        globals: &Globals,
    ) -> Result<Cow<'a, Prepared>, String> {
        let mut req = match &self.fixed {
            Some(fixed) if !user.has_cookies() => {
                return Ok(Cow::Borrowed(fixed));
            }
            Some(fixed) => fixed.clone(),
            None => self.render(user, globals)?,
        };
        if let Some(cookie) = user.cookie_header() {
            req.headers.insert(COOKIE, cookie);
        }
        Ok(Cow::Owned(req))
    }

    fn render(&self, user: &mut User, globals: &Globals) -> Result<Prepared, String> {
        let step = &self.spec;
        let mut scope = user.scope(globals);
        let mut url = if step.url.absolute {
            String::new()
        } else {
            self.base.clone()
        };
        step.url
            .template
            .render_into(&mut scope, &mut url)
            .map_err(|m| m.to_string())?;
        if !step.query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&urlencoded(&step.query, &mut scope)?);
        }
        let url =
            reqwest::Url::parse(&url).map_err(|e| format!("\"{url}\" is not a valid URL ({e})"))?;
        let mut headers: HeaderMap = step.headers.clone();
        let mut text = String::new();
        for (name, t) in &step.header_templates {
            text.clear();
            t.render_into(&mut scope, &mut text)
                .map_err(|m| m.to_string())?;
            // The value itself is not quoted: it may be a credential.
            let value = HeaderValue::from_str(&text).map_err(|_| unsendable(name, &text))?;
            headers.insert(name.clone(), value);
        }
        let body = match &step.body {
            None => None,
            Some(b) => Some(match b.literal() {
                Some(bytes) => bytes,
                None => match b {
                    Body::Text(t) => Bytes::from(t.render(&mut scope).map_err(|m| m.to_string())?),
                    Body::Json(j) => {
                        let mut out = String::new();
                        j.render_into(&mut scope, &mut out)
                            .map_err(|m| m.to_string())?;
                        Bytes::from(out)
                    }
                    Body::Form(fields) => Bytes::from(urlencoded(fields, &mut scope)?),
                    Body::File(bytes) => bytes.clone(),
                    Body::Multipart(m) => m
                        .encode_with(|t| t.render(&mut scope))
                        .map_err(|m| m.to_string())?,
                },
            }),
        };
        Ok(Prepared {
            method: step.method.clone(),
            url,
            headers,
            body,
            timeout: step.timeout,
            keep: self.keep,
            wire: Wire::default(),
            clock: step.server_time.clone(),
        })
    }

    /// The request a redirect asks for: `reply` is a 301, 302, 303, 307 or 308 to `req`
    /// with a `Location` that makes an http(s) URL. The method and body change as browsers
    /// and curl change them (303, and 301/302 after a POST, become a body-less GET; 307
    /// and 308 repeat the request); `Authorization`, `Cookie`, `Proxy-Authorization` and
    /// `Host` are not sent to another origin (other headers are, as curl and browsers send
    /// them); the user's jar takes the 3xx's cookies and goes along only at the target.
    /// `None`: the 3xx is the answer.
    pub(super) fn redirect(
        &self,
        req: &Prepared,
        reply: &Reply,
        user: &mut User,
    ) -> Option<Prepared> {
        let url = Self::next_url(req, reply)?;
        // The jar holds the target's cookies (it matches no domain): it takes them only
        // from the target's answers and sends them only to the target.
        let target = reqwest::Url::parse(&self.base).ok().map(|b| b.origin());
        let at_target = |u: &reqwest::Url| target.as_ref() == Some(&u.origin());
        if user.has_jar() && at_target(&req.url) {
            user.take_cookies(&reply.headers);
        }
        let get = match reply.status {
            303 => req.method != Method::HEAD,
            301 | 302 => req.method == Method::POST,
            _ => false,
        };
        let mut headers = req.headers.clone();
        let (method, body) = if get {
            headers.remove(CONTENT_TYPE);
            headers.remove(CONTENT_LENGTH);
            (Method::GET, None)
        } else {
            (req.method.clone(), req.body.clone())
        };
        let same_origin = url.origin() == req.url.origin();
        if !same_origin {
            for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST] {
                headers.remove(name);
            }
        }
        if at_target(&url)
            && let Some(cookie) = user.cookie_header()
        {
            headers.insert(COOKIE, cookie);
        }
        Some(Prepared {
            method,
            url,
            headers,
            body,
            timeout: req.timeout,
            keep: req.keep,
            wire: Wire::default(),
            clock: req.clock.clone(),
        })
    }

    /// Where `reply` (to `req`) redirects: a 301, 302, 303, 307 or 308 whose `Location`
    /// makes an http(s) URL; `None` for any other answer.
    pub(super) fn next_url(req: &Prepared, reply: &Reply) -> Option<reqwest::Url> {
        if !matches!(reply.status, 301 | 302 | 303 | 307 | 308) {
            return None;
        }
        let location = reply.headers.get(LOCATION)?.to_str().ok()?;
        let url = req.url.join(location).ok()?;
        matches!(url.scheme(), "http" | "https").then_some(url)
    }

    /// Whether `url` is at the target's origin (where the cookie jar belongs).
    pub(super) fn at_target(&self, url: &reqwest::Url) -> bool {
        reqwest::Url::parse(&self.base).is_ok_and(|b| b.origin() == url.origin())
    }

    /// The think time after this step, if it has one: its fixed pause, or one drawn from its
    /// range with `rng`.
    pub(super) fn think(&self, rng: &mut fastrand::Rng) -> Option<Duration> {
        let (lo, hi) = self.spec.think?;
        if lo == hi {
            return Some(lo);
        }
        let span = (hi - lo).as_nanos() as u64;
        Some(lo + Duration::from_nanos(rng.u64(0..=span)))
    }

    /// `too_many_redirects`: the chain was still redirecting after `follow_redirects` hops.
    pub(super) fn too_many_redirects(&self, status: u16) -> String {
        let n = self.spec.follow_redirects;
        format!(
            "still redirected ({status}) after following {n} redirect{} (follow_redirects: \
             {n}); raise follow_redirects for this step to follow more",
            if n == 1 { "" } else { "s" }
        )
    }

    /// Judges a response: the checks that failed (one bit each, soft ones too), then whether
    /// the step failed (status or extraction) and why; a failed hard check is error class
    /// `check`, a failed soft one is only counted. Extracted values go into the user's
    /// variables; its cookies into the jar when `own` (not an answer that a redirect fetched
    /// from another origin than the target: the jar is the target's only).
    pub(super) fn judge(
        &self,
        reply: &Reply,
        latency: Duration,
        user: &mut User,
        globals: &Globals,
        own: bool,
    ) -> Judgement {
        let mut response = Response::new(reply.status, &reply.headers, &reply.body, latency);
        // A body that was cut is never judged by its first part: a `contains` on its tail
        // would fail wrongly, an extraction could read a truncated value.
        let cut = reply.cut;
        let (failed_checks, first_hard) = self.check(&mut response, cut, user, globals);
        if own {
            user.take_cookies(&reply.headers);
        }
        let expect = &self.spec.expect;
        let status_ok = expect.status.accepts(reply.status);
        let mut failure = None;
        if status_ok {
            failure = self.extract(&mut response, cut, user);
        }
        let body_extracted = self.spec.extract.iter().any(Extraction::needs_body);
        if cut {
            failure.get_or_insert_with(|| self.too_large(reply.bytes));
        }
        if failure.is_none()
            && let Some(i) = first_hard
        {
            let name = &expect.checks[i].name;
            failure = Some((ErrorClass::Check, format!("check failed: {name}")));
        }
        Judgement {
            status_ok,
            failed_checks,
            failure: failure.filter(|_| status_ok),
            missing_values: body_extracted && cut,
        }
    }

    /// Runs the step's checks (those that read the body are skipped when it was `cut`): the
    /// ones that failed, one bit each, and the first hard one among them (a soft check's
    /// failure is counted, never an error).
    fn check(
        &self,
        response: &mut Response,
        cut: bool,
        user: &mut User,
        globals: &Globals,
    ) -> (u64, Option<usize>) {
        let mut failed_checks = 0u64;
        let mut first_hard = None;
        for (i, check) in self.spec.expect.checks.iter().enumerate() {
            if cut && check.kind.needs_body() {
                continue;
            }
            let mut scope = user.scope(globals);
            if !check.passes(response, &mut scope) {
                failed_checks |= 1 << i;
                if !check.soft {
                    first_hard.get_or_insert(i);
                }
            }
        }
        (failed_checks, first_hard)
    }

    /// Runs the step's extractions (those that read the body are skipped when it was
    /// `cut`), their values into the user's variables; the first that failed, and why.
    fn extract(
        &self,
        response: &mut Response,
        cut: bool,
        user: &mut User,
    ) -> Option<(ErrorClass, String)> {
        let mut failure = None;
        for e in &self.spec.extract {
            if cut && e.needs_body() {
                continue;
            }
            match e.apply(response) {
                Ok(value) => user.set_var(e.var.clone(), value),
                Err(why) => {
                    failure.get_or_insert((ErrorClass::Extract, why));
                }
            }
        }
        failure
    }

    /// `body_too_large`: an answer of `bytes` was cut at `max_body`.
    fn too_large(&self, bytes: u64) -> (ErrorClass, String) {
        let message = format!(
            "body of {bytes} bytes is larger than max_body ({} bytes); raise max_body for this \
             step to check or extract from it",
            self.spec.max_body
        );
        (ErrorClass::BodyTooLarge, message)
    }
}

/// What `ReadyStep::judge` found.
#[derive(Debug)]
pub(super) struct Judgement {
    /// The step expects this status.
    pub status_ok: bool,
    /// The step's checks that failed, one bit per check (bit i: check i).
    pub failed_checks: u64,
    /// For an accepted status: an extraction or hard check failure (never a soft check's).
    pub failure: Option<(ErrorClass, String)>,
    /// An extraction could not run (the body was cut): later steps would miss its values.
    missing_values: bool,
}

impl Judgement {
    /// The status was not accepted or an extraction failed (checks do not fail a step).
    pub fn step_failed(&self) -> bool {
        !self.status_ok
            || self.missing_values
            || matches!(self.failure, Some((ErrorClass::Extract, _)))
    }
}

/// Why a rendered header value cannot be sent: the first character a header cannot carry
/// and where it is, never the value (it may be a credential).
fn unsendable(name: &HeaderName, text: &str) -> String {
    let bad = text
        .char_indices()
        .find(|&(_, c)| (c.is_control() && c != '\t') || !c.is_ascii());
    match bad {
        Some((at, c)) => format!(
            "header {name}: the value has {c:?}, which a header cannot carry, at byte {at} of {}",
            text.len()
        ),
        None => format!("header {name}: the value cannot be a header value"),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::SET_COOKIE;

    use super::*;

    fn sent(method: Method, url: &str, body: Option<&'static str>) -> Prepared {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Prepared {
            method,
            url: reqwest::Url::parse(url).expect("url"),
            headers,
            body: body.map(|b| Bytes::from_static(b.as_bytes())),
            timeout: Duration::from_secs(1),
            keep: Keep::default(),
            wire: Wire::default(),
            clock: crate::scenario::ServerClock::Auto,
        }
    }

    fn answer(status: u16, location: &'static str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static(location));
        Reply {
            status,
            headers,
            ..Reply::default()
        }
    }

    fn redirect_of(req: &Prepared, reply: &Reply) -> Option<Prepared> {
        let text = "target: http://a.test\nload: { vus: 1, iterations: 1 }\nflows: [ { steps: [ { get: / } ] } ]\n";
        let overrides = crate::scenario::Overrides::default();
        let plan =
            crate::scenario::parse(text, "t.yaml", "t", &|_| None, &overrides).expect("plan");
        let step = ReadyStep::new(&plan.flows[0].steps[0], "http://a.test", false).expect("step");
        step.redirect(req, reply, &mut User::new(0, 1, false))
    }

    #[test]
    fn redirects_change_method_and_body_as_browsers_do() {
        let post = sent(Method::POST, "http://a.test/x/y", Some("{}"));
        let see_other = redirect_of(&post, &answer(303, "../z?q=1")).expect("followed");
        assert_eq!(see_other.method, Method::GET);
        assert_eq!(see_other.url.as_str(), "http://a.test/z?q=1");
        assert!(see_other.body.is_none());
        assert!(!see_other.headers.contains_key(CONTENT_TYPE));
        assert!(see_other.headers.contains_key(AUTHORIZATION), "same origin");
        let found = redirect_of(&post, &answer(302, "/n")).expect("followed");
        assert_eq!((found.method, found.body), (Method::GET, None));
        let temporary = redirect_of(&post, &answer(307, "/n")).expect("followed");
        assert_eq!(temporary.method, Method::POST);
        assert_eq!(temporary.body.as_deref(), Some(&b"{}"[..]));
        let put = sent(Method::PUT, "http://a.test/x", Some("{}"));
        let moved = redirect_of(&put, &answer(301, "/n")).expect("followed");
        assert_eq!(
            moved.method,
            Method::PUT,
            "only a POST becomes a GET on 301/302"
        );
    }

    #[test]
    fn the_jar_takes_and_sends_cookies_only_at_the_target() {
        let text = "target: http://a.test\ncookies: true\nload: { vus: 1, iterations: 1 }\nflows: [ { steps: [ { get: / } ] } ]\n";
        let overrides = crate::scenario::Overrides::default();
        let plan =
            crate::scenario::parse(text, "t.yaml", "t", &|_| None, &overrides).expect("plan");
        let step = ReadyStep::new(&plan.flows[0].steps[0], "http://a.test", true).expect("step");
        let mut user = User::new(0, 1, true);
        let with_cookie = |status, location, cookie| {
            let mut r = answer(status, location);
            r.headers
                .insert(SET_COOKIE, HeaderValue::from_static(cookie));
            r
        };
        let home = sent(Method::GET, "http://a.test/x", None);
        let next = step
            .redirect(&home, &with_cookie(302, "/n", "sid=1"), &mut user)
            .expect("followed");
        assert_eq!(
            next.headers.get(COOKIE).map(|v| v.as_bytes()),
            Some(&b"sid=1"[..])
        );
        let away = step
            .redirect(
                &home,
                &with_cookie(302, "http://b.test/", "sid=2"),
                &mut user,
            )
            .expect("followed");
        assert!(
            away.headers.get(COOKIE).is_none(),
            "no cookie to another origin"
        );
        let from_away = step
            .redirect(
                &away,
                &with_cookie(302, "http://a.test/back", "evil=1"),
                &mut user,
            )
            .expect("followed");
        assert_eq!(
            from_away.headers.get(COOKIE).map(|v| v.as_bytes()),
            Some(&b"sid=2"[..]),
            "the target's own cookie (set by its 302) comes back; the other origin's is not kept"
        );
    }

    #[test]
    fn credentials_stay_with_their_origin_and_odd_locations_end_the_chain() {
        let get = sent(Method::GET, "http://a.test/x", None);
        let away = redirect_of(&get, &answer(302, "https://b.test/y")).expect("followed");
        assert!(!away.headers.contains_key(AUTHORIZATION));
        assert!(redirect_of(&get, &answer(302, "ftp://b.test/y")).is_none());
        assert!(redirect_of(&get, &answer(304, "/y")).is_none());
        assert!(redirect_of(&get, &answer(200, "/y")).is_none());
        let mut no_location = answer(302, "/y");
        no_location.headers.clear();
        assert!(redirect_of(&get, &no_location).is_none());
    }
}
