//! `geepipe report` without a browser: its errors (no table, a table of another pipeline, a broken row)
//! leave no file behind and say where; `--compare` finds the sites that differ by what was changed; wide
//! and long tables give the same report numbers; Parquet tables (written by `geepipe run`, or by pyarrow
//! and pandas with other column types) give the same page as the CSV of the same rows.

mod common;

use std::path::Path;
use std::process::Command;

use common::{repo_root, test_venv, Test};

const SITES: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"site_id":"a","name":"Alpha"},"geometry":{"type":"Polygon","coordinates":[[[-48,-15],[-47.99,-15],[-47.99,-14.99],[-48,-14.99],[-48,-15]]]}},
{"type":"Feature","properties":{"site_id":"b","name":"Beta"},"geometry":{"type":"Polygon","coordinates":[[[-47.9,-15],[-47.89,-15],[-47.89,-14.99],[-47.9,-14.99],[-47.9,-15]]]}}
]}"#;

const PIPELINE: &str = "\
name: cmp
engine: local
sites: {file: sites.geojson, id: site_id, keep: [name]}
years: 2020..2021
layers:
  - catalog: mapbiomas_lulc
    local: lulc_{{year}}.tif
export: {to: local, folder: out}
output: {path: out/table.csv}
";

const TABLE: &str = "\
site_id,name,layer,year,kind,class_code,class_name,area_ha,pixels,band,stat,value
a,Alpha,mapbiomas_lulc,2020,categorical,3,Forest Formation,10,100,,,
a,Alpha,mapbiomas_lulc,2021,categorical,3,Forest Formation,6,60,,,
a,Alpha,mapbiomas_lulc,2021,categorical,15,Pasture,4,40,,,
b,Beta,mapbiomas_lulc,2020,categorical,15,Pasture,5,50,,,
b,Beta,mapbiomas_lulc,2021,categorical,15,Pasture,5,50,,,
";

fn setup() -> Test {
    Test::new().file("sites.geojson", SITES).file("p.yaml", PIPELINE).file("out/table.csv", TABLE)
}

#[test]
fn a_missing_table_is_an_input_error_and_writes_nothing() {
    let t = Test::new().file("sites.geojson", SITES).file("p.yaml", PIPELINE).args(["report", "p.yaml"]);
    let out = t.code(2);
    assert!(out.stderr.contains("no table at") && out.stderr.contains("geepipe run p.yaml"), "{}", out.stderr);
    assert!(!t.path().join("out").exists());
}

