//! `print!`, `println!`, `eprint!` and `eprintln!` for the whole library, replacing the standard ones
//! (declared first in `lib.rs`, so they shadow the prelude's in every module).
//!
//! The standard macros panic when the stream is closed (`geepipe validate p.yaml 2>&1 | head -c 10`), and
//! the panic report itself then fails and aborts the process. These write what they can and drop the
//! rest: a closed terminal or pipe never changes what a command does or its exit code.

use std::io::Write;

/// Writes to stderr, ignoring a closed stream.
pub fn err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Writes to stdout, ignoring a closed stream.
pub fn out(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

macro_rules! eprint {
    ($($arg:tt)*) => { $crate::stdio::err(format_args!($($arg)*)) };
}

macro_rules! eprintln {
    () => { $crate::stdio::err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdio::err(format_args!("{}\n", format_args!($($arg)*))) };
}

macro_rules! print {
    ($($arg:tt)*) => { $crate::stdio::out(format_args!($($arg)*)) };
}

macro_rules! println {
    () => { $crate::stdio::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdio::out(format_args!("{}\n", format_args!($($arg)*))) };
}
