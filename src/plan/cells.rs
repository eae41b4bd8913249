//! Cells: the unit of work and of results. A cell is one site × one layer-year × one measure (a
//! categorical layer's class table, or one statistic of one band of a continuous layer); the results store
//! ([`crate::store`]) keeps each computed cell once, and the planner computes only the cells it lacks.
//!
//! A cell is identified by
//! - the **site key**: the site id and a digest of its geometry ([`site_key`]; the polygons exactly as they
//!   are sent, after any coordinate conversion), so an edited polygon is a new site and its old cells are
//!   never used again. No site property takes part: the computation reads none (kept properties and the
//!   first year only decide what is shown and asked for);
//! - the **expression key** of the layer-year ([`CellModel`]): a digest of everything the value depends
//!   on: the engine, the rendered image expression of that year (after the official client's promotions, so
//!   a catalog or template change that changes the expression changes the key, and one that does not keeps
//!   it), the bands, the no-data masking, the reduction grid and the reduce settings, and
//!   [`COMPUTE_VERSION`] (bumped when geepipe changes how a value is derived without the expression
//!   showing it). A static layer (no `{{year}}`) has one slot for all its years (year 0): it is the same
//!   image whatever the year, so adding years to it computes nothing;
//! - the **measure**: `""` for a categorical layer-year (its hectares and pixels per class), `band/stat`
//!   for a continuous one.
//!
//! From the cells a site lacks, [`CellModel::parts`] gives the layer parts a request computes (per layer
//! the years that lack the same statistics), which [`crate::plan::compute::computation`] builds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::compute::{reduction_grid, PreparedLayer};
use crate::pipeline::{Engine, LayerKind, Pipeline};
use crate::sites::Site;

/// Bumped when geepipe changes how a value is computed from the same expression (stored cells of other
/// versions are then not used, and `status`/`plan` say why).
pub const COMPUTE_VERSION: u32 = 1;

/// Year slot of a static layer's one cell.
pub const STATIC_YEAR: i32 = 0;

/// A 128-bit digest (truncated SHA-256).
pub type Key = [u8; 16];

fn digest(h: Sha256) -> Key {
    let full = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&full[..16]);
    k
}

