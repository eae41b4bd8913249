//! The built-in catalog: every entry fits the layer model, names only real algorithms and arguments, and
//! the `catalog` command lists and explains them.

mod common;
use common::Test;

const NAMES: &[&str] = &[
    "mapbiomas_lulc",
    "mapbiomas_deforestation",
    "dynamic_world",
    "esa_worldcover",
    "hansen_treecover2000",
    "hansen_loss",
    "modis_landcover",
    "jrc_water_history",
    "s2_ndvi",
    "s2_evi",
    "modis_ndvi",
    "chirps_precipitation",
    "srtm_elevation",
];

#[test]
fn the_catalog_has_the_documented_entries() {
    let names: Vec<&str> = geepipe::catalog::names().collect();
    assert_eq!(names, NAMES);
    for n in NAMES {
        let l = geepipe::catalog::get(n).unwrap();
        assert_eq!(l.name.as_deref(), Some(*n), "entry {n} names itself");
        assert!(l.title.is_some() && l.kind.is_some() && l.scale.is_some() && l.asset.is_some(), "{n}");
        assert!(l.image.is_some(), "{n} has an image expression");
        assert!(l.available.is_some() || l.years.is_some(), "{n} says which years it has");
    }
}

#[test]
fn every_entry_uses_only_known_algorithms_and_arguments() {
    for n in NAMES {
        let l = geepipe::catalog::get(n).unwrap();
        let problems = geepipe::expr::check_layer_image(l.image.as_ref().unwrap());
        assert!(problems.is_empty(), "{n}: {problems:?}");
    }
}

#[test]
fn categorical_entries_have_a_complete_coloured_legend() {
    for n in NAMES {
        let l = geepipe::catalog::get(n).unwrap();
        if l.kind == Some(geepipe::pipeline::LayerKind::Categorical) {
            let legend = l.legend.unwrap_or_default();
            assert!(!legend.is_empty(), "{n}");
            for e in &legend {
                let c = e.color.as_deref().unwrap_or_default();
                assert!(
                    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit()),
                    "{n}: {c}"
                );
            }
        }
    }
    let lulc = geepipe::catalog::get("mapbiomas_lulc").unwrap().legend.unwrap();
    assert_eq!(lulc.len(), 38, "MapBiomas collection 10 has 38 legend classes (with parents)");
    let defo: Vec<i64> =
        geepipe::catalog::get("mapbiomas_deforestation").unwrap().legend.unwrap().iter().map(|e| e.code).collect();
    assert_eq!(defo, (1..=7).collect::<Vec<_>>(), "0 is no data, not a class");
}

#[test]
fn catalog_lists_every_entry_as_a_table() {
    let out = Test::new().arg("catalog").code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("KIND")
            && lines[0].contains("YEARS")
            && lines[0].contains("SCALE")
            && lines[0].contains("TITLE")
    );
    assert_eq!(lines.len(), NAMES.len() + 1);
    let lulc = lines.iter().find(|l| l.starts_with("mapbiomas_lulc ")).unwrap();
    assert!(lulc.contains("categorical") && lulc.contains("1985..2024") && lulc.contains("30 m"), "{lulc}");
    let srtm = lines.iter().find(|l| l.starts_with("srtm_elevation ")).unwrap();
    assert!(srtm.contains("continuous") && srtm.contains("static"), "{srtm}");
}

#[test]
fn catalog_show_explains_one_entry() {
    let out = Test::new().args(["catalog", "show", "esa_worldcover"]).code(0);
    for needle in [
        "asset:",
        "ESA/WorldCover",
        "years:   2020, 2021",
        "scale:   10 m",
        "#006400",
        "Tree cover",
        "grid:    the image's own (the projection of its first band; about 10 m)",
        "no data: no no-data value",
        "checked (where each fact comes from):",
        "id: https://developers.google.com/earth-engine/datasets/catalog/ESA_WorldCover_v100",
        "\"call\": \"Image.select\"",
    ] {
        assert!(out.stdout.contains(needle), "missing {needle} in\n{}", out.stdout);
    }
}

#[test]
fn catalog_show_unknown_suggests_and_exits_2() {
    Test::new().args(["catalog", "show", "mapbiomas_lulcc"]).expect(
        2,
        "",
        "error: no catalog layer is named `mapbiomas_lulcc`\n  help: did you mean `mapbiomas_lulc`? (`geepipe catalog` lists them all)",
    );
}

