//! `geepipe report` without a browser: its errors (no table, a table of another pipeline, a broken row)
//! leave no file behind and say where; `--compare` finds the sites that differ by what was changed; wide
//! and long tables give the same report numbers.

mod common;

use common::Test;

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
