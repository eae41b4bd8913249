//! Site files as a user meets them through `geepipe validate`: every kind of mistake in a GeoJSON file is
//! reported at its place in that file (line:col, snippet, help), all at once.

mod common;
use common::Test;

/// A pipeline whose `sites` section is `sites` (YAML, indented under `sites:`).
fn pipeline(sites: &str) -> String {
    format!(
        "project: my-project\nsites:\n{sites}\nlayers:\n  - catalog: mapbiomas_lulc\n    years: 2015..2020\nexport:\n  to: drive\n  folder: out\n"
    )
}

/// `geepipe validate p.yaml` with `sites.geojson` holding `geojson` and the id property `site_id`.
fn validate(geojson: &str) -> Test {
    Test::new()
        .file("p.yaml", &pipeline("  file: sites.geojson\n  id: site_id"))
        .file("sites.geojson", geojson)
        .args(["validate", "p.yaml"])
}

/// A FeatureCollection with one feature per line, each given as `(properties, geometry)` JSON text.
fn collection(features: &[(&str, &str)]) -> String {
    let body: Vec<String> = features
        .iter()
        .map(|(p, g)| format!("  {{\"type\": \"Feature\", \"properties\": {p},\n   \"geometry\": {g}}}"))
        .collect();
    format!("{{\"type\": \"FeatureCollection\", \"features\": [\n{}\n]}}\n", body.join(",\n"))
}

const SQUARE: &str = r#"{"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}"#;

#[test]
fn the_example_site_file_is_valid() {
    Test::new()
        .file("p.yaml", &pipeline("  file: restoration.geojson\n  id: site_id\n  keep: [name]\n  first_year: planted"))
        .copy("examples/sites/restoration.geojson", "restoration.geojson")
        .args(["validate", "p.yaml"])
        .expect(0, "p.yaml: valid (1 layer)", "");
}

