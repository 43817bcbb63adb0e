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
mod diagnostic_order;
mod emulator;
mod escaping;
mod exactly_once;
mod examples;
mod export;
mod export_labels;
mod export_sizes;
mod export_tools;
mod hostile;
mod kills;
mod markdown;
mod numbers;
mod ops;
mod paging;
mod plan;
mod plan_comment;
mod plan_files;
mod policy_code;
mod properties;
mod redaction;
mod redaction_urls;
mod request_loop;
mod results;
mod results_hostile;
mod runner_commands;
mod s3;
mod schema;
mod server_counts;
mod since;
mod since_fields;
mod since_hostile;
mod stale_plan;
mod status;
mod support;
mod terminal;
mod tidy;
mod untrusted_endpoint;
mod validate;
mod workflow_lint;
