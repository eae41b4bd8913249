//! The encoding of [`Graph::encode`] written straight as JSON text, without building a `serde_json::Value`
//! tree: planning writes tens of megabytes of expressions, and a tree of small maps and strings costs about
//! ten times the text in allocations. The rules are [`Graph::encode`]'s (see the parent module's doc), and
//! so are the bytes: `serde_json::to_vec(&graph.encode(root))` equals [`Graph::encode_to`]'s output (tested
//! below and, through every planned body, against the official clients' bodies in `tests/`).
//!
//! Two facts make a one-pass writer possible. A value stored under a key is complete before its key is
//! inserted into `values` (the Python client's order), so each stored value is written into its own buffer
//! and appended to the `values` text when done. And whether an array or dictionary collapses into one
//! `constantValue` depends only on its items ([`Writer::is_constant`]), and such an item stores nothing, so
//! the choice can be made before anything is written.
//!
//! The same writer writes a [`super::Template`]: with [`Writer::holes`] set, every key it writes is a
//! relocatable mark rather than digits, and each hole leaves a mark where its value and its stored values
//! go ([`super::template`] has the marks and how they are filled).

use super::{Graph, Id, Node, Scalar, DEPTH_LIMIT};

/// The state of one encoding.
pub(super) struct Writer<'g> {
    pub(super) graph: &'g Graph,
    pub(super) single: Vec<bool>,
    /// The key of each stored node (`u32::MAX`: not stored yet).
    pub(super) keys: Vec<u32>,
    pub(super) stored: u32,
    /// `"k":value,` for every stored value, in insertion order (after what the output held before).
    pub(super) values: Vec<u8>,
    /// Whether a single-use node's use is a constant (0 unknown, 1 yes, 2 no): a single-use node has one
    /// place, hence one depth.
    constant: Vec<u8>,
    /// Buffers for stored values being written (one per nesting level).
    pool: Vec<Vec<u8>>,
    /// Writing a template: the holes met so far and the marks' bookkeeping.
    holes: Option<Box<Holes>>,
}

/// What writing a template records (see [`super::template`]).
#[derive(Debug, Default)]
pub(super) struct Holes {
    /// Per key, in order: how many holes had been met when it was given.
    pub(super) epochs: Vec<u32>,
    /// The holes in the order they were met.
    pub(super) met: Vec<HoleSite>,
    /// A hole was met where its value would not be written in place (stored, or past the depth limit).
    pub(super) unusable: bool,
}

/// Where a hole was met.
#[derive(Debug, Clone, Copy)]
pub(super) struct HoleSite {
    /// Its number ([`Node::Hole`]).
    pub(super) hole: u32,
    /// The depth its value is written at.
    pub(super) depth: usize,
    /// Keys given before it (the template's own).
    pub(super) keys_before: u32,
}

/// Template marks: a key (then its number and epoch, 4 bytes each), a hole's value and a hole's stored
/// values (then the hole's number). JSON text never holds these bytes raw.
pub(super) const MARK_KEY: u8 = 1;
pub(super) const MARK_VALUE: u8 = 2;
pub(super) const MARK_VALUES: u8 = 3;

