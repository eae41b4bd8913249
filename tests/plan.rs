//! Planning against the Earth Engine contract: every request body geepipe builds fits the reference
//! discovery schema and the algorithm signatures; expressions match the official client's; chunking
//! by count and by bytes; determinism.

mod common;

use std::path::PathBuf;

use ee_contract::Contract;
use geepipe::expr::{canonicalize, Graph};
use geepipe::pipeline::{load, Overrides, Pipeline};
use geepipe::plan::compute::site_feature;
use geepipe::plan::{ChunkPlanner, Planner};
use serde_json::{json, Value};

const TABLE_EXPORT: &str = "earthengine.projects.table.export";

/// The reference folder: `../shared/reference` beside the repository, or `GEEPIPE_REFERENCE_DIR` (a git
/// worktree elsewhere has no `../shared`).
fn reference_dir() -> PathBuf {
    match std::env::var_os("GEEPIPE_REFERENCE_DIR") {
        Some(d) if !common::repo_root().join("../shared/reference").is_dir() => PathBuf::from(d),
        _ => common::reference_dir(),
    }
}

fn contract() -> Contract {
    Contract::from_dir(&reference_dir()).expect("reference loads")
}

/// Square sites around (x, y) with `n` vertices on the outer ring.
fn sites_geojson(count: usize, vertices: usize) -> String {
    let mut feats = Vec::new();
    for i in 0..count {
        let (cx, cy) = (-48.0 + (i % 100) as f64 * 0.01, -15.0 - (i / 100) as f64 * 0.01);
        let mut ring: Vec<[f64; 2]> = (0..vertices)
            .map(|k| {
                let a = k as f64 / vertices as f64 * std::f64::consts::TAU;
                [cx + 0.003 * a.cos(), cy + 0.003 * a.sin()]
            })
            .collect();
        ring.push(ring[0]);
        feats.push(json!({"type": "Feature", "properties": {"site_id": format!("s{i:05}"), "region": if i % 2 == 0 {"n"} else {"s"}},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}));
    }
    json!({"type": "FeatureCollection", "features": feats}).to_string()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn fixture(pipeline_yaml: &str, sites: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sites.geojson"), sites).unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, pipeline_yaml).unwrap();
    Fixture { _dir: dir, path }
}

fn pipeline(f: &Fixture) -> Pipeline {
    match load(&f.path, &Overrides::default()) {
        Ok((p, _)) => p,
        Err(d) => panic!("pipeline does not compile: {:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()),
    }
}

/// The warnings of compiling the fixture's pipeline (`validate` and `plan` show them before the plan's own).
fn load_warnings(f: &Fixture) -> Vec<geepipe::diag::Diagnostic> {
    load(&f.path, &Overrides::default()).map(|(_, w)| w).unwrap_or_default()
}

fn planner(yaml: &str, sites: &str) -> (Fixture, Planner) {
    let f = fixture(yaml, sites);
    let p = pipeline(&f);
    let planner = match Planner::new(&p) {
        Ok(pl) => pl,
        Err(d) => panic!("plan fails: {:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()),
    };
    (f, planner)
}

fn assert_fits(c: &Contract, body: &Value, what: &str) {
    let v = c.check_request(TABLE_EXPORT, body);
    assert!(v.is_empty(), "{what}: {}", v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n"));
}

#[test]
fn every_destination_and_format_fits_the_contract() {
    let c = contract();
    let sites = sites_geojson(5, 8);
    let exports = [
        "{to: drive, folder: geepipe, format: csv}",
        "{to: drive, folder: geepipe, format: kml, priority: 200, workload_tag: restoration}",
        "{to: gcs, bucket: my-bucket, prefix: runs/demo/, format: geojson}",
        "{to: gcs, bucket: my-bucket, format: shp}",
        "{to: gcs, bucket: my-bucket, format: kmz}",
        "{to: gcs, bucket: my-bucket, format: tfrecord}",
        "{to: asset, asset: projects/p/assets/zonal, overwrite: true}",
        "{to: bigquery, table: p.dataset.zonal}",
    ];
    let mut formats = std::collections::BTreeSet::new();
    for export in exports {
        let yaml = format!(
            "name: demo\nsites: {{file: sites.geojson, id: site_id, keep: [region]}}\nyears: 2019..2020\n\
             layers:\n  - catalog: mapbiomas_lulc\n  - catalog: s2_ndvi\n    stats: [mean, median, p90, stdDev]\n\
             export: {export}\nchunks: {{sites_per_task: 2}}\n"
        );
        let (_f, pl) = planner(&yaml, &sites);
        let plan = pl.plan();
        assert_eq!(plan.tasks.len(), 3, "{export}");
        for t in &plan.tasks {
            assert_fits(&c, &t.body, export);
            assert_eq!(t.body["selectors"], json!(plan.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>()));
            assert_eq!(t.body["requestId"], json!(t.request_id));
            assert_eq!(t.body_bytes, serde_json::to_vec(&t.body).unwrap().len());
        }
        if let Some(f) = plan.tasks[0].body.pointer("/fileExportOptions/fileFormat") {
            formats.insert(f.as_str().unwrap().to_string());
        }
    }
    let want: std::collections::BTreeSet<String> =
        ["CSV", "KML", "GEO_JSON", "SHP", "KMZ", "TF_RECORD_TABLE"].iter().map(|s| s.to_string()).collect();
    assert_eq!(formats, want);
}

#[test]
fn destinations_are_named_per_chunk() {
    let sites = sites_geojson(3, 6);
    let base = "name: demo\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers: [{catalog: mapbiomas_lulc}]\nchunks: {sites_per_task: 2}\n";
    let (_f, pl) = planner(&format!("{base}export: {{to: gcs, bucket: b-1, prefix: runs/x/}}\n"), &sites);
    let t = &pl.plan().tasks[1];
    assert_eq!(t.chunk_id, "c00001");
    assert_eq!(t.body["description"], "demo_c00001");
    assert_eq!(
        t.body.pointer("/fileExportOptions/cloudStorageDestination"),
        Some(&json!({"bucket": "b-1", "filenamePrefix": "runs/x/c00001"}))
    );
    let (_f, pl) =
        planner(&format!("{base}export: {{to: asset, asset: projects/p/assets/f, overwrite: true}}\n"), &sites);
    assert_eq!(
        pl.plan().tasks[0].body["assetExportOptions"],
        json!({"earthEngineDestination": {"name": "projects/p/assets/f/demo_c00000", "overwrite": true}})
    );
    let (f, pl) = planner(&format!("{base}export: {{to: bigquery, table: p.d.t, overwrite: true}}\n"), &sites);
    let plan = pl.plan();
    assert_eq!(
        plan.tasks[0].body["bigqueryExportOptions"],
        json!({"bigqueryDestination": {"table": "p.d.t", "overwrite": false, "append": true}})
    );
    let overwrite = load_warnings(&f).into_iter().find(|w| w.code == "plan::bigquery-overwrite").expect("warned");
    assert_eq!(overwrite.location.map(|l| l.line), Some(6), "located at `overwrite` in the pipeline file");
    let (_f, pl) = planner(&format!("{base}export: {{to: drive, folder: gp, priority: 5}}\n"), &sites);
    let b = &pl.plan().tasks[0].body;
    assert_eq!(b["fileExportOptions"]["driveDestination"], json!({"folder": "gp", "filenamePrefix": "demo_c00000"}));
    assert_eq!(b["priority"], json!(5));
}

#[test]
fn every_catalog_layer_plans_into_a_valid_request() {
    let c = contract();
    let sites = sites_geojson(2, 5);
    for name in geepipe::catalog::names() {
        let entry = geepipe::catalog::get(name).unwrap();
        let years = match name {
            "esa_worldcover" => "[2020, 2021]",
            "hansen_treecover2000" | "srtm_elevation" => "2019..2021",
            _ => "2019..2020",
        };
        let yaml = format!(
            "name: cat\nsites: {{file: sites.geojson, id: site_id}}\nyears: {years}\nlayers: [{{catalog: {name}}}]\n\
             export: {{to: gcs, bucket: my-bucket}}\n"
        );
        let (_f, pl) = planner(&yaml, &sites);
        let plan = pl.plan();
        assert_eq!(plan.tasks.len(), 1);
        assert_fits(&c, &plan.tasks[0].body, name);
        let text = plan.tasks[0].body.to_string();
        if let Some(asset) = &entry.asset {
            if name != "esa_worldcover" {
                assert!(text.contains(asset.as_str()), "{name}: asset not in the request");
            }
        }
        assert!(!text.contains("{{"), "{name}: unrendered placeholder in {text}");
    }
}

#[test]
fn esa_worldcover_reads_v100_for_2020_and_v200_for_2021() {
    let (_f, pl) = planner(
        "name: w\nsites: {file: sites.geojson, id: site_id}\nyears: [2020, 2021]\nlayers: [{catalog: esa_worldcover}]\nexport: {to: gcs, bucket: bb-b}\n",
        &sites_geojson(1, 4),
    );
    let text = pl.plan().tasks[0].body.to_string();
    assert!(text.contains("\"ESA/WorldCover/v100\"") && text.contains("\"ESA/WorldCover/v200\""), "{text}");
}

#[test]
fn dynamic_world_filters_whole_years_with_an_exclusive_end() {
    let (_f, pl) = planner(
        "name: w\nsites: {file: sites.geojson, id: site_id}\nyears: 2021\nlayers: [{catalog: dynamic_world}]\nexport: {to: gcs, bucket: bb-b}\n",
        &sites_geojson(1, 4),
    );
    let text = pl.plan().tasks[0].body.to_string();
    assert!(text.contains("\"2021-01-01\"") && text.contains("\"2022-01-01\""), "{text}");
    assert!(!text.contains("2021-12-31"));
}

/// Builds the captured official computation (two sites, MapBiomas 2020, `reduceRegions` with scale 30)
/// with geepipe's builder and compares it with the Python client's serialisation.
#[test]
fn expressions_match_the_official_client() {
    let sites = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"site_id": "a"}, "geometry": {"type": "Polygon", "coordinates":
            [[[-47.95, -15.80], [-47.90, -15.80], [-47.90, -15.75], [-47.95, -15.75], [-47.95, -15.80]]]}},
        {"type": "Feature", "properties": {"site_id": "b"}, "geometry": {"type": "Polygon", "coordinates":
            [[[-48.10, -15.90], [-48.05, -15.90], [-48.05, -15.85], [-48.10, -15.85], [-48.10, -15.90]]]}}]});
    let f = fixture(
        "name: cap\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: gcs, bucket: bb-b}\n",
        &sites.to_string(),
    );
    let p = pipeline(&f);
    let read = geepipe::sites::read_all(&p.sites).unwrap();
    for (file, reducer) in [
        ("expression_zonal_histogram.json", "Reducer.frequencyHistogram"),
        ("expression_zonal_mean.json", "Reducer.mean"),
    ] {
        let mut g = Graph::new();
        let feats: Vec<_> = read.iter().map(|s| site_feature(&mut g, &p, s)).collect();
        let arr = g.array(feats);
        let coll = g.call("Collection", vec![("features", arr)]);
        let id =
            g.str("projects/mapbiomas-public/assets/brazil/lulc/collection9/mapbiomas_collection90_integration_v1");
        let load = g.call("Image.load", vec![("id", id)]);
        let bands = g.strings(&["classification_2020"]);
        let image = g.call("Image.select", vec![("input", load), ("bandSelectors", bands)]);
        let r = g.call(reducer, vec![]);
        let scale = g.int(30);
        let root = g.call(
            "Image.reduceRegions",
            vec![("image", image), ("collection", coll), ("reducer", r), ("scale", scale)],
        );
        let ours = g.encode(root);
        let text = std::fs::read_to_string(reference_dir().join("captured").join(file)).unwrap();
        let mut official: Value = serde_json::from_str(&text).unwrap();
        // geepipe sends `geodesic: false` (GeoJSON's straight edges); the client does with `geodesic=False`.
        common::with_straight_edges(&mut official);
        assert_eq!(canonicalize(&ours), canonicalize(&official), "{file}");
        // Same keys in the same order, too.
        assert_eq!(serde_json::to_string(&ours).unwrap(), serde_json::to_string(&official).unwrap(), "{file}");
        assert!(contract().check_expression(&ours).is_empty());
    }
}

