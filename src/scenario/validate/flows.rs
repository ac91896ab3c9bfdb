//! `flows:` and `setup:`: each flow's weight, pace, init steps and steps, and each step put together
//! from its request (`request`, `body`), its limits and its expectations (`expect`).
//!
//! Depends on the `Validator`, `request`, `body`, `expect`, `insight`, `names`, `sources`,
//! `raw`, `plan` and `units`. Invariant: step ids are numbered in plan order (metrics index them), and a
//! step's extractions are known only to the steps after it.

use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::body::build_body;
use super::expect::{build_expect, build_extract};
use super::insight::{server_clock, tag_by};
use super::names::Known;
use super::request::{
    Defaults, add_headers, body_limit, build_query, method_and_url, redirect_limit,
};
use super::retry::retry;
use super::sources::{Providers, applies, check_flow};
use super::{Validator, positive_duration};
use crate::scenario::insight::{ServerClock, TagBy};
use crate::scenario::plan::{Body, Flow, OnError, Step};
use crate::scenario::raw::{RawFlow, RawStep};
use crate::scenario::units::parse_duration;
use reqwest::header::CONTENT_TYPE;

/// Largest flow weight (weights are summed, so they must not overflow).
const MAX_WEIGHT: u64 = 1_000_000;

/// `flows:`: at least one, each named once, with its steps numbered in plan order.
pub(super) fn build_flows(
    raw: Option<&Spanned<Vec<Spanned<RawFlow>>>>,
    defaults: (&Defaults, &Providers),
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Vec<Flow> {
    let Some(raw) = raw.filter(|f| !f.value.is_empty()) else {
        let loc = raw.map_or(Location::UNKNOWN, |r| r.referenced);
        vd.problems.at(
            loc,
            "flows",
            "no flows; add at least one, e.g. flows: [{ name: main, steps: [{ get: / }] }]",
        );
        return Vec::new();
    };
    let mut flows: Vec<Flow> = Vec::new();
    for (i, flow) in raw.value.iter().enumerate() {
        let path = format!("flows[{i}]");
        let name = flow
            .value
            .name
            .as_ref()
            .map_or_else(|| format!("flow{}", i + 1), |n| n.value.clone());
        if let Some(n) = &flow.value.name
            && flows.iter().any(|f| f.name == n.value)
        {
            vd.problems.on(
                n,
                &format!("{path}.name"),
                format!("\"{}\" names two flows; names must be unique", n.value),
            );
        }
        let mut known = Known {
            vars: known.vars.clone(),
            data: known.data,
            defaults: false,
        };
        if let Some(p) = &flow.value.once {
            let message = "once says that setup runs in one shard only; a flow has no once";
            vd.problems.on(p, &format!("{path}.once"), message);
        }
        if let Some(f) = build_flow(flow, &path, name, defaults, &mut known, vd) {
            flows.push(f);
        }
    }
    flows
}

/// One flow (or the setup flow): weight, pace, init steps and steps.
pub(super) fn build_flow(
    raw: &Spanned<RawFlow>,
    path: &str,
    name: String,
    (defaults, providers): (&Defaults, &Providers),
    known: &mut Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Flow> {
    let (flow, loc) = (&raw.value, raw.referenced);
    let weight = flow.weight.as_ref().map_or(1, |w| w.value);
    if let Some(w) = flow
        .weight
        .as_ref()
        .filter(|w| !(1..=MAX_WEIGHT).contains(&w.value))
    {
        let message = format!(
            "{} must be from 1 to {MAX_WEIGHT} (remove the flow to disable it)",
            w.value
        );
        vd.problems.on(w, &format!("{path}.weight"), message);
    }
    let pace = flow
        .pace
        .as_ref()
        .and_then(|p| positive_duration(p, &format!("{path}.pace"), vd));
    let Some(steps) = flow.steps.as_ref().filter(|s| !s.value.is_empty()) else {
        vd.problems.at(
            loc,
            &format!("{path}.steps"),
            "the flow has no steps; add e.g. steps: [{ get: / }]",
        );
        return None;
    };
    // Init steps come first: what they extract is known to the flow's steps, and their ids
    // come before the steps' (`Flow::all_steps`).
    let init_path = format!("{path}.init");
    let init = (flow.init.as_ref()).map_or_else(Vec::new, |init| {
        build_steps(&init.value, &init_path, defaults, known, (&[], vd))
    });
    if path != "setup" {
        check_flow(&defaults.late, providers, &name, known, vd);
    }
    let steps_path = format!("{path}.steps");
    let steps = build_steps(&steps.value, &steps_path, defaults, known, (&init, vd));
    Some(Flow {
        name,
        weight,
        pace,
        init,
        steps,
    })
}

/// The steps of one list (`path`: `flows[0].steps`, `flows[0].init`); `before` are the
/// flow's steps already built, whose names these must not repeat.
fn build_steps(
    raw: &[Spanned<RawStep>],
    path: &str,
    defaults: &Defaults,
    known: &mut Known<'_>,
    (before, vd): (&[Step], &mut Validator<'_>),
) -> Vec<Step> {
    let mut built: Vec<Step> = Vec::new();
    for (j, step) in raw.iter().enumerate() {
        let step_path = format!("{path}[{j}]");
        let Some(s) = build_step(step, &step_path, defaults, known, vd) else {
            continue;
        };
        let taken = before.iter().chain(&built).any(|b| b.name == s.name);
        if step.value.name.is_some() && taken {
            let message = format!(
                "\"{}\" names two steps of this flow; names must be unique",
                s.name
            );
            vd.problems.on(step, &format!("{step_path}.name"), message);
        }
        vd.next_step_id += 1;
        built.push(s);
    }
    built
}

/// Validates one step; `None` when it has problems (already recorded). Its extractions are
/// added to `known` for the steps after it.
fn build_step(
    raw: &Spanned<RawStep>,
    path: &str,
    defaults: &Defaults,
    known: &mut Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Step> {
    let before = vd.problems.len();
    let s = &raw.value;
    let (method, url) = method_and_url(raw, path, known, vd)?;
    let default_name = format!("{method} {}", url.as_str());
    let query = build_query(s.query.as_ref(), path, known, vd);
    let (headers, body) = headers_and_body(s, path, defaults, known, vd);
    let (timeout, max_body, follow_redirects) = limits(s, path, defaults, vd);
    let expect = build_expect(s.expect.as_ref(), path, known, vd);
    let extract = build_extract(s.extract.as_ref(), path, vd);
    let on_error = on_error(s.on_error.as_ref(), path, vd);
    let (server_time, tag_by) = insight(s, path, defaults, vd);
    let think = s
        .think
        .as_ref()
        .map(|t| parse_think(&t.value).map_err(|e| vd.problems.on(t, &format!("{path}.think"), e)))
        .transpose()
        .ok()?;
    for e in &extract {
        known.vars.insert(e.var.clone());
    }
    let (Some(timeout), Some(max_body), Some(expect), Some(on_error), Some(server_time)) =
        (timeout, max_body, expect, on_error, server_time)
    else {
        return None;
    };
    let tag_by = tag_by?;
    let retry = match &s.retry {
        Some(v) => retry(v, &format!("{path}.retry"), vd)?,
        None => defaults.retry.clone(),
    };
    if vd.problems.len() != before {
        return None;
    }
    let name = s.name.as_ref().map_or(default_name, |n| n.value.clone());
    Some(Step {
        id: vd.next_step_id,
        name,
        method,
        url,
        query,
        headers: headers.headers,
        header_templates: headers.header_templates,
        body,
        timeout,
        max_body,
        expect,
        extract,
        on_error,
        think,
        follow_redirects,
        server_time,
        tag_by,
        retry,
    })
}

/// The step's `server_time` and `tag_by` (its own, else the defaults'); `None` where the
/// step's value is wrong.
fn insight(
    s: &RawStep,
    path: &str,
    defaults: &Defaults,
    vd: &mut Validator<'_>,
) -> (Option<ServerClock>, Option<Option<TagBy>>) {
    let server_time = match &s.server_time {
        Some(v) => server_clock(v, &format!("{path}.server_time"), vd),
        None => Some(defaults.server_time.clone()),
    };
    let tag_by = match &s.tag_by {
        Some(v) => tag_by(v, &format!("{path}.tag_by"), vd),
        None => Some(defaults.tag_by.clone()),
    };
    (server_time, tag_by)
}

/// The step's headers (the defaults', then its own) and its body, which may set the
/// content type.
fn headers_and_body(
    s: &RawStep,
    path: &str,
    defaults: &Defaults,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> (Defaults, Option<Body>) {
    // A default header reading what setup or an init extracts goes only where that is known.
    let mut header_templates = defaults.header_templates.clone();
    header_templates.retain(|(h, _)| {
        (defaults.late.iter())
            .find(|l| l.header == *h)
            .is_none_or(|l| applies(l, known))
    });
    let mut headers = Defaults {
        headers: defaults.headers.clone(),
        header_templates,
        timeout: defaults.timeout,
        max_body: defaults.max_body,
        follow_redirects: defaults.follow_redirects,
        server_time: defaults.server_time.clone(),
        tag_by: defaults.tag_by.clone(),
        retry: defaults.retry.clone(),
        late: Vec::new(),
    };
    if let Some(h) = &s.headers {
        add_headers(&mut headers, h, &format!("{path}.headers"), known, vd);
    }
    let body = build_body(s, &mut headers.headers, path, known, vd);
    if matches!(body, Some(Body::Multipart(_))) {
        // Its content type names its boundary: an inherited, templated one must not
        // replace it when the request is rendered.
        headers
            .header_templates
            .retain(|(name, _)| *name != CONTENT_TYPE);
    }
    (headers, body)
}

/// The step's `timeout`, `max_body` and `follow_redirects` (`--follow-redirects` first,
/// then the step's, then the defaults'); `None` where the step's value is wrong.
fn limits(
    s: &RawStep,
    path: &str,
    defaults: &Defaults,
    vd: &mut Validator<'_>,
) -> (Option<Duration>, Option<usize>, u32) {
    let timeout = match &s.timeout {
        Some(t) => positive_duration(t, &format!("{path}.timeout"), vd),
        None => Some(defaults.timeout),
    };
    let max_body = match &s.max_body {
        Some(m) => body_limit(m, &format!("{path}.max_body"), vd),
        None => Some(defaults.max_body),
    };
    let follow_redirects = match (vd.overrides.follow_redirects, &s.follow_redirects) {
        (Some(n), _) => n,
        (None, Some(n)) => redirect_limit(n, &format!("{path}.follow_redirects"), vd),
        (None, None) => defaults.follow_redirects,
    };
    (timeout, max_body, follow_redirects)
}

/// `on_error`: `abort_iteration` (the default) or `continue`.
fn on_error(raw: Option<&Spanned<String>>, path: &str, vd: &mut Validator<'_>) -> Option<OnError> {
    match raw {
        None => Some(OnError::AbortIteration),
        Some(v) => match v.value.trim() {
            "abort_iteration" => Some(OnError::AbortIteration),
            "continue" => Some(OnError::Continue),
            other => {
                vd.problems.on(
                    v,
                    &format!("{path}.on_error"),
                    format!("\"{other}\" is not a policy; write abort_iteration or continue"),
                );
                None
            }
        },
    }
}

/// `500ms`, or a range `200ms..1s`.
fn parse_think(text: &str) -> Result<(Duration, Duration), String> {
    let (lo, hi) = match text.split_once("..") {
        Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
        None => {
            let d = parse_duration(text)?;
            (d, d)
        }
    };
    if lo > hi {
        return Err(format!(
            "\"{text}\": the range runs from the shorter time to the longer, e.g. 200ms..1s"
        ));
    }
    Ok((lo, hi))
}
