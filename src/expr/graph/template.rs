//! An expression encoded once with holes, and filled for each request: planning writes hundreds of
//! requests whose expressions differ only in their sites, and the rest (each layer's images and reducers,
//! the cells' mapping; more than half of every body's bytes) need not be built and encoded again each time.
//!
//! A [`Template`] is the encoding of a graph with [`Node::Hole`]s (by the writer of [`super::write`]) in
//! which every key is a mark (its number and how many holes came before it) and each hole leaves two
//! marks: where its value is written and where its stored values go. [`Template::fill`] encodes the
//! holes' values (a graph of their own) and splices them in, shifting each key by the keys the holes
//! before it took. The bytes are exactly those of encoding the whole graph ([`Graph::encode_to`]) as
//! long as the holes' values share no value with the rest beyond numbers, booleans and null (which are
//! written in place wherever they are used): a shared string or list would be stored once and
//! referenced from both sides. `fill` checks that and declines (returns `false`) when it is not so; the
//! caller then encodes the whole graph. It also declines when the values do not fit the holes.
//! Tested below against the whole graph's encoding, and through every planned body in `tests/`.

use super::write::{key, HoleSite, Holes, Writer, MARK_KEY, MARK_VALUE, MARK_VALUES};
use super::{Graph, Id, Node, Scalar};

/// A piece of a template.
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// Text of the template (a range of [`Template::text`]).
    Text(u32, u32),
    /// Key number, and how many holes came before it was given.
    Key(u32, u32),
    /// The value of a hole (by its number).
    Value(u32),
    /// The stored values of a hole.
    Values(u32),
}

/// An encoded expression with holes (see the module doc).
#[derive(Debug)]
pub struct Template {
    /// The graph it was encoded from (to tell whether a fill shares values with it).
    rest: Graph,
    /// The numbers, booleans and nulls of `rest` (values may share these), floating-point numbers apart
    /// by their bits (sites have many: they are looked up first).
    scalars: Vec<Scalar>,
    floats: Vec<u64>,
    text: Vec<u8>,
    pieces: Vec<Piece>,
    /// Where each hole is, in the order holes are met.
    places: Vec<HoleSite>,
}

impl Template {
    /// Encodes `graph` from `root` with its holes; `None` when a hole is not written in place exactly
    /// once (used twice, stored, or deeper than the depth limit).
    pub fn new(graph: Graph, root: Id) -> Option<Template> {
        let mut text = Vec::new();
        let holes = graph.write_to(root, &mut text, Some(Box::<Holes>::default()))?;
        let mut seen: Vec<u32> = holes.met.iter().map(|p| p.hole).collect();
        seen.sort_unstable();
        seen.dedup();
        if holes.unusable || seen.len() != holes.met.len() {
            return None;
        }
        let places = holes.met;
        let (text, pieces) = pieces(&text)?;
        let (mut scalars, mut floats) = (Vec::new(), Vec::new());
        for n in &graph.nodes {
            match n {
                Node::Const(s) if s.liftable() => match float_bits(s) {
                    Some(bits) => floats.push(bits),
                    None => scalars.push(s.clone()),
                },
                _ => {}
            }
        }
        Some(Template { rest: graph, scalars, floats, text, pieces, places })
    }

