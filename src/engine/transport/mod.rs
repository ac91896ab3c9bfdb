//! The transports: how one request is sent and its whole response read, over the wire.
//!
//! The engine drives load (users, pacer, control) and sees only `Transport`; everything
//! below it lives here:
//!
//! - `contract`: the `Transport` trait, what it is given (`Prepared`, `Wire`, `Keep`) and
//!   what it gives back (`Reply`);
//! - `failure`: `Failure`, the response's `Progress` when it failed, the one timeout
//!   message, and `Signs`, the one order in which evidence makes an error class;
//! - one transport each: `http1` (the default, connection-level HTTP/1.1), `http2` (hyper's
//!   HTTP/2 over shared connections), `reqwest` (reqwest's pooled client);
//! - what they share: `dial` (TCP, proxy tunnels, TLS; counts connections), `tls` (the
//!   rustls configuration, with `x509`), `credentials` (Basic authorization for URLs and
//!   proxies), and `preflight` (one connection before the load, no request).
//!
//! Where the next things go: a new transport is a file here implementing
//! `contract::Transport` and reading its library's errors into `failure::Signs`, and
//! marking what it sees of its phases (`contract::Marks`: a new connection's `dial::Dialed`
//! timings, the write's end, the first byte) where the work happens, for the executor to
//! time against the request's own send and end (a failure carries its connection in
//! `Failure::connection`); a response header such as the server's time is read with the head
//! (`http1::codec`, and the header maps of `http2` and `reqwest`); a failed response's
//! body is kept by `http1::body::Sink`; retries are a policy above the transports, read
//! from `Failure::class`, since a transport never retries.
//!
//! The room sits inside `engine` rather than beside it: the engine is its only user (the
//! composition root builds a transport through `engine`'s re-exports), and it depends on
//! what `engine` may (the plan's `scenario` settings, `metrics` for error classes and
//! `Connections`), never on the engine's load side (workers, pacer, control, workload).
//! Invariants: every attempt is one recorded request (the one exception, an HTTP/2
//! request the server never processed, is in `http2`); a transport is shared settings and
//! each user's `Session` its own state, so the hot path takes no shared lock; failures are
//! values with a class, never panics or propagated errors.

mod contract;
mod credentials;
mod dial;
mod failure;
mod fetch;
mod http1;
mod http2;
mod preflight;
mod reqwest;
mod stamp;
pub mod tls;
mod x509;

pub use crate::metrics::Connections;
pub use contract::{Accepted, Keep, Prepared, Reply, Transport, Wire};
pub use failure::Failure;
pub use fetch::fetch;
pub use http1::FastTransport;
pub use http2::H2Transport;
pub use preflight::preflight;
pub use reqwest::{ClientOptions, ReqwestTransport};