#[test]
fn categorical_and_continuous_years_reduce_in_one_call_per_layer() {
    let (_f, pl) = planner(
        "name: d\nsites: {file: sites.geojson, id: site_id}\nyears: 2010..2023\nlayers:\n  - catalog: mapbiomas_lulc\n  - catalog: modis_ndvi\n    stats: [mean, max]\nexport: {to: gcs, bucket: bb-b}\n",
        &sites_geojson(3, 6),
    );
    let plan = pl.plan();
    assert_eq!(plan.tasks.len(), 1);
    let text = plan.tasks[0].body.to_string();
    assert_eq!(text.matches("\"Image.reduceRegions\"").count(), 2, "one reduction per layer");
    assert_eq!(
        text.matches("\"Collection.map\"").count(),
        1 + 14,
        "one map over the results, plus MODIS's per-year band select"
    );
    assert_eq!(text.matches("\"Element.setMulti\"").count(), 1);
    assert!(text.contains("\"String.encodeJSON\"") && text.contains("\"Image.pixelArea\""));
    // Continuous outputs are named exactly as the column contract's columns.
    assert!(text.contains("\"modis_ndvi__2023__ndvi__max\""));
    // Each layer is reduced on its own grid: MapBiomas on its class band's, MODIS on the projection of the
    // year's first image (`setDefaultProjection`), so neither `scale` nor `crs` is sent.
    assert!(!text.contains("\"scale\""), "no scale: each layer's own grid");
    assert!(!text.contains("\"Projection\""), "no crs: each layer's own grid");
    assert_eq!(text.matches("\"Image.setDefaultProjection\"").count(), 14, "MODIS: one per year");
}

