//! Site files in every format geepipe reads, written by GDAL itself (pyogrio) and GeoPandas from one
//! GeoJSON (`tests/support_formats/write_sites.py`): a Shapefile in UTM 23S, a GeoPackage in Web Mercator,
//! a FlatGeobuf in SIRGAS 2000, GeoParquet 1.1 and 1.0 in SIRGAS 2000 / UTM 23S, and GeoJSONSeq. They plan
//! to the same Earth Engine request bodies as the GeoJSON (coordinates within 1e-7°, everything else
//! equal) and validate with the same diagnostics for the same mistakes. Parquet tables written by the local
//! engine are read back with pyarrow and DuckDB (`read_tables.py`) and hold what the CSV holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo_root, test_venv};
use serde_json::{json, Value};

/// The formats written from the GeoJSON, by file name.
const FORMATS: &[&str] =
    &["sites.shp", "sites.gpkg", "sites.fgb", "sites.parquet", "sites-1.0.parquet", "sites.geojsonl"];

/// A square ring (counter-clockwise, RFC 7946) of side `d` degrees at `(x, y)`.
fn square(x: f64, y: f64, d: f64) -> Value {
    json!([[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]])
}

/// Sites near Brasília (UTM zone 23S): polygons a few hundred metres wide, one with a hole, two
/// MultiPolygons, names with accents, integer years.
fn site_features() -> Vec<Value> {
    (0..8)
        .map(|i| {
            let (x, y, d) = (-47.95 + 0.011 * i as f64, -15.8 + 0.0073 * i as f64, 0.0031 + 0.0002 * i as f64);
            let geometry = match i {
                2 => json!({"type": "Polygon", "coordinates": [square(x, y, d),
                    [[x + 0.001, y + 0.001], [x + 0.001, y + 0.002], [x + 0.002, y + 0.002], [x + 0.002, y + 0.001], [x + 0.001, y + 0.001]]]}),
                4 | 7 => json!({"type": "MultiPolygon", "coordinates": [[square(x, y, d)], [square(x + 0.005, y, 0.0021)]]}),
                _ => json!({"type": "Polygon", "coordinates": [square(x, y, d)]}),
            };
            let name = if i == 1 { "São João d'Aliança".to_string() } else { format!("Fazenda {i}") };
            json!({"type": "Feature", "properties": {"site_id": format!("s{i}"), "name": name, "planted": 2010 + i},
                   "geometry": geometry})
        })
        .collect()
}

fn collection(features: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({"type": "FeatureCollection", "features": features})).unwrap()
}

/// Writes `src.geojson` and every other format beside it into `dir`.
fn write_formats(dir: &Path, geojson: &str) {
    std::fs::write(dir.join("src.geojson"), geojson).unwrap();
    let venv = test_venv();
    let status = Command::new(venv.join("python"))
        .arg(repo_root().join("tests/support_formats/write_sites.py"))
        .arg("src.geojson")
        .arg(".")
        .current_dir(dir)
        .status()
        .expect("run write_sites.py");
    assert!(status.success(), "write_sites.py failed");
    for f in FORMATS {
        assert!(dir.join(f).is_file(), "{f} was not written");
    }
}