#[test]
fn a_table_of_another_pipeline_names_the_line_and_writes_nothing() {
    let bad = TABLE.replace("b,Beta,mapbiomas_lulc,2021", "b,Beta,mapbiomas_lulcc,2021");
    let t = setup().file("out/table.csv", &bad).args(["report", "p.yaml"]);
    let out = t.code(2);
    assert!(out.stderr.contains("out/table.csv:6: layer `mapbiomas_lulcc` is not in the pipeline"), "{}", out.stderr);
    assert!(out.stderr.contains("did you mean `mapbiomas_lulc`"), "{}", out.stderr);
    let files: Vec<_> = std::fs::read_dir(t.path().join("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, vec![std::ffi::OsString::from("table.csv")], "no report and no temporary file");
}

#[test]
fn a_year_outside_the_pipeline_is_refused() {
    let bad = TABLE.replace("a,Alpha,mapbiomas_lulc,2020", "a,Alpha,mapbiomas_lulc,2019");
    let out = setup().file("out/table.csv", &bad).args(["report", "p.yaml"]).code(2);
    assert!(out.stderr.contains("table.csv:2: layer `mapbiomas_lulc` has no year 2019"), "{}", out.stderr);
}

/// The numbers of the page's "Net-change matrix (ha)" table, row by row.
fn matrix(html: &str) -> Vec<Vec<String>> {
    let start = html.find("<caption>Net-change matrix (ha)</caption>").expect("matrix table");
    let body = &html[start..html[start..].find("</table>").unwrap() + start];
    body.split("<tr>")
        .skip(2)
        .map(|row| row.split("<td>").skip(1).map(|c| c.split('<').next().unwrap().to_string()).collect::<Vec<String>>())
        .collect()
}

#[test]
fn the_net_change_matrix_has_the_site_level_transitions() {
    let t = setup().args(["report", "p.yaml", "--output", "r.html"]);
    t.code(0);
    let html = std::fs::read_to_string(t.path().join("r.html")).unwrap();
    // Site a: forest 10 → 6, pasture 0 → 4 (4 ha forest → pasture); site b: pasture 5 → 5.
    assert_eq!(matrix(&html), vec![vec!["6.00", "4.00"], vec!["0", "5.00"]]);
    assert!(html.contains("Net-change matrix, not pixel transitions."));
}

#[test]
fn compare_lists_the_site_that_differs_by_the_changed_area() {
    // The other table moves 1.5 ha of site b's 2021 pasture to forest: half the sum of |differences| = 1.5.
    let other = TABLE.replace(
        "b,Beta,mapbiomas_lulc,2021,categorical,15,Pasture,5,50,,,",
        "b,Beta,mapbiomas_lulc,2021,categorical,3,Forest Formation,1.5,15,,,\nb,Beta,mapbiomas_lulc,2021,categorical,15,Pasture,3.5,35,,,",
    );
    let t =
        setup().file("other.csv", &other).args(["report", "p.yaml", "--compare", "other.csv", "--output", "r.html"]);
    t.code(0);
    let html = std::fs::read_to_string(t.path().join("r.html")).unwrap();
    assert!(html.contains("2 site(s) in both, 0 only here, 0 only there"), "summary");
    let start = html.find("<caption>Sites with the largest difference</caption>").expect("difference table");
    let table = &html[start..html[start..].find("</table>").unwrap() + start];
    assert_eq!(table.matches("<tr>").count(), 2, "header and site b only: {table}");
    assert!(table.contains("data-site=\"1\">b</a>"), "{table}");
    assert!(table.contains("<td>1.50</td><td>30.00</td>"), "1.5 ha, 30% of 5 ha: {table}");
}

#[test]
fn wide_and_long_tables_give_the_same_numbers() {
    let wide = "\
site_id,name,mapbiomas_lulc__2020__3__ha,mapbiomas_lulc__2020__3__px,mapbiomas_lulc__2020__15__ha,mapbiomas_lulc__2020__15__px,mapbiomas_lulc__2021__3__ha,mapbiomas_lulc__2021__3__px,mapbiomas_lulc__2021__15__ha,mapbiomas_lulc__2021__15__px
a,Alpha,10,100,0,0,6,60,4,40
b,Beta,0,0,5,50,0,0,5,50
";
    let long = setup().args(["report", "p.yaml", "--output", "long.html"]);
    long.code(0);
    let w = setup().file("wide.csv", wide).args(["report", "p.yaml", "--table", "wide.csv", "--output", "wide.html"]);
    w.code(0);
    let a = std::fs::read_to_string(long.path().join("long.html")).unwrap();
    let b = std::fs::read_to_string(w.path().join("wide.html")).unwrap();
    assert_eq!(matrix(&a), matrix(&b));
    let totals = |h: &str| {
        let s = h.find("<caption>Total area per class").unwrap();
        h[s..h[s..].find("</table>").unwrap() + s].to_string()
    };
    assert_eq!(totals(&a), totals(&b));
}

/// The parts of a page that come from the table's rows: the layer sections (totals, matrix, largest
/// changes, distributions) and the browser's data block (every site's values and outline).
fn from_rows(html: &str) -> (String, String) {
    let start = html.find("<section id=\"layer-").expect("a layer section");
    let end = html.find("<section id=\"run\"").expect("the run section");
    let data = html.find("id=\"report-data\">").expect("the data block");
    let data_end = html[data..].find("</script>").unwrap() + data;
    (html[start..end].to_string(), html[data..data_end].to_string())
}

/// Runs the offline demo (local engine, `demo/`) in `dir` with `output` and returns its report.
fn demo_report(dir: &Path, output: &str) -> String {
    let demo = repo_root().join("demo");
    let text = format!(
        "name: demo\nengine: local\nsites: {{file: {d}/sites.geojson, id: site_id, keep: [name, planted], first_year: planted}}\n\
         years: 2020..2022\nlayers: [{{catalog: mapbiomas_lulc, local: '{d}/lulc_{{{{year}}}}.tif'}}]\n\
         export: {{to: local, folder: out}}\noutput: {output}\n",
        d = demo.display()
    );
    std::fs::write(dir.join("demo.yaml"), text).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_geepipe")).args(["run", "demo.yaml"]).current_dir(dir).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let table = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv" || e == "parquet"))
        .expect("the table");
    let report = table.with_file_name(format!("{}.report.html", table.file_stem().unwrap().to_string_lossy()));
    std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()))
}

