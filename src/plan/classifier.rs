//! Classifier training (`kind: classifier`): one `classifier:export` request that samples the feature layers'
//! bands at the labelled sites (`Image.sampleRegions`), trains the chosen `Classifier.*` on them
//! (`Classifier.train`) and saves it as an Earth Engine asset.
//!
//! [`ClassifierPlanner`] is the kind's planning for [`super::Planner`]: one chunk of every site, never split.

use serde_json::{json, Map, Value};

use super::cells::Part;
use super::compute::{num, site_geometry, BuildError, PreparedLayer};
use super::kind::{Built, Chunk, Inputs, KindPlanner};
use super::probe::{wrap, ProbeCall, ProbeError, ValueProbe};
use super::request;
use super::{Endpoint, PlanError, Target, Task};
use crate::diag::{Code, Diagnostic};
use crate::expr::{Graph, Id};
use crate::pipeline::{ClassifierSpec, Destination, LayerKind, Pipeline};
use crate::sites::Site;

/// The one chunk id of a classifier pipeline.
pub const CHUNK_ID: &str = "classifier";

/// Sites a classifier probe trains on (a classifier needs more than a couple).
pub const PROBE_SITES: usize = 10;

/// A classifier pipeline's planning: one chunk of every site, never split.
#[derive(Debug)]
pub struct ClassifierPlanner {
    spec: ClassifierSpec,
}

impl ClassifierPlanner {
    pub fn new(spec: &ClassifierSpec) -> ClassifierPlanner {
        ClassifierPlanner { spec: spec.clone() }
    }

    /// The `classifier:export` task: every site, one request. Every site needs a numeric label.
    fn task(&self, inputs: &Inputs) -> Result<Task, Vec<Diagnostic>> {
        let (p, spec) = (&inputs.pipeline, &self.spec);
        let sites: Vec<&Site> = inputs.sites.iter().collect();
        let unlabelled: Vec<&str> = sites.iter().filter(|s| !labelled(spec, s)).map(|s| s.id.as_str()).collect();
        if !unlabelled.is_empty() {
            let shown: Vec<&str> = unlabelled.iter().take(5).copied().collect();
            return Err(vec![inputs.error(
                Code::PlanClassifierLabel,
                format!(
                    "{} site(s) have no numeric `{}` label: {}{}",
                    unlabelled.len(),
                    spec.label,
                    shown.join(", "),
                    if unlabelled.len() > shown.len() { ", ..." } else { "" }
                ),
                "Earth Engine classifiers train on integer class codes; give every site one",
            )]);
        }
        let site_ids: Vec<String> = sites.iter().map(|s| s.id.clone()).collect();
        let expression = expression(p, spec, &inputs.layers, &sites).map_err(|e| inputs.expression_error(e))?;
        Ok(request::task(p, CHUNK_ID, site_ids, |description, request_id| body(p, description, request_id, expression)))
    }
}

/// Whether a site has a numeric label to train on.
fn labelled(spec: &ClassifierSpec, site: &Site) -> bool {
    site.properties.get(&spec.label).is_some_and(Value::is_number)
}

impl KindPlanner for ClassifierPlanner {
    fn export_only(&self) -> Option<&'static str> {
        Some("`kind: classifier` pipelines run as export tasks")
    }

    /// One request of every site, which Earth Engine refuses past its request size limit (the body grows by
    /// a few hundred bytes a site: about 17,000 small polygons fit).
    fn chunk(&self, inputs: &Inputs) -> Result<Vec<(Chunk, Built)>, Vec<Diagnostic>> {
        let built = Built::from(self.task(inputs)?);
        let (bytes, limit) = (built.task.body_bytes, crate::pipeline::Chunks::EE_MAX_REQUEST_BYTES);
        if bytes > limit {
            let n = inputs.sites.len();
            return Err(vec![inputs.error(
                Code::PlanClassifier,
                format!(
                    "the training request of {n} sites is {bytes} bytes, more than Earth Engine accepts in one request \
                     ({limit} bytes)"
                ),
                &format!(
                    "train on fewer sites (about {} of these fit) or simplify their polygons",
                    (n as u128 * limit as u128 / bytes.max(1) as u128)
                ),
            )]);
        }
        Ok(vec![(Chunk { sites: (0..inputs.sites.len()).collect(), parts: Vec::new() }, built)])
    }

    fn rebuild(&self, inputs: &Inputs, _: usize, _: &str, _: &Chunk) -> Result<Built, PlanError> {
        Ok(Built::from(self.task(inputs)?))
    }

    /// The training is one request: only its own chunk id is built again.
    fn split(&self, inputs: &Inputs, chunk_id: &str, _: &[String], _: Option<&[Part]>) -> Result<Built, PlanError> {
        if chunk_id != CHUNK_ID {
            return Err(PlanError::NotSplit { what: "classifier training", chunk: chunk_id.to_string() });
        }
        Ok(Built::from(self.task(inputs)?))
    }

    /// The training on the first [`PROBE_SITES`] labelled sites wrapped in `Classifier.schema`.
    fn probe(&self, inputs: &Inputs, _first: Option<&Chunk>, _sites: usize) -> Result<ProbeCall, ProbeError> {
        let spec = &self.spec;
        let chosen: Vec<&Site> = inputs.sites.iter().filter(|s| labelled(spec, s)).take(PROBE_SITES).collect();
        let expression = expression(&inputs.pipeline, spec, &inputs.layers, &chosen)?;
        Ok(ProbeCall::Value {
            expression: wrap(&expression, "Classifier.schema", "classifier"),
            what: ValueProbe::ClassifierSchema(feature_bands(spec, &inputs.layers)),
            description: format!("training on {} labelled site(s)", chosen.len()),
        })
    }
}

