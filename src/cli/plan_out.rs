//! `geepipe plan --out DIR`, for every pipeline (the zonal plan of the store's missing cells in
//! [`super::plan_cells`], and the others in [`super::plan`]): each request body is written
//! as it is built (`<chunk_id>.json`) and `plan.json` indexes them, so a streamed plan's bodies are never
//! all in memory (the other kinds' bodies come from their plan, built whole). Everything goes to a
//! temporary folder beside `DIR` first and is moved into it at the end: a problem found while planning
//! leaves `DIR` as it was. An earlier plan in `DIR` is replaced: its bodies
//! the new plan lacks are removed, files geepipe did not write are kept. A `DIR` that geepipe made for
//! this plan is replaced by the temporary folder whole (one rename instead of one per body).
//!
//! `plan.json` is the pretty JSON document `{summary, mode, columns, tasks}`; its task entries are
//! written one by one into a temporary index, indented as they sit in the document, and joined to the rest
//! at the end (the same bytes as pretty-printing the whole document at once).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{self, Error};
use crate::plan::{Column, Decision, RunMode, Summary, Task};

/// A plan being written into a folder.
pub struct PlanOut {
    dir: PathBuf,
    tmp: tempfile::TempDir,
    index: std::io::BufWriter<std::fs::File>,
    files: Vec<String>,
    /// The bodies of an earlier plan in `dir` (removed at the end unless this plan has them too).
    earlier: Vec<String>,
    /// Whether `dir` was made for this plan (so the temporary folder may take its place).
    made: bool,
    interactive: bool,
}

/// The error of a plan that cannot be written into `dir`.
fn write_error(dir: &Path, e: std::io::Error) -> Error {
    Error::Environment(format!("cannot write the plan into `{}`: {e}", dir.display()))
}

/// The files an earlier `geepipe plan --out` wrote into `dir` (`plan.json` and the bodies it lists), or an
/// error when `dir` is not empty and holds no geepipe plan: files geepipe did not write are never replaced
/// or removed.
fn earlier_plan_files(dir: &Path) -> error::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e.filter_map(|e| e.ok()).count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Environment(format!("cannot read `{}`: {e}", dir.display()))),
    };
    if entries == 0 {
        return Ok(Vec::new());
    }
    let index =
        std::fs::read(dir.join("plan.json")).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(tasks) = index.as_ref().and_then(|v| v.get("tasks")).and_then(|t| t.as_array()) else {
        return Err(Error::Input(format!(
            "`{}` is not empty and holds no geepipe plan (`plan.json`): refusing to write request bodies among \
             other files\nhelp: pass a new or empty folder to --out (or the folder of an earlier `geepipe plan \
             --out`, which is replaced)",
            dir.display()
        )));
    };
    // Only plain `<name>.json` file names: an index edited by hand never makes geepipe touch other paths.
    let own = |f: &str| {
        f.ends_with(".json")
            && f != "plan.json"
            && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            && !f.starts_with('.')
    };
    Ok(tasks.iter().filter_map(|t| t.get("file")?.as_str()).filter(|f| own(f)).map(str::to_string).collect())
}

impl PlanOut {
    /// Starts writing into `dir`: a new or empty folder, or the folder of an earlier plan (refused when it
    /// holds other files: [`earlier_plan_files`]).
    pub fn open(dir: &Path, mode: RunMode) -> error::Result<PlanOut> {
        let earlier = earlier_plan_files(dir)?;
        PlanOut::new(dir, earlier, mode).map_err(|e| write_error(dir, e))
    }

    /// Starts writing into `dir`, which holds the files `earlier` of an earlier plan (or nothing).
    fn new(dir: &Path, earlier: Vec<String>, mode: RunMode) -> std::io::Result<PlanOut> {
        let made = std::fs::symlink_metadata(dir).is_err();
        std::fs::create_dir_all(dir)?;
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new().prefix(".geepipe-plan-").tempdir_in(parent)?;
        let index = std::io::BufWriter::new(std::fs::File::create(tmp.path().join(".tasks"))?);
        let interactive = mode == RunMode::Interactive;
        Ok(PlanOut { dir: dir.to_path_buf(), tmp, index, files: Vec::new(), earlier, made, interactive })
    }