/// The digest of a site's geometry: the polygon type and every coordinate's bits, as sent.
pub fn site_key(site: &Site) -> Key {
    // The bytes are gathered first and hashed at once (many 8-byte updates cost more than the hashing).
    let points: usize = site.polygons.iter().flatten().map(Vec::len).sum();
    let mut bytes = Vec::with_capacity(16 * points + 16 * site.polygons.len() + 64);
    bytes.push(if site.multi { b'M' } else { b'P' });
    bytes.extend_from_slice(&(site.polygons.len() as u64).to_le_bytes());
    for poly in &site.polygons {
        bytes.extend_from_slice(&(poly.len() as u64).to_le_bytes());
        for ring in poly {
            bytes.extend_from_slice(&(ring.len() as u64).to_le_bytes());
            for [x, y] in ring {
                bytes.extend_from_slice(&x.to_bits().to_le_bytes());
                bytes.extend_from_slice(&y.to_bits().to_le_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    h.update(&bytes);
    digest(h)
}

/// JSON text with object keys sorted at every level (so a reordered mapping is the same expression).
pub fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// One computed year (or the static slot) of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// The year, or [`STATIC_YEAR`] for a static layer.
    pub year: i32,
    pub key: Key,
    /// What the key covers, as JSON text (kept with the stored cells to explain a mismatch later).
    pub detail: String,
}

/// The cells of one layer.
#[derive(Debug, Clone)]
pub struct LayerCells {
    /// Index in the pipeline's layers.
    pub layer: usize,
    pub name: String,
    pub kind: LayerKind,
    /// One slot for all years (reduced once).
    pub is_static: bool,
    /// The years the table shows, ascending.
    pub years: Vec<i32>,
    pub slots: Vec<Slot>,
    /// `""` (categorical) or `band/stat` (continuous), in column order.
    pub measures: Vec<String>,
}

impl LayerCells {
    /// The slot holding year `year`'s values.
    pub fn slot_of(&self, year: i32) -> Option<usize> {
        if self.is_static {
            return (!self.slots.is_empty() && self.years.contains(&year)).then_some(0);
        }
        self.slots.iter().position(|s| s.year == year)
    }
}

/// The measure name of a continuous layer's band statistic.
pub fn measure(band: &str, stat: &str) -> String {
    format!("{band}/{stat}")
}

/// Splits a measure into (band, stat) (`None` for a categorical one).
pub fn split_measure(m: &str) -> Option<(&str, &str)> {
    m.rsplit_once('/')
}

/// Every cell a pipeline's table is made of, with a flat index per (layer, slot, measure).
#[derive(Debug, Clone)]
pub struct CellModel {
    pub engine: Engine,
    pub layers: Vec<LayerCells>,
    /// Flat index of each layer's first cell.
    base: Vec<usize>,
    total: usize,
}

/// A set of flat cell indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CellSet(Vec<u64>);

impl CellSet {
    pub fn new(n: usize) -> CellSet {
        CellSet(vec![0; n.div_ceil(64)])
    }
    pub fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    pub fn clear(&mut self) {
        self.0.iter_mut().for_each(|w| *w = 0);
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// `self \ other`.
    pub fn minus(&self, other: &CellSet) -> CellSet {
        CellSet(self.0.iter().zip(other.0.iter().chain(std::iter::repeat(&0))).map(|(a, b)| a & !b).collect())
    }
}

/// One layer part of a request: some years of one layer, with some of its measures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Part {
    /// Index in the pipeline's layers (of the pipeline it was planned for).
    pub layer: usize,
    /// The layer's name (its columns are named after it).
    pub name: String,
    /// Slot years ([`STATIC_YEAR`] for a static layer).
    pub years: Vec<i32>,
    /// Measures computed (all of them for a categorical layer).
    pub measures: Vec<String>,
    /// The expression key of each year, hex.
    pub keys: Vec<String>,
    /// A static layer's part: the year whose columns hold its values (it is reduced once, for this year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_year: Option<i32>,
}

impl CellModel {
    /// The cell model of an Earth Engine zonal pipeline from its rendered layers.
    pub fn earth_engine(pipeline: &Pipeline, prepared: &[PreparedLayer]) -> CellModel {
        let layers = prepared
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (crs, scale) = reduction_grid(pipeline, l);
                let r = &pipeline.reduce;
                let slots = l
                    .images
                    .iter()
                    .map(|(year, tpl)| {
                        let year = if l.is_static { STATIC_YEAR } else { *year };
                        let detail = serde_json::json!({
                            "engine": "earthengine",
                            "compute_version": COMPUTE_VERSION,
                            "kind": format!("{:?}", l.kind).to_lowercase(),
                            "image": serde_json::from_str::<Value>(&canonical_json(tpl)).unwrap_or(Value::Null),
                            "bands": l.bands,
                            "nodata": l.nodata.values,
                            "mask": l.nodata.mask.as_ref().map(|m| serde_json::json!({
                                "asset": l.asset, "band": m.band, "valid": m.valid})),
                            "crs": crs,
                            "scale": scale,
                            "tile_scale": r.tile_scale,
                            "max_pixels": r.max_pixels,
                        });
                        let detail = canonical_json(&detail);
                        let mut h = Sha256::new();
                        h.update(b"geepipe cell\0");
                        h.update(detail.as_bytes());
                        Slot { year, key: digest(h), detail }
                    })
                    .collect();
                LayerCells {
                    layer: i,
                    name: l.name.clone(),
                    kind: l.kind,
                    is_static: l.is_static,
                    years: l.years.clone(),
                    slots,
                    measures: measures(l.kind, &l.bands, &l.stats),
                }
            })
            .collect();
        CellModel::new(Engine::EarthEngine, layers)
    }

    /// A model from its layers (the local engine builds its own keys).
    pub fn new(engine: Engine, layers: Vec<LayerCells>) -> CellModel {
        let mut base = Vec::with_capacity(layers.len());
        let mut total = 0;
        for l in &layers {
            base.push(total);
            total += l.slots.len() * l.measures.len();
        }
        CellModel { engine, layers, base, total }
    }

    /// Number of cells of one site (every slot of every layer).
    pub fn cells_per_site(&self) -> usize {
        self.total
    }

    /// The flat index of (layer position in the model, slot, measure).
    pub fn index(&self, layer: usize, slot: usize, measure: usize) -> usize {
        self.base[layer] + slot * self.layers[layer].measures.len() + measure
    }

    /// (layer position, slot, measure) of a flat index.
    pub fn locate(&self, i: usize) -> (usize, usize, usize) {
        let l = self.base.partition_point(|b| *b <= i) - 1;
        let m = self.layers[l].measures.len().max(1);
        let off = i - self.base[l];
        (l, off / m, off % m)
    }

    /// The cells a site with first year `first` needs: every measure of every slot whose year is shown
    /// (a static layer's slot when any of its years is).
    pub fn needed(&self, first: Option<i32>) -> CellSet {
        let mut s = CellSet::new(self.total);
        for (li, l) in self.layers.iter().enumerate() {
            for (si, slot) in l.slots.iter().enumerate() {
                let shown = if l.is_static {
                    l.years.iter().any(|y| first.is_none_or(|f| *y >= f))
                } else {
                    first.is_none_or(|f| slot.year >= f)
                };
                if shown {
                    for m in 0..l.measures.len() {
                        s.insert(self.index(li, si, m));
                    }
                }
            }
        }
        s
    }

    /// The layer parts that compute exactly `cells`: per layer, the years grouped by the measures they
    /// lack (in layer order, then by first year).
    pub fn parts(&self, cells: &CellSet) -> Vec<Part> {
        let mut out = Vec::new();
        for (li, l) in self.layers.iter().enumerate() {
            // measures (as indices) → slots lacking exactly them
            let mut by_measures: BTreeMap<Vec<usize>, Vec<usize>> = BTreeMap::new();
            for si in 0..l.slots.len() {
                let ms: Vec<usize> = (0..l.measures.len()).filter(|&m| cells.contains(self.index(li, si, m))).collect();
                if !ms.is_empty() {
                    by_measures.entry(ms).or_default().push(si);
                }
            }
            let mut parts: Vec<Part> = by_measures
                .into_iter()
                .map(|(ms, slots)| Part {
                    layer: l.layer,
                    name: l.name.clone(),
                    years: slots.iter().map(|&s| l.slots[s].year).collect(),
                    measures: ms.iter().map(|&m| l.measures[m].clone()).collect(),
                    keys: slots.iter().map(|&s| hex::encode(l.slots[s].key)).collect(),
                    column_year: if l.is_static { l.years.first().copied() } else { None },
                })
                .collect();
            parts.sort_by_key(|p| p.years.first().copied());
            out.extend(parts);
        }
        out
    }

    /// The model's layer for a pipeline layer index.
    pub fn layer(&self, pipeline_layer: usize) -> Option<(usize, &LayerCells)> {
        self.layers.iter().enumerate().find(|(_, l)| l.layer == pipeline_layer)
    }

    /// The flat cells a part computes.
    pub fn part_cells(&self, part: &Part) -> CellSet {
        let mut s = CellSet::new(self.total);
        if let Some((li, l)) = self.layer(part.layer) {
            for y in &part.years {
                let Some(si) = l.slots.iter().position(|s| s.year == *y) else { continue };
                for m in &part.measures {
                    if let Some(mi) = l.measures.iter().position(|x| x == m) {
                        s.insert(self.index(li, si, mi));
                    }
                }
            }
        }
        s
    }
}

/// The measures of a layer: `[""]` (categorical) or every `band/stat` (continuous), in column order.
pub fn measures(kind: LayerKind, bands: &[String], stats: &[String]) -> Vec<String> {
    match kind {
        LayerKind::Categorical => vec![String::new()],
        LayerKind::Continuous => bands.iter().flat_map(|b| stats.iter().map(move |s| measure(b, s))).collect(),
    }
}

/// A prepared layer cut to a part: its years (all of a static layer's years, reduced once) and the
/// statistics of its measures.
pub fn cut(layer: &PreparedLayer, part: &Part) -> PreparedLayer {
    let mut l = layer.clone();
    if !l.is_static {
        l.years = part.years.clone();
        l.images.retain(|(y, _)| part.years.contains(y));
    }
    if l.kind == LayerKind::Continuous {
        let stats: Vec<&str> = part.measures.iter().filter_map(|m| split_measure(m).map(|(_, s)| s)).collect();
        l.stats.retain(|s| stats.contains(&s.as_str()));
    }
    l
}

/// The digest of the work a chunk does: its sites (id and geometry) and its parts, plus `salt` (the
/// export settings, and a nonce for `--fresh`). Request ids are derived from it, so the same work is never
/// submitted twice.
pub fn work_key(sites: &[(String, Key)], parts: &[Part], salt: &str) -> Key {
    let mut h = Sha256::new();
    h.update(b"geepipe work\0");
    h.update(salt.as_bytes());
    for p in parts {
        h.update(b"\0part");
        h.update((p.layer as u64).to_le_bytes());
        for (y, k) in p.years.iter().zip(&p.keys) {
            h.update(y.to_le_bytes());
            h.update(k.as_bytes());
        }
        for m in &p.measures {
            h.update(b"\0");
            h.update(m.as_bytes());
        }
    }
    for (id, k) in sites {
        h.update(b"\0site");
        h.update(id.as_bytes());
        h.update(b"\0");
        h.update(k);
    }
    digest(h)
}

/// The cells of one layer the table needs: stored, and to compute.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LayerCount {
    pub layer: String,
    pub stored: u64,
    pub to_compute: u64,
}

