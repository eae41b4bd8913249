//! Plain values: `Number.*` and `String.*` (with [`super::lists`], the functions a `Collection.map` uses
//! to shape its cells), with the semantics of their descriptions in `ee-algorithms.json`.
//!
//! Numbers keep Earth Engine's integer/double distinction where it shows: `Number.format` follows Java's
//! `Formatter` (the description points to it), so `%d` of a double is an error
//! (`IllegalFormatConversionException`: "d != java.lang.Double") and `%s` of a double prints Java's
//! `Double.toString` (`3.0`, `1.0E-4`).

use super::value::V;
use super::{Algo, Call, EvalError};

pub(super) fn num_arg(c: &mut Call, name: &str) -> Result<V, EvalError> {
    let v = c.req(name)?;
    match v {
        V::Int(_) | V::Float(_) => Ok(v),
        V::Bool(b) => Ok(V::Int(b as i64)),
        other => Err(EvalError::new(format!("Expected a Number, got a {}.", other.type_name()))),
    }
}

fn arith(c: &mut Call, int_op: fn(i64, i64) -> Option<i64>, op: fn(f64, f64) -> f64) -> Result<V, EvalError> {
    let (a, b) = (num_arg(c, "left")?, num_arg(c, "right")?);
    Ok(match (&a, &b) {
        (V::Int(x), V::Int(y)) => int_op(*x, *y).map(V::Int).unwrap_or_else(|| V::Float(op(*x as f64, *y as f64))),
        _ => V::Float(op(a.num().unwrap_or(0.0), b.num().unwrap_or(0.0))),
    })
}

fn add(c: &mut Call) -> Result<V, EvalError> {
    arith(c, i64::checked_add, |a, b| a + b)
}
fn subtract(c: &mut Call) -> Result<V, EvalError> {
    arith(c, i64::checked_sub, |a, b| a - b)
}
fn multiply(c: &mut Call) -> Result<V, EvalError> {
    arith(c, i64::checked_mul, |a, b| a * b)
}
/// "Divides the first value by the second, returning 0 for division by 0" (integers divide as integers).
fn divide(c: &mut Call) -> Result<V, EvalError> {
    arith(c, |a, b| Some(if b == 0 { 0 } else { a / b }), |a, b| if b == 0.0 { 0.0 } else { a / b })
}
fn max(c: &mut Call) -> Result<V, EvalError> {
    arith(c, |a, b| Some(a.max(b)), f64::max)
}
fn min(c: &mut Call) -> Result<V, EvalError> {
    arith(c, |a, b| Some(a.min(b)), f64::min)
}
fn modulo(c: &mut Call) -> Result<V, EvalError> {
    arith(c, |a, b| a.checked_rem(b), |a, b| a % b)
}
fn pow(c: &mut Call) -> Result<V, EvalError> {
    let (a, b) = (c.f64("left")?, c.f64("right")?);
    Ok(V::Float(a.powf(b)))
}

fn compare(c: &mut Call, op: fn(f64, f64) -> bool) -> Result<V, EvalError> {
    let (a, b) = (c.f64("left")?, c.f64("right")?);
    Ok(V::Int(op(a, b) as i64))
}
fn eq(c: &mut Call) -> Result<V, EvalError> {
    compare(c, |a, b| a == b)
}
fn neq(c: &mut Call) -> Result<V, EvalError> {
    compare(c, |a, b| a != b)
}
fn lt(c: &mut Call) -> Result<V, EvalError> {
    compare(c, |a, b| a < b)
}
fn lte(c: &mut Call) -> Result<V, EvalError> {
    compare(c, |a, b| a <= b)
}
fn gt(c: &mut Call) -> Result<V, EvalError> {
    compare(c, |a, b| a > b)
}
fn gte(c: &mut Call) -> Result<V, EvalError> {
    compare(c, |a, b| a >= b)
}

