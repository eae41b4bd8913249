//! The Earth Engine REST client: exports, operations get/list/cancel, synchronous computations
//! (`table:computeFeatures`, `value:compute`), authentication, retries, request rate.
//!
//! - [`client`]: the calls (export, operations get/list/cancel), through [`crate::net`]: the one network
//!   layer with authentication, failure classification and retries, shared with the downloads.
//! - this module: the wire types (`Operation`, `OperationMetadata`, `State`).

pub mod client;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::net::{classify, Auth, AuthError, Class, Problem, RetryPolicy, Scope, TransportKind};
pub use client::{CallCounts, Client, ClientConfig, ComputeRequest, ComputedFeatures, EeError, Listing, Paged};

/// The scope geepipe asks tokens for.
pub const EE_SCOPE: &str = "https://www.googleapis.com/auth/earthengine";
/// The real service.
pub const DEFAULT_BASE_URL: &str = "https://earthengine.googleapis.com";
/// The high-volume endpoint: same API, more requests in parallel, for many small programmatic requests
/// (developers.google.com/earth-engine/cloud/highvolume). Interactive mode sends `table:computeFeatures` here.
pub const DEFAULT_HIGHVOLUME_URL: &str = "https://earthengine-highvolume.googleapis.com";

/// A long-running operation (an export task), as returned by exports, `operations.get` and `operations.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `projects/<p>/operations/<ID>`.
    pub name: String,
    #[serde(default)]
    pub metadata: Option<OperationMetadata>,
    /// Absent (false) while the operation runs.
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub error: Option<RpcStatus>,
    #[serde(default)]
    pub response: Option<Value>,
}

/// `google.rpc.Status` of a failed operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RpcStatus {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

/// `google.earthengine.v1.OperationMetadata` (the fields geepipe uses).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperationMetadata {
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub progress: Option<f64>,
    #[serde(default)]
    pub attempt: Option<i32>,
    #[serde(default)]
    pub batch_eecu_usage_seconds: Option<f64>,
}

/// Operation state (`OperationMetadata.state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Pending,
    Running,
    Cancelling,
    Succeeded,
    Cancelled,
    Failed,
    /// `STATE_UNSPECIFIED` or a state this version does not know.
    #[default]
    #[serde(other)]
    StateUnspecified,
}

impl State {
    /// SUCCEEDED, FAILED or CANCELLED.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Succeeded | State::Failed | State::Cancelled)
    }

    /// Counts against the project's queue (PENDING, RUNNING, CANCELLING or unknown-but-not-done).
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

impl Operation {
    /// The state, taking `done`/`error` into account when metadata is missing.
    pub fn state(&self) -> State {
        let s = self.metadata.as_ref().map(|m| m.state).unwrap_or_default();
        if s == State::StateUnspecified && self.done {
            if self.error.is_some() {
                State::Failed
            } else {
                State::Succeeded
            }
        } else if s == State::StateUnspecified {
            State::Pending
        } else {
            s
        }
    }

    pub fn description(&self) -> Option<&str> {
        self.metadata.as_ref().and_then(|m| m.description.as_deref())
    }

    pub fn eecu_seconds(&self) -> Option<f64> {
        self.metadata.as_ref().and_then(|m| m.batch_eecu_usage_seconds)
    }

    /// The failure of a FAILED operation as a [`Problem`] for [`classify`].
    pub fn problem(&self) -> Option<Problem> {
        self.error.as_ref().map(|e| Problem::task(e.code, &e.message))
    }
}

/// Parses an RFC 3339 timestamp into seconds since the epoch.
pub fn parse_time(s: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_parses_running_and_failed_forms() {
        let running: Operation = serde_json::from_value(serde_json::json!({
            "name": "projects/p/operations/ABC",
            "metadata": {"@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
                "state": "RUNNING", "description": "t", "type": "EXPORT_FEATURES",
                "createTime": "2026-01-01T00:00:00Z", "startTime": "2026-01-01T00:00:05.5Z",
                "batchEecuUsageSeconds": 1.5}
        }))
        .unwrap();
        assert_eq!(running.state(), State::Running);
        assert!(!running.done);
        assert_eq!(running.eecu_seconds(), Some(1.5));
        let start = parse_time(running.metadata.as_ref().unwrap().start_time.as_deref().unwrap()).unwrap();
        assert_eq!(start, 1767225605.5);
        let failed: Operation = serde_json::from_value(serde_json::json!({
            "name": "projects/p/operations/ABC", "done": true,
            "metadata": {"state": "FAILED"},
            "error": {"code": 3, "message": "User memory limit exceeded."}
        }))
        .unwrap();
        assert_eq!(failed.state(), State::Failed);
        assert_eq!(classify(&failed.problem().unwrap()), Class::TooBig);
        let odd: Operation =
            serde_json::from_value(serde_json::json!({"name": "x", "metadata": {"state": "SOMETHING_NEW"}})).unwrap();
        assert_eq!(odd.state(), State::Pending);
    }
}
