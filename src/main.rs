//! Binary entry point: parse, run, map the outcome to an exit code.
use std::process::ExitCode;

fn main() -> ExitCode {
    skyecr_bootstrap::main_entry()
}
