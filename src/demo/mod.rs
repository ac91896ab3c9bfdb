//! The embedded demo service: a small async user service with a simulated database and a
//! TTL cache, plus routes whose behaviour tests and demos control (fixed delay, failure
//! percentage, periodic stall, a minimal fast route).
//!
//! `target: demo` starts it in-process on an ephemeral loopback port; `stampede demo` serves it
//! alone. It counts the requests it serves per route so tests can compare against what the
//! load generator reports, rejected ones included. Its memory is bounded whatever clients send
//! (users and sessions kept, list size, body size), and a stop ends within a deadline however
//! slow its clients are. Depends on nothing else in the crate.

mod routes;
mod serve;
mod state;
mod users;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use routes::router;

/// Most users `GET /users?limit=N` returns, whatever `N` asks.
pub const MAX_LIST_LIMIT: usize = 100;
/// Largest request body accepted (64 KiB); a larger one gets 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest `name` or `email` accepted, in characters; a longer one gets 422.
pub const MAX_FIELD_CHARS: usize = 256;

/// The routes the demo counts, one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// `GET /` and `GET /fast`.
    Fast,
    /// `GET /users/{id}`.
    UserGet,
    /// `GET /users`.
    UserList,
    /// `POST /users`.
    UserCreate,
    /// `DELETE /users/{id}`.
    UserDelete,
    /// `GET /delay/{ms}`.
    Delay,
    /// `GET /flaky`.
    Flaky,
    /// `GET /stall`.
    Stall,
    /// `POST /login`.
    Login,
    /// `GET /me`.
    Me,
    /// `GET /redirect/{n}`.
    Redirect,
    /// Anything else (404, or 405 for a known path with another method).
    Unknown,
}

impl Route {
    const ALL: [Route; 12] = [
        Route::Fast,
        Route::UserGet,
        Route::UserList,
        Route::UserCreate,
        Route::UserDelete,
        Route::Delay,
        Route::Flaky,
        Route::Stall,
        Route::Login,
        Route::Me,
        Route::Redirect,
        Route::Unknown,
    ];

    /// The name used in `/_demo/stats`.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Fast => "fast",
            Route::UserGet => "user_get",
            Route::UserList => "user_list",
            Route::UserCreate => "user_create",
            Route::UserDelete => "user_delete",
            Route::Delay => "delay",
            Route::Flaky => "flaky",
            Route::Stall => "stall",
            Route::Login => "login",
            Route::Me => "me",
            Route::Redirect => "redirect",
            Route::Unknown => "unknown",
        }
    }
}

/// Requests served, per route and per status class (1xx..5xx).
#[derive(Debug, Default)]
pub struct Counters {
    cells: [[AtomicU64; 5]; Route::ALL.len()],
}

impl Counters {
    fn count(&self, route: Route, status: u16) {
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        self.cells[route as usize][class].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests served on `route`, any status.
    pub fn served(&self, route: Route) -> u64 {
        self.cells[route as usize]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Requests served on every route.
    pub fn total(&self) -> u64 {
        Route::ALL.iter().map(|&r| self.served(r)).sum()
    }

    /// Requests served on `route` with a status in class `class` (e.g. 4 for 4xx).
    pub fn served_with(&self, route: Route, class: u16) -> u64 {
        let i = usize::from(class.clamp(1, 5) - 1);
        self.cells[route as usize][i].load(Ordering::Relaxed)
    }

    /// Every route's counts by status class, e.g. `{"user_get": {"2xx": 10, "4xx": 1}}`.
    pub fn to_map(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        Route::ALL
            .iter()
            .map(|&r| {
                let by_class = (1..=5u16)
                    .map(|c| (format!("{c}xx"), self.served_with(r, c)))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                (r.as_str(), by_class)
            })
            .collect()
    }
}

/// Behaviour settings of the demo service.
#[derive(Debug, Clone, Copy)]
pub struct DemoConfig {
    /// Simulated database time of a read that misses the cache (writes take twice as long).
    pub db_delay: Duration,
    /// How long a read user stays in the cache.
    pub cache_ttl: Duration,
    /// Users that exist at start (ids 1..=n).
    pub seed_users: u64,
    /// Most users stored: creating one more drops the oldest (smallest id).
    pub max_users: usize,
    /// Most login sessions kept: a new login beyond it ends the oldest session.
    pub max_sessions: usize,
    /// A request's headers must arrive within this, or the connection is closed; it also
    /// closes keep-alive connections idle this long.
    pub header_read_timeout: Duration,
    /// How long a stop waits for requests in flight before closing their connections.
    pub shutdown_grace: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            db_delay: Duration::from_millis(5),
            cache_ttl: Duration::from_secs(2),
            seed_users: 100,
            max_users: 10_000,
            max_sessions: 10_000,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A running demo service.
#[derive(Debug)]
pub struct DemoServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it has served.
    pub counters: Arc<Counters>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl DemoServer {
    /// Starts serving on `listener` in the current tokio runtime.
    pub fn start(listener: TcpListener, config: DemoConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (app, counters) = router(config);
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let deadlines = serve::Deadlines {
            header_read: config.header_read_timeout,
            shutdown_grace: config.shutdown_grace,
        };
        let task = tokio::spawn(serve::serve(listener, app, deadlines, signal));
        Ok(Self {
            addr,
            counters,
            shutdown,
            task,
        })
    }

    /// Binds `addr` (use port 0 for an ephemeral port) and starts serving.
    pub async fn bind(addr: SocketAddr, config: DemoConfig) -> std::io::Result<Self> {
        Self::start(TcpListener::bind(addr).await?, config)
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for requests in flight, at most
    /// `shutdown_grace`; connections still open then are closed.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// Serves until the token is cancelled (used by `stampede demo`).
    pub async fn serve_until(self, stop: CancellationToken) {
        stop.cancelled().await;
        self.stop().await;
    }
}
