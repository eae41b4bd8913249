//! Layer expression templates: the nested `call` form users write in YAML/TOML, rendered value by value.
//!
//! A template node is one of:
//!
//! - `{call: Algorithm.name, arg1: …, arg2: …}`: a call with named arguments;
//! - `{function: [x, y], body: …}`: a function value (for `Collection.map`, `List.map`, …);
//! - `{arg: x}`: an argument of an enclosing `function`;
//! - `{const: …}`: a constant taken as plain data (e.g. a mapping that has a `call` key);
//! - a list of nodes, or a mapping of nodes (a dictionary), or a plain value (a constant).
//!
//! Placeholders (`{{year}}`, `{{next_year}}`, `{{asset}}`, user `vars`) are rendered with handlebars in
//! strict mode without HTML escaping, one string leaf at a time: a rendered string is only ever a
//! string value, so no variable can change the structure of the expression. A string that is exactly one
//! placeholder of a number variable (`"{{year}}"`) becomes that number.

use handlebars::Handlebars;
use serde_json::{Map, Value};

use super::graph::{Graph, Id};

/// A classified template node (borrowing the template).
#[derive(Debug)]
pub enum TemplateNode<'a> {
    Call { name: &'a str, args: Vec<(&'a String, &'a Value)> },
    Function { args: Vec<String>, body: &'a Value },
    Arg(&'a str),
    Const(&'a Value),
    List(&'a Vec<Value>),
    Dict(Vec<(&'a String, &'a Value)>),
    Scalar(&'a Value),
}

/// Why a template node is malformed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NodeError {
    #[error("`call` must name an algorithm, e.g. `call: Image.select`")]
    CallName,
    #[error("a `function` node has only `function` and `body`, found {0:?}")]
    FunctionKeys(Vec<String>),
    #[error("`function` lists the argument names, e.g. `function: [img]`")]
    FunctionArgs,
    #[error("a `function` node needs a `body`")]
    FunctionBody,
    #[error("an `arg` node has only the `arg` key")]
    ArgKeys,
    #[error("`arg` names an argument of an enclosing function")]
    ArgName,
    #[error("a `const` node has only the `const` key")]
    ConstKeys,
    #[error("`body` belongs to a `function` node; add `function: [x]`")]
    BodyAlone,
}

/// Why a template string cannot be filled in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A placeholder names a mapping or a list (`holds` says which): Handlebars would write `[object]`.
    #[error("`{{{{{path}}}}}` holds {holds}, not text or a number")]
    Structured { path: String, holds: &'static str },
    /// Handlebars refused the text (`reason`); `variables` are the names it could use.
    #[error("cannot fill in `{text}`: {reason}{}", listed(.variables))]
    Fill { text: String, reason: String, variables: Vec<String> },
}

fn listed(variables: &[String]) -> String {
    if variables.is_empty() {
        String::new()
    } else {
        format!(" (variables: {})", variables.join(", "))
    }
}

/// Classifies one template node; `Err` says why it is malformed.
pub fn parse_node(v: &Value) -> Result<TemplateNode<'_>, NodeError> {
    match v {
        Value::Array(items) => Ok(TemplateNode::List(items)),
        Value::Object(m) => {
            if let Some(c) = m.get("call") {
                let Some(name) = c.as_str() else {
                    return Err(NodeError::CallName);
                };
                let args = m.iter().filter(|(k, _)| k.as_str() != "call").collect();
                return Ok(TemplateNode::Call { name, args });
            }
            if let Some(f) = m.get("function") {
                let extra: Vec<String> = m.keys().filter(|k| *k != "function" && *k != "body").cloned().collect();
                if !extra.is_empty() {
                    return Err(NodeError::FunctionKeys(extra));
                }
                let names = f.as_array().and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect());
                let Some(args) = names else {
                    return Err(NodeError::FunctionArgs);
                };
                let Some(body) = m.get("body") else {
                    return Err(NodeError::FunctionBody);
                };
                return Ok(TemplateNode::Function { args, body });
            }
            if let Some(a) = m.get("arg") {
                if m.len() != 1 {
                    return Err(NodeError::ArgKeys);
                }
                return match a.as_str() {
                    Some(name) => Ok(TemplateNode::Arg(name)),
                    None => Err(NodeError::ArgName),
                };
            }
            if let Some(c) = m.get("const") {
                if m.len() != 1 {
                    return Err(NodeError::ConstKeys);
                }
                return Ok(TemplateNode::Const(c));
            }
            if m.contains_key("body") {
                return Err(NodeError::BodyAlone);
            }
            Ok(TemplateNode::Dict(m.iter().collect()))
        }
        other => Ok(TemplateNode::Scalar(other)),
    }
}

/// A string of a template that could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderProblem {
    /// JSON pointer relative to the template.
    pub pointer: String,
    pub message: String,
    pub help: String,
}

/// The variables a layer's `image` template sees for one year: the pipeline's and the layer's `vars`,
/// `year`, `next_year` and (when the layer names one) `asset`.
pub fn layer_vars<'a>(
    vars: impl IntoIterator<Item = (&'a String, &'a Value)>,
    asset: Option<&str>,
    year: i32,
) -> Map<String, Value> {
    let mut out: Map<String, Value> = vars.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert("year".into(), Value::from(year));
    out.insert("next_year".into(), Value::from(year + 1));
    if let Some(a) = asset {
        out.insert("asset".into(), Value::String(a.to_string()));
    }
    out
}

