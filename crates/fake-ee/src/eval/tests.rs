//! Unit tests of the evaluator. Expected values are computed here from the synthetic world's definition
//! ([`crate::world`]: pixels of a region, band values, masks, pixel areas) with plain loops, never with
//! the evaluator's own reducers.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use super::*;
use crate::world;

const MAPBIOMAS: &str =
    "projects/mapbiomas-public/assets/brazil/lulc/collection9/mapbiomas_collection90_integration_v1";

fn captured(name: &str) -> Json {
    let dir = crate::default_reference_dir().expect("reference folder");
    serde_json::from_str(&std::fs::read_to_string(dir.join("captured").join(name)).unwrap()).unwrap()
}

fn c(v: Json) -> Json {
    json!({ "constantValue": v })
}

fn call(name: &str, args: Json) -> Json {
    json!({"functionInvocationValue": {"functionName": name, "arguments": args}})
}

fn run(root: Json) -> Result<V, EvalError> {
    evaluate(&json!({"result": "0", "values": {"0": root}}), None)
}

fn features(v: V) -> Vec<Feature> {
    (*v.into_features().unwrap()).clone()
}

fn square(x: f64, y: f64, d: f64) -> Vec<Vec<[f64; 2]>> {
    vec![vec![[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]
}

fn polygon_node(ring: &[Vec<[f64; 2]>]) -> Json {
    call("GeometryConstructors.Polygon", json!({"coordinates": c(json!(ring)), "evenOdd": c(json!(true))}))
}

fn sites(n: usize) -> (Json, Vec<Vec<Vec<[f64; 2]>>>) {
    let rings: Vec<_> = (0..n).map(|i| square(-48.0 + i as f64 * 0.01, -15.8, 0.002 + 0.001 * i as f64)).collect();
    let feats: Vec<Json> = rings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            call("Feature", json!({"geometry": polygon_node(r), "metadata": c(json!({"site_id": format!("s{i}")}))}))
        })
        .collect();
    (call("Collection", json!({"features": {"arrayValue": {"values": feats}}})), rings)
}

/// (weight, value) of each unmasked pixel of a region: the world's definition, read directly.
fn world_pixels(ring: &[Vec<[f64; 2]>], scale: f64, asset: &str, band: &str) -> Vec<(f64, i64, world::Cell)> {
    world::region_pixels(&[ring.to_vec()], world::grid_degrees(scale))
        .into_iter()
        .filter_map(|p| {
            let (x, y) = p.cell.centre();
            world::band_value(asset, band, None, x, y).map(|v| (p.weight, v, p.cell))
        })
        .collect()
}

fn rings_of(expr: &Json) -> Vec<Vec<Vec<[f64; 2]>>> {
    // The two captured sites (coordinates repeated in the capture through references "1" and "2").
    let corner = |k: &str| -> [f64; 2] { serde_json::from_value(expr["values"][k]["constantValue"].clone()).unwrap() };
    let (a, b) = (corner("1"), corner("2"));
    vec![
        vec![vec![a, [-47.9, -15.8], [-47.9, -15.75], [-47.95, -15.75], a]],
        vec![vec![b, [-48.05, -15.9], [-48.05, -15.85], [-48.1, -15.85], b]],
    ]
}

#[test]
fn captured_zonal_histogram_gives_weighted_class_counts() {
    let expr = captured("expression_zonal_histogram.json");
    let out = features(evaluate(&expr, None).unwrap());
    assert_eq!(out.len(), 2);
    for (f, (ring, id)) in out.iter().zip(rings_of(&expr).iter().zip(["a", "b"])) {
        assert_eq!(f.props["site_id"].csv_text(), id);
        let mut want: BTreeMap<String, f64> = BTreeMap::new();
        for (w, v, _) in world_pixels(ring, 30.0, MAPBIOMAS, "classification_2020") {
            *want.entry(v.to_string()).or_default() += w;
        }
        assert!(!want.is_empty(), "the 5 km sites have unmasked pixels");
        let got = f.props["histogram"].clone().into_dict().unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
        for (k, w) in want {
            assert!((got[&k].num().unwrap() - w).abs() < 1e-12, "{id} class {k}");
        }
    }
    // Those sites are far larger than a pixel: 9 probes, 9 interior pixels of weight 1.
    let px = world::region_pixels(&rings_of(&expr)[..1], world::grid_degrees(30.0));
    assert_eq!(px.len(), 9);
    assert!(px.iter().all(|p| p.weight == 1.0));
}