#[test]
fn a_parquet_table_written_by_geepipe_gives_the_page_of_its_csv() {
    for layout in ["long", "wide"] {
        let (csv, pq) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // `output.report: true`: `geepipe run` writes the page after the table.
        let a = demo_report(csv.path(), &format!("{{path: out/table.csv, layout: {layout}, report: true}}"));
        let b = demo_report(
            pq.path(),
            &format!("{{path: out/table.parquet, format: parquet, layout: {layout}, geometry: polygon, report: true}}"),
        );
        assert!(b.contains(&format!("table <code>out/table.parquet</code> ({layout} layout,")), "{layout}");
        let (rows_a, rows_b) = (from_rows(&a), from_rows(&b));
        assert!(rows_a.0.contains("<caption>Net-change matrix (ha)</caption>"), "{layout}");
        assert_eq!(rows_a.0, rows_b.0, "{layout}: the layer sections differ");
        assert_eq!(rows_a.1, rows_b.1, "{layout}: the data blocks differ");
        let count = |h: &str| h.split(" rows).</p>").next().unwrap().rsplit(", ").next().unwrap().to_string();
        assert_eq!(count(&a), count(&b), "{layout}: the row counts differ");
    }
}

/// Writes `out/table.csv` again as Parquet with pyarrow and pandas the way other tools do: `year` as a
/// 16-bit integer, `layer` dictionary-encoded, strings as large strings, a pandas index column; and a
/// copy whose fourth row names a layer the pipeline does not have.
const PYARROW: &str = r#"
import pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq
t = pc.read_csv("out/table.csv")
df = t.to_pandas()
df.index = [f"r{i}" for i in range(len(df))]
t = pa.Table.from_pandas(df)
assert "__index_level_0__" in t.column_names, t.column_names
t = t.set_column(t.column_names.index("year"), "year", t["year"].cast(pa.int16()))
t = t.set_column(t.column_names.index("layer"), "layer", t["layer"].cast(pa.string()).dictionary_encode())
for name in ["site_id", "name", "kind", "class_name"]:
    t = t.set_column(t.column_names.index(name), name, t[name].cast(pa.large_string()))
pq.write_table(t, "pyarrow.parquet", row_group_size=2)
layers = t["layer"].cast(pa.string()).to_pylist()
layers[3] = "mapbiomas_lulcc"
pq.write_table(t.set_column(t.column_names.index("layer"), "layer", pa.array(layers)), "bad.parquet")
"#;

#[test]
fn a_parquet_table_written_by_pyarrow_reads_like_the_csv() {
    let t = setup().args(["report", "p.yaml", "--output", "csv.html"]);
    t.code(0);
    let py = Command::new(test_venv().join("python")).args(["-c", PYARROW]).current_dir(t.path()).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let out = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_geepipe"))
            .args(args)
            .current_dir(t.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let r = out(&["report", "p.yaml", "--table", "pyarrow.parquet", "--output", "pq.html"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let a = std::fs::read_to_string(t.path().join("csv.html")).unwrap();
    let b = std::fs::read_to_string(t.path().join("pq.html")).unwrap();
    assert_eq!(matrix(&b), vec![vec!["6.00", "4.00"], vec!["0", "5.00"]]);
    assert_eq!(from_rows(&a), from_rows(&b));
    assert!(b.contains("(long layout, 5 rows)"), "no row from the pandas index");

    let r = out(&["report", "p.yaml", "--table", "bad.parquet", "--output", "bad.html"]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.parquet: row 4: layer `mapbiomas_lulcc` is not in the pipeline"), "{stderr}");
    assert!(!t.path().join("bad.html").exists());
}

#[test]
fn a_truncated_parquet_table_is_refused_and_writes_nothing() {
    let t = setup().file("cut.parquet", "PAR1 and then nothing").args([
        "report",
        "p.yaml",
        "--table",
        "cut.parquet",
        "--output",
        "r.html",
    ]);
    let out = t.code(2);
    assert!(out.stderr.contains("cut.parquet: not a readable Parquet table"), "{}", out.stderr);
    assert!(!t.path().join("r.html").exists());
}