    /// Writes one task's body (the bytes sent) and its entry in the index.
    pub fn add(&mut self, t: &Task, body: &[u8]) -> error::Result<()> {
        self.write(t, body).map_err(|e| write_error(&self.dir, e))
    }

    fn write(&mut self, t: &Task, body: &[u8]) -> std::io::Result<()> {
        let file = format!("{}.json", t.chunk_id);
        let mut f = std::fs::File::create(self.tmp.path().join(&file))?;
        write_all_vectored(&mut f, &mut [std::io::IoSlice::new(body), std::io::IoSlice::new(b"\n")])?;
        let entry = serde_json::json!({
            "chunk_id": t.chunk_id,
            "file": file,
            "request_id": t.request_id,
            "endpoint": if self.interactive { "table:computeFeatures" } else { t.endpoint.path() },
            "description": t.description,
            "site_ids": t.site_ids,
            "body_bytes": body.len(),
            "target": t.target,
        });
        let text = serde_json::to_string_pretty(&entry).map_err(std::io::Error::other)?;
        self.index.write_all(if self.files.is_empty() { b"\n" } else { b",\n" })?;
        // An element of `tasks` sits two levels deep in the document.
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                self.index.write_all(b"\n")?;
            }
            self.index.write_all(b"    ")?;
            self.index.write_all(line.as_bytes())?;
        }
        self.files.push(file);
        Ok(())
    }

    /// Writes `plan.json`, moves every file into the folder and removes the earlier plan's other bodies.
    pub fn finish(self, summary: &Summary, decision: &Decision, columns: &[Column]) -> error::Result<()> {
        let dir = self.dir.clone();
        self.publish(summary, decision, columns).map_err(|e| write_error(&dir, e))
    }

    fn publish(mut self, summary: &Summary, decision: &Decision, columns: &[Column]) -> std::io::Result<()> {
        self.index.flush()?;
        drop(self.index);
        let head = serde_json::json!({"summary": summary, "mode": decision, "columns": columns, "tasks": []});
        let mut doc = serde_json::to_vec_pretty(&head).map_err(std::io::Error::other)?;
        let tail: &[u8] = b"[]\n}";
        if !doc.ends_with(tail) {
            return Err(std::io::Error::other("plan.json: unexpected layout"));
        }
        let mut plan = std::io::BufWriter::new(std::fs::File::create(self.tmp.path().join("plan.json"))?);
        if self.files.is_empty() {
            plan.write_all(&doc)?;
        } else {
            // The entries are copied from the index file, never all in memory.
            doc.truncate(doc.len() - tail.len());
            plan.write_all(&doc)?;
            plan.write_all(b"[")?;
            std::io::copy(&mut std::fs::File::open(self.tmp.path().join(".tasks"))?, &mut plan)?;
            plan.write_all(b"\n  ]\n}")?;
        }
        plan.write_all(b"\n")?;
        plan.flush()?;
        drop(plan);
        // A folder made for this plan holds no earlier plan: the temporary folder takes its place.
        if self.made && take_place(self.tmp.path(), &self.dir) {
            return Ok(());
        }
        publish(self.tmp.path(), &self.dir, &self.files, &self.earlier)
    }
}

