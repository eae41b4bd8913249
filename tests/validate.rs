//! `geepipe validate`: every kind of pipeline-file mistake, as the user sees it (NO_COLOR, 100 columns).
//! Each test writes a pipeline into a temporary folder, runs the binary and compares the whole report.

mod common;
use common::{normalize, Test};

/// A file's text written indented inside a test: common indent removed, one final newline.
fn text(s: &str) -> String {
    normalize(s) + "\n"
}

const VALID: &str = r#"
    # yaml-language-server: $schema=../schemas/pipeline.schema.json
    name: lulc
    sites:
      file: sites.geojson
      id: site_id
      keep: [name]
    years: 2010..2020
    layers:
      - catalog: mapbiomas_lulc
    export:
      to: drive
      folder: geepipe
"#;

fn with_sites(t: Test) -> Test {
    t.copy("examples/sites/restoration.geojson", "sites.geojson")
}

/// A valid file: exit 0, one line on stdout, nothing on stderr, nothing written.
#[test]
fn valid_file_exits_zero() {
    let t = with_sites(Test::new().file("p.yaml", &text(VALID))).args(["validate", "p.yaml"]);
    let t = t.expect(0, "p.yaml: valid (1 layer)", "");
    let mut entries: Vec<String> = std::fs::read_dir(t.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    entries.sort();
    assert_eq!(entries, ["p.yaml", "sites.geojson"], "validate must not write anything");
}

/// `-q` hides the success line; errors still show.
#[test]
fn quiet_hides_everything_but_errors() {
    with_sites(Test::new().file("p.yaml", &text(VALID))).args(["-q", "validate", "p.yaml"]).expect(0, "", "");
    let bad = text(VALID).replace("to: drive", "to: dirve");
    let out = with_sites(Test::new()).file("p.yaml", &bad).args(["validate", "-q", "p.yaml"]).code(2);
    assert!(out.stderr.contains("unknown value `dirve` for `export.to`"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

/// A warning is shown with the success line, and hidden by `-q`.
#[test]
fn warnings_show_unless_quiet() {
    let p = text(VALID) + "output:\n  format: geojson\n  layout: long\n";
    with_sites(Test::new().file("p.yaml", &p)).args(["validate", "p.yaml"]).expect(
        0,
        "p.yaml: valid (1 layer)",
        r#"
        output::geojson-long

          ⚠ a long GeoJSON repeats each site geometry once per row
            ╭─[p.yaml:15:11]
         14 │   format: geojson
         15 │   layout: long
            ·           ──┬─
            ·             ╰── long
            ╰────
        0 errors, 1 warning
        "#,
    );
    with_sites(Test::new().file("p.yaml", &p)).args(["-q", "validate", "p.yaml"]).expect(0, "", "");
}

/// Several files: each is reported; the exit code is the worst.
#[test]
fn several_files_each_reported_worst_exit_code() {
    let bad = text(VALID).replace("years: 2010..2020", "years: 2020..2010");
    with_sites(Test::new().file("good.yaml", &text(VALID)).file("bad.yaml", &bad))
        .args(["validate", "good.yaml", "bad.yaml"])
        .expect(
            2,
            "good.yaml: valid (1 layer)",
            r#"
            years::empty-range

              × year range 2020..2010 is empty: it ends before it starts
               ╭─[bad.yaml:7:8]
             6 │   keep: [name]
             7 │ years: 2020..2010
               ·        ─────┬────
               ·             ╰── empty range
             8 │ layers:
               ╰────
              help: did you mean 2010..2020?
            1 error, 0 warnings
            "#,
        );
}

/// The same pipeline in TOML is valid too.
#[test]
fn toml_pipeline_is_valid() {
    let toml = r#"
        name = "lulc"
        years = "2010..2020"

        [sites]
        file = "sites.geojson"
        id = "site_id"

        [[layers]]
        catalog = "mapbiomas_lulc"

        [export]
        to = "drive"
        folder = "geepipe"
    "#;
    with_sites(Test::new().file("p.toml", &text(toml))).args(["validate", "p.toml"]).expect(
        0,
        "p.toml: valid (1 layer)",
        "",
    );
}

/// `validate` needs at least one file (a usage error from clap, exit 2).
#[test]
fn validate_without_files_is_a_usage_error() {
    let out = with_sites(Test::new()).arg("validate").code(2);
    assert!(out.stderr.contains("required"), "{}", out.stderr);
}

/// An empty file or one that is not a mapping says what a pipeline file is.
#[test]
fn empty_file_says_what_a_pipeline_is() {
    with_sites(Test::new()).file("p.yaml", "").args(["validate", "p.yaml"]).expect(
        2,
        "",
        r#"
        schema::type

          × wrong type for the pipeline: expected a mapping, found an empty value
           ╭─[p.yaml:1:1]
           ╰────
          help: a pipeline file is a mapping with at least `sites`, `layers` and `export` at the top level
        1 error, 0 warnings
        "#,
    );
}

/// A YAML syntax error stops the check and points at the place.
#[test]
fn yaml_syntax_error_points_at_the_place() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                   id: site_id
                layers: []
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            yaml::syntax

              × YAML syntax error: mapping values are not allowed in this context
               ╭─[p.yaml:3:6]
             2 │   file: sites.geojson
             3 │    id: site_id
               ·      ▲
               ·      ╰── here
             4 │ layers: []
               ╰────
              help: fix the YAML syntax; indentation must use spaces
            1 error, 0 warnings
            "#,
        );
}

/// A repeated key names both places; the rest of the file is still checked.
#[test]
fn duplicate_key_is_reported_and_the_rest_still_checked() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: drive
                  folder: geepipe
                  folder: other
                  priority: 10000
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            yaml::duplicate-key

              × key `folder` appears twice
                ╭─[p.yaml:10:3]
              8 │   to: drive
              9 │   folder: geepipe
                ·   ───┬──
                ·      ╰── first time here
             10 │   folder: other
                ·   ───┬──
                ·      ╰── second time here
             11 │   priority: 10000
                ╰────
              help: remove one of them; only the first is checked
            export::priority

              × priority must be between 0 and 9999
                ╭─[p.yaml:11:13]
             10 │   folder: other
             11 │   priority: 10000
                ·             ──┬──
                ·               ╰── too high
                ╰────
              help: Earth Engine task priorities run from 0 to 9999 (default 100)
            2 errors, 0 warnings
            "#,
        );
}

