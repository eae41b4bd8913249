//! The fake's evaluator of Earth Engine expression graphs: what a request's `expression` computes, on the
//! synthetic world of [`crate::world`], with Earth Engine's documented semantics.
//!
//! An expression is `{result, values}`: `values` maps keys to ValueNodes (`constantValue`,
//! `integerValue`, `arrayValue`, `dictionaryValue`, `functionDefinitionValue`, `functionInvocationValue`,
//! `argumentReference`, `valueReference`; see `ee-rest-notes.md` §Expression). Evaluation is eager and
//! memoised: a node that does not depend on a function argument is evaluated once however often it is
//! referenced. Functions (`functionDefinitionValue{argumentNames, body}`) capture the arguments in scope
//! where they are defined, so the official clients' `_MAPPING_VAR_<depth>_<n>` names resolve as on the
//! server.
//!
//! **The algorithm table.** Every algorithm the fake evaluates is one row of a table
//! (`(name, fn(&mut Call) -> Result<V, EvalError>)`), split by subject: [`image`] (loading, selections,
//! constants, `pixelArea`, projections), [`pixelwise`] (image algebra, masks), [`reducer`] (reducers with Earth Engine's output naming,
//! `Image.reduceRegion(s)`), [`collection`] (feature and image collections, filters, `Collection.map`,
//! per-pixel collection reductions), [`basic`] (Number, String), [`lists`] (List, Dictionary), [`element`]
//! (Element, Feature, Date, DateRange, Projection, sampling and classifiers) and [`geometry`]. Each row cites its semantics (the description in `ee-algorithms.json`
//! unless said otherwise). To add an algorithm, add a row to the module of its subject; [`implemented`]
//! lists them all. An algorithm not in the table is an error naming it (the fake never guesses), and so
//! is a value of the wrong type, a band that does not exist, a reducer whose inputs do not match, or an
//! argument an implementation does not read (it would otherwise be ignored silently).

pub mod basic;
pub mod collection;
pub mod element;
pub mod geometry;
pub mod image;
pub mod lists;
pub mod pixelwise;
pub mod reducer;
pub mod value;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{Map, Value as Json};

pub use value::{Dict, Feature, V};

/// Why an expression could not be evaluated (a 400-class answer: the request is at fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub message: String,
    /// The error already names the algorithm it happened in.
    located: bool,
    /// The computation ran out of time.
    pub timed_out: bool,
}

impl EvalError {
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError { message: message.into(), located: false, timed_out: false }
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A function value: argument names, the key of its body, and the arguments in scope where it was defined.
#[derive(Debug)]
pub struct Function {
    pub params: Vec<String>,
    pub body: String,
    pub env: Env,
}

/// The arguments in scope (innermost first).
#[derive(Clone, Debug, Default)]
pub struct Env(Option<Arc<EnvNode>>);

#[derive(Debug)]
pub struct EnvNode {
    name: String,
    value: V,
    parent: Env,
}

impl Env {
    fn bind(&self, name: &str, value: V) -> Env {
        Env(Some(Arc::new(EnvNode { name: name.to_string(), value, parent: self.clone() })))
    }

    fn lookup(&self, name: &str) -> Option<&V> {
        let mut cur = self.0.as_ref();
        while let Some(n) = cur {
            if n.name == name {
                return Some(&n.value);
            }
            cur = n.parent.0.as_ref();
        }
        None
    }
}

/// One algorithm of the table.
pub type Algo = fn(&mut Call<'_, '_>) -> Result<V, EvalError>;

/// All algorithms the fake evaluates, by name.
fn table() -> &'static HashMap<&'static str, Algo> {
    static TABLE: OnceLock<HashMap<&'static str, Algo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        for part in [
            image::ALGORITHMS,
            pixelwise::ALGORITHMS,
            lists::ALGORITHMS,
            reducer::ALGORITHMS,
            collection::ALGORITHMS,
            basic::ALGORITHMS,
            element::ALGORITHMS,
            geometry::ALGORITHMS,
        ] {
            for (name, f) in part {
                t.insert(*name, *f);
            }
        }
        t
    })
}

/// The names of every algorithm the fake evaluates, sorted.
pub fn implemented() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = table().keys().copied().collect();
    v.sort_unstable();
    v
}

/// Evaluates an expression (`{result, values}`) to its value, giving up with "Computation timed out."
/// after `deadline`.
pub fn evaluate(expression: &Json, deadline: Option<Instant>) -> Result<V, EvalError> {
    let empty = Map::new();
    let values = expression.get("values").and_then(Json::as_object).unwrap_or(&empty);
    let result = expression
        .get("result")
        .and_then(Json::as_str)
        .ok_or_else(|| EvalError::new("The expression has no `result`."))?;
    let mut ev = Evaluator { values, memo: HashMap::new(), pure: HashMap::new(), deadline, depth: 0 };
    ev.reference(result, &Env::default())
}

