//! `geepipe validate` infers the type of every value of a layer expression (and of classifier
//! parameters) from the algorithm signatures, renders placeholders for every year, and points at each
//! mismatch in the pipeline file: one test per kind of mistake a new user makes.

mod common;
use common::Test;

const SITES: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"a","class":1},"geometry":{"type":"Polygon","coordinates":[[[-47.95,-15.8],[-47.9,-15.8],[-47.9,-15.75],[-47.95,-15.8]]]}}]}"#;

const HEAD: &str = "project: demo\nsites: {file: sites.geojson, id: site_id}\nyears: 2020\n";

fn validate(layers: &str, code: i32, stderr: &str) {
    Test::new()
        .file("sites.geojson", SITES)
        .file("p.yaml", &format!("{HEAD}layers:\n{layers}export: {{to: drive, folder: geepipe}}\n"))
        .args(["validate", "p.yaml"])
        .expect(code, "", stderr);
}

#[test]
fn a_string_where_a_number_is_needed() {
    validate(
        "  - name: ndvi
    kind: continuous
    scale: 250
    image:
      call: Image.multiply
      image1: {call: Image.load, id: MODIS/NDVI}
      image2: {call: Image.constant, value: \"0.0001\"}
",
        2,
        r#"
        layers::type

          × `Image.constant` argument `value`: expected Number, List or Array, found the text "0.0001"
            ╭─[p.yaml:11:45]
         10 │       image1: {call: Image.load, id: MODIS/NDVI}
         11 │       image2: {call: Image.constant, value: "0.0001"}
            ·                                             ────┬───
            ·                                                 ╰── here
         12 │ export: {to: drive, folder: geepipe}
            ╰────
          help: write the number without quotes: `0.0001`
        1 error, 0 warnings
        "#,
    );
}

#[test]
fn a_collection_where_an_image_is_needed() {
    validate(
        "  - name: ndvi
    kind: continuous
    scale: 10
    image:
      call: Image.select
      input: {call: ImageCollection.load, id: COPERNICUS/S2_SR_HARMONIZED}
      bandSelectors: [B8]
",
        2,
        "
        layers::type

          × `Image.select` argument `input`: expected Image, found ImageCollection
            ╭─[p.yaml:10:7]
          9 │       call: Image.select
         10 │       input: {call: ImageCollection.load, id: COPERNICUS/S2_SR_HARMONIZED}
            ·       ──┬──
            ·         ╰── here
         11 │       bandSelectors: [B8]
            ╰────
          help: reduce it to one image first, e.g. `{call: ImageCollection.mosaic, collection: …}`,
                `Collection.first` or a reducer such as `reduce.median`
        1 error, 0 warnings
        ",
    );
}

#[test]
fn a_whole_layer_that_is_a_collection() {
    validate(
        "  - name: ndvi
    kind: continuous
    scale: 10
    image: {call: ImageCollection.load, id: COPERNICUS/S2_SR_HARMONIZED}
",
        2,
        "
        layers::type

          × the layer's `image`: expected Image, found ImageCollection
           ╭─[p.yaml:8:5]
         7 │     scale: 10
         8 │     image: {call: ImageCollection.load, id: COPERNICUS/S2_SR_HARMONIZED}
           ·     ──┬──
           ·       ╰── here
         9 │ export: {to: drive, folder: geepipe}
           ╰────
          help: reduce it to one image first, e.g. `{call: ImageCollection.mosaic, collection: …}`,
                `Collection.first` or a reducer such as `reduce.median`
        1 error, 0 warnings
        ",
    );
}

#[test]
fn a_number_where_a_list_is_needed() {
    validate(
        "  - name: lulc
    kind: categorical
    image:
      call: Image.select
      input: {call: Image.load, id: projects/p/assets/lulc}
      bandSelectors: 5
",
        2,
        "
        layers::type

          × `Image.select` argument `bandSelectors`: expected List of String or Number, found the number 5
            ╭─[p.yaml:10:22]
          9 │       input: {call: Image.load, id: projects/p/assets/lulc}
         10 │       bandSelectors: 5
            ·                      ┬
            ·                      ╰── here
         11 │ export: {to: drive, folder: geepipe}
            ╰────
          help: write a list: `[5]`
        1 error, 0 warnings
        ",
    );
}

#[test]
fn a_placeholder_that_gives_text_in_a_number_slot() {
    validate(
        "  - name: loss
    kind: categorical
    image:
      call: Image.eq
      image1: {call: Image.load, id: UMD/hansen/global_forest_change_2025_v1_13}
      image2: {call: Image.constant, value: \"{{year}}x\"}
",
        2,
        r#"
        layers::type

          × `Image.constant` argument `value`: expected Number, List or Array, found the text "2020x"
          │ (from `{{year}}x`)
            ╭─[p.yaml:10:45]
          9 │       image1: {call: Image.load, id: UMD/hansen/global_forest_change_2025_v1_13}
         10 │       image2: {call: Image.constant, value: "{{year}}x"}
            ·                                             ─────┬─────
            ·                                                  ╰── here
         11 │ export: {to: drive, folder: geepipe}
            ╰────
          help: a placeholder gives a number only when it is the whole value (`"{{year}}"`); `{{year}}x`
                gives text
        1 error, 0 warnings
        "#,
    );
}

#[test]
fn an_unknown_placeholder_is_located_with_a_suggestion() {
    validate(
        "  - name: lulc
    kind: categorical
    asset: projects/p/assets/lulc
    image:
      call: Image.select
      input: {call: Image.load, id: \"{{assett}}\"}
      bandSelectors: [\"classification_{{year}}\"]
",
        2,
        r#"
        layers::placeholder

          × unknown placeholder `{{assett}}`
            ╭─[p.yaml:10:37]
          9 │       call: Image.select
         10 │       input: {call: Image.load, id: "{{assett}}"}
            ·                                     ──────┬─────
            ·                                           ╰── here
         11 │       bandSelectors: ["classification_{{year}}"]
            ╰────
          help: did you mean `{{asset}}`? (placeholders here: year, next_year, asset)
        1 error, 0 warnings
        "#,
    );
}

#[test]
fn a_classifier_parameter_of_the_wrong_type() {
    Test::new()
        .file("sites.geojson", SITES)
        .file(
            "p.yaml",
            "project: demo
kind: classifier
sites: {file: sites.geojson, id: site_id, label: class}
years: 2020
layers:
  - catalog: mapbiomas_lulc
classifier:
  algorithm: smileRandomForest
  parameters: {numberOfTrees: \"ten\", bagFraction: 0.5, seed: 1.5}
export: {to: asset, asset: projects/demo/assets/models}
",
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            classifier::parameter-type

              × `smileRandomForest` parameter `numberOfTrees`: expected Integer, found the text "ten"
                ╭─[p.yaml:9:31]
              8 │   algorithm: smileRandomForest
              9 │   parameters: {numberOfTrees: "ten", bagFraction: 0.5, seed: 1.5}
                ·                               ──┬──
                ·                                 ╰── wrong type
             10 │ export: {to: asset, asset: projects/demo/assets/models}
                ╰────
              help: write a number
            classifier::parameter-type

              × `smileRandomForest` parameter `seed`: expected Integer, found the number 1.5
                ╭─[p.yaml:9:62]
              8 │   algorithm: smileRandomForest
              9 │   parameters: {numberOfTrees: "ten", bagFraction: 0.5, seed: 1.5}
                ·                                                              ─┬─
                ·                                                               ╰── wrong type
             10 │ export: {to: asset, asset: projects/demo/assets/models}
                ╰────
              help: write a whole number
            2 errors, 0 warnings
            "#,
        );
}

#[test]
fn numbers_in_image_slots_are_promoted_as_the_official_client_does() {
    // `image2: 10000` is what `img.divide(10000)` sends from Python: `Image.constant(10000)`.
    let t = Test::new()
        .file("sites.geojson", SITES)
        .file(
            "p.yaml",
            &format!(
                "{HEAD}layers:
  - name: ndvi
    kind: continuous
    scale: 250
    image:
      call: Image.divide
      image1: {{call: Image.select, input: {{call: Image.load, id: MODIS/NDVI}}, bandSelectors: [0]}}
      image2: 10000
export: {{to: drive, folder: geepipe}}
mode: batch
"
            ),
        )
        .args(["plan", "p.yaml", "--out", "out"]);
    let out = t.code(0);
    let body = std::fs::read_to_string(out.dir.join("out/c00000.json")).unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let contract = ee_contract::Contract::from_dir(&common::reference_dir()).unwrap();
    let violations = contract.check_request("earthengine.projects.table.export", &body);
    assert!(violations.is_empty(), "{violations:?}");
    let body = body.to_string();
    assert!(body.contains(r#""functionName":"Image.constant""#), "{body}");
    assert!(body.contains(r#"{"constantValue":10000}"#), "{body}");
}

#[test]
fn a_custom_layer_without_a_grid_is_rejected_before_planning() {
    // A median composite has no grid of its own: Earth Engine would reduce it at 1°.
    let t = Test::new().file("sites.geojson", SITES).file(
        "p.yaml",
        &format!(
            "{HEAD}layers:
  - name: ndvi
    kind: continuous
    image:
      call: reduce.median
      collection: {{call: ImageCollection.load, id: MODIS/061/MOD13Q1}}
export: {{to: drive, folder: geepipe}}
"
        ),
    );
    let t = t.args(["plan", "p.yaml", "--out", "out"]);
    let out = t.code(2);
    assert!(
        out.stderr.contains("layers::grid")
            && out.stderr.contains("layer `ndvi` cannot be reduced on a known grid: its image has no grid of its own")
            && out.stderr.contains("Earth Engine would reduce it at its default of 1° (WGS84)"),
        "{}",
        out.stderr
    );
    assert!(!out.dir.join("out").exists(), "nothing is written");
}

#[test]
fn a_custom_layer_on_a_stored_image_is_reduced_on_its_own_grid() {
    let t = Test::new().file("sites.geojson", SITES).file(
        "p.yaml",
        &format!(
            "{HEAD}layers:
  - name: lulc
    kind: categorical
    image: {{call: Image.select, input: {{call: Image.load, id: projects/p/assets/lulc}}, bandSelectors: [0]}}
  - name: ndvi
    kind: continuous
    crs: EPSG:4326
    scale: 250
    image:
      call: reduce.median
      collection: {{call: ImageCollection.load, id: MODIS/061/MOD13Q1}}
export: {{to: drive, folder: geepipe}}
"
        ),
    );
    let t = t.args(["plan", "p.yaml", "--out", "out"]);
    let out = t.code(0);
    let body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/c00000.json")).unwrap()).unwrap();
    let text = body.to_string();
    // One reduction without scale or crs (the stored image's own grid), one in EPSG:4326 at 250 m.
    assert_eq!(text.matches(r#""scale":{"constantValue":250}"#).count(), 1, "{text}");
    assert_eq!(text.matches(r#""functionName":"Projection""#).count(), 1, "{text}");
    assert_eq!(text.matches(r#""functionName":"Image.reduceRegions""#).count(), 2, "{text}");
}
