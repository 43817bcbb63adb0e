//! The single integration-test binary: one module per area.

mod apply;
mod cli;
mod client;
mod diagnostic_order;
mod emulator;
mod exactly_once;
mod examples;
mod kills;
mod ops;
mod paging;
mod plan;
mod properties;
mod redaction;
mod s3;
mod schema;
mod support;
mod validate;