#[test]
fn a_missing_file_is_reported_at_sites_file_with_the_folder_tried() {
    let t = Test::new()
        .file("p.yaml", &pipeline("  file: site.geojson\n  id: site_id"))
        .file("sites.geojson", &collection(&[(r#"{"site_id": 1}"#, SQUARE)]))
        .args(["validate", "p.yaml"]);
    let folder = std::fs::canonicalize(t.path()).unwrap();
    let want = r#"
        sites::missing-file

          × site file `site.geojson` does not exist
           ╭─[p.yaml:3:9]
         2 │ sites:
         3 │   file: site.geojson
           ·         ──────┬─────
           ·               ╰── no file here
         4 │   id: site_id
           ╰────
          help: did you mean `sites.geojson`? `sites.file` is resolved relative to the pipeline file's
                folder, `FOLDER`
        1 error, 0 warnings
    "#;
    let got = t.code(2).stderr;
    // The folder is a temporary path of varying length: compare with it replaced, line wrapping undone.
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(flat(&got.replace(&folder.display().to_string(), "FOLDER")), flat(want), "{got}");
}

#[test]
fn text_that_is_not_json_is_reported_where_it_breaks() {
    validate("{\"type\": \"FeatureCollection\",\n \"features\": [\n  {\"a\": 1} {\"b\": 2}\n]}\n").expect(
        2,
        "",
        r##"
        sites::json

          × the site file is not valid JSON: expected `,` or `]` between features, found `{`
           ╭─[sites.geojson:3:12]
         2 │  "features": [
         3 │   {"a": 1} {"b": 2}
           ·            ┬
           ·            ╰── here
         4 │ ]}
           ╰────
          help: a hand-edited or truncated file? check it with `python3 -m json.tool FILE`
        sites::no-id

          × features[0] has no properties, so no `site_id`
           ╭─[sites.geojson:3:3]
         2 │  "features": [
         3 │   {"a": 1} {"b": 2}
           ·   ┬
           ·   ╰── no `properties`
         4 │ ]}
           ╰────
          help: give every feature "properties": {"site_id": …}
        sites::no-geometry

          × features[0] has no `geometry`
           ╭─[sites.geojson:3:3]
         2 │  "features": [
         3 │   {"a": 1} {"b": 2}
           ·   ┬
           ·   ╰── this feature
         4 │ ]}
           ╰────
          help: every site needs a Polygon or MultiPolygon geometry
        3 errors, 0 warnings
    "##,
    );
}

#[test]
fn a_truncated_file_says_where_it_ends_and_what_is_open() {
    let text = collection(&[(r#"{"site_id": 1}"#, SQUARE), (r#"{"site_id": 2}"#, SQUARE)]);
    let cut = &text[..text.len() - 30];
    validate(cut).expect(
        2,
        "",
        r##"
        sites::truncated

          × the site file ends too early
           ╭─[sites.geojson:5:59]
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         4 │   {"type": "Feature", "properties": {"site_id": 2},
           ·   ┬
           ·   ╰── this is never closed
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1],
           ·                                                           ┬
           ·                                                           ╰── the file ends here
           ╰────
          help: the file looks truncated (an interrupted download or copy?); export it again
        1 error, 0 warnings
    "##,
    );
}

#[test]
fn a_file_that_is_not_a_feature_collection() {
    validate("[{\"type\": \"Feature\"}]\n").expect(
        2,
        "",
        r##"
        sites::not-collection

          × the site file holds an array, not a GeoJSON FeatureCollection
           ╭─[sites.geojson:1:1]
         1 │ [{"type": "Feature"}]
           · ┬
           · ╰── expected `{`
           ╰────
          help: write {"type": "FeatureCollection", "features": [ … ]}
        1 error, 0 warnings
    "##,
    );
    validate(r#"{"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}"#).expect(
        2,
        "",
        r##"
        sites::not-collection

          × the site file is a bare Polygon geometry, not a FeatureCollection
           ╭─[sites.geojson:1:10]
         1 │ {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}
           ·          ────┬────
           ·              ╰── expected "FeatureCollection"
           ╰────
          help: sites need ids: put each polygon in a Feature with properties inside a FeatureCollection
        1 error, 0 warnings
    "##,
    );
    validate("").expect(
        2,
        "",
        r##"
          ——▶ sites.geojson
        sites::empty

          × the site file `sites.geojson` is empty
          help: it should be a GeoJSON FeatureCollection of Polygon/MultiPolygon features
        1 error, 0 warnings
    "##,
    );
}

#[test]
fn an_empty_collection_is_an_error() {
    validate("{\"type\": \"FeatureCollection\", \"features\": []}\n").expect(
        2,
        "",
        r##"
        sites::empty

          × the FeatureCollection has no features
           ╭─[sites.geojson:1:43]
         1 │ {"type": "FeatureCollection", "features": []}
           ·                                           ┬
           ·                                           ╰── empty
           ╰────
          help: add the site polygons as features
        1 error, 0 warnings
    "##,
    );
}

#[test]
fn a_single_feature_is_a_collection_of_one() {
    validate(&format!(r#"{{"type": "Feature", "properties": {{"site_id": "a"}}, "geometry": {SQUARE}}}"#)).expect(
        0,
        "p.yaml: valid (1 layer)",
        "",
    );
}

#[test]
fn a_missing_id_property_suggests_the_close_name() {
    validate(&collection(&[
        (r#"{"site_id": 1}"#, SQUARE),
        (r#"{"siteid": 2, "name": "b"}"#, SQUARE),
        (r#"{"name": "c"}"#, SQUARE),
        ("null", SQUARE),
    ]))
    .expect(
        2,
        "",
        r##"
        sites::no-id

          × features[1] has no `site_id` property
           ╭─[sites.geojson:4:38]
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         4 │   {"type": "Feature", "properties": {"siteid": 2, "name": "b"},
           ·                                      ────┬───
           ·                                          ╰── did you mean `siteid`?
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: set `sites.id: siteid` in the pipeline, or rename the property in the file
        sites::no-id

          × features[2] has no `site_id` property
           ╭─[sites.geojson:6:23]
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         6 │   {"type": "Feature", "properties": {"name": "c"},
           ·                       ──────┬─────
           ·                             ╰── no `site_id` among these
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: this feature has `name`; set `sites.id` to the property that names each site
        sites::no-id

          × features[3] has no properties, so no `site_id`
           ╭─[sites.geojson:8:37]
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         8 │   {"type": "Feature", "properties": null,
           ·                                     ──┬─
           ·                                       ╰── `properties` is null
         9 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}}
           ╰────
          help: give every feature "properties": {"site_id": …}
        3 errors, 0 warnings
    "##,
    );
}

#[test]
fn ids_must_be_strings_or_whole_numbers() {
    validate(&collection(&[
        (r#"{"site_id": null}"#, SQUARE),
        (r#"{"site_id": true}"#, SQUARE),
        (r#"{"site_id": {"n": 1}}"#, SQUARE),
        (r#"{"site_id": 3.5}"#, SQUARE),
        (r#"{"site_id": " "}"#, SQUARE),
        (r#"{"site_id": 3107.0}"#, SQUARE),
        (r#"{"site_id": -7}"#, SQUARE),
    ]))
    .expect(
        2,
        "",
        r##"
        sites::bad-id

          × the `site_id` of features[0] is null
           ╭─[sites.geojson:2:49]
         1 │ {"type": "FeatureCollection", "features": [
         2 │   {"type": "Feature", "properties": {"site_id": null},
           ·                                                 ──┬─
           ·                                                   ╰── not an id
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: ids must be non-empty strings or whole numbers, unique within the file
        sites::bad-id

          × the `site_id` of features[1] is a boolean (true)
           ╭─[sites.geojson:4:49]
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         4 │   {"type": "Feature", "properties": {"site_id": true},
           ·                                                 ──┬─
           ·                                                   ╰── not an id
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: ids must be non-empty strings or whole numbers, unique within the file
        sites::bad-id

          × the `site_id` of features[2] is an object
           ╭─[sites.geojson:6:49]
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         6 │   {"type": "Feature", "properties": {"site_id": {"n": 1}},
           ·                                                 ────┬───
           ·                                                     ╰── not an id
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: ids must be non-empty strings or whole numbers, unique within the file
        sites::bad-id

          × the `site_id` of features[3] is the number 3.5
           ╭─[sites.geojson:8:49]
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         8 │   {"type": "Feature", "properties": {"site_id": 3.5},
           ·                                                 ─┬─
           ·                                                  ╰── not an id
         9 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: ids must be non-empty strings or whole numbers, unique within the file
        sites::bad-id

          × the `site_id` of features[4] is an empty string
            ╭─[sites.geojson:10:49]
          9 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         10 │   {"type": "Feature", "properties": {"site_id": " "},
            ·                                                 ─┬─
            ·                                                  ╰── not an id
         11 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
            ╰────
          help: ids must be non-empty strings or whole numbers, unique within the file
        5 errors, 0 warnings
    "##,
    );
}

#[test]
fn duplicate_ids_show_both_places() {
    // 3107.0 is read as 3107, so it collides with the integer id.
    validate(&collection(&[
        (r#"{"site_id": 3107}"#, SQUARE),
        (r#"{"site_id": "b"}"#, SQUARE),
        (r#"{"site_id": 3107.0}"#, SQUARE),
    ]))
    .expect(
        2,
        "",
        r##"
        sites::duplicate-id

          × site id `3107` is used twice
           ╭─[sites.geojson:2:49]
         1 │ {"type": "FeatureCollection", "features": [
         2 │   {"type": "Feature", "properties": {"site_id": 3107},
           ·                                                 ──┬─
           ·                                                   ╰── first used here
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
           ╭─[sites.geojson:6:49]
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         6 │   {"type": "Feature", "properties": {"site_id": 3107.0},
           ·                                                 ───┬──
           ·                                                    ╰── features[2] repeats it
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}}
           ╰────
          help: every site needs its own `site_id`; rename or merge one of them
        1 error, 0 warnings
    "##,
    );
}

#[test]
fn far_apart_duplicates_in_a_large_streamed_file_show_both_places() {
    // Forced out of memory mode: snippets are read back from disk.
    let mut features: Vec<(String, &str)> = (0..500).map(|i| (format!(r#"{{"site_id": "s{i}"}}"#), SQUARE)).collect();
    features.push((r#"{"site_id": "s3"}"#.to_string(), SQUARE));
    let refs: Vec<(&str, &str)> = features.iter().map(|(p, g)| (p.as_str(), *g)).collect();
    let out = validate(&collection(&refs)).env("GEEPIPE_SITES_MEMORY_LIMIT", "0").code(2);
    let want = r#"
        sites::duplicate-id

          × site id `s3` is used twice
           ╭─[sites.geojson:8:49]
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         8 │   {"type": "Feature", "properties": {"site_id": "s3"},
           ·                                                 ──┬─
           ·                                                   ╰── first used here
         9 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
              ╭─[sites.geojson:1002:49]
         1001 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         1002 │   {"type": "Feature", "properties": {"site_id": "s3"},
              ·                                                 ──┬─
              ·                                                   ╰── features[500] repeats it
         1003 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}}
              ╰────
          help: every site needs its own `site_id`; rename or merge one of them
        1 error, 0 warnings
    "#;
    assert_eq!(common::normalize(&out.stderr), common::normalize(want), "{}", out.stderr);
}

#[test]
fn streamed_and_in_memory_files_report_the_same() {
    let text = format!(
        "{{\r\n\"name\": \"x\",\r\n\"features\": [\r\n{}\r\n],\r\n\"type\": \"FeatureCollection\"\r\n}}\r\n",
        [
            r#"{"type": "Feature", "properties": {"site_id": "São Félix ]}\""}, "geometry": null}"#,
            r#"{"type": "Feature", "properties": {"site_id": "São Félix ]}\""}, "geometry": {"type": "Point", "coordinates": [1, 2]}}"#,
            r#"{"type": "Feature", "properties": {"site_id": "b"}, "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [1, 1]]]}}"#,
        ]
        .join(",\r\n")
    );
    let memory = validate(&text).code(2);
    let streamed = validate(&text).env("GEEPIPE_SITES_MEMORY_LIMIT", "0").code(2);
    assert_eq!(memory.stderr, streamed.stderr);
    // Columns count bytes (`ã` and `é` are two each), as miette does for whole texts.
    assert!(memory.stderr.contains("[sites.geojson:4:80]"), "{}", memory.stderr);
    assert!(memory.stderr.contains("features[1] repeats it"), "{}", memory.stderr);
    assert!(memory.stderr.contains("4 errors, 0 warnings"), "{}", memory.stderr);
}

#[test]
fn geometry_must_be_a_polygon() {
    validate(&collection(&[
        (r#"{"site_id": 1}"#, "null"),
        (r#"{"site_id": 2}"#, r#"{"type": "LineString", "coordinates": [[1, 1], [2, 2]]}"#),
        (r#"{"site_id": 3}"#, r#"{"type": "Point", "coordinates": [1, 1]}"#),
        (r#"{"site_id": 4}"#, r#"{"type": "GeometryCollection", "geometries": []}"#),
        (r#"{"site_id": 5}"#, r#"{"type": "Polygon", "coordinates": []}"#),
        (r#"{"site_id": 6}"#, r#"{"type": "MultiPolygon", "coordinates": [[[[1, 1], [2, 1], [2, 2], [1, 1]]], []]}"#),
    ]))
    .expect(2, "", r##"
        sites::null-geometry

          × site `1` (features[0]) has a null geometry
           ╭─[sites.geojson:3:16]
         2 │   {"type": "Feature", "properties": {"site_id": 1},
         3 │    "geometry": null},
           ·                ──┬─
           ·                  ╰── no shape
         4 │   {"type": "Feature", "properties": {"site_id": 2},
           ╰────
          help: give this site its polygon, or remove the feature from the file
        sites::geometry-type

          × site `2` (features[1]) is a LineString; sites must be polygons
           ╭─[sites.geojson:5:25]
         4 │   {"type": "Feature", "properties": {"site_id": 2},
         5 │    "geometry": {"type": "LineString", "coordinates": [[1, 1], [2, 2]]}},
           ·                         ──────┬─────
           ·                               ╰── needs Polygon or MultiPolygon
         6 │   {"type": "Feature", "properties": {"site_id": 3},
           ╰────
          help: if it outlines an area, make it a Polygon (the ring's last position repeats the first);
                otherwise buffer it into a polygon
        sites::geometry-type

          × site `3` (features[2]) is a Point; sites must be polygons
           ╭─[sites.geojson:7:25]
         6 │   {"type": "Feature", "properties": {"site_id": 3},
         7 │    "geometry": {"type": "Point", "coordinates": [1, 1]}},
           ·                         ───┬───
           ·                            ╰── needs Polygon or MultiPolygon
         8 │   {"type": "Feature", "properties": {"site_id": 4},
           ╰────
          help: buffer points into polygons first (e.g. QGIS: Vector ▸ Geoprocessing ▸ Buffer), in a
                projected CRS, then reproject to EPSG:4326
        sites::geometry-type

          × site `4` (features[3]) is a GeometryCollection; sites must be polygons
            ╭─[sites.geojson:9:25]
          8 │   {"type": "Feature", "properties": {"site_id": 4},
          9 │    "geometry": {"type": "GeometryCollection", "geometries": []}},
            ·                         ──────────┬─────────
            ·                                   ╰── needs Polygon or MultiPolygon
         10 │   {"type": "Feature", "properties": {"site_id": 5},
            ╰────
          help: split it: keep its polygons as a MultiPolygon, drop other parts
        sites::empty-geometry

          × site `5` (features[4]) has empty coordinates
            ╭─[sites.geojson:11:51]
         10 │   {"type": "Feature", "properties": {"site_id": 5},
         11 │    "geometry": {"type": "Polygon", "coordinates": []}},
            ·                                                   ─┬
            ·                                                    ╰── no rings
         12 │   {"type": "Feature", "properties": {"site_id": 6},
            ╰────
          help: a Polygon's coordinates are a list of rings, each a list of [longitude, latitude]
        sites::empty-geometry

          × polygon 2 of site `6` (features[5]) has no rings
            ╭─[sites.geojson:13:93]
         12 │   {"type": "Feature", "properties": {"site_id": 6},
         13 │    "geometry": {"type": "MultiPolygon", "coordinates": [[[[1, 1], [2, 1], [2, 2], [1, 1]]], []]}}
            ·                                                                                             ─┬
            ·                                                                                              ╰── expected a list of rings
         14 │ ]}
            ╰────
          help: a polygon is a list of rings: the outer boundary, then holes
        6 errors, 0 warnings
    "##);
}

#[test]
fn rings_must_have_four_positions_and_be_closed() {
    validate(&collection(&[
        (r#"{"site_id": 1}"#, r#"{"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [1, 1]]]}"#),
        (r#"{"site_id": 2}"#, r#"{"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 2]]]}"#),
    ]))
    .expect(
        2,
        "",
        r##"
        sites::ring-too-short

          × the outer ring of site `1` (features[0]) has 3 positions
           ╭─[sites.geojson:3:52]
         2 │   {"type": "Feature", "properties": {"site_id": 1},
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [1, 1]]]}},
           ·                                                    ────────────┬───────────
           ·                                                                ╰── fewer than 4 positions
         4 │   {"type": "Feature", "properties": {"site_id": 2},
           ╰────
          help: a ring needs at least 4 positions: 3 corners and the first repeated at the end
        sites::ring-not-closed

          × the outer ring of site `2` (features[1]) is not closed
           ╭─[sites.geojson:5:77]
         4 │   {"type": "Feature", "properties": {"site_id": 2},
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 2]]]}}
           ·                                                     ───┬──                  ───┬──
           ·                                                        │                       ╰── ends here
           ·                                                        ╰── starts here
         6 │ ]}
           ╰────
          help: repeat the first position [1, 1] at the end of the ring (it ends at [1, 2])
        2 errors, 0 warnings
    "##,
    );
}

#[test]
fn coordinates_must_be_finite_longitude_latitude() {
    validate(&collection(&[
        (r#"{"site_id": 1}"#, r#"{"type": "Polygon", "coordinates": [[[1, NaN], [2, 1], [2, 2], [1, 1]]]}"#),
        (
            r#"{"site_id": 2}"#,
            r#"{"type": "Polygon", "coordinates": [[[712345.1, 8234567.9], [712400, 8234567.9], [712400, 8234600], [712345.1, 8234567.9]]]}"#,
        ),
        (r#"{"site_id": 3}"#, r#"{"type": "Polygon", "coordinates": [[[-15.8, -147.9], [-15.7, -147.9], [-15.7, -147.8], [-15.8, -147.9]]]}"#),
        (r#"{"site_id": 4}"#, r#"{"type": "Polygon", "coordinates": [[[1, 1e999], [2, 1], [2, 2], [1, 1]]]}"#),
    ]))
    .expect(2, "", r##"
        sites::non-finite

          × features[0] has a non-finite number `NaN`
           ╭─[sites.geojson:3:57]
         2 │   {"type": "Feature", "properties": {"site_id": 1},
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[1, NaN], [2, 1], [2, 2], [1, 1]]]}},
           ·                                                         ─┬─
           ·                                                          ╰── not a finite number
         4 │   {"type": "Feature", "properties": {"site_id": 2},
           ╰────
          help: coordinates must be finite longitude/latitude numbers; remove or repair this position
                (Python's json.dump writes NaN for missing values: pass allow_nan=False to catch it)
        sites::coordinate-range

          × site `2` (features[1]) has a position [712345.1, 8234567.9] outside longitude/latitude range
          │ (and 3 more in this feature)
           ╭─[sites.geojson:5:53]
         4 │   {"type": "Feature", "properties": {"site_id": 2},
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[712345.1, 8234567.9], [712400, 8234567.9], [712400, 8234600], [712345.1, 8234567.9]]]}},
           ·                                                     ──────────┬──────────
           ·                                                               ╰── looks like projected metres
         6 │   {"type": "Feature", "properties": {"site_id": 3},
           ╰────
          help: these look like projected coordinates (metres, e.g. UTM or Web Mercator); GeoJSON must be
                WGS 84 longitude/latitude: reproject to EPSG:4326, e.g. `ogr2ogr -t_srs EPSG:4326
                sites_wgs84.geojson sites.geojson`, or name the CRS in `sites.crs`
        sites::coordinate-range

          × site `3` (features[2]) has a position [-15.8, -147.9] outside longitude/latitude range (and 3
          │ more in this feature)
           ╭─[sites.geojson:7:53]
         6 │   {"type": "Feature", "properties": {"site_id": 3},
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[-15.8, -147.9], [-15.7, -147.9], [-15.7, -147.8], [-15.8, -147.9]]]}},
           ·                                                     ───────┬───────
           ·                                                            ╰── latitude and longitude swapped?
         8 │   {"type": "Feature", "properties": {"site_id": 4},
           ╰────
          help: GeoJSON positions are [longitude, latitude]: this may be [-147.9, -15.8]
        sites::non-finite

          × features[3] has a non-finite number `1e999`
            ╭─[sites.geojson:9:57]
          8 │   {"type": "Feature", "properties": {"site_id": 4},
          9 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1e999], [2, 1], [2, 2], [1, 1]]]}}
            ·                                                         ──┬──
            ·                                                           ╰── not a finite number
         10 │ ]}
            ╰────
          help: coordinates must be finite longitude/latitude numbers; remove or repair this position
                (Python's json.dump writes NaN for missing values: pass allow_nan=False to catch it)
        4 errors, 0 warnings
    "##);
}

#[test]
fn a_third_coordinate_is_dropped_but_four_values_are_an_error() {
    validate(&collection(&[
        (r#"{"site_id": 1}"#, r#"{"type": "Polygon", "coordinates": [[[1, 1, 5], [2, 1, 5], [2, 2, 5], [1, 1, 5]]]}"#),
        (r#"{"site_id": 2}"#, r#"{"type": "Polygon", "coordinates": [[[1, 1, 5, 0], [2, 1], [2, 2], [1, 1]]]}"#),
    ]))
    .expect(
        2,
        "",
        r##"
        sites::position

          × site `2` (features[1]) has a position with 4 values
           ╭─[sites.geojson:5:53]
         4 │   {"type": "Feature", "properties": {"site_id": 2},
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1, 5, 0], [2, 1], [2, 2], [1, 1]]]}}
           ·                                                     ──────┬─────
           ·                                                           ╰── not [longitude, latitude]
         6 │ ]}
           ╰────
          help: a position is [longitude, latitude] or [longitude, latitude, height]
        1 error, 0 warnings
    "##,
    );
    validate(&collection(&[(
        r#"{"site_id": 1}"#,
        r#"{"type": "Polygon", "coordinates": [[[1, 1, 5], [2, 1, 5], [2, 2, 5], [1, 1, 5]]]}"#,
    )]))
    .expect(0, "p.yaml: valid (1 layer)", "");
}

#[test]
fn missing_kept_properties_are_one_warning_with_a_count() {
    let features: Vec<String> = (0..50)
        .map(|i| {
            if i % 5 == 2 {
                format!(r#"{{"site_id": {i}, "Name": "x"}}"#)
            } else {
                format!(r#"{{"site_id": {i}, "name": "x"}}"#)
            }
        })
        .collect();
    let refs: Vec<(&str, &str)> = features.iter().map(|p| (p.as_str(), SQUARE)).collect();
    Test::new()
        .file("p.yaml", &pipeline("  file: sites.geojson\n  id: site_id\n  keep: [name]"))
        .file("sites.geojson", &collection(&refs))
        .args(["validate", "p.yaml"])
        .expect(
            0,
            "p.yaml: valid (1 layer)",
            r##"
        sites::missing-property

          ⚠ kept property `name` is missing on 10 of 50 features
           ╭─[sites.geojson:6:52]
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         6 │   {"type": "Feature", "properties": {"site_id": 2, "Name": "x"},
           ·                                                    ───┬──
           ·                                                       ╰── features[2] has `Name`; did you mean it?
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: did you mean `Name`? those sites get an empty `name` in the output
        0 errors, 1 warning
    "##,
        );
}

#[test]
fn first_year_must_be_a_year() {
    Test::new()
        .file("p.yaml", &pipeline("  file: sites.geojson\n  id: site_id\n  first_year: planted"))
        .file(
            "sites.geojson",
            &collection(&[
                (r#"{"site_id": 1, "planted": 2015}"#, SQUARE),
                (r#"{"site_id": 2, "planted": "2016"}"#, SQUARE),
                (r#"{"site_id": 3, "planted": "2017-03-01"}"#, SQUARE),
                (r#"{"site_id": 4, "planted": 15}"#, SQUARE),
                (r#"{"site_id": 5, "planted": null}"#, SQUARE),
            ]),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r##"
        sites::first-year

          × the first year `planted` of features[2] is not a year
           ╭─[sites.geojson:6:63]
         5 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         6 │   {"type": "Feature", "properties": {"site_id": 3, "planted": "2017-03-01"},
           ·                                                               ──────┬─────
           ·                                                                     ╰── the string "2017-03-01", not a year
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: this looks like a date; write just the year, e.g. `2017`
        sites::first-year

          × the first year `planted` of features[3] is not a year
           ╭─[sites.geojson:8:63]
         7 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
         8 │   {"type": "Feature", "properties": {"site_id": 4, "planted": 15},
           ·                                                               ─┬
           ·                                                                ╰── the number 15, not a year
         9 │    "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}},
           ╰────
          help: write the first year as a whole number, e.g. 2015
        2 errors, 0 warnings
    "##,
        );
}

#[test]
fn repeated_ids_come_in_file_order_among_other_problems_and_past_twenty_are_counted() {
    // 2,000 features, streamed from disk; every 50th repeats id `s3`, every 400th has a null geometry. The
    // repeats are found when the file has been read: they still come in file order, before the other
    // problems of their feature, and the first twenty are shown.
    let features: Vec<(String, &str)> = (0..2000)
        .map(|i| {
            let id = if i > 0 && i % 50 == 0 { "s3".to_string() } else { format!("s{i}") };
            (format!(r#"{{"site_id": "{id}"}}"#), if i % 400 == 399 { "null" } else { SQUARE })
        })
        .collect();
    let refs: Vec<(&str, &str)> = features.iter().map(|(p, g)| (p.as_str(), *g)).collect();
    for limit in ["0", "1000000000"] {
        let out = validate(&collection(&refs)).env("GEEPIPE_SITES_MEMORY_LIMIT", limit).code(2);
        let problems: Vec<&str> =
            out.stderr.lines().filter(|l| l.trim_start().starts_with("× ")).map(str::trim).collect();
        let mut want: Vec<String> = Vec::new();
        let mut repeats = 0;
        for i in 0..2000 {
            if i > 0 && i % 50 == 0 {
                repeats += 1;
                if repeats <= 20 {
                    want.push("× site id `s3` is used twice".into());
                }
            }
            if i % 400 == 399 {
                want.push(format!("× site `s{i}` (features[{i}]) has a null geometry"));
            }
        }
        want.push("× … and 19 more `sites::duplicate-id` problems (39 in total)".into());
        assert_eq!(problems, want, "{}", out.stderr);
        assert!(out.stderr.contains("features[1000] repeats it"), "{}", out.stderr);
        assert!(!out.stderr.contains("features[1050] repeats it"), "{}", out.stderr);
        assert!(out.stderr.contains("44 errors, 0 warnings"), "{}", out.stderr);
    }
}

#[test]
fn many_errors_of_one_kind_are_capped_but_counted() {
    let features: Vec<String> = (0..45).map(|i| format!(r#"{{"site_id": {i}}}"#)).collect();
    let refs: Vec<(&str, &str)> = features.iter().map(|p| (p.as_str(), "null")).collect();
    let out = validate(&collection(&refs)).code(2);
    assert_eq!(out.stderr.matches("× site `").count(), 20, "{}", out.stderr);
    // The closing tally counts every problem, shown or summarised.
    let tail: Vec<&str> = out.stderr.lines().rev().take(4).collect();
    assert_eq!(
        tail,
        [
            "45 errors, 0 warnings",
            "  × … and 25 more `sites::null-geometry` problems (45 in total)",
            "",
            "sites::null-geometry"
        ],
        "{}",
        out.stderr
    );
}

#[test]
fn a_ring_crossing_itself_is_a_warning() {
    validate(&collection(&[(
        r#"{"site_id": 1}"#,
        r#"{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}"#,
    )]))
    .expect(
        0,
        "p.yaml: valid (1 layer)",
        r##"
        sites::self-intersection

          ⚠ the outer ring of site `1` (features[0]) crosses itself
           ╭─[sites.geojson:3:69]
         2 │   {"type": "Feature", "properties": {"site_id": 1},
         3 │    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}
           ·                                                     ───┬──          ───┬──
           ·                                                        │               ╰── the edge from position 3 …
           ·                                                        ╰── … crosses the edge from position 1
         4 │ ]}
           ╰────
          help: both engines fill it by the even-odd rule (`evenOdd: true`): parts it winds around twice
                are left out; if that is not what it means, repair it (QGIS: Vector ▸ Geometry Tools ▸ Fix
                Geometries, or `ST_MakeValid`)
        0 errors, 1 warning
    "##,
    );
}

/// A comb-shaped polygon (`teeth` teeth of 1° along a spine at longitude 10, 0.0001° apart), one
/// position per line, each turned by `turn`, with position `bend` (if any) moved to `to`.
fn comb_site(teeth: usize, turn: impl Fn([f64; 2]) -> [f64; 2], bend: Option<(usize, [f64; 2])>) -> String {
    let h = 1e-4;
    let mut ring = Vec::new();
    for t in 0..teeth {
        let (out, back) = ((2 * t) as f64 * h, (2 * t + 1) as f64 * h);
        ring.extend([[10.0, out], [11.0, out], [11.0, back], [10.0, back]]);
    }
    let top = (2 * teeth) as f64 * h;
    ring.extend([[9.9, top], [9.9, 0.0], [10.0, 0.0]]);
    if let Some((k, to)) = bend {
        ring[k] = to;
    }
    let positions: Vec<String> = ring.into_iter().map(turn).map(|[x, y]| format!("[{x}, {y}]")).collect();
    collection(&[(
        r#"{"site_id": 1}"#,
        &format!("{{\"type\": \"Polygon\", \"coordinates\": [[\n{}\n]]}}", positions.join(",\n")),
    )])
}

#[test]
fn a_crossing_in_a_comb_of_20000_positions_is_found_where_it_is() {
    // Tooth 3,000's tip (position 12,003 counting from 1) pulled past the next tooth's outgoing edge.
    let t = 3_000;
    let text = comb_site(5_000, |p| p, Some((4 * t + 2, [10.5, (2 * t + 2) as f64 * 1e-4 + 0.5e-4])));
    let out = validate(&text).code(0);
    assert!(out.stderr.contains("⚠ the outer ring of site `1` (features[0]) crosses itself"), "{}", out.stderr);
    // Edge 12,005 (the next tooth's outgoing edge) crosses one of the two edges around the moved position.
    assert!(out.stderr.contains("the edge from position 12005 …"), "{}", out.stderr);
    assert!(
        out.stderr.contains("… crosses the edge from position 12002")
            || out.stderr.contains("… crosses the edge from position 12003"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("╭─[sites.geojson:12008:1]"), "{}", out.stderr);
    assert!(out.stderr.contains("12006 │ [10.5, 0.60025"), "the snippet shows the moved position: {}", out.stderr);
    assert!(out.stderr.ends_with("0 errors, 1 warning\n"), "{}", out.stderr);
}

#[test]
fn a_comb_too_tangled_to_sweep_is_said_to_be_unchecked() {
    // The same comb turned by 45°: its teeth overlap along both axes, so the sweep would compare about
    // 5·10⁷ pairs; it stops at its budget and says so.
    let turn = |[x, y]: [f64; 2]| {
        let (x, y) = (x - 10.0, y);
        [10.0 + (x - y) * std::f64::consts::FRAC_1_SQRT_2, (x + y) * std::f64::consts::FRAC_1_SQRT_2]
    };
    let out = validate(&comb_site(5_000, turn, None)).code(0);
    assert!(
        out.stderr.contains("⚠ the outer ring of site `1` (features[0]) was not checked for self-crossings"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("20002 edges, most of them overlapping the others along both axes"), "{}", out.stderr);
    assert!(out.stderr.contains("(more than 10000000)"), "{}", out.stderr);
}

#[test]
fn the_mistakes_example_shows_one_of_each() {
    let out = Test::new()
        .file("p.yaml", &pipeline("  file: mistakes.geojson\n  id: site_id\n  keep: [name]"))
        .copy("examples/sites/mistakes.geojson", "mistakes.geojson")
        .args(["validate", "p.yaml"])
        .code(2);
    let codes: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("sites::")).collect();
    assert_eq!(
        codes,
        [
            "sites::no-id",
            "sites::duplicate-id",
            "sites::ring-not-closed",
            "sites::coordinate-range",
            "sites::geometry-type",
            "sites::missing-property"
        ],
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("5 errors, 1 warning\n"), "{}", out.stderr);
}

#[test]
fn a_minified_file_shows_a_cut_line_with_the_true_column() {
    // One 300 kB line, streamed from disk: the snippet is a window of that line, the column is exact.
    let mut features: Vec<String> = (0..3000)
        .map(|i| format!(r#"{{"type":"Feature","properties":{{"site_id":{i}}},"geometry":{{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,1]]]}}}}"#))
        .collect();
    features[2500] = features[2500].replace("[2,2]", "[200,1]");
    let text = format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","));
    let column = text.find("[200,1]").unwrap() + 1;
    let out = validate(&text).env("GEEPIPE_SITES_MEMORY_LIMIT", "0").code(2);
    assert!(out.stderr.contains(&format!("[sites.geojson:1:{column}]")), "{}", out.stderr);
    assert!(out.stderr.contains("site `2500` (features[2500]) has a position [200, 1]"), "{}", out.stderr);
    assert!(out.stderr.contains("╰── outside the globe"), "{}", out.stderr);
    assert!(out.stderr.len() < 2000, "the snippet should be a window, not the whole line:\n{}", out.stderr);
}

#[test]
fn keys_given_twice_are_errors_at_both_places() {
    // A second `features` array: only the first was read before; now an error naming both.
    let two = format!(
        "{{\"type\": \"FeatureCollection\",\n \"features\": [{{\"type\": \"Feature\", \"properties\": {{\"site_id\": 1}}, \"geometry\": {SQUARE}}}],\n \"features\": [{{\"type\": \"Feature\", \"properties\": {{\"site_id\": 2}}, \"geometry\": {SQUARE}}}]}}\n"
    );
    let out = validate(&two).code(2);
    assert!(out.stderr.contains("the site file has a second `features` array"), "{}", out.stderr);
    assert!(out.stderr.contains("[sites.geojson:3:2]"), "located at the second key: {}", out.stderr);
    assert!(out.stderr.contains("first given here"), "{}", out.stderr);
    // Inside a feature: the id (the last would win silently), the coordinates, and `geometry` itself.
    for (properties, geometry, message, place) in [
        (r#"{"site_id": 1, "site_id": 2}"#, SQUARE, "`properties` of features[0] has the key `site_id` twice", "2:52"),
        (
            r#"{"site_id": 1}"#,
            r#"{"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]], "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 5]]]}"#,
            "`geometry` of features[0] has the key `coordinates` twice",
            "3:87",
        ),
    ] {
        let out = validate(&collection(&[(properties, geometry)])).code(2);
        assert!(out.stderr.contains(message), "{}", out.stderr);
        assert!(out.stderr.contains(&format!("[sites.geojson:{place}]")), "{place}: {}", out.stderr);
        assert!(out.stderr.contains("sites::duplicate-key"), "{}", out.stderr);
    }
    let geometry_twice = format!(
        "{{\"type\": \"FeatureCollection\", \"features\": [\n  {{\"type\": \"Feature\", \"properties\": {{\"site_id\": 1}}, \"geometry\": {SQUARE}, \"geometry\": null}}\n]}}\n"
    );
    let out = validate(&geometry_twice).code(2);
    assert!(out.stderr.contains("features[0] has the key `geometry` twice"), "{}", out.stderr);
}

#[test]
fn rings_without_area_and_holes_outside_their_ring() {
    // All positions on one line: an error for the outer ring (the site would cover no pixel) …
    let flat = r#"{"type": "Polygon", "coordinates": [[[1, 1], [2, 2], [3, 3], [1, 1]]]}"#;
    let out = validate(&collection(&[(r#"{"site_id": 1}"#, flat)])).code(2);
    assert!(out.stderr.contains("the outer ring of site `1` (features[0]) encloses no area"), "{}", out.stderr);
    assert!(out.stderr.contains("sites::zero-area"), "{}", out.stderr);
    // … a warning for a hole, which removes nothing.
    let flat_hole = r#"{"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [2, 1], [3, 1], [1, 1]]]}"#;
    let out = validate(&collection(&[(r#"{"site_id": 1}"#, flat_hole)])).code(0);
    assert!(out.stderr.contains("⚠ hole 1 of site `1` (features[0]) encloses no area"), "{}", out.stderr);
    // A hole outside its ring, or crossing it, is an error naming both rings; a hole inside, or touching the
    // ring from inside, is fine.
    for (hole, bad) in [
        ("[[6, 6], [7, 6], [7, 7], [6, 6]]", true),
        ("[[1, 1], [5, 1], [5, 2], [1, 1]]", true),
        ("[[1, 1], [2, 1], [2, 2], [1, 1]]", false),
        ("[[0, 0], [2, 1], [2, 2], [0, 0]]", false),
    ] {
        let g = format!(r#"{{"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], {hole}]}}"#);
        let out = validate(&collection(&[(r#"{"site_id": 1}"#, &g)])).output();
        let said = out.stderr.contains("hole 1 of site `1` (features[0]) is not inside its outer ring");
        assert_eq!((out.code, said), (if bad { 2 } else { 0 }, bad), "{hole}: {}", out.stderr);
        if bad {
            assert!(out.stderr.contains("the outer ring") && out.stderr.contains("this hole"), "{}", out.stderr);
        }
    }
    // In a MultiPolygon the second polygon is named; a bow tie (signed area zero) is not "no area".
    let multi = r#"{"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[5, 5], [6, 6], [7, 7], [5, 5]]]]}"#;
    let out = validate(&collection(&[(r#"{"site_id": 1}"#, multi)])).code(2);
    assert!(
        out.stderr.contains("the outer ring of polygon 2 of site `1` (features[0]) encloses no area"),
        "{}",
        out.stderr
    );
    let bow_tie = r#"{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}"#;
    let out = validate(&collection(&[(r#"{"site_id": 1}"#, bow_tie)])).code(0);
    assert!(!out.stderr.contains("no area"), "{}", out.stderr);
}

#[test]
fn ids_that_look_alike_are_warnings_at_both_places() {
    let features = [
        (r#"{"site_id": "a"}"#, SQUARE),
        (r#"{"site_id": "a\u200b"}"#, SQUARE),
        (r#"{"site_id": "\u0430"}"#, SQUARE),
        (r#"{"site_id": "b "}"#, SQUARE),
        (r#"{"site_id": "site1"}"#, SQUARE),
        (r#"{"site_id": "sitel"}"#, SQUARE),
        (r#"{"site_id": "x\u202eyz"}"#, SQUARE),
    ];
    let out = validate(&collection(&features)).code(0);
    let warnings: Vec<&str> = out.stderr.lines().filter_map(|l| l.trim().strip_prefix("⚠ ")).collect();
    assert_eq!(
        warnings,
        [
            r"site id `a\u{200b}` (features[1]) has an invisible or control character",
            r"site ids `a\u{200b}` and `a` look the same but differ",
            r"site ids `\u{430}` and `a` look the same but differ",
            "site id `b ` (features[3]) has white space at its start or end",
            r"site id `x\u{202e}yz` (features[6]) has an invisible or control character",
        ],
        "{}",
        out.stderr
    );
    // Each look-alike pair points at both ids.
    assert!(
        out.stderr.contains("[sites.geojson:4:49]") && out.stderr.contains("looks like this one"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("sites::id-lookalike"), "{}", out.stderr);
}
