//! The demo service's handlers and state.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::{Counters, DemoConfig, Route};

#[derive(Debug, Clone, Serialize)]
struct User {
    id: u64,
    name: String,
    email: String,
}

#[derive(Debug, Default)]
struct Store {
    // Ordered by id, so a list reads only the first `limit` users however many exist.
    users: BTreeMap<u64, User>,
    next_id: u64,
    cache: HashMap<u64, (Instant, User)>,
    /// Session token → email, from `POST /login`.
    sessions: HashMap<String, String>,
    next_session: u64,
}

struct AppState {
    config: DemoConfig,
    counters: Arc<Counters>,
    store: Mutex<Store>,
    started: Instant,
}

impl AppState {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reply(&self, route: Route, status: StatusCode, body: impl IntoResponse) -> Response {
        self.counters.count(route, status.as_u16());
        (status, body).into_response()
    }
}

type Shared = State<Arc<AppState>>;

/// Builds the demo's router and the counters it updates.
pub fn router(config: DemoConfig) -> (Router, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let mut store = Store {
        next_id: config.seed_users + 1,
        ..Store::default()
    };
    for id in 1..=config.seed_users {
        store.users.insert(id, seed_user(id));
    }
    let state = Arc::new(AppState {
        config,
        counters: Arc::clone(&counters),
        store: Mutex::new(store),
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
        .route("/me", get(me))
        .route("/_demo/stats", get(stats))
        .fallback(not_found)
        .layer(middleware::from_fn(process_time))
        .with_state(state);
    (app, counters)
}

fn seed_user(id: u64) -> User {
    User {
        id,
        name: format!("user{id}"),
        email: format!("user{id}@example.com"),
    }
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

async fn not_found(State(s): Shared) -> Response {
    s.reply(Route::Unknown, StatusCode::NOT_FOUND, "not found")
}

async fn get_user(State(s): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return s.reply(
            Route::UserGet,
            StatusCode::BAD_REQUEST,
            "id must be a number",
        );
    };
    let now = Instant::now();
    let cached = {
        let mut store = s.store();
        let ttl = s.config.cache_ttl;
        store
            .cache
            .retain(|_, (at, _)| now.duration_since(*at) < ttl);
        store.cache.get(&id).map(|(_, u)| u.clone())
    };
    if let Some(user) = cached {
        return s.reply(
            Route::UserGet,
            StatusCode::OK,
            Json(with_cache_flag(&user, true)),
        );
    }
    tokio::time::sleep(s.config.db_delay).await;
    let found = {
        let mut store = s.store();
        let user = store.users.get(&id).cloned();
        if let Some(u) = &user {
            store.cache.insert(id, (Instant::now(), u.clone()));
        }
        user
    };
    match found {
        Some(user) => s.reply(
            Route::UserGet,
            StatusCode::OK,
            Json(with_cache_flag(&user, false)),
        ),
        None => s.reply(
            Route::UserGet,
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"detail": "user not found"})),
        ),
    }
}

fn with_cache_flag(user: &User, from_cache: bool) -> serde_json::Value {
    serde_json::json!({"id": user.id, "name": user.name, "email": user.email, "from_cache": from_cache})
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list_users(State(s): Shared, Query(q): Query<ListQuery>) -> Response {
    tokio::time::sleep(s.config.db_delay).await;
    let limit = q.limit.unwrap_or(10).min(1000);
    let users: Vec<User> = s.store().users.values().take(limit).cloned().collect();
    s.reply(Route::UserList, StatusCode::OK, Json(users))
}

#[derive(Debug, Deserialize)]
struct NewUser {
    name: String,
    email: String,
}

async fn create_user(State(s): Shared, body: axum::body::Bytes) -> Response {
    let Ok(new) = serde_json::from_slice::<NewUser>(&body) else {
        let detail = serde_json::json!({"detail": "body must be JSON with name and email"});
        return s.reply(
            Route::UserCreate,
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(detail),
        );
    };
    tokio::time::sleep(s.config.db_delay * 2).await;
    let user = {
        let mut store = s.store();
        let id = store.next_id;
        store.next_id += 1;
        let user = User {
            id,
            name: new.name,
            email: new.email,
        };
        store.users.insert(id, user.clone());
        user
    };
    s.reply(Route::UserCreate, StatusCode::CREATED, Json(user))
}

#[derive(Deserialize)]
struct Login {
    email: String,
}

/// Logs a user in: the token comes back in the body and as a `session` cookie, so a client
/// may use either (`Authorization: Bearer TOKEN`, or the cookie).
async fn login(State(s): Shared, body: axum::body::Bytes) -> Response {
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        let detail = serde_json::json!({"detail": "body must be JSON with an email"});
        return s.reply(Route::Login, StatusCode::UNPROCESSABLE_ENTITY, Json(detail));
    };
    tokio::time::sleep(s.config.db_delay).await;
    let token = {
        let mut store = s.store();
        store.next_session += 1;
        let token = format!("t{:x}{:04x}", store.next_session, fastrand::u16(..));
        store.sessions.insert(token.clone(), login.email);
        token
    };
    let cookie = format!("session={token}; Path=/; HttpOnly");
    let mut response = s.reply(
        Route::Login,
        StatusCode::OK,
        Json(serde_json::json!({ "token": token })),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .insert(axum::http::header::SET_COOKIE, v);
    }
    response
}

/// Who is logged in: needs the session cookie or a bearer token from `POST /login`.
async fn me(State(s): Shared, headers: axum::http::HeaderMap) -> Response {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let bearer = text(axum::http::header::AUTHORIZATION)
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_string);
    let cookie = text(axum::http::header::COOKIE).and_then(|c| {
        c.split(';')
            .filter_map(|p| p.trim().strip_prefix("session="))
            .next()
            .map(str::to_string)
    });
    let email = bearer
        .or(cookie)
        .and_then(|t| s.store().sessions.get(&t).cloned());
    match email {
        Some(email) => s.reply(
            Route::Me,
            StatusCode::OK,
            Json(serde_json::json!({ "email": email })),
        ),
        None => s.reply(
            Route::Me,
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"detail": "log in first: POST /login"})),
        ),
    }
}

async fn delete_user(State(s): Shared, Path(id): Path<String>) -> Response {
    tokio::time::sleep(s.config.db_delay * 2).await;
    let removed = id.parse::<u64>().ok().and_then(|id| {
        let mut store = s.store();
        store.cache.remove(&id);
        store.users.remove(&id)
    });
    match removed {
        Some(_) => s.reply(Route::UserDelete, StatusCode::NO_CONTENT, ()),
        None => s.reply(
            Route::UserDelete,
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"detail": "user not found"})),
        ),
    }
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

#[derive(Debug, Deserialize)]
struct FlakyQuery {
    fail_pct: Option<f64>,
}

async fn flaky(State(s): Shared, Query(q): Query<FlakyQuery>) -> Response {
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
async fn stall(State(s): Shared, Query(q): Query<StallQuery>) -> Response {
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
