//! Image exports on the grid Earth Engine makes: the `plan::max-pixels` estimate counts pixels in the
//! export's CRS units (with `crs: EPSG:4326` a pixel is `scale / 111319.49…` degrees, so a site at 60°N
//! has twice the pixels metres / scale² suggests), chips are masked outside the site polygon with or
//! without `crs_transform`, and an export without a pixel size is a located error.

mod common;

use common::Test;

/// A 0.1° × 0.1° site at 60°N.
const SITES: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"north"},"geometry":{"type":"Polygon","coordinates":[[[10.0,60.0],[10.1,60.0],[10.1,60.1],[10.0,60.1],[10.0,60.0]]]}}]}"#;

fn pipeline(image: &str, layer_scale: &str) -> String {
    format!(
        "name: chips\nproject: demo\nkind: image\nsites: {{file: sites.geojson, id: site_id}}\nyears: 2020\n\
         layers:\n  - name: lulc\n    kind: categorical\n{layer_scale}    \
         image: {{call: Image.select, input: {{call: Image.load, id: projects/p/assets/lulc}}, bandSelectors: [classification]}}\n\
         image: {image}\nexport: {{to: gcs, bucket: chips-bucket}}\n"
    )
}

/// Cells of `p` degrees a `[lo, hi]` interval touches on a grid aligned at 0 (counted here, not by geepipe).
fn cells(lo: f64, hi: f64, p: f64) -> f64 {
    (hi / p).floor() - (lo / p).floor() + 1.0
}

#[test]
fn the_pixel_estimate_counts_the_epsg4326_grid_at_latitude() {
    let pd = 30.0 / 111_319.490_793_273_57;
    let grid = cells(10.0, 10.1, pd) * cells(60.0, 60.1, pd);
    assert!(grid > 137_000.0 && grid < 140_000.0, "{grid}");
    // metres / scale² (the old estimate) is about half: under the limit, though the export would fail.
    let metric = (0.1 * 111_319.49 * 60.05f64.to_radians().cos() / 30.0) * (0.1 * 110_574.0 / 30.0);
    assert!(metric < 100_000.0, "{metric}");

    let t = Test::new()
        .file("sites.geojson", SITES)
        .file("p.yaml", &pipeline("{crs: 'EPSG:4326', scale: 30, max_pixels: 100000}", ""))
        .args(["plan", "p.yaml"]);
    let out = t.code(0);
    let want =
        format!("export `lulc-2020-s00000` covers about {grid:.0} pixels per band, more than `maxPixels` (100000)");
    assert!(out.stderr.contains("plan::max-pixels") && out.stderr.contains(&want), "want {want}\n{}", out.stderr);

    // In a metric projection (UTM 33N) the same site is about 69,000 pixels: no warning.
    let t = t.file("p.yaml", &pipeline("{crs: 'EPSG:32633', scale: 30, max_pixels: 100000}", ""));
    let out = t.code(0);
    assert!(!out.stderr.contains("plan::max-pixels"), "{}", out.stderr);
}

/// A right triangle in the south-west half of the 0.1° box at 60°N: its bounding box is the box.
const TRIANGLE: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"north"},"geometry":{"type":"Polygon","coordinates":[[[10.0,60.0],[10.1,60.0],[10.0,60.1],[10.0,60.0]]]}}]}"#;

#[test]
fn chips_are_masked_outside_the_site_with_and_without_crs_transform() {
    use fake_ee::eval::image::Px;
    use fake_ee::world::{band_value, Cell};
    for image in ["{scale: 30}", "{crs: 'EPSG:4326', crs_transform: [0.00025, 0, 10, 0, -0.00025, 60.1]}"] {
        let t = Test::new()
            .file("sites.geojson", TRIANGLE)
            .file("p.yaml", &pipeline(image, ""))
            .args(["plan", "p.yaml", "--out", "out"]);
        let out = t.code(0);
        let body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.dir.join("out/lulc-2020-s00000.json")).unwrap()).unwrap();
        // The chip evaluated with Earth Engine's semantics (the fake): inside the triangle it is the
        // layer's band; in the other half of the bounding box, and outside it, no data.
        let chip = match fake_ee::eval::evaluate(&body["expression"], None).expect("evaluates") {
            fake_ee::eval::V::Image(i) => i,
            other => panic!("{image}: not an image: {other:?}"),
        };
        let band = &chip.bands[0];
        let at = |lon: f64, lat: f64| band.sample(&Px { lon, lat, cell: Cell::containing(lon, lat, 0.00025) });
        let mut inside_valid = 0;
        for k in 1..40 {
            let (lon, lat) = (10.0 + 0.001 * k as f64, 60.0 + 0.0012 * k as f64 / 2.0);
            let source = band_value("projects/p/assets/lulc", "classification", None, lon, lat);
            let s = at(lon, lat);
            assert_eq!(s.valid(), source.is_some(), "{image}: inside at ({lon}, {lat})");
            if let Some(v) = source {
                assert_eq!(s.v, v as f64, "{image}: the layer's value");
                inside_valid += 1;
            }
            // Mirrored into the box's north-east half: outside the polygon.
            assert!(!at(20.1 - lon, 120.1 - lat).valid(), "{image}: masked at ({}, {})", 20.1 - lon, 120.1 - lat);
        }
        assert!(inside_valid > 20, "{image}: the world has data inside ({inside_valid})");
        assert!(!at(10.2, 60.05).valid() && !at(9.95, 60.02).valid(), "{image}: outside the box");
    }
}

#[test]
fn an_export_without_a_pixel_size_is_a_located_error() {
    let t = Test::new()
        .file("sites.geojson", SITES)
        .file("p.yaml", &pipeline("{crs: 'EPSG:32633'}", ""))
        .args(["validate", "p.yaml"]);
    let out = t.code(2);
    assert!(
        out.stderr.contains("image::scale-missing")
            && out.stderr.contains("the exports of layer `lulc` have no pixel size")
            && out.stderr.contains("`EPSG:32633` (a metre in UTM)"),
        "{}",
        out.stderr
    );
    // A scale on the layer is enough.
    let t = t.file("p.yaml", &pipeline("{crs: 'EPSG:32633'}", "    scale: 30\n"));
    t.code(0);
}
