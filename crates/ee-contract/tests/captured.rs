//! The checker against the official clients' captured bodies: the JavaScript client's (bare numbers)
//! pass, the Python client's wrapped numbers are refused, and planted mistakes are caught.

use std::path::PathBuf;

use ee_contract::Contract;
use serde_json::{json, Value};

fn reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn contract() -> Contract {
    Contract::from_dir(&reference()).expect("reference loads")
}

fn captured(name: &str) -> Value {
    let text = std::fs::read_to_string(reference().join("captured").join(name)).expect("captured file");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn javascript_client_bodies_fit_the_contract() {
    let c = contract();
    for (file, method) in [
        ("js/js_table_export_drive_csv.json", "earthengine.projects.table.export"),
        ("js/js_table_export_gcs_csv_mean_selectors_priority.json", "earthengine.projects.table.export"),
        ("js/js_image_export_gcs_geotiff.json", "earthengine.projects.image.export"),
        ("js/js_classifier_export_asset.json", "earthengine.projects.classifier.export"),
    ] {
        let body = captured(file);
        let body = body.get("body").cloned().unwrap_or(body);
        let v = c.check_request(method, &body);
        assert!(v.is_empty(), "{file}: {v:?}");
    }
}

#[test]
fn python_client_bodies_fit_except_wrapped_numbers() {
    let c = contract();
    for file in [
        "table_export_drive_csv.json",
        "table_export_gcs_csv.json",
        "table_export_gcs_geojson.json",
        "table_export_asset.json",
    ] {
        let body = captured(file);
        let v = c.check_request("earthengine.projects.table.export", &body);
        assert!(v.is_empty(), "{file}: {v:?}");
    }
    let wrapped = captured("table_export_gcs_csv_mean_selectors_priority.json");
    let v = c.check_request("earthengine.projects.table.export", &wrapped);
    assert!(v.iter().any(|v| v.path == "/priority"), "{v:?}");
}

#[test]
fn planted_mistakes_are_caught() {
    let c = contract();
    let good = captured("table_export_gcs_csv.json");
    let mut body = good.clone();
    body["fileExportOptions"]["fileFormat"] = json!("XLSX");
    assert!(c.check_request("earthengine.projects.table.export", &body).iter().any(|v| v.message.contains("XLSX")));
    let mut body = good.clone();
    body["colour"] = json!("red");
    assert!(c.check_request("earthengine.projects.table.export", &body).iter().any(|v| v.message.contains("colour")));
    let mut body = good.clone();
    body["expression"]["values"]["0"]["functionInvocationValue"]["functionName"] = json!("Image.reduceRegionz");
    assert!(c
        .check_request("earthengine.projects.table.export", &body)
        .iter()
        .any(|v| v.message.contains("reduceRegionz")));
    let mut body = good.clone();
    body["expression"]["values"]["0"]["functionInvocationValue"]["arguments"]["scael"] = json!({"constantValue": 30});
    assert!(c.check_request("earthengine.projects.table.export", &body).iter().any(|v| v.message.contains("scael")));
    let mut body = good.clone();
    body["expression"]["values"]["0"]["functionInvocationValue"]["arguments"].as_object_mut().unwrap().remove("image");
    assert!(c
        .check_request("earthengine.projects.table.export", &body)
        .iter()
        .any(|v| v.message.contains("needs its argument `image`")));
    let mut body = good.clone();
    body["requestId"] = json!("has spaces and is fine otherwise");
    assert!(c.check_request("earthengine.projects.table.export", &body).iter().any(|v| v.path == "/requestId"));
    let mut body = good;
    body["assetExportOptions"] = json!({"earthEngineDestination": {"name": "projects/p/assets/x"}});
    assert!(!c.check_request("earthengine.projects.table.export", &body).is_empty());
}