/// The state of one evaluation.
pub struct Evaluator<'a> {
    values: &'a Map<String, Json>,
    memo: HashMap<String, V>,
    pure: HashMap<String, bool>,
    deadline: Option<Instant>,
    depth: usize,
}

impl<'a> Evaluator<'a> {
    fn reference(&mut self, key: &str, env: &Env) -> Result<V, EvalError> {
        if let Some(v) = self.memo.get(key) {
            return Ok(v.clone());
        }
        let node = self.values.get(key).ok_or_else(|| {
            EvalError::new(format!("The expression refers to value `{key}`, which it does not define."))
        })?;
        let v = self.node(node, env)?;
        if self.is_pure(key) {
            self.memo.insert(key.to_string(), v.clone());
        }
        Ok(v)
    }

    /// Whether the value under `key` does not depend on any function argument.
    fn is_pure(&mut self, key: &str) -> bool {
        if let Some(p) = self.pure.get(key) {
            return *p;
        }
        self.pure.insert(key.to_string(), true); // cycles (invalid anyway) count as pure
        let values = self.values;
        let p = values.get(key).is_none_or(|n| self.node_is_pure(n));
        self.pure.insert(key.to_string(), p);
        p
    }

    fn node_is_pure(&mut self, node: &Json) -> bool {
        let Some(obj) = node.as_object() else { return true };
        if obj.contains_key("argumentReference") {
            return false;
        }
        if let Some(r) = obj.get("valueReference").and_then(Json::as_str) {
            return self.is_pure(r);
        }
        if let Some(f) = obj.get("functionDefinitionValue") {
            return f.get("body").and_then(Json::as_str).is_none_or(|b| self.is_pure(b));
        }
        if let Some(a) = obj.get("arrayValue").and_then(|a| a.get("values")).and_then(Json::as_array) {
            return a.iter().all(|v| self.node_is_pure(v));
        }
        if let Some(d) = obj.get("dictionaryValue").and_then(|d| d.get("values")).and_then(Json::as_object) {
            return d.values().all(|v| self.node_is_pure(v));
        }
        if let Some(inv) = obj.get("functionInvocationValue") {
            let args_pure =
                inv.get("arguments").and_then(Json::as_object).is_none_or(|a| a.values().all(|v| self.node_is_pure(v)));
            let fref_pure = inv.get("functionReference").and_then(Json::as_str).is_none_or(|r| self.is_pure(r));
            return args_pure && fref_pure;
        }
        true
    }

    fn node(&mut self, node: &Json, env: &Env) -> Result<V, EvalError> {
        let obj = node.as_object().ok_or_else(|| EvalError::new(format!("A ValueNode must be an object: {node}")))?;
        if let Some(c) = obj.get("constantValue") {
            return Ok(V::from_json(c));
        }
        if let Some(i) = obj.get("integerValue") {
            let text = i.as_str().unwrap_or_default();
            return text.parse().map(V::Int).map_err(|_| EvalError::new(format!("Bad integerValue `{i}`.")));
        }
        if let Some(r) = obj.get("valueReference").and_then(Json::as_str) {
            return self.reference(r, env);
        }
        if let Some(name) = obj.get("argumentReference").and_then(Json::as_str) {
            return env.lookup(name).cloned().ok_or_else(|| {
                EvalError::new(format!("Argument `{name}` is referenced outside a function that defines it."))
            });
        }
        if let Some(a) = obj.get("arrayValue") {
            let items = a.get("values").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
            return items.iter().map(|v| self.node(v, env)).collect::<Result<_, _>>().map(V::List);
        }
        if let Some(d) = obj.get("dictionaryValue") {
            let mut out = BTreeMap::new();
            for (k, v) in d.get("values").and_then(Json::as_object).into_iter().flatten() {
                out.insert(k.clone(), self.node(v, env)?);
            }
            return Ok(V::Dict(out));
        }
        if let Some(f) = obj.get("functionDefinitionValue") {
            let params = f
                .get("argumentNames")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let body = f
                .get("body")
                .and_then(Json::as_str)
                .ok_or_else(|| EvalError::new("A functionDefinitionValue needs a `body`."))?
                .to_string();
            return Ok(V::Function(Arc::new(Function { params, body, env: env.clone() })));
        }
        if let Some(inv) = obj.get("functionInvocationValue") {
            return self.invoke(inv, env);
        }
        if obj.contains_key("bytesValue") {
            return Err(EvalError::new("fake-ee does not evaluate bytesValue nodes."));
        }
        Err(EvalError::new(format!("Unknown ValueNode: {node}")))
    }

