//! The `gtform` binary: everything lives in the library; see `gtform::cli`.

/// mimalloc rather than the system allocator: a plan reads pages of jobs from up to 128
/// requests at once, and glibc's allocator spent a sixth of that phase's CPU consolidating and
/// unlinking chunks freed across threads (see BENCHMARKS.md, "Plan reads").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gtform::cli::main()
}
