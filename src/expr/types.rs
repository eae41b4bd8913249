//! Type inference over layer expressions, from the argument and return types of the signature table.
//!
//! (Over 600 lines: one walk over the template — inference, promotion and refinement interlock at each
//! argument, and the tables of refinements below are read together with it; its tests follow.)
//!
//! Every value of a rendered template gets a type: literals by what they are, calls by their algorithm's
//! declared return type (refined where the table is too coarse, see below), function arguments by what the
//! enclosing `Collection.map` feeds them. Each argument's type is checked against the declared type of
//! its slot; a clear mismatch (an `ImageCollection` where an `Image` is needed, text where a number is
//! needed, a number where a list is needed) is an [`ExprProblem`] at the argument, with help. Values
//! whose type cannot be known offline (`Object` results such as `Dictionary.get`, unbound arguments) are
//! accepted anywhere, as the official client accepts them (it casts).
//!
//! **Promotions.** Where the official Python client (earthengine-api, `ee/__init__.py` `_Promote`, and
//! the constructors it calls: `ee/image.py` `Image.__init__`, `ee/imagecollection.py`,
//! `ee/featurecollection.py`, `ee/ee_date.py`) turns a plain value into a call, geepipe does the same, so
//! the request is the one the client would send: in an `Image` slot a number becomes
//! `Image.constant{value}` and a string `Image.load{id}`; in an `ImageCollection` slot a string becomes
//! `ImageCollection.load{id}`; in a `FeatureCollection` slot `Collection.loadTable{tableId}`; in a
//! `Projection` slot `Projection{crs}`; in a `Date` slot `Date{value}`; a collection in a `Geometry` slot
//! becomes `Collection.geometry{collection}`. [`Typed::promoted`] is the template with these applied.
//!
//! **Refinements of the table.** Some declared types are too coarse to check or to follow:
//! - generic results: an algorithm whose return type is the declared type of its first argument
//!   (`Collection.filter`: FeatureCollection → FeatureCollection, `Element.set`: Element → Element) returns
//!   the type of the value it was given (an `ImageCollection` stays one); `Collection.first` returns the
//!   collection's element type; `Collection.map` returns a collection of its function's results;
//! - `Object` arguments whose description narrows them (quoted from `ee-algorithms.json`):
//!   `Image.constant.value` ("Must be a number or an Array or a list of numbers or Arrays"),
//!   `Date.value` ("A number … or string"), `Image.select.bandSelectors` ("names, regexes, or numeric
//!   indices"), `Image.cat.images` ("The list of images"), `Image.remap.from`/`to` ("numbers or
//!   ee.Array"), `Projection.crs` ("a well-known authority code … or a WKT string"), `Image.clip.geometry`
//!   ("The Geometry or Feature").
//!
//! **Grids.** An `Image` type carries where its pixels lie ([`Grid`]): an asset's own projection
//! (`Image.load`, an image of a loaded collection, `reproject`/`setDefaultProjection`), none
//! (composites such as `ImageCollection.mosaic` and `reduce.*`, `Image.constant`, `Image.pixelArea`:
//! Earth Engine gives them WGS84 at 1°, guides/projections), or unknown. Pixel-wise algorithms keep the
//! grid of their first image argument. The planner uses it to decide whether a layer can be
//! reduced on its own grid (see `docs/computation.md`, "Which grid").

use std::fmt;

use serde_json::{Map, Value};

use super::check::{signature, ExprProblem, Signature};
use super::template::{parse_node, TemplateNode};
use crate::diag::Code;
use crate::pipeline::load::pointer_segment;

/// Where an image's pixels lie, as far as the expression tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// The projection of a stored asset, or one set explicitly (`reproject`, `setDefaultProjection`).
    Native,
    /// No grid of its own (composites, constants, `pixelArea`): Earth Engine's default, WGS84 at 1°.
    Default,
    /// Not known from the expression.
    Unknown,
}

/// The type of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// `Object`, or not known offline: fits anywhere.
    Any,
    /// `null`: the argument is left to its default.
    Null,
    /// A number; `integer` when the slot takes whole numbers (`Integer`, `Long`).
    Number {
        integer: bool,
    },
    String,
    Boolean,
    Image(Grid),
    Feature,
    /// `Element`: an image or a feature.
    Element,
    Geometry,
    /// A collection of the given element type (`Image`, `Feature`, or `Any` for either).
    Collection(Box<Ty>),
    List(Box<Ty>),
    Dictionary,
    /// A function, with the type of what it returns.
    Algorithm(Box<Ty>),
    /// Any other Earth Engine type, by name (`Reducer`, `Projection`, `Date`, `Filter`, …).
    Named(String),
    /// One of several (only for expected types).
    OneOf(Vec<Ty>),
}

