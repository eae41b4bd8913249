//! Two `geepipe fetch` processes of the same pipeline (issue 12, "Secrets and files"): the second waits for
//! the first, saying so, and sends nothing meanwhile; then it finds every file already downloaded. They used
//! to run side by side, writing the same partial files, table and manifest at once.
//!
//! The first fetch is held in the middle of its download by a proxy in front of the real fake-gcs-server,
//! so the overlap is certain, not a race.

mod common;
mod support_gcs;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::Test;
use fake_ee::{Clock, Config, Durations, FakeEe};
use support_gcs::FakeGcs;

const TOKEN: &str = "lock-test-token-5b1e";

const PIPELINE: &str = "\
name: locked
project: demo-project
mode: batch
sites:
  file: sites.geojson
  id: site_id
years: 2020
layers:
  - catalog: mapbiomas_lulc
export:
  to: gcs
  bucket: lock-bucket
  prefix: runs/locked/
chunks:
  sites_per_task: 2
output:
  path: out/locked.csv
";

fn geepipe(dir: &Path, ee: &FakeEe, storage: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_geepipe"));
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("GEEPIPE_EE_URL", ee.base_url())
        .env("GEEPIPE_EE_TOKEN", TOKEN)
        .env("STORAGE_EMULATOR_HOST", storage)
        .env("GEEPIPE_POLL_MIN", "0.05")
        .env("GEEPIPE_POLL_MAX", "0.2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> (i32, String) {
    let o = child.wait_with_output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_fetch_of_the_same_pipeline_waits_for_the_first() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("lock-bucket").await;
    let ee = FakeEe::start(Config {
        token: Some(TOKEN.into()),
        clock: Clock::Scaled(1000.0),
        durations: Durations::Fixed(Duration::from_secs(30)),
        max_running: 4,
        storage_base_url: Some(gcs.url()),
        ..Config::default()
    })
    .await
    .expect("fake Earth Engine starts");
    let t = Test::new().file("p.yaml", PIPELINE).copy("examples/sites/restoration.geojson", "sites.geojson");
    let dir = t.path().to_path_buf();

    // The exports, without fetching them.
    let (code, err) = finish(geepipe(&dir, &ee, &gcs.url(), &["run", "p.yaml", "--no-fetch"]).spawn().unwrap());
    assert_eq!(code, 0, "{err}");
    let files = ee.operations().len();
    assert!(files >= 1, "{files} exports");

    // The first fetch is stopped at its first download.
    let proxy = support_gcs::start_proxy(&gcs.url()).await;
    proxy.state.hold.store(true, Ordering::SeqCst);
    let first = geepipe(&dir, &ee, &proxy.url, &["fetch", "p.yaml"]).spawn().unwrap();
    wait_until("the first fetch downloads", || proxy.state.held.load(Ordering::SeqCst) >= 1);
    let seen_by_first = proxy.state.seen.lock().unwrap().len();

    // The second one says it waits, and sends nothing while it does.
    let mut second = geepipe(&dir, &ee, &proxy.url, &["fetch", "p.yaml"]).spawn().unwrap();
    let stderr = second.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let waiting = rx.recv_timeout(Duration::from_secs(120)).expect("the second fetch says it waits");
    assert!(waiting.starts_with("waiting: another fetch of `locked` (pid "), "{waiting}");
    assert!(waiting.contains(&format!("(pid {})", first.id())), "{waiting}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(proxy.state.seen.lock().unwrap().len(), seen_by_first, "the second fetch sent requests while waiting");
    assert!(second.try_wait().unwrap().is_none(), "the second fetch did not wait");

    // Released: the first one finishes, then the second, which downloads nothing again.
    proxy.state.hold.store(false, Ordering::SeqCst);
    let (code, err) = finish(first);
    assert_eq!(code, 0, "{err}");
    let table = std::fs::read(dir.join("out/locked.csv")).unwrap();
    let o = second.wait_with_output().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(o.status.code(), Some(0), "{}", rest.join("\n"));
    assert_eq!(proxy.state.media_seen().len(), files, "files downloaded twice: {:?}", proxy.state.media_seen());
    assert_eq!(std::fs::read(dir.join("out/locked.csv")).unwrap(), table);
    let mut names: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".geepipe", "locked.csv", "locked.manifest.json"], "a temporary file is left");
}
