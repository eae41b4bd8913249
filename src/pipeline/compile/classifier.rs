//! Stage: the `classifier` section of `kind: classifier` pipelines (the algorithm and its parameters
//! against Earth Engine's signatures, the label property, the feature layers).

use super::{Cx, Parts};
use crate::diag::Code;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

impl Cx<'_> {
    /// Resolves the `classifier` section: required for `kind: classifier`, refused for other kinds.
    pub(super) fn classifier(
        &mut self,
        raw: &Parts,
        kind: KindName,
        layers: &[Layer],
        sites: Option<&SiteSource>,
        reduce: &Reduce,
    ) -> Option<ClassifierSpec> {
        let section = raw.classifier.as_ref();
        if kind != KindName::Classifier {
            if section.is_some() {
                self.error(
                    "/classifier",
                    Code::ClassifierKind,
                    "the `classifier` section only applies to `kind: classifier`",
                    "not used",
                    "add `kind: classifier`, or remove the section",
                );
            }
            return None;
        }
        if let Some(e) = &raw.export {
            if e.to != DestinationName::Asset {
                self.error(
                    "/export/to",
                    Code::ExportKind,
                    "a trained classifier can only be exported to an Earth Engine asset",
                    "not for classifiers",
                    "use `to: asset` with `asset: projects/<project>/assets/<folder>`",
                );
            }
        }
        let label = sites.and_then(|s| s.label_property.clone());
        if sites.is_some() && label.is_none() {
            self.error(
                "/sites",
                Code::ClassifierLabel,
                "`kind: classifier` needs `sites.label`, the property holding each site's class",
                "needs `label`",
                "add `label: class` (an integer class property of every site)",
            );
        }
        let Some(c) = section else {
            self.error(
                "",
                Code::ClassifierMissing,
                "`kind: classifier` needs a `classifier` section",
                "here",
                "add `classifier: {algorithm: smileRandomForest, parameters: {numberOfTrees: 100}}`",
            );
            return None;
        };
        let short = c.algorithm.trim_start_matches("Classifier.");
        let algorithm = format!("Classifier.{short}");
        let constructors: Vec<&str> = crate::expr::check::algorithm_names()
            .filter(|n| n.starts_with("Classifier."))
            .filter(|n| crate::expr::check::signature(n).is_some_and(|s| s.returns == "Classifier"))
            .collect();
        let mut ok = true;
        let sig = crate::expr::check::signature(&algorithm).filter(|s| s.returns == "Classifier");
        if sig.is_none()
            || ["Classifier.load", "Classifier.train", "Classifier.setOutputMode"].contains(&algorithm.as_str())
        {
            ok = false;
            let names: Vec<&str> = constructors.iter().map(|n| n.trim_start_matches("Classifier.")).collect();
            let help = match crate::suggest::did_you_mean(short, names.iter().copied()) {
                Some(m) => format!("did you mean `{m}`?"),
                None => "e.g. `smileRandomForest`, `smileCart`, `smileGradientTreeBoost`, `libsvm`".to_string(),
            };
            self.error(
                "/classifier/algorithm",
                Code::ClassifierAlgorithm,
                format!("`{}` is not an Earth Engine classifier", c.algorithm),
                "unknown classifier",
                &help,
            );
        }
        let parameters = c.parameters.clone().unwrap_or_default();
        if let (Some(sig), true) = (sig, ok) {
            for (name, value) in &parameters {
                if let Some(ty) = sig.argument_type(name) {
                    if let Some((message, help)) = crate::expr::types::check_value(ty, value) {
                        self.error(
                            &format!("/classifier/parameters/{}", crate::pipeline::load::pointer_segment(name)),
                            Code::ClassifierParameterType,
                            format!("`{short}` parameter `{name}`: {message}"),
                            "wrong type",
                            &help,
                        );
                    }
                }
                if !sig.arguments.iter().any(|(a, _)| a == name) {
                    let args: Vec<&str> = sig.arguments.iter().map(|(a, _)| *a).collect();
                    let help = match crate::suggest::did_you_mean(name, args.iter().copied()) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => format!("`{short}` takes {}", args.join(", ")),
                    };
                    self.error(
                        &format!("/classifier/parameters/{}", crate::pipeline::load::pointer_segment(name)),
                        Code::ClassifierParameter,
                        format!("`{short}` has no parameter `{name}`"),
                        "unknown parameter",
                        &help,
                    );
                }
            }
            for (a, optional) in &sig.arguments {
                if !optional && !parameters.contains_key(*a) {
                    self.error(
                        "/classifier",
                        Code::ClassifierParameter,
                        format!("`{short}` needs the parameter `{a}`"),
                        &format!("needs `{a}`"),
                        &format!("add `parameters: {{{a}: ...}}`"),
                    );
                }
            }
        }
        let features = match &c.features {
            Some(f) => {
                for (i, name) in f.iter().enumerate() {
                    if !layers.iter().any(|l| &l.name == name) {
                        let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
                        let help = match crate::suggest::did_you_mean(name, names.iter().copied()) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => format!("layers are {}", names.join(", ")),
                        };
                        self.error(
                            &format!("/classifier/features/{i}"),
                            Code::ClassifierFeatures,
                            format!("no layer named `{name}`"),
                            "unknown layer",
                            &help,
                        );
                    }
                }
                f.clone()
            }
            None => layers.iter().map(|l| l.name.clone()).collect(),
        };
        if let Some(s) = c.scale {
            if s <= 0.0 || !s.is_finite() {
                self.error(
                    "/classifier/scale",
                    Code::ClassifierScale,
                    "scale must be a positive number of metres",
                    "here",
                    "",
                );
            }
        }
        Some(ClassifierSpec {
            algorithm,
            parameters,
            features,
            scale: c.scale.or(reduce.scale),
            label: label.unwrap_or_default(),
        })
    }
}
