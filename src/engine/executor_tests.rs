//! `executor`'s unit tests (a file of their own: with them the module passes the size
//! limit).

use reqwest::header::{HeaderMap, HeaderValue};

use super::*;
use crate::engine::setup_policy::Setup;
use crate::engine::step::{Judgement, ReadyFlow};

/// A flow of one `GET /` with `expect`, ready for http://a.test.
fn expecting(expect: &str) -> ReadyFlow {
    let text = format!(
        "target: http://a.test\nload: {{ vus: 1, iterations: 1 }}\n\
         flows: [ {{ steps: [ {{ get: /, expect: {expect} }} ] }} ]\n"
    );
    let overrides = crate::scenario::Overrides::default();
    let plan = crate::scenario::parse(&text, "t.yaml", "t", &|_| None, &overrides).expect("plan");
    ReadyFlow::new(&plan.flows[0], "http://a.test", false, &[]).expect("flow")
}

/// A 200 with an empty body whose `X-Process-Time` (20 ms) is slower than
/// `^0\.00[0-4]` asks.
fn answer() -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert("x-process-time", HeaderValue::from_static("0.020113"));
    Reply {
        status: 200,
        headers,
        ..Reply::default()
    }
}

fn judged(step: &ReadyStep) -> Judgement {
    let mut user = User::new(0, 1, false);
    let latency = Duration::from_millis(20);
    step.judge(&answer(), latency, &mut user, &Globals::default(), true)
}

/// What setup makes of the answer.
fn in_setup(step: &ReadyStep) -> Result<(), String> {
    let now = Instant::now();
    let at = Timing {
        begin: now,
        sent: now,
        end: now,
    };
    Setup.ended(step, Ending::Answered(answer(), judged(step)), at, None)
}

#[test]
fn a_failed_soft_check_is_counted_but_is_no_error() {
    let flow = expecting(r"{ headers: { x-process-time: { regex: '^0\.00[0-4]', soft: true } } }");
    let judged = judged(&flow.steps[0]);
    assert_eq!(judged.failed_checks, 0b1, "its failure is counted");
    assert!(judged.failure.is_none(), "{:?}", judged.failure);
    assert!(!judged.step_failed());
    assert_eq!(in_setup(&flow.steps[0]), Ok(()), "setup goes on");
}

#[test]
fn a_failed_hard_check_is_an_error_of_class_check() {
    let flow = expecting(r"{ headers: { x-process-time: { regex: '^0\.00[0-4]' } } }");
    let judged = judged(&flow.steps[0]);
    assert_eq!(judged.failed_checks, 0b1);
    let (class, why) = judged.failure.expect("a failure");
    assert_eq!(class, ErrorClass::Check);
    assert_eq!(
        why,
        r"check failed: header x-process-time matches /^0\.00[0-4]/"
    );
    let setup = in_setup(&flow.steps[0]).expect_err("setup stops");
    assert!(setup.contains("check failed"), "{setup}");
}

#[test]
fn a_hard_check_after_failed_soft_ones_is_the_failure() {
    let flow = expecting(
        "{ body: [ { name: seen, contains: ok, soft: true }, { name: needed, contains: ok } ], \
         headers: { x-process-time: { exists: false, soft: true } } }",
    );
    let judged = judged(&flow.steps[0]);
    assert_eq!(judged.failed_checks, 0b111, "every failed check is counted");
    assert_eq!(
        judged.failure,
        Some((ErrorClass::Check, "check failed: needed".to_string()))
    );
}