#[test]
fn reduce_settings_are_sent_where_the_algorithm_takes_them() {
    let (_f, pl) = planner(
        "name: r\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers: [{catalog: mapbiomas_lulc}]\n\
         reduce: {scale: 60, crs: 'EPSG:5880', tile_scale: 4, max_pixels: 10000000000, best_effort: true}\nexport: {to: gcs, bucket: bb-b}\n",
        &sites_geojson(1, 4),
    );
    let plan = pl.plan();
    let text = plan.tasks[0].body.to_string();
    for needle in [
        "\"maxPixelsPerRegion\":{\"constantValue\":10000000000}",
        "\"tileScale\":{\"constantValue\":4}",
        "\"scale\":{\"constantValue\":60}",
        "\"EPSG:5880\"",
    ] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
    assert!(!text.contains("bestEffort"));
    assert!(load_warnings(&_f).iter().any(|w| w.code == "plan::best-effort"));
    assert_fits(&contract(), &plan.tasks[0].body, "reduce settings");
}

#[test]
fn asset_sites_plan_one_task_and_split_by_ids_or_random_halves() {
    let c = contract();
    let f = fixture(
        "name: a\nsites: {asset: projects/p/assets/sites, id: site_id}\nyears: 2020..2021\nlayers: [{catalog: mapbiomas_lulc}, {catalog: srtm_elevation}]\nexport: {to: gcs, bucket: bb-b}\n",
        "",
    );
    let p = pipeline(&f);
    let pl = Planner::new(&p).unwrap();
    let plan = pl.plan();
    assert_eq!(plan.tasks.len(), 1);
    assert_eq!(plan.summary.sites, None);
    assert!(load_warnings(&f).iter().any(|w| w.code == "plan::asset-sites"), "warned when the pipeline is compiled");
    assert_fits(&c, &plan.tasks[0].body, "asset");
    assert!(plan.tasks[0].body.to_string().contains("\"Collection.loadTable\""));
    let half = pl.task("c00000b", &[], None).unwrap();
    assert_fits(&c, &half.body, "asset half");
    assert!(half.body.to_string().contains("\"geepipe_r\""));
    let by_ids = pl.task("c00000a", &["x1".into(), "x2".into()], None).unwrap();
    assert_fits(&c, &by_ids.body, "asset ids");
    assert!(by_ids.body.to_string().contains("\"Filter.listContains\""));
    // Evaluated with Earth Engine's semantics (the fake's table `f0`, `f1`, … keyed by `site_id`), the
    // chunk holds exactly the listed sites.
    let two = pl.task("c00000a", &["f1".into(), "f3".into(), "absent".into()], None).unwrap();
    let rows = fake_ee::eval::evaluate(&two.body["expression"], None).expect("evaluates").into_features().unwrap();
    let ids: Vec<String> = rows.iter().map(|f| f.get("site_id").unwrap().csv_text()).collect();
    assert_eq!(ids, ["f1", "f3"]);
}

