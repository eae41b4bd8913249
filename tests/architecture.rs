//! The code's shape, checked: no file over 600 lines without a written reason, no `String` errors in
//! library signatures, and no import cycle between modules.
//!
//! No import cycle between modules: the graph of module files (`plan::image`, `cli::run`, `sites`, …)
//! where an edge means "uses something defined there" has no cycle. `cli::run` may use `cli::local`, or
//! the other way, not both.
//!
//! Edges are read from the source: every `crate::…`, `super::…` and `self::…` path (in `use` items, with
//! their `{…}` groups expanded, and inline) is resolved to the module that defines what it names,
//! following `pub use` re-exports (`crate::pipeline::Pipeline` is defined in `pipeline::model`). A module
//! using its own ancestors or descendants is not a cycle (a parent declares its children; children use its
//! shared items). Written by hand: the module tools on crates.io draw graphs but do not fail a test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod common;

/// Module path (`["plan", "image"]`) of each source file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, String>) {
        for e in std::fs::read_dir(dir).expect("src") {
            let p = e.expect("entry").path();
            let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if p.is_dir() {
                let mut m = prefix.to_vec();
                m.push(name);
                walk(&p, &m, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let mut m = prefix.to_vec();
                if !matches!(name.as_str(), "mod" | "lib" | "main") {
                    m.push(name);
                }
                out.insert(m, std::fs::read_to_string(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out.remove(&Vec::new()); // lib.rs declares the top-level modules
    out
}

/// The code without comments, string literals and `#[cfg(test)]` modules' doc text (roughly: enough to
/// find paths).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'r' && b.get(i + 1) == Some(&b'#') && b.get(i + 2) == Some(&b'"') {
            let end = text[i + 3..].find("\"#").map(|e| i + 3 + e + 2).unwrap_or(b.len());
            i = end;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every path starting with `crate`, `super` or `self`, `use` groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':';
        let starts = ["crate::", "super::", "self::"].iter().find(|p| code_at(&chars, i, p));
        if let (true, Some(_)) = (boundary, starts) {
            let (tree, end) = read_tree(&chars, i);
            out.extend(tree);
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn code_at(chars: &[char], i: usize, s: &str) -> bool {
    s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c))
}

/// Reads a path (with `::{a, b::{c}}` groups) from `i`; returns every full path and where it ends.
fn read_tree(chars: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        let start = i;
        while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
            i += 1;
        }
        if i > start {
            prefix.push(chars[start..i].iter().collect::<String>());
        }
        if code_at(chars, i, "::{") {
            i += 3;
            let mut all = Vec::new();
            loop {
                let (sub, end) = read_tree(chars, i);
                for s in sub {
                    let mut p = prefix.clone();
                    p.extend(s);
                    all.push(p);
                }
                i = end;
                while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                if chars.get(i) == Some(&'}') || i >= chars.len() {
                    return (all, i + 1);
                }
            }
        } else if code_at(chars, i, "::") {
            i += 2;
        } else {
            // `as name`, `*`, generics and the like end the path.
            while chars.get(i).is_some_and(|c| !matches!(c, ',' | '}' | ';' | '(' | ')' | '<' | '>' | '\n')) {
                if code_at(chars, i, "::") {
                    break;
                }
                i += 1;
            }
            return (vec![prefix], i);
        }
    }
}

/// What a module file declares: the names of its items, and its `pub use` re-exports (name → path, `*` for
/// globs).
#[derive(Default)]
struct Items {
    defined: BTreeSet<String>,
    reexports: Vec<(String, Vec<String>)>,
}

fn items(code: &str) -> Items {
    let mut it = Items::default();
    let words: Vec<&str> = code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '!')).collect();
    for w in words.windows(2) {
        if matches!(
            w[0],
            "struct" | "enum" | "fn" | "type" | "const" | "static" | "trait" | "mod" | "macro_rules!" | "union"
        ) {
            it.defined.insert(w[1].to_string());
        }
    }
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while let Some(k) = code[char_offset(&chars, i)..].find("pub use ").map(|k| k + char_offset(&chars, i)) {
        let at = code[..k].chars().count() + "pub use ".len();
        let (tree, end) = read_tree(&chars, at);
        for mut path in tree {
            if path.last().is_some_and(|l| l == "self") {
                path.pop();
            }
            let name = path.last().cloned().unwrap_or_default();
            let glob = chars[at..end.min(chars.len())].iter().collect::<String>().contains('*');
            it.reexports.push((if glob { "*".to_string() } else { name }, path));
        }
        i = end.max(at + 1);
    }
    it
}

