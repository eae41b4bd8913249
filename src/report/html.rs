//! The page: HTML text for everything exact (tables that are also the charts' text alternatives), the
//! compressed data block for the browser, the vendored chart libraries and the page script, inline.
//!
//! (Over 600 lines because it is the page's whole layout in one place, section by section; the numbers
//! come from [`super::landcover`], [`super::stats`], [`super::run`] and [`super::compare`].)

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};

use super::charts::{self, class_label};
use super::compare::{sig, Comparison};
use super::landcover::{self, Change, Landcover, NOT_OBSERVED};
use super::pack;
use super::read::{LayerInfo, Table};
use super::run::RunInfo;
use super::sites::{self, Polygons};
use super::stats::{self, Series};
use crate::pipeline::{LayerKind, Pipeline};

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");
const VEGA: &str = include_str!("vendor/vega.min.js");
const VEGA_LITE: &str = include_str!("vendor/vega-lite.min.js");
const VEGA_EMBED: &str = include_str!("vendor/vega-embed.min.js");
const NOTICES: &str = include_str!("vendor/THIRD-PARTY-NOTICES.txt");
const LICENCES: [(&str, &str); 3] = [
    ("Vega", include_str!("vendor/LICENSE-vega")),
    ("Vega-Lite", include_str!("vendor/LICENSE-vega-lite")),
    ("vega-embed", include_str!("vendor/LICENSE-vega-embed")),
];
const VERSIONS: &str = include_str!("vendor/VERSIONS");

/// Tasks listed one by one in the run section (the longest, when there are more).
pub const TASK_ROWS: usize = 200;

/// Above this many sites the map is drawn on a canvas instead of as SVG paths.
pub const SVG_MAP_LIMIT: usize = 10_000;

/// Everything the page is made from.
pub struct Parts<'a> {
    pub pipeline: &'a Pipeline,
    pub table_path: &'a Path,
    pub table: &'a Table,
    pub geometry: Option<&'a HashMap<String, Polygons>>,
    pub run: &'a RunInfo,
    pub comparison: Option<&'a Comparison>,
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A number for people: grouped thousands, precision by size.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    let text = if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{}", sig(x))
    };
    let (sign, rest) = text.strip_prefix('-').map(|r| ("−", r)).unwrap_or(("", text.as_str()));
    let (int, frac) = rest.split_once('.').map(|(i, f)| (i, Some(f))).unwrap_or((rest, None));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

/// An id usable in HTML and CSS selectors.
fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

struct Page {
    body: String,
    charts: Vec<Value>,
}

impl Page {
    fn chart(&mut self, id: &str, spec: Value, caption: &str) {
        let _ = writeln!(
            self.body,
            "<figure><div class=\"chart\" id=\"{id}\" role=\"img\" aria-label=\"{}\"></div>\
             <figcaption>{caption}</figcaption></figure>",
            esc(spec["description"].as_str().unwrap_or(""))
        );
        self.charts.push(json!({"id": id, "spec": spec}));
    }

    fn table(&mut self, caption: &str, head: &[String], rows: &[Vec<String>], class: &str) {
        let _ =
            write!(self.body, "<div class=\"scroll\"><table class=\"{class}\"><caption>{caption}</caption><thead><tr>");
        for h in head {
            let _ = write!(self.body, "<th scope=\"col\">{h}</th>");
        }
        self.body.push_str("</tr></thead><tbody>");
        for r in rows {
            self.body.push_str("<tr>");
            for (i, c) in r.iter().enumerate() {
                if i == 0 {
                    let _ = write!(self.body, "<th scope=\"row\">{c}</th>");
                } else {
                    let _ = write!(self.body, "<td>{c}</td>");
                }
            }
            self.body.push_str("</tr>");
        }
        self.body.push_str("</tbody></table></div>\n");
    }
}

fn site_link(t: &Table, s: usize) -> String {
    let id = &t.sites[s];
    let name =
        t.props[s].first().filter(|n| !n.is_empty()).map(|n| format!(" <span class=\"muted\">{}</span>", esc(n)));
    format!("<a href=\"#site={}\" data-site=\"{s}\">{}</a>{}", esc(&url_escape(id)), esc(id), name.unwrap_or_default())
}

