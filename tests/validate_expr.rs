//! `geepipe validate` type-checks a custom layer's Earth Engine expression against the algorithm
//! signatures and points at each problem in the pipeline file.

mod common;
use common::Test;

const SITES: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"a"},"geometry":{"type":"Polygon","coordinates":[[[-47.95,-15.8],[-47.9,-15.8],[-47.9,-15.75],[-47.95,-15.8]]]}}]}"#;

#[test]
fn a_custom_expression_is_checked_against_the_algorithm_signatures() {
    Test::new()
        .file("sites.geojson", SITES)
        .file(
            "p.yaml",
            "project: demo
sites: {file: sites.geojson, id: site_id}
years: 2020
layers:
  - name: ndvi
    kind: continuous
    image:
      call: Image.normalizedDiference
      input:
        call: Image.load
        idd: \"COPERNICUS/S2/{{year}}\"
      bandNames: [B8, B4]
export: {to: drive, folder: geepipe}
",
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            "
            layers::expression

              × Earth Engine has no algorithm `Image.normalizedDiference`
               ╭─[p.yaml:8:13]
             7 │     image:
             8 │       call: Image.normalizedDiference
               ·             ────────────┬────────────
               ·                         ╰── here
             9 │       input:
               ╰────
              help: did you mean `Image.normalizedDifference`?
            layers::expression

              × `Image.load` needs its argument `id`
                ╭─[p.yaml:9:7]
              8 │       call: Image.normalizedDiference
              9 │       input:
                ·       ──┬──
                ·         ╰── here
             10 │         call: Image.load
                ╰────
              help: add `id: …` to this call
            layers::expression

              × `Image.load` has no argument `idd`
                ╭─[p.yaml:11:14]
             10 │         call: Image.load
             11 │         idd: \"COPERNICUS/S2/{{year}}\"
                ·              ────────────┬───────────
                ·                          ╰── here
             12 │       bandNames: [B8, B4]
                ╰────
              help: did you mean `id`? (its arguments: id, version)
            3 errors, 0 warnings
            ",
        );
}

#[test]
fn a_correct_custom_expression_validates() {
    Test::new()
        .file("sites.geojson", SITES)
        .file(
            "p.yaml",
            "project: demo
sites: {file: sites.geojson, id: site_id}
years: 2020
layers:
  - name: ndvi
    kind: continuous
    image:
      call: Image.normalizedDifference
      input:
        call: Image.load
        id: \"projects/demo/assets/s2_{{year}}\"
      bandNames: [B8, B4]
export: {to: drive, folder: geepipe}
",
        )
        .args(["validate", "p.yaml"])
        .expect(0, "p.yaml: valid (1 layer)", "");
}