impl Ty {
    fn image() -> Ty {
        Ty::Image(Grid::Unknown)
    }

    /// The grid, for image types.
    pub fn grid(&self) -> Option<Grid> {
        match self {
            Ty::Image(g) => Some(*g),
            _ => None,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Any => write!(f, "any value"),
            Ty::Null => write!(f, "null"),
            Ty::Number { integer: true } => write!(f, "Integer"),
            Ty::Number { integer: false } => write!(f, "Number"),
            Ty::String => write!(f, "String"),
            Ty::Boolean => write!(f, "Boolean"),
            Ty::Image(_) => write!(f, "Image"),
            Ty::Feature => write!(f, "Feature"),
            Ty::Element => write!(f, "Element"),
            Ty::Geometry => write!(f, "Geometry"),
            Ty::Collection(e) => match **e {
                Ty::Image(_) => write!(f, "ImageCollection"),
                Ty::Feature => write!(f, "FeatureCollection"),
                _ => write!(f, "collection"),
            },
            Ty::List(e) => match **e {
                Ty::Any => write!(f, "List"),
                ref e => write!(f, "List of {e}"),
            },
            Ty::Dictionary => write!(f, "Dictionary"),
            Ty::Algorithm(_) => write!(f, "Algorithm (a `function:`)"),
            Ty::Named(n) => write!(f, "{n}"),
            Ty::OneOf(v) => {
                let names: Vec<String> = v.iter().map(|t| t.to_string()).collect();
                match names.split_last() {
                    Some((last, rest)) if !rest.is_empty() => write!(f, "{} or {last}", rest.join(", ")),
                    _ => write!(f, "{}", names.join("")),
                }
            }
        }
    }
}

/// Parses a declared type of the signature table. `slot`: the type of an argument (what it accepts: a
/// `FeatureCollection` argument accepts any collection) rather than of a result.
pub fn declared(s: &str, slot: bool) -> Ty {
    let (base, inner) = match s.find('<') {
        Some(i) if s.ends_with('>') => (&s[..i], Some(&s[i + 1..s.len() - 1])),
        _ => (s, None),
    };
    match base {
        "Image" => Ty::image(),
        "Float" | "Number" | "Double" => Ty::Number { integer: false },
        "Integer" | "Long" | "Short" | "Byte" => Ty::Number { integer: true },
        "String" => Ty::String,
        "Boolean" => Ty::Boolean,
        "Object" | "" => Ty::Any,
        "Element" => Ty::Element,
        "Feature" => Ty::Feature,
        "Geometry" | "Rectangle" => Ty::Geometry,
        "FeatureCollection" if slot => Ty::Collection(Box::new(Ty::Any)),
        "FeatureCollection" => Ty::Collection(Box::new(Ty::Feature)),
        "ImageCollection" => Ty::Collection(Box::new(Ty::Image(if slot { Grid::Unknown } else { Grid::Native }))),
        "List" => Ty::List(Box::new(inner.map(|i| declared(i, slot)).unwrap_or(Ty::Any))),
        "Dictionary" => Ty::Dictionary,
        "Algorithm" => Ty::Algorithm(Box::new(Ty::Any)),
        _ if base.starts_with('<') => Ty::Any,
        other => Ty::Named(other.to_string()),
    }
}

/// Whether a value of type `found` may be given where `expected` is declared (promotions aside).
pub fn fits(expected: &Ty, found: &Ty) -> bool {
    use Ty::*;
    match (expected, found) {
        (Any, _) | (_, Any) | (_, Null) => true,
        (OneOf(v), f) => v.iter().any(|e| fits(e, f)),
        (Number { .. }, Number { .. }) => true,
        (String, String) | (Boolean, Boolean) | (Dictionary, Dictionary) | (Geometry, Geometry) => true,
        // The client casts an Element to an Image or a Feature (`Image(computed)` reinterprets it).
        (Image(_), Image(_) | Element) => true,
        (Feature, Feature | Element) => true,
        (Element, Image(_) | Feature | Element | Geometry) => true,
        // A Feature where a Geometry is needed: the client casts it (`Geometry(computed)`).
        (Geometry, Feature) => true,
        (Collection(e), Collection(f)) => fits(e, f),
        (List(e), List(f)) => fits(e, f),
        (Algorithm(_), Algorithm(_) | String) => true,
        (Named(a), Named(b)) => a == b,
        _ => false,
    }
}

