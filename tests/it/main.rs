//! The single integration-test binary: one module per area.

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]

mod apply;
mod ci_kit;
mod cli;
mod client;
mod contracts;
mod diagnostic_formats;
mod emulator;
mod escaping;
mod examples;
mod hostile;
mod ops;
mod plan;
mod properties;
mod s3;
mod schema;
mod since;
mod support;
mod terminal;
mod tidy;
mod validate;
