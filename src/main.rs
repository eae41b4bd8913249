//! The `geepipe` binary: parse arguments, run the library's command, exit with its code.

use clap::Parser;

/// Planning and merging allocate many small JSON nodes; mimalloc makes that markedly cheaper than glibc's
/// allocator (see scripts/bench-plan.sh).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A panic is a bug: say so and exit with the internal-error code, never a half-finished output.
    // The hook writes without panicking itself: a closed stderr must not turn a report into an abort.
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write;
        let _ =
            writeln!(std::io::stderr(), "error: internal error in geepipe (this is a bug, please report it): {info}");
    }));
    let cli = geepipe::cli::Cli::parse();
    let code = std::panic::catch_unwind(|| geepipe::cli::main(cli)).unwrap_or(geepipe::exit::INTERNAL);
    std::process::exit(code);
}
