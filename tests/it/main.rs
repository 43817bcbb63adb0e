//! The single integration-test binary: one module per area.

mod apply;
mod cli;
mod client;
mod emulator;
mod examples;
mod hostile;
mod plan;
mod properties;
mod schema;
mod support;
mod validate;