    /// Appends the encoding of the template's graph with hole `n` replaced by `values`' node `fills[n]`
    /// to `out`, exactly as [`Graph::encode_to`] would write that whole graph. Returns `false` (with
    /// `out` unchanged) when it cannot: a fill shares a value with the rest, a hole has no fill, or the
    /// fills are not distinct values.
    pub fn fill(&self, values: &Graph, fills: &[Id], out: &mut Vec<u8>) -> bool {
        if self.places.iter().any(|p| p.hole as usize >= fills.len()) || self.shares(values) {
            return false;
        }
        let roots: Vec<Id> = self.places.iter().map(|p| fills[p.hole as usize]).collect();
        // A hole is never a constant (`Writer::is_constant`): neither may its value be.
        if roots.iter().any(|r| !matches!(values.node(*r), Node::Call(..) | Node::CallRef(..))) {
            return false;
        }
        let mut distinct = roots.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != roots.len() {
            return false;
        }
        // Each hole's value and stored values, in the order met, with the keys given before each.
        let mut w = Writer::new(values, values.single_uses_of(&roots), Vec::new());
        let mut inline: Vec<u8> = Vec::new();
        let mut stored: Vec<u8> = Vec::new();
        // Per hole number: (inline range, stored range).
        let mut spans = vec![((0, 0), (0, 0)); fills.len()];
        let mut shift = Vec::with_capacity(self.places.len() + 1);
        shift.push(0u32);
        for (place, &root) in self.places.iter().zip(&roots) {
            let before = *shift.last().unwrap_or(&0);
            w.stored = place.keys_before + before;
            let start = w.stored;
            let at = inline.len();
            w.value(root, place.depth, &mut inline);
            let s_at = stored.len();
            stored.extend_from_slice(&w.values);
            w.values.clear();
            spans[place.hole as usize] = ((at, inline.len()), (s_at, stored.len()));
            shift.push(before + (w.stored - start));
        }
        w.finish();
        out.reserve(self.text.len() + inline.len() + stored.len());
        for piece in &self.pieces {
            match *piece {
                Piece::Text(a, b) => out.extend_from_slice(&self.text[a as usize..b as usize]),
                Piece::Key(k, epoch) => key(out, k + shift[epoch as usize]),
                Piece::Value(n) => {
                    let (a, b) = spans[n as usize].0;
                    out.extend_from_slice(&inline[a..b]);
                }
                Piece::Values(n) => {
                    let (a, b) = spans[n as usize].1;
                    out.extend_from_slice(&stored[a..b]);
                }
            }
        }
        true
    }

    /// Whether the rest has the number, boolean or null `s`.
    fn has_scalar(&self, s: &Scalar) -> bool {
        match float_bits(s) {
            Some(bits) => self.floats.contains(&bits),
            None => self.scalars.contains(s),
        }
    }

    /// Whether a node of `values` (other than a number, boolean or null) is also a node of the template's
    /// graph. Nodes are compared bottom-up: a node can only be in both when its children are.
    fn shares(&self, values: &Graph) -> bool {
        // Per node of `values`: the equal node of `rest` (u32::MAX: none).
        let mut same = vec![u32::MAX; values.nodes.len()];
        let mapped = |same: &[u32], ids: &mut dyn Iterator<Item = Id>| -> Option<Vec<Id>> {
            ids.map(|c| (same[c.0 as usize] != u32::MAX).then(|| Id(same[c.0 as usize]))).collect()
        };
        for (i, node) in values.nodes.iter().enumerate() {
            let found = match node {
                Node::Const(s) if s.liftable() && !self.has_scalar(s) => None,
                Node::Const(_) | Node::Arg(_) | Node::Hole(_) => self.rest.find(node),
                Node::Array(items) => {
                    mapped(&same, &mut items.iter().copied()).and_then(|m| self.rest.find(&Node::Array(m)))
                }
                Node::Dict(entries) => mapped(&same, &mut entries.iter().map(|(_, c)| *c)).and_then(|m| {
                    let e = entries.iter().zip(m).map(|((k, _), c)| (k.clone(), c)).collect();
                    self.rest.find(&Node::Dict(e))
                }),
                Node::Call(name, args) => mapped(&same, &mut args.iter().map(|(_, c)| *c)).and_then(|m| {
                    let a = args.iter().zip(m).map(|((k, _), c)| (k.clone(), c)).collect();
                    self.rest.find(&Node::Call(name.clone(), a))
                }),
                Node::CallRef(f, args) => mapped(&same, &mut std::iter::once(*f).chain(args.iter().map(|(_, c)| *c)))
                    .and_then(|m| {
                        let a = args.iter().zip(&m[1..]).map(|((k, _), c)| (k.clone(), *c)).collect();
                        self.rest.find(&Node::CallRef(m[0], a))
                    }),
                Node::Function(args, body) => mapped(&same, &mut std::iter::once(*body))
                    .and_then(|m| self.rest.find(&Node::Function(args.clone(), m[0]))),
            };
            if let Some(id) = found {
                if !matches!(node, Node::Const(s) if s.liftable()) {
                    return true;
                }
                same[i] = id.0;
            }
        }
        false
    }
}

