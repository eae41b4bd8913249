//! Writes a synthetic finished Earth Engine run for `geepipe report`: a site file, a pipeline (MapBiomas
//! land cover and MODIS NDVI), its long table (through geepipe's own table writer), the manifest and a
//! run journal with retried, split and failed tasks. Used by `scripts/bench-report.sh` (40,000 sites ×
//! 14 years) and by `tests/report_browser.rs` (5,000 sites).
//!
//!     cargo run --example report-data -- SITES YEARS OUT_DIR
//!
//! Deterministic (seeded): the same arguments write the same files. Nothing here is real data: sites
//! drift between forest, savanna, pasture and mosaic classes, some are deforested or restored, and NDVI
//! follows the forest share with noise.

use std::path::Path;

use geepipe::journal::{ChunkState, Journal};
use geepipe::pipeline::{load, Overrides};
use geepipe::results::manifest::{ChunkEntry, Manifest};
use geepipe::results::table::{SiteResult, TableSpec, TableWriter};
use geepipe::results::{Measure, Record};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

/// MapBiomas codes used: forest formation, savanna formation, grassland, pasture, mosaic of uses, water.
const CLASSES: [i64; 6] = [3, 4, 12, 15, 21, 33];
/// The failing chunk's error message (tests look for it in the report).
pub const FAILURE: &str = "Computation timed out. (chunk too slow; the site polygons are large)";

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: report-data SITES YEARS OUT_DIR");
        std::process::exit(2);
    }
    let (n, years): (usize, i32) = (args[1].parse().expect("SITES"), args[2].parse().expect("YEARS"));
    generate(n, years, Path::new(&args[3]));
}

fn square(x: f64, y: f64, d: f64) -> Value {
    json!([[x, y], [x + d, y], [x + d, y + d * 0.8], [x + d * 0.4, y + d * 1.1], [x, y + d], [x, y]])
}

