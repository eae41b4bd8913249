//! Shared test support: a small builder that runs the `geepipe` binary in a temporary folder and
//! checks its exit code and output, with expected text inline in the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `geepipe` with files written into a fresh temporary directory.
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    pub fn new() -> Test {
        Test { dir: tempfile::tempdir().expect("temp dir"), args: Vec::new(), env: Vec::new(), stdin: None }
    }

    /// The temporary working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating folders) relative to the working directory.
    pub fn file(self, name: &str, contents: &str) -> Test {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&p, contents).expect("write file");
        self
    }

    /// Copies a file from the repository into the working directory.
    pub fn copy(self, from_repo: &str, to: &str) -> Test {
        let src = repo_root().join(from_repo);
        let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        self.file(to, &text)
    }

    pub fn arg(mut self, a: impl Into<String>) -> Test {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, a: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Replaces the arguments: the next run is another command in the same folder and environment.
    pub fn then<I, S>(mut self, a: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = a.into_iter().map(Into::into).collect();
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Test {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// No way to find credentials: an empty `home` (no gcloud or Earth Engine files), no `gcloud` on the
    /// PATH and a metadata server that refuses connections.
    pub fn without_credentials(self, home: &Path) -> Test {
        self.env("HOME", home.to_str().unwrap())
            .env("CLOUDSDK_CONFIG", home.join("gcloud").to_str().unwrap())
            .env("PATH", "/nonexistent")
            .env("GCE_METADATA_HOST", "127.0.0.1:9")
            .env("GCE_METADATA_IP", "127.0.0.1:9")
    }

    pub fn stdin(mut self, s: &str) -> Test {
        self.stdin = Some(s.to_string());
        self
    }

    /// Runs the binary and returns its output, keeping the temporary directory alive in `self`.
    pub fn output(&self) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_geepipe"));
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env("COLUMNS", "100");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = if let Some(input) = &self.stdin {
            use std::io::Write;
            use std::process::Stdio;
            let mut child =
                cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
            child.wait_with_output().expect("wait")
        } else {
            cmd.output().expect("run geepipe")
        };
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir: self.dir.path().to_path_buf(),
        }
    }

    /// Runs and asserts the exit code, stdout and stderr exactly (after trimming trailing spaces per line).
    pub fn expect(self, code: i32, stdout: &str, stderr: &str) -> Test {
        let out = self.output();
        let (got_out, got_err) = (normalize(&out.stdout), normalize(&out.stderr));
        let (want_out, want_err) = (normalize(stdout), normalize(stderr));
        if out.code != code || got_out != want_out || got_err != want_err {
            panic!(
                "geepipe {:?}\n--- exit: want {code}, got {}\n--- stdout (got):\n{}\n--- stdout (want):\n{}\n--- stderr (got):\n{}\n--- stderr (want):\n{}",
                self.args, out.code, got_out, want_out, got_err, want_err
            );
        }
        self
    }

    /// Runs and asserts only the exit code; returns the output for further checks.
    pub fn code(&self, code: i32) -> Output {
        let out = self.output();
        assert_eq!(out.code, code, "geepipe {:?}\nstdout:\n{}\nstderr:\n{}", self.args, out.stdout, out.stderr);
        out
    }
}

/// Trims trailing white space on every line and leading/trailing blank lines; drops a common indent
/// so expected text can be written indented inside a test.
pub fn normalize(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    let start = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let end = lines.iter().rposition(|l| !l.is_empty()).map(|i| i + 1).unwrap_or(start);
    let body = &lines[start..end];
    let indent = body.iter().filter(|l| !l.is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    body.iter().map(|l| if l.len() >= indent { &l[indent..] } else { l.trim_start() }).collect::<Vec<_>>().join("\n")
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared reference folder: `shared/reference` in the nearest ancestor of the repository that has one
/// (`../shared/reference` beside the integration checkout, `../../shared/reference` beside a worktree).
pub fn reference_dir() -> PathBuf {
    let root = repo_root();
    let found = root.ancestors().skip(1).map(|a| a.join("shared/reference")).find(|p| p.is_dir());
    found.unwrap_or_else(|| panic!("the Earth Engine reference folder is missing above {}", root.display()))
}

/// Makes sure the Python test tools are installed (runs `scripts/test-deps.sh` once) and returns the
/// path of the virtual environment's `bin` folder.
pub fn test_venv() -> PathBuf {
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let root = repo_root();
    let status = Command::new("bash").arg(root.join("scripts/test-deps.sh")).status().expect("run test-deps.sh");
    assert!(status.success(), "scripts/test-deps.sh failed");
    root.join(".venv-test/bin")
}

/// The official client's expression as it would be with `geodesic=False` passed to every polygon
/// constructor (`ee.Geometry.Polygon(coords, None, False, None, True)`), which geepipe always sends: each
/// `GeometryConstructors.Polygon`/`MultiPolygon` call gains `geodesic: false`, arguments kept sorted by
/// name as the client encodes them.
pub fn with_straight_edges(v: &mut serde_json::Value) {
    use serde_json::{json, Map, Value};
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(call)) = m.get_mut("functionInvocationValue") {
                let name = call.get("functionName").and_then(Value::as_str).unwrap_or_default().to_string();
                if name == "GeometryConstructors.Polygon" || name == "GeometryConstructors.MultiPolygon" {
                    if let Some(Value::Object(args)) = call.get_mut("arguments") {
                        args.insert("geodesic".into(), json!({"constantValue": false}));
                        let mut sorted: Vec<(String, Value)> = std::mem::take(args).into_iter().collect();
                        sorted.sort_by(|a, b| a.0.cmp(&b.0));
                        *args = sorted.into_iter().collect::<Map<String, Value>>();
                    }
                }
            }
            m.values_mut().for_each(with_straight_edges);
        }
        Value::Array(a) => a.iter_mut().for_each(with_straight_edges),
        _ => {}
    }
}

/// An Earth Engine expression as a plain tree: references inlined, constants as plain JSON, calls as
/// `{"fn": name, "args": {…}}`, function definitions as `{"function": names, "body": …}`.
pub fn resolve(expr: &serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let values = expr["values"].as_object().unwrap();
    fn node(v: &Value, values: &Map<String, Value>) -> Value {
        let (k, x) = v.as_object().unwrap().iter().next().unwrap();
        match k.as_str() {
            "constantValue" => x.clone(),
            "valueReference" => node(&values[x.as_str().unwrap()], values),
            "arrayValue" => Value::Array(x["values"].as_array().unwrap().iter().map(|i| node(i, values)).collect()),
            "dictionaryValue" => Value::Object(
                x["values"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), node(v, values))).collect(),
            ),
            "functionInvocationValue" => json!({"fn": x["functionName"],
                "args": Value::Object(x["arguments"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), node(v, values))).collect())}),
            "functionDefinitionValue" => {
                json!({"function": x["argumentNames"], "body": node(&values[x["body"].as_str().unwrap()], values)})
            }
            "argumentReference" => json!({"arg": x}),
            other => panic!("unexpected node {other}"),
        }
    }
    node(&values[expr["result"].as_str().unwrap()], values)
}