/// What the table needs and what is stored.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CellCounts {
    pub sites: u64,
    /// Sites lacking at least one cell.
    pub sites_to_compute: u64,
    /// Sites whose id is stored with another geometry.
    pub changed_geometry: u64,
    pub layers: Vec<LayerCount>,
}

impl CellCounts {
    pub fn stored(&self) -> u64 {
        self.layers.iter().map(|l| l.stored).sum()
    }
    pub fn to_compute(&self) -> u64 {
        self.layers.iter().map(|l| l.to_compute).sum()
    }

    /// One line per layer: `name: N stored, M to compute`.
    pub fn lines(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|l| format!("{}: {} cells stored, {} to compute", l.layer, l.stored, l.to_compute))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CellModel {
        let slot = |year: i32| Slot { year, key: [year as u8; 16], detail: String::new() };
        CellModel::new(
            Engine::EarthEngine,
            vec![
                LayerCells {
                    layer: 0,
                    name: "lc".into(),
                    kind: LayerKind::Categorical,
                    is_static: false,
                    years: vec![2020, 2021, 2022],
                    slots: vec![slot(2020), slot(2021), slot(2022)],
                    measures: measures(LayerKind::Categorical, &[], &[]),
                },
                LayerCells {
                    layer: 1,
                    name: "t".into(),
                    kind: LayerKind::Continuous,
                    is_static: true,
                    years: vec![2020, 2021, 2022],
                    slots: vec![slot(STATIC_YEAR)],
                    measures: measures(LayerKind::Continuous, &["b".into()], &["mean".into(), "p90".into()]),
                },
            ],
        )
    }