#[test]
fn chunks_close_at_the_site_count() {
    let (_f, pl) = planner(
        "name: n\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: gcs, bucket: bb-b}\nchunks: {sites_per_task: 4}\n",
        &sites_geojson(10, 5),
    );
    let plan = pl.plan();
    let ids: Vec<&str> = plan.tasks.iter().map(|t| t.chunk_id.as_str()).collect();
    assert_eq!(ids, ["c00000", "c00001", "c00002"]);
    let sizes: Vec<usize> = plan.tasks.iter().map(|t| t.site_ids.len()).collect();
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(plan.tasks[2].site_ids, ["s00008", "s00009"]);
}

#[test]
fn chunks_close_early_at_the_byte_budget() {
    let budget = 60_000;
    let (_f, pl) = planner(
        &format!("name: n\nsites: {{file: sites.geojson, id: site_id}}\nyears: 2020\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: gcs, bucket: bb-b}}\nchunks: {{sites_per_task: 50, max_request_bytes: {budget}}}\n"),
        &sites_geojson(30, 300),
    );
    let plan = pl.plan();
    assert!(plan.tasks.len() > 1, "the budget should split 30 large sites");
    let mut all = Vec::new();
    for t in &plan.tasks {
        assert!(t.body_bytes <= budget, "{} has {} bytes", t.chunk_id, t.body_bytes);
        all.extend(t.site_ids.iter().cloned());
    }
    let want: Vec<String> = (0..30).map(|i| format!("s{i:05}")).collect();
    assert_eq!(all, want, "every site once, in file order");
    // A chunk is closed only when the next site would not fit.
    for w in plan.tasks.windows(2) {
        let mut ids = w[0].site_ids.clone();
        ids.push(w[1].site_ids[0].clone());
        let bigger = pl.task("probe", &ids, None).unwrap();
        assert!(bigger.body_bytes > budget, "{} could have taken one more site", w[0].chunk_id);
    }
}

