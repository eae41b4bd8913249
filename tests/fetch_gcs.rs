//! Fetching from Cloud Storage against the real fake-gcs-server: exports written as Earth Engine writes
//! them (values from an independent truth model) must merge into exactly the expected records; corrupted,
//! missing, interrupted and hostile downloads are handled as documented in `results::fetch`.

mod common;
mod support_gcs;

use std::path::Path;
use std::sync::atomic::Ordering;

use geepipe::pipeline::Pipeline;
use geepipe::plan::Target;
use geepipe::results::fetch::{fetch, FetchError, FetchOptions, FetchOutcome, FinishedChunk};
use geepipe::results::merge::Missing;
use support_gcs::truth::{self, DictStyle, SiteTruth};
use support_gcs::FakeGcs;

struct Fixture {
    dir: tempfile::TempDir,
    pipeline: Pipeline,
    sites: Vec<SiteTruth>,
}

fn fixture(format: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    support_gcs::write_files(
        dir.path(),
        &[("p.yaml", &truth::PIPELINE.replace("FORMAT", format)), ("sites.geojson", &truth::site_file())],
    );
    let (pipeline, _) =
        geepipe::pipeline::load(&dir.path().join("p.yaml"), &Default::default()).expect("fixture pipeline is valid");
    Fixture { dir, pipeline, sites: truth::sites() }
}

impl Fixture {
    fn site(&self, id: &str) -> &SiteTruth {
        self.sites.iter().find(|s| s.id == id).unwrap()
    }
    fn pick(&self, ids: &[&str]) -> Vec<&SiteTruth> {
        ids.iter().map(|i| self.site(i)).collect()
    }
    fn opts(&self, base: &str) -> FetchOptions {
        let mut o = FetchOptions::new(&self.pipeline).unwrap();
        o.storage_base = url::Url::parse(base).unwrap();
        o.parallelism = 2;
        o
    }
}

fn chunk(id: &str, sites: &[&str]) -> FinishedChunk {
    FinishedChunk {
        chunk_id: id.into(),
        site_ids: sites.iter().map(|s| s.to_string()).collect(),
        target: Target::Gcs { bucket: "bkt".into(), prefix: format!("geepipe/t/{id}") },
        operation: Some(format!("projects/p/operations/{id}")),
        attempts: 1,
        runtime_secs: Some(60.0),
        eecu_secs: Some(1.5),
        stored: None,
    }
}