/// The bits of a floating-point number constant (not of an integer one: 30 and 30.0 are different).
fn float_bits(s: &Scalar) -> Option<u64> {
    match s {
        Scalar::Number(n) if n.is_f64() => n.as_f64().map(f64::to_bits),
        _ => None,
    }
}

/// Reads a template's marked text into plain text and pieces; the keys given before any hole never move,
/// so they are written into the text. `None` if a mark is cut short (never, for the writer's text).
fn pieces(marked: &[u8]) -> Option<(Vec<u8>, Vec<Piece>)> {
    let u32_at = |at: usize| -> Option<u32> { Some(u32::from_le_bytes(marked.get(at..at + 4)?.try_into().ok()?)) };
    let mut text = Vec::with_capacity(marked.len());
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < marked.len() {
        let b = marked[at];
        if b > MARK_VALUES || b == 0 {
            text.push(b);
            at += 1;
            continue;
        }
        let piece = match b {
            MARK_KEY => {
                let (k, epoch) = (u32_at(at + 1)?, u32_at(at + 5)?);
                at += 9;
                if epoch == 0 {
                    key(&mut text, k);
                    continue;
                }
                Piece::Key(k, epoch)
            }
            MARK_VALUE => {
                at += 5;
                Piece::Value(u32_at(at - 4)?)
            }
            _ => {
                at += 5;
                Piece::Values(u32_at(at - 4)?)
            }
        };
        if start < text.len() {
            pieces.push(Piece::Text(start as u32, text.len() as u32));
        }
        pieces.push(piece);
        start = text.len();
    }
    if start < text.len() {
        pieces.push(Piece::Text(start as u32, text.len() as u32));
    }
    Some((text, pieces))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site-like value: a feature with a string id, a polygon and some metadata.
    fn site(g: &mut Graph, id: &str, x: f64, extra: Option<&str>) -> Id {
        let pts: Vec<Id> = [(x, 1.0), (x + 0.5, 1.0), (x, 2.0), (x, 1.0)]
            .iter()
            .map(|&(a, b)| {
                let (a, b) = (g.float(a), g.float(b));
                g.array(vec![a, b])
            })
            .collect();
        let ring = g.array(pts);
        let coords = g.array(vec![ring]);
        let t = g.bool(true);
        let geom = g.call("GeometryConstructors.Polygon", vec![("coordinates", coords), ("evenOdd", t)]);
        let idv = g.str(id);
        let mut meta = vec![("id".to_string(), idv)];
        if let Some(e) = extra {
            meta.push(("name".to_string(), g.str(e)));
        }
        let meta = g.dict(meta);
        g.call("Feature", vec![("geometry", geom), ("metadata", meta)])
    }

    /// The rest of a body around `groups` collections (given by `coll`): shared strings, a function, a
    /// merge of the groups, shared images between them.
    fn rest(g: &mut Graph, groups: usize, coll: &mut dyn FnMut(&mut Graph, usize) -> Id) -> Id {
        let asset = g.str("projects/x/assets/lulc");
        let img = g.call("Image.load", vec![("id", asset)]);
        let class = g.str("class");
        let mut merged: Option<Id> = None;
        for i in 0..groups {
            let c = coll(g, i);
            let zero = g.int(0);
            let sel = g.array(vec![zero]);
            let band = g.call("Image.select", vec![("input", img), ("bandSelectors", sel)]);
            let names = g.strings(&["class", "ha"]);
            let r = g.call("Reducer.sum", vec![]);
            let r = g.call("Reducer.forEach", vec![("reducer", r), ("outputNames", names)]);
            let red = g.call("Image.reduceRegions", vec![("collection", c), ("image", band), ("reducer", r)]);
            merged = Some(match merged {
                None => red,
                Some(p) => g.call("Collection.merge", vec![("collection1", p), ("collection2", red)]),
            });
        }
        let arg = g.arg("_MAPPING_VAR_0_0");
        let get = g.call("Dictionary.get", vec![("dictionary", arg), ("key", class)]);
        let f = g.function(vec!["_MAPPING_VAR_0_0".into()], get);
        let coll = merged.unwrap();
        g.call("Collection.map", vec![("collection", coll), ("baseAlgorithm", f)])
    }

    /// The whole graph's encoding and the template's fill, for sites given per group.
    fn both(groups: &[Vec<(&str, f64, Option<&str>)>]) -> (String, Option<String>) {
        let mut whole = Graph::new();
        let mut build = |g: &mut Graph, i: usize| {
            let feats: Vec<Id> = groups[i].iter().map(|(id, x, e)| site(g, id, *x, *e)).collect();
            let arr = g.array(feats);
            g.call("Collection", vec![("features", arr)])
        };
        let root = rest(&mut whole, groups.len(), &mut build);
        let mut expected = Vec::new();
        whole.encode_to(root, &mut expected);

        let mut holes = Graph::new();
        let root = rest(&mut holes, groups.len(), &mut |g, i| g.hole(i as u32));
        let t = Template::new(holes, root).expect("a template");
        let mut values = Graph::new();
        let fills: Vec<Id> = (0..groups.len()).map(|i| build(&mut values, i)).collect();
        let mut out = b"prefix".to_vec();
        let filled = t.fill(&values, &fills, &mut out).then(|| String::from_utf8(out[6..].to_vec()).unwrap());
        (String::from_utf8(expected).unwrap(), filled)
    }

    #[test]
    fn a_filled_template_is_the_whole_graphs_encoding() {
        // One group; two groups sharing a vertex and a name (stored by the first, referenced by the second).
        for groups in [
            vec![vec![("a", 0.0, None), ("b", 3.0, Some("n"))]],
            vec![vec![("a", 0.0, Some("n")), ("b", 0.0, None)], vec![("c", 0.5, Some("n"))]],
            vec![vec![("a", 0.0, None)], vec![("b", 1.0, None)], vec![("c", 2.0, None)]],
        ] {
            let (expected, filled) = both(&groups);
            assert_eq!(filled.as_deref(), Some(expected.as_str()));
        }
    }

    #[test]
    fn a_fill_sharing_a_value_with_the_rest_is_declined() {
        // "class" is a string of the rest: a site named so shares it, and only the whole encoding is exact.
        let (expected, filled) = both(&[vec![("a", 0.0, Some("class"))]]);
        assert_eq!(filled, None);
        assert!(expected.contains("valueReference"));
        // The rest has the number 0 (in the list [0]) and the sites have 0.0 and 1.0 in their points:
        // numbers alone are not sharing.
        let (expected, filled) = both(&[vec![("a", 0.0, Some("m"))], vec![("b", 0.0, None)]]);
        assert_eq!(filled.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn floats_are_shared_by_their_bits_as_the_graph_interns_them() {
        // -0.0 and 0.0 are two constants of the graph: a site's -0.0 does not share the rest's 0.0.
        let mut g = Graph::new();
        assert_ne!(g.float(0.0), g.float(-0.0));
        assert_eq!(g.float(0.5), g.float(0.5));
        let number = |x: f64| super::Scalar::Number(serde_json::Number::from_f64(x).unwrap());
        assert_ne!(number(0.0), number(-0.0));
        assert_ne!(super::float_bits(&number(0.0)), super::float_bits(&number(-0.0)));
        assert_ne!(super::Scalar::Number(30.into()), number(30.0));
    }

    #[test]
    fn a_hole_used_twice_makes_no_template() {
        let mut g = Graph::new();
        let h = g.hole(0);
        let pair = g.array(vec![h, h]);
        let root = g.call("Collection", vec![("features", pair)]);
        assert!(Template::new(g, root).is_none());
    }
}