/// The feature band names, in order: `{layer}__{year}` (categorical) or `{layer}__{year}__{band}`.
pub fn feature_bands(spec: &ClassifierSpec, layers: &[PreparedLayer]) -> Vec<String> {
    let mut out = Vec::new();
    for l in layers.iter().filter(|l| spec.features.contains(&l.name)) {
        for (year, _) in &l.images {
            match l.kind {
                LayerKind::Categorical => out.push(format!("{}__{year}", l.name)),
                LayerKind::Continuous => out.extend(l.bands.iter().map(|b| format!("{}__{year}__{b}", l.name))),
            }
        }
    }
    out
}

/// The training expression: `Classifier.train(Classifier.X(params), Image.sampleRegions(...), label, bands)`.
pub fn expression(
    pipeline: &Pipeline,
    spec: &ClassifierSpec,
    layers: &[PreparedLayer],
    sites: &[&Site],
) -> Result<Value, BuildError> {
    let mut g = Graph::new();
    let mut images: Vec<Id> = Vec::new();
    let mut layer_scale = None;
    for l in layers.iter().filter(|l| spec.features.contains(&l.name)) {
        layer_scale = layer_scale.or(l.scale);
        for (year, tpl) in &l.images {
            let img = super::compute::layer_image(&mut g, l, tpl)?;
            let (selectors, names) = match l.kind {
                LayerKind::Categorical => {
                    let zero = g.int(0);
                    (g.array(vec![zero]), g.strings(&[format!("{}__{year}", l.name)]))
                }
                LayerKind::Continuous => {
                    let names: Vec<String> = l.bands.iter().map(|b| format!("{}__{year}__{b}", l.name)).collect();
                    (g.strings(&l.bands), g.strings(&names))
                }
            };
            images
                .push(g.call("Image.select", vec![("input", img), ("bandSelectors", selectors), ("newNames", names)]));
        }
    }
    if images.is_empty() {
        return Err(BuildError::NoFeatureBands);
    }
    let image = if images.len() == 1 {
        images[0]
    } else {
        let list = g.array(images);
        g.call("Image.cat", vec![("images", list)])
    };
    let mut feats = Vec::with_capacity(sites.len());
    for site in sites {
        let geometry = site_geometry(&mut g, site);
        let label = site.properties.get(&spec.label).cloned().unwrap_or(Value::Null);
        let label = g.data(&label);
        let metadata = g.dict(vec![(spec.label.clone(), label)]);
        feats.push(g.call("Feature", vec![("geometry", geometry), ("metadata", metadata)]));
    }
    let feats = g.array(feats);
    let collection = g.call("Collection", vec![("features", feats)]);
    let properties = g.strings(std::slice::from_ref(&spec.label));
    let mut args = vec![("image", image), ("collection", collection), ("properties", properties)];
    if let Some(s) = spec.scale.or(pipeline.reduce.scale).or(layer_scale) {
        args.push(("scale", num(&mut g, s)));
    }
    let training = g.call("Image.sampleRegions", args);
    let params: Vec<(String, Id)> = spec.parameters.iter().map(|(k, v)| (k.clone(), g.data(v))).collect();
    let params: Vec<(&str, Id)> = params.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let classifier = g.call(&spec.algorithm, params);
    let class_property = g.str(&spec.label);
    let inputs = g.strings(&feature_bands(spec, layers));
    let root = g.call(
        "Classifier.train",
        vec![
            ("classifier", classifier),
            ("features", training),
            ("classProperty", class_property),
            ("inputProperties", inputs),
        ],
    );
    Ok(g.encode(root))
}

/// The `classifier:export` body and its asset.
pub fn body(pipeline: &Pipeline, description: &str, request_id: &str, expression: Value) -> (Value, Target, Endpoint) {
    let p = pipeline;
    let folder = match &p.export.destination {
        Destination::Asset { folder } => folder.trim_end_matches('/').to_string(),
        _ => String::new(),
    };
    let name = format!("{folder}/{}", p.name);
    let mut dest = Map::new();
    dest.insert("name".into(), json!(name));
    if p.export.overwrite {
        dest.insert("overwrite".into(), json!(true));
    }
    let mut body = super::request::base_body(p, expression, description, request_id);
    body.insert("assetExportOptions".into(), json!({"earthEngineDestination": Value::Object(dest)}));
    (Value::Object(body), Target::Asset { name }, Endpoint::ClassifierExport)
}