    fn invoke(&mut self, inv: &Json, env: &Env) -> Result<V, EvalError> {
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(EvalError { timed_out: true, located: true, ..EvalError::new("Computation timed out.") });
        }
        let mut args = BTreeMap::new();
        for (k, v) in inv.get("arguments").and_then(Json::as_object).into_iter().flatten() {
            args.insert(k.clone(), self.node(v, env)?);
        }
        if let Some(r) = inv.get("functionReference").and_then(Json::as_str) {
            let f = self.reference(r, env)?.into_function()?;
            let mut bound = Vec::new();
            for p in &f.params {
                bound.push(args.remove(p).unwrap_or(V::Null));
            }
            return self.apply(&f, bound);
        }
        let name = inv
            .get("functionName")
            .and_then(Json::as_str)
            .ok_or_else(|| EvalError::new("A functionInvocationValue needs a functionName or functionReference."))?;
        let Some((&name, &algo)) = table().get_key_value(name) else {
            return Err(EvalError {
                located: true,
                ..EvalError::new(format!(
                    "fake-ee does not implement the algorithm `{name}`; it evaluates only the algorithms of its \
                     table (fake_ee::eval::implemented(), listed in crates/fake-ee/README.md), so it refuses \
                     rather than guess what `{name}` computes."
                ))
            });
        };
        self.depth += 1;
        if self.depth > 200 {
            return Err(EvalError::new("The expression nests calls too deeply."));
        }
        let mut call = Call { name, args, ev: self };
        let mut result = algo(&mut call);
        // An argument the implementation did not read would be ignored silently: refuse instead.
        let unread: Vec<String> =
            call.args.into_iter().filter(|(_, v)| !matches!(v, V::Null)).map(|(k, _)| k).collect();
        if result.is_ok() && !unread.is_empty() {
            result = Err(EvalError::new(format!("fake-ee does not model the argument(s) {}.", unread.join(", "))));
        }
        self.depth -= 1;
        result.map_err(|e| {
            if e.located {
                e
            } else {
                EvalError { message: format!("{name}: {}", e.message), located: true, timed_out: e.timed_out }
            }
        })
    }

    /// Calls a function value with positional arguments.
    pub fn apply(&mut self, f: &Function, args: Vec<V>) -> Result<V, EvalError> {
        if args.len() != f.params.len() {
            return Err(EvalError::new(format!(
                "A function of {} argument(s) was called with {}.",
                f.params.len(),
                args.len()
            )));
        }
        let mut env = f.env.clone();
        for (p, v) in f.params.iter().zip(args) {
            env = env.bind(p, v);
        }
        let body = f.body.clone();
        self.reference(&body, &env)
    }
}

/// The arguments of one algorithm call, and the evaluator (to call function arguments).
pub struct Call<'e, 'a> {
    pub name: &'static str,
    pub args: BTreeMap<String, V>,
    pub ev: &'e mut Evaluator<'a>,
}

impl Call<'_, '_> {
    /// An optional argument (`null` counts as absent, as in Earth Engine).
    pub fn opt(&mut self, name: &str) -> Option<V> {
        self.args.remove(name).filter(|v| !matches!(v, V::Null))
    }

    /// A required argument.
    pub fn req(&mut self, name: &str) -> Result<V, EvalError> {
        self.opt(name).ok_or_else(|| EvalError::new(format!("Parameter '{name}' is required.")))
    }

    pub fn image(&mut self, name: &str) -> Result<Arc<image::Image>, EvalError> {
        image::promote(self.req(name)?)
    }

    pub fn f64(&mut self, name: &str) -> Result<f64, EvalError> {
        self.req(name)?.into_f64()
    }

    pub fn opt_f64(&mut self, name: &str) -> Result<Option<f64>, EvalError> {
        self.opt(name).map(V::into_f64).transpose()
    }

    pub fn string(&mut self, name: &str) -> Result<String, EvalError> {
        self.req(name)?.into_string()
    }

    pub fn opt_string(&mut self, name: &str) -> Result<Option<String>, EvalError> {
        self.opt(name).map(V::into_string).transpose()
    }

    pub fn strings(&mut self, name: &str) -> Result<Vec<String>, EvalError> {
        self.req(name)?.into_strings()
    }

    pub fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, EvalError> {
        self.opt(name).map(V::into_bool).transpose()
    }

    pub fn function(&mut self, name: &str) -> Result<Arc<Function>, EvalError> {
        self.req(name)?.into_function()
    }

    /// Calls a function argument with positional values.
    pub fn apply(&mut self, f: &Function, args: Vec<V>) -> Result<V, EvalError> {
        self.ev.apply(f, args)
    }
}

#[cfg(test)]
mod tests;
