//! Offline type check of layer expressions against Earth Engine's algorithm signatures.
//!
//! `algorithms.tsv` is generated from the reference `ee-algorithms.json` (991 algorithms; one line per
//! algorithm: name, arguments as `name:Type` with `?` marking optional ones, return type). A test
//! regenerates it and fails when the committed copy differs (`GEEPIPE_BLESS=1` rewrites it). The types
//! feed the type inference of [`super::types`].

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::template::{parse_node, TemplateNode};
use crate::pipeline::load::pointer_segment;

const TABLE: &str = include_str!("algorithms.tsv");

/// One algorithm's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: &'static str,
    /// Argument names in order, with whether each is optional.
    pub arguments: Vec<(&'static str, bool)>,
    /// Declared type of each argument, parallel to `arguments` (`Image<unknown bands>`, `List<String>`, …).
    pub argument_types: Vec<&'static str>,
    pub returns: &'static str,
}

impl Signature {
    /// The declared type of argument `name`, if the algorithm has it.
    pub fn argument_type(&self, name: &str) -> Option<&'static str> {
        self.arguments.iter().position(|(n, _)| *n == name).map(|i| self.argument_types[i])
    }
}

fn table() -> &'static (Vec<Signature>, HashMap<&'static str, usize>) {
    static T: OnceLock<(Vec<Signature>, HashMap<&'static str, usize>)> = OnceLock::new();
    T.get_or_init(|| {
        let sigs: Vec<Signature> = TABLE
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut parts = l.split('\t');
                let name = parts.next().unwrap_or_default();
                let args = parts.next().unwrap_or_default();
                let returns = parts.next().unwrap_or_default();
                let (arguments, argument_types) = args
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        let (n, ty) = a.split_once(':').unwrap_or((a, "Object"));
                        match n.strip_suffix('?') {
                            Some(n) => ((n, true), ty),
                            None => ((n, false), ty),
                        }
                    })
                    .unzip();
                Signature { name, arguments, argument_types, returns }
            })
            .collect();
        let index = sigs.iter().enumerate().map(|(i, s)| (s.name, i)).collect();
        (sigs, index)
    })
}

/// The signature of algorithm `name`, if Earth Engine has it.
pub fn signature(name: &str) -> Option<&'static Signature> {
    let (sigs, index) = table();
    index.get(name).map(|i| &sigs[*i])
}

/// Names of all known algorithms, sorted.
pub fn algorithm_names() -> impl Iterator<Item = &'static str> {
    table().0.iter().map(|s| s.name)
}

/// The generated table text for an `ee-algorithms.json` document (what `algorithms.tsv` must hold).
pub fn table_from_reference(doc: &Value) -> String {
    let mut lines: Vec<String> = doc
        .get("algorithms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let full = a.get("name").and_then(Value::as_str).unwrap_or_default();
            let name = full.strip_prefix("algorithms/").unwrap_or(full);
            let args: Vec<String> = a
                .get("arguments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|x| {
                    let n = x.get("argumentName").and_then(Value::as_str).unwrap_or_default();
                    let opt = x.get("optional").and_then(Value::as_bool).unwrap_or(false);
                    let ty = x.get("type").and_then(Value::as_str).unwrap_or("Object");
                    format!("{n}{}:{ty}", if opt { "?" } else { "" })
                })
                .collect();
            let ret = a.get("returnType").and_then(Value::as_str).unwrap_or_default();
            format!("{name}\t{}\t{ret}", args.join(","))
        })
        .collect();
    lines.sort();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The committed table text.
pub fn committed_table() -> &'static str {
    TABLE
}

/// A problem in a layer's `image` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprProblem {
    /// JSON pointer relative to the image value (`""` is the image itself).
    pub pointer: String,
    pub message: String,
    pub help: Option<String>,
}

/// Checks a layer's `image` expression (nested `call` form, placeholders unrendered): unknown algorithms,
/// unknown argument names, missing required arguments, malformed nodes, unbound argument references.
pub fn check_layer_image(image: &Value) -> Vec<ExprProblem> {
    let mut out = Vec::new();
    walk(image, "", &mut Vec::new(), &mut out);
    out
}