/// Writes every byte of `slices` (one system call for a body and its line end, as a rule).
fn write_all_vectored(f: &mut std::fs::File, mut slices: &mut [std::io::IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match f.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Puts the finished plan in `tmp` in the place of `dir`, a folder made for it that is still empty, with
/// `dir`'s permissions; `false` (nothing moved) when `dir` is no longer an empty folder or the rename is
/// refused, and the files are moved one by one instead.
fn take_place(tmp: &Path, dir: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return false };
    if !meta.is_dir() || std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_some()) {
        return false;
    }
    if std::fs::remove_file(tmp.join(".tasks")).is_err() || std::fs::set_permissions(tmp, meta.permissions()).is_err() {
        return false;
    }
    std::fs::rename(tmp, dir).is_ok()
}

/// Moves a finished plan's `files` and its `plan.json` from `tmp` into `dir`, then removes the bodies of
/// the earlier plan (`earlier`) that this one does not have, so the folder holds exactly this plan (and any
/// file geepipe did not write).
fn publish(tmp: &Path, dir: &Path, files: &[String], earlier: &[String]) -> std::io::Result<()> {
    for f in files.iter().map(String::as_str).chain(["plan.json"]) {
        std::fs::rename(tmp.join(f), dir.join(f))?;
    }
    let current: std::collections::HashSet<&str> = files.iter().map(String::as_str).collect();
    for stale in earlier.iter().filter(|f| !current.contains(f.as_str())) {
        match std::fs::remove_file(dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed `plan.json` is the bytes of the whole document pretty-printed at once.
    #[test]
    fn the_streamed_index_is_the_pretty_document() {
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().join("out");
        let task = |i: usize| Task {
            chunk_id: format!("c{i:05}"),
            request_id: format!("r{i}"),
            endpoint: crate::plan::Endpoint::ImageExport,
            description: format!("d {i}"),
            site_ids: vec![format!("s{i}"), "x".into()],
            body: serde_json::Value::Null,
            body_bytes: 3,
            target: crate::plan::Target::Gcs { bucket: "b".into(), prefix: format!("p/{i}") },
        };
        let decision = Decision {
            mode: RunMode::Batch,
            auto: false,
            reason: "`kind: image` pipelines run as export tasks".into(),
            sites_per_request: None,
            requests: None,
            interactive_seconds: None,
            estimate: None,
        };
        for n in [0usize, 1, 3] {
            let tasks: Vec<Task> = (0..n).map(task).collect();
            let mut out = PlanOut::new(&out_dir, Vec::new(), RunMode::Batch).unwrap();
            for t in &tasks {
                out.add(t, b"{\"a\":1}").unwrap();
            }
            let summary = Summary {
                pipeline: "p".into(),
                content_hash: "h".into(),
                tasks: n,
                sites: Some(n),
                layers: 1,
                years: vec![2020],
                layer_years: 1,
                columns: 0,
                largest_request_bytes: 7,
                largest_request_chunk: None,
                total_request_bytes: 7,
                warnings: 0,
                cells: None,
            };
            out.finish(&summary, &decision, &[]).unwrap();
            let index: Vec<serde_json::Value> = tasks
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "chunk_id": t.chunk_id, "file": format!("{}.json", t.chunk_id), "request_id": t.request_id,
                        "endpoint": t.endpoint.path(), "description": t.description, "site_ids": t.site_ids,
                        "body_bytes": 7, "target": t.target,
                    })
                })
                .collect();
            let whole = serde_json::json!({"summary": summary, "mode": decision, "columns": [], "tasks": index});
            let mut want = serde_json::to_vec_pretty(&whole).unwrap();
            want.push(b'\n');
            assert_eq!(
                String::from_utf8(std::fs::read(out_dir.join("plan.json")).unwrap()).unwrap(),
                String::from_utf8(want).unwrap()
            );
            // The folder holds exactly the plan (made for the first plan, replaced whole; then reused), and
            // nothing is left beside it.
            let mut names: Vec<String> =
                std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            names.sort();
            let mut want: Vec<String> = tasks.iter().map(|t| format!("{}.json", t.chunk_id)).collect();
            want.push("plan.json".into());
            assert_eq!(names, want);
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the plan's folder");
        }
    }
}