fn remotes(o: &FetchOutcome) -> Vec<String> {
    o.files.iter().map(|f| f.remote.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_merge_into_the_expected_tidy_records() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    let first = truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::Json);
    let second = truth::csv(p, &fx.pick(&["c", "d", "e"]), DictStyle::JavaMap);
    gcs.upload("bkt", "geepipe/t/c00000.csv", first.as_bytes()).await;
    gcs.upload("bkt", "geepipe/t/c00001.csv", second.as_bytes()).await;
    // The half of another chunk split: its prefix starts like c00000's, but it is not c00000's file.
    gcs.upload("bkt", "geepipe/t/c00000a.csv", b"not,a\nfile,of c00000\n").await;
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d", "e"])];
    let opts = fx.opts(&gcs.url());

    let out = fetch(p, &chunks, &opts).await.expect("fetch");
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b", "c", "d", "e"])));
    assert!(out.missing.is_empty(), "{:?}", out.missing);
    assert_eq!(remotes(&out), ["gs://bkt/geepipe/t/c00000.csv", "gs://bkt/geepipe/t/c00001.csv"]);
    assert_eq!((out.downloaded, out.reused), (2, 0));
    let ids: Vec<&str> = out.sites.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    for s in &out.sites {
        assert_eq!(s.properties["name"], serde_json::json!(fx.site(&s.id).name), "kept property of {}", s.id);
    }
    // Files land in <journal>/downloads/<name>/files/gcs/<bucket>/<object>, byte for byte.
    let local = fx.pipeline.journal_dir.join("downloads/t/files/gcs/bkt/geepipe/t/c00001.csv");
    assert_eq!(std::fs::read_to_string(&local).unwrap(), second);
    assert_eq!(out.files[1].path, local);

    // A second fetch transfers nothing: both local copies match their checksums.
    let again = fetch(p, &chunks, &opts).await.expect("second fetch");
    assert_eq!((again.downloaded, again.reused), (0, 2));
    assert_eq!(again.records, out.records);

    // A damaged local copy is noticed and downloaded again.
    std::fs::write(&local, second.replace("1", "2")).unwrap();
    let third = fetch(p, &chunks, &opts).await.expect("third fetch");
    assert_eq!((third.downloaded, third.reused), (1, 1));
    assert_eq!(std::fs::read_to_string(&local).unwrap(), second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geojson_exports_merge_into_the_expected_tidy_records() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let fx = fixture("geojson");
    let p = &fx.pipeline;
    gcs.upload("bkt", "geepipe/t/c00000.geojson", truth::geojson(p, &fx.pick(&["b", "a"])).as_bytes()).await;
    gcs.upload("bkt", "geepipe/t/c00001.geojson", truth::geojson(p, &fx.pick(&["c", "d", "e"])).as_bytes()).await;
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d", "e"])];
    let out = fetch(p, &chunks, &fx.opts(&gcs.url())).await.expect("fetch");
    // Rows come in any order in a file; records follow the chunks' site order.
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b", "c", "d", "e"])));
    assert!(out.missing.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_download_is_retried_then_reported_with_both_checksums() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let proxy = support_gcs::start_proxy(&gcs.url()).await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    let meta = gcs
        .upload("bkt", "geepipe/t/c00000.csv", truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::Json).as_bytes())
        .await;
    gcs.upload("bkt", "geepipe/t/c00001.csv", truth::csv(p, &fx.pick(&["c", "d", "e"]), DictStyle::Json).as_bytes())
        .await;
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d", "e"])];
    *proxy.state.target.lock().unwrap() = Some("c00000.csv".into());

    // Corrupted once: the second attempt is intact, and the result is right.
    proxy.state.corrupt.store(1, Ordering::SeqCst);
    let out = fetch(p, &chunks, &fx.opts(&proxy.url)).await.expect("fetch after one retry");
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b", "c", "d", "e"])));
    let tries = proxy.state.media_seen().iter().filter(|s| s.path_and_query.contains("c00000.csv")).count();
    assert_eq!(tries, 2);

    // Corrupted every time: after `max_attempts` the error names the object and both checksums.
    std::fs::remove_dir_all(fx.pipeline.journal_dir.join("downloads")).unwrap();
    proxy.state.clear();
    proxy.state.corrupt.store(usize::MAX, Ordering::SeqCst);
    let mut opts = fx.opts(&proxy.url);
    opts.max_attempts = 3;
    let err = fetch(p, &chunks, &opts).await.unwrap_err();
    let FetchError::Incomplete { missing, .. } = &err else { panic!("{err}") };
    let want_crc = meta["crc32c"].as_str().unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    let Missing::File { chunk_id, file, reason } = &missing[0] else { panic!("{missing:?}") };
    assert_eq!((chunk_id.as_str(), file.as_str()), ("c00000", "gs://bkt/geepipe/t/c00000.csv"));
    assert!(reason.contains("arrived corrupted 3 time(s)"), "{reason}");
    assert!(reason.contains(&format!("the service reports crc32c {want_crc}")), "{reason}");
    let got = reason.split("have crc32c ").nth(1).unwrap().split(' ').next().unwrap();
    assert_ne!(got, want_crc);
    assert_eq!(proxy.state.media_seen().iter().filter(|s| s.path_and_query.contains("c00000.csv")).count(), 3);
    // Nothing corrupted is left where a later fetch would trust it.
    let dl = fx.pipeline.journal_dir.join("downloads/t");
    assert!(!dl.join("files/gcs/bkt/geepipe/t/c00000.csv").exists());
    assert!(support_gcs::all_files(&dl.join("partial")).is_empty());
    assert!(err.to_string().contains("no table was written"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_objects_and_rows_are_reported_and_partial_keeps_the_rest() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    // c00001 lost site e's row; c00002 (site d) has no file at all; site c is in no finished chunk.
    gcs.upload("bkt", "geepipe/t/c00000.csv", truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::Json).as_bytes()).await;
    gcs.upload("bkt", "geepipe/t/c00001.csv", truth::csv(p, &fx.pick(&["b"]), DictStyle::Json).as_bytes()).await;
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00001", &["e"]), chunk("c00002", &["d"])];
    let want = vec![
        Missing::Sites { chunk_id: "c00001".into(), sites: vec!["e".into()] },
        Missing::NoFiles { chunk_id: "c00002".into(), location: "gs://bkt/geepipe/t/c00002".into() },
        Missing::NotFinished { sites: vec!["c".into()] },
    ];
    let mut opts = fx.opts(&gcs.url());
    let err = fetch(p, &chunks, &opts).await.unwrap_err();
    let FetchError::Incomplete { missing, .. } = &err else { panic!("{err}") };
    assert_eq!(missing.len(), 3);
    for w in &want {
        assert!(missing.contains(w), "{w:?} not in {missing:?}");
    }
    let text = err.to_string();
    assert!(text.contains("chunk c00002: no export file found at gs://bkt/geepipe/t/c00002"), "{text}");
    assert!(text.contains("chunk c00001: 1 site(s) have no row in its files: e"), "{text}");
    assert!(text.contains("1 site(s) are in no finished chunk (failed or still running): c"), "{text}");

    opts.partial = true;
    let out = fetch(p, &chunks, &opts).await.expect("partial fetch");
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b"])));
    assert_eq!(out.missing.len(), 3);
    // The row for b in c00001's file names a site of another chunk: ignored, and said so.
    assert!(
        out.notes.iter().any(|n| n.contains("1 row(s) name sites that are not in chunk c00001")),
        "{:?}",
        out.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_rows_from_a_split_chunk_resolve_to_the_newest_half() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    // The parent c00000 (a, b) and its half c00000b (b) both finished; the half's row for b is different
    // (here: the parent's file carries site a's values under b's id).
    let mut fake_b = fx.site("a").clone();
    fake_b.id = "b".into();
    fake_b.name = fx.site("b").name.clone();
    fake_b.planted = Some(2019);
    let parent = truth::csv(p, &[fx.site("a"), &fake_b], DictStyle::Json);
    gcs.upload("bkt", "geepipe/t/c00000.csv", parent.as_bytes()).await;
    gcs.upload("bkt", "geepipe/t/c00000b.csv", truth::csv(p, &fx.pick(&["b"]), DictStyle::Json).as_bytes()).await;
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00000b", &["b"])];
    let mut opts = fx.opts(&gcs.url());
    opts.partial = true; // sites c, d, e are in no chunk here
    let out = fetch(p, &chunks, &opts).await.expect("fetch");
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b"])));
    assert!(
        out.notes.iter().any(|n| n.starts_with("site b: 2 rows differ; used gs://bkt/geepipe/t/c00000b.csv line 2 (chunk c00000b)")),
        "{:?}",
        out.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_fetch_resumes_where_it_stopped() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let proxy = support_gcs::start_proxy(&gcs.url()).await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    let ids = ["a", "b", "c", "d", "e"];
    let mut chunks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let cid = format!("c0000{i}");
        gcs.upload(
            "bkt",
            &format!("geepipe/t/{cid}.csv"),
            truth::csv(p, &fx.pick(&[id]), DictStyle::JavaMap).as_bytes(),
        )
        .await;
        chunks.push(chunk(&cid, &[id]));
    }
    let mut opts = fx.opts(&proxy.url);
    opts.parallelism = 1;
    opts.max_attempts = 1;

    // The connection dies after two files.
    proxy.state.allow_media.store(2, Ordering::SeqCst);
    let err = fetch(p, &chunks, &opts).await.unwrap_err();
    let FetchError::Incomplete { missing, downloaded, .. } = &err else { panic!("{err}") };
    assert_eq!(*downloaded, 2);
    assert_eq!(missing.iter().filter(|m| matches!(m, Missing::File { .. })).count(), 3, "{missing:?}");

    // Rerun: only the other three are transferred.
    proxy.state.allow_media.store(usize::MAX, Ordering::SeqCst);
    proxy.state.clear();
    let out = fetch(p, &chunks, &opts).await.expect("resumed fetch");
    assert_eq!((out.downloaded, out.reused), (3, 2));
    assert_eq!(proxy.state.media_seen().len(), 3);
    // Five chunks, one listing (under their common prefix).
    let listings: Vec<String> =
        proxy.state.seen.lock().unwrap().iter().filter(|s| !s.media).map(|s| s.path_and_query.clone()).collect();
    assert_eq!(listings.len(), 1, "{listings:?}");
    assert!(listings[0].contains("prefix=geepipe%2Ft%2Fc0000&"), "{listings:?}");
    assert_eq!(out.records, truth::records(p, &fx.pick(&ids)));

    // A transfer cut in the middle leaves a partial file; the next fetch asks only for the rest of it.
    let dl = fx.pipeline.journal_dir.join("downloads/t");
    std::fs::remove_dir_all(&dl).unwrap();
    *proxy.state.target.lock().unwrap() = Some("c00003.csv".into());
    proxy.state.cut.store(1, Ordering::SeqCst);
    proxy.state.clear();
    let err = fetch(p, &chunks, &opts).await.unwrap_err();
    assert!(err.to_string().contains("c00003.csv"), "{err}");
    let part = dl.join("partial/gcs/bkt/geepipe/t/c00003.csv.part");
    let kept = std::fs::metadata(&part).expect("partial file kept").len();
    assert!(kept > 0);
    proxy.state.clear();
    let out = fetch(p, &chunks, &opts).await.expect("resumed after a cut");
    assert_eq!((out.downloaded, out.reused), (1, 4));
    let seen = proxy.state.media_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].range.as_deref(), Some(format!("bytes={kept}-").as_str()));
    assert!(!part.exists());
    assert_eq!(out.records, truth::records(p, &fx.pick(&ids)));

    // A stale partial file (other bytes) is resumed, fails its checksum, and is fetched again from scratch,
    // even with a single attempt allowed.
    let local = dl.join("files/gcs/bkt/geepipe/t/c00003.csv");
    std::fs::remove_file(&local).unwrap();
    std::fs::write(&part, "zzzz").unwrap();
    proxy.state.clear();
    let out = fetch(p, &chunks, &opts).await.expect("stale partial replaced");
    assert_eq!((out.downloaded, out.reused), (1, 4));
    let ranges: Vec<Option<String>> = proxy.state.media_seen().into_iter().map(|s| s.range).collect();
    assert_eq!(ranges, [Some("bytes=4-".to_string()), None]);
    assert_eq!(out.records, truth::records(p, &fx.pick(&ids)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_object_names_never_leave_the_download_folder() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    let good = truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::Json);
    gcs.upload("bkt", "geepipe/t/c00000.csv", good.as_bytes()).await;
    for hostile in [
        "geepipe/t/c00000-/../../../../../../escape.csv",
        "geepipe/t/c00000-x\\..\\..\\escape.csv",
        "geepipe/t/c00000-//escape.csv",
    ] {
        gcs.upload("bkt", hostile, good.as_bytes()).await;
    }
    // Odd but harmless characters map to a percent-encoded name inside the folder.
    let odd = truth::csv(p, &fx.pick(&["c", "d", "e"]), DictStyle::Json);
    gcs.upload("bkt", "geepipe/t/c00001- ?#%:*.csv", odd.as_bytes()).await;
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d", "e"])];
    let mut opts = fx.opts(&gcs.url());
    opts.partial = true;
    let out = fetch(p, &chunks, &opts).await.expect("fetch");
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b", "c", "d", "e"])));
    let refused: Vec<(&str, &str)> = out
        .missing
        .iter()
        .map(|m| match m {
            Missing::File { file, reason, .. } => (file.as_str(), reason.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        refused,
        [
            (
                "gs://bkt/geepipe/t/c00000-/../../../../../../escape.csv",
                "refusing to download it: the name has a `..` segment"
            ),
            (
                "gs://bkt/geepipe/t/c00000-//escape.csv",
                "refusing to download it: the name has an empty segment (`//` or a trailing `/`)"
            ),
            ("gs://bkt/geepipe/t/c00000-x\\..\\..\\escape.csv", "refusing to download it: the name has a backslash"),
        ]
    );
    let root = fx.dir.path();
    let files = support_gcs::all_files(root);
    assert!(files.iter().all(|f| !f.ends_with("escape.csv")), "{files:?}");
    let dl = fx.pipeline.journal_dir.join("downloads/t/files");
    let odd_local = dl.join("gcs/bkt/geepipe/t/c00001-%20%3F%23%25%3A%2A.csv");
    assert_eq!(std::fs::read_to_string(&odd_local).unwrap(), odd);
    for f in &out.files {
        assert!(f.path.starts_with(&dl), "{}", f.path.display());
    }
    assert!(!Path::new(&root.join("escape.csv")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_and_bigquery_exports_report_where_the_results_are() {
    let fx = fixture("csv");
    let mut a = chunk("c00000", &["a", "b"]);
    a.target = Target::Asset { name: "projects/p/assets/t/c00000".into() };
    let mut b = chunk("c00001", &["c"]);
    b.target = Target::Bigquery { table: "p.d.t".into() };
    let mut c = b.clone();
    c.chunk_id = "c00002".into();
    // No storage is contacted: the base URL points nowhere.
    let out = fetch(&fx.pipeline, &[a, b, c], &fx.opts("http://127.0.0.1:9")).await.expect("fetch");
    let shown: Vec<String> = out.elsewhere.iter().map(|e| e.to_string()).collect();
    assert_eq!(shown, ["chunk c00000: Earth Engine asset projects/p/assets/t/c00000", "BigQuery table p.d.t"]);
    assert!(out.files.is_empty() && out.records.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_an_environment_error_naming_it() {
    let gcs = FakeGcs::start();
    let fx = fixture("csv");
    let err = fetch(&fx.pipeline, &[chunk("c00000", &["a"])], &fx.opts(&gcs.url())).await.unwrap_err();
    let FetchError::Listing { location, error } = &err else { panic!("{err}") };
    assert_eq!(location, "gs://bkt/geepipe/t/c00000");
    assert_eq!(error.http_status, Some(404), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_follows_every_page() {
    use geepipe::results::download::Http;
    use geepipe::results::gcs::{self, Gcs};
    let gcs_server = FakeGcs::start();
    gcs_server.create_bucket("bkt").await;
    let mut want = Vec::new();
    for i in 0..7 {
        let name = format!("geepipe/t/c00000-{i:05}.csv");
        gcs_server.upload("bkt", &name, format!("x{i}").as_bytes()).await;
        want.push(name);
    }
    gcs_server.upload("bkt", "geepipe/u/c00000.csv", b"other prefix").await;
    let client = Gcs::new(
        Http::new(geepipe::net::Auth::None, gcs::SCOPES).unwrap(),
        url::Url::parse(&gcs_server.url()).unwrap(),
    )
    .with_page_size(3);
    let got: Vec<String> = client.list("bkt", "geepipe/t/").await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(got, want);
}

/// Symbolic links already in the download folder are never followed (issue 12): a `.part` link and a
/// final-name link pointing at files outside leave those files untouched and are replaced by regular files;
/// a linked folder is refused. Every such io error names its chunk and remote file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_in_the_download_folder_are_never_followed_and_io_errors_name_the_chunk() {
    use std::os::unix::fs::symlink;
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    let first = truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::Json);
    let second = truth::csv(p, &fx.pick(&["c", "d", "e"]), DictStyle::Json);
    gcs.upload("bkt", "geepipe/t/c00000.csv", first.as_bytes()).await;
    gcs.upload("bkt", "geepipe/t/c00001.csv", second.as_bytes()).await;
    let chunks = [chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d", "e"])];
    let mut opts = fx.opts(&gcs.url());
    opts.max_attempts = 1;
    let root = fx.dir.path();
    let dl = p.journal_dir.join("downloads/t");
    let rel = "gcs/bkt/geepipe/t";

    // A partial file that is a link to a file outside (shorter than the object, so it would be resumed
    // into), and a final file that is a link to another one.
    let precious = root.join("precious.txt");
    let other = root.join("other.txt");
    std::fs::write(&precious, "precious\n").unwrap();
    std::fs::write(&other, "keep me\n").unwrap();
    std::fs::create_dir_all(dl.join("partial").join(rel)).unwrap();
    std::fs::create_dir_all(dl.join("files").join(rel)).unwrap();
    symlink(&precious, dl.join("partial").join(rel).join("c00000.csv.part")).unwrap();
    symlink(&other, dl.join("files").join(rel).join("c00001.csv")).unwrap();
    let out = fetch(p, &chunks, &opts).await.expect("fetch");
    assert_eq!(out.records, truth::records(p, &fx.pick(&["a", "b", "c", "d", "e"])));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "keep me\n");
    for (name, text) in [("c00000.csv", &first), ("c00001.csv", &second)] {
        let f = dl.join("files").join(rel).join(name);
        assert!(std::fs::symlink_metadata(&f).unwrap().file_type().is_file(), "{} is not a regular file", f.display());
        assert_eq!(&std::fs::read_to_string(&f).unwrap(), text);
    }
    assert!(std::fs::symlink_metadata(dl.join("partial").join(rel).join("c00000.csv.part")).is_err());

    // A linked folder inside the download folder is refused, nothing is written where it points, and each
    // error names the chunk and the remote file (it used to read `chunk : <local path>`).
    std::fs::remove_dir_all(&dl).unwrap();
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(dl.join("files")).unwrap();
    symlink(&elsewhere, dl.join("files/gcs")).unwrap();
    opts.partial = true;
    let out = fetch(p, &chunks, &opts).await.expect("partial fetch");
    let shown: Vec<String> = out.missing.iter().map(|m| m.to_string()).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    for (m, id) in shown.iter().zip(["c00000", "c00001"]) {
        let head = format!("chunk {id}: gs://bkt/geepipe/t/{id}.csv: cannot write `");
        assert!(m.starts_with(&head), "{m}");
        assert!(m.contains("is a symbolic link; geepipe never follows links inside its download folder"), "{m}");
    }
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "something was written through the link");

    // Any other io error names them too: a folder where the file should be.
    std::fs::remove_dir_all(&dl).unwrap();
    std::fs::create_dir_all(dl.join("files").join(rel).join("c00000.csv")).unwrap();
    let out = fetch(p, &chunks, &opts).await.expect("partial fetch");
    let shown: Vec<String> = out.missing.iter().map(|m| m.to_string()).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].starts_with("chunk c00000: gs://bkt/geepipe/t/c00000.csv: cannot write `"), "{shown:?}");
    assert!(shown[0].contains("(the download of `gs://bkt/geepipe/t/c00000.csv`)"), "{shown:?}");
}

/// A storage server (or proxy) that echoes the request's `Authorization` header in its refusal: the
/// download error shows what it said, with the token (opaque, held by geepipe) taken out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_echoed_by_the_storage_server_never_reaches_a_download_error() {
    const TOKEN: &str = "storage-opaque-9d3e-TOKEN-71ab";
    let gcs = FakeGcs::start();
    gcs.create_bucket("bkt").await;
    let proxy = support_gcs::start_proxy(&gcs.url()).await;
    let fx = fixture("csv");
    let p = &fx.pipeline;
    gcs.upload("bkt", "geepipe/t/c00000.csv", truth::csv(p, &fx.pick(&["a", "b"]), DictStyle::Json).as_bytes()).await;
    let mut opts = fx.opts(&proxy.url);
    opts.auth = geepipe::net::Auth::Static(geepipe::net::Secret::new(TOKEN));
    opts.max_attempts = 1;
    proxy.state.echo_auth.store(1, Ordering::SeqCst);
    let err = fetch(p, &[chunk("c00000", &["a", "b"])], &opts).await.unwrap_err();
    assert_eq!(proxy.state.echo_auth.load(Ordering::SeqCst), 0, "the proxy did not answer");
    let shown = format!("{err}\n{err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    let FetchError::Incomplete { missing, .. } = &err else { panic!("{err}") };
    let m = missing.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("\n");
    assert!(!m.contains(TOKEN), "{m}");
    assert!(m.contains("proxy: refused `Authorization: Bearer ***` (token ***)"), "{m}");
}