/// An unknown key is located at the key, with the closest allowed name.
#[test]
fn unknown_key_points_at_the_key_with_did_you_mean() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: gcs
                  bukcet: my-bucket
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            schema::unknown-field

              × unknown field `bukcet` in `export`
               ╭─[p.yaml:9:3]
             8 │   to: gcs
             9 │   bukcet: my-bucket
               ·   ───┬──
               ·      ╰── unknown field
               ╰────
              help: did you mean `bucket`? (`export` takes: to, folder, bucket, prefix, asset, table, format,
                    description, priority, workload_tag, overwrite)
            1 error, 0 warnings
            "#,
        );
}

/// A value of the wrong type says what was expected and what was found.
#[test]
fn wrong_type_says_what_was_expected_and_found() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                reduce:
                  scale: thirty metres
                  best_effort: 1
                export: {to: drive, folder: geepipe}
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            schema::type

              × wrong type for `reduce.scale`: expected a number, found text "thirty metres"
               ╭─[p.yaml:8:10]
             7 │ reduce:
             8 │   scale: thirty metres
               ·          ──────┬──────
               ·                ╰── expected a number
             9 │   best_effort: 1
               ╰────
              help: `scale`: Pixel size in metres for the reduction. Defaults to each layer's native scale.
            schema::type

              × wrong type for `reduce.best_effort`: expected true or false, found the whole number 1
                ╭─[p.yaml:9:16]
              8 │   scale: thirty metres
              9 │   best_effort: 1
                ·                ┬
                ·                ╰── expected true or false
             10 │ export: {to: drive, folder: geepipe}
                ╰────
              help: `best_effort`: Let Earth Engine coarsen the scale instead of failing with "Too many
                    pixels".
            2 errors, 0 warnings
            "#,
        );
}