fn char_offset(chars: &[char], i: usize) -> usize {
    chars[..i.min(chars.len())].iter().map(|c| c.len_utf8()).sum()
}

/// The module that defines what a path in module `from` names: modules are walked by name, then an item
/// is followed through `pub use` re-exports to where it is defined.
fn resolve(
    from: &[String],
    path: &[String],
    known: &BTreeSet<Vec<String>>,
    items: &BTreeMap<Vec<String>, Items>,
    depth: usize,
) -> Vec<String> {
    let mut at: Vec<String> = Vec::new();
    let mut segs = path.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segs.next();
        }
        Some("self") | Some("super") => {
            at = from.to_vec();
            while let Some(s) = segs.peek() {
                match s.as_str() {
                    "self" => {}
                    "super" => {
                        at.pop();
                    }
                    _ => break,
                }
                segs.next();
            }
        }
        // A relative path (`use model::*` in a `mod.rs`) starts at the module itself.
        _ => at = from.to_vec(),
    }
    while let Some(s) = segs.next() {
        let mut next = at.clone();
        next.push(s.clone());
        if known.contains(&next) {
            at = next;
            continue;
        }
        if depth > 8 {
            break;
        }
        let Some(here) = items.get(&at) else { break };
        if here.defined.contains(s) {
            break;
        }
        let rest: Vec<String> = segs.cloned().collect();
        let follow = |target: &Vec<String>| {
            let mut p = target.clone();
            p.extend(rest.iter().cloned());
            resolve(&at, &p, known, items, depth + 1)
        };
        if let Some((_, target)) = here.reexports.iter().find(|(n, _)| n == s) {
            return follow(target);
        }
        for (n, target) in &here.reexports {
            if n == "*" || target.last().is_some_and(|l| l == "*") {
                let module = resolve(&at, target, known, items, depth + 1);
                if items.get(&module).is_some_and(|m| m.defined.contains(s) || m.reexports.iter().any(|(r, _)| r == s))
                {
                    let mut p = vec!["crate".to_string()];
                    p.extend(module.iter().cloned());
                    p.push(s.clone());
                    p.extend(rest.iter().cloned());
                    return resolve(&at, &p, known, items, depth + 1);
                }
            }
        }
        break;
    }
    at
}

/// Every dependency between module files (into a module's own ancestors or descendants excluded: a parent
/// declares its children, children use its shared items) → an example `file: path` that makes it.
fn edges(src: &Path) -> BTreeMap<(Vec<String>, Vec<String>), String> {
    let mods = modules(src);
    let mut known: BTreeSet<Vec<String>> = mods.keys().cloned().collect();
    for m in mods.keys() {
        for k in 1..m.len() {
            known.insert(m[..k].to_vec());
        }
    }
    let code: BTreeMap<Vec<String>, String> = mods.iter().map(|(m, t)| (m.clone(), code_only(t))).collect();
    let items: BTreeMap<Vec<String>, Items> = code.iter().map(|(m, c)| (m.clone(), items(c))).collect();
    let mut out = BTreeMap::new();
    for (m, c) in &code {
        for p in paths(c) {
            let to = resolve(m, &p, &known, &items, 0);
            let common = m.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == m.len() || common == to.len() {
                continue;
            }
            out.entry((m.clone(), to)).or_insert_with(|| format!("{}: {}", m.join("::"), p.join("::")));
        }
    }
    out
}