    #[test]
    fn needed_cells_follow_the_first_year_and_static_layers() {
        let m = model();
        assert_eq!(m.cells_per_site(), 3 + 2);
        assert_eq!(m.needed(None).len(), 5);
        let late = m.needed(Some(2022));
        assert_eq!(late.len(), 1 + 2, "2022 of lc, and the static layer");
        assert!(late.contains(m.index(0, 2, 0)) && !late.contains(m.index(0, 1, 0)));
        assert_eq!(m.needed(Some(2030)).len(), 0);
        for i in 0..m.cells_per_site() {
            let (l, s, k) = m.locate(i);
            assert_eq!(m.index(l, s, k), i);
        }
    }

    #[test]
    fn parts_group_years_by_the_measures_they_lack() {
        let m = model();
        let mut lack = CellSet::new(m.cells_per_site());
        lack.insert(m.index(0, 0, 0));
        lack.insert(m.index(0, 2, 0));
        lack.insert(m.index(1, 0, 1));
        let parts = m.parts(&lack);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].layer, parts[0].years.clone()), (0, vec![2020, 2022]));
        assert_eq!((parts[1].layer, parts[1].measures.clone()), (1, vec!["b/p90".to_string()]));
        let mut back = CellSet::new(m.cells_per_site());
        for p in &parts {
            for i in 0..m.cells_per_site() {
                if m.part_cells(p).contains(i) {
                    back.insert(i);
                }
            }
        }
        assert_eq!(back, lack);
    }

    #[test]
    fn site_keys_change_with_any_coordinate() {
        let site = |x: f64| Site {
            id: "a".into(),
            properties: Default::default(),
            polygons: vec![vec![vec![[x, 0.0], [1.0, 0.0], [1.0, 1.0], [x, 0.0]]]],
            multi: false,
            index: 0,
        };
        assert_eq!(site_key(&site(0.0)), site_key(&site(0.0)));
        assert_ne!(site_key(&site(0.0)), site_key(&site(1e-12)));
        let mut moved = site(0.0);
        moved.index = 7;
        moved.properties.insert("name".into(), "x".into());
        assert_eq!(site_key(&moved), site_key(&site(0.0)), "properties and file position do not count");
    }
}