/// Names handlebars itself gives meaning to inside `{{…}}` (helpers, keywords), never variables.
const HELPERS: &[&str] = &[
    "if", "else", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not",
    "len", "this", "true", "false", "null",
];

/// Variable names a string's placeholders use (`{{year}}`, `{{#if (eq year 2020)}}` → `year`).
pub fn placeholder_names(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let inner = &after[..end];
        let mut in_quote = false;
        for word in inner.split(|c: char| {
            if c == '"' || c == '\'' {
                in_quote = !in_quote;
            }
            in_quote || !(c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '.')
        }) {
            let name = word.split('.').next().unwrap_or("");
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if ok && !HELPERS.contains(&name) && !out.contains(&name) {
                out.push(name);
            }
        }
        rest = &after[(end + 2).min(after.len())..];
    }
    out
}

/// Renders placeholders in templates, one string at a time.
pub struct Renderer {
    hb: Handlebars<'static>,
    vars: Map<String, Value>,
}

impl Renderer {
    /// A renderer over `vars` (built-in variables should already be in it).
    pub fn new(vars: Map<String, Value>) -> Renderer {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        Renderer { hb, vars }
    }

    pub fn vars(&self) -> &Map<String, Value> {
        &self.vars
    }

    /// Renders one string: exactly one placeholder of a number variable gives the number.
    pub fn render_str(&self, s: &str) -> Result<Value, RenderError> {
        if !s.contains("{{") {
            return Ok(Value::String(s.to_string()));
        }
        if let Some(name) = single_placeholder(s) {
            if let Some(v @ Value::Number(_)) = self.vars.get(name) {
                return Ok(v.clone());
            }
        }
        if let Some((path, what)) = self.structured(s) {
            // Handlebars would write `[object]` (or join a list): never a value the expression means.
            return Err(RenderError::Structured { path, holds: what });
        }
        self.hb.render_template(s, &self.vars).map(Value::String).map_err(|e| RenderError::Fill {
            text: s.to_string(),
            reason: e.reason().to_string(),
            variables: self.vars.keys().cloned().collect(),
        })
    }

    /// Renders every string of a template, collecting each one that fails (an unknown placeholder, with
    /// "did you mean"; a malformed `{{`) at its pointer; a failed string becomes `null` so the rest can
    /// still be checked. Malformed nodes are left to the structural check.
    pub fn render_located(&self, t: &Value) -> (Value, Vec<RenderProblem>) {
        let mut problems = Vec::new();
        let out = self.render_at(t, "", false, &mut problems);
        (out, problems)
    }