/// A pipeline reading `file`, written beside it; returns its path (in `dir`). The CLI is run inside `dir`
/// with the file name only, so messages show `sites.shp`, not a temporary folder.
fn pipeline(dir: &Path, file: &str) -> PathBuf {
    let path = dir.join(format!("p-{}.yaml", file.replace('.', "-")));
    let text = format!(
        "name: formats\nproject: test-project\nsites: {{file: {file}, id: site_id, keep: [name], first_year: planted}}\n\
         years: 2015..2016\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: drive, folder: g}}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs geepipe in `dir`; arguments that are paths inside `dir` are passed relative to it.
fn geepipe(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args
        .iter()
        .map(|a| Path::new(a).strip_prefix(dir).map(|r| r.display().to_string()).unwrap_or_else(|_| a.to_string()))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_geepipe"))
        .args(&args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .expect("run geepipe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Rendered diagnostics as one line: wrapped message and help lines joined, so a test can look for a
/// phrase wherever the terminal width broke it.
fn flat(text: &str) -> String {
    text.lines().map(|l| l.trim().trim_start_matches('│').trim()).collect::<Vec<_>>().join(" ")
}

fn flat3((code, stdout, stderr): (i32, String, String)) -> (i32, String, String) {
    (code, stdout, flat(&stderr))
}

/// Compares two JSON values: numbers within `tol`, everything else equal; returns the largest number
/// difference, or the first place they differ otherwise.
fn compare(a: &Value, b: &Value, tol: f64, path: &str) -> Result<f64, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let d = (x.as_f64().unwrap() - y.as_f64().unwrap()).abs();
            if d <= tol {
                Ok(d)
            } else {
                Err(format!("{path}: {x} vs {y}"))
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            let mut worst: f64 = 0.0;
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                worst = worst.max(compare(p, q, tol, &format!("{path}[{i}]"))?);
            }
            Ok(worst)
        }
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            let mut worst: f64 = 0.0;
            for (k, p) in x {
                let q = y.get(k).ok_or_else(|| format!("{path}/{k}: missing"))?;
                worst = worst.max(compare(p, q, tol, &format!("{path}/{k}"))?);
            }
            Ok(worst)
        }
        _ if a == b => Ok(0.0),
        _ => Err(format!("{path}: {} vs {}", shorten(a), shorten(b))),
    }
}

fn shorten(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(120).collect()
}

/// The request bodies `geepipe plan --out` writes for a pipeline, by chunk file name.
fn plan_bodies(dir: &Path, pipeline: &Path) -> Vec<(String, Value)> {
    let out = dir.join(format!("plan-{}", pipeline.file_stem().unwrap().to_string_lossy()));
    let (code, stdout, stderr) = geepipe(dir, &["plan", "--out", out.to_str().unwrap(), pipeline.to_str().unwrap()]);
    assert_eq!(code, 0, "plan {}:\n{stdout}\n{stderr}", pipeline.display());
    let mut bodies: Vec<(String, Value)> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "plan.json")
        .map(|p| {
            let body: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), body)
        })
        .collect();
    bodies.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!bodies.is_empty());
    bodies
}

#[test]
fn the_same_sites_in_every_format_plan_the_same_requests() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_formats(dir, &collection(site_features()));
    // The files hold what their formats say: projected metres where the CRS is projected.
    let prj = std::fs::read_to_string(dir.join("sites.prj")).unwrap();
    assert!(prj.contains("UTM_Zone_23S"), "{prj}");
    let reference = plan_bodies(dir, &pipeline(dir, "src.geojson"));
    for file in FORMATS {
        let p = pipeline(dir, file);
        let (code, _, stderr) = geepipe(dir, &["validate", p.to_str().unwrap()]);
        assert_eq!(code, 0, "validate {file}:\n{stderr}");
        assert!(!stderr.contains("warning"), "{file}: {stderr}");
        let bodies = plan_bodies(dir, &p);
        assert_eq!(bodies.len(), reference.len(), "{file}");
        for ((name, want), (_, got)) in reference.iter().zip(&bodies) {
            // The request id carries the pipeline's content hash, which covers the site file's bytes.
            let worst =
                compare(&want["expression"], &got["expression"], 1e-7, name).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(worst <= 1e-7, "{file}: {worst}");
            assert_eq!(want["fileFormat"], got["fileFormat"], "{file}");
        }
    }
}

/// One diagnostic as the comparison sees it: code, severity, message.
fn summary(d: &geepipe::diag::Diagnostic) -> (String, bool, String) {
    (d.code.to_string(), d.is_error(), d.message.clone())
}

