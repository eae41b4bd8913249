//! Where bearer tokens come from, for every Google service geepipe calls (Earth Engine, Cloud Storage,
//! Drive): one [`Auth`] asked for a token with the service's OAuth scopes.
//!
//! Against Google: gcp_auth's provider chain (a service-account key in `GOOGLE_APPLICATION_CREDENTIALS`,
//! `gcloud auth application-default login`, the metadata server, `gcloud auth print-access-token`), wrapped
//! as a [`TokenSource`]. Against an emulator (`--ee-url` / `GEEPIPE_EE_URL`): the static token in
//! `GEEPIPE_EE_TOKEN`, or none. Tests may bring their own [`TokenSource`].
//!
//! A token is only ever held in a [`Secret`]: it cannot end up in a log line, an error message or the
//! journal by accident, and token errors pass through [`redact`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::secret::{redact, Secret};

/// Future returned by [`TokenSource::token`].
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret, AuthError>> + Send + 'a>>;

/// Gives bearer tokens for OAuth scopes.
pub trait TokenSource: Send + Sync {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a>;
}

/// Tokens from Application Default Credentials (gcp_auth caches and refreshes them).
pub struct GoogleTokens(pub Arc<dyn gcp_auth::TokenProvider>);

impl TokenSource for GoogleTokens {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(async move {
            match self.0.token(scopes).await {
                Ok(t) => Ok(Secret::new(t.as_str())),
                // gcp_auth's errors describe files and endpoints, never the token; redacted all the same.
                Err(e) => Err(AuthError::Token { service: service(scopes), detail: redact(&e.to_string()) }),
            }
        })
    }
}

/// How requests are authorised.
#[derive(Clone)]
pub enum Auth {
    /// No `Authorization` header (an emulator that needs none).
    None,
    /// A fixed token (emulators, tests).
    Static(Secret),
    /// Tokens asked for per call (Google's provider chain, or a test's source).
    Source(Arc<dyn TokenSource>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Static(_) => f.write_str("Auth::Static(***)"),
            Auth::Source(_) => f.write_str("Auth::Source"),
        }
    }
}

/// No usable credentials (exit code 4).
#[derive(Debug, Clone, thiserror::Error)]
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
    #[error("could not get an access token for {service}: {detail}")]
    Token { service: &'static str, detail: String },
}

/// The service a set of scopes is for, for messages.
fn service(scopes: &[&str]) -> &'static str {
    let has = |s: &str| scopes.iter().any(|x| x.contains(s));
    if has("earthengine") {
        "Earth Engine"
    } else if has("devstorage") {
        "Cloud Storage"
    } else if has("drive") {
        "Google Drive"
    } else {
        "Google"
    }
}

impl Auth {
    /// The provider chain of gcp_auth (takes ~2 s to give up when nothing is configured).
    pub async fn google() -> Result<Auth, AuthError> {
        match gcp_auth::provider().await {
            Ok(p) => Ok(Auth::Source(Arc::new(GoogleTokens(p)))),
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

    /// The current token for `scopes` (refreshed by the provider when needed), or `None` when no header
    /// is sent.
    pub async fn token(&self, scopes: &[&str]) -> Result<Option<Secret>, AuthError> {
        match self {
            Auth::None => Ok(None),
            Auth::Static(s) => Ok(Some(s.clone())),
            Auth::Source(src) => src.token(scopes).await.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_never_prints_its_token() {
        let a = Auth::emulator(Some("tok-123".into()));
        assert!(!format!("{a:?}").contains("tok-123"));
        assert!(matches!(Auth::emulator(Some(String::new())), Auth::None));
    }

    #[test]
    fn token_errors_name_the_service() {
        let e = AuthError::Token {
            service: service(&["https://www.googleapis.com/auth/devstorage.read_only"]),
            detail: "x".into(),
        };
        assert_eq!(e.to_string(), "could not get an access token for Cloud Storage: x");
        assert_eq!(service(&["https://www.googleapis.com/auth/earthengine"]), "Earth Engine");
    }

    #[test]
    fn no_credentials_message_names_every_way() {
        let m = AuthError::NoCredentials.to_string();
        for w in ["GOOGLE_APPLICATION_CREDENTIALS", "gcloud auth application-default login", "metadata server"] {
            assert!(m.contains(w), "{m}");
        }
    }
}