    /// `data`: inside a `const`, where every string is a value.
    fn render_at(&self, t: &Value, ptr: &str, data: bool, problems: &mut Vec<RenderProblem>) -> Value {
        let child = |k: &str| format!("{ptr}/{}", crate::pipeline::load::pointer_segment(k));
        match t {
            Value::String(s) if s.contains("{{") => match self.render_str(s) {
                Ok(v) => v,
                Err(e) if self.structured(s).is_some() => {
                    let help = "a placeholder fills in one text or number: name one of its values \
                                (`{{name.key}}`, `{{name.[0]}}`), or put the mapping in the expression itself";
                    problems.push(RenderProblem {
                        pointer: ptr.to_string(),
                        message: e.to_string(),
                        help: help.into(),
                    });
                    Value::Null
                }
                Err(e) => {
                    problems.push(self.explain(s, ptr, e.to_string()));
                    Value::Null
                }
            },
            Value::Array(items) => {
                let each =
                    items.iter().enumerate().map(|(i, v)| self.render_at(v, &format!("{ptr}/{i}"), data, problems));
                Value::Array(each.collect())
            }
            // Keys (call names, argument names, `function`, `arg`) are structure: only values are rendered.
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let keep = !data && matches!(k.as_str(), "call" | "function" | "arg");
                        let data = data || (k == "const" && m.len() == 1);
                        (k.clone(), if keep { v.clone() } else { self.render_at(v, &child(k), data, problems) })
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The first plain placeholder of `s` (`{{obj}}`, `{{obj.inner}}`) whose variable holds a mapping or a
    /// list, with what it holds.
    fn structured(&self, s: &str) -> Option<(String, &'static str)> {
        let mut rest = s;
        while let Some(i) = rest.find("{{") {
            let after = &rest[i + 2..];
            let end = after.find("}}")?;
            let inner = after[..end].trim();
            rest = &after[end + 2..];
            let plain = inner.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && inner.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
            if !plain {
                continue;
            }
            let mut parts = inner.split('.');
            let mut v = self.vars.get(parts.next()?);
            for part in parts {
                v = v.and_then(|v| v.get(part));
            }
            match v {
                Some(Value::Object(_)) => return Some((inner.to_string(), "a mapping")),
                Some(Value::Array(_)) => return Some((inner.to_string(), "a list")),
                _ => {}
            }
        }
        None
    }

    /// Explains why `s` could not be rendered: the unknown placeholder with the closest known name.
    fn explain(&self, s: &str, ptr: &str, error: String) -> RenderProblem {
        let known: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        let unknown = placeholder_names(s).into_iter().find(|n| !self.vars.contains_key(*n));
        let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        match unknown {
            Some(name) => {
                let help = match crate::suggest::did_you_mean(name, known.iter().copied()) {
                    Some(m) => format!("did you mean `{{{{{m}}}}}`? (placeholders here: {list})"),
                    None => format!("placeholders here: {list}; define others under `vars:`"),
                };
                let whole = single_placeholder(s) == Some(name);
                let message = if whole {
                    format!("unknown placeholder `{{{{{name}}}}}`")
                } else {
                    format!("unknown placeholder `{{{{{name}}}}}` in `{s}`")
                };
                RenderProblem { pointer: ptr.to_string(), message, help }
            }
            None => RenderProblem {
                pointer: ptr.to_string(),
                message: error,
                help: format!("placeholders are written `{{{{name}}}}`; placeholders here: {list}"),
            },
        }
    }

    /// Renders every value position of a template; the structure (call names, argument names, function
    /// and argument names, mapping keys) is kept as written.
    pub fn render(&self, t: &Value) -> Result<Value, RenderError> {
        match parse_node(t)? {
            TemplateNode::Call { name, args } => {
                let mut m = Map::new();
                m.insert("call".into(), Value::String(name.to_string()));
                for (k, v) in args {
                    m.insert(k.clone(), self.render(v)?);
                }
                Ok(Value::Object(m))
            }
            TemplateNode::Function { args, body } => {
                let mut m = Map::new();
                m.insert("function".into(), Value::Array(args.into_iter().map(Value::String).collect()));
                m.insert("body".into(), self.render(body)?);
                Ok(Value::Object(m))
            }
            TemplateNode::Arg(_) => Ok(t.clone()),
            TemplateNode::Const(c) => {
                let mut m = Map::new();
                m.insert("const".into(), self.render_data(c)?);
                Ok(Value::Object(m))
            }
            TemplateNode::List(items) => {
                items.iter().map(|i| self.render(i)).collect::<Result<_, _>>().map(Value::Array)
            }
            TemplateNode::Dict(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    m.insert(k.clone(), self.render(v)?);
                }
                Ok(Value::Object(m))
            }
            TemplateNode::Scalar(Value::String(s)) => self.render_str(s),
            TemplateNode::Scalar(v) => Ok(v.clone()),
        }
    }

    fn render_data(&self, v: &Value) -> Result<Value, RenderError> {
        match v {
            Value::String(s) => self.render_str(s),
            Value::Array(items) => {
                items.iter().map(|i| self.render_data(i)).collect::<Result<_, _>>().map(Value::Array)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(k.clone(), self.render_data(v)?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }
}

/// `Some(name)` when `s` is exactly `{{name}}` (spaces allowed inside the braces).
fn single_placeholder(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let ok = !inner.is_empty()
        && inner.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(inner)
}

/// Adds a rendered template to the graph. Malformed nodes are reported as `Err`.
pub fn build(g: &mut Graph, t: &Value) -> Result<Id, NodeError> {
    Ok(match parse_node(t)? {
        TemplateNode::Call { name, args } => {
            let mut built = Vec::with_capacity(args.len());
            for (k, v) in &args {
                built.push((k.as_str(), build(g, v)?));
            }
            g.call(name, built)
        }
        TemplateNode::Function { args, body } => {
            let body = build(g, body)?;
            g.function(args, body)
        }
        TemplateNode::Arg(a) => g.arg(a),
        TemplateNode::Const(c) => g.data(c),
        TemplateNode::List(items) => {
            let ids = items.iter().map(|i| build(g, i)).collect::<Result<Vec<_>, _>>()?;
            g.array(ids)
        }
        TemplateNode::Dict(entries) => {
            let mut built = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                built.push((k.clone(), build(g, v)?));
            }
            g.dict(built)
        }
        TemplateNode::Scalar(v) => g.data(v),
    })
}

/// Whether a template mentions `{{name}}` anywhere in a value position (e.g. whether a layer depends on
/// the year).
pub fn mentions(t: &Value, names: &[&str]) -> bool {
    match t {
        Value::String(s) => s.contains("{{") && names.iter().any(|n| mentions_name(s, n)),
        Value::Array(items) => items.iter().any(|i| mentions(i, names)),
        Value::Object(m) => m.iter().any(|(k, v)| k != "call" && mentions(v, names)),
        _ => false,
    }
}

fn mentions_name(s: &str, name: &str) -> bool {
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let inner = &after[..end];
        if inner.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| w == name) {
            return true;
        }
        rest = &after[end.min(after.len())..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn renderer() -> Renderer {
        let mut vars = Map::new();
        vars.insert("year".into(), json!(2020));
        vars.insert("asset".into(), json!("projects/p/assets/a"));
        vars.insert("name".into(), json!("a \"quoted\" <name> & {braces}"));
        Renderer::new(vars)
    }

    #[test]
    fn a_lone_number_placeholder_becomes_a_number() {
        let r = renderer();
        assert_eq!(r.render_str("{{year}}").unwrap(), json!(2020));
        assert_eq!(r.render_str("{{ year }}").unwrap(), json!(2020));
        assert_eq!(r.render_str("classification_{{year}}").unwrap(), json!("classification_2020"));
        assert_eq!(r.render_str("{{asset}}").unwrap(), json!("projects/p/assets/a"));
    }

    #[test]
    fn text_is_not_escaped_and_missing_variables_are_errors() {
        let r = renderer();
        assert_eq!(r.render_str("x {{name}}").unwrap(), json!("x a \"quoted\" <name> & {braces}"));
        let e = r.render_str("{{yaer}}").unwrap_err().to_string();
        assert!(e.starts_with("cannot fill in `{{yaer}}`: "), "{e}");
        assert!(e.ends_with(" (variables: year, asset, name)"), "{e}");
    }

    #[test]
    fn unknown_placeholders_are_located_with_a_suggestion() {
        let r = renderer();
        let t = json!({"call": "Image.select", "input": {"call": "Image.load", "id": "{{assett}}"},
            "bandSelectors": ["b_{{year}}", "{{#if (eq year 2020)}}x{{else}}{{nme}}{{/if}}"]});
        let (out, problems) = r.render_located(&t);
        assert_eq!(out["input"]["id"], Value::Null);
        assert_eq!(out["bandSelectors"][0], json!("b_2020"));
        let ptrs: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(ptrs, ["/input/id"], "{problems:?}");
        assert_eq!(problems[0].message, "unknown placeholder `{{assett}}`");
        assert!(problems[0].help.starts_with("did you mean `{{asset}}`?"), "{problems:?}");
        assert_eq!(placeholder_names("{{#if (eq year 2020)}}a{{else}}{{nme}}{{/if}}"), ["year", "nme"]);
        assert_eq!(placeholder_names("{{ name }}-{{lookup this \"x\"}}"), ["name"]);
    }

    #[test]
    fn placeholders_of_mappings_and_lists_are_errors_not_object_text() {
        let mut vars = Map::new();
        vars.insert("obj".into(), json!({"a": 1, "inner": {"b": "x"}}));
        vars.insert("list".into(), json!(["p", "q"]));
        let r = Renderer::new(vars);
        assert_eq!(r.render_str("{{obj}}").unwrap_err().to_string(), "`{{obj}}` holds a mapping, not text or a number");
        assert_eq!(
            r.render_str("id/{{ obj.inner }}").unwrap_err().to_string(),
            "`{{obj.inner}}` holds a mapping, not text or a number"
        );
        assert_eq!(
            r.render_str("{{list}}/x").unwrap_err().to_string(),
            "`{{list}}` holds a list, not text or a number"
        );
        // One of its values is fine.
        assert_eq!(r.render_str("{{obj.a}}").unwrap(), json!("1"));
        assert_eq!(r.render_str("id/{{obj.inner.b}}").unwrap(), json!("id/x"));
        let t = json!({"call": "Image.load", "id": "projects/x/{{obj}}"});
        let (out, problems) = r.render_located(&t);
        assert_eq!(out["id"], Value::Null);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].pointer, "/id");
        assert!(problems[0].help.contains("`{{name.key}}`"), "{problems:?}");
    }

    #[test]
    fn structure_is_kept_and_only_values_are_rendered() {
        let r = renderer();
        let t = json!({"call": "Image.select", "input": {"call": "Image.load", "id": "{{asset}}"},
            "bandSelectors": ["classification_{{year}}"]});
        let out = r.render(&t).unwrap();
        assert_eq!(
            out,
            json!({"call": "Image.select", "input": {"call": "Image.load", "id": "projects/p/assets/a"},
            "bandSelectors": ["classification_2020"]})
        );
        assert!(mentions(&t, &["year"]));
        assert!(!mentions(&json!({"call": "Image.load", "id": "x"}), &["year"]));
    }
}