/// The result of inferring one expression.
#[derive(Debug, Clone)]
pub struct Typed {
    /// The type of the whole expression.
    pub ty: Ty,
    /// Every mismatch, located relative to the expression.
    pub problems: Vec<ExprProblem>,
    /// The expression with the official client's promotions applied (what geepipe sends).
    pub promoted: Value,
}

/// Infers the type of a rendered layer expression (placeholders filled in). `original` is the same
/// expression before rendering, used to explain values that came from placeholders; `expected` is what
/// the whole expression must be (an `Image` for a layer).
pub fn infer(rendered: &Value, original: Option<&Value>, expected: Option<&Ty>) -> Typed {
    let mut cx = Infer { problems: Vec::new(), scope: Vec::new() };
    let (ty, promoted) = cx.node(rendered, original, "", expected, None);
    let (ty, promoted) = match expected {
        Some(e) => cx.check_slot(e, ty, promoted, rendered, original, "", None),
        None => (ty, promoted),
    };
    Typed { ty, problems: cx.problems, promoted }
}

/// What checking a layer's `image` template for each of its years found.
#[derive(Debug, Clone)]
pub struct LayerCheck {
    /// `(diagnostic code, problem)`: `layers::placeholder` (a string that cannot be rendered) or
    /// `layers::type` (a mismatch); the first per place, whichever year it showed in.
    pub problems: Vec<(Code, ExprProblem)>,
    /// The type of the layer's image (its first year), when it could be inferred.
    pub ty: Option<Ty>,
}

/// Renders a layer's `image` template for each year it is computed (once for a static template) and
/// infers its type, expecting an `Image`. `vars` are the layer's variables (pipeline `vars` overlaid with
/// the layer's); `year`, `next_year` and `asset` are added.
pub fn check_layer<'a>(
    template: &Value,
    vars: impl IntoIterator<Item = (&'a String, &'a Value)> + Clone,
    asset: Option<&str>,
    years: &[i32],
) -> LayerCheck {
    let is_static = !super::template::mentions(template, &["year", "next_year"]);
    let years = if is_static { &years[..years.len().min(1)] } else { years };
    let mut out = LayerCheck { problems: Vec::new(), ty: None };
    let mut seen = std::collections::BTreeSet::new();
    for &year in years {
        let renderer = super::template::Renderer::new(super::template::layer_vars(vars.clone(), asset, year));
        let (rendered, render_problems) = renderer.render_located(template);
        for p in render_problems {
            if seen.insert(p.pointer.clone()) {
                let problem = ExprProblem { pointer: p.pointer, message: p.message, help: Some(p.help) };
                out.problems.push((Code::LayersPlaceholder, problem));
            }
        }
        let typed = infer(&rendered, Some(template), Some(&Ty::image()));
        for mut p in typed.problems {
            if seen.insert(p.pointer.clone()) {
                if p.pointer.is_empty() {
                    p.message = format!("the layer's `image`: {}", p.message);
                }
                out.problems.push((Code::LayersType, p));
            }
        }
        out.ty.get_or_insert(typed.ty);
    }
    out
}

/// Checks one plain value (a classifier parameter) against a declared type string of the table; `None`
/// when it fits, else the message and help.
pub fn check_value(declared_type: &str, value: &Value) -> Option<(String, String)> {
    let expected = declared(declared_type, true);
    let typed = infer(value, None, Some(&expected));
    typed.problems.into_iter().next().map(|p| (p.message, p.help.unwrap_or_default()))
}

/// Which argument a value fills, for messages.
#[derive(Clone, Copy)]
struct Slot<'a> {
    algorithm: &'a str,
    argument: &'a str,
    sig: &'a Signature,
}

struct Infer {
    problems: Vec<ExprProblem>,
    /// Function arguments in scope, with their types.
    scope: Vec<(String, Ty)>,
}

/// The narrower type an `Object` argument really takes, from its description in the reference.
fn narrowed(algorithm: &str, argument: &str) -> Option<Ty> {
    let num = || Ty::Number { integer: false };
    let array = || Ty::Named("Array".into());
    Some(match (algorithm, argument) {
        ("Image.constant", "value") => Ty::OneOf(vec![num(), Ty::List(Box::new(Ty::Any)), array()]),
        ("Date", "value") => Ty::OneOf(vec![num(), Ty::String]),
        ("Image.select", "bandSelectors") => Ty::List(Box::new(Ty::OneOf(vec![Ty::String, num()]))),
        ("Image.cat", "images") => Ty::List(Box::new(Ty::image())),
        ("Image.remap", "from" | "to") => Ty::List(Box::new(Ty::OneOf(vec![num(), array()]))),
        ("Projection", "crs") => Ty::String,
        ("Image.clip", "geometry") => Ty::OneOf(vec![Ty::Geometry, Ty::Feature]),
        _ => return None,
    })
}