/// The planned request of a one-layer pipeline over one site, its expression resolved into a plain tree
/// (`{"fn": name, "args": {…}}` for calls, constants as plain JSON).
fn planned_tree(name: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let sites = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"a"},"geometry":{"type":"Polygon","coordinates":[[[-47.95,-15.8],[-47.9,-15.8],[-47.9,-15.75],[-47.95,-15.8]]]}}]}"#;
    std::fs::write(dir.path().join("sites.geojson"), sites).unwrap();
    let years = match name {
        "esa_worldcover" => "2021",
        _ => "2020",
    };
    let yaml = format!(
        "name: cat\nsites: {{file: sites.geojson, id: site_id}}\nyears: {years}\nlayers: [{{catalog: {name}}}]\n\
         export: {{to: gcs, bucket: my-bucket}}\n"
    );
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (p, _) = geepipe::pipeline::load(&path, &geepipe::pipeline::Overrides::default())
        .unwrap_or_else(|d| panic!("{name}: {:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()));
    let plan = geepipe::plan::Planner::new(&p).unwrap_or_else(|_| panic!("{name} plans")).plan();
    common::resolve(&plan.tasks[0].body["expression"])
}

/// Every distinct call named `f` anywhere in the tree (a value used twice is one call).
fn calls<'a>(tree: &'a serde_json::Value, f: &str, out: &mut Vec<&'a serde_json::Value>) {
    match tree {
        serde_json::Value::Object(m) => {
            if m.get("fn").and_then(|x| x.as_str()) == Some(f) && !out.contains(&tree) {
                out.push(tree);
            }
            m.values().for_each(|v| calls(v, f, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| calls(v, f, out)),
        _ => {}
    }
}

#[test]
fn every_layer_is_reduced_on_its_documented_grid() {
    use geepipe::pipeline::Grid;
    let explicit = |crs: &str, scale: f64| Grid::Explicit { crs: crs.into(), scale };
    for n in NAMES {
        let want = match *n {
            "dynamic_world" | "s2_ndvi" | "s2_evi" => explicit("EPSG:4326", 10.0),
            _ => Grid::Native,
        };
        assert_eq!(geepipe::catalog::grid(n), Some(want.clone()), "{n}");
        let tree = planned_tree(n);
        let mut reductions = Vec::new();
        calls(&tree, "Image.reduceRegions", &mut reductions);
        assert_eq!(reductions.len(), 1, "{n}");
        let args = &reductions[0]["args"];
        match want {
            Grid::Native => {
                assert!(args.get("scale").is_none() && args.get("crs").is_none(), "{n}: {args}");
                // The first band is the layer's own: the class band (categorical) or its first band.
                let image = &args["image"];
                let first = if image["fn"] == "Image.cat" { &image["args"]["images"][0] } else { image };
                assert_eq!(first["fn"], "Image.select", "{n}");
                let new = first["args"]["newNames"][0].as_str().unwrap();
                assert!(new.starts_with(&format!("{n}__")) && !new.ends_with("__area"), "{n}: {new}");
            }
            Grid::Explicit { crs, scale } => {
                assert_eq!(args["crs"]["args"]["crs"], crs.as_str(), "{n}");
                assert_eq!(args["scale"].as_f64(), Some(scale), "{n}");
            }
            Grid::Scale { .. } => unreachable!(),
        }
    }
}

#[test]
fn every_layer_masks_its_nodata_in_the_planned_expression() {
    // (entry, no-data values, mask band and its valid values)
    type Want<'a> = (&'a str, &'a [f64], Option<(&'a str, &'a [f64])>);
    let want: &[Want] = &[
        ("mapbiomas_lulc", &[0.0], None),
        ("mapbiomas_deforestation", &[0.0], None),
        ("dynamic_world", &[], None),
        ("esa_worldcover", &[], None),
        ("hansen_treecover2000", &[], Some(("datamask", &[1.0, 2.0]))),
        ("hansen_loss", &[], Some(("datamask", &[1.0]))),
        ("modis_landcover", &[], None),
        ("jrc_water_history", &[0.0], None),
        ("s2_ndvi", &[], None),
        ("s2_evi", &[], None),
        ("modis_ndvi", &[], None),
        ("chirps_precipitation", &[], None),
        ("srtm_elevation", &[], None),
    ];
    assert_eq!(want.len(), NAMES.len());
    for (n, values, mask) in want {
        let entry = geepipe::catalog::get(n).unwrap();
        let declared = entry.nodata.clone().unwrap_or_default();
        assert_eq!(declared.values.clone().unwrap_or_default(), *values, "{n}: declared values");
        assert_eq!(declared.mask.as_ref().map(|m| (m.band.as_str(), m.valid.as_slice())), *mask, "{n}: declared mask");
        let tree = planned_tree(n);
        let mut neq = Vec::new();
        calls(&tree, "Image.neq", &mut neq);
        let masked: Vec<f64> = neq.iter().filter_map(|c| c["args"]["image2"]["args"]["value"].as_f64()).collect();
        assert_eq!(masked, *values, "{n}: each no-data value is masked with Image.neq");
        let mut updates = Vec::new();
        calls(&tree, "Image.updateMask", &mut updates);
        let mut eqs = Vec::new();
        calls(&tree, "Image.eq", &mut eqs);
        let mask_eqs: Vec<f64> = eqs
            .iter()
            .filter(|c| c["args"]["image1"]["args"]["bandSelectors"] == serde_json::json!(["datamask"]))
            .filter_map(|c| c["args"]["image2"]["args"]["value"].as_f64())
            .collect();
        match mask {
            Some((band, valid)) => {
                assert_eq!(mask_eqs, *valid, "{n}: the mask band's valid values");
                let load = &eqs
                    .iter()
                    .find(|c| c["args"]["image1"]["args"]["bandSelectors"] == serde_json::json!([band]))
                    .unwrap()["args"]["image1"]["args"]["input"];
                assert_eq!(load["fn"], "Image.load");
                assert_eq!(load["args"]["id"].as_str(), entry.asset.as_deref(), "{n}: read from the asset");
            }
            None => assert!(mask_eqs.is_empty(), "{n}"),
        }
        // The masks are applied to the layer's image before anything is reduced.
        let masks_applied = updates.iter().any(|u| {
            let mut inner = Vec::new();
            calls(&u["args"]["mask"], "Image.neq", &mut inner);
            calls(&u["args"]["mask"], "Image.eq", &mut inner);
            !inner.is_empty()
        });
        assert_eq!(masks_applied, !values.is_empty() || mask.is_some(), "{n}");
    }
}

#[test]
fn every_entry_cites_where_each_fact_was_checked() {
    for n in NAMES {
        let sources = geepipe::catalog::sources(n);
        let facts: Vec<&str> = sources.iter().map(|(f, _)| f.as_str()).collect();
        let entry = geepipe::catalog::get(n).unwrap();
        let mut want = vec!["id", "bands", "years"];
        if entry.kind == Some(geepipe::pipeline::LayerKind::Categorical) {
            want.push("legend");
        }
        want.extend(["scale", "nodata"]);
        for f in want {
            assert!(facts.contains(&f), "{n} does not say where its `{f}` was checked: {facts:?}");
        }
        for (f, c) in &sources {
            assert!(c.len() >= 15, "{n}: `{f}` has no real citation: {c}");
        }
    }
    // Hansen is the current version.
    for n in ["hansen_loss", "hansen_treecover2000"] {
        assert_eq!(
            geepipe::catalog::get(n).unwrap().asset.as_deref(),
            Some("UMD/hansen/global_forest_change_2025_v1_13")
        );
    }
}

#[test]
fn catalog_show_lists_no_data_and_grid() {
    let out = Test::new().args(["catalog", "show", "hansen_loss"]).code(0);
    assert!(out.stdout.contains("no data: pixels masked where band `datamask` is not 1"), "{}", out.stdout);
    assert!(out.stdout.contains("UMD/hansen/global_forest_change_2025_v1_13"), "{}", out.stdout);
    let out = Test::new().args(["catalog", "show", "jrc_water_history"]).code(0);
    assert!(out.stdout.contains("no data: value 0 masked"), "{}", out.stdout);
    let out = Test::new().args(["catalog", "show", "dynamic_world"]).code(0);
    assert!(out.stdout.contains("grid:    EPSG:4326 at 10 m"), "{}", out.stdout);
}