/// A value outside a fixed set lists the allowed values and the closest one.
#[test]
fn bad_enum_lists_the_allowed_values() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: dirve
                  folder: geepipe
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            schema::value

              × unknown value `dirve` for `export.to`
               ╭─[p.yaml:8:7]
             7 │ export:
             8 │   to: dirve
               ·       ──┬──
               ·         ╰── not an allowed value
             9 │   folder: geepipe
               ╰────
              help: did you mean `drive`? (allowed values: `drive`, `gcs`, `asset`, `bigquery`, `local`)
            1 error, 0 warnings
            "#,
        );
}

/// Missing required fields point at the mapping that lacks them and show an example.
#[test]
fn missing_required_fields_point_at_the_parent_with_an_example() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                years: 2020
                layers:
                  - catalog: mapbiomas_lulc
                    legend:
                      - {code: 3}
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            schema::missing-field

              × missing field `id` in `sites`
               ╭─[p.yaml:1:1]
             1 │ sites:
               · ──┬──
               ·   ╰── needs `id`
             2 │   file: sites.geojson
               ╰────
              help: add it, e.g. `id: site_id`; `id`: Name of the feature property that holds each site's
                    unique id.
            schema::missing-field

              × missing field `name` in `layers[0].legend[0]`
               ╭─[p.yaml:7:9]
             6 │     legend:
             7 │       - {code: 3}
               ·         ────┬───
               ·             ╰── needs `name`
               ╰────
              help: add it, e.g. `name: Forest`; `name`: Class name.
            2 errors, 0 warnings
            "#,
        );
}

/// An unknown catalog layer suggests the closest known one.
#[test]
fn unknown_catalog_layer_suggests_the_closest() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulcc
                export: {to: drive, folder: geepipe}
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            layers::unknown-catalog

              × no catalog layer is named `mapbiomas_lulcc`
               ╭─[p.yaml:6:14]
             5 │ layers:
             6 │   - catalog: mapbiomas_lulcc
               ·              ───────┬───────
               ·                     ╰── unknown layer
             7 │ export: {to: drive, folder: geepipe}
               ╰────
              help: did you mean `mapbiomas_lulc`? (`geepipe catalog` lists the built-in layers)
            1 error, 0 warnings
            "#,
        );
}

/// A range that ends before it starts, and an empty list of years.
#[test]
fn reversed_and_empty_year_ranges() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2023..2010
                layers:
                  - catalog: mapbiomas_lulc
                  - catalog: mapbiomas_lulc
                    name: lulc_again
                    years: []
                export: {to: drive, folder: geepipe}
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            years::empty-range

              × year range 2023..2010 is empty: it ends before it starts
               ╭─[p.yaml:4:8]
             3 │   id: site_id
             4 │ years: 2023..2010
               ·        ─────┬────
               ·             ╰── empty range
             5 │ layers:
               ╰────
              help: did you mean 2010..2023?
            years::empty-list

              × the list of years is empty
                ╭─[p.yaml:9:5]
              8 │     name: lulc_again
              9 │     years: []
                ·     ──┬──
                ·       ╰── empty
             10 │ export: {to: drive, folder: geepipe}
                ╰────
              help: list at least one year
            2 errors, 0 warnings
            "#,
        );
}

