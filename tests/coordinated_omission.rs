//! The coordinated-omission trap: a route that freezes for 1 s every 5 s. An open-model run
//! keeps arriving during the freeze and must report those waits; a closed model cannot.

mod common;

use std::time::Duration;

use common::{Demo, run_json, scenario, step};

fn p99(doc: &serde_json::Value) -> f64 {
    step(doc, "stall")["latency_ms"]["p99"]
        .as_f64()
        .unwrap_or(0.0)
}

#[test]
fn open_model_sees_the_stall_that_closed_model_hides() {
    let demo = Demo::start();
    let flows = "flows:\n  - steps: [ { name: stall, get: \"/stall?period=5s&pause=1s\" } ]\n";
    let (_d1, open) = scenario(&format!(
        "name: open\ntarget: {}\nload: {{ rate: 100/s, duration: 10s }}\n{flows}",
        demo.url
    ));
    let (code, open_doc, _, _) = run_json(&open, &[], Duration::from_secs(60));
    assert_eq!(code, 0);
    let (_d2, closed) = scenario(&format!(
        "name: closed\ntarget: {}\nload: {{ vus: 10, duration: 10s }}\n{flows}",
        demo.url
    ));
    let (code, closed_doc, _, _) = run_json(&closed, &[], Duration::from_secs(60));
    assert_eq!(code, 0);

    let (open_p99, closed_p99) = (p99(&open_doc), p99(&closed_doc));
    assert!(
        open_p99 >= 800.0,
        "open-model p99 {open_p99} ms should show the 1 s stall"
    );
    assert!(
        open_p99 > 4.0 * closed_p99,
        "open p99 {open_p99} ms should be far above closed p99 {closed_p99} ms"
    );
    // Exactly 1000 arrivals were planned (100/s for 10 s): each is sent or counted as dropped.
    let stall = step(&open_doc, "stall");
    let count = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let sent =
        count(&stall["requests"]) + count(&stall["interrupted"]) + count(&open_doc["dropped"]);
    assert_eq!(sent, 1000, "arrivals for 100/s over 10 s");
}