fn walk(v: &Value, ptr: &str, scope: &mut Vec<String>, out: &mut Vec<ExprProblem>) {
    match parse_node(v) {
        Err(e) => out.push(ExprProblem {
            pointer: ptr.to_string(),
            message: e.to_string(),
            help: Some(
                "an expression node is `{call: Algorithm.name, arg: …}`, `{function: [x], body: …}`, `{arg: x}`, \
                 `{const: …}`, a list, a mapping of values, or a plain value"
                    .into(),
            ),
        }),
        Ok(TemplateNode::Call { name, args }) => {
            let call_ptr = format!("{ptr}/call");
            match signature(name) {
                None => {
                    let help = match crate::suggest::did_you_mean(name, algorithm_names()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            "see the Earth Engine API reference for algorithm names (e.g. `Image.select`)".to_string()
                        }
                    };
                    out.push(ExprProblem {
                        pointer: call_ptr,
                        message: format!("Earth Engine has no algorithm `{name}`"),
                        help: Some(help),
                    });
                }
                Some(sig) => {
                    for (k, _) in &args {
                        if !sig.arguments.iter().any(|(n, _)| n == k) {
                            let names: Vec<&str> = sig.arguments.iter().map(|(n, _)| *n).collect();
                            let valid = if names.is_empty() {
                                "it takes no arguments".to_string()
                            } else {
                                format!("its arguments: {}", names.join(", "))
                            };
                            let help = match crate::suggest::did_you_mean(k, names.iter().copied()) {
                                Some(s) => format!("did you mean `{s}`? ({valid})"),
                                None => valid,
                            };
                            out.push(ExprProblem {
                                pointer: format!("{ptr}/{}", pointer_segment(k)),
                                message: format!("`{name}` has no argument `{k}`"),
                                help: Some(help),
                            });
                        }
                    }
                    for (n, optional) in &sig.arguments {
                        if !optional && !args.iter().any(|(k, _)| k == n) {
                            out.push(ExprProblem {
                                pointer: ptr.to_string(),
                                message: format!("`{name}` needs its argument `{n}`"),
                                help: Some(format!("add `{n}: …` to this call")),
                            });
                        }
                    }
                }
            }
            for (k, child) in args {
                walk(child, &format!("{ptr}/{}", pointer_segment(k)), scope, out);
            }
        }
        Ok(TemplateNode::Function { args, body }) => {
            let n = scope.len();
            scope.extend(args.iter().cloned());
            walk(body, &format!("{ptr}/body"), scope, out);
            scope.truncate(n);
        }
        Ok(TemplateNode::Arg(name)) => {
            if !scope.iter().any(|s| s == name) {
                let help = if scope.is_empty() {
                    "`arg:` refers to an argument of an enclosing `function:`".to_string()
                } else {
                    format!("arguments in scope: {}", scope.join(", "))
                };
                out.push(ExprProblem {
                    pointer: format!("{ptr}/arg"),
                    message: format!("`{name}` is not an argument of an enclosing function"),
                    help: Some(help),
                });
            }
        }
        Ok(TemplateNode::Const(_)) | Ok(TemplateNode::Scalar(_)) => {}
        Ok(TemplateNode::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{ptr}/{i}"), scope, out);
            }
        }
        Ok(TemplateNode::Dict(entries)) => {
            for (k, item) in entries {
                walk(item, &format!("{ptr}/{}", pointer_segment(k)), scope, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_unknown_algorithm_with_suggestion() {
        let p = check_layer_image(
            &json!({"call": "Image.selct", "input": {"call": "Image.load", "id": "x"}, "bandSelectors": ["b"]}),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].pointer, "/call");
        assert!(p[0].help.as_deref().unwrap().contains("Image.select"), "{p:?}");
    }

    #[test]
    fn reports_unknown_and_missing_arguments_located() {
        let p = check_layer_image(
            &json!({"call": "Image.select", "input": {"call": "Image.load", "idd": "x"}, "bandSelectors": ["b"]}),
        );
        let ptrs: Vec<&str> = p.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(ptrs, ["/input/idd", "/input"], "{p:?}");
        assert!(p[0].help.as_deref().unwrap().contains("did you mean `id`"), "{p:?}");
        assert!(p[0].help.as_deref().unwrap().contains("id, version"), "{p:?}");
        assert!(p[1].message.contains("needs its argument `id`"));
    }

    #[test]
    fn functions_bind_arguments() {
        let ok = json!({"call": "Collection.map", "collection": {"call": "ImageCollection.load", "id": "x"},
            "baseAlgorithm": {"function": ["img"], "body": {"call": "Image.select", "input": {"arg": "img"}, "bandSelectors": ["B4"]}}});
        assert!(check_layer_image(&ok).is_empty());
        let bad = json!({"call": "Image.select", "input": {"arg": "img"}, "bandSelectors": ["B4"]});
        let p = check_layer_image(&bad);
        assert_eq!(p[0].pointer, "/input/arg");
    }

    #[test]
    fn committed_table_matches_its_lookup() {
        assert_eq!(algorithm_names().count(), 991);
        let s = signature("Image.reduceRegions").unwrap();
        assert!(s.arguments.contains(&("maxPixelsPerRegion", true)));
        assert!(s.arguments.contains(&("image", false)));
    }
}