/// Writes key `k`: its digits, or a template's mark.
fn write_key(holes: &Option<Box<Holes>>, out: &mut Vec<u8>, k: u32) {
    match holes {
        None => key(out, k),
        Some(h) => {
            out.push(MARK_KEY);
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&h.epochs[k as usize].to_le_bytes());
        }
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn scalar(out: &mut Vec<u8>, s: &Scalar) {
    match s {
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(true) => out.extend_from_slice(b"true"),
        Scalar::Bool(false) => out.extend_from_slice(b"false"),
        Scalar::Number(n) => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Scalar::String(s) => string(out, s),
    }
}

pub(super) fn key(out: &mut Vec<u8>, k: u32) {
    out.push(b'"');
    out.extend_from_slice(digits(k).as_bytes());
    out.push(b'"');
}

/// A key's decimal text (keys are small: no allocation).
struct Digits {
    buf: [u8; 10],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn digits(mut k: u32) -> Digits {
    let mut d = Digits { buf: [0; 10], start: 10 };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (k % 10) as u8;
        k /= 10;
        if k == 0 {
            return d;
        }
    }
}

impl Writer<'_> {
    /// Stores `id` under a key (once) and returns the key.
    pub(super) fn referred(&mut self, id: Id) -> u32 {
        let k = self.keys[id.0 as usize];
        if k != u32::MAX {
            return k;
        }
        let k = self.stored;
        self.stored += 1;
        self.keys[id.0 as usize] = k;
        if let Some(h) = &mut self.holes {
            let met = h.met.len() as u32;
            h.epochs.push(met);
        }
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        self.value(id, 0, &mut buf);
        write_key(&self.holes, &mut self.values, k);
        self.values.push(b':');
        self.values.extend_from_slice(&buf);
        self.values.push(b',');
        self.pool.push(buf);
        k
    }

    /// Whether the use of `id` at `depth` is a `constantValue`.
    fn is_constant(&mut self, id: Id, depth: usize) -> bool {
        let i = id.0 as usize;
        if !(self.single[i] && depth < DEPTH_LIMIT) {
            return matches!(self.graph.node(id), Node::Const(s) if s.liftable());
        }
        match self.constant[i] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        let graph = self.graph;
        let yes = match graph.node(id) {
            Node::Const(_) => true,
            Node::Array(items) => items.iter().all(|c| self.is_constant(*c, depth + 3)),
            Node::Dict(entries) => entries.iter().all(|(_, c)| self.is_constant(*c, depth + 3)),
            _ => false,
        };
        self.constant[i] = if yes { 1 } else { 2 };
        yes
    }

    /// The bare constant of a use known to be constant.
    fn constant_of(&mut self, id: Id, out: &mut Vec<u8>) {
        let graph = self.graph;
        match graph.node(id) {
            Node::Const(s) => scalar(out, s),
            Node::Array(items) => {
                out.push(b'[');
                for (n, c) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    self.constant_of(*c, out);
                }
                out.push(b']');
            }
            Node::Dict(entries) => {
                out.push(b'{');
                let mut first = true;
                for (n, (k, c)) in entries.iter().enumerate() {
                    // A repeated key keeps its first place and its last value (as a JSON map does).
                    if entries.get(n + 1).is_some_and(|(next, _)| next == k) {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    string(out, k);
                    out.push(b':');
                    self.constant_of(*c, out);
                }
                out.push(b'}');
            }
            // Not constants (never reached: `is_constant` said so).
            _ => out.extend_from_slice(b"null"),
        }
    }

    /// A use of `id` at `depth`: inlined, or a reference.
    fn use_of(&mut self, id: Id, depth: usize, out: &mut Vec<u8>) {
        if self.single[id.0 as usize] && depth < DEPTH_LIMIT {
            return self.value(id, depth, out);
        }
        let graph = self.graph;
        match graph.node(id) {
            Node::Const(s) if s.liftable() => {
                out.extend_from_slice(b"{\"constantValue\":");
                scalar(out, s);
                out.push(b'}');
            }
            Node::Arg(a) => {
                out.extend_from_slice(b"{\"argumentReference\":");
                string(out, a);
                out.push(b'}');
            }
            Node::Hole(_) => {
                if let Some(h) = &mut self.holes {
                    h.unusable = true;
                }
                out.extend_from_slice(b"null");
            }
            _ => {
                let k = self.referred(id);
                out.extend_from_slice(b"{\"valueReference\":");
                write_key(&self.holes, out, k);
                out.push(b'}');
            }
        }
    }

    /// `{"name":use,…}` of sorted entries (a repeated key keeps its first place and its last value; the
    /// uses of the others are still made, as they may store values).
    fn uses(&mut self, entries: &[(String, Id)], depth: usize, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (n, (k, c)) in entries.iter().enumerate() {
            if entries.get(n + 1).is_some_and(|(next, _)| next == k) {
                let mut scratch = Vec::new();
                self.use_of(*c, depth, &mut scratch);
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            string(out, k);
            out.push(b':');
            self.use_of(*c, depth, out);
        }
        out.push(b'}');
    }

    pub(super) fn value(&mut self, id: Id, depth: usize, out: &mut Vec<u8>) {
        let graph = self.graph;
        match graph.node(id) {
            Node::Hole(n) => match &mut self.holes {
                Some(h) => {
                    h.met.push(HoleSite { hole: *n, depth, keys_before: self.stored });
                    out.push(MARK_VALUE);
                    out.extend_from_slice(&n.to_le_bytes());
                    self.values.push(MARK_VALUES);
                    self.values.extend_from_slice(&n.to_le_bytes());
                }
                None => out.extend_from_slice(b"null"),
            },
            Node::Const(s) => {
                out.extend_from_slice(b"{\"constantValue\":");
                scalar(out, s);
                out.push(b'}');
            }
            Node::Arg(a) => {
                out.extend_from_slice(b"{\"argumentReference\":");
                string(out, a);
                out.push(b'}');
            }
            Node::Array(items) => {
                if items.iter().all(|c| self.is_constant(*c, depth + 3)) {
                    out.extend_from_slice(b"{\"constantValue\":");
                    self.constant_of(id, out);
                    out.push(b'}');
                } else {
                    out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
                    for (n, c) in items.iter().enumerate() {
                        if n > 0 {
                            out.push(b',');
                        }
                        self.use_of(*c, depth + 3, out);
                    }
                    out.extend_from_slice(b"]}}");
                }
            }
            Node::Dict(entries) => {
                if entries.iter().all(|(_, c)| self.is_constant(*c, depth + 3)) {
                    out.extend_from_slice(b"{\"constantValue\":");
                    self.constant_of(id, out);
                    out.push(b'}');
                } else {
                    out.extend_from_slice(b"{\"dictionaryValue\":{\"values\":");
                    self.uses(entries, depth + 3, out);
                    out.extend_from_slice(b"}}");
                }
            }
            Node::Function(args, body) => {
                let body = self.referred(*body);
                out.extend_from_slice(b"{\"functionDefinitionValue\":{\"argumentNames\":[");
                for (n, a) in args.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    string(out, a);
                }
                out.extend_from_slice(b"],\"body\":");
                write_key(&self.holes, out, body);
                out.extend_from_slice(b"}}");
            }
            Node::Call(name, args) => {
                out.extend_from_slice(b"{\"functionInvocationValue\":{\"functionName\":");
                string(out, name);
                out.extend_from_slice(b",\"arguments\":");
                self.uses(args, depth + 3, out);
                out.extend_from_slice(b"}}");
            }
            Node::CallRef(f, args) => {
                let f = self.referred(*f);
                out.extend_from_slice(b"{\"functionInvocationValue\":{\"functionReference\":");
                write_key(&self.holes, out, f);
                out.extend_from_slice(b",\"arguments\":");
                self.uses(args, depth + 3, out);
                out.extend_from_slice(b"}}");
            }
        }
    }
}

