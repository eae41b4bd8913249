//! Where the bearer token comes from.
//!
//! Against Google: gcp_auth's provider chain (a service-account key in `GOOGLE_APPLICATION_CREDENTIALS`,
//! `gcloud auth application-default login`, the metadata server, `gcloud auth print-access-token`) with the
//! Earth Engine scope. Against an emulator (`--ee-url` / `GEEPIPE_EE_URL`): the static token in
//! `GEEPIPE_EE_TOKEN`, or none.
//!
//! A token is only ever held in a [`Secret`], whose `Debug`/`Display` print `***`: it cannot end up in a log
//! line, an error message or the journal by accident.

use std::fmt;
use std::sync::Arc;

use super::EE_SCOPE;

/// A token that refuses to be printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The raw value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How requests are authorised.
#[derive(Clone)]
pub enum Auth {
    /// No `Authorization` header (an emulator that needs none).
    None,
    /// A fixed token (emulators, tests).
    Static(Secret),
    /// Google's provider chain; tokens are cached and refreshed by gcp_auth.
    Provider(Arc<dyn gcp_auth::TokenProvider>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Static(_) => f.write_str("Auth::Static(***)"),
            Auth::Provider(_) => f.write_str("Auth::Provider"),
        }
    }
}

/// No usable credentials (exit code 4).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no Google credentials found for Earth Engine.\n\
         Provide one of:\n  \
         - a service-account key file: export GOOGLE_APPLICATION_CREDENTIALS=/path/to/key.json\n  \
         - your user account: gcloud auth application-default login --scopes=https://www.googleapis.com/auth/earthengine,https://www.googleapis.com/auth/cloud-platform\n  \
         - the metadata server, when running on Google Cloud (Compute Engine, Cloud Run, GKE)\n\
         (for an emulator, set --ee-url or GEEPIPE_EE_URL, and GEEPIPE_EE_TOKEN if it needs a token)"
    )]
    NoCredentials,
    #[error("could not get an access token for Earth Engine: {0}")]
    Token(String),
}

impl Auth {
    /// The provider chain of gcp_auth (takes ~2 s to give up when nothing is configured).
    pub async fn google() -> Result<Auth, AuthError> {
        match gcp_auth::provider().await {
            Ok(p) => Ok(Auth::Provider(p)),
            Err(_) => Err(AuthError::NoCredentials),
        }
    }

    /// Emulator: a static token, or none when `token` is empty.
    pub fn emulator(token: Option<String>) -> Auth {
        match token.filter(|t| !t.is_empty()) {
            Some(t) => Auth::Static(Secret::new(t)),
            None => Auth::None,
        }
    }

    /// The current token (refreshed by the provider when needed), or `None` when no header is sent.
    pub async fn token(&self) -> Result<Option<Secret>, AuthError> {
        match self {
            Auth::None => Ok(None),
            Auth::Static(s) => Ok(Some(s.clone())),
            Auth::Provider(p) => match p.token(&[EE_SCOPE]).await {
                Ok(t) => Ok(Some(Secret::new(t.as_str()))),
                // gcp_auth's errors describe files and endpoints, never the token; keep only the kind.
                Err(e) => Err(AuthError::Token(scrub(&e.to_string()))),
            },
        }
    }
}

/// Cuts a message at anything looking like a bearer token (defence in depth for third-party errors).
fn scrub(s: &str) -> String {
    s.split_whitespace()
        .map(|w| if w.len() > 40 && w.starts_with("ya29.") { "***" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("ya29.super-secret");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        let a = Auth::emulator(Some("tok-123".into()));
        assert!(!format!("{a:?}").contains("tok-123"));
        assert!(matches!(Auth::emulator(Some(String::new())), Auth::None));
        assert_eq!(scrub(&format!("bad ya29.{}", "x".repeat(50))), "bad ***");
    }

    #[test]
    fn no_credentials_message_names_every_way() {
        let m = AuthError::NoCredentials.to_string();
        for w in ["GOOGLE_APPLICATION_CREDENTIALS", "gcloud auth application-default login", "metadata server"] {
            assert!(m.contains(w), "{m}");
        }
    }
}
