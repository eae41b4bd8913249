//! `List.*` and `Dictionary.*`, with the semantics of their descriptions in `ee-algorithms.json`.
//! Dictionaries are ordered by key ("The keys will be sorted in natural order").

use super::basic::{index_of, java_double, num_arg};
use super::value::{Dict, V};
use super::{Algo, Call, EvalError};

fn list(c: &mut Call) -> Result<Vec<V>, EvalError> {
    c.req("list")?.into_list()
}
fn l_get(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let i = c.req("index")?.into_i64()?;
    let idx = if i < 0 { l.len() as i64 + i } else { i };
    usize::try_from(idx)
        .ok()
        .and_then(|i| l.get(i).cloned())
        .ok_or_else(|| EvalError::new(format!("List.get: index {i} out of bounds for a list of {}.", l.len())))
}
fn l_size(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Int(list(c)?.len() as i64))
}
/// `List.map{list, baseAlgorithm, dropNulls}`.
fn l_map(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let f = c.function("baseAlgorithm")?;
    let drop = c.opt_bool("dropNulls")?.unwrap_or(false);
    let mut out = Vec::with_capacity(l.len());
    for item in l {
        let v = c.apply(&f, vec![item])?;
        if !(drop && matches!(v, V::Null)) {
            out.push(v);
        }
    }
    Ok(V::List(out))
}
fn l_sequence(c: &mut Call) -> Result<V, EvalError> {
    let start = num_arg(c, "start")?;
    let end = c.opt("end");
    let step = c.opt("step").unwrap_or(V::Int(1));
    let count = c.opt("count").map(V::into_i64).transpose()?;
    let int = matches!(start, V::Int(_)) && matches!(step, V::Int(_)) && !matches!(end, Some(V::Float(_)));
    let (s, st) = (start.num().unwrap_or(0.0), step.into_f64()?);
    let mk = |x: f64| if int { V::Int(x as i64) } else { V::Float(x) };
    let items: Vec<V> = match (end, count) {
        (Some(e), _) => {
            let e = e.into_f64()?;
            if st == 0.0 {
                return Err(EvalError::new("step must not be 0."));
            }
            let n = ((e - s) / st).floor() as i64;
            (0..=n.max(-1)).map(|k| mk(s + st * k as f64)).collect()
        }
        (None, Some(n)) => (0..=n).map(|k| mk(s + st * k as f64)).collect(),
        (None, None) => return Err(EvalError::new("At least one of end or count must be specified.")),
    };
    Ok(V::List(items))
}
fn l_cat(c: &mut Call) -> Result<V, EvalError> {
    let mut l = list(c)?;
    l.extend(c.req("other")?.into_list()?);
    Ok(V::List(l))
}
fn l_add(c: &mut Call) -> Result<V, EvalError> {
    let mut l = list(c)?;
    l.push(c.req_or_null("element"));
    Ok(V::List(l))
}
fn same(a: &V, b: &V) -> bool {
    a.to_json() == b.to_json() || matches!((a.num(), b.num()), (Some(x), Some(y)) if x == y && !matches!(a, V::Bool(_)))
}
fn l_contains(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let e = c.req_or_null("element");
    Ok(V::Bool(l.iter().any(|x| same(x, &e))))
}
fn l_index_of(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let e = c.req_or_null("element");
    Ok(V::Int(l.iter().position(|x| same(x, &e)).map(|i| i as i64).unwrap_or(-1)))
}
fn l_slice(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let start = index_of(l.len(), c.req("start")?.into_i64()?);
    let end = c.opt("end").map(V::into_i64).transpose()?.map(|e| index_of(l.len(), e)).unwrap_or(l.len());
    let step = c.opt("step").map(V::into_i64).transpose()?.unwrap_or(1);
    if step != 1 {
        return Err(EvalError::new("fake-ee models List.slice with step 1 only."));
    }
    Ok(V::List(if start < end { l[start..end].to_vec() } else { Vec::new() }))
}
fn l_flatten(c: &mut Call) -> Result<V, EvalError> {
    fn flat(v: Vec<V>, out: &mut Vec<V>) {
        for x in v {
            match x {
                V::List(l) => flat(l, out),
                other => out.push(other),
            }
        }
    }
    let mut out = Vec::new();
    flat(list(c)?, &mut out);
    Ok(V::List(out))
}
fn l_zip(c: &mut Call) -> Result<V, EvalError> {
    let (a, b) = (list(c)?, c.req("other")?.into_list()?);
    Ok(V::List(a.into_iter().zip(b).map(|(x, y)| V::List(vec![x, y])).collect()))
}
fn l_distinct(c: &mut Call) -> Result<V, EvalError> {
    let mut out: Vec<V> = Vec::new();
    for x in list(c)? {
        if !out.iter().any(|y| same(&x, y)) {
            out.push(x);
        }
    }
    Ok(V::List(out))
}
fn l_reverse(c: &mut Call) -> Result<V, EvalError> {
    let mut l = list(c)?;
    l.reverse();
    Ok(V::List(l))
}
fn l_sort(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let keys = c.opt("keys").map(V::into_list).transpose()?.unwrap_or_else(|| l.clone());
    if keys.len() != l.len() {
        return Err(EvalError::new("'keys' must have the same length as 'list'."));
    }
    let mut idx: Vec<usize> = (0..l.len()).collect();
    let key = |v: &V| (v.num(), v.to_json().to_string());
    idx.sort_by(|a, b| {
        let (ka, kb) = (key(&keys[*a]), key(&keys[*b]));
        match (ka.0, kb.0) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => ka.1.cmp(&kb.1),
        }
    });
    Ok(V::List(idx.into_iter().map(|i| l[i].clone()).collect()))
}
/// `List.join{list, separator}` (strings, numbers and booleans as their text).
fn l_join(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let sep = c.opt_string("separator")?.unwrap_or_default();
    Ok(V::Str(
        l.iter()
            .map(|v| if let V::Float(f) = v { java_double(*f) } else { v.csv_text() })
            .collect::<Vec<_>>()
            .join(&sep),
    ))
}
/// `List.reduce{list, reducer}`: "If the reducer returns a single output, it is returned directly,
/// otherwise returns a dictionary containing the named outputs." Single-input reducers only.
fn l_reduce(c: &mut Call) -> Result<V, EvalError> {
    let l = list(c)?;
    let r = c.req("reducer")?.into_reducer()?;
    if r.inputs() != 1 {
        return Err(EvalError::new("fake-ee models List.reduce with single-input reducers only."));
    }
    let records: Vec<super::reducer::Record> = l
        .iter()
        .filter_map(|v| {
            v.num().map(|x| super::reducer::Record {
                inputs: vec![super::reducer::Input { v: x, m: 1.0, int: matches!(v, V::Int(_)) }],
                coverage: 1.0,
            })
        })
        .collect();
    let outs = r.outputs();
    let vals = r.reduce(&records, false);
    if outs.len() == 1 {
        return Ok(vals.into_iter().next().unwrap_or(V::Null));
    }
    Ok(V::Dict(outs.into_iter().zip(vals).collect()))
}

