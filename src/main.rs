//! The `gtform` binary: everything lives in the library; see `gtform::cli`.

fn main() -> std::process::ExitCode {
    gtform::cli::main()
}
