//! The transports: how one request is sent and its response read.

mod contract;
mod dial;
mod http1;
mod http2;
mod preflight;
pub mod tls;
mod x509;

pub use contract::{
    ClientOptions, Connections, Failure, Keep, Prepared, Reply, ReqwestTransport, Transport, Wire,
};
pub use http1::FastTransport;
pub use http2::H2Transport;
pub use preflight::preflight;