#[test]
fn a_site_too_large_alone_is_a_located_error() {
    let mut big = sites_geojson(3, 6);
    // Make the second site huge.
    let mut v: Value = serde_json::from_str(&big).unwrap();
    let ring: Vec<[f64; 2]> = (0..3000)
        .map(|k| {
            let a = k as f64 / 3000.0 * std::f64::consts::TAU;
            [-47.5 + 0.01 * a.cos(), -15.5 + 0.01 * a.sin()]
        })
        .chain(std::iter::once([-47.49, -15.5]))
        .collect();
    let mut ring = ring;
    ring.push(ring[0]);
    v["features"][1]["geometry"]["coordinates"] = json!([ring]);
    big = serde_json::to_string_pretty(&v).unwrap();
    let f = fixture(
        "name: n\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: gcs, bucket: bb-b}\nchunks: {max_request_bytes: 20000}\n",
        &big,
    );
    let p = pipeline(&f);
    let errs = match Planner::new(&p) {
        Ok(_) => panic!("an oversized site must be refused"),
        Err(e) => e,
    };
    assert_eq!(errs.len(), 1, "{:?}", errs.iter().map(|d| &d.message).collect::<Vec<_>>());
    let d = &errs[0];
    assert_eq!(d.code, "plan::site-too-large");
    assert!(d.message.contains("s00001") && d.message.contains("bytes"), "{}", d.message);
    assert!(d.help.as_deref().unwrap().contains("simplify") && d.help.as_deref().unwrap().contains("asset"));
    let loc = d.location.as_ref().expect("located");
    assert!(loc.file.ends_with("sites.geojson"));
    let line_of_second = big.lines().position(|l| l.contains("\"s00001\"")).unwrap() + 1;
    assert!(loc.line > 1 && loc.line <= line_of_second, "{loc:?} vs property line {line_of_second}");
}

