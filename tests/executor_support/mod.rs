//! Support for the executor tests: a small [`ChunkPlanner`] building valid `table:export` bodies (the shape
//! of the official client's `Export.table.toCloudStorage`, one Feature per site with `metadata {site_id}`),
//! a client and settings tuned for the fake Earth Engine's accelerated clock.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use geepipe::ee::{Auth, Client, ClientConfig, RetryPolicy};
use geepipe::executor::Settings;
use geepipe::plan::{ChunkPlanner, Endpoint, PlanError, Target, Task};
use serde_json::{json, Value};

pub const PROJECT: &str = "demo-project";

/// Plans chunks of sites `s0000`, `s0001`, … into table exports to `gs://test-bucket/zonal/<chunk>`.
pub struct TestPlanner {
    /// Prefix of request ids (different per test so one fake can serve several runs).
    pub prefix: String,
}

impl TestPlanner {
    pub fn new(prefix: &str) -> Arc<TestPlanner> {
        Arc::new(TestPlanner { prefix: prefix.to_string() })
    }

    /// `chunks` chunks of `sites_per_chunk` sites each (`c00000`, `c00001`, …).
    pub fn plan(&self, chunks: usize, sites_per_chunk: usize) -> Vec<Task> {
        (0..chunks)
            .map(|c| {
                let sites: Vec<String> =
                    (0..sites_per_chunk).map(|k| format!("s{:05}", c * sites_per_chunk + k)).collect();
                self.task(&format!("c{c:05}"), &sites, None).expect("plan")
            })
            .collect()
    }
}

fn feature(i: usize, id: &str) -> Value {
    let x = -48.0 + (i % 100) as f64 * 0.01;
    let y = -15.0 - (i / 100) as f64 * 0.01;
    let ring = json!([[x, y], [x + 0.005, y], [x + 0.005, y + 0.005], [x, y + 0.005], [x, y]]);
    json!({"functionInvocationValue": {"functionName": "Feature", "arguments": {
        "geometry": {"functionInvocationValue": {"functionName": "GeometryConstructors.Polygon", "arguments": {
            "coordinates": {"constantValue": [ring]}, "evenOdd": {"constantValue": true}}}},
        "metadata": {"constantValue": {"site_id": id}}}}})
}

impl ChunkPlanner for TestPlanner {
    fn task(
        &self,
        chunk_id: &str,
        site_ids: &[String],
        _cells: Option<&geepipe::plan::zonal::ChunkCells>,
    ) -> Result<Task, PlanError> {
        let features: Vec<Value> = site_ids.iter().enumerate().map(|(i, s)| feature(i, s)).collect();
        let request_id = format!("{}-{chunk_id}", self.prefix);
        let description = format!("{}_{chunk_id}", self.prefix.replace('-', "_"));
        let body = json!({
            "expression": {"result": "0", "values": {"0": {"functionInvocationValue": {
                "functionName": "Image.reduceRegions", "arguments": {
                    "collection": {"functionInvocationValue": {"functionName": "Collection", "arguments": {
                        "features": {"arrayValue": {"values": features}}}}},
                    "image": {"functionInvocationValue": {"functionName": "Image.select", "arguments": {
                        "bandSelectors": {"constantValue": ["classification_2020"]},
                        "input": {"functionInvocationValue": {"functionName": "Image.load", "arguments": {
                            "id": {"constantValue": "projects/mapbiomas-public/assets/brazil/lulc/collection9/mapbiomas_collection90_integration_v1"}}}}}}},
                    "reducer": {"functionInvocationValue": {"functionName": "Reducer.frequencyHistogram", "arguments": {}}},
                    "scale": {"constantValue": 30}}}}}},
            "description": description,
            "fileExportOptions": {"fileFormat": "CSV", "cloudStorageDestination": {
                "bucket": "test-bucket", "filenamePrefix": format!("zonal/{chunk_id}")}},
            "requestId": request_id,
        });
        let body_bytes = body.to_string().len();
        Ok(Task {
            chunk_id: chunk_id.to_string(),
            request_id,
            endpoint: Endpoint::TableExport,
            description,
            site_ids: site_ids.to_vec(),
            body,
            body_bytes,
            target: Target::Gcs { bucket: "test-bucket".into(), prefix: format!("zonal/{chunk_id}") },
        })
    }
}

/// A client for the fake at `base` with fast retries and a short timeout.
pub fn client(base: &str, token: Option<&str>) -> Client {
    let mut cfg = ClientConfig::new(url::Url::parse(base).unwrap(), PROJECT, Auth::emulator(token.map(String::from)));
    cfg.retry = RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(100),
        max_retry_after: Duration::from_millis(300),
    };
    cfg.timeout = Duration::from_millis(1500);
    Client::new(cfg).unwrap()
}

/// Fast polling for an accelerated clock.
pub fn settings(max_concurrent: usize) -> Settings {
    Settings {
        max_concurrent,
        poll_min: Duration::from_millis(10),
        poll_max: Duration::from_millis(200),
        ..Settings::default()
    }
}