#[test]
fn captured_zonal_mean_gives_the_weighted_mean_named_mean() {
    let expr = captured("expression_zonal_mean.json");
    let out = features(evaluate(&expr, None).unwrap());
    for (f, ring) in out.iter().zip(rings_of(&expr)) {
        let px = world_pixels(&ring, 30.0, MAPBIOMAS, "classification_2020");
        let want = px.iter().map(|(w, v, _)| w * *v as f64).sum::<f64>() / px.iter().map(|p| p.0).sum::<f64>();
        assert!((f.props["mean"].num().unwrap() - want).abs() < 1e-9);
        assert_eq!(f.props.keys().collect::<Vec<_>>(), ["mean", "site_id", "system:index"]);
    }
}

#[test]
fn captured_value_compute_counts_the_features() {
    let body = captured("value_compute.json");
    assert_eq!(evaluate(&body["expression"], None).unwrap().to_json(), json!(2));
}

/// The planner's categorical chain, written by hand: hectares and pixels per class per year, then a map
/// that turns the groups into JSON text.
fn categorical_chain(group_name: &str, read_name: &str) -> Json {
    let img = |year: i32| {
        let cls = call(
            "Image.select",
            json!({"input": call("Image.load", json!({"id": c(json!("lulc"))})),
                   "bandSelectors": c(json!([format!("classification_{year}")])),
                   "newNames": c(json!([format!("l__{year}__class")]))}),
        );
        let mask = call("Image.mask", json!({"image": cls}));
        let ha = call(
            "Image.multiply",
            json!({"image1": call("Image.pixelArea", json!({})), "image2": call("Image.constant", json!({"value": c(json!(0.0001))}))}),
        );
        let ha = call(
            "Image.rename",
            json!({"input": call("Image.updateMask", json!({"image": ha, "mask": mask})), "names": c(json!([format!("l__{year}__area")]))}),
        );
        let px = call(
            "Image.updateMask",
            json!({"image": call("Image.constant", json!({"value": c(json!(1))})), "mask": mask}),
        );
        let px = call("Image.rename", json!({"input": px, "names": c(json!([format!("l__{year}__pixels")]))}));
        vec![ha, px, cls]
    };
    let mut parts = img(2020);
    parts.extend(img(2021));
    let image = call("Image.cat", json!({"images": {"arrayValue": {"values": parts}}}));
    let inner = call(
        "Reducer.forEach",
        json!({"reducer": call("Reducer.sum", json!({})), "outputNames": c(json!(["ha", "px"]))}),
    );
    let group =
        call("Reducer.group", json!({"reducer": inner, "groupField": c(json!(2)), "groupName": c(json!(group_name))}));
    let reducer = call("Reducer.forEach", json!({"reducer": group, "outputNames": c(json!(["l__2020", "l__2021"]))}));
    let (coll, _) = sites(4);
    let reduced = call(
        "Image.reduceRegions",
        json!({"image": image, "collection": coll, "reducer": reducer, "scale": c(json!(30))}),
    );
    let g = json!({"argumentReference": "_MAPPING_VAR_0_0"});
    let field = |k: &str| call("Dictionary.get", json!({"dictionary": g, "key": c(json!(k))}));
    let key_fn = json!({"functionDefinitionValue": {"argumentNames": ["_MAPPING_VAR_0_0"], "body": "k"}});
    let ha_fn = json!({"functionDefinitionValue": {"argumentNames": ["_MAPPING_VAR_0_0"], "body": "h"}});
    let f = json!({"argumentReference": "_MAPPING_VAR_1_0"});
    let groups = call(
        "Dictionary.get",
        json!({"dictionary": call("Element.toDictionary", json!({"element": f})), "key": c(json!("l__2020")), "defaultValue": c(json!([]))}),
    );
    let keys = call("List.map", json!({"list": groups, "baseAlgorithm": key_fn}));
    let vals = call("List.map", json!({"list": groups, "baseAlgorithm": ha_fn}));
    let text = call(
        "String.encodeJSON",
        json!({"object": call("Dictionary.fromLists", json!({"keys": keys, "values": vals}))}),
    );
    let body = call(
        "Element.setMulti",
        json!({"object": f, "properties": {"dictionaryValue": {"values": {"l__2020__ha": text}}}}),
    );
    json!({"result": "0", "values": {
        "0": call("Collection.map", json!({"collection": reduced, "baseAlgorithm": {"functionDefinitionValue": {"argumentNames": ["_MAPPING_VAR_1_0"], "body": "m"}}})),
        "m": body,
        "k": call("Number.format", json!({"number": call("Number.toInt", json!({"input": field(read_name)})), "pattern": c(json!("%d"))})),
        "h": field("ha"),
    }})
}