fn unary_f(c: &mut Call, op: fn(f64) -> f64) -> Result<V, EvalError> {
    Ok(V::Float(op(c.f64("input")?)))
}
/// "Casts the input value to a signed 32-bit integer" (truncating, saturating).
fn to_int(c: &mut Call) -> Result<V, EvalError> {
    let x = c.f64("input")?;
    Ok(V::Int(x.trunc().clamp(i32::MIN as f64, i32::MAX as f64) as i64))
}
fn to_long(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Int(c.f64("input")?.trunc() as i64))
}
fn to_float(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, |x| x as f32 as f64)
}
fn to_double(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, |x| x)
}
fn abs(c: &mut Call) -> Result<V, EvalError> {
    match num_arg(c, "input")? {
        V::Int(i) => Ok(V::Int(i.abs())),
        v => Ok(V::Float(v.num().unwrap_or(0.0).abs())),
    }
}
/// "Computes the integer nearest to the input" (a double, like Java's Math.rint on doubles).
fn round(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, f64::round)
}
fn floor(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, f64::floor)
}
fn ceil(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, f64::ceil)
}
fn sqrt(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, f64::sqrt)
}
fn log(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, f64::ln)
}
fn log10(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, f64::log10)
}
fn exp(c: &mut Call) -> Result<V, EvalError> {
    unary_f(c, f64::exp)
}

/// Java's `Double.toString`: `3.0`, `0.25`, `1.0E-4`, `1.5E7`.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let a = x.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{x:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') { mant.to_string() } else { format!("{mant}.0") };
        format!("{mant}E{exp}")
    }
}

/// `Number.format{number, pattern}` (module doc): one `%[flags][width][.precision]conversion`.
pub fn format_number(v: &V, pattern: &str) -> Result<String, EvalError> {
    let bad = || EvalError::new(format!("Invalid format pattern '{pattern}'."));
    let start = pattern.find('%').ok_or_else(bad)?;
    let rest = &pattern[start + 1..];
    let conv_at = rest.find(|ch: char| "sdoxXeEfgGaA".contains(ch)).ok_or_else(bad)?;
    let spec = &rest[..conv_at];
    if !spec.chars().all(|ch| "#-+ 0,(.".contains(ch) || ch.is_ascii_digit()) {
        return Err(bad());
    }
    let conv = rest[conv_at..].chars().next().ok_or_else(bad)?;
    let (prefix, suffix) = (&pattern[..start], &rest[conv_at + conv.len_utf8()..]);
    if suffix.contains('%') {
        return Err(bad());
    }
    let left = spec.contains('-');
    let zero = spec.starts_with('0') || spec.contains("+0") || spec.contains(" 0");
    let plus = spec.contains('+');
    let digits = spec.trim_start_matches(['#', '-', '+', ' ', '0', ',', '(']);
    let (width, precision) = match digits.split_once('.') {
        Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok()),
        None => (digits.parse::<usize>().ok(), None),
    };
    let body = match (conv, v) {
        ('d', V::Int(i)) => format!("{}{i}", if plus && *i >= 0 { "+" } else { "" }),
        ('x', V::Int(i)) => format!("{i:x}"),
        ('X', V::Int(i)) => format!("{i:X}"),
        ('o', V::Int(i)) => format!("{i:o}"),
        ('d' | 'x' | 'X' | 'o', V::Float(_)) => {
            return Err(EvalError::new(format!("IllegalFormatConversionException: {conv} != java.lang.Double")))
        }
        ('s', V::Int(i)) => i.to_string(),
        ('s', V::Float(f)) => java_double(*f),
        ('f', _) => {
            let x = v.num().unwrap_or(0.0);
            format!("{}{x:.*}", if plus && x >= 0.0 { "+" } else { "" }, precision.unwrap_or(6))
        }
        ('e' | 'E', _) => {
            let s = format!("{:.*e}", precision.unwrap_or(6), v.num().unwrap_or(0.0));
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let e: i32 = e.parse().unwrap_or(0);
            let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
            if conv == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        ('g' | 'G' | 'a' | 'A', _) => {
            return Err(EvalError::new(format!("fake-ee does not implement the %{conv} conversion.")))
        }
        (_, other) => return Err(EvalError::new(format!("Cannot format a {}.", other.type_name()))),
    };
    let padded = match width {
        Some(w) if body.chars().count() < w => {
            let pad = w - body.chars().count();
            if left {
                format!("{body}{}", " ".repeat(pad))
            } else if zero && !matches!(conv, 's') {
                let (sign, digits) = if body.starts_with(['-', '+']) { body.split_at(1) } else { ("", body.as_str()) };
                format!("{sign}{}{digits}", "0".repeat(pad))
            } else {
                format!("{}{body}", " ".repeat(pad))
            }
        }
        _ => body,
    };
    Ok(format!("{prefix}{padded}{suffix}"))
}

