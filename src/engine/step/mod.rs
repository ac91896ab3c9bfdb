//! The prepared step: a flow's steps bound to the target (`ReadyStep`), the request each
//! sends (fixed once when nothing in it varies, or rendered for the user), the request a
//! redirect asks for (`redirect`), and the judgement of an answer (checks, expected status, extractions).
//!
//! Depends on `user` (the state templates render from and extractions go into), the
//! transport's request and answer types, `scenario` (the step as planned) and `metrics` (the
//! error classes). Invariants: a step whose request has no dynamic part is prepared once
//! (`ReadyStep::fixed`) and sent as is; only steps with templates, or users with cookies,
//! build a request per send. A soft check's failure sets its bit and is never the failure.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{COOKIE, HeaderMap, HeaderName, HeaderValue};

use super::user::{Feed, Globals, User};
use super::{Accepted, Keep, Prepared, Reply, Wire};
use crate::metrics::{ErrorClass, TAG_NONE};
use crate::scenario::{Body, Extraction, Flow, Response, Scope, Step};

mod redirect;

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
    /// What a user runs once, before its first iteration of the flow.
    pub init: Vec<ReadyStep>,
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
        let ready = |steps: &[Step]| {
            (steps.iter())
                .map(|s| ReadyStep::new(s, base, cookies))
                .collect::<Result<Vec<_>, _>>()
        };
        let (init, steps) = (ready(&flow.init)?, ready(&flow.steps)?);
        let mut feeds: Vec<usize> = Vec::new();
        for step in flow.all_steps() {
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
            init,
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
        let tag = step.tag_by.as_ref().map(|t| &t.source);
        let keep = Keep {
            body: step.extract.iter().any(Extraction::needs_body)
                || step.expect.checks.iter().any(|c| c.kind.needs_body())
                || tag.is_some_and(|t| t.needs_body()),
            // A redirect is followed by its Location header.
            headers: cookies
                || step.follow_redirects > 0
                || step.extract.iter().any(Extraction::needs_headers)
                || step.expect.checks.iter().any(|c| c.kind.needs_headers())
                || tag.is_some_and(|t| t.needs_headers()),
            max_body: step.max_body,
            // A failing status keeps what its sample shows (`Keep::for_status`).
            accepted: Accepted::of(|s| step.expect.status.accepts(s)),
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
        if let Some(cookie) = user.cookie_header(req.headers.get(COOKIE)) {
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

    /// What the step keeps of its responses (`Keep::for_status` says what a status keeps).
    pub(super) fn keep(&self) -> Keep {
        self.keep
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
        // A cut body says no value rather than one read from its first part.
        let tag = self
            .spec
            .tag_by
            .as_ref()
            .map(|t| match t.value(&mut response) {
                Some(value) if !(cut && t.source.needs_body()) => value,
                _ => TAG_NONE.to_string(),
            });
        Judgement {
            status_ok,
            failed_checks,
            failure: failure.filter(|_| status_ok),
            missing_values: body_extracted && cut,
            tag,
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
    /// A tagged step: the answer's tag value (`(none)` when it did not say).
    pub tag: Option<String>,
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