#[test]
fn no_import_cycle_between_modules() {
    let edges = edges(&common::repo_root().join("src"));
    let mut graph: BTreeMap<&Vec<String>, BTreeSet<&Vec<String>>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().insert(to);
    }
    let mut cycles = Vec::new();
    for &start in graph.keys() {
        // A path back to `start`, reported once (from its smallest member).
        let mut stack = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for &next in graph.get(node).into_iter().flatten() {
                if next == start && path.iter().all(|p| *p >= start) {
                    let links: Vec<String> = path
                        .iter()
                        .zip(path.iter().skip(1).chain([&start]))
                        .map(|(a, b)| edges[&((*a).clone(), (*b).clone())].clone())
                        .collect();
                    cycles.push(links.join("\n    "));
                } else if next > start && seen.insert(next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles ({}):\n  {}", cycles.len(), cycles.join("\n  "));
}

#[test]
fn the_cycle_finder_reads_use_groups_inline_paths_and_reexports() {
    let p = paths(&code_only(
        "use super::{classifier, image::{self, Unit}};\nuse crate::a::b as c; // crate::not::this\nlet x = crate::sites::read(\"crate::no\");",
    ));
    let p: Vec<String> = p.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        p,
        ["super::classifier", "super::image::self", "super::image::Unit", "crate::a::b", "crate::sites::read"]
    );
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let known: BTreeSet<Vec<String>> =
        [v(&["plan"]), v(&["plan", "image"]), v(&["pipeline"]), v(&["pipeline", "model"])].into_iter().collect();
    let mut all = BTreeMap::new();
    all.insert(v(&["pipeline"]), items(&code_only("pub mod model;\npub use model::*;\npub fn load() {}")));
    all.insert(v(&["pipeline", "model"]), items(&code_only("pub struct Pipeline;")));
    all.insert(v(&["plan", "image"]), items(&code_only("pub struct Unit;")));
    let from = v(&["plan", "planner"]);
    assert_eq!(resolve(&from, &v(&["super", "image", "Unit"]), &known, &all, 0), ["plan", "image"]);
    assert_eq!(resolve(&from, &v(&["crate", "pipeline", "Pipeline"]), &known, &all, 0), ["pipeline", "model"]);
    assert_eq!(resolve(&from, &v(&["crate", "pipeline", "load"]), &known, &all, 0), ["pipeline"]);
}

/// Every `.rs` file under `src/`, with its text.
fn source_files(dir: &Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    for e in std::fs::read_dir(dir).expect("src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).expect("read");
            out.push((p, text));
        }
    }
}

/// A file of `src/` over 600 lines says why it is one file, at its top: its `//!` doc holds a sentence
/// with "600 lines" (by convention "(Over 600 lines: <why>)").
#[test]
fn every_file_over_600_lines_says_why_it_is_one_file() {
    let mut files = Vec::new();
    source_files(&common::repo_root().join("src"), &mut files);
    let mut unexplained = Vec::new();
    for (path, text) in &files {
        let lines = text.lines().count();
        let doc: String =
            text.lines().take_while(|l| l.starts_with("//!") || l.trim().is_empty()).collect::<Vec<_>>().join(" ");
        if lines > 600 && !doc.to_lowercase().contains("600 lines") {
            unexplained.push(format!("{} ({lines} lines)", path.display()));
        }
    }
    assert!(
        unexplained.is_empty(),
        "files over 600 lines without a reason in their `//!` doc (split them, or write \"(Over 600 lines: \
         <why>)\" at the top):\n  {}",
        unexplained.join("\n  ")
    );
}