fn sites_geojson(n: usize, years: i32, rng: &mut StdRng) -> String {
    let mut out = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
    for i in 0..n {
        let (x, y) = (rng.random_range(-55.0..-45.0), rng.random_range(-15.0..-5.0));
        let d: f64 = rng.random_range(0.004..0.03);
        let geometry = if i % 10 == 9 {
            json!({"type": "MultiPolygon", "coordinates": [[square(x, y, d)], [square(x + 2.0 * d, y, d / 2.0)]]})
        } else if i % 20 == 3 {
            let h = d / 4.0;
            json!({"type": "Polygon", "coordinates": [square(x, y, d),
                [[x + h, y + h], [x + h, y + 2.0 * h], [x + 2.0 * h, y + 2.0 * h], [x + 2.0 * h, y + h], [x + h, y + h]]]})
        } else {
            json!({"type": "Polygon", "coordinates": [square(x, y, d)]})
        };
        let planted = if i % 7 == 0 { 2010 + (i as i32 % years.max(1)) } else { 2010 };
        let f = json!({"type": "Feature", "properties": {"site_id": format!("s{i:06}"), "name": format!("Fazenda {i}"),
            "planted": planted}, "geometry": geometry});
        out.push_str(&f.to_string());
        out.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    out.push_str("]}\n");
    out
}

/// Writes everything into `dir`; returns the pipeline path.
pub fn generate(n: usize, years: i32, dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("create the output folder");
    let mut rng = StdRng::seed_from_u64(20_261_126);
    std::fs::write(dir.join("sites.geojson"), sites_geojson(n, years, &mut rng)).expect("write sites");
    let last = 2010 + years - 1;
    let yaml = format!(
        "name: report-bench\nproject: demo-project\nsites:\n  file: sites.geojson\n  id: site_id\n  keep: [name]\n  \
         first_year: planted\nyears: 2010..{last}\nlayers:\n  - catalog: mapbiomas_lulc\n  - catalog: modis_ndvi\n    \
         stats: [mean, p90]\nexport:\n  to: gcs\n  bucket: bench-bucket\nchunks:\n  sites_per_task: 50\noutput:\n  \
         path: table.csv\n"
    );
    let pipeline_path = dir.join("pipeline.yaml");
    std::fs::write(&pipeline_path, yaml).expect("write pipeline");
    let (pipeline, _) = load(&pipeline_path, &Overrides::default()).expect("the generated pipeline is valid");

    // The table.
    let mut writer = TableWriter::create(TableSpec::from_pipeline(&pipeline), &pipeline.output.path).expect("table");
    let mut site_years = 0u64;
    let mut nodata = 0u64;
    geepipe::sites::for_each(&pipeline.sites, |site| {
        let planted = site.properties.get("planted").and_then(Value::as_i64).unwrap_or(2010) as i32;
        let area = rng.random_range(5.0..400.0f64);
        let mut shares: Vec<f64> = CLASSES.iter().map(|_| rng.random_range(0.0..1.0f64).powi(3)).collect();
        let fate = rng.random_range(0..10);
        let mut records = Vec::new();
        for year in planted..=last {
            site_years += 2;
            if rng.random_range(0..200) == 0 {
                nodata += 2;
                records.push(Record {
                    site: site.id.clone(),
                    layer: "mapbiomas_lulc".into(),
                    year,
                    measure: Measure::NoData,
                });
                records.push(Record {
                    site: site.id.clone(),
                    layer: "modis_ndvi".into(),
                    year,
                    measure: Measure::NoData,
                });
                continue;
            }
            // Deforestation (forest → pasture), restoration (pasture → forest) or drift.
            let moved = match fate {
                0..=2 => shares[0] * rng.random_range(0.0..0.15),
                3..=4 => -shares[3] * rng.random_range(0.0..0.2),
                _ => 0.0,
            };
            shares[0] -= moved;
            shares[3] += moved;
            let total: f64 = shares.iter().sum();
            for (k, code) in CLASSES.iter().enumerate() {
                let ha = shares[k] / total * area;
                if ha > area * 0.002 {
                    records.push(Record {
                        site: site.id.clone(),
                        layer: "mapbiomas_lulc".into(),
                        year,
                        measure: Measure::Class { code: *code, name: None, area_ha: ha, pixels: (ha / 0.09).round() },
                    });
                }
            }
            let ndvi = 0.35 + 0.45 * shares[0] / total + (year - 2010) as f64 * 0.002 + rng.random_range(-0.05..0.05);
            for (stat, v) in [("mean", ndvi), ("p90", ndvi + rng.random_range(0.02..0.12))] {
                records.push(Record {
                    site: site.id.clone(),
                    layer: "modis_ndvi".into(),
                    year,
                    measure: Measure::Stat { band: "ndvi".into(), stat: stat.into(), value: Some(v) },
                });
            }
        }
        let mut properties = Map::new();
        properties.insert("name".into(), site.properties.get("name").cloned().unwrap_or(Value::Null));
        writer
            .push(SiteResult { id: site.id.clone(), properties, geometry: None, records })
            .map_err(|e| geepipe::diag::Diagnostic::error(geepipe::diag::Code::LocalWrite, e.to_string()))
    })
    .expect("read the generated sites");
    let summary = writer.finish().expect("finish the table");

    // The journal: every chunk succeeded after 1–3 attempts, but one failed and one was split in two.
    let planner = geepipe::plan::Planner::new(&pipeline).expect("plan");
    let tasks = planner.plan().tasks;
    let jpath = Journal::default_path(&pipeline);
    let _ = std::fs::remove_file(&jpath);
    let mut journal = Journal::open(&jpath, &pipeline.name, &pipeline.content_hash).expect("journal");
    journal.record_plan(&tasks).expect("record the plan");
    let mut rows = journal.chunks().expect("chunks");
    let mut extra = Vec::new();
    let t0 = 1_790_000_000.0;
    for (i, r) in rows.iter_mut().enumerate() {
        r.attempt = if i % 13 == 5 {
            3
        } else if i % 5 == 2 {
            2
        } else {
            1
        };
        r.operation = Some(format!("projects/demo-project/operations/OP{i:05}"));
        r.submitted_at = Some(t0 + i as f64);
        r.started_at = Some(t0 + i as f64 + 5.0);
        let runtime = rng.random_range(60.0..900.0f64);
        r.ended_at = Some(t0 + i as f64 + 5.0 + runtime);
        r.eecu_seconds = Some(runtime * rng.random_range(0.5..4.0));
        r.state = ChunkState::Succeeded;
        if i == 1 {
            r.state = ChunkState::Failed;
            r.error = Some(FAILURE.into());
            r.error_class = Some("fatal".into());
            r.eecu_seconds = None;
        }
        if i == 2 {
            r.state = ChunkState::Split;
            r.eecu_seconds = None;
            let half = r.site_ids.len() / 2;
            for (k, ids) in [&r.site_ids[..half], &r.site_ids[half..]].into_iter().enumerate() {
                let t =
                    geepipe::plan::ChunkPlanner::task(&planner, &format!("{}{}", r.chunk_id, ["a", "b"][k]), ids, None)
                        .expect("half task");
                let mut h = geepipe::journal::ChunkRow::from_task(&t, 10_000 + k as i64, Some(&r.chunk_id));
                h.attempt = 1;
                h.state = ChunkState::Succeeded;
                h.started_at = Some(t0 + 100.0);
                h.ended_at = Some(t0 + 100.0 + 120.0 * (k + 1) as f64);
                h.eecu_seconds = Some(200.0 * (k + 1) as f64);
                extra.push(h);
            }
        }
    }
    let all: Vec<&geepipe::journal::ChunkRow> = rows.iter().chain(extra.iter()).collect();
    journal.put(&all).expect("update the journal");
    drop(journal);

    // The manifest (fixed times, so the files are the same on every run).
    let mut m = Manifest::new(&pipeline, "2026-11-20T10:00:00Z".into(), &summary);
    m.finished_at = "2026-11-20T13:21:07Z".into();
    m.timings.total_seconds = 12_067.0;
    m.totals.sites = n as u64;
    m.totals.site_years = site_years;
    m.totals.nodata_site_years = nodata;
    m.chunks = all
        .iter()
        .filter(|r| r.state == ChunkState::Succeeded)
        .map(|r| ChunkEntry {
            chunk: r.chunk_id.clone(),
            sites: r.site_ids.len() as u64,
            operation: r.operation.clone(),
            state: "SUCCEEDED".into(),
            attempts: r.attempt,
            runtime_seconds: r.runtime(),
            eecu_seconds: r.eecu_seconds,
            mode: Some("batch".into()),
            requests: None,
            files: vec![],
        })
        .collect();
    m.write(&geepipe::results::manifest::path_for(&pipeline.output.path)).expect("manifest");
    pipeline_path
}