/// The grid of an algorithm's image result, from its image arguments.
fn image_grid(algorithm: &str, args: &[(&str, Ty)]) -> Grid {
    match algorithm {
        "Image.load" | "Image.reproject" | "Image.setDefaultProjection" | "Image.changeProj" => Grid::Native,
        "Image.constant" | "Image.pixelArea" | "Image.pixelLonLat" | "Image.pixelCoordinates" | "Image.random" => {
            Grid::Default
        }
        "ImageCollection.mosaic" | "ImageCollection.qualityMosaic" | "ImageCollection.reduce" => Grid::Default,
        a if a.starts_with("reduce.") => Grid::Default,
        // Pixel-wise algorithms: the grid of the first image argument (its first band's projection).
        _ => args
            .iter()
            .find_map(|(_, t)| match t {
                Ty::Image(g) => Some(*g),
                Ty::List(e) => e.grid(),
                _ => None,
            })
            .unwrap_or(Grid::Unknown),
    }
}

/// Describes a found value for a message: the literal itself when there is one.
fn describe(found: &Ty, literal: Option<&Value>) -> String {
    match literal {
        Some(Value::String(s)) => format!("the text {}", Value::String(s.clone())),
        Some(Value::Number(n)) => format!("the number {n}"),
        Some(Value::Bool(b)) => format!("`{b}`"),
        Some(Value::Array(_)) => "a list".to_string(),
        Some(Value::Object(_)) => "a mapping without `call:` (a Dictionary)".to_string(),
        _ => found.to_string(),
    }
}

/// The signature of an algorithm as help text: `Image.select(input: Image, bandSelectors: List, …)`.
fn signature_text(sig: &Signature) -> String {
    let args: Vec<String> = sig
        .arguments
        .iter()
        .zip(&sig.argument_types)
        .map(|((n, opt), t)| format!("{n}{}: {}", if *opt { "?" } else { "" }, declared(t, true)))
        .collect();
    format!("`{}({})`", sig.name, args.join(", "))
}

impl Infer {
    /// Infers one node; returns its type and the node with promotions applied.
    fn node(
        &mut self,
        v: &Value,
        original: Option<&Value>,
        ptr: &str,
        expected: Option<&Ty>,
        slot: Option<Slot>,
    ) -> (Ty, Value) {
        let Ok(node) = parse_node(v) else {
            // Malformed nodes are reported by the structural check.
            return (Ty::Any, v.clone());
        };
        match node {
            TemplateNode::Call { name, args } => self.call(name, &args, v, original, ptr),
            TemplateNode::Function { args, body } => {
                // Unbound arguments (a function given where its argument types are unknown) are `Any`.
                let n = self.scope.len();
                let bound = match expected {
                    Some(Ty::Algorithm(arg)) => (**arg).clone(),
                    _ => Ty::Any,
                };
                for (i, a) in args.iter().enumerate() {
                    self.scope.push((a.clone(), if i == 0 { bound.clone() } else { Ty::Any }));
                }
                let orig_body = original.and_then(|o| o.get("body"));
                let (ty, body_out) = self.node(body, orig_body, &format!("{ptr}/body"), None, None);
                self.scope.truncate(n);
                let mut out = v.as_object().cloned().unwrap_or_default();
                out.insert("body".into(), body_out);
                (Ty::Algorithm(Box::new(ty)), Value::Object(out))
            }
            TemplateNode::Arg(a) => {
                let ty = self.scope.iter().rev().find(|(n, _)| n == a).map(|(_, t)| t.clone()).unwrap_or(Ty::Any);
                (ty, v.clone())
            }
            TemplateNode::Const(c) => (literal_type(c), v.clone()),
            TemplateNode::List(items) => {
                let elem = match expected {
                    Some(Ty::List(e)) => Some((**e).clone()),
                    _ => None,
                };
                let mut out = Vec::with_capacity(items.len());
                let mut first: Option<Ty> = None;
                let mut same = true;
                for (i, item) in items.iter().enumerate() {
                    let orig = original.and_then(|o| o.get(i));
                    let p = format!("{ptr}/{i}");
                    let (ty, promoted) = self.node(item, orig, &p, elem.as_ref(), slot);
                    let (ty, promoted) = match &elem {
                        Some(e) => self.check_slot(e, ty, promoted, item, orig, &p, slot),
                        None => (ty, promoted),
                    };
                    match &first {
                        None => first = Some(ty),
                        Some(f) => same &= std::mem::discriminant(f) == std::mem::discriminant(&ty),
                    }
                    out.push(promoted);
                }
                let elem_ty = if same { first.unwrap_or(Ty::Any) } else { Ty::Any };
                (Ty::List(Box::new(elem_ty)), Value::Array(out))
            }
            TemplateNode::Dict(entries) => {
                let mut out = Map::new();
                for (k, item) in entries {
                    let orig = original.and_then(|o| o.get(k));
                    let (_, promoted) = self.node(item, orig, &format!("{ptr}/{}", pointer_segment(k)), None, None);
                    out.insert(k.clone(), promoted);
                }
                (Ty::Dictionary, Value::Object(out))
            }
            TemplateNode::Scalar(s) => (literal_type(s), v.clone()),
        }
    }

