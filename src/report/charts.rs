//! Vega-Lite specifications of the report's aggregate charts, data inline. (The map and the per-site
//! charts depend on the picker and are specified in `page.js` from the same conventions.)

use serde_json::{json, Value};

use super::compare::{sig, Comparison};
use super::landcover::{Landcover, NOT_OBSERVED};
use super::read::LayerInfo;
use super::run::RunInfo;
use super::stats::Series;

/// Label of a class in charts and tables: `3 Forest Formation`.
pub fn class_label(code: i64, name: &str) -> String {
    format!("{code} {name}")
}

fn base(description: &str) -> Value {
    json!({
        "description": description,
        "width": "container",
        "height": 260,
        "config": {"font": "system-ui, sans-serif", "view": {"stroke": null}}
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
    a
}

/// Stacked areas of total hectares per class and year, in the legend's colours.
pub fn class_areas(layer: &LayerInfo, lc: &Landcover) -> Value {
    let mut values = Vec::new();
    for (yi, year) in lc.years.iter().enumerate() {
        if lc.sites_with_data[yi] == 0 {
            continue;
        }
        for (ci, c) in lc.classes.iter().enumerate() {
            values.push(json!({"year": year, "class": class_label(c.code, &c.name), "code": c.code,
                               "area_ha": sig(lc.totals[yi][ci])}));
        }
    }
    let years_with_data = lc.sites_with_data.iter().filter(|n| **n > 0).count();
    let domain: Vec<String> = lc.classes.iter().map(|c| class_label(c.code, &c.name)).collect();
    let range: Vec<&str> = lc.classes.iter().map(|c| c.color.as_str()).collect();
    let mark = if years_with_data > 1 { json!({"type": "area", "line": false}) } else { json!({"type": "bar"}) };
    merge(
        base(&format!(
            "Stacked areas: total area of each class of {} over all sites, per year, in hectares.",
            layer.name
        )),
        json!({
            "data": {"values": values},
            "mark": mark,
            "encoding": {
                "x": {"field": "year", "type": "ordinal", "title": "year", "axis": {"labelAngle": 0}},
                "y": {"field": "area_ha", "type": "quantitative", "stack": "zero", "title": "area (ha)"},
                "color": {"field": "class", "type": "nominal", "title": "class",
                          "scale": {"domain": domain, "range": range},
                          "legend": {"symbolStrokeColor": "#555", "symbolStrokeWidth": 0.5}},
                "order": {"field": "code", "type": "quantitative"},
                "tooltip": [{"field": "year"}, {"field": "class"},
                            {"field": "area_ha", "type": "quantitative", "title": "area (ha)", "format": ",.4~r"}]
            }
        }),
    )
}

/// The net-change matrix as a heat map (first-year class down, last-year class across).
pub fn matrix(layer: &LayerInfo, lc: &Landcover) -> Value {
    let mut labels: Vec<String> = lc.classes.iter().map(|c| class_label(c.code, &c.name)).collect();
    labels.push(NOT_OBSERVED.to_string());
    let mut values = Vec::new();
    for (i, row) in lc.matrix.iter().enumerate() {
        for (j, ha) in row.iter().enumerate() {
            if *ha > 0.0 {
                values.push(json!({"from": labels[i], "to": labels[j], "area_ha": sig(*ha),
                                   "kind": if i == j { "kept" } else { "changed" }}));
            }
        }
    }
    let n = labels.len() as u64;
    merge(
        base(&format!(
            "Heat map: net-change matrix of {}, hectares per pair of first-year class (rows) and last-year \
             class (columns), summed over sites; derived from per-site class areas, not pixel transitions.",
            layer.name
        )),
        json!({
            "height": (n * 22).clamp(120, 700),
            "data": {"values": values},
            "mark": {"type": "rect", "stroke": "#fff", "strokeWidth": 0.5},
            "encoding": {
                "y": {"field": "from", "type": "nominal", "sort": labels, "title": "class in the site's first year"},
                "x": {"field": "to", "type": "nominal", "sort": labels, "title": "class in the site's last year",
                      "axis": {"labelAngle": -40, "labelLimit": 160}},
                "color": {"field": "area_ha", "type": "quantitative", "scale": {"type": "log", "scheme": "blues"},
                          "title": "hectares"},
                "tooltip": [{"field": "from", "title": "first year"}, {"field": "to", "title": "last year"},
                            {"field": "area_ha", "type": "quantitative", "title": "area (ha)", "format": ",.4~r"}]
            }
        }),
    )
}

/// Distribution over sites per year (box: quartiles, whiskers: 5th–95th percentile) and the median line.
pub fn distribution(layer: &LayerInfo, s: &Series) -> Value {
    let values: Vec<Value> = s
        .years
        .iter()
        .map(|y| {
            json!({"year": y.year, "n": y.n, "p5": sig(y.p5), "p25": sig(y.p25), "median": sig(y.median),
                   "p75": sig(y.p75), "p95": sig(y.p95), "mean": sig(y.mean)})
        })
        .collect();
    let unit = layer.units.clone().map(|u| format!(" ({u})")).unwrap_or_default();
    let title = format!("{} {}{unit}", s.band, s.stat);
    let tooltip = json!([{"field": "year"}, {"field": "n", "title": "sites"},
        {"field": "p5", "format": ".4~r"}, {"field": "p25", "format": ".4~r"}, {"field": "median", "format": ".4~r"},
        {"field": "p75", "format": ".4~r"}, {"field": "p95", "format": ".4~r"}, {"field": "mean", "format": ".4~r"}]);
    let x = json!({"field": "year", "type": "ordinal", "title": "year", "axis": {"labelAngle": 0}});
    merge(
        base(&format!(
            "Box plot per year of the {} {} of {} over sites (box: 25th to 75th percentile, whiskers: 5th to \
             95th percentile), with a line through the yearly medians.",
            s.band, s.stat, layer.name
        )),
        json!({
            "data": {"values": values},
            "encoding": {"x": x},
            "layer": [
                {"mark": {"type": "rule", "color": "#666"},
                 "encoding": {"y": {"field": "p5", "type": "quantitative", "title": title, "scale": {"zero": false}},
                              "y2": {"field": "p95"}, "tooltip": tooltip}},
                {"mark": {"type": "bar", "color": "#9ecae1", "width": {"band": 0.5}},
                 "encoding": {"y": {"field": "p25", "type": "quantitative"}, "y2": {"field": "p75"}, "tooltip": tooltip}},
                {"mark": {"type": "line", "color": "#08519c", "point": true},
                 "encoding": {"y": {"field": "median", "type": "quantitative"}, "tooltip": tooltip}}
            ]
        }),
    )
}

/// Runtime against EECU-seconds per export task.
pub fn chunks(run: &RunInfo) -> Value {
    merge(
        base("Scatter plot: run time against EECU-seconds of each Earth Engine export task, coloured by state."),
        json!({
            "data": {"values": run.chart_values()},
            "mark": {"type": "point", "filled": true, "opacity": 0.7},
            "encoding": {
                "x": {"field": "runtime_s", "type": "quantitative", "title": "run time (s)"},
                "y": {"field": "eecu_s", "type": "quantitative", "title": "EECU-seconds"},
                "color": {"field": "state", "type": "nominal", "title": "state",
                          "scale": {"domain": ["succeeded", "failed", "cancelled", "split", "running", "pending"],
                                    "range": ["#2b8cbe", "#d7301f", "#969696", "#fdae6b", "#78c679", "#c994c7"]}},
                "tooltip": [{"field": "chunk"}, {"field": "state"}, {"field": "sites"}, {"field": "attempts"},
                            {"field": "runtime_s", "title": "run time (s)"}, {"field": "eecu_s", "title": "EECU-seconds"}]
            }
        }),
    )
}

/// Histogram of the per-site difference against the other table.
pub fn differences(c: &Comparison) -> Value {
    let (field, title) = if c.has_categorical {
        ("area_pct", "area classified differently (% of the site's area, largest layer-year)")
    } else {
        ("value", "largest |difference| of the first band and statistic")
    };
    let values: Vec<Value> = c
        .sites
        .iter()
        .map(|d| {
            let v = if c.has_categorical { d.area_pct } else { d.values.first().copied().flatten().unwrap_or(0.0) };
            json!({ field: sig(v) })
        })
        .collect();
    merge(
        base(&format!("Histogram: number of sites by their difference against {}.", c.other)),
        json!({
            "data": {"values": values},
            "mark": {"type": "bar", "color": "#6a51a3"},
            "encoding": {
                "x": {"field": field, "type": "quantitative", "bin": {"maxbins": 40}, "title": title},
                "y": {"aggregate": "count", "type": "quantitative", "title": "sites"},
                "tooltip": [{"aggregate": "count", "title": "sites"}]
            }
        }),
    )
}