#[test]
fn group_for_each_chain_gives_hectares_per_class_as_json() {
    let out = features(evaluate(&categorical_chain("class", "class"), None).unwrap());
    let (_, rings) = sites(4);
    let mut nonempty = 0;
    for (f, ring) in out.iter().zip(&rings) {
        // Independent: sum of weight × true cell area per class code.
        let mut want: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        for (w, v, cell) in world_pixels(ring, 30.0, "lulc", "classification_2020") {
            let e = want.entry(v).or_default();
            e.0 += w * world::cell_area(&cell) * 0.0001;
            e.1 += w;
        }
        let groups = f.props["l__2020"].clone().into_list().unwrap();
        assert_eq!(groups.len(), want.len());
        for (g, (code, (ha, px))) in groups.iter().zip(&want) {
            let g = g.clone().into_dict().unwrap();
            assert_eq!(g["class"].num(), Some(*code as f64));
            assert!((g["ha"].num().unwrap() - ha).abs() < 1e-12);
            assert!((g["px"].num().unwrap() - px).abs() < 1e-12);
        }
        let text = f.props["l__2020__ha"].clone().into_string().unwrap();
        let parsed: BTreeMap<String, f64> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.len(), want.len());
        for (code, (ha, _)) in &want {
            assert!((parsed[&code.to_string()] - ha).abs() < 1e-12, "{text}");
        }
        nonempty += usize::from(!want.is_empty());
        assert!(f.props.contains_key("l__2021"), "the second year's groups");
    }
    assert!(nonempty > 0);
}

#[test]
fn a_renamed_group_name_breaks_the_chain_visibly() {
    // The group output is keyed `klass`, the map reads `class`: Dictionary.get without default fails.
    let err = evaluate(&categorical_chain("klass", "class"), None).unwrap_err();
    assert!(err.message.contains("Dictionary does not contain key: class"), "{}", err.message);
}

