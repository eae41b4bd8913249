//! The expression graph and its encoding as a REST `Expression` (`{values, result}`), exactly as the
//! official Python client encodes it.
//!
//! Building: every value is interned (hash-consed) in a [`Graph`], so structurally identical sub-values
//! are one node, however many times they are built. Encoding ([`Graph::encode`]) follows
//! `ee.serializer._ExpressionOptimizer` of `earthengine-api` 1.7.50 rule for rule:
//!
//! - a value used once is inlined where it is used (unless that is deeper than 50 levels);
//! - numeric, boolean and null constants and argument references are inlined everywhere;
//! - anything else used more than once (strings, lists, calls) is stored once under a key and
//!   referenced with `valueReference`; keys are `"0"`, `"1"`, … in the order the root is walked, the
//!   root is `"0"`, and a key is inserted after the values it refers to (the Python client's order);
//! - arrays and dictionaries whose items are all constants collapse into one `constantValue`;
//! - function bodies are always stored under a key.
//!
//! Call arguments and dictionary keys are sorted by name, as the official clients send them. The same
//! graph always encodes to the same bytes.
//!
//! A graph may leave holes ([`Node::Hole`]) for parts that differ from one request to the next; its
//! encoding is then a [`Template`], filled with each request's parts in a fraction of a full encoding
//! ([`template`]).

mod canonical;
mod template;
mod write;

pub use canonical::canonicalize;
pub use template::Template;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use serde_json::{Map, Number, Value};

/// Index of a node in its [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(u32);

/// A scalar constant.
#[derive(Debug, Clone)]
pub enum Scalar {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

/// A number's identity as a constant: 30 and 30.0 are different constants (as in the Python client), and
/// floats are compared by their bits (`-0.0` is not `0.0`), so equality and hashing agree.
fn number_key(n: &Number) -> (u8, u64) {
    if let Some(i) = n.as_i64() {
        (0, i as u64)
    } else if let Some(u) = n.as_u64() {
        (1, u)
    } else {
        (2, n.as_f64().unwrap_or(0.0).to_bits())
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Scalar) -> bool {
        match (self, other) {
            (Scalar::Null, Scalar::Null) => true,
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            (Scalar::Number(a), Scalar::Number(b)) => number_key(a) == number_key(b),
            (Scalar::String(a), Scalar::String(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Scalar {}

impl Hash for Scalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Scalar::Null => {}
            Scalar::Bool(b) => b.hash(state),
            Scalar::Number(n) => number_key(n).hash(state),
            Scalar::String(s) => s.hash(state),
        }
    }
}

impl Scalar {
    fn to_value(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Number(n) => Value::Number(n.clone()),
            Scalar::String(s) => Value::String(s.clone()),
        }
    }

    /// Null, booleans and numbers are inlined wherever they are used.
    fn liftable(&self) -> bool {
        !matches!(self, Scalar::String(_))
    }
}

/// One value of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    Const(Scalar),
    Array(Vec<Id>),
    /// Entries sorted by key.
    Dict(Vec<(String, Id)>),
    /// A call of a named algorithm; arguments sorted by name.
    Call(String, Vec<(String, Id)>),
    /// A call of a function value; arguments sorted by name.
    CallRef(Id, Vec<(String, Id)>),
    /// A function definition: argument names and body.
    Function(Vec<String>, Id),
    /// A reference to an argument of an enclosing function.
    Arg(String),
    /// A place left open in a [`Template`], filled with a value of another graph when a request is
    /// written. Encoded on its own, it is `null`.
    Hole(u32),
}

/// A hash-consed expression graph.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    nodes: Vec<Node>,
    /// Node hash → the last node with that hash (the node itself is stored once, in `nodes`).
    index: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    /// Per node: the previous node with the same hash (`u32::MAX`: none), so a hash's nodes are a chain
    /// without an allocation per hash.
    same_hash: Vec<u32>,
}

/// FxHash-style hasher for nodes: fast, and good enough for hash-consing (collisions are compared).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The map keys are already hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// The hash a node is interned under.
fn hash_of(node: &Node) -> u64 {
    let mut h = FxHasher::default();
    node.hash(&mut h);
    h.finish()
}

