//! The single integration-test binary: one module per area.

mod apply;
mod cli;
mod client;
mod emulator;
mod examples;
mod ops;
mod plan;
mod properties;
mod results;
mod s3;
mod schema;
mod status;
mod support;
mod validate;