thread_local! {
    /// Buffers of stored values, kept between encodings on a thread: the root's grows to about the size of
    /// the request, so each planning thread grows it once, not once per request.
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Graph {
    /// Appends the REST `Expression` of the value `root` to `out` as compact JSON: the bytes of
    /// `serde_json::to_vec(&self.encode(root))`, without building the tree (see the module doc).
    ///
    /// The root is stored first, so its key is always `"0"`: the head is written at once and the stored
    /// values are appended straight to `out`.
    pub fn encode_to(&self, root: Id, out: &mut Vec<u8>) {
        self.write_to(root, out, None);
    }

    /// [`Graph::encode_to`], writing a template's marks when `holes` is set; returns what it recorded.
    pub(super) fn write_to(&self, root: Id, out: &mut Vec<u8>, holes: Option<Box<Holes>>) -> Option<Box<Holes>> {
        out.extend_from_slice(b"{\"result\":\"0\",\"values\":{");
        let mut w = Writer::new(self, self.single_uses(root), std::mem::take(out));
        w.holes = holes;
        let result = w.referred(root);
        debug_assert_eq!(result, 0);
        *out = std::mem::take(&mut w.values);
        if out.last() == Some(&b',') {
            out.pop();
        }
        out.extend_from_slice(b"}}");
        w.finish()
    }
}

impl<'g> Writer<'g> {
    /// A writer over `graph` with these single-use flags, appending stored values to `values`.
    pub(super) fn new(graph: &'g Graph, single: Vec<bool>, values: Vec<u8>) -> Writer<'g> {
        let n = graph.nodes.len();
        Writer {
            graph,
            single,
            keys: vec![u32::MAX; n],
            stored: 0,
            values,
            constant: vec![0; n],
            pool: POOL.with(|p| std::mem::take(&mut *p.borrow_mut())),
            holes: None,
        }
    }

    /// Gives the buffers back to the thread; returns the template's record.
    pub(super) fn finish(mut self) -> Option<Box<Holes>> {
        let mut pool = std::mem::take(&mut self.pool);
        // At most a few buffers per nesting level are kept, none larger than a few requests' worth.
        pool.retain(|b| b.capacity() <= 64 << 20);
        pool.truncate(64);
        POOL.with(|p| *p.borrow_mut() = pool);
        self.holes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn same(g: &Graph, root: Id) {
        let mut text = Vec::new();
        g.encode_to(root, &mut text);
        assert_eq!(String::from_utf8(text).unwrap(), serde_json::to_string(&g.encode(root)).unwrap());
    }

    #[test]
    fn writes_what_encode_builds() {
        let mut g = Graph::new();
        let (x, y) = (g.float(-47.95), g.float(-15.8));
        let p0 = g.array(vec![x, y]);
        let z = g.float(-47.9);
        let p1 = g.array(vec![z, y]);
        let ring = g.array(vec![p0, p1, p0]);
        let coords = g.array(vec![ring]);
        let t = g.bool(true);
        let poly = g.call("GeometryConstructors.Polygon", vec![("evenOdd", t), ("coordinates", coords)]);
        same(&g, poly);
        // Shared strings, functions, argument references, calls of function values, data of every kind.
        let a = g.arg("_MAPPING_VAR_0_0");
        let k = g.str("ha \"quoted\" \u{e9}");
        let body = g.call("Dictionary.get", vec![("dictionary", a), ("key", k)]);
        let f = g.function(vec!["_MAPPING_VAR_0_0".into()], body);
        let data = g.data(&json!({"b": [1, 2.5, null, true, "s"], "a": {"nested": [[1], []]}, "e": {}}));
        let list = g.strings(&["ha \"quoted\" \u{e9}", "px"]);
        let mapped = g.call("List.map", vec![("list", list), ("baseAlgorithm", f)]);
        let called = g.call_ref(f, vec![("_MAPPING_VAR_0_0", data)]);
        let mixed = g.array(vec![mapped, called, poly, data, k, k]);
        let d = g.dict(vec![("z".into(), mixed), ("y".into(), k), ("x".into(), x)]);
        same(&g, d);
        let n = g.null();
        same(&g, n);
    }

    #[test]
    fn deep_values_are_stored_past_the_depth_limit() {
        let mut g = Graph::new();
        let mut v = g.str("leaf");
        for i in 0..40 {
            let n = g.int(i);
            v = g.call("List.add", vec![("list", v), ("element", n)]);
        }
        same(&g, v);
        let mut arr = g.int(1);
        for _ in 0..30 {
            arr = g.array(vec![arr]);
        }
        same(&g, arr);
    }

    #[test]
    fn repeated_dictionary_keys_keep_the_first_place_and_the_last_value() {
        let mut g = Graph::new();
        let (a, b, c) = (g.str("a"), g.str("b"), g.arg("x"));
        let d = g.dict(vec![("k".into(), a), ("k".into(), c), ("j".into(), b)]);
        let root = g.array(vec![d, a, b]);
        same(&g, root);
        let consts = g.dict(vec![("k".into(), a), ("k".into(), b)]);
        same(&g, consts);
    }
}
