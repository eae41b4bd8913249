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
    assert_eq!(defo, (0..=7).collect::<Vec<_>>());
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
