//! The connection every Earth Engine command sets up (`run`, `probe`, `status`, `wait`, `cancel`): the
//! options it reads ([`ExecArgs`]), the async runtime, and the Earth Engine client (project, base URL,
//! credentials, retry and timeout settings).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::ee::{self, Auth, Client, ClientConfig};
use crate::error::{self, Error};
use crate::pipeline::Pipeline;

/// Longest interval or timeout accepted, in seconds (a week).
const MAX_SECONDS: f64 = 7.0 * 86400.0;

/// Parses a number of seconds for a poll interval or timeout: finite, more than 0, at most a week.
/// (A Duration cannot hold infinity or NaN; `inf` used to panic.)
fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > MAX_SECONDS {
        return Err(format!("`{s}` is out of range: give a number of seconds above 0 and at most {MAX_SECONDS}"));
    }
    Ok(v)
}

/// Options shared by `run`, `status`, `wait` and `cancel`.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Journal file (default: `<journal folder>/<pipeline name>.sqlite`).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Earth Engine base URL, for an emulator (then GEEPIPE_EE_TOKEN is the token, if any).
    #[arg(long, env = "GEEPIPE_EE_URL", value_name = "URL")]
    pub ee_url: Option<String>,
    /// Base URL for interactive requests (default: `--ee-url` when set, else the high-volume endpoint).
    #[arg(long, env = "GEEPIPE_EE_HIGHVOLUME_URL", value_name = "URL")]
    pub ee_highvolume_url: Option<String>,
    /// Append every executor event as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Shortest poll interval in seconds.
    #[arg(long, env = "GEEPIPE_POLL_MIN", default_value = "5", value_parser = seconds, hide = true)]
    pub poll_min: f64,
    /// Longest poll interval in seconds.
    #[arg(long, env = "GEEPIPE_POLL_MAX", default_value = "60", value_parser = seconds, hide = true)]
    pub poll_max: f64,
    /// First retry backoff in milliseconds (doubling, full jitter).
    #[arg(long, env = "GEEPIPE_RETRY_BASE_MS", default_value = "500", hide = true)]
    pub retry_base_ms: u64,
    /// HTTP request timeout in seconds.
    #[arg(long, env = "GEEPIPE_HTTP_TIMEOUT", default_value = "60", value_parser = seconds, hide = true)]
    pub http_timeout: f64,
    /// Seconds to wait for one interactive request before splitting its chunk (Earth Engine stops interactive
    /// computations after 5 minutes).
    #[arg(long, env = "GEEPIPE_COMPUTE_TIMEOUT", default_value = "330", value_parser = seconds, hide = true)]
    pub compute_timeout: f64,
}

/// The async runtime of a command (two worker threads).
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the async runtime: {e}"))
}

/// Builds the Earth Engine client for export tasks (and the probe): emulator URL (+ optional static token)
/// or Google credentials.
pub(super) async fn client(p: &Pipeline, a: &ExecArgs) -> error::Result<Client> {
    endpoint_client(p, a, Endpoint::Batch, &mut None).await
}

/// Which Earth Engine endpoint a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// Export tasks and operations.
    Batch,
    /// `table:computeFeatures`.
    HighVolume,
}

/// Builds an Earth Engine client for `endpoint`: an emulator URL (+ optional static token) or the real service
/// with Google credentials. `auth` caches the credentials between the two endpoints.
pub(super) async fn endpoint_client(
    p: &Pipeline,
    a: &ExecArgs,
    endpoint: Endpoint,
    auth: &mut Option<Auth>,
) -> error::Result<Client> {
    let Some(project) = p.project.clone() else {
        return Err(Error::Environment(
            "no Earth Engine Cloud project: set `project:` in the pipeline, pass --project, or set \
             GOOGLE_CLOUD_PROJECT"
                .into(),
        ));
    };
    let given = |u: &Option<String>| u.clone().filter(|u| !u.trim().is_empty());
    let (emulated, flag) = match endpoint {
        Endpoint::Batch => (given(&a.ee_url), "--ee-url / GEEPIPE_EE_URL"),
        Endpoint::HighVolume => match given(&a.ee_highvolume_url) {
            Some(u) => (Some(u), "--ee-highvolume-url / GEEPIPE_EE_HIGHVOLUME_URL"),
            None => (given(&a.ee_url), "--ee-url / GEEPIPE_EE_URL"),
        },
    };
    let (base, auth) = match emulated {
        Some(u) => (u, Auth::emulator(std::env::var("GEEPIPE_EE_TOKEN").ok())),
        None => {
            let google = match auth {
                Some(g) => g.clone(),
                None => {
                    let g = Auth::google().await.map_err(|e| Error::Environment(e.to_string()))?;
                    *auth = Some(g.clone());
                    g
                }
            };
            let base = match endpoint {
                Endpoint::Batch => ee::DEFAULT_BASE_URL,
                Endpoint::HighVolume => ee::DEFAULT_HIGHVOLUME_URL,
            };
            (base.to_string(), google)
        }
    };
    let Ok(url) = url::Url::parse(&base) else {
        return Err(Error::Input(format!("{flag} is not a URL: {base}")));
    };
    let mut cfg = ClientConfig::new(url, project, auth);
    cfg.retry.base = Duration::from_millis(a.retry_base_ms.max(1));
    cfg.timeout = Duration::from_secs_f64(a.http_timeout.max(0.1));
    if endpoint == Endpoint::HighVolume {
        cfg.timeout = Duration::from_secs_f64(a.compute_timeout.max(0.1));
        cfg.requests_per_second = Some(p.interactive.requests_per_second.max(1));
    }
    Client::new(cfg).map_err(|e| Error::Environment(e.to_string()))
}
