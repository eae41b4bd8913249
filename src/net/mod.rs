//! The one network layer every Google call goes through: the Earth Engine client ([`crate::ee`]) and the
//! downloads of exported files ([`crate::results`]) alike.
//!
//! - [`auth`]: where bearer tokens come from ([`Auth`]: Google's provider chain, a static emulator token,
//!   none), per service scope.
//! - [`secret`]: tokens held so they never print ([`Secret`]), and [`redact`] for token-shaped text in
//!   anything a server or a library says.
//! - [`classify`](mod@classify): ONE function deciding what every failure means (retry, split, give up,
//!   already there), for requests and for failed tasks.
//! - [`retry`]: ONE retry policy (exponential backoff with full jitter, honouring `Retry-After`).
//! - [`http`]: building the HTTP client, and reading a response or a transport error into a [`Problem`].

pub mod auth;
pub mod classify;
pub mod http;
pub mod retry;
pub mod secret;

pub use auth::{Auth, AuthError, GoogleTokens, TokenFuture, TokenSource};
pub use classify::{classify, rpc_to_http, Class, Problem, Scope, TransportKind};
pub use http::{install_crypto, Timeouts};
pub use retry::RetryPolicy;
pub use secret::{redact, redact_url, Secret};
