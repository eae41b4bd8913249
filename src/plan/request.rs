//! What every export request has in common, whatever the pipeline kind: the deterministic request id,
//! the task description (and a task made of them), the file prefix of a chunk, the REST name of a file format, and the fields every
//! export body carries (`expression`, `description`, `requestId`, `workloadTag`, `priority`).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Endpoint, Target, Task};
use crate::pipeline::{FileFormatName, Pipeline};

/// The task description of a chunk: the pipeline's description prefix and the chunk id.
pub fn description(p: &Pipeline, chunk_id: &str) -> String {
    format!("{}_{chunk_id}", p.export.description_prefix)
}

/// The fields every export body starts with.
pub fn base_body(p: &Pipeline, expression: Value, description: &str, request_id: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("expression".into(), expression);
    body.insert("description".into(), Value::String(description.to_string()));
    body.insert("requestId".into(), Value::String(request_id.to_string()));
    if let Some(t) = &p.export.workload_tag {
        body.insert("workloadTag".into(), Value::String(t.clone()));
    }
    if let Some(pr) = p.export.priority {
        body.insert("priority".into(), Value::from(pr));
    }
    body
}

/// The task of a chunk of `site_ids` with its deterministic description and request id ([`request_id`]
/// from the pipeline's content hash); `body` makes the request body, its target and its endpoint from the
/// description and the request id.
pub fn task(
    p: &Pipeline,
    chunk_id: &str,
    site_ids: Vec<String>,
    body: impl FnOnce(&str, &str) -> (Value, Target, Endpoint),
) -> Task {
    let description = description(p, chunk_id);
    let request_id = request_id(&p.content_hash, chunk_id, &site_ids);
    let (body, target, endpoint) = body(&description, &request_id);
    let body_bytes = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(0);
    Task { chunk_id: chunk_id.to_string(), request_id, endpoint, description, site_ids, body, body_bytes, target }
}

/// `prefix` + chunk id, with `_` between them unless the prefix already ends in `/`, `_` or `-`.
pub fn join_prefix(prefix: &str, chunk_id: &str) -> String {
    if prefix.is_empty() || prefix.ends_with(['/', '_', '-']) {
        format!("{prefix}{chunk_id}")
    } else {
        format!("{prefix}_{chunk_id}")
    }
}

/// The deterministic request id of a chunk: `gp-` + 16 hex of the pipeline hash + `-` + chunk id + `-` +
/// 16 hex of SHA-256(pipeline hash, chunk id, site ids); at most 60 characters of `[a-zA-Z0-9-]`.
pub fn request_id(content_hash: &str, chunk_id: &str, site_ids: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(content_hash.as_bytes());
    h.update(b"\0");
    h.update(chunk_id.as_bytes());
    for id in site_ids {
        h.update(b"\0");
        h.update(id.as_bytes());
    }
    let digest = hex::encode(h.finalize());
    let pipeline: String = content_hash.chars().filter(|c| c.is_ascii_alphanumeric()).take(16).collect();
    let chunk: String = chunk_id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let full = format!("gp-{pipeline}-{chunk}-{}", &digest[..16]);
    if full.len() <= 60 {
        full
    } else {
        format!("gp-{pipeline}-{}", &digest[..40])
    }
}

/// The REST enum of a table file format.
pub fn file_format(f: FileFormatName) -> &'static str {
    match f {
        FileFormatName::Csv => "CSV",
        FileFormatName::Geojson => "GEO_JSON",
        FileFormatName::Shp => "SHP",
        FileFormatName::Kml => "KML",
        FileFormatName::Kmz => "KMZ",
        FileFormatName::Tfrecord => "TF_RECORD_TABLE",
        FileFormatName::Geotiff => "TABLE_FILE_FORMAT_UNSPECIFIED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_and_plain() {
        let h = "ab".repeat(32);
        let id = request_id(&h, "c00012", &["a".into(), "b".into()]);
        assert!(id.len() <= 60 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{id}");
        assert!(id.contains("c00012"));
        assert_ne!(id, request_id(&h, "c00012", &["a".into()]));
        let long = request_id(&h, &format!("c00012{}", "ab".repeat(20)), &[]);
        assert!(long.len() <= 60, "{long}");
    }

    #[test]
    fn prefixes_join_with_a_separator() {
        assert_eq!(join_prefix("geepipe/x/", "c00001"), "geepipe/x/c00001");
        assert_eq!(join_prefix("run", "c00001"), "run_c00001");
    }
}