fn format(c: &mut Call) -> Result<V, EvalError> {
    let n = num_arg(c, "number")?;
    let pattern = c.opt_string("pattern")?.unwrap_or_else(|| "%s".into());
    Ok(V::Str(format_number(&n, &pattern)?))
}

/// `Number.parse{input, radix}`.
fn parse(c: &mut Call) -> Result<V, EvalError> {
    let s = c.string("input")?;
    let radix = c.opt("radix").map(V::into_i64).transpose()?.unwrap_or(10);
    let t = s.trim();
    if radix == 10 {
        if let Ok(i) = t.parse::<i64>() {
            return Ok(V::Int(i));
        }
        return t
            .parse::<f64>()
            .map(V::Float)
            .map_err(|_| EvalError::new(format!("Unable to parse '{s}' as a number.")));
    }
    i64::from_str_radix(t, radix as u32)
        .map(V::Int)
        .map_err(|_| EvalError::new(format!("Unable to parse '{s}' in base {radix}.")))
}

// ---- String ----

/// `String{input}`: "Converts the input to a string."
fn string(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Str(match c.req("input")? {
        V::Str(s) => s,
        V::Int(i) => i.to_string(),
        V::Float(f) => java_double(f),
        other => other.to_json().to_string(),
    }))
}
fn s_cat(c: &mut Call) -> Result<V, EvalError> {
    let (a, b) = (c.string("string1")?, c.string("string2")?);
    Ok(V::Str(a + &b))
}
fn s_length(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Int(c.string("string")?.chars().count() as i64))
}
pub(super) fn index_of(len: usize, i: i64) -> usize {
    if i < 0 {
        len.saturating_sub(i.unsigned_abs() as usize)
    } else {
        (i as usize).min(len)
    }
}
fn s_slice(c: &mut Call) -> Result<V, EvalError> {
    let s: Vec<char> = c.string("string")?.chars().collect();
    let start = index_of(s.len(), c.req("start")?.into_i64()?);
    let end = c.opt("end").map(V::into_i64).transpose()?.map(|e| index_of(s.len(), e)).unwrap_or(s.len());
    Ok(V::Str(if start < end { s[start..end].iter().collect() } else { String::new() }))
}
/// `String.encodeJSON{object}`: "Encodes an object to JSON. Supports primitives, lists, and dictionaries."
fn encode_json(c: &mut Call) -> Result<V, EvalError> {
    let v = c.req_or_null("object");
    fn plain(v: &V) -> bool {
        match v {
            V::Null | V::Bool(_) | V::Int(_) | V::Float(_) | V::Str(_) => true,
            V::List(l) => l.iter().all(plain),
            V::Dict(d) => d.values().all(plain),
            _ => false,
        }
    }
    if !plain(&v) {
        return Err(EvalError::new(format!("Cannot encode a {} as JSON.", v.type_name())));
    }
    Ok(V::Str(v.to_json().to_string()))
}
fn decode_json(c: &mut Call) -> Result<V, EvalError> {
    let s = c.string("string")?;
    serde_json::from_str::<serde_json::Value>(&s)
        .map(|j| V::from_json(&j))
        .map_err(|e| EvalError::new(format!("Invalid JSON: {e}")))
}
fn s_equals(c: &mut Call) -> Result<V, EvalError> {
    let (a, b) = (c.string("reference")?, c.req_or_null("target"));
    Ok(V::Bool(matches!(b, V::Str(t) if t == a)))
}
fn regex(pattern: &str, flags: &str) -> Result<regex::Regex, EvalError> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .build()
        .map_err(|e| EvalError::new(format!("Invalid regular expression '{pattern}': {e}")))
}
fn s_replace(c: &mut Call) -> Result<V, EvalError> {
    let (s, re, rep) = (c.string("input")?, c.string("regex")?, c.string("replacement")?);
    let flags = c.opt_string("flags")?.unwrap_or_default();
    let r = regex(&re, &flags)?;
    Ok(V::Str(
        if flags.contains('g') { r.replace_all(&s, rep.as_str()) } else { r.replace(&s, rep.as_str()) }.into_owned(),
    ))
}
fn s_split(c: &mut Call) -> Result<V, EvalError> {
    let (s, re) = (c.string("string")?, c.string("regex")?);
    let flags = c.opt_string("flags")?.unwrap_or_default();
    let parts: Vec<V> = if re.is_empty() {
        s.chars().map(|ch| V::Str(ch.to_string())).collect()
    } else {
        regex(&re, &flags)?.split(&s).map(|p| V::Str(p.to_string())).collect()
    };
    Ok(V::List(parts))
}
fn s_lower(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Str(c.string("string")?.to_lowercase()))
}
fn s_upper(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Str(c.string("string")?.to_uppercase()))
}
fn s_trim(c: &mut Call) -> Result<V, EvalError> {
    Ok(V::Str(c.string("string")?.trim().to_string()))
}

