//! The demo service's state: users, cache and sessions (each bounded), and the helpers every
//! handler answers through.
//!
//! Every handler answers through `AppState::reply`, which counts the response, so a request is
//! counted once whatever its outcome; extractors that can reject (body, query) are taken as
//! `Result`s for that reason, since a rejection inside axum would skip the count.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Counters, DemoConfig, MAX_BODY_BYTES, MAX_FIELD_CHARS, Route};

/// A stored user.
#[derive(Debug, Clone, Serialize)]
pub(super) struct User {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) email: String,
}

/// The simulated database, its cache and the login sessions, each bounded.
#[derive(Debug, Default)]
pub(super) struct Store {
    // Ordered by id, so a list reads only the first `limit` users however many exist.
    pub(super) users: BTreeMap<u64, User>,
    pub(super) next_id: u64,
    pub(super) cache: HashMap<u64, (Instant, User)>,
    /// Session token → email, from `POST /login`.
    pub(super) sessions: HashMap<String, String>,
    /// Session tokens, oldest first, so the oldest can be ended when there are too many.
    session_order: VecDeque<String>,
    pub(super) next_session: u64,
}

impl Store {
    /// The store at start: users 1..=`seed_users` (the newest `max_users` of them).
    pub(super) fn seeded(config: &DemoConfig) -> Self {
        let mut store = Store {
            next_id: config.seed_users + 1,
            ..Store::default()
        };
        for id in 1..=config.seed_users {
            store.insert_user(seed_user(id), config.max_users);
        }
        store
    }

    /// Stores a user; beyond `cap` users, drops the oldest (smallest ids), so that a load
    /// test creating users cannot grow the service without limit.
    pub(super) fn insert_user(&mut self, user: User, cap: usize) {
        self.users.insert(user.id, user);
        while self.users.len() > cap.max(1) {
            if let Some((id, _)) = self.users.pop_first() {
                self.cache.remove(&id);
            }
        }
    }

    /// Starts a session; beyond `cap` sessions, ends the oldest.
    pub(super) fn insert_session(&mut self, token: String, email: String, cap: usize) {
        self.sessions.insert(token.clone(), email);
        self.session_order.push_back(token);
        while self.session_order.len() > cap.max(1) {
            if let Some(old) = self.session_order.pop_front() {
                self.sessions.remove(&old);
            }
        }
    }
}

/// What every handler shares.
pub(super) struct AppState {
    pub(super) config: DemoConfig,
    pub(super) counters: Arc<Counters>,
    pub(super) store: Mutex<Store>,
    pub(super) started: Instant,
}

impl AppState {
    /// The store; a handler that panicked holding it left it consistent, so poison is ignored.
    pub(super) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the response on `route`; every handler answers through this.
    pub(super) fn reply(
        &self,
        route: Route,
        status: StatusCode,
        body: impl IntoResponse,
    ) -> Response {
        self.counters.count(route, status.as_u16());
        (status, body).into_response()
    }

    /// The counted 400 of a query string that does not parse.
    pub(super) fn bad_query(&self, route: Route, rejection: &QueryRejection) -> Response {
        self.reply(route, StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

/// A `{"detail": ...}` error body, FastAPI's shape.
pub(super) fn detail_json(detail: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "detail": detail }))
}

/// A JSON body of type `T`, or why it is refused: 413 beyond `MAX_BODY_BYTES` (400 for a body
/// that could not be read), 422 for anything but `T`'s JSON.
pub(super) fn json_body<T: DeserializeOwned>(
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
pub(super) fn fits(fields: &[&str]) -> bool {
    fields.iter().all(|f| f.chars().count() <= MAX_FIELD_CHARS)
}

/// The state as handlers extract it.
pub(super) type Shared = State<Arc<AppState>>;

fn seed_user(id: u64) -> User {
    User {
        id,
        name: format!("user{id}"),
        email: format!("user{id}@example.com"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_sessions_beyond_the_cap_drop_the_oldest() {
        let config = DemoConfig {
            seed_users: 5,
            max_users: 3,
            ..DemoConfig::default()
        };
        let mut store = Store::seeded(&config);
        assert_eq!(store.users.keys().copied().collect::<Vec<_>>(), [3, 4, 5]);
        store.insert_user(seed_user(6), 3);
        assert_eq!(store.users.keys().copied().collect::<Vec<_>>(), [4, 5, 6]);
        for n in 0..5 {
            store.insert_session(format!("t{n}"), format!("u{n}"), 2);
        }
        assert_eq!(store.sessions.len(), 2);
        assert!(store.sessions.contains_key("t3") && store.sessions.contains_key("t4"));
    }
}
