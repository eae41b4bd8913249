//! The files geepipe writes (issue 12, "Secrets and files"): tables, manifests, reports and plan files
//! follow the user's umask; a table and its manifest always belong together, even when the disk fills up
//! between them.
//!
//! The real binary runs the offline demo (local engine) in a child process whose umask, and whose largest
//! file size (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so a write past it fails with `EFBIG` as on a full
//! disk), are set before it starts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo_root, Test};
use sha2::{Digest, Sha256};

/// The shipped demo pipeline reading the repository's demo rasters, writing into `out/`, years as given.
fn demo(years: &str, report: bool) -> String {
    let text = std::fs::read_to_string(repo_root().join("pipelines/demo-local.yaml")).unwrap();
    let demo = repo_root().join("demo");
    let mut p = text
        .replace("../demo/", &format!("{}/", demo.display()))
        .replace("../results/", "out/")
        .replace("years: 2020..2022", &format!("years: {years}"));
    assert!(p.contains(&format!("years: {years}")));
    if report {
        p.push_str("  report: true\n");
    }
    p
}

/// Limits for the child process.
#[derive(Clone, Copy, Default)]
struct Limits {
    umask: Option<u32>,
    /// Largest file the process may write, in bytes.
    file_size: Option<u64>,
}

fn geepipe(dir: &Path, args: &[&str], limits: Limits) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_geepipe"));
    c.args(args).current_dir(dir).env("NO_COLOR", "1");
    // SAFETY: only async-signal-safe calls (umask, setrlimit, signal) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if let Some(m) = limits.umask {
                libc::umask(m as libc::mode_t);
            }
            if let Some(n) = limits.file_size {
                let lim = libc::rlimit { rlim_cur: n as libc::rlim_t, rlim_max: n as libc::rlim_t };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    let o = c.output().expect("run geepipe");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

const EE_PIPELINE: &str = "\
name: modes
project: demo-project
sites:
  file: sites.geojson
  id: site_id
years: 2010..2012
layers:
  - catalog: mapbiomas_lulc
export:
  to: drive
  folder: geepipe
";

/// Tables, manifests, reports and plan files are created 0666 less the umask (they used to be 0600
/// whatever the umask).
#[test]
fn written_files_follow_the_umask() {
    for (umask, want) in [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)] {
        let t = Test::new()
            .file("demo-local.yaml", &demo("2020..2021", true))
            .file("p.yaml", EE_PIPELINE)
            .copy("examples/sites/restoration.geojson", "sites.geojson");
        let dir = t.path();
        let (code, err) = geepipe(dir, &["run", "demo-local.yaml"], Limits { umask: Some(umask), ..Limits::default() });
        assert_eq!(code, 0, "{err}");
        let (code, err) =
            geepipe(dir, &["plan", "p.yaml", "--out", "plans"], Limits { umask: Some(umask), ..Limits::default() });
        assert_eq!(code, 0, "{err}");
        let mut written: Vec<PathBuf> = ["demo-local.csv", "demo-local.manifest.json", "demo-local.report.html"]
            .iter()
            .map(|n| dir.join("out").join(n))
            .collect();
        let plans: Vec<PathBuf> = std::fs::read_dir(dir.join("plans")).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(plans.iter().any(|p| p.ends_with("plan.json")), "{plans:?}");
        assert!(plans.len() >= 2, "{plans:?}");
        written.extend(plans);
        for p in written {
            assert_eq!(mode(&p), want, "umask {umask:03o}: {} is {:03o}", p.display(), mode(&p));
        }
    }
}

fn sha256(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

/// The manifest's `table.sha256` is the table's hash.
fn paired(dir: &Path) -> Result<(String, String), String> {
    let table = dir.join("out/demo-local.csv");
    let manifest = dir.join("out/demo-local.manifest.json");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let want = m["table"]["sha256"].as_str().unwrap_or_default().to_string();
    let got = sha256(&table);
    if got == want {
        Ok((std::fs::read_to_string(&table).unwrap(), std::fs::read_to_string(&manifest).unwrap()))
    } else {
        Err(format!("the manifest names table {want}, the table is {got}"))
    }
}

/// The demo on its first two sites (a small table, a manifest larger than it), for `years`.
fn two_sites(t: Test, years: &str) -> Test {
    let mut sites: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("demo/sites.geojson")).unwrap()).unwrap();
    sites["features"].as_array_mut().unwrap().truncate(2);
    let p =
        demo(years, false).replace(&format!("{}/sites.geojson", repo_root().join("demo").display()), "sites.geojson");
    assert!(p.contains("file: sites.geojson"), "{p}");
    t.file("sites.geojson", &sites.to_string()).file("demo-local.yaml", &p)
}

/// The files in `out/`, but for the `.geepipe` folder of the results store.
fn out_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .filter(|n| n != ".geepipe")
        .collect();
    v.sort();
    v
}

/// The disk fills up while the new table or its manifest is written (`EFBIG` past a file-size limit placed
/// between the new table's size and the new manifest's): the old table and manifest stay, still a pair; with
/// room, the new pair replaces them together. It used to leave the new table beside the old manifest.
#[test]
fn a_full_disk_never_leaves_a_table_beside_another_tables_manifest() {
    let run = |dir: &Path, file_size: Option<u64>| {
        geepipe(dir, &["run", "demo-local.yaml"], Limits { file_size, ..Limits::default() })
    };
    // The sizes of the new pair, measured in a scratch folder.
    let scratch = two_sites(Test::new(), "2020..2022");
    let (code, err) = run(scratch.path(), None);
    assert_eq!(code, 0, "{err}");
    let (new_table, _) = paired(scratch.path()).unwrap();
    let size = |n: &str| std::fs::metadata(scratch.path().join("out").join(n)).unwrap().len();
    let (tb, mb) = (size("demo-local.csv"), size("demo-local.manifest.json"));
    assert!(tb + 200 < mb, "the manifest ({mb} bytes) must be larger than the table ({tb} bytes) here");

    // The old pair: one year.
    let t = two_sites(Test::new(), "2020");
    let (code, err) = run(t.path(), None);
    assert_eq!(code, 0, "{err}");
    let old = paired(t.path()).unwrap();
    assert_ne!(old.0, new_table);

    // Three years, with room for the new table but not for its manifest, then not even for the table.
    let t = two_sites(t, "2020..2022");
    for limit in [(tb + mb) / 2, tb / 2] {
        let (code, err) = run(t.path(), Some(limit));
        assert_ne!(code, 0, "limit {limit}: {err}");
        assert!(err.contains("File too large"), "limit {limit}: {err}");
        assert_eq!(paired(t.path()), Ok(old.clone()), "limit {limit}: the old pair changed");
        assert_eq!(out_files(t.path()), ["demo-local.csv", "demo-local.manifest.json"], "limit {limit}");
    }

    // With room: the new pair, together.
    let (code, err) = run(t.path(), None);
    assert_eq!(code, 0, "{err}");
    let new = paired(t.path()).unwrap();
    assert_eq!(new.0, new_table);
    assert_eq!(out_files(t.path()), ["demo-local.csv", "demo-local.manifest.json"]);
}