    fn call(
        &mut self,
        name: &str,
        args: &[(&String, &Value)],
        v: &Value,
        original: Option<&Value>,
        ptr: &str,
    ) -> (Ty, Value) {
        let Some(sig) = signature(name) else {
            // Unknown algorithms are reported by the structural check.
            return (Ty::Any, v.clone());
        };
        let mut out = Map::new();
        out.insert("call".into(), Value::String(name.to_string()));
        // Non-function arguments first: a function's argument type comes from the collection it maps.
        let mut order: Vec<usize> = (0..args.len()).collect();
        order.sort_by_key(|&i| matches!(parse_node(args[i].1), Ok(TemplateNode::Function { .. })));
        let mut typed: Vec<(&str, Ty)> = Vec::with_capacity(args.len());
        for i in order {
            let (k, child) = args[i];
            let Some(decl) = sig.argument_type(k) else {
                // Unknown argument names are reported by the structural check.
                out.insert(k.clone(), child.clone());
                continue;
            };
            let mut expected = narrowed(name, k).unwrap_or_else(|| declared(decl, true));
            if let Ty::Algorithm(_) = expected {
                let elem = match name {
                    "Collection.map" | "Collection.iterate" => typed
                        .iter()
                        .find(|(n, _)| *n == "collection")
                        .and_then(|(_, t)| match t {
                            Ty::Collection(e) => Some((**e).clone()),
                            _ => None,
                        })
                        .unwrap_or(Ty::Any),
                    _ => Ty::Any,
                };
                expected = Ty::Algorithm(Box::new(elem));
            }
            let p = format!("{ptr}/{}", pointer_segment(k));
            let orig = original.and_then(|o| o.get(k.as_str()));
            let slot = Slot { algorithm: name, argument: k, sig };
            let (ty, promoted) = self.node(child, orig, &p, Some(&expected), Some(slot));
            let (ty, promoted) = self.check_slot(&expected, ty, promoted, child, orig, &p, Some(slot));
            out.insert(k.clone(), promoted);
            typed.push((k.as_str(), ty));
        }
        // Keep the argument order as written.
        let mut ordered = Map::new();
        ordered.insert("call".into(), Value::String(name.to_string()));
        for (k, _) in args {
            if let Some(x) = out.shift_remove(k.as_str()) {
                ordered.insert((*k).clone(), x);
            }
        }
        // Signature order: "the first image argument" is the algorithm's, not the file's.
        typed.sort_by_key(|(n, _)| sig.arguments.iter().position(|(a, _)| a == n));
        (result_type(name, sig, &typed), Value::Object(ordered))
    }

    /// Checks a value against its slot's expected type: applies the client's promotion when there is one,
    /// else reports a mismatch. Returns the (possibly promoted) type and value.
    #[allow(clippy::too_many_arguments)]
    fn check_slot(
        &mut self,
        expected: &Ty,
        found: Ty,
        promoted: Value,
        rendered: &Value,
        original: Option<&Value>,
        ptr: &str,
        slot: Option<Slot>,
    ) -> (Ty, Value) {
        let literal = match parse_node(rendered) {
            Ok(TemplateNode::Scalar(s)) => Some(s),
            Ok(TemplateNode::Const(c)) => Some(c),
            Ok(TemplateNode::List(_)) => Some(rendered),
            Ok(TemplateNode::Dict(_)) => Some(rendered),
            _ => None,
        };
        if fits(expected, &found) {
            if let (Some(Value::Number(n)), true) = (literal, wants_integer(expected)) {
                if n.as_f64().is_some_and(|x| x.fract() != 0.0) {
                    self.mismatch(expected, &found, literal, original, ptr, slot, Some("write a whole number".into()));
                }
            }
            return (found, promoted);
        }
        if let Some((ty, value)) = promote(expected, &found, literal, &promoted) {
            return (ty, value);
        }
        self.mismatch(expected, &found, literal, original, ptr, slot, None);
        // Reported once: what follows sees the expected type.
        (Ty::Any, promoted)
    }