/// Years written in a form geepipe does not read.
#[test]
fn bad_year_syntax() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010-2020
                layers:
                  - catalog: mapbiomas_lulc
                    years: 2010.5
                  - catalog: mapbiomas_lulc
                    name: lulc_b
                    years: {from: 2010, until: 2020}
                export: {to: drive, folder: geepipe}
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            years::syntax

              × `2010-2020` is not a year or a year range
               ╭─[p.yaml:4:8]
             3 │   id: site_id
             4 │ years: 2010-2020
               ·        ────┬────
               ·            ╰── not a year range
             5 │ layers:
               ╰────
              help: write `2020`, `2010..2023`, `[2015, 2020]` or `{from: 2010, to: 2023}`
            schema::years

              × `layers[0].years` must be a year, a range of years, a list of years or a from/to pair; found
              │ the number 2010.5
               ╭─[p.yaml:7:12]
             6 │   - catalog: mapbiomas_lulc
             7 │     years: 2010.5
               ·            ───┬──
               ·               ╰── not a year form
             8 │   - catalog: mapbiomas_lulc
               ╰────
              help: write one of `2020`, `2010..2023`, `[2015, 2020]` or `{from: 2010, to: 2023}`
            schema::missing-field

              × missing field `to` in `layers[1].years`
                ╭─[p.yaml:10:5]
              9 │     name: lulc_b
             10 │     years: {from: 2010, until: 2020}
                ·     ──┬──
                ·       ╰── needs `to`
             11 │ export: {to: drive, folder: geepipe}
                ╰────
              help: add it, e.g. `to: 2023`; `to`: Last year, inclusive.
            schema::unknown-field

              × unknown field `until` in `layers[1].years`
                ╭─[p.yaml:10:25]
              9 │     name: lulc_b
             10 │     years: {from: 2010, until: 2020}
                ·                         ──┬──
                ·                           ╰── unknown field
             11 │ export: {to: drive, folder: geepipe}
                ╰────
              help: `layers[1].years` takes: from, to
            4 errors, 0 warnings
            "#,
        );
}

/// `bucket` belongs to Cloud Storage, not Drive.
#[test]
fn drive_export_with_a_bucket() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: drive
                  folder: geepipe
                  bucket: my-bucket
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            export::field

              × `bucket` does not apply to `to: drive`
                ╭─[p.yaml:10:11]
              9 │   folder: geepipe
             10 │   bucket: my-bucket
                ·           ────┬────
                ·               ╰── not used here
                ╰────
              help: `bucket` is for `to: gcs`
            1 error, 0 warnings
            "#,
        );
}

/// A Cloud Storage export needs a bucket.
#[test]
fn gcs_export_without_a_bucket() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: gcs
                  prefix: runs/
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            export::missing

              × `to: gcs` needs `bucket`
               ╭─[p.yaml:7:1]
             6 │   - catalog: mapbiomas_lulc
             7 │ export:
               · ───┬──
               ·    ╰── needs `bucket`
             8 │   to: gcs
               ╰────
              help: add `bucket: my-bucket`
            1 error, 0 warnings
            "#,
        );
}

/// A bucket written as a `gs://` URL.
#[test]
fn gcs_bucket_with_gs_prefix() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: gcs
                  bucket: gs://my-bucket
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            export::bucket

              × `gs://my-bucket` is not a valid bucket name
               ╭─[p.yaml:9:11]
             8 │   to: gcs
             9 │   bucket: gs://my-bucket
               ·           ───────┬──────
               ·                  ╰── not a bucket name
               ╰────
              help: write `my-bucket` without `gs://`
            1 error, 0 warnings
            "#,
        );
}

/// Task descriptions and file prefixes only take the characters Earth Engine accepts.
#[test]
fn earth_engine_name_characters() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: gcs
                  bucket: my-bucket
                  description: land cover (v2)
                  prefix: runs/2024 final/
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            export::description

              × description prefix `land cover (v2)` has characters Earth Engine does not accept in task names
                ╭─[p.yaml:10:16]
              9 │   bucket: my-bucket
             10 │   description: land cover (v2)
                ·                ───────┬───────
                ·                       ╰── not allowed in task names
             11 │   prefix: runs/2024 final/
                ╰────
              help: use at most 80 letters, digits, `_` and `-`
            export::prefix

              × file prefix `runs/2024 final/` has characters Earth Engine does not accept in file names
                ╭─[p.yaml:11:11]
             10 │   description: land cover (v2)
             11 │   prefix: runs/2024 final/
                ·           ────────┬───────
                ·                   ╰── not allowed in file names
                ╰────
              help: use letters, digits, `_`, `-`, `.` and `/` (not leading, no `..`)
            2 errors, 0 warnings
            "#,
        );
}