impl Call<'_, '_> {
    /// An argument whose value may legitimately be `null` (absent counts as `null`).
    pub fn req_or_null(&mut self, name: &str) -> V {
        self.args.remove(name).unwrap_or(V::Null)
    }
}

/// Parses a date the way `Date{value}` documents: "'1996-01-01' or '1996-001' or '1996-01-01T08:00'"
/// (UTC), also with seconds and a trailing `Z`, or a year alone.
pub fn parse_date(s: &str) -> Result<i64, EvalError> {
    use time::{Date, Month, PrimitiveDateTime, Time};
    let bad = || EvalError::new(format!("Unable to parse date '{s}'."));
    let t = s.trim().trim_end_matches('Z');
    let (day, clock) = t.split_once('T').unwrap_or((t, ""));
    let parts: Vec<&str> = day.split('-').collect();
    let num = |x: &str| x.parse::<i32>().map_err(|_| bad());
    let date = match parts.as_slice() {
        [y] => Date::from_calendar_date(num(y)?, Month::January, 1).map_err(|_| bad())?,
        [y, doy] if doy.len() == 3 => Date::from_ordinal_date(num(y)?, num(doy)? as u16).map_err(|_| bad())?,
        [y, m] => Date::from_calendar_date(num(y)?, Month::try_from(num(m)? as u8).map_err(|_| bad())?, 1)
            .map_err(|_| bad())?,
        [y, m, d] => {
            Date::from_calendar_date(num(y)?, Month::try_from(num(m)? as u8).map_err(|_| bad())?, num(d)? as u8)
                .map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    let hms: Vec<&str> = if clock.is_empty() { Vec::new() } else { clock.split(':').collect() };
    let h = hms.first().map(|x| num(x)).transpose()?.unwrap_or(0);
    let mi = hms.get(1).map(|x| num(x)).transpose()?.unwrap_or(0);
    let sec: f64 = hms.get(2).map(|x| x.parse::<f64>().map_err(|_| bad())).transpose()?.unwrap_or(0.0);
    let time = Time::from_hms(h as u8, mi as u8, sec.trunc() as u8).map_err(|_| bad())?;
    let dt = PrimitiveDateTime::new(date, time).assume_utc();
    Ok((dt.unix_timestamp() * 1000) + (sec.fract() * 1000.0).round() as i64)
}

pub(super) const ALGORITHMS: &[(&str, Algo)] = &[
    ("Number.add", add),
    ("Number.subtract", subtract),
    ("Number.multiply", multiply),
    ("Number.divide", divide),
    ("Number.max", max),
    ("Number.min", min),
    ("Number.mod", modulo),
    ("Number.pow", pow),
    ("Number.eq", eq),
    ("Number.neq", neq),
    ("Number.lt", lt),
    ("Number.lte", lte),
    ("Number.gt", gt),
    ("Number.gte", gte),
    ("Number.toInt", to_int),
    ("Number.int", to_int),
    ("Number.toInt32", to_int),
    ("Number.int32", to_int),
    ("Number.toLong", to_long),
    ("Number.long", to_long),
    ("Number.toInt64", to_long),
    ("Number.int64", to_long),
    ("Number.toFloat", to_float),
    ("Number.float", to_float),
    ("Number.toDouble", to_double),
    ("Number.double", to_double),
    ("Number.abs", abs),
    ("Number.round", round),
    ("Number.floor", floor),
    ("Number.ceil", ceil),
    ("Number.sqrt", sqrt),
    ("Number.log", log),
    ("Number.log10", log10),
    ("Number.exp", exp),
    ("Number.format", format),
    ("Number.parse", parse),
    ("String", string),
    ("String.cat", s_cat),
    ("String.length", s_length),
    ("String.slice", s_slice),
    ("String.encodeJSON", encode_json),
    ("String.decodeJSON", decode_json),
    ("String.equals", s_equals),
    ("String.replace", s_replace),
    ("String.split", s_split),
    ("String.toLowerCase", s_lower),
    ("String.toUpperCase", s_upper),
    ("String.trim", s_trim),
];