    #[allow(clippy::too_many_arguments)]
    fn mismatch(
        &mut self,
        expected: &Ty,
        found: &Ty,
        literal: Option<&Value>,
        original: Option<&Value>,
        ptr: &str,
        slot: Option<Slot>,
        help: Option<String>,
    ) {
        let what = describe(found, literal);
        let from_placeholder = match (original, literal) {
            (Some(Value::String(o)), Some(Value::String(r))) if o.contains("{{") && o != r => Some(o.clone()),
            _ => None,
        };
        let what = match &from_placeholder {
            Some(o) => format!("{what} (from `{o}`)"),
            None => what,
        };
        let message = match slot {
            Some(s) => format!("`{}` argument `{}`: expected {expected}, found {what}", s.algorithm, s.argument),
            None => format!("expected {expected}, found {what}"),
        };
        let help = help.or_else(|| mismatch_help(expected, found, literal, from_placeholder.as_deref()));
        let help = help.or_else(|| slot.map(|s| format!("the signature is {}", signature_text(s.sig))));
        self.problems.push(ExprProblem { pointer: ptr.to_string(), message, help });
    }
}

fn wants_integer(expected: &Ty) -> bool {
    matches!(expected, Ty::Number { integer: true })
}

/// The type of a plain value.
fn literal_type(v: &Value) -> Ty {
    match v {
        Value::Null => Ty::Null,
        Value::Bool(_) => Ty::Boolean,
        Value::Number(_) => Ty::Number { integer: false },
        Value::String(_) => Ty::String,
        Value::Array(items) => {
            let mut types = items.iter().map(literal_type);
            let first = types.next().unwrap_or(Ty::Any);
            if types.all(|t| t == first) {
                Ty::List(Box::new(first))
            } else {
                Ty::List(Box::new(Ty::Any))
            }
        }
        Value::Object(_) => Ty::Dictionary,
    }
}

/// The official client's promotion of a value into a slot, when it has one: (new type, new value).
fn promote(expected: &Ty, found: &Ty, literal: Option<&Value>, value: &Value) -> Option<(Ty, Value)> {
    let call = |name: &str, arg: &str, v: &Value| {
        let mut m = Map::new();
        m.insert("call".into(), Value::String(name.into()));
        m.insert(arg.into(), v.clone());
        Value::Object(m)
    };
    let lit = literal.filter(|l| matches!(l, Value::String(_) | Value::Number(_)));
    match (expected, lit) {
        (Ty::OneOf(v), _) => v.iter().find_map(|e| promote(e, found, literal, value)),
        (Ty::Image(_), Some(n @ Value::Number(_))) => {
            Some((Ty::Image(Grid::Default), call("Image.constant", "value", n)))
        }
        (Ty::Image(_), Some(s @ Value::String(_))) => Some((Ty::Image(Grid::Native), call("Image.load", "id", s))),
        (Ty::Collection(e), Some(s @ Value::String(_))) => {
            if matches!(**e, Ty::Image(_)) {
                Some((declared("ImageCollection", false), call("ImageCollection.load", "id", s)))
            } else {
                Some((declared("FeatureCollection", false), call("Collection.loadTable", "tableId", s)))
            }
        }
        (Ty::Named(n), Some(s @ Value::String(_))) if n == "Projection" => {
            Some((Ty::Named("Projection".into()), call("Projection", "crs", s)))
        }
        (Ty::Named(n), Some(d)) if n == "Date" => Some((Ty::Named("Date".into()), call("Date", "value", d))),
        (Ty::Geometry, None) if matches!(found, Ty::Collection(_)) => {
            Some((Ty::Geometry, call("Collection.geometry", "collection", value)))
        }
        _ => None,
    }
}

