//! The `geepipe` binary: parse arguments, run the library's command, exit with its code.

use clap::Parser;

/// Planning and merging allocate many small JSON nodes; mimalloc makes that markedly cheaper than glibc's
/// allocator (see scripts/bench-plan.sh).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Has mimalloc give freed memory back to the system at once, for the commands that last as long as their
/// tasks (`run`, `wait`). By default it keeps freed pages for a second before returning them, and over a long
/// run they pile up in its per-thread pages: `run` of a million sites held 70 MiB resident for 24 MB of live
/// heap, and 47 MiB with this (100,000 sites: 47 and 41; `scripts/bench-scale.sh`). It costs about a tenth
/// more CPU, so the short commands (`plan` above all) keep the default.
fn return_freed_memory_at_once() {
    /// `mi_option_purge_delay`, in milliseconds (`mimalloc.h`: the same number in mimalloc 2 and 3).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one integer option of the allocator, which reads it whenever it purges; no memory is
    // touched.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

fn main() {
    // A panic is a bug: say so and exit with the internal-error code, never a half-finished output.
    // The hook writes without panicking itself: a closed stderr must not turn a report into an abort.
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write;
        let _ =
            writeln!(std::io::stderr(), "error: internal error in geepipe (this is a bug, please report it): {info}");
    }));
    let cli = geepipe::cli::Cli::parse();
    if cli.watches_tasks() {
        return_freed_memory_at_once();
    }
    let code = std::panic::catch_unwind(|| geepipe::cli::main(cli)).unwrap_or(geepipe::exit::INTERNAL);
    std::process::exit(code);
}
