//! Scenarios made from what a service already publishes (`stampede init`): its OpenAPI
//! document (`openapi`), or a browser's recording of a session with it (`har`). A converter returns the scenario file's text, the same YAML a
//! person would write (`yaml`); the command checks it loads before writing it.
//!
//! Depends on nothing in the crate: reading the input (a file, or a URL fetched by the
//! engine's `fetch`) and validating the output are the command layer's (`run`).

pub mod har;
pub mod openapi;
pub mod yaml;