/// Help for a mismatch the user can fix in an obvious way.
fn mismatch_help(expected: &Ty, found: &Ty, literal: Option<&Value>, from_placeholder: Option<&str>) -> Option<String> {
    let expects = |t: &Ty| fits(expected, t);
    if let Some(orig) = from_placeholder {
        if expects(&Ty::Number { integer: false }) {
            return Some(format!(
                "a placeholder gives a number only when it is the whole value (`\"{{{{year}}}}\"`); \
                 `{orig}` gives text"
            ));
        }
    }
    match (found, literal) {
        (Ty::Collection(e), _) if matches!(**e, Ty::Image(_)) && expects(&Ty::image()) => Some(
            "reduce it to one image first, e.g. `{call: ImageCollection.mosaic, collection: …}`, \
             `Collection.first` or a reducer such as `reduce.median`"
                .into(),
        ),
        (Ty::Image(_), _) if expects(&declared("ImageCollection", false)) => {
            Some("make a collection of it, e.g. `{call: ImageCollection.fromImages, images: [ … ]}`".into())
        }
        (_, Some(Value::String(s))) if expects(&Ty::Number { integer: false }) => Some(match s.trim().parse::<f64>() {
            Ok(_) => format!("write the number without quotes: `{}`", s.trim()),
            Err(_) => "write a number".into(),
        }),
        (_, Some(Value::Number(n))) if expects(&Ty::String) => Some(format!("quote it: `\"{n}\"`")),
        (_, Some(Value::String(s))) if expects(&Ty::Boolean) && (s == "true" || s == "false") => {
            Some(format!("write `{s}` without quotes"))
        }
        (_, Some(v @ (Value::Number(_) | Value::String(_) | Value::Bool(_)))) if matches!(expected, Ty::List(_)) => {
            Some(format!("write a list: `[{v}]`"))
        }
        (Ty::Dictionary, Some(Value::Object(_))) => {
            Some("a mapping without `call:` is a Dictionary; did you forget `call: Algorithm.name`?".into())
        }
        _ => None,
    }
}