#[test]
fn split_halves_are_valid_requests_for_subsets() {
    let c = contract();
    let (_f, pl) = planner(
        "name: n\nsites: {file: sites.geojson, id: site_id}\nyears: 2020..2021\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: gcs, bucket: bb-b}\nchunks: {sites_per_task: 4}\n",
        &sites_geojson(4, 5),
    );
    let plan = pl.plan();
    let ids = &plan.tasks[0].site_ids;
    let a = pl.task("c00000a", &ids[..2], None).unwrap();
    let b = pl.task("c00000b", &ids[2..], None).unwrap();
    assert_fits(&c, &a.body, "a");
    assert_fits(&c, &b.body, "b");
    assert_eq!(a.body["description"], "n_c00000a");
    assert_ne!(a.request_id, b.request_id);
    assert_ne!(a.request_id, plan.tasks[0].request_id);
    assert!(pl.task("c00001", &["nope".into()], None).is_err());
    // The body the executor sends is the task's body as written; a planned chunk built again is the plan's.
    assert_eq!(pl.body("c00000a", &ids[..2], None).unwrap(), serde_json::to_vec(&a.body).unwrap());
    assert_eq!(pl.body("c00000", ids, None).unwrap(), serde_json::to_vec(&plan.tasks[0].body).unwrap());
    assert!(pl.body("c00001", &["nope".into()], None).is_err());
}

#[test]
fn plans_are_deterministic() {
    let yaml = "name: d\nsites: {file: sites.geojson, id: site_id, keep: [region]}\nyears: 2018..2020\nlayers: [{catalog: mapbiomas_lulc}, {catalog: s2_evi}, {catalog: hansen_treecover2000}]\nexport: {to: gcs, bucket: bb-b}\nchunks: {sites_per_task: 3}\n";
    let sites = sites_geojson(7, 9);
    let (_f1, p1) = planner(yaml, &sites);
    let (_f2, p2) = planner(yaml, &sites);
    let (a, b) = (p1.plan(), p2.plan());
    assert_eq!(a.tasks.len(), b.tasks.len());
    for (x, y) in a.tasks.iter().zip(&b.tasks) {
        assert_eq!(serde_json::to_vec(&x.body).unwrap(), serde_json::to_vec(&y.body).unwrap());
        assert_eq!(x.request_id, y.request_id);
    }
    // Planning again with the same planner rebuilds the same bodies.
    let again = p1.plan();
    assert_eq!(again.summary, a.summary);
    for (x, y) in a.tasks.iter().zip(&again.tasks) {
        assert_eq!(serde_json::to_vec(&x.body).unwrap(), serde_json::to_vec(&y.body).unwrap());
    }
    // A changed site file changes the request ids (the content hash covers the sites).
    let (_f3, p3) = planner(yaml, &sites_geojson(7, 10));
    assert_ne!(p3.plan().tasks[0].request_id, a.tasks[0].request_id);
}

#[test]
fn static_layers_reduce_once_and_fill_every_year() {
    let (_f, pl) = planner(
        "name: s\nsites: {file: sites.geojson, id: site_id}\nyears: 2015..2020\nlayers: [{catalog: srtm_elevation}]\nexport: {to: gcs, bucket: bb-b}\n",
        &sites_geojson(2, 4),
    );
    let plan = pl.plan();
    let text = plan.tasks[0].body.to_string();
    assert_eq!(text.matches("\"USGS/SRTMGL1_003\"").count(), 1);
    assert!(text.contains("\"srtm_elevation__2015__elevation__mean\""));
    assert!(text.contains("\"srtm_elevation__2020__elevation__max\""));
    assert_eq!(plan.columns.len(), 1 + 6 * 3);
}