#[test]
fn combined_statistics_are_named_by_for_each_and_percentile() {
    let img = call(
        "Image.select",
        json!({"input": call("Image.load", json!({"id": c(json!("srtm"))})), "bandSelectors": c(json!(["elevation"])), "newNames": c(json!(["e__2020__elevation"]))}),
    );
    let each = |r: Json, name: &str| call("Reducer.forEach", json!({"reducer": r, "outputNames": c(json!([name]))}));
    let mean = each(call("Reducer.mean", json!({})), "e__2020__elevation__mean");
    let p90 = each(call("Reducer.percentile", json!({"percentiles": c(json!([90]))})), "e__2020__elevation__p90");
    let count = each(call("Reducer.count", json!({})), "e__2020__elevation__count");
    let r = call("Reducer.combine", json!({"reducer1": mean, "reducer2": p90, "sharedInputs": c(json!(true))}));
    let r = call("Reducer.combine", json!({"reducer1": r, "reducer2": count, "sharedInputs": c(json!(true))}));
    let (coll, rings) = sites(6);
    let out = features(
        run(call(
            "Image.reduceRegions",
            json!({"image": img, "collection": coll, "reducer": r, "scale": c(json!(30))}),
        ))
        .unwrap(),
    );
    for (f, ring) in out.iter().zip(&rings) {
        let px = world_pixels(ring, 30.0, "srtm", "elevation");
        let mut vals: Vec<f64> = px.iter().map(|p| p.1 as f64).collect();
        vals.sort_by(f64::total_cmp);
        let got = |k: &str| f.props[&format!("e__2020__elevation__{k}")].num();
        assert_eq!(got("count"), Some(vals.len() as f64), "count is unweighted");
        if vals.is_empty() {
            assert_eq!(got("mean"), None);
            continue;
        }
        let sw: f64 = px.iter().map(|p| p.0).sum();
        assert!((got("mean").unwrap() - px.iter().map(|p| p.0 * p.1 as f64).sum::<f64>() / sw).abs() < 1e-9);
        // p90 by hand: rank 0.9·(n−1), linear between neighbours.
        let rank = 0.9 * (vals.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        assert!((got("p90").unwrap() - (vals[lo] + (vals[hi] - vals[lo]) * (rank - lo as f64))).abs() < 1e-9);
    }
}

#[test]
fn masks_are_honoured_and_empty_regions_give_nulls() {
    let img = call(
        "Image.updateMask",
        json!({"image": call("Image.select", json!({"input": call("Image.load", json!({"id": c(json!("x"))})), "bandSelectors": c(json!(["b"]))})),
               "mask": call("Image.constant", json!({"value": c(json!(0))}))}),
    );
    let (coll, _) = sites(2);
    let r = call(
        "Reducer.combine",
        json!({"reducer1": call("Reducer.mean", json!({})), "reducer2": call("Reducer.frequencyHistogram", json!({})), "sharedInputs": c(json!(true))}),
    );
    let out = features(
        run(call(
            "Image.reduceRegions",
            json!({"image": img, "collection": coll, "reducer": r, "scale": c(json!(30))}),
        ))
        .unwrap(),
    );
    for f in out {
        assert!(matches!(f.props["mean"], V::Null));
        assert_eq!(f.props["histogram"].to_json(), json!({}));
    }
}

#[test]
fn collections_filter_by_date_map_and_reduce_with_documented_names() {
    let load = call("ImageCollection.load", json!({"id": c(json!("MODIS/061/MOD13Q1"))}));
    let range = call(
        "DateRange",
        json!({"start": call("Date", json!({"value": c(json!("2020-01-01"))})), "end": call("Date", json!({"value": c(json!("2021-01-01"))}))}),
    );
    let year = call(
        "Collection.filter",
        json!({"collection": load, "filter": call("Filter.dateRangeContains", json!({"leftValue": range, "rightField": c(json!("system:time_start"))}))}),
    );
    let reduced =
        call("ImageCollection.reduce", json!({"collection": year.clone(), "reducer": call("Reducer.mean", json!({}))}));
    let img = call("Image.select", json!({"input": reduced, "bandSelectors": c(json!(["NDVI_mean"]))}));
    let (coll, rings) = sites(3);
    let out = features(run(call("Image.reduceRegions", json!({"image": img, "collection": coll, "reducer": call("Reducer.mean", json!({})), "scale": c(json!(250))}))).unwrap());
    let times: Vec<i64> = world::collection_times("MODIS/061/MOD13Q1")
        .into_iter()
        .filter(|t| *t >= 1_577_836_800_000 && *t < 1_609_459_200_000)
        .collect();
    assert!(times.len() > 20);
    for (f, ring) in out.iter().zip(&rings) {
        let pixels = world::region_pixels(std::slice::from_ref(ring), world::grid_degrees(250.0));
        let (mut sw, mut s) = (0.0, 0.0);
        for p in pixels {
            let (x, y) = p.cell.centre();
            let v: Vec<f64> = times
                .iter()
                .filter_map(|t| world::band_value("MODIS/061/MOD13Q1", "NDVI", Some(*t), x, y).map(|v| v as f64))
                .collect();
            if !v.is_empty() {
                sw += p.weight;
                s += p.weight * v.iter().sum::<f64>() / v.len() as f64;
            }
        }
        assert!((f.props["mean"].num().unwrap() - s / sw).abs() < 1e-9);
    }
    // The size of the filtered collection, and a band the reducer did not make.
    assert_eq!(
        run(call("Collection.size", json!({"collection": year.clone()}))).unwrap().to_json(),
        json!(times.len())
    );
    let bad = call(
        "Image.select",
        json!({"input": call("ImageCollection.reduce", json!({"collection": year, "reducer": call("Reducer.mean", json!({}))})), "bandSelectors": c(json!(["NDVI"]))}),
    );
    let err = run(bad).unwrap_err();
    assert!(err.message.contains("Pattern 'NDVI' did not match any bands"), "{}", err.message);
}

#[test]
fn unknown_algorithms_unread_arguments_and_types_are_clear_errors() {
    let e = run(call("Image.spectralErosion", json!({"image": c(json!(1))}))).unwrap_err();
    assert!(e.message.contains("does not implement the algorithm `Image.spectralErosion`"), "{}", e.message);
    let e = run(call("Reducer.sum", json!({"bogus": c(json!(1))}))).unwrap_err();
    assert!(e.message.contains("Reducer.sum") && e.message.contains("bogus"), "{}", e.message);
    let e = run(call(
        "Image.rename",
        json!({"input": call("Image.load", json!({"id": c(json!("a"))})), "names": c(json!(["x"]))}),
    ))
    .unwrap_err();
    assert!(e.message.starts_with("Image.rename: fake-ee cannot list the bands of asset `a`"), "{}", e.message);
    let e = run(call("Number.format", json!({"number": c(json!(2.0)), "pattern": c(json!("%d"))}))).unwrap_err();
    assert!(e.message.contains("d != java.lang.Double"), "{}", e.message);
    assert_eq!(
        run(call(
            "Number.format",
            json!({"number": call("Number.toInt", json!({"input": c(json!(2.0))})), "pattern": c(json!("%d"))})
        ))
        .unwrap()
        .to_json(),
        json!("2")
    );
    let deadline = std::time::Instant::now();
    let e =
        evaluate(&json!({"result": "0", "values": {"0": call("Reducer.sum", json!({}))}}), Some(deadline)).unwrap_err();
    assert!(e.timed_out && e.message == "Computation timed out.");
}

#[test]
fn filter_in_list_follows_the_server_semantics() {
    // "passes if the left operand, a list, contains the right operand": the official clients send
    // ee.Filter.inList(field, values) as listContains{leftValue: values, rightField: field}.
    let table = call("Collection.loadTable", json!({"tableId": c(json!("projects/p/assets/t"))}));
    let ok = call(
        "Collection.filter",
        json!({"collection": table.clone(), "filter": call("Filter.inList", json!({"leftValue": c(json!(["f3", "f5", "nope"])), "rightField": c(json!("id"))}))}),
    );
    let got = features(run(ok).unwrap());
    assert_eq!(got.iter().map(|f| f.get("id").unwrap().csv_text()).collect::<Vec<_>>(), ["f3", "f5"]);
    let swapped = call(
        "Collection.filter",
        json!({"collection": table, "filter": call("Filter.inList", json!({"leftField": c(json!("id")), "rightValue": c(json!(["f3"]))}))}),
    );
    assert!(features(run(swapped).unwrap()).is_empty(), "a string property is not a list");
}

#[test]
fn image_algebra_matches_bands_and_masks() {
    let sel = |bands: Json| {
        call(
            "Image.select",
            json!({"input": call("Image.load", json!({"id": c(json!("s2"))})), "bandSelectors": c(bands)}),
        )
    };
    let nd = call(
        "Image.normalizedDifference",
        json!({"input": sel(json!(["B8", "B4"])), "bandNames": c(json!(["B8", "B4"]))}),
    );
    let scaled = call("Image.multiply", json!({"image1": sel(json!(["B8", "B4"])), "image2": c(json!(2))}));
    let cat = call("Image.cat", json!({"images": {"arrayValue": {"values": [nd, scaled, sel(json!(["B8"]))]}}}));
    let names = run(call("Image.bandNames", json!({"image": cat.clone()}))).unwrap().to_json();
    assert_eq!(names, json!(["nd", "B8", "B4", "B8_1"]), "cat suffixes a repeated name");
    let point = call("GeometryConstructors.Point", json!({"coordinates": c(json!([-48.00001, -15.50001]))}));
    let d = run(call(
        "Image.reduceRegion",
        json!({"image": cat, "reducer": call("Reducer.first", json!({})), "geometry": point, "scale": c(json!(10))}),
    ))
    .unwrap();
    let d = d.into_dict().unwrap();
    let cell = world::Cell::containing(-48.00001, -15.50001, world::grid_degrees(10.0));
    let (x, y) = cell.centre();
    match (world::band_value("s2", "B8", None, x, y), world::band_value("s2", "B4", None, x, y)) {
        (Some(b8), Some(b4)) => {
            assert_eq!(d["B8"].num(), Some(2.0 * b8 as f64));
            assert_eq!(d["B8_1"].num(), Some(b8 as f64));
            if b8 + b4 > 0 {
                assert!((d["nd"].num().unwrap() - (b8 - b4) as f64 / (b8 + b4) as f64).abs() < 1e-12);
            }
        }
        _ => assert!(matches!(d["B8"], V::Null), "masked pixel gives null"),
    }
}

#[test]
fn every_algorithm_of_the_table_is_a_real_earth_engine_algorithm() {
    let contract = ee_contract::Contract::from_dir(&crate::default_reference_dir().unwrap()).unwrap();
    let names = implemented();
    assert!(names.len() > 200, "{}", names.len());
    let unknown: Vec<&&str> = names.iter().filter(|n| contract.algorithm(n).is_none()).collect();
    assert!(unknown.is_empty(), "not in ee-algorithms.json: {unknown:?}");
}

#[test]
fn the_readme_lists_every_algorithm_of_the_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let missing: Vec<&str> = implemented().into_iter().filter(|n| !readme.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "add to the algorithm table of crates/fake-ee/README.md: {missing:?}");
}
