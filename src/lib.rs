//! gtform: a Terraform-style declarative reconciler for the GT Studio annotation API.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//!
//! * `ci`: the commit and CI run a plan comment names, validated from the CI's variables.
//! * `cli`: argument parsing, the only module that prints or reads the environment.
//! * `diagnostic`: located problems (`file:line:col`) and their rendering.
//! * `escape`: control and invisible characters escaped in everything printed.
//! * `format_version`: `FormatVersion`, the one version type of every JSON document.
//! * `config`: loading and validating a workspace (YAML, manifests, templates) into a `Workspace`.
//! * `schema`: the JSON Schema of the configuration, generated from the config types.
//! * `attachments`: the `s3://` / `gs://` objects a workspace's jobs use, located.
//! * `policy`: S3 bucket and KMS policies (and ACLs) that let GT Studio read them; policy checks.
//! * `storage`: listing and HEAD of cloud objects (the only module that knows object_store).
//! * `preflight`: can every attachment of the jobs a plan creates be read (`plan --check-attachments`).
//! * `git`: a revision's files, read with the real `git` (for `plan --since`).
//! * `hex`: lower-case hexadecimal text of digests.
//! * `api`: wire types shared by the client and the emulator, and nothing else.
//! * `client`: the HTTP client of the GT Studio API (auth, retries, typed errors).
//! * `limiter`: adaptive concurrency and request rate, shared by apply's creates and the reads.
//! * `paging`: the rules that end every chain of pages (API job pages, S3 listings).
//! * `state`: reading the remote state of the projects a workspace names.
//! * `plan`: the pure planner (`Workspace` + `RemoteState` → `Plan`), its renderers and saved plans.
//! * `apply`: executing a plan: concurrent, adaptive, exactly-once creates.
//! * `ops`: the pipeline every command and test uses: load, connect, read, plan, apply.
//! * `text`: counts, plurals and thousands separators in messages.
//! * `emulator`: a faithful local GT Studio server (axum + SQLite) with fault injection.

pub mod api;
pub mod apply;
pub mod attachments;
pub mod ci;
pub mod cli;
pub mod client;
pub mod config;
pub mod diagnostic;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod escape;
pub mod format_version;
pub mod git;
pub mod hex;
pub mod limiter;
pub mod object_url;
pub mod ops;
pub mod paging;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod schema;
pub mod state;
pub mod storage;
pub mod text;