/// Depth below which single-use values are inlined (the Python client's `_DEPTH_LIMIT`).
const DEPTH_LIMIT: usize = 50;

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    /// A graph with room for `nodes` nodes (a request's graph is built at once: no growing).
    pub fn with_capacity(nodes: usize) -> Graph {
        Graph {
            nodes: Vec::with_capacity(nodes),
            index: HashMap::with_capacity_and_hasher(nodes, Default::default()),
            same_hash: Vec::with_capacity(nodes),
        }
    }

    /// Number of distinct nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// Interns `node`, returning the id of the existing identical node if there is one.
    pub fn add(&mut self, node: Node) -> Id {
        let key = hash_of(&node);
        let head = self.index.get(&key).copied().unwrap_or(u32::MAX);
        if let Some(id) = self.find_from(head, &node) {
            return id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        self.same_hash.push(head);
        self.index.insert(key, id);
        Id(id)
    }

    /// The id of the node equal to `node`, if the graph has one.
    pub(super) fn find(&self, node: &Node) -> Option<Id> {
        let head = self.index.get(&hash_of(node)).copied()?;
        self.find_from(head, node)
    }

    /// The node equal to `node` in the chain of same-hash nodes starting at `at`.
    fn find_from(&self, mut at: u32, node: &Node) -> Option<Id> {
        while at != u32::MAX {
            if &self.nodes[at as usize] == node {
                return Some(Id(at));
            }
            at = self.same_hash[at as usize];
        }
        None
    }

    /// A hole numbered `n` (see [`Template`]).
    pub fn hole(&mut self, n: u32) -> Id {
        self.add(Node::Hole(n))
    }

    pub fn null(&mut self) -> Id {
        self.add(Node::Const(Scalar::Null))
    }

    pub fn bool(&mut self, b: bool) -> Id {
        self.add(Node::Const(Scalar::Bool(b)))
    }

    pub fn int(&mut self, n: i64) -> Id {
        self.add(Node::Const(Scalar::Number(n.into())))
    }

    /// A floating-point constant (non-finite numbers become null, as JSON cannot hold them).
    pub fn float(&mut self, x: f64) -> Id {
        match Number::from_f64(x) {
            Some(n) => self.add(Node::Const(Scalar::Number(n))),
            None => self.null(),
        }
    }

    pub fn number(&mut self, n: Number) -> Id {
        self.add(Node::Const(Scalar::Number(n)))
    }

    pub fn str(&mut self, s: &str) -> Id {
        self.add(Node::Const(Scalar::String(s.to_string())))
    }

    pub fn array(&mut self, items: Vec<Id>) -> Id {
        self.add(Node::Array(items))
    }

    pub fn strings<S: AsRef<str>>(&mut self, items: &[S]) -> Id {
        let ids = items.iter().map(|s| self.str(s.as_ref())).collect();
        self.array(ids)
    }

    pub fn dict(&mut self, mut entries: Vec<(String, Id)>) -> Id {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.add(Node::Dict(entries))
    }

    /// A call of algorithm `name` with named arguments (sorted here).
    pub fn call(&mut self, name: &str, args: Vec<(&str, Id)>) -> Id {
        let mut args: Vec<(String, Id)> = args.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        args.sort_by(|a, b| a.0.cmp(&b.0));
        self.add(Node::Call(name.to_string(), args))
    }

    pub fn call_ref(&mut self, function: Id, args: Vec<(&str, Id)>) -> Id {
        let mut args: Vec<(String, Id)> = args.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        args.sort_by(|a, b| a.0.cmp(&b.0));
        self.add(Node::CallRef(function, args))
    }

    pub fn function(&mut self, args: Vec<String>, body: Id) -> Id {
        self.add(Node::Function(args, body))
    }

    pub fn arg(&mut self, name: &str) -> Id {
        self.add(Node::Arg(name.to_string()))
    }

    /// Any JSON value as plain data: arrays and objects become arrays and dictionaries of constants.
    pub fn data(&mut self, v: &Value) -> Id {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => self.number(n.clone()),
            Value::String(s) => self.str(s),
            Value::Array(items) => {
                let ids = items.iter().map(|i| self.data(i)).collect();
                self.array(ids)
            }
            Value::Object(map) => {
                let entries = map.iter().map(|(k, v)| (k.clone(), self.data(v))).collect();
                self.dict(entries)
            }
        }
    }

    /// Encodes the value `root` as a REST `Expression`.
    pub fn encode(&self, root: Id) -> Value {
        let single = self.single_uses(root);
        let mut enc = Encoder { graph: self, single, map: HashMap::new(), values: Map::new() };
        let result = enc.referred(root);
        let mut out = Map::new();
        out.insert("result".into(), Value::String(result));
        out.insert("values".into(), Value::Object(enc.values));
        Value::Object(out)
    }

    /// Ids referenced exactly once (counting each distinct parent once, plus the root itself).
    fn single_uses(&self, root: Id) -> Vec<bool> {
        self.single_uses_of(&[root])
    }

    /// Ids referenced exactly once from `roots` (each root counting as one use).
    fn single_uses_of(&self, roots: &[Id]) -> Vec<bool> {
        let mut counts = vec![0u32; self.nodes.len()];
        let mut visited = vec![false; self.nodes.len()];
        let mut stack = Vec::with_capacity(64);
        for &root in roots {
            counts[root.0 as usize] += 1;
            if !visited[root.0 as usize] {
                visited[root.0 as usize] = true;
                stack.push(root);
            }
        }
        while let Some(id) = stack.pop() {
            let mut visit = |child: Id, stack: &mut Vec<Id>| {
                counts[child.0 as usize] += 1;
                if !visited[child.0 as usize] {
                    visited[child.0 as usize] = true;
                    stack.push(child);
                }
            };
            match &self.nodes[id.0 as usize] {
                Node::Const(_) | Node::Arg(_) | Node::Hole(_) => {}
                Node::Array(items) => items.iter().for_each(|c| visit(*c, &mut stack)),
                Node::Dict(entries) | Node::Call(_, entries) => entries.iter().for_each(|(_, c)| visit(*c, &mut stack)),
                Node::CallRef(f, entries) => {
                    visit(*f, &mut stack);
                    entries.iter().for_each(|(_, c)| visit(*c, &mut stack));
                }
                Node::Function(_, body) => visit(*body, &mut stack),
            }
        }
        counts.into_iter().map(|c| c == 1).collect()
    }
}

