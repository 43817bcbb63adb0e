//! The single integration-test binary: one module per area.

mod cli;
mod examples;
mod properties;
mod schema;
mod support;
mod validate;