fn url_escape(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

fn landcover_section(page: &mut Page, t: &Table, layer: &LayerInfo, lc: &Landcover) {
    let id = slug(&layer.name);
    let title = layer.title.clone().unwrap_or_else(|| layer.name.clone());
    let _ = writeln!(page.body, "<section id=\"layer-{id}\"><h2>{}</h2>", esc(&title));
    let _ = writeln!(
        page.body,
        "<p>Categorical layer <code>{}</code>, {} class(es) present, years {}–{}.</p>",
        esc(&layer.name),
        lc.classes.len(),
        lc.years.first().copied().unwrap_or_default(),
        lc.years.last().copied().unwrap_or_default()
    );
    if lc.classes.is_empty() {
        page.body.push_str("<p>No site has data for this layer.</p></section>\n");
        return;
    }
    let unofficial: Vec<String> = lc.classes.iter().filter(|c| !c.official).map(|c| c.code.to_string()).collect();
    let colours = if unofficial.is_empty() {
        "Colours are the dataset's official legend colours (from the catalog entry or the pipeline's legend)."
            .to_string()
    } else {
        format!(
            "Colours come from the layer's legend; class(es) {} have none there and use a generic palette.",
            unofficial.join(", ")
        )
    };
    page.chart(
        &format!("chart-{id}-areas"),
        charts::class_areas(layer, lc),
        &format!(
            "Total area per class over the sites with data in each year (a site counts from its first year \
             on; years without valid pixels are left out). {colours}"
        ),
    );
    // Per-class totals, first and last year with data.
    let years: Vec<usize> = (0..lc.years.len()).filter(|&y| lc.sites_with_data[y] > 0).collect();
    if let (Some(&y0), Some(&y1)) = (years.first(), years.last()) {
        let head = vec![
            "class".to_string(),
            format!("{} (ha)", lc.years[y0]),
            format!("{} (ha)", lc.years[y1]),
            "change (ha)".into(),
            "change (%)".into(),
        ];
        let rows: Vec<Vec<String>> = lc
            .classes
            .iter()
            .enumerate()
            .map(|(c, cl)| {
                let (a, b) = (lc.totals[y0][c], lc.totals[y1][c]);
                let pct = if a > 0.0 { signed((b - a) / a * 100.0) } else { "–".into() };
                vec![
                    format!(
                        "<span class=\"swatch\" style=\"background:{}\"></span>{}",
                        esc(&cl.color),
                        esc(&class_label(cl.code, &cl.name))
                    ),
                    num(a),
                    num(b),
                    signed(b - a),
                    pct,
                ]
            })
            .collect();
        page.table(
            &format!(
                "Total area per class, {} ({} sites with data) and {} ({} sites with data)",
                lc.years[y0], lc.sites_with_data[y0], lc.years[y1], lc.sites_with_data[y1]
            ),
            &head,
            &rows,
            "totals",
        );
        let nodata: u64 = lc.sites_nodata.iter().sum();
        if nodata > 0 {
            let _ = writeln!(
                page.body,
                "<p class=\"note\">{nodata} site-year(s) had no valid pixel and are not in the totals.</p>"
            );
        }
    }
    // Net-change matrix.
    let _ = writeln!(page.body, "<h3>Net change between each site's first and last year</h3>");
    if lc.matrix_sites == 0 {
        page.body.push_str("<p>No site has data in two years, so there is no change to show.</p>\n");
    } else {
        let (fy, ly) = (lc.matrix_first_years, lc.matrix_last_years);
        let span = |r: (i32, i32)| if r.0 == r.1 { r.0.to_string() } else { format!("{}–{}", r.0, r.1) };
        let _ = writeln!(
            page.body,
            "<p class=\"explain\"><strong>Net-change matrix, not pixel transitions.</strong> The table has each \
             site's area per class and year, not which pixels changed. For each of the {} sites with data in two or \
             more years, its first year with data ({}) is compared with its last ({}): what a class kept is on the \
             diagonal; the area that classes lost is shared among the classes that gained, in proportion to their \
             gains, and summed over sites. Changes that cancel inside a site (cleared here, regrown there) are not \
             seen, so the off-diagonal cells are a lower bound on real transitions. Area observed in only one of the \
             two years is in the “{NOT_OBSERVED}” row or column. Rows add up to the first-year areas, columns to the \
             last-year areas.</p>",
            lc.matrix_sites,
            span(fy),
            span(ly)
        );
        page.chart(
            &format!("chart-{id}-matrix"),
            charts::matrix(layer, lc),
            "Net-change matrix (hectares, logarithmic colour scale); the table below has the exact values.",
        );
        let mut labels: Vec<String> = lc.classes.iter().map(|c| esc(&class_label(c.code, &c.name))).collect();
        labels.push(NOT_OBSERVED.into());
        let used: Vec<usize> = (0..labels.len())
            .filter(|&i| lc.matrix[i].iter().any(|v| *v > 0.0) || lc.matrix.iter().any(|r| r[i] > 0.0))
            .collect();
        let mut head = vec!["first year ↓ / last year →".to_string()];
        head.extend(used.iter().map(|&j| labels[j].clone()));
        let rows: Vec<Vec<String>> = used
            .iter()
            .map(|&i| {
                let mut r = vec![labels[i].clone()];
                r.extend(used.iter().map(|&j| num(lc.matrix[i][j])));
                r
            })
            .collect();
        page.table("Net-change matrix (ha)", &head, &rows, "matrix");
    }
    // Largest changes per class.
    let _ = writeln!(page.body, "<h3>Sites with the largest change per class</h3>\n<div class=\"grid\">");
    let mut any = false;
    for (c, cl) in lc.classes.iter().enumerate() {
        for (list, what) in [(&lc.top_gains[c], "gain"), (&lc.top_losses[c], "loss")] {
            if list.is_empty() {
                continue;
            }
            any = true;
            let head = ["site", "years", "first (ha)", "last (ha)", "change (ha)", "% of site"].map(String::from);
            let rows: Vec<Vec<String>> = list.iter().map(|ch: &Change| change_row(t, ch)).collect();
            page.table(
                &format!(
                    "<span class=\"swatch\" style=\"background:{}\"></span>{}: largest {what}",
                    esc(&cl.color),
                    esc(&class_label(cl.code, &cl.name))
                ),
                &head,
                &rows,
                "top",
            );
        }
    }
    if !any {
        page.body.push_str("<p>No site changed between its first and last year.</p>\n");
    }
    page.body.push_str("</div></section>\n");
}

fn change_row(t: &Table, ch: &Change) -> Vec<String> {
    let pct = if ch.site_ha > 0.0 { signed(ch.delta() / ch.site_ha * 100.0) } else { "–".into() };
    vec![
        site_link(t, ch.site),
        format!("{}–{}", ch.first_year, ch.last_year),
        num(ch.first_ha),
        num(ch.last_ha),
        signed(ch.delta()),
        pct,
    ]
}

fn continuous_section(page: &mut Page, layer: &LayerInfo, series: &[Series]) {
    let id = slug(&layer.name);
    let title = layer.title.clone().unwrap_or_else(|| layer.name.clone());
    let _ = writeln!(page.body, "<section id=\"layer-{id}\"><h2>{}</h2>", esc(&title));
    let _ = writeln!(
        page.body,
        "<p>Continuous layer <code>{}</code>{}: the distribution of each band and statistic over the sites, per \
         year, and the trend of the median.</p>",
        esc(&layer.name),
        layer.units.as_ref().map(|u| format!(" in {}", esc(u))).unwrap_or_default()
    );
    for s in series {
        let sid = format!("chart-{id}-{}-{}", slug(&s.band), slug(&s.stat));
        let _ = writeln!(page.body, "<h3>{} {}</h3>", esc(&s.band), esc(&s.stat));
        if s.years.is_empty() {
            page.body.push_str("<p>No site has a value.</p>\n");
            continue;
        }
        let trend = match s.median_slope {
            Some(m) => format!(
                "Median trend: {} per year (Theil–Sen slope of the yearly medians, {}–{}).",
                signed(sig(m)),
                s.years[0].year,
                s.years[s.years.len() - 1].year
            ),
            None => "One year only: no trend.".into(),
        };
        let _ = writeln!(page.body, "<p class=\"trend\">{trend}</p>");
        page.chart(
            &sid,
            charts::distribution(layer, s),
            "Boxes: 25th–75th percentile over sites; whiskers: 5th–95th percentile; line: median.",
        );
        let head = ["year", "sites", "min", "5%", "25%", "median", "75%", "95%", "max", "mean"].map(String::from);
        let rows: Vec<Vec<String>> = s
            .years
            .iter()
            .map(|y| {
                vec![
                    y.year.to_string(),
                    y.n.to_string(),
                    num(y.min),
                    num(y.p5),
                    num(y.p25),
                    num(y.median),
                    num(y.p75),
                    num(y.p95),
                    num(y.max),
                    num(y.mean),
                ]
            })
            .collect();
        page.table(&format!("{} {} over sites, per year", esc(&s.band), esc(&s.stat)), &head, &rows, "dist");
    }
    page.body.push_str("</section>\n");
}

fn run_section(page: &mut Page, run: &RunInfo) {
    page.body.push_str("<section id=\"run\"><h2>The run</h2>\n<dl class=\"facts\">");
    for (k, v) in &run.facts {
        let _ = write!(page.body, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    page.body.push_str("</dl>\n");
    if run.chunks.is_empty() {
        page.body.push_str("<p>No export tasks: the table was computed without Earth Engine tasks.</p>\n");
    } else {
        let _ = writeln!(
            page.body,
            "<p class=\"note\">Tasks from the run {}.</p>",
            if run.chunk_source == Some("journal") { "journal" } else { "manifest (the journal was not found)" }
        );
        let failed = run.failed();
        if failed.is_empty() {
            page.body.push_str("<p>No task failed.</p>\n");
        } else {
            let head = ["task", "sites", "attempts", "state", "error class", "message"].map(String::from);
            let rows: Vec<Vec<String>> = failed
                .iter()
                .map(|c| {
                    vec![
                        esc(&c.id),
                        c.sites.to_string(),
                        c.attempts.to_string(),
                        esc(&c.state),
                        esc(c.error_class.as_deref().unwrap_or("")),
                        esc(c.error.as_deref().unwrap_or("")),
                    ]
                })
                .collect();
            page.table(&format!("{} failed or cancelled task(s)", failed.len()), &head, &rows, "failures");
        }
        if run.chunks.iter().any(|c| c.runtime.is_some() && c.eecu.is_some()) {
            page.chart("chart-run-chunks", charts::chunks(run), "Run time and EECU-seconds per export task.");
        }
        let head = ["task", "split of", "sites", "state", "attempts", "run time (s)", "EECU-seconds"].map(String::from);
        // Every task when there are few; otherwise the longest (failures are listed above, all are charted).
        let mut listed: Vec<&super::run::Chunk> = run.chunks.iter().collect();
        let all = listed.len() <= TASK_ROWS;
        if !all {
            listed
                .sort_by(|a, b| b.runtime.unwrap_or(-1.0).total_cmp(&a.runtime.unwrap_or(-1.0)).then(a.id.cmp(&b.id)));
            listed.truncate(TASK_ROWS);
        }
        let rows: Vec<Vec<String>> = listed
            .iter()
            .map(|c| {
                vec![
                    esc(&c.id),
                    esc(c.parent.as_deref().unwrap_or("")),
                    c.sites.to_string(),
                    esc(&c.state),
                    c.attempts.to_string(),
                    c.runtime.map(num).unwrap_or_default(),
                    c.eecu.map(num).unwrap_or_default(),
                ]
            })
            .collect();
        let what = if all { "Every task".to_string() } else { format!("The {TASK_ROWS} longest tasks") };
        let _ = writeln!(page.body, "<details class=\"chunks\"><summary>{what}</summary>");
        let caption = if all {
            format!("{} task(s)", run.chunks.len())
        } else {
            format!("The {TASK_ROWS} longest of {} tasks", run.chunks.len())
        };
        page.table(&caption, &head, &rows, "chunks");
        page.body.push_str("</details>\n");
    }
    page.body.push_str("</section>\n");
}

fn compare_section(page: &mut Page, t: &Table, c: &Comparison) {
    page.body.push_str("<section id=\"compare\"><h2>Difference against another table</h2>\n");
    let _ = writeln!(
        page.body,
        "<p>This table compared with <code>{}</code>, site by site: {} site(s) in both, {} only here, {} only there. \
         For categorical layers, the area classified differently in a layer-year is half the sum over classes of \
         |area here − area there|; each site shows its largest, in hectares and as a share of its area. For \
         continuous layers, each site shows the largest |difference| per band and statistic. Layer-years with \
         data in only one table are counted.</p>",
        esc(&c.other),
        c.sites.len(),
        c.only_here,
        c.only_there
    );
    if !c.sites.is_empty() {
        page.chart("chart-compare", charts::differences(c), "Sites by their difference against the other table.");
        let mut head = vec!["site".to_string()];
        if c.has_categorical {
            head.push("area differently classified (ha)".into());
            head.push("% of site".into());
        }
        head.extend(c.series.iter().map(|s| format!("max |Δ| {}", esc(s))));
        head.push("layer-years in one table only".into());
        let largest = c.largest(20);
        let rows: Vec<Vec<String>> = largest
            .iter()
            .map(|d| {
                let mut r = vec![site_link(t, d.site)];
                if c.has_categorical {
                    r.push(num(d.area_ha));
                    r.push(num(d.area_pct));
                }
                r.extend(d.values.iter().map(|v| v.map(num).unwrap_or_else(|| "–".into())));
                r.push(d.mismatched.to_string());
                r
            })
            .collect();
        if rows.is_empty() {
            page.body.push_str("<p><strong>The two tables agree exactly for every site compared.</strong></p>\n");
        } else {
            page.table("Sites with the largest difference", &head, &rows, "compare");
        }
    }
    page.body.push_str("</section>\n");
}

/// The browser's data: `[JSON length, u32 little-endian][JSON][binary streams]`, zlib-deflated and
/// base64-encoded.
fn pack(v: &Value, blob: &[u8]) -> String {
    let json = serde_json::to_vec(v).unwrap_or_default();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
    let _ = z.write_all(&(json.len() as u32).to_le_bytes());
    let _ = z.write_all(&json);
    let _ = z.write_all(blob);
    let bytes = z.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A script body that cannot end its `<script>` element early.
fn script_text(s: &str) -> String {
    s.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
}

/// The whole page.
pub fn page(parts: &Parts) -> String {
    let (p, t) = (parts.pipeline, parts.table);
    let mut page = Page { body: String::new(), charts: Vec::new() };
    let mut layers_json = Vec::new();
    let mut blob = pack::Blob::default();
    let mut nav = Vec::new();
    for (li, layer) in t.layers.iter().enumerate() {
        let title = layer.title.clone().unwrap_or_else(|| layer.name.clone());
        nav.push((format!("layer-{}", slug(&layer.name)), title));
        match layer.kind {
            LayerKind::Categorical => {
                let lc = landcover::summarise(t, li);
                landcover_section(&mut page, t, layer, &lc);
                let classes: Vec<Value> =
                    lc.classes.iter().map(|c| json!({"code": c.code, "name": c.name, "color": c.color})).collect();
                layers_json.push(json!({"name": layer.name, "kind": "categorical", "years": layer.years,
                    "classes": classes, "site": blob.stream(|s| landcover::site_series(t, &lc, s))}));
            }
            LayerKind::Continuous => {
                let series = stats::summarise(t, li);
                continuous_section(&mut page, layer, &series);
                let s: Vec<Value> = series
                    .iter()
                    .map(|s| {
                        let median: Vec<Value> = layer
                            .years
                            .iter()
                            .map(|y| {
                                s.years
                                    .iter()
                                    .find(|d| d.year == *y)
                                    .map(|d| json!(sig(d.median)))
                                    .unwrap_or(Value::Null)
                            })
                            .collect();
                        json!({"band": s.band, "stat": s.stat, "step": s.step, "median": median,
                               "site": blob.stream(|out| stats::site_series(t, s, out))})
                    })
                    .collect();
                layers_json.push(json!({"name": layer.name, "kind": "continuous", "years": layer.years,
                    "units": layer.units, "series": s}));
            }
        }
    }
    // Map and site view (drawn by the page script).
    let frame = parts.geometry.and_then(|g| sites::frame(t.sites.iter().filter_map(|id| g.get(id))));
    let geom: Vec<Value> = match (parts.geometry, &frame) {
        (Some(g), Some(f)) => {
            t.sites.iter().map(|id| g.get(id).map(|poly| sites::encode(f, poly)).unwrap_or(Value::Null)).collect()
        }
        _ => Vec::new(),
    };
    let with_geometry = geom.iter().filter(|g| !g.is_null()).count();
    page.body.push_str("<section id=\"map\"><h2>Map of the sites</h2>\n");
    nav.push(("map".into(), "Map".into()));
    if with_geometry == 0 {
        page.body.push_str(
            "<p>No site outlines: the sites come from an Earth Engine asset, or none of the table's sites is in the \
             site file.</p>\n",
        );
    } else {
        let missing = t.sites.len() - with_geometry;
        let _ = writeln!(
            page.body,
            "<div class=\"controls\"><label for=\"map-metric\">Colour sites by</label> <select id=\"map-metric\"></select></div>\n\
             <figure><div class=\"chart map\" id=\"chart-map\" role=\"img\" aria-label=\"Map of {with_geometry} site \
             outlines coloured by the chosen measure; the site picker below gives each site's values as text.\"></div>\
             <figcaption>The sites' own outlines from the site file (no background map), projected equirectangularly \
             about latitude {:.2}° and simplified to the map's resolution. Hover for details; click a site to open it \
             below.{}</figcaption></figure>",
            frame.map(|f| f.kx.acos().to_degrees()).unwrap_or(0.0),
            if missing > 0 { format!(" {missing} site(s) of the table are not in the site file and are not drawn.") } else { String::new() }
        );
    }
    page.body.push_str("</section>\n");
    page.body.push_str(
        "<section id=\"site\"><h2>One site</h2>\n<div class=\"controls\" role=\"search\">\
         <label for=\"site-filter\">Find</label> <input id=\"site-filter\" type=\"search\" placeholder=\"id or name\" autocomplete=\"off\"> \
         <label for=\"site-picker\">Site</label> <select id=\"site-picker\"></select> \
         <button type=\"button\" id=\"site-prev\">Previous</button> <button type=\"button\" id=\"site-next\">Next</button></div>\n\
         <noscript><p>The site view and the charts need JavaScript; the tables on this page have the same numbers.</p></noscript>\n\
         <div id=\"site-view\" aria-live=\"polite\"><h3 id=\"site-title\"></h3><dl id=\"site-facts\" class=\"facts\"></dl>\
         <div id=\"site-charts\"></div></div>\n<p class=\"note\">Per-site charts use class shares rounded to 0.1% of the \
         site's area and continuous values rounded to about 1/100 of their spread over all sites (the step is in each site table); the table has the exact values.</p>\n\
         </section>\n",
    );
    nav.push(("site".into(), "One site".into()));
    if let Some(c) = parts.comparison {
        compare_section(&mut page, t, c);
        nav.push(("compare".into(), "Difference".into()));
    }
    run_section(&mut page, parts.run);
    nav.push(("run".into(), "The run".into()));

    let keep_props: serde_json::Map<String, Value> = t
        .keep
        .iter()
        .enumerate()
        .map(|(k, name)| (name.clone(), Value::Array(t.props.iter().map(|p| json!(p[k])).collect())))
        .collect();
    let data = json!({
        "pipeline": p.name,
        "idColumn": t.id_column,
        "sites": {"ids": t.sites, "props": keep_props},
        "frame": frame.map(|f| f.to_json()),
        "geom": geom,
        "mapRenderer": if t.sites.len() > SVG_MAP_LIMIT { "canvas" } else { "svg" },
        "layers": layers_json,
        "charts": page.charts,
        "compare": parts.comparison.map(|c| c.site_values(t.sites.len())),
        "notices": NOTICES,
    });

    let title = format!("geepipe report: {}", p.name);
    let years: Vec<i32> = t.layers.iter().flat_map(|l| l.years.iter().copied()).collect();
    let span = match (years.iter().min(), years.iter().max()) {
        (Some(a), Some(b)) if a != b => format!("{a}–{b}"),
        (Some(a), _) => a.to_string(),
        _ => "no years".into(),
    };
    let mut out = String::with_capacity(VEGA.len() + VEGA_LITE.len() + page.body.len() + 1_000_000);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"geepipe {}\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
         <header><h1>{}</h1>\n<p class=\"summary\">{} site(s), {} layer(s), {span}; table <code>{}</code> ({} layout, {} rows).</p>\n\
         <nav aria-label=\"Contents\"><ul>",
        env!("CARGO_PKG_VERSION"),
        esc(&title),
        esc(&title),
        t.sites.len(),
        t.layers.len(),
        esc(&parts.table_path.display().to_string()),
        t.layout,
        t.rows
    );
    for (id, label) in &nav {
        let _ = write!(out, "<li><a href=\"#{id}\">{}</a></li>", esc(label));
    }
    out.push_str("<li><a href=\"#about\">About</a></li></ul></nav>\n<p id=\"status\" role=\"status\">Drawing the charts…</p></header>\n<main>\n");
    out.push_str(&page.body);
    let _ = writeln!(
        out,
        "<section id=\"about\"><h2>About this page</h2>\n<p>Made by geepipe {} from the pipeline <code>{}</code>. \
         It is one file with everything inline: open it anywhere, without network. Charts are drawn in the browser \
         with {}, whose licences follow; the libraries bundle other packages, whose licences the page shows \
         below once its script has run.</p>",
        env!("CARGO_PKG_VERSION"),
        esc(&p.source.display().to_string()),
        esc(&VERSIONS.trim().replace('\n', ", ")),
    );
    for (name, text) in LICENCES {
        let _ = writeln!(
            out,
            "<details><summary>{name} licence</summary><pre class=\"notices\">{}</pre></details>",
            esc(text)
        );
    }
    out.push_str(
        "<details><summary>Licences of every bundled package</summary><pre class=\"notices\" id=\"notices\"></pre></details>\n</section>\n</main>\n",
    );
    let _ = writeln!(
        out,
        "<script type=\"application/octet-stream\" id=\"report-data\">{}</script>",
        pack(&data, &blob.bytes)
    );
    for lib in [VEGA, VEGA_LITE, VEGA_EMBED] {
        let _ = writeln!(out, "<script>{}</script>", script_text(lib));
    }
    let _ = writeln!(out, "<script>\n{}</script>\n</body>\n</html>", script_text(SCRIPT));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_signed() {
        assert_eq!(num(1234567.4), "1,234,567");
        assert_eq!(num(-1234.6), "−1,235");
        assert_eq!(num(12.345), "12.35");
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(signed(3.0), "+3.00");
    }

    #[test]
    fn text_is_escaped_and_scripts_cannot_close_early() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(script_text("x = '</script>'"), "x = '<\\/script>'");
    }

    #[test]
    fn the_vendored_libraries_match_their_checksums() {
        use sha2::{Digest, Sha256};
        let sums = include_str!("vendor/SHA256SUMS");
        for (name, text) in [("vega.min.js", VEGA), ("vega-lite.min.js", VEGA_LITE), ("vega-embed.min.js", VEGA_EMBED)]
        {
            let line = sums.lines().find(|l| l.ends_with(name)).expect(name);
            assert!(line.starts_with(&hex::encode(Sha256::digest(text.as_bytes()))), "{name} was changed by hand");
            assert!(!text.contains("sourceMappingURL"), "{name} would ask for a source map");
        }
    }
}