struct Encoder<'g> {
    graph: &'g Graph,
    single: Vec<bool>,
    map: HashMap<Id, String>,
    values: Map<String, Value>,
}

fn one(key: &str, v: Value) -> Value {
    let mut m = Map::with_capacity(1);
    m.insert(key.to_string(), v);
    Value::Object(m)
}

impl Encoder<'_> {
    /// Stores `id` under a key (once) and returns the key.
    fn referred(&mut self, id: Id) -> String {
        if let Some(k) = self.map.get(&id) {
            return k.clone();
        }
        let key = self.map.len().to_string();
        self.map.insert(id, key.clone());
        let v = self.value(id, 0);
        self.values.insert(key.clone(), v);
        key
    }

    /// The value for a use of `id` at `depth`: inlined, or a reference.
    fn use_of(&mut self, id: Id, depth: usize) -> Value {
        if self.single[id.0 as usize] && depth < DEPTH_LIMIT {
            return self.value(id, depth);
        }
        match self.graph.node(id) {
            Node::Const(s) if s.liftable() => one("constantValue", s.to_value()),
            Node::Arg(a) => one("argumentReference", Value::String(a.clone())),
            _ => {
                let key = self.referred(id);
                one("valueReference", Value::String(key))
            }
        }
    }

    fn value(&mut self, id: Id, depth: usize) -> Value {
        match self.graph.node(id) {
            Node::Const(s) => one("constantValue", s.to_value()),
            Node::Arg(a) => one("argumentReference", Value::String(a.clone())),
            Node::Hole(_) => Value::Null,
            Node::Array(items) => {
                let vals: Vec<Value> = items.iter().map(|c| self.use_of(*c, depth + 3)).collect();
                if vals.iter().all(|v| v.get("constantValue").is_some()) {
                    let consts = vals.into_iter().map(take_constant).collect();
                    one("constantValue", Value::Array(consts))
                } else {
                    one("arrayValue", one("values", Value::Array(vals)))
                }
            }
            Node::Dict(entries) => {
                let vals: Vec<(String, Value)> =
                    entries.iter().map(|(k, c)| (k.clone(), self.use_of(*c, depth + 3))).collect();
                if vals.iter().all(|(_, v)| v.get("constantValue").is_some()) {
                    let consts = vals.into_iter().map(|(k, v)| (k, take_constant(v))).collect();
                    one("constantValue", Value::Object(consts))
                } else {
                    one("dictionaryValue", one("values", Value::Object(vals.into_iter().collect())))
                }
            }
            Node::Function(args, body) => {
                let body = self.referred(*body);
                let mut m = Map::new();
                m.insert("argumentNames".into(), Value::Array(args.iter().cloned().map(Value::String).collect()));
                m.insert("body".into(), Value::String(body));
                one("functionDefinitionValue", Value::Object(m))
            }
            Node::Call(name, args) => {
                let mut m = Map::new();
                m.insert("functionName".into(), Value::String(name.clone()));
                let a: Map<String, Value> = args.iter().map(|(k, c)| (k.clone(), self.use_of(*c, depth + 3))).collect();
                m.insert("arguments".into(), Value::Object(a));
                one("functionInvocationValue", Value::Object(m))
            }
            Node::CallRef(f, args) => {
                let mut m = Map::new();
                let f = self.referred(*f);
                m.insert("functionReference".into(), Value::String(f));
                let a: Map<String, Value> = args.iter().map(|(k, c)| (k.clone(), self.use_of(*c, depth + 3))).collect();
                m.insert("arguments".into(), Value::Object(a));
                one("functionInvocationValue", Value::Object(m))
            }
        }
    }
}