/// The public functions of `src/` whose return type is `Result<_, String>`, as `file:line: signature`.
/// A signature is read from `fn` to its body or `;` (nested `<…>`, `(…)`, `[…]` balanced), so
/// `Result<Vec<[f64; 2]>, String>` is seen; comments and string literals are left out first.
fn string_error_signatures(path: &Path, text: &str) -> Vec<String> {
    let code = code_only(text);
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("fn ").map(|i| from + i) {
        from = at + 3;
        let line_start = code[..at].rfind('\n').map_or(0, |i| i + 1);
        let prefix = code[line_start..at].trim();
        if !(prefix.starts_with("pub") && (at == 0 || !b[at - 1].is_ascii_alphanumeric() && b[at - 1] != b'_')) {
            continue;
        }
        // The end of the signature: the first `{` or `;` outside brackets.
        let (mut depth, mut end) = (0i32, at);
        while end < b.len() {
            match b[end] {
                b'(' | b'[' | b'<' => depth += 1,
                b')' | b']' => depth -= 1,
                b'>' if b[end - 1] != b'-' => depth -= 1,
                b'{' | b';' if depth <= 0 => break,
                _ => {}
            }
            end += 1;
        }
        let sig = &code[at..end];
        let Some(r) = sig.rfind("-> Result<") else { continue };
        let ret = &sig[r + "-> Result<".len()..];
        // The error type: after the last comma at the top level of `Result<…>`.
        let (mut depth, mut comma, mut close) = (0i32, None, ret.len());
        for (i, c) in ret.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' if depth == 0 => {
                    close = i;
                    break;
                }
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => comma = Some(i),
                _ => {}
            }
        }
        if comma.is_some_and(|c| ret[c + 1..close].trim() == "String") {
            let line = code[..at].matches('\n').count() + 1;
            out.push(format!("{}:{line}: {}", path.display(), sig.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    out
}

/// Library errors are typed: no public function of `src/` returns `Result<_, String>` (a message alone
/// cannot be matched on, and loses what it was about).
#[test]
fn no_public_function_returns_a_string_error() {
    let mut files = Vec::new();
    source_files(&common::repo_root().join("src"), &mut files);
    let found: Vec<String> = files.iter().flat_map(|(p, t)| string_error_signatures(p, t)).collect();
    assert!(
        found.is_empty(),
        "public functions returning `Result<_, String>` ({}):\n  {}",
        found.len(),
        found.join("\n  ")
    );
}

#[test]
fn the_string_error_finder_sees_nested_types_and_skips_private_functions() {
    let text = "pub fn a(x: &[u8]) -> Result<Vec<[f64; 2]>, String> {\n}\n\
                fn b() -> Result<(), String> {}\n\
                pub(crate) fn c() -> Result<HashMap<String, u8>, Error> {}\n\
                pub fn d() -> Result<u8, String>;\n\
                // pub fn e() -> Result<u8, String>\n\
                pub fn f(s: &str) -> Option<Result<u8, String>> {}\n";
    let found = string_error_signatures(Path::new("x.rs"), text);
    assert_eq!(
        found,
        ["x.rs:1: fn a(x: &[u8]) -> Result<Vec<[f64; 2]>, String>", "x.rs:5: fn d() -> Result<u8, String>"]
    );
}

/// The lines of a file of `src/plan/` naming the pipeline kind (`KindName`) outside the body of `fn
/// kind_planner`, as `file:line`, and whether that function exists and looks at the kind.
fn kind_uses(path: &Path, text: &str) -> (Vec<String>, bool) {
    let code = code_only(text);
    let body = code.find("fn kind_planner(").and_then(|at| {
        let open = at + code[at..].find('{')?;
        let mut depth = 0;
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return Some(open..open + i + 1),
                '}' => depth -= 1,
                _ => {}
            }
        }
        None
    });
    let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let (mut outside, mut inside) = (Vec::new(), false);
    for (at, _) in code.match_indices("KindName") {
        if is_ident(code[..at].chars().next_back()) || is_ident(code[at + "KindName".len()..].chars().next()) {
            continue;
        }
        if body.as_ref().is_some_and(|b| b.contains(&at)) {
            inside = true;
        } else {
            outside.push(format!("{}:{}", path.display(), code[..at].matches('\n').count() + 1));
        }
    }
    (outside, inside)
}

/// The planner looks at the pipeline's kind once: `plan::planner::kind_planner` chooses the kind's
/// `KindPlanner` (zonal, image or classifier), and no other code of `src/plan/` names the kind, so what
/// differs between kinds lives in their planners instead of branches spread over the shared flow.
#[test]
fn the_plan_looks_at_the_pipeline_kind_only_where_it_chooses_the_kind_planner() {
    let mut files = Vec::new();
    source_files(&common::repo_root().join("src").join("plan"), &mut files);
    let mut outside = Vec::new();
    let mut chooser = Vec::new();
    for (path, text) in &files {
        let (o, inside) = kind_uses(path, text);
        outside.extend(o);
        if inside {
            chooser.push(path.display().to_string());
        }
    }
    assert!(
        chooser.len() == 1 && chooser[0].ends_with("planner.rs"),
        "one `fn kind_planner` in src/plan/planner.rs should choose the planner by the pipeline kind: {chooser:?}"
    );
    assert!(
        outside.is_empty(),
        "the pipeline kind is looked at outside `kind_planner` (move what differs into the kinds' `KindPlanner`):\n  {}",
        outside.join("\n  ")
    );
}

#[test]
fn the_kind_finder_sees_the_kind_outside_the_chooser_only() {
    let text = "use crate::pipeline::KindName; // KindName in a comment\n\
                fn kind_planner(p: &Pipeline) -> Result<Box<dyn KindPlanner>, D> {\n\
                    match p.kind { KindName::Zonal => { Ok(z) } _ => { Err(\"KindName\") } }\n\
                }\n\
                fn chunk(p: &Pipeline) { if p.kind == KindName::Image {} }\n\
                struct KindNames;\n";
    let (outside, inside) = kind_uses(Path::new("x.rs"), text);
    assert!(inside);
    assert_eq!(outside, ["x.rs:1", "x.rs:5"]);
    let (outside, inside) = kind_uses(Path::new("y.rs"), "fn plan(p: &P) { match p.kind { KindName::Zonal => {} } }");
    assert!(!inside);
    assert_eq!(outside, ["y.rs:1"]);
}
