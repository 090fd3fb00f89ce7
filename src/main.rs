//! Binary entry point: parse, run, map the outcome to an exit code.
use std::process::ExitCode;

/// The run's futures nest deeply (many repositories, each a command of concurrent reads), and
/// a debug build's poll frames are large: the run gets a stack of its own, with room.
const STACK: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    match std::thread::Builder::new()
        .name("skyecr-bootstrap".into())
        .stack_size(STACK)
        .spawn(skyecr_bootstrap::main_entry)
    {
        Ok(run) => run.join().unwrap_or(ExitCode::FAILURE),
        // No thread to be had: run on this one.
        Err(_) => skyecr_bootstrap::main_entry(),
    }
}
