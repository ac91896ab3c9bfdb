//! The demo's router: every route, the `X-Process-Time` middleware, and the routes whose
//! behaviour a test controls (delay, failure percentage, periodic stall).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::state::{AppState, Shared, Store};
use super::users::{create_user, delete_user, get_user, list_users, login, me, token};
use super::{Counters, DemoConfig, MAX_BODY_BYTES, Route};

/// Builds the demo's router and the counters it updates.
pub fn router(config: DemoConfig) -> (Router, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let state = Arc::new(AppState {
        config,
        counters: Arc::clone(&counters),
        store: Mutex::new(Store::seeded(&config)),
        started: Instant::now(),
    });
    let app = Router::new()
        .route("/", get(fast))
        .route("/fast", get(fast))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).delete(delete_user))
        .route("/delay/{ms}", get(delay))
        .route("/flaky", get(flaky))
        .route("/stall", get(stall))
        .route("/login", axum::routing::post(login))
        .route("/token", axum::routing::post(token))
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route("/redirect/{n}", get(redirect))
        .route("/_demo/stats", get(stats))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(process_time))
        .with_state(state);
    (app, counters)
}

/// Adds `X-Process-Time` (seconds, as FastAPI's middleware example does) to every response.
async fn process_time(req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let mut response = next.run(req).await;
    let secs = format!("{:.6}", t0.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&secs) {
        response.headers_mut().insert("x-process-time", v);
    }
    response
}

async fn fast(State(s): Shared) -> Response {
    s.reply(Route::Fast, StatusCode::OK, "ok")
}

/// The demo's own OpenAPI document, as FastAPI serves one (not counted: it is not load).
async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The document: every route a client would call, with its schemas.
const OPENAPI: &str = include_str!("openapi.json");

async fn not_found(State(s): Shared) -> Response {
    s.reply(Route::Unknown, StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed(State(s): Shared) -> Response {
    s.reply(
        Route::Unknown,
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    )
}

async fn delay(State(s): Shared, Path(ms): Path<String>) -> Response {
    match ms.parse::<u64>() {
        Ok(ms) if ms <= 60_000 => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            s.reply(Route::Delay, StatusCode::OK, "ok")
        }
        _ => s.reply(
            Route::Delay,
            StatusCode::BAD_REQUEST,
            "delay must be 0..=60000 ms",
        ),
    }
}

/// `/redirect/{n}`: a 302 to `/redirect/{n-1}`, and `/redirect/0` answers 200: a chain of
/// `n` redirects, for `follow_redirects`.
async fn redirect(State(s): Shared, Path(n): Path<String>) -> Response {
    match n.parse::<u32>() {
        Ok(0) => s.reply(Route::Redirect, StatusCode::OK, "arrived"),
        Ok(n) if n <= 100 => {
            let mut r = s.reply(Route::Redirect, StatusCode::FOUND, "");
            let to = format!("/redirect/{}", n - 1);
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(axum::http::header::LOCATION, v);
            }
            r
        }
        _ => s.reply(
            Route::Redirect,
            StatusCode::BAD_REQUEST,
            "n must be 0..=100",
        ),
    }
}

#[derive(Debug, Deserialize)]
struct FlakyQuery {
    fail_pct: Option<f64>,
}

async fn flaky(State(s): Shared, q: Result<Query<FlakyQuery>, QueryRejection>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return s.bad_query(Route::Flaky, &r),
    };
    let pct = q.fail_pct.unwrap_or(10.0).clamp(0.0, 100.0);
    if fastrand::f64() * 100.0 < pct {
        s.reply(
            Route::Flaky,
            StatusCode::INTERNAL_SERVER_ERROR,
            "simulated failure",
        )
    } else {
        s.reply(Route::Flaky, StatusCode::OK, "ok")
    }
}

#[derive(Debug, Deserialize)]
struct StallQuery {
    period: Option<String>,
    pause: Option<String>,
}

/// Every `period` (measured from the service's start) the route freezes for `pause`: a request
/// that arrives in the last `pause` of a period is held until the period ends, like a GC pause.
async fn stall(State(s): Shared, q: Result<Query<StallQuery>, QueryRejection>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return s.bad_query(Route::Stall, &r),
    };
    let parse = |v: &Option<String>, default: Duration| match v {
        None => Some(default),
        Some(t) => short_duration(t),
    };
    let (Some(period), Some(pause)) = (
        parse(&q.period, Duration::from_secs(5)),
        parse(&q.pause, Duration::from_secs(1)),
    ) else {
        return s.reply(
            Route::Stall,
            StatusCode::BAD_REQUEST,
            "period and pause take e.g. 5s or 500ms",
        );
    };
    let period_us = period.as_micros().max(1);
    let pause_us = pause.as_micros().min(period_us);
    let phase = s.started.elapsed().as_micros() % period_us;
    if phase >= period_us - pause_us {
        let wait = u64::try_from(period_us - phase).unwrap_or(0);
        tokio::time::sleep(Duration::from_micros(wait)).await;
    }
    s.reply(Route::Stall, StatusCode::OK, "ok")
}

/// `500ms`, `5s` or a bare number of milliseconds.
fn short_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(s) = t.strip_suffix('s') {
        return s
            .parse::<f64>()
            .ok()
            .and_then(|v| Duration::try_from_secs_f64(v).ok());
    }
    t.parse().ok().map(Duration::from_millis)
}

async fn stats(State(s): Shared) -> Response {
    (StatusCode::OK, Json(s.counters.to_map())).into_response()
}