#[test]
fn years_before_a_sites_first_year_are_not_reduced() {
    // Sites 1 and 3 were planted in 2021 (one written as text), site 2 in 2015 (before the pipeline's years:
    // every year is reported).
    let mut sites: Value = serde_json::from_str(&sites_geojson(4, 6)).unwrap();
    for (i, planted) in [(1, json!(2021)), (2, json!(2015)), (3, json!("2021"))] {
        sites["features"][i]["properties"]["planted"] = planted;
    }
    let (_f, pl) = planner(
        "name: fy\nsites: {file: sites.geojson, id: site_id, first_year: planted}\nyears: 2020..2021\n\
         layers:\n  - catalog: mapbiomas_lulc\n  - catalog: modis_ndvi\n    stats: [mean]\n  - catalog: srtm_elevation\n    stats: [mean]\n\
         export: {to: gcs, bucket: bb-b}\n",
        &sites.to_string(),
    );
    let plan = pl.plan();
    assert_eq!(plan.tasks.len(), 1);
    let body = &plan.tasks[0].body;
    assert_fits(&contract(), body, "first years");
    let text = body.to_string();
    // Two groups (every year; from 2021), three layers each, joined once.
    assert_eq!(text.matches("\"Image.reduceRegions\"").count(), 6, "{text}");
    assert_eq!(text.matches("\"Collection.merge\"").count(), 1);
    // Evaluated with Earth Engine's semantics by the fake: the planted sites carry no 2020 reduction (an
    // empty class dictionary, no statistic) and everything from 2021; the others every year.
    let rows = fake_ee::eval::evaluate(&body["expression"], None).expect("evaluates").into_features().unwrap();
    let cell = |site: &str, col: &str| {
        let f = rows.iter().find(|f| f.get("site_id").map(|v| v.csv_text()).as_deref() == Some(site)).unwrap();
        f.get(col).map(|v| v.csv_text()).unwrap_or_default()
    };
    for site in ["s00000", "s00001", "s00002", "s00003"] {
        let planted = site == "s00001" || site == "s00003";
        let lulc = cell(site, "mapbiomas_lulc__2020__ha");
        let ndvi = cell(site, "modis_ndvi__2020__ndvi__mean");
        if planted {
            assert_eq!((lulc.as_str(), ndvi.as_str()), ("{}", ""), "{site}: 2020 not reduced");
        } else {
            assert!(lulc.len() > 2 && !ndvi.is_empty(), "{site}: 2020 reduced: {lulc} {ndvi}");
        }
        assert!(cell(site, "mapbiomas_lulc__2021__ha").len() > 2, "{site}: 2021 reduced");
        assert!(!cell(site, "modis_ndvi__2021__ndvi__mean").is_empty(), "{site}: 2021 reduced");
        for year in [2020, 2021] {
            assert!(!cell(site, &format!("srtm_elevation__{year}__elevation__mean")).is_empty(), "{site}: static");
        }
    }
}

#[test]
fn asset_sites_export_their_first_year_column() {
    let yaml = "name: a\nsites: {asset: projects/p/assets/sites, id: site_id, keep: [owner], first_year: planted}\n\
                years: 2020..2021\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: gcs, bucket: bb-b}\n";
    let f = fixture(yaml, "");
    let p = pipeline(&f);
    let plan = Planner::new(&p).unwrap().plan();
    let selectors: Vec<&str> =
        plan.tasks[0].body["selectors"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(&selectors[..3], ["site_id", "owner", "planted"], "{selectors:?}");
    // Without `first_year` there is no such column.
    let f = fixture(&yaml.replace(", first_year: planted", ""), "");
    let plan = Planner::new(&pipeline(&f)).unwrap().plan();
    assert!(!plan.tasks[0].body["selectors"].to_string().contains("planted"));
}
