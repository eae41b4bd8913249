//! Secrets never printed: [`Secret`] holds a token whose `Debug`/`Display` print `***`, and [`redact`]
//! takes anything token-shaped out of text geepipe did not write (server error bodies, third-party error
//! messages) before it can reach a log line, an error message or the journal.
//!
//! Besides shapes, [`redact`] takes out the exact value of every token this process has held in a
//! [`Secret`] (a static emulator token or a proxy's opaque token has no recognisable shape, and a server
//! may echo it bare, without `Bearer`).
//!
//! Written by hand: the shapes are few and fixed (Google OAuth access and refresh tokens, JWTs, OAuth
//! client secrets, `Bearer …` and `access_token=…`), and a scan over the text needs no regex engine.

use std::fmt;
use std::sync::Mutex;

/// The values of the tokens held in this process (the newest last), for [`redact`].
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Tokens remembered at most (access tokens are refreshed hourly: a long run holds a few dozen).
const HELD_MAX: usize = 64;

/// Shorter values are not looked for verbatim (they would match ordinary words); no real token is that short.
const HELD_MIN_LEN: usize = 8;

fn remember(token: &str) {
    if token.len() < HELD_MIN_LEN {
        return;
    }
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if held.iter().any(|t| t == token) {
        return;
    }
    if held.len() == HELD_MAX {
        held.remove(0);
    }
    held.push(token.to_string());
}

/// A token that refuses to be printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Holds `s`; from now on [`redact`] also takes its exact value out of any text.
    pub fn new(s: impl Into<String>) -> Secret {
        let s = s.into();
        remember(&s);
        Secret(s)
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

/// What replaces a token in redacted text.
pub const REDACTED: &str = "***";

/// Characters a token is made of (base64, base64url, JWT dots, Google's `1//` refresh tokens).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~' | '+' | '/' | '=')
}

/// Whether a run of token characters is a token by its shape alone.
fn token_shaped(w: &str) -> bool {
    let jwt = w.starts_with("eyJ") && w.split('.').filter(|p| p.len() >= 4).count() >= 3;
    (w.starts_with("ya29.") && w.len() > 12)
        || (w.starts_with("1//") && w.len() > 20)
        || w.starts_with("GOCSPX-")
        || (jwt && w.len() > 30)
}

/// A URL without its query string or credentials (user and password), for messages and manifests.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => url.split('?').next().unwrap_or(url).to_string(),
    }
}

/// Words after which the next run of token characters is a credential, whatever its shape.
const KEYS: &[&str] = &["bearer", "access_token", "refresh_token", "id_token", "client_secret", "token"];

/// `text` with every token this process holds and every token-shaped run replaced by `***`: Google access
/// (`ya29.…`) and refresh (`1//…`) tokens, JWTs, OAuth client secrets, and whatever follows `Bearer`,
/// `access_token=`, `"refresh_token": "` and the like.
pub fn redact(text: &str) -> String {
    let held = HELD.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut text = std::borrow::Cow::Borrowed(text);
    for t in held.iter().rev() {
        if text.contains(t.as_str()) {
            text = std::borrow::Cow::Owned(text.replace(t.as_str(), REDACTED));
        }
    }
    redact_shapes(&text)
}

fn redact_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // The key just seen (`bearer`, `access_token`, …): the next value is a credential when only spaces
    // follow `Bearer`, or a `:` (with spaces and quotes) follows the other keys.
    let mut key: Option<String> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(token_char).unwrap_or(rest.len());
        let (between, tail) = rest.split_at(start);
        let keyed = match key.take() {
            Some(k) if k == "bearer" => !between.is_empty() && between.chars().all(|c| c == ' '),
            Some(_) => between.contains(':') && between.chars().all(|c| matches!(c, ' ' | ':' | '"' | '\'' | '\t')),
            None => false,
        };
        out.push_str(between);
        let end = tail.find(|c: char| !token_char(c)).unwrap_or(tail.len());
        let (word, next) = tail.split_at(end);
        match word.split_once('=') {
            Some((k, v)) if KEYS.contains(&k.to_ascii_lowercase().as_str()) && !v.is_empty() => {
                out.push_str(k);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ if (keyed && word.len() >= 8) || token_shaped(word) => out.push_str(REDACTED),
            _ => {
                out.push_str(word);
                let lower = word.to_ascii_lowercase();
                key = KEYS.contains(&lower.as_str()).then_some(lower);
            }
        }
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("ya29.super-secret");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
    }

    #[test]
    fn token_shaped_text_is_redacted() {
        let access = format!("ya29.{}", "a0AfB_byC-x".repeat(8));
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        let cases = [
            (
                format!("Request had invalid authentication credentials: {access}"),
                "Request had invalid authentication credentials: ***".to_string(),
            ),
            (format!("Authorization: Bearer {access}"), "Authorization: Bearer ***".into()),
            ("Authorization: Bearer abcdefgh12345678".into(), "Authorization: Bearer ***".into()),
            (format!("token {jwt} expired"), "token *** expired".into()),
            (format!("id {jwt}"), "id ***".into()),
            ("refresh 1//0gLx2b3c4d5e6f7g8h9i0jKLMNOP".into(), "refresh ***".into()),
            ("secret GOCSPX-abc".into(), "secret ***".into()),
            ("https://x/?access_token=abc123def456&alt=media".into(), "https://x/?access_token=***&alt=media".into()),
            (
                r#"{"refresh_token": "opaque-value-1234", "scope": "x"}"#.into(),
                r#"{"refresh_token": "***", "scope": "x"}"#.into(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(&text), want, "{text}");
        }
        // Ordinary server text is left alone, also long ids and paths.
        for plain in [
            "Image.load: Image asset 'projects/x/assets/missing' not found.",
            "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'",
            "requestId 5f2c9a1b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b",
            "The token is not valid.",
            "The token credential expired: sign in again",
            "bearer tokens expire after an hour",
            "projects/earthengine-legacy/operations/ABCDEFGHIJKLMNOPQRSTUVWX",
        ] {
            assert_eq!(redact(plain), plain);
        }
    }

    #[test]
    fn a_held_token_is_taken_out_whatever_its_shape() {
        let opaque = "opaque-7Qx2-held-by-secret";
        let text = format!("proxy said: credential {opaque} refused ({opaque})");
        assert_eq!(redact(&text), text, "not token-shaped, not held yet");
        let _s = Secret::new(opaque);
        assert_eq!(redact(&text), "proxy said: credential *** refused (***)");
        // Too short to look for verbatim: ordinary words stay.
        let _short = Secret::new("the");
        assert_eq!(redact("the end"), "the end");
    }
}