/// The type an algorithm returns for these argument types.
fn result_type(name: &str, sig: &Signature, args: &[(&str, Ty)]) -> Ty {
    let arg = |n: &str| args.iter().find(|(a, _)| *a == n).map(|(_, t)| t.clone());
    let declared_ret = declared(sig.returns, false);
    match name {
        "Collection.first" => {
            if let Some(Ty::Collection(e)) = arg("collection") {
                return *e;
            }
        }
        "Collection.map" => {
            if let Some(Ty::Algorithm(body)) = arg("baseAlgorithm") {
                return match *body {
                    t @ (Ty::Image(_) | Ty::Feature) => Ty::Collection(Box::new(t)),
                    _ => match arg("collection") {
                        Some(c @ Ty::Collection(_)) => c,
                        _ => Ty::Collection(Box::new(Ty::Any)),
                    },
                };
            }
        }
        _ => {}
    }
    if let Ty::Image(_) = declared_ret {
        return Ty::Image(image_grid(name, args));
    }
    // Generic results: the algorithm returns what it was given as its first argument.
    if let (Some((first, _)), Some(first_decl)) = (sig.arguments.first(), sig.argument_types.first()) {
        if *first_decl == sig.returns && matches!(declared_ret, Ty::Collection(_) | Ty::Element | Ty::Any) {
            if let Some(given) = arg(first) {
                if given != Ty::Any && given != Ty::Null && fits(&declared(first_decl, true), &given) {
                    return given;
                }
            }
        }
    }
    declared_ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image() -> Ty {
        Ty::image()
    }

    fn problems(v: Value) -> Vec<(String, String)> {
        infer(&v, None, Some(&image()))
            .problems
            .into_iter()
            .map(|p| (p.pointer, format!("{} | {}", p.message, p.help.unwrap_or_default())))
            .collect()
    }

    #[test]
    fn a_string_where_a_number_is_needed() {
        let p = problems(json!({"call": "Image.constant", "value": "0.0001"}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "/value");
        assert!(p[0].1.contains("expected Number, List or Array, found the text \"0.0001\""), "{p:?}");
        assert!(p[0].1.contains("write the number without quotes: `0.0001`"), "{p:?}");
    }

    #[test]
    fn a_collection_where_an_image_is_needed() {
        let p = problems(json!({"call": "Image.select", "input": {"call": "ImageCollection.load", "id": "x"},
            "bandSelectors": ["b"]}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "/input");
        assert!(p[0].1.contains("expected Image, found ImageCollection"), "{p:?}");
        assert!(p[0].1.contains("ImageCollection.mosaic"), "{p:?}");
        // A whole layer that is a collection.
        let t = infer(&json!({"call": "ImageCollection.load", "id": "x"}), None, Some(&image()));
        assert_eq!(t.problems[0].pointer, "");
    }

    #[test]
    fn a_number_where_a_list_is_needed() {
        let p = problems(json!({"call": "Image.select", "input": {"call": "Image.load", "id": "x"},
            "bandSelectors": 5}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].1.contains("expected List of String or Number, found the number 5"), "{p:?}");
        assert!(p[0].1.contains("write a list: `[5]`"), "{p:?}");
    }

    #[test]
    fn list_elements_are_checked() {
        let p = problems(json!({"call": "Image.select", "input": {"call": "Image.load", "id": "x"},
            "bandSelectors": [0], "newNames": ["a", 3]}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "/newNames/1");
        assert!(p[0].1.contains("quote it"), "{p:?}");
    }

    #[test]
    fn filtered_collections_keep_their_element_type_and_mosaics_have_no_grid() {
        let coll = json!({"call": "Collection.filter", "collection": {"call": "ImageCollection.load", "id": "x"},
            "filter": {"call": "Filter.eq", "leftField": "a", "rightValue": 1}});
        let mosaic = json!({"call": "ImageCollection.mosaic", "collection": coll});
        let t = infer(&mosaic, None, Some(&image()));
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.ty, Ty::Image(Grid::Default));
        let first = json!({"call": "Image.select", "input": {"call": "Collection.first", "collection": coll},
            "bandSelectors": ["b"]});
        let t = infer(&first, None, Some(&image()));
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.ty, Ty::Image(Grid::Native));
        // A feature collection is not an image collection.
        let table =
            json!({"call": "ImageCollection.mosaic", "collection": {"call": "Collection.loadTable", "tableId": "t"}});
        let p = infer(&table, None, Some(&image())).problems;
        assert!(p[0].message.contains("expected ImageCollection, found FeatureCollection"), "{p:?}");
    }

    #[test]
    fn mapped_functions_see_the_element_type() {
        let ok = json!({"call": "reduce.mean", "collection": {"call": "Collection.map",
            "collection": {"call": "ImageCollection.load", "id": "x"},
            "baseAlgorithm": {"function": ["img"], "body": {"call": "Image.select", "input": {"arg": "img"}, "bandSelectors": ["B4"]}}}});
        let t = infer(&ok, None, Some(&image()));
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.ty, Ty::Image(Grid::Default));
        let bad = json!({"call": "Collection.map", "collection": {"call": "ImageCollection.load", "id": "x"},
            "baseAlgorithm": {"function": ["img"], "body": {"call": "Feature", "geometry": {"arg": "img"}}}});
        let p = infer(&bad, None, None).problems;
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].pointer, "/baseAlgorithm/body/geometry");
    }

    #[test]
    fn numbers_and_strings_are_promoted_as_the_client_does() {
        let t = infer(
            &json!({"call": "Image.add", "image1": {"call": "Image.load", "id": "x"}, "image2": 5}),
            None,
            Some(&image()),
        );
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.promoted["image2"], json!({"call": "Image.constant", "value": 5}));
        assert_eq!(t.ty, Ty::Image(Grid::Native));
        let t = infer(
            &json!({"call": "Image.reduceRegions", "image": "a/b", "collection": "t", "reducer": {"call": "Reducer.sum"},
                "crs": "EPSG:4326"}),
            None,
            None,
        );
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.promoted["image"], json!({"call": "Image.load", "id": "a/b"}));
        assert_eq!(t.promoted["collection"], json!({"call": "Collection.loadTable", "tableId": "t"}));
        assert_eq!(t.promoted["crs"], json!({"call": "Projection", "crs": "EPSG:4326"}));
        let t = infer(&json!({"call": "Date.advance", "date": "2020-01-01", "delta": 1, "unit": "year"}), None, None);
        assert_eq!(t.promoted["date"], json!({"call": "Date", "value": "2020-01-01"}));
        assert_eq!(t.ty, Ty::Named("Date".into()));
    }

    #[test]
    fn placeholders_that_give_text_in_a_number_slot_are_explained() {
        let original = json!({"call": "Image.constant", "value": "{{year}}x"});
        let rendered = json!({"call": "Image.constant", "value": "2020x"});
        let p = infer(&rendered, Some(&original), Some(&image())).problems;
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("found the text \"2020x\" (from `{{year}}x`)"), "{p:?}");
        assert!(p[0].help.as_deref().unwrap().contains("whole value"), "{p:?}");
    }

    #[test]
    fn classifier_parameters_are_checked() {
        assert!(check_value("Integer", &json!(10)).is_none());
        let (m, h) = check_value("Integer", &json!("ten")).unwrap();
        assert!(m.contains("expected Integer, found the text \"ten\""), "{m}");
        assert_eq!(h, "write a number");
        let (m, h) = check_value("Integer", &json!(10.5)).unwrap();
        assert!(m.contains("found the number 10.5"), "{m}");
        assert_eq!(h, "write a whole number");
        assert!(check_value("Float", &json!(0.5)).is_none());
        assert!(check_value("Boolean", &json!("true")).is_some());
    }

    #[test]
    fn every_return_type_of_the_table_parses() {
        for name in crate::expr::check::algorithm_names() {
            let sig = signature(name).unwrap();
            for t in sig.argument_types.iter().chain([&sig.returns]) {
                if let Ty::Named(n) = declared(t, true) {
                    assert!(n.chars().all(|c| c.is_ascii_alphanumeric()), "{name}: {t}");
                }
            }
        }
    }
}