// ---- Dictionary ----

fn dict(c: &mut Call) -> Result<Dict, EvalError> {
    c.req("dictionary")?.into_dict()
}
/// `Dictionary{input}`: a dictionary, or a list of alternating keys and values.
fn d_new(c: &mut Call) -> Result<V, EvalError> {
    match c.opt("input") {
        None => Ok(V::Dict(Dict::new())),
        Some(V::List(l)) => {
            if l.len() % 2 != 0 {
                return Err(EvalError::new("A list of alternating keys and values needs an even length."));
            }
            let mut d = Dict::new();
            for pair in l.chunks(2) {
                d.insert(pair[0].clone().into_string()?, pair[1].clone());
            }
            Ok(V::Dict(d))
        }
        Some(v) => Ok(V::Dict(v.into_dict()?)),
    }
}
/// `Dictionary.get{dictionary, key, defaultValue}`: "If the dictionary does not contain the given key,
/// then defaultValue is returned, unless it is null" (then it is an error).
fn d_get(c: &mut Call) -> Result<V, EvalError> {
    let d = dict(c)?;
    let key = c.string("key")?;
    let default = c.opt("defaultValue");
    match (d.get(&key), default) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(dv)) => Ok(dv),
        (None, None) => Err(EvalError::new(format!(
            "Dictionary does not contain key: {key}. Keys: [{}]",
            d.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}
fn d_get_number(c: &mut Call) -> Result<V, EvalError> {
    let v = d_get(c)?;
    v.num().map(|_| v.clone()).ok_or_else(|| EvalError::new(format!("Expected a Number, got a {}.", v.type_name())))
}
fn d_get_string(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Str(d_get(c)?.into_string()?))
}
/// `Dictionary.fromLists{keys, values}`: "two parallel lists of keys and values".
fn d_from_lists(c: &mut Call) -> Result<V, EvalError> {
    let keys = c.req("keys")?.into_list()?;
    let values = c.req("values")?.into_list()?;
    if keys.len() != values.len() {
        return Err(EvalError::new(format!("Mismatched lengths: {} keys and {} values.", keys.len(), values.len())));
    }
    let mut d = Dict::new();
    for (k, v) in keys.into_iter().zip(values) {
        d.insert(k.into_string()?, v);
    }
    Ok(V::Dict(d))
}
fn d_set(c: &mut Call) -> Result<V, EvalError> {
    let mut d = dict(c)?;
    let key = c.string("key")?;
    d.insert(key, c.req_or_null("value"));
    Ok(V::Dict(d))
}
fn d_keys(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::List(dict(c)?.into_keys().map(V::Str).collect()))
}
fn d_values(c: &mut Call) -> Result<V, EvalError> {
    let d = dict(c)?;
    match c.opt("keys").map(V::into_strings).transpose()? {
        Some(keys) => keys
            .iter()
            .map(|k| d.get(k).cloned().ok_or_else(|| EvalError::new(format!("Dictionary does not contain key: {k}."))))
            .collect::<Result<_, _>>()
            .map(V::List),
        None => Ok(V::List(d.into_values().collect())),
    }
}
fn d_contains(c: &mut Call) -> Result<V, EvalError> {
    let d = dict(c)?;
    Ok(V::Bool(d.contains_key(&c.string("key")?)))
}
fn d_size(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Int(dict(c)?.len() as i64))
}
/// "In the case of duplicate names, the output will contain the value of the second dictionary unless
/// overwrite is false. Null values in both dictionaries are ignored / removed."
fn d_combine(c: &mut Call) -> Result<V, EvalError> {
    let mut a = c.req("first")?.into_dict()?;
    let b = c.req("second")?.into_dict()?;
    let overwrite = c.opt_bool("overwrite")?.unwrap_or(true);
    a.retain(|_, v| !matches!(v, V::Null));
    for (k, v) in b {
        if matches!(v, V::Null) || (!overwrite && a.contains_key(&k)) {
            continue;
        }
        a.insert(k, v);
    }
    Ok(V::Dict(a))
}
fn matching(d: &Dict, selectors: &[String], ignore_missing: bool) -> Result<Vec<String>, EvalError> {
    let mut out = Vec::new();
    for s in selectors {
        let re = regex::Regex::new(&format!("^(?:{s})$")).map_err(|e| EvalError::new(e.to_string()))?;
        let hits: Vec<String> = d.keys().filter(|k| re.is_match(k)).cloned().collect();
        if hits.is_empty() && !ignore_missing {
            return Err(EvalError::new(format!("Key '{s}' not found.")));
        }
        out.extend(hits);
    }
    Ok(out)
}
fn d_select(c: &mut Call) -> Result<V, EvalError> {
    let d = dict(c)?;
    let sel = c.strings("selectors")?;
    let ignore = c.opt_bool("ignoreMissing")?.unwrap_or(false);
    let keys = matching(&d, &sel, ignore)?;
    Ok(V::Dict(d.into_iter().filter(|(k, _)| keys.contains(k)).collect()))
}
fn d_remove(c: &mut Call) -> Result<V, EvalError> {
    let d = dict(c)?;
    let sel = c.strings("selectors")?;
    let ignore = c.opt_bool("ignoreMissing")?.unwrap_or(false);
    let keys = matching(&d, &sel, ignore)?;
    Ok(V::Dict(d.into_iter().filter(|(k, _)| !keys.contains(k)).collect()))
}
/// `Dictionary.map{dictionary, baseAlgorithm}`: "take 2 arguments, a key … and the value … If the
/// algorithm returns null, the key is dropped."
fn d_map(c: &mut Call) -> Result<V, EvalError> {
    let d = dict(c)?;
    let f = c.function("baseAlgorithm")?;
    let mut out = Dict::new();
    for (k, v) in d {
        let r = c.apply(&f, vec![V::Str(k.clone()), v])?;
        if !matches!(r, V::Null) {
            out.insert(k, r);
        }
    }
    Ok(V::Dict(out))
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("List.get", l_get),
    ("List.size", l_size),
    ("List.length", l_size),
    ("List.map", l_map),
    ("List.sequence", l_sequence),
    ("List.cat", l_cat),
    ("List.add", l_add),
    ("List.contains", l_contains),
    ("List.indexOf", l_index_of),
    ("List.slice", l_slice),
    ("List.flatten", l_flatten),
    ("List.zip", l_zip),
    ("List.distinct", l_distinct),
    ("List.reverse", l_reverse),
    ("List.sort", l_sort),
    ("List.join", l_join),
    ("List.reduce", l_reduce),
    ("Dictionary", d_new),
    ("Dictionary.get", d_get),
    ("Dictionary.getNumber", d_get_number),
    ("Dictionary.getString", d_get_string),
    ("Dictionary.fromLists", d_from_lists),
    ("Dictionary.set", d_set),
    ("Dictionary.keys", d_keys),
    ("Dictionary.values", d_values),
    ("Dictionary.contains", d_contains),
    ("Dictionary.size", d_size),
    ("Dictionary.combine", d_combine),
    ("Dictionary.select", d_select),
    ("Dictionary.remove", d_remove),
    ("Dictionary.map", d_map),
];
