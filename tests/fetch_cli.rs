//! `geepipe fetch` past the journal: `cli::results::fetch_chunks` with a known list of finished chunks,
//! against the real fake-gcs-server found through `STORAGE_EMULATOR_HOST` (as `host:port`), writing the
//! table only when complete or with `--partial`. (Its own test binary: it sets a process environment
//! variable.)

mod common;
mod support_gcs;

use geepipe::cli::results::{fetch_chunks, FetchArgs};
use geepipe::cli::{ColorChoice, Global};
use geepipe::plan::Target;
use geepipe::results::fetch::FinishedChunk;
use geepipe::results::Measure;
use support_gcs::truth::{self, DictStyle};
use support_gcs::FakeGcs;

fn chunk(id: &str, sites: &[&str]) -> FinishedChunk {
    FinishedChunk {
        chunk_id: id.into(),
        site_ids: sites.iter().map(|s| s.to_string()).collect(),
        target: Target::Gcs { bucket: "bkt".into(), prefix: format!("geepipe/t/{id}") },
        operation: None,
        attempts: 1,
        runtime_secs: None,
        eecu_secs: None,
        stored: None,
    }
}

#[test]
fn fetch_writes_the_table_only_when_complete_or_partial() {
    let gcs = FakeGcs::start();
    // SAFETY: the only test in this binary; set before any thread reads the environment.
    unsafe { std::env::set_var("STORAGE_EMULATOR_HOST", format!("127.0.0.1:{}", gcs.port)) };
    let dir = tempfile::tempdir().unwrap();
    support_gcs::write_files(
        dir.path(),
        &[("p.yaml", &truth::PIPELINE.replace("FORMAT", "csv")), ("sites.geojson", &truth::site_file())],
    );
    let (pipeline, _) = geepipe::pipeline::load(&dir.path().join("p.yaml"), &Default::default()).unwrap();
    let sites = truth::sites();
    let pick = |ids: &[&str]| -> Vec<&truth::SiteTruth> {
        ids.iter().map(|i| sites.iter().find(|s| s.id == *i).unwrap()).collect()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        gcs.create_bucket("bkt").await;
        gcs.upload(
            "bkt",
            "geepipe/t/c00000.csv",
            truth::csv(&pipeline, &pick(&["a", "b"]), DictStyle::Json).as_bytes(),
        )
        .await;
        gcs.upload(
            "bkt",
            "geepipe/t/c00001.csv",
            truth::csv(&pipeline, &pick(&["c", "d"]), DictStyle::JavaMap).as_bytes(),
        )
        .await;
    });
    let g = Global { verbose: 0, quiet: true, color: ColorChoice::Never, project: None, engine: None, mode: None };
    let args = |partial| FetchArgs { file: dir.path().join("p.yaml"), output: None, partial, journal: None };
    let table = dir.path().join("out/t.csv");

    // Site e's chunk has no file: no table, exit 1.
    let chunks = vec![chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d"]), chunk("c00002", &["e"])];
    assert_eq!(g.finish(fetch_chunks(&g, &args(false), &pipeline, chunks.clone())), geepipe::exit::SOME_FAILED);
    assert!(!table.exists());

    // --partial writes what there is, still exit 1.
    assert_eq!(g.finish(fetch_chunks(&g, &args(true), &pipeline, chunks)), geepipe::exit::SOME_FAILED);
    let want = truth::records(&pipeline, &pick(&["a", "b", "c", "d"]));
    let mut r = csv::Reader::from_path(&table).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "site_id",
            "name",
            "layer",
            "year",
            "kind",
            "class_code",
            "class_name",
            "area_ha",
            "pixels",
            "band",
            "stat",
            "value"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), want.len());
    for (row, rec) in rows.iter().zip(&want) {
        assert_eq!(row[0], rec.site);
        assert_eq!(row[1], sites.iter().find(|s| s.id == rec.site).unwrap().name);
        assert_eq!((&row[2], row[3].parse::<i32>().unwrap()), (rec.layer.as_str(), rec.year));
        match &rec.measure {
            Measure::Class { code, name, area_ha, pixels } => {
                assert_eq!(&row[4], "categorical");
                assert_eq!(row[5].parse::<i64>().unwrap(), *code);
                assert_eq!(row[6], name.clone().unwrap_or_default());
                assert_eq!(row[7].parse::<f64>().unwrap(), *area_ha);
                assert_eq!(row[8].parse::<f64>().unwrap(), *pixels);
            }
            Measure::Stat { band, stat, value } => {
                assert_eq!(&row[4], "continuous");
                assert_eq!((&row[9], &row[10]), (band.as_str(), stat.as_str()));
                assert_eq!(row[11].parse::<f64>().ok(), *value);
            }
            Measure::NoData => {
                assert_eq!(&row[4], "nodata");
                assert!(row.iter().skip(5).all(str::is_empty), "{row:?}");
            }
        }
    }

    // Complete: exit 0, the table rewritten with every site, to --output.
    rt.block_on(gcs.upload(
        "bkt",
        "geepipe/t/c00002.csv",
        truth::csv(&pipeline, &pick(&["e"]), DictStyle::Json).as_bytes(),
    ));
    let chunks = vec![chunk("c00000", &["a", "b"]), chunk("c00001", &["c", "d"]), chunk("c00002", &["e"])];
    let other = dir.path().join("elsewhere/table.csv");
    let a = FetchArgs { output: Some(other.clone()), ..args(false) };
    assert_eq!(g.finish(fetch_chunks(&g, &a, &pipeline, chunks)), geepipe::exit::OK);
    let n = csv::Reader::from_path(&other).unwrap().records().count();
    assert_eq!(n, truth::records(&pipeline, &pick(&["a", "b", "c", "d", "e"])).len());
    // The run manifest sits beside the table and lists every chunk and the files merged.
    let manifest = geepipe::results::manifest::Manifest::read(&geepipe::results::manifest::path_for(&other)).unwrap();
    assert_eq!(manifest.chunks.iter().map(|c| c.chunk.as_str()).collect::<Vec<_>>(), ["c00000", "c00001", "c00002"]);
    assert_eq!(manifest.chunks[2].files, ["gs://bkt/geepipe/t/c00002.csv"]);
    assert_eq!(manifest.table.rows as usize, n);
}
