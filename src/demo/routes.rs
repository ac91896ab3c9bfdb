//! The demo service's handlers and state.
//!
//! Every handler answers through `AppState::reply`, which counts the response, so a request is
//! counted once whatever its outcome; extractors that can reject (body, query) are taken as
//! `Result`s for that reason, since a rejection inside axum would skip the count.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Counters, DemoConfig, MAX_BODY_BYTES, MAX_FIELD_CHARS, MAX_LIST_LIMIT, Route};

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
    /// Session tokens, oldest first, so the oldest can be ended when there are too many.
    session_order: VecDeque<String>,
    next_session: u64,
}

impl Store {
    /// Stores a user; beyond `cap` users, drops the oldest (smallest ids), so that a load
    /// test creating users cannot grow the service without limit.
    fn insert_user(&mut self, user: User, cap: usize) {
        self.users.insert(user.id, user);
        while self.users.len() > cap.max(1) {
            if let Some((id, _)) = self.users.pop_first() {
                self.cache.remove(&id);
            }
        }
    }

    /// Starts a session; beyond `cap` sessions, ends the oldest.
    fn insert_session(&mut self, token: String, email: String, cap: usize) {
        self.sessions.insert(token.clone(), email);
        self.session_order.push_back(token);
        while self.session_order.len() > cap.max(1) {
            if let Some(old) = self.session_order.pop_front() {
                self.sessions.remove(&old);
            }
        }
    }
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

    /// The counted 400 of a query string that does not parse.
    fn bad_query(&self, route: Route, rejection: &QueryRejection) -> Response {
        self.reply(route, StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

fn detail_json(detail: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "detail": detail }))
}

/// A JSON body of type `T`, or why it is refused: 413 beyond `MAX_BODY_BYTES` (400 for a body
/// that could not be read), 422 for anything but `T`'s JSON.
fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    expected: &str,
) -> Result<T, (StatusCode, String)> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => (
            r.status(),
            format!("body larger than {MAX_BODY_BYTES} bytes"),
        ),
        status => (status, r.body_text()),
    })?;
    serde_json::from_slice(&body).map_err(|_| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("body must be JSON with {expected}"),
        )
    })
}

/// Whether every field is short enough to store.
fn fits(fields: &[&str]) -> bool {
    fields.iter().all(|f| f.chars().count() <= MAX_FIELD_CHARS)
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
        store.insert_user(seed_user(id), config.max_users);
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
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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

async fn method_not_allowed(State(s): Shared) -> Response {
    s.reply(
        Route::Unknown,
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    )
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
    /// Only users with a larger id: the next page starts after the last id of this one.
    after: Option<u64>,
}

async fn list_users(State(s): Shared, q: Result<Query<ListQuery>, QueryRejection>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return s.bad_query(Route::UserList, &r),
    };
    tokio::time::sleep(s.config.db_delay).await;
    // Larger pages are cut, not refused, as paginated APIs do.
    let limit = q.limit.unwrap_or(10).min(MAX_LIST_LIMIT);
    let from = q.after.map_or(0, |id| id.saturating_add(1));
    let users: Vec<User> = (s.store().users.range(from..).take(limit))
        .map(|(_, u)| u.clone())
        .collect();
    s.reply(Route::UserList, StatusCode::OK, Json(users))
}

#[derive(Debug, Deserialize)]
struct NewUser {
    name: String,
    email: String,
}

async fn create_user(State(s): Shared, body: Result<Bytes, BytesRejection>) -> Response {
    let new: NewUser = match json_body(body, "name and email") {
        Ok(new) => new,
        Err((status, detail)) => return s.reply(Route::UserCreate, status, detail_json(&detail)),
    };
    if !fits(&[&new.name, &new.email]) {
        let detail = format!("name and email are at most {MAX_FIELD_CHARS} characters");
        return s.reply(
            Route::UserCreate,
            StatusCode::UNPROCESSABLE_ENTITY,
            detail_json(&detail),
        );
    }
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
        store.insert_user(user.clone(), s.config.max_users);
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
async fn login(State(s): Shared, body: Result<Bytes, BytesRejection>) -> Response {
    let login: Login = match json_body(body, "an email") {
        Ok(login) => login,
        Err((status, detail)) => return s.reply(Route::Login, status, detail_json(&detail)),
    };
    if !fits(&[&login.email]) {
        let detail = format!("email is at most {MAX_FIELD_CHARS} characters");
        return s.reply(
            Route::Login,
            StatusCode::UNPROCESSABLE_ENTITY,
            detail_json(&detail),
        );
    }
    tokio::time::sleep(s.config.db_delay).await;
    let token = {
        let mut store = s.store();
        store.next_session += 1;
        let token = format!("t{:x}{:04x}", store.next_session, fastrand::u16(..));
        store.insert_session(token.clone(), login.email, s.config.max_sessions);
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
