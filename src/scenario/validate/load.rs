//! `load:`: the model (closed or open, from the file or the command line), the stop
//! conditions, the graceful stop and the stages.
//!
//! Depends on the `Validator`, `raw`, `plan` and `units`. Invariant: every stage ramps the
//! same model as the level it starts from.

use std::time::Duration;

use serde_saphyr::Location;

use super::capacity::build_capacity;
use super::{
    DEFAULT_GRACEFUL_STOP, DEFAULT_MAX_IN_FLIGHT, Validator, check_users, positive_duration,
    scalar_text,
};
use crate::scenario::plan::{Load, Model, Stage};
use crate::scenario::raw::{RawLoad, RawStage};
use crate::scenario::units::{parse_duration, parse_rate};
use serde_saphyr::Spanned;

/// `load:` with the command line's overrides: the model, its stages and how the run ends;
/// with `find_capacity`, its limits as text (parsed once the steps are known).
pub(super) fn build_load(
    raw: Option<&Spanned<RawLoad>>,
    vd: &mut Validator<'_>,
) -> Option<(Load, Vec<String>)> {
    let ov = vd.overrides;
    let empty = RawLoad::default();
    let (l, loc) = match raw {
        Some(s) => (&s.value, s.referenced),
        None => (&empty, Location::UNKNOWN),
    };
    // A model chosen on the command line replaces the file's, stages and search included.
    let from_command_line = ov.vus.is_some() || ov.rate.is_some();
    let capacity = match &l.find_capacity {
        Some(raw) if !from_command_line => Some(build_capacity(l, raw, vd)?),
        _ => None,
    };
    let stages = if from_command_line {
        Some(Vec::new())
    } else {
        build_stages(l, vd)
    };
    let staged: Duration = stages.iter().flatten().map(|s| s.duration).sum();
    if let (Some(d), Some(s)) = (&l.duration, &l.stages)
        && !s.value.is_empty()
        && ov.duration.is_none()
    {
        vd.problems.on(d, "load.duration", "stages set the run's length; remove duration (or pass --duration to cut or extend the last stage)");
    }
    let duration = match (ov.duration, &l.duration) {
        (Some(d), _) => Some(d),
        (None, _) if !staged.is_zero() => Some(staged),
        (None, Some(d)) => positive_duration(d, "load.duration", vd),
        (None, None) => None,
    };
    let iterations = ov.iterations.or(l.iterations.as_ref().map(|i| i.value));
    if let Some(i) = l
        .iterations
        .as_ref()
        .filter(|i| i.value == 0 && ov.iterations.is_none())
    {
        vd.problems.on(i, "load.iterations", "must be at least 1");
    }
    // An invalid duration is reported on its own; "no stop condition" would only add noise.
    if l.duration.is_none()
        && ov.duration.is_none()
        && iterations.is_none()
        && l.stages.is_none()
        && capacity.is_none()
    {
        vd.problems.at(
            loc,
            "load",
            "no stop condition; set duration (e.g. 30s) and/or iterations (e.g. 1000)",
        );
    }
    let graceful_stop = match &l.graceful_stop {
        Some(g) => parse_duration(&g.value)
            .map_err(|e| vd.problems.on(g, "load.graceful_stop", e))
            .ok(),
        None => Some(DEFAULT_GRACEFUL_STOP),
    };
    let stages = stages?;
    let model = match &capacity {
        Some((c, _)) => Some(search_model(l, c.start, vd)),
        None => build_model(l, stages.is_empty(), vd),
    };
    let (capacity, until) = capacity.unzip();
    Some((
        Load {
            model: model?,
            duration,
            iterations,
            graceful_stop: graceful_stop?,
            stages,
            capacity,
        },
        until.unwrap_or_default(),
    ))
}

/// A capacity search's model: the open model at its start rate.
fn search_model(l: &RawLoad, start: f64, vd: &mut Validator<'_>) -> Model {
    let max_in_flight = match (vd.overrides.max_in_flight, &l.max_in_flight) {
        (Some(m), _) => m,
        (None, Some(m)) => {
            check_users(m, "load.max_in_flight", vd);
            m.value
        }
        (None, None) => DEFAULT_MAX_IN_FLIGHT,
    };
    Model::Open {
        rate: start,
        max_in_flight,
    }
}

/// What a level counts: virtual users (closed model) or arrivals per second (open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Vus,
    Rate,
}

impl Unit {
    /// The field that sets it.
    fn field(self) -> &'static str {
        match self {
            Unit::Vus => "vus",
            Unit::Rate => "rate",
        }
    }
}

/// `load.stages`: every stage names a duration and one level, all in the same unit.
fn build_stages(l: &RawLoad, vd: &mut Validator<'_>) -> Option<Vec<Stage>> {
    let Some(raw) = &l.stages else {
        return Some(Vec::new());
    };
    if raw.value.is_empty() {
        vd.problems.on(
            raw,
            "load.stages",
            "no stages; add e.g. - { duration: 10s, vus: 20 }",
        );
        return None;
    }
    let before = vd.problems.len();
    let mut stages = Vec::new();
    let mut unit: Option<Unit> = None;
    for (i, st) in raw.value.iter().enumerate() {
        let field = format!("load.stages[{i}]");
        let d = match &st.value.duration {
            Some(d) => positive_duration(d, &format!("{field}.duration"), vd),
            None => {
                vd.problems.on(
                    st,
                    &format!("{field}.duration"),
                    "missing; write e.g. duration: 30s",
                );
                None
            }
        };
        let Some((this, target)) = stage_level(st, &field, vd) else {
            continue;
        };
        match unit {
            Some(first) if first != this => {
                let (word, first) = (this.field(), first.field());
                vd.problems.on(st, &field, format!("this stage sets {word} but an earlier one sets {first}; all stages ramp the same model"));
            }
            _ => unit = Some(this),
        }
        if let (Some(duration), Some(target)) = (d, target) {
            stages.push(Stage { duration, target });
        }
    }
    check_start(l, unit, vd);
    (vd.problems.len() == before).then_some(stages)
}

