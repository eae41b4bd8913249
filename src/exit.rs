//! Exit codes, one per outcome a Makefile or a script needs to tell apart (documented in README.md).

/// Everything asked for succeeded (or the input is valid).
pub const OK: i32 = 0;
/// The run finished but some chunks failed; the rest of the results are kept.
pub const SOME_FAILED: i32 = 1;
/// Invalid input: the pipeline or a site file has errors. Nothing was sent.
pub const INVALID_INPUT: i32 = 2;
/// Interrupted (Ctrl-C) or `--timeout` reached; submitted tasks keep running, rerun to resume.
pub const INTERRUPTED: i32 = 3;
/// The environment stopped us: no credentials, Earth Engine or storage unreachable or refusing,
/// the journal locked by another run or made by a different pipeline.
pub const ENVIRONMENT: i32 = 4;
/// A bug in geepipe (an internal error). Please report it.
pub const INTERNAL: i32 = 70;
