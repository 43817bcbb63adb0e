//! The single integration-test binary: one module per area.
mod apply;
mod client;
mod emulator;
mod plan;
mod support;