/// Workload tags are lowercase letters, digits, `_` and `-`.
#[test]
fn bad_workload_tag() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: drive
                  folder: geepipe
                  workload_tag: Restoration Project
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            export::workload-tag

              × workload tag `Restoration Project` is not allowed
                ╭─[p.yaml:10:17]
              9 │   folder: geepipe
             10 │   workload_tag: Restoration Project
                ·                 ─────────┬─────────
                ·                          ╰── not a valid tag
                ╰────
              help: use 1-63 lowercase letters, digits, `_` and `-`, starting with a letter
            1 error, 0 warnings
            "#,
        );
}

/// Priorities run from 0 to 9999.
#[test]
fn priority_out_of_range() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: drive
                  folder: geepipe
                  priority: 10000
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            export::priority

              × priority must be between 0 and 9999
                ╭─[p.yaml:10:13]
              9 │   folder: geepipe
             10 │   priority: 10000
                ·             ──┬──
                ·               ╰── too high
                ╰────
              help: Earth Engine task priorities run from 0 to 9999 (default 100)
            1 error, 0 warnings
            "#,
        );
}

/// A negative priority is caught by the schema.
#[test]
fn negative_priority() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export:
                  to: drive
                  folder: geepipe
                  priority: -1
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            schema::value

              × `export.priority` must be at least 0, found -1
                ╭─[p.yaml:10:13]
              9 │   folder: geepipe
             10 │   priority: -1
                ·             ─┬
                ·              ╰── too small
                ╰────
              help: `priority`: Task priority 0..9999 (honoured for paid projects only; default 100).
            1 error, 0 warnings
            "#,
        );
}

/// Chunk sizes, concurrency and request size within Earth Engine's limits.
#[test]
fn chunk_limits() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010..2020
                layers:
                  - catalog: mapbiomas_lulc
                export: {to: drive, folder: geepipe}
                chunks:
                  sites_per_task: 0
                  max_concurrent: 5000
                  max_request_bytes: 20000000
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            chunks::zero

              × sites_per_task must be at least 1
                ╭─[p.yaml:9:19]
              8 │ chunks:
              9 │   sites_per_task: 0
                ·                   ┬
                ·                   ╰── zero
             10 │   max_concurrent: 5000
                ╰────
              help: each export task holds this many sites; the default is 50
            chunks::concurrency

              × max_concurrent must be between 1 and 3000
                ╭─[p.yaml:10:19]
              9 │   sites_per_task: 0
             10 │   max_concurrent: 5000
                ·                   ──┬─
                ·                     ╰── here
             11 │   max_request_bytes: 20000000
                ╰────
              help: Earth Engine queues at most 3,000 tasks per project
            chunks::request-size

              × max_request_bytes is above Earth Engine's 10 MB request limit
                ╭─[p.yaml:11:22]
             10 │   max_concurrent: 5000
             11 │   max_request_bytes: 20000000
                ·                      ────┬───
                ·                          ╰── too large
                ╰────
              help: use at most 10485760; 4000000 (the default) leaves room
            3 errors, 0 warnings
            "#,
        );
}

