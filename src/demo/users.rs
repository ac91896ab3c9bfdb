//! The users and login routes: CRUD over the simulated database with its TTL cache, and
//! sessions by cookie or bearer token.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::state::{Shared, User, detail_json, fits, json_body};
use super::{MAX_FIELD_CHARS, MAX_LIST_LIMIT, Route};

pub(super) async fn get_user(State(s): Shared, Path(id): Path<String>) -> Response {
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

/// `GET /users` query: `limit` (10 by default, at most 100) and `after` (an id).
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    limit: Option<usize>,
    /// Only users with a larger id: the next page starts after the last id of this one.
    after: Option<u64>,
}

pub(super) async fn list_users(
    State(s): Shared,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
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

/// `POST /users` body.
#[derive(Debug, Deserialize)]
pub(super) struct NewUser {
    name: String,
    email: String,
}

pub(super) async fn create_user(State(s): Shared, body: Result<Bytes, BytesRejection>) -> Response {
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

/// `POST /login` body.
#[derive(Deserialize)]
pub(super) struct Login {
    email: String,
}

/// Logs a user in: the token comes back in the body and as a `session` cookie, so a client
/// may use either (`Authorization: Bearer TOKEN`, or the cookie).
pub(super) async fn login(State(s): Shared, body: Result<Bytes, BytesRejection>) -> Response {
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

/// OAuth2's password flow, as FastAPI's `OAuth2PasswordRequestForm` takes it: `username`
/// and `password` urlencoded; the answer's `access_token` is a bearer token for `/me`.
/// Counted as a login. Any password is taken (the demo has no accounts).
pub(super) async fn token(State(s): Shared, body: Result<Bytes, BytesRejection>) -> Response {
    let fields: Vec<(String, String)> = match &body {
        Ok(bytes) => form_urlencoded::parse(bytes).into_owned().collect(),
        Err(_) => Vec::new(),
    };
    let username = fields
        .iter()
        .find(|(k, _)| k == "username")
        .map(|(_, v)| v.clone());
    let Some(username) = username.filter(|u| !u.is_empty() && fits(&[u])) else {
        let detail = "send username and password, urlencoded (OAuth2's password flow)";
        return s.reply(
            Route::Login,
            StatusCode::UNPROCESSABLE_ENTITY,
            detail_json(detail),
        );
    };
    tokio::time::sleep(s.config.db_delay).await;
    let token = {
        let mut store = s.store();
        store.next_session += 1;
        let token = format!("t{:x}{:04x}", store.next_session, fastrand::u16(..));
        store.insert_session(token.clone(), username, s.config.max_sessions);
        token
    };
    let answer = serde_json::json!({ "access_token": token, "token_type": "bearer" });
    s.reply(Route::Login, StatusCode::OK, Json(answer))
}

/// Who is logged in: needs the session cookie or a bearer token from `POST /login`.
pub(super) async fn me(State(s): Shared, headers: axum::http::HeaderMap) -> Response {
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

pub(super) async fn delete_user(State(s): Shared, Path(id): Path<String>) -> Response {
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