#[test]
fn the_same_mistakes_give_the_same_diagnostics_in_every_format() {
    let mut features = site_features();
    // A duplicate id, a missing (null) id and a ring that crosses itself.
    features[5]["properties"]["site_id"] = json!("s3");
    features[4]["properties"]["site_id"] = Value::Null;
    let (x, y) = (-47.95 + 0.011 * 6.0, -15.8 + 0.0073 * 6.0);
    features[6]["geometry"] = json!({"type": "Polygon", "coordinates": [[[x, y], [x + 0.003, y + 0.003], [x + 0.003, y],
        [x, y + 0.002], [x, y]]]});
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_formats(dir, &collection(features));
    let diagnostics = |file: &str| {
        let (p, warnings) = geepipe::pipeline::load(&pipeline(dir, file), &Default::default()).unwrap();
        assert!(warnings.is_empty(), "{file}: {warnings:?}");
        geepipe::sites::validate(&p.sites)
    };
    let reference = diagnostics("src.geojson");
    let want: Vec<_> = reference.iter().map(summary).collect();
    let codes: Vec<&str> = want.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(codes, ["sites::bad-id", "sites::duplicate-id", "sites::self-intersection"], "{want:#?}");
    assert_eq!(want[0].2, "the `site_id` of features[4] is null");
    assert_eq!(want[1].2, "site id `s3` is used twice");
    assert_eq!(want[2].2, "the outer ring of site `s6` (features[6]) crosses itself");
    for file in FORMATS {
        let got = diagnostics(file);
        assert_eq!(got.iter().map(summary).collect::<Vec<_>>(), want, "{file}");
        if *file == "sites.geojsonl" {
            // GeoJSONSeq is text: lines and columns, like GeoJSON.
            assert!(got.iter().all(|d| d.location.as_ref().is_some_and(|l| l.line > 0)), "{got:?}");
            continue;
        }
        // The binary formats name the feature and the field.
        let places: Vec<String> =
            got.iter().map(|d| d.location.as_ref().and_then(|l| l.record.clone()).unwrap_or_default()).collect();
        assert!(places[0].starts_with("feature 4") && places[0].contains("field `site_id`: not an id"), "{places:?}");
        assert!(places[1].starts_with("feature 5") && places[1].ends_with("features[5] repeats it"), "{places:?}");
        assert!(got[1].notes[0].starts_with("feature 3") && got[1].notes[0].ends_with("first used here"));
        assert!(places[2].starts_with("feature 6") && places[2].contains("geometry coordinates[0]"), "{places:?}");
    }
    // As users see it: the file, the feature and the field, and what to do.
    let (code, _, stderr) = geepipe(dir, &["validate", pipeline(dir, "sites.shp").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("——▶ sites.shp, feature 4, field `site_id`: not an id"), "{stderr}");
    assert!(stderr.contains("——▶ sites.shp, feature 3, field `site_id`: first used here"), "{stderr}");
    let gpkg = geepipe(dir, &["validate", pipeline(dir, "sites.gpkg").to_str().unwrap()]).2;
    assert!(gpkg.contains("——▶ sites.gpkg, feature 4 (fid 5), field `site_id`: not an id"), "{gpkg}");
}

#[test]
fn a_wrong_id_field_is_named_with_the_closest_field() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_formats(dir, &collection(site_features()));
    for file in FORMATS.iter().filter(|f| !f.ends_with(".geojsonl")) {
        let p = pipeline(dir, file);
        let text = std::fs::read_to_string(&p).unwrap().replace("id: site_id", "id: site_ID");
        std::fs::write(&p, text).unwrap();
        let (code, _, stderr) = geepipe(dir, &["validate", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(stderr.contains(&format!("× `{file}` has no `site_ID` field")), "{file}: {stderr}");
        assert!(stderr.contains("did you mean `site_id`? set `sites.id: site_id`"), "{file}: {stderr}");
    }
}

#[test]
fn declared_coordinate_systems_geepipe_cannot_use_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_formats(dir, &collection(site_features()));
    // A .prj in a datum without a known shift to WGS 84 (SAD69's ellipsoid, no TOWGS84).
    let prj = std::fs::read_to_string(dir.join("sites.prj")).unwrap();
    let sad69 = prj
        .replace("GCS_WGS_1984", "GCS_South_American_1969")
        .replace("D_WGS_1984", "D_South_American_1969")
        .replace("SPHEROID[\"WGS_1984\",6378137.0,298.257223563]", "SPHEROID[\"GRS_1967_Truncated\",6378160.0,298.25]");
    assert_ne!(sad69, prj);
    std::fs::write(dir.join("sites.prj"), &sad69).unwrap();
    let p = pipeline(dir, "sites.shp");
    let (code, _, stderr) = flat3(geepipe(dir, &["validate", p.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("sites::crs"), "{stderr}");
    assert!(stderr.contains("——▶ sites.shp, sites.prj"), "{stderr}");
    assert!(stderr.contains("has no shift to WGS 84"), "{stderr}");
    assert!(stderr.contains("declare the CRS by its EPSG code"), "{stderr}");
    // `sites.crs` replaces it, with a warning, and the sites are found where they are.
    let text =
        std::fs::read_to_string(&p).unwrap().replace("first_year: planted}", "first_year: planted, crs: EPSG:32723}");
    std::fs::write(&p, text).unwrap();
    let (code, _, stderr) = flat3(geepipe(dir, &["validate", p.to_str().unwrap()]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("sites::crs-override"), "{stderr}");
    // No .prj at all: UTM metres read as degrees are out of range, and the help says what to do.
    std::fs::remove_file(dir.join("sites.prj")).unwrap();
    let plain = pipeline(dir, "sites.shp");
    let (code, _, stderr) = flat3(geepipe(dir, &["validate", plain.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("sites::coordinate-range"), "{stderr}");
    assert!(stderr.contains("declares no coordinate system (no .prj beside the .shp)"), "{stderr}");
    // An unknown EPSG code in a GeoJSON's legacy `crs` is located in the file.
    let legacy = collection(site_features()).replacen(
        "\"features\"",
        "\"crs\": {\"type\": \"name\", \"properties\": {\"name\": \"urn:ogc:def:crs:EPSG::99999\"}},\n  \"features\"",
        1,
    );
    std::fs::write(dir.join("legacy.geojson"), legacy).unwrap();
    let (code, _, stderr) = flat3(geepipe(dir, &["validate", pipeline(dir, "legacy.geojson").to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("EPSG:99999 is not a coordinate reference system geepipe knows"), "{stderr}");
    assert!(stderr.contains("legacy.geojson:3:"), "{stderr}");
}

#[test]
fn geojson_with_a_legacy_crs_is_converted() {
    // GDAL writes a GeoJSON in Web Mercator with the 2008 `crs` member; it plans like the lon/lat one.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_formats(dir, &collection(site_features()));
    let venv = test_venv();
    let script = "import geopandas, sys; g = geopandas.read_file('src.geojson'); \
                  g.to_crs('EPSG:3857').to_file('mercator.geojson', engine='pyogrio', driver='GeoJSON', promote_to_multi=False)";
    let status = Command::new(venv.join("python")).args(["-c", script]).current_dir(dir).status().unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(dir.join("mercator.geojson")).unwrap();
    assert!(text.contains("\"crs\"") && text.contains("3857"), "{}", &text[..300.min(text.len())]);
    let want = plan_bodies(dir, &pipeline(dir, "src.geojson"));
    let got = plan_bodies(dir, &pipeline(dir, "mercator.geojson"));
    for ((name, a), (_, b)) in want.iter().zip(&got) {
        compare(&a["expression"], &b["expression"], 1e-7, name).unwrap();
    }
}

/// Runs the offline demo with the local engine into `out`, with the given output settings.
fn run_demo(dir: &Path, name: &str, output: &str) -> PathBuf {
    let demo = repo_root().join("demo");
    let text = format!(
        "name: {name}\nengine: local\nsites: {{file: {d}/sites.geojson, id: site_id, keep: [name, planted], first_year: planted}}\n\
         years: 2020..2022\nlayers: [{{catalog: mapbiomas_lulc, local: '{d}/lulc_{{{{year}}}}.tif'}}]\n\
         export: {{to: local, folder: out}}\noutput: {output}\n",
        d = demo.display()
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    let (code, stdout, stderr) = geepipe(dir, &["run", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{name}:\n{stdout}\n{stderr}");
    p
}

fn read_tables(dir: &Path, csv: &str, parquet: &str, geometry: &str) -> Value {
    let venv = test_venv();
    let out = Command::new(venv.join("python"))
        .arg(repo_root().join("tests/support_formats/read_tables.py"))
        .args([csv, parquet, &repo_root().join("demo/sites.geojson").to_string_lossy(), geometry])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "read_tables.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn parquet_tables_hold_what_the_csv_holds_for_pyarrow_and_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    for layout in ["long", "wide"] {
        run_demo(dir, &format!("csv-{layout}"), &format!("{{path: out/{layout}.csv, layout: {layout}}}"));
        for geometry in ["none", "centroid", "polygon"] {
            let name = format!("pq-{layout}-{geometry}");
            run_demo(
                dir,
                &name,
                &format!("{{path: out/{name}.parquet, format: parquet, layout: {layout}, geometry: {geometry}}}"),
            );
            let r = read_tables(dir, &format!("out/{layout}.csv"), &format!("out/{name}.parquet"), geometry);
            let rows = r["csv_rows"].as_u64().unwrap();
            assert!(rows >= 6, "{name}: {r}");
            assert_eq!(r["rows"], rows, "{name}: {r}");
            assert_eq!(r["duckdb_rows"], rows, "{name}: {r}");
            assert_eq!(r["pyarrow_mismatches"], json!([]), "{name}: {r}");
            assert_eq!(r["duckdb_mismatches"], json!([]), "{name}: {r}");
            // Real types, not text.
            let types = &r["types"];
            assert_eq!(types["site_id"], "string", "{name}: {r}");
            assert_eq!(types["name"], "string", "{name}: {r}");
            assert_eq!(types["planted"], "int64", "{name}: {r}");
            assert_eq!(r["duckdb_types"]["planted"], "BIGINT", "{name}: {r}");
            if layout == "long" {
                assert_eq!(types["year"], "int32", "{name}: {r}");
                assert_eq!(types["class_code"], "int64", "{name}: {r}");
                assert_eq!(types["area_ha"], "double", "{name}: {r}");
                assert_eq!(r["duckdb_types"]["area_ha"], "DOUBLE", "{name}: {r}");
                assert_eq!(r["duckdb_types"]["year"], "INTEGER", "{name}: {r}");
            } else {
                let ha =
                    r["columns"].as_array().unwrap().iter().find(|c| c.as_str().unwrap().ends_with("__ha")).unwrap();
                assert_eq!(types[ha.as_str().unwrap()], "double", "{name}: {r}");
            }
            // The run's key facts, for both readers.
            for meta in [&r["metadata"], &r["file_metadata"], &r["duckdb_metadata"]] {
                assert_eq!(meta["geepipe:pipeline"], name, "{r}");
                assert_eq!(meta["geepipe:engine"], "local", "{r}");
                assert_eq!(meta["geepipe:layout"], layout, "{r}");
                assert_eq!(meta["geepipe:version"], env!("CARGO_PKG_VERSION"), "{r}");
                assert_eq!(meta["geepipe:catalog_version"], geepipe::catalog::VERSION, "{r}");
                assert_eq!(meta["geepipe:pipeline_hash"].as_str().map(str::len), Some(64), "{r}");
            }
            let manifest: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(format!("out/{name}.manifest.json"))).unwrap())
                    .unwrap();
            assert_eq!(manifest["pipeline"]["content_hash"], r["metadata"]["geepipe:pipeline_hash"]);
            assert_eq!(manifest["table"]["format"], "parquet");
            match geometry {
                "none" => {
                    assert!(r["geo"].is_null(), "{name}: {r}");
                    assert!(!r["columns"].as_array().unwrap().contains(&json!("geometry")));
                }
                _ => {
                    assert_eq!(r["geo"]["primary_column"], "geometry", "{name}: {r}");
                    assert_eq!(r["geo"]["columns"]["geometry"]["encoding"], "WKB", "{name}: {r}");
                    assert!(
                        r["geopandas_crs"].as_str().is_some_and(|c| c.contains("CRS84") || c.contains("4326")),
                        "{r}"
                    );
                    let worst = r["geometry_worst"].as_f64().unwrap();
                    let tol = if geometry == "centroid" { 1e-9 } else { 0.0 };
                    assert!(worst <= tol, "{name}: geometries differ by {worst}");
                    let want =
                        if geometry == "centroid" { json!(["Point"]) } else { json!(["MultiPolygon", "Polygon"]) };
                    assert_eq!(r["geometry_types"], want, "{name}: {r}");
                }
            }
        }
    }
}

#[test]
fn layers_missing_side_files_and_damaged_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_formats(dir, &collection(site_features()));
    let venv = test_venv();
    // A second layer in the GeoPackage, and a GeoParquet in GeoArrow's native encoding.
    let script = "import geopandas; g = geopandas.read_file('src.geojson'); \
                  g.to_file('sites.gpkg', engine='pyogrio', driver='GPKG', layer='plots', promote_to_multi=False); \
                  g.to_parquet('native.parquet', geometry_encoding='geoarrow')";
    let status = Command::new(venv.join("python")).args(["-c", script]).current_dir(dir).status().unwrap();
    assert!(status.success());
    let validate = |p: &Path| flat3(geepipe(dir, &["validate", p.to_str().unwrap()]));
    let gpkg = pipeline(dir, "sites.gpkg");
    let (code, _, stderr) = validate(&gpkg);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`sites.gpkg` has 2 layers; which one holds the sites?"), "{stderr}");
    assert!(stderr.contains("set `sites.layer` to one of `plots`, `sites`"), "{stderr}");
    let text = std::fs::read_to_string(&gpkg).unwrap();
    std::fs::write(&gpkg, text.replace("first_year: planted}", "first_year: planted, layer: site}")).unwrap();
    let (code, _, stderr) = validate(&gpkg);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no layer `site`") && stderr.contains("did you mean `sites`?"), "{stderr}");
    std::fs::write(&gpkg, text.replace("first_year: planted}", "first_year: planted, layer: sites}")).unwrap();
    assert_eq!(validate(&gpkg).0, 0);
    // `layer` is for GeoPackages only.
    let shp = pipeline(dir, "sites.shp");
    let text = std::fs::read_to_string(&shp).unwrap();
    std::fs::write(&shp, text.replace("first_year: planted}", "first_year: planted, layer: sites}")).unwrap();
    let (code, _, stderr) = validate(&shp);
    assert_eq!(code, 2);
    assert!(stderr.contains("`layer` is only for GeoPackage site files"), "{stderr}");
    let (code, _, stderr) = validate(&pipeline(dir, "native.parquet"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is encoded as `"), "{stderr}");
    assert!(stderr.contains("geepipe reads WKB"), "{stderr}");
    // A shapefile without its attribute table.
    std::fs::rename(dir.join("sites.dbf"), dir.join("kept.dbf")).unwrap();
    let (code, _, stderr) = validate(&pipeline(dir, "sites.shp"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no `sites.dbf` beside it"), "{stderr}");
    std::fs::rename(dir.join("kept.dbf"), dir.join("sites.dbf")).unwrap();
    // Truncated and scribbled-over files: a located read error (exit 2), never a crash.
    for file in ["sites.shp", "sites.dbf", "sites.gpkg", "sites.fgb", "sites.parquet"] {
        let path = dir.join(file);
        let original = std::fs::read(&path).unwrap();
        let site_file = if file == "sites.dbf" { "sites.shp" } else { file };
        let mut damaged: Vec<Vec<u8>> =
            vec![original[..original.len() / 2].to_vec(), original[..original.len() - 7].to_vec()];
        for at in [8usize, 30, 100, original.len() / 3, original.len() * 2 / 3] {
            let mut bytes = original.clone();
            for b in bytes.iter_mut().skip(at.min(original.len() - 1)).take(16) {
                *b = 0xFF;
            }
            damaged.push(bytes);
        }
        for (i, bytes) in damaged.iter().enumerate() {
            std::fs::write(&path, bytes).unwrap();
            let (code, stdout, stderr) = validate(&pipeline(dir, site_file));
            assert!(code == 0 || code == 2, "{file} damage {i}: exit {code}\n{stdout}\n{stderr}");
            assert!(!stderr.contains("panicked"), "{file} damage {i}: {stderr}");
        }
        std::fs::write(&path, &original).unwrap();
    }
}

/// Sites as `read_all` gives them: id, kept `name`, and every coordinate.
fn read_sites(dir: &Path, pipeline: &Path) -> Vec<(String, Value, Vec<geepipe::sites::Polygon>)> {
    let (p, warnings) = geepipe::pipeline::load(pipeline, &Default::default()).unwrap();
    assert!(warnings.is_empty(), "{}: {warnings:?}", dir.display());
    let sites = geepipe::sites::read_all(&p.sites).unwrap_or_else(|d| panic!("{}: {d:?}", pipeline.display()));
    sites.into_iter().map(|s| (s.id, s.properties["name"].clone(), s.polygons)).collect()
}

#[test]
fn format_overrides_the_extension_and_shapefile_code_pages_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_formats(dir, &collection(site_features()));
    let reference = read_sites(dir, &pipeline(dir, "src.geojson"));
    assert_eq!(reference[1].1, json!("São João d'Aliança"));
    // Files whose extension does not tell: `sites.format` says what they are.
    for (from, to, format) in [
        ("sites.geojsonl", "sites.txt", "geojsonseq"),
        ("sites.gpkg", "sites.db", "geopackage"),
        ("sites.fgb", "sites.bin", "flatgeobuf"),
        ("sites.parquet", "sites.pq", "geoparquet"),
        ("sites.shp", "plots.dat", "shapefile"),
        ("src.geojson", "src.data", "geojson"),
    ] {
        if format == "shapefile" {
            for ext in ["shx", "dbf", "prj", "cpg"] {
                std::fs::copy(dir.join(format!("sites.{ext}")), dir.join(format!("plots.{ext}"))).unwrap();
            }
        }
        std::fs::copy(dir.join(from), dir.join(to)).unwrap();
        let p = pipeline(dir, to);
        // Unknown extensions are read as GeoJSON; a file whose first bytes show another format is an error
        // saying which, at `sites.file`.
        let (code, _, stderr) = flat3(geepipe(dir, &["validate", p.to_str().unwrap()]));
        if format == "geojson" {
            assert_eq!(code, 0, "{to}: {stderr}");
        } else {
            assert_eq!(code, 2, "{to} without `format`: {stderr}");
            assert!(stderr.contains(&format!("× `{to}` looks like a ")), "{to}: {stderr}");
            assert!(stderr.contains(&format!("set `sites.format: {format}`")), "{to}: {stderr}");
            assert!(!stderr.contains("sites::json"), "{to}: {stderr}");
        }
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace("first_year: planted}", &format!("first_year: planted, format: {format}}}")))
            .unwrap();
        let (code, _, stderr) = geepipe(dir, &["validate", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{to} as {format}: {stderr}");
        let got = read_sites(dir, &p);
        assert_eq!(got.len(), reference.len(), "{to}");
        for (g, r) in got.iter().zip(&reference) {
            assert_eq!((&g.0, &g.1), (&r.0, &r.1), "{to}");
            assert_eq!(g.2.len(), r.2.len(), "{to}: {}", g.0);
        }
    }
    // A shapefile whose attributes GDAL wrote in Windows-1252, saying so in its `.cpg`.
    let venv = test_venv();
    let script = "import geopandas; g = geopandas.read_file('src.geojson'); \
                  g.to_file('latin.shp', engine='pyogrio', driver='ESRI Shapefile', encoding='cp1252')";
    let status = Command::new(venv.join("python")).args(["-c", script]).current_dir(dir).status().unwrap();
    assert!(status.success());
    let cpg = std::fs::read_to_string(dir.join("latin.cpg")).unwrap();
    assert!(cpg.contains("1252"), "{cpg}");
    let dbf = std::fs::read(dir.join("latin.dbf")).unwrap();
    assert!(dbf.windows(3).any(|w| w == b"S\xe3o"), "the .dbf is not in Windows-1252");
    let got = read_sites(dir, &pipeline(dir, "latin.shp"));
    let names: Vec<&Value> = got.iter().map(|s| &s.1).collect();
    let want: Vec<&Value> = reference.iter().map(|s| &s.1).collect();
    assert_eq!(names, want);
}