/// A stage's level: its unit and its target (`None` when the value is wrong); `None` when
/// it sets no level or both.
fn stage_level(
    st: &Spanned<RawStage>,
    field: &str,
    vd: &mut Validator<'_>,
) -> Option<(Unit, Option<f64>)> {
    let RawStage { vus, rate, .. } = &st.value;
    match (vus, rate) {
        (Some(v), None) => {
            check_users(v, &format!("{field}.vus"), vd);
            Some((Unit::Vus, Some(v.value as f64)))
        }
        (None, Some(r)) => {
            let text = scalar_text(&r.value);
            // A stage may ramp down to zero arrivals per second.
            let rate = if text.trim().trim_end_matches("/s").trim() == "0" {
                Ok(0.0)
            } else {
                parse_rate(&text)
            };
            let rate = rate.map_err(|e| vd.problems.on(r, &format!("{field}.rate"), e));
            Some((Unit::Rate, rate.ok()))
        }
        _ => {
            vd.problems.on(
                st,
                field,
                "a stage sets exactly one level: vus (closed model) or rate (open model)",
            );
            None
        }
    }
}

/// The level the stages start from (`load.vus` or `load.rate`) is in the stages' unit.
fn check_start(l: &RawLoad, unit: Option<Unit>, vd: &mut Validator<'_>) {
    match unit {
        Some(Unit::Vus) if l.rate.is_some() => {
            if let Some(r) = &l.rate {
                vd.problems.on(
                    r,
                    "load.rate",
                    "the stages ramp vus; start them with vus (or remove rate to start from 0)",
                );
            }
        }
        Some(Unit::Rate) if l.vus.is_some() => {
            if let Some(v) = &l.vus {
                vd.problems.on(
                    v,
                    "load.vus",
                    "the stages ramp a rate; start them with rate (or remove vus to start from 0)",
                );
            }
        }
        _ => {}
    }
}

/// The model: the command line's choice, else the file's `vus` or `rate` (and, for the open
/// model, `max_in_flight`). `constant`: no stages.
fn build_model(l: &RawLoad, constant: bool, vd: &mut Validator<'_>) -> Option<Model> {
    let ov = vd.overrides;
    if ov.max_in_flight.is_none()
        && let Some(m) = &l.max_in_flight
    {
        check_users(m, "load.max_in_flight", vd);
    }
    if ov.vus.is_none()
        && ov.rate.is_none()
        && let Some(v) = &l.vus
    {
        check_users(v, "load.vus", vd);
    }
    let max_in_flight = ov
        .max_in_flight
        .or(l.max_in_flight.as_ref().map(|m| m.value))
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    // A command-line choice of model replaces the file's model entirely.
    let (vus, rate) = match (ov.vus, ov.rate) {
        (Some(v), _) => (Some(v), None),
        (None, Some(r)) => (None, Some(r)),
        (None, None) if !constant => return Some(staged_model(l, max_in_flight, vd)),
        (None, None) => constant_model(l, vd)?,
    };
    if let Some(m) = l.max_in_flight.as_ref().filter(|m| m.value == 0) {
        vd.problems
            .on(m, "load.max_in_flight", "0 must be at least 1");
    }
    match (vus, rate) {
        (_, Some(rate)) => Some(Model::Open {
            rate,
            max_in_flight,
        }),
        (Some(vus), None) => Some(Model::Closed { vus }),
        (None, None) if l.rate.is_some() => None,
        (None, None) => Some(Model::Closed { vus: 1 }),
    }
}

/// The file's rate, parsed only where the file's model is used (and at most once).
fn file_rate(l: &RawLoad, vd: &mut Validator<'_>) -> Option<f64> {
    l.rate.as_ref().and_then(|r| {
        parse_rate(&scalar_text(&r.value))
            .map_err(|e| vd.problems.on(r, "load.rate", e))
            .ok()
    })
}

/// The model stages ramp: from the file's level, or from zero, in the first stage's unit.
fn staged_model(l: &RawLoad, max_in_flight: u64, vd: &mut Validator<'_>) -> Model {
    let closed = l
        .stages
        .iter()
        .flat_map(|s| s.value.first())
        .any(|s| s.value.vus.is_some());
    if closed {
        Model::Closed {
            vus: l.vus.as_ref().map_or(0, |v| v.value),
        }
    } else {
        Model::Open {
            rate: file_rate(l, vd).unwrap_or(0.0),
            max_in_flight,
        }
    }
}

/// The file's level without stages: `vus` or `rate` (not both, and not zero users).
fn constant_model(l: &RawLoad, vd: &mut Validator<'_>) -> Option<(Option<u64>, Option<f64>)> {
    let vus = l.vus.as_ref().map(|v| v.value);
    if let Some(v) = l.vus.as_ref().filter(|v| v.value == 0) {
        vd.problems.on(v, "load.vus", "must be at least 1");
    }
    let rate = file_rate(l, vd);
    if let (Some(v), Some(_)) = (&l.vus, &l.rate) {
        vd.problems.on(
            v,
            "load",
            "vus and rate are both set; choose vus (closed model: users run flows back \
             to back) or rate (open model: arrivals per second)",
        );
        return None;
    }
    Some((vus, rate))
}