fn take_constant(v: Value) -> Value {
    match v {
        Value::Object(mut m) => m.remove("constantValue").unwrap_or(Value::Null),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shared_values_are_stored_once_and_constants_collapse() {
        let mut g = Graph::new();
        let p0 = {
            let (x, y) = (g.float(-47.95), g.float(-15.8));
            g.array(vec![x, y])
        };
        let p1 = {
            let (x, y) = (g.float(-47.9), g.float(-15.8));
            g.array(vec![x, y])
        };
        let ring = g.array(vec![p0, p1, p0]);
        let coords = g.array(vec![ring]);
        let t = g.bool(true);
        let poly = g.call("GeometryConstructors.Polygon", vec![("evenOdd", t), ("coordinates", coords)]);
        let e = g.encode(poly);
        assert_eq!(
            e,
            json!({"result": "0", "values": {
                "1": {"constantValue": [-47.95, -15.8]},
                "0": {"functionInvocationValue": {"functionName": "GeometryConstructors.Polygon", "arguments": {
                    "coordinates": {"arrayValue": {"values": [{"arrayValue": {"values": [
                        {"valueReference": "1"}, {"constantValue": [-47.9, -15.8]}, {"valueReference": "1"}]}}]}},
                    "evenOdd": {"constantValue": true}}}}
            }})
        );
        // Key order: referred values are inserted before the value that refers to them.
        let keys: Vec<&String> = e["values"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["1", "0"]);
    }

    #[test]
    fn interning_returns_the_same_id_for_the_same_value() {
        let mut g = Graph::new();
        let a = g.str("x");
        let b = g.str("x");
        assert_eq!(a, b);
        let c1 = g.call("Image.load", vec![("id", a)]);
        let c2 = g.call("Image.load", vec![("id", b)]);
        assert_eq!(c1, c2);
        assert_ne!(g.int(30), g.float(30.0));
    }

    #[test]
    fn function_bodies_are_stored_under_a_key_and_arguments_inlined() {
        let mut g = Graph::new();
        let x = g.arg("_MAPPING_VAR_0_0");
        let k = g.str("ha");
        let body = g.call("Dictionary.get", vec![("dictionary", x), ("key", k)]);
        let f = g.function(vec!["_MAPPING_VAR_0_0".into()], body);
        let l = g.strings(&["a"]);
        let root = g.call("List.map", vec![("list", l), ("baseAlgorithm", f)]);
        let e = g.encode(root);
        assert_eq!(
            e["values"]["0"]["functionInvocationValue"]["arguments"]["baseAlgorithm"]["functionDefinitionValue"]
                ["body"],
            "1"
        );
        assert_eq!(
            e["values"]["1"]["functionInvocationValue"]["arguments"]["dictionary"],
            json!({"argumentReference": "_MAPPING_VAR_0_0"})
        );
    }
}