/// Schema and semantic problems in one file, all in one run, in file order.
#[test]
fn several_errors_in_one_file_are_reported_together() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                name: lulc
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2023..2010
                layers:
                  - catalog: mapbiomas_lulcc
                  - name: ndvi
                    kind: continuos
                export:
                  to: gcs
                  bukcet: my-bucket
                  priority: 20000
                reduce:
                  scale: "thirty"
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            years::empty-range

              × year range 2023..2010 is empty: it ends before it starts
               ╭─[p.yaml:5:8]
             4 │   id: site_id
             5 │ years: 2023..2010
               ·        ─────┬────
               ·             ╰── empty range
             6 │ layers:
               ╰────
              help: did you mean 2010..2023?
            layers::unknown-catalog

              × no catalog layer is named `mapbiomas_lulcc`
               ╭─[p.yaml:7:14]
             6 │ layers:
             7 │   - catalog: mapbiomas_lulcc
               ·              ───────┬───────
               ·                     ╰── unknown layer
             8 │   - name: ndvi
               ╰────
              help: did you mean `mapbiomas_lulc`? (`geepipe catalog` lists the built-in layers)
            schema::value

              × unknown value `continuos` for `layers[1].kind`
                ╭─[p.yaml:9:11]
              8 │   - name: ndvi
              9 │     kind: continuos
                ·           ────┬────
                ·               ╰── not an allowed value
             10 │ export:
                ╰────
              help: did you mean `continuous`? (allowed values: `categorical`, `continuous`)
            schema::unknown-field

              × unknown field `bukcet` in `export`
                ╭─[p.yaml:12:3]
             11 │   to: gcs
             12 │   bukcet: my-bucket
                ·   ───┬──
                ·      ╰── unknown field
             13 │   priority: 20000
                ╰────
              help: did you mean `bucket`? (`export` takes: to, folder, bucket, prefix, asset, table, format,
                    description, priority, workload_tag, overwrite)
            export::priority

              × priority must be between 0 and 9999
                ╭─[p.yaml:13:13]
             12 │   bukcet: my-bucket
             13 │   priority: 20000
                ·             ──┬──
                ·               ╰── too high
             14 │ reduce:
                ╰────
              help: Earth Engine task priorities run from 0 to 9999 (default 100)
            schema::type

              × wrong type for `reduce.scale`: expected a number, found text "thirty"
                ╭─[p.yaml:15:10]
             14 │ reduce:
             15 │   scale: "thirty"
                ·          ────┬───
                ·              ╰── expected a number
                ╰────
              help: `scale`: Pixel size in metres for the reduction. Defaults to each layer's native scale.
            6 errors, 0 warnings
            "#,
        );
}

/// TOML pipelines are checked the same way, with TOML's own positions.
#[test]
fn toml_errors_are_located_by_line_and_column() {
    with_sites(Test::new())
        .file(
            "p.toml",
            &text(
                r#"
                name = "t"
                years = "2010..2020"

                [sites]
                file = "sites.geojson"
                id = "site_id"

                [[layers]]
                catalog = "mapbiomas_lulcc"

                [export]
                to = "drive"
                folder = "geepipe"
                bukcet = "b"
                priority = "high"
                "#,
            ),
        )
        .args(["validate", "p.toml"])
        .expect(
            2,
            "",
            r#"
            layers::unknown-catalog

              × no catalog layer is named `mapbiomas_lulcc`
                ╭─[p.toml:9:11]
              8 │ [[layers]]
              9 │ catalog = "mapbiomas_lulcc"
                ·           ────────┬────────
                ·                   ╰── unknown layer
             10 │ 
                ╰────
              help: did you mean `mapbiomas_lulc`? (`geepipe catalog` lists the built-in layers)
            schema::unknown-field

              × unknown field `bukcet` in `export`
                ╭─[p.toml:14:1]
             13 │ folder = "geepipe"
             14 │ bukcet = "b"
                · ───┬──
                ·    ╰── unknown field
             15 │ priority = "high"
                ╰────
              help: did you mean `bucket`? (`export` takes: to, folder, bucket, prefix, asset, table, format,
                    description, priority, workload_tag, overwrite)
            schema::type

              × wrong type for `export.priority`: expected a whole number, found text "high"
                ╭─[p.toml:15:12]
             14 │ bukcet = "b"
             15 │ priority = "high"
                ·            ───┬──
                ·               ╰── expected a whole number
                ╰────
              help: `priority`: Task priority 0..9999 (honoured for paid projects only; default 100).
            3 errors, 0 warnings
            "#,
        );
}

/// A TOML syntax error points at the place.
#[test]
fn toml_syntax_error() {
    with_sites(Test::new())
        .file(
            "p.toml",
            &text(
                r#"
                name = "t"
                [sites]
                file = sites.geojson
                "#,
            ),
        )
        .args(["validate", "p.toml"])
        .expect(
            2,
            "",
            r#"
            toml::syntax

              × TOML syntax error: string values must be quoted, expected literal string
               ╭─[p.toml:3:8]
             2 │ [sites]
             3 │ file = sites.geojson
               ·        ──────┬──────
               ·              ╰── here
               ╰────
              help: fix the TOML syntax; strings need quotes, e.g. `to = "drive"`
            1 error, 0 warnings
            "#,
        );
}

