//! The transports: how one request is sent and its response read.

mod contract;
mod credentials;
mod dial;
mod failure;
mod http1;
mod http2;
mod preflight;
mod reqwest;
pub mod tls;
mod x509;

pub use crate::metrics::Connections;
pub use contract::{Keep, Prepared, Reply, Transport, Wire};
pub use failure::Failure;
pub use http1::FastTransport;
pub use http2::H2Transport;
pub use preflight::preflight;
pub use reqwest::{ClientOptions, ReqwestTransport};