/// A pipeline file that does not exist is invalid input.
#[test]
fn missing_pipeline_file() {
    with_sites(Test::new()).args(["validate", "nowhere.yaml"]).expect(
        2,
        "",
        r#"
              ——▶ nowhere.yaml
            pipeline::read

              × cannot read pipeline file `nowhere.yaml`: No such file or directory (os error 2)
              help: check the path; pipeline files are YAML (.yaml, .yml) or TOML (.toml)
            1 error, 0 warnings
            "#,
    );
}

/// A misspelled required key is one problem (unknown field, did you mean), not two.
#[test]
fn misspelled_required_key_is_reported_once() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                years: 2010
                layer:
                  - catalog: mapbiomas_lulc
                export: {too: drive}
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            schema::unknown-field

              × unknown field `layer` at the top level
               ╭─[p.yaml:5:1]
             4 │ years: 2010
             5 │ layer:
               · ──┬──
               ·   ╰── unknown field
             6 │   - catalog: mapbiomas_lulc
               ╰────
              help: did you mean `layers`? (the top level takes: name, project, engine, kind, mode, sites,
                    years, layers, reduce, export, image, classifier, chunks, interactive, output, journal,
                    vars)
            schema::unknown-field

              × unknown field `too` in `export`
               ╭─[p.yaml:7:10]
             6 │   - catalog: mapbiomas_lulc
             7 │ export: {too: drive}
               ·          ─┬─
               ·           ╰── unknown field
               ╰────
              help: did you mean `to`? (`export` takes: to, folder, bucket, prefix, asset, table, format,
                    description, priority, workload_tag, overwrite)
            2 errors, 0 warnings
            "#,
        );
}

/// An unknown key inside a list item is located and named by its path.
#[test]
fn unknown_key_in_a_layer() {
    with_sites(Test::new())
        .file(
            "p.yaml",
            &text(
                r#"
                sites:
                  file: sites.geojson
                  id: site_id
                layers:
                  - catalog: mapbiomas_lulc
                    yeras: 2010..2020
                export: {to: drive, folder: geepipe}
                "#,
            ),
        )
        .args(["validate", "p.yaml"])
        .expect(
            2,
            "",
            r#"
            schema::unknown-field

              × unknown field `yeras` in `layers[0]`
               ╭─[p.yaml:6:5]
             5 │   - catalog: mapbiomas_lulc
             6 │     yeras: 2010..2020
               ·     ──┬──
               ·       ╰── unknown field
             7 │ export: {to: drive, folder: geepipe}
               ╰────
              help: did you mean `years`? (`layers[0]` takes: catalog, name, title, years, kind, image, asset,
                    bands, stats, legend, scale, crs, units, available, nodata, local, local_mask, vars)
            1 error, 0 warnings
            "#,
        );
}

/// A missing site file is one more located problem, reported with the pipeline's other errors.
#[test]
fn missing_site_file_is_reported_with_the_other_errors() {
    let out = Test::new()
        .file("p.yaml", "sites: {file: sites.gejson, id: site_id}\nyears: 2020\nlayers:\n  - catalog: mapbiomas_lulc\nexport: {to: gcs, bucket: b}\n")
        .file("sites.geojson", "{}")
        .args(["validate", "p.yaml"])
        .code(2);
    assert!(out.stderr.contains("× site file `sites.gejson` does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("╭─[p.yaml:1:15]"), "{}", out.stderr);
    assert!(out.stderr.contains("help: did you mean `sites.geojson`?"), "{}", out.stderr);
    assert!(out.stderr.contains("× `b` is not a valid bucket name"), "{}", out.stderr);
    assert!(out.stderr.ends_with("2 errors, 0 warnings\n"), "{}", out.stderr);
}
