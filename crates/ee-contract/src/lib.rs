//! The Earth Engine contract, as data: the discovery-format REST schema and the 991 algorithm signatures
//! from `../shared/reference/`, and strict checks of JSON bodies and expressions against them.
//!
//! geepipe's tests use it to prove every request it builds fits the API, and the fake Earth Engine uses
//! it to refuse what the real service would refuse (400 INVALID_ARGUMENT). Strictness choices:
//! unknown fields are errors; `int64` fields must be decimal strings (proto3 JSON as documented);
//! `int32`/`double` must be bare JSON numbers (the Python client's `{"value": …}` wrappers are refused
//! because the documented form is bare); at most one field of each `oneof`; export requests need an
//! `expression` and exactly one `*ExportOptions`; every `functionInvocationValue` names a known algorithm
//! with only its argument names and all of its required ones.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;

/// One algorithm's signature.
#[derive(Debug, Clone)]
pub struct Signature {
    pub name: String,
    /// Argument names in order, with whether each is optional.
    pub arguments: Vec<(String, bool)>,
    pub return_type: String,
}

/// The loaded reference: REST schemas, methods and algorithm signatures.
#[derive(Debug, Clone)]
pub struct Contract {
    schemas: BTreeMap<String, Value>,
    /// method id → (HTTP method, path template, request schema id)
    methods: BTreeMap<String, (String, String, Option<String>)>,
    algorithms: HashMap<String, Signature>,
}

/// A violation: where (a JSON-pointer-like path into the body) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", if self.path.is_empty() { "/" } else { &self.path }, self.message)
    }
}

impl Contract {
    /// Loads `earthengine.v1.discovery.reconstructed.json` and `ee-algorithms.json` from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Contract, String> {
        let read = |name: &str| -> Result<Value, String> {
            let p = dir.join(name);
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
        };
        let discovery = read("earthengine.v1.discovery.reconstructed.json")?;
        let algorithms = read("ee-algorithms.json")?;
        Contract::from_values(&discovery, &algorithms)
    }

    /// Builds the contract from the two parsed documents.
    pub fn from_values(discovery: &Value, algorithms: &Value) -> Result<Contract, String> {
        let schemas: BTreeMap<String, Value> = discovery
            .get("schemas")
            .and_then(Value::as_object)
            .ok_or("discovery document has no schemas")?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut methods = BTreeMap::new();
        fn walk(node: &Value, out: &mut BTreeMap<String, (String, String, Option<String>)>) {
            if let Some(ms) = node.get("methods").and_then(Value::as_object) {
                for m in ms.values() {
                    let id = m.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                    let http = m.get("httpMethod").and_then(Value::as_str).unwrap_or_default().to_string();
                    let path = m.get("path").and_then(Value::as_str).unwrap_or_default().to_string();
                    let req = m.pointer("/request/$ref").and_then(Value::as_str).map(str::to_string);
                    out.insert(id, (http, path, req));
                }
            }
            if let Some(rs) = node.get("resources").and_then(Value::as_object) {
                for r in rs.values() {
                    walk(r, out);
                }
            }
        }
        walk(discovery, &mut methods);
        let mut algs = HashMap::new();
        for a in algorithms.get("algorithms").and_then(Value::as_array).ok_or("no algorithms list")? {
            let full = a.get("name").and_then(Value::as_str).unwrap_or_default();
            let name = full.strip_prefix("algorithms/").unwrap_or(full).to_string();
            let arguments = a
                .get("arguments")
                .and_then(Value::as_array)
                .map(|args| {
                    args.iter()
                        .map(|arg| {
                            (
                                arg.get("argumentName").and_then(Value::as_str).unwrap_or_default().to_string(),
                                arg.get("optional").and_then(Value::as_bool).unwrap_or(false),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let return_type = a.get("returnType").and_then(Value::as_str).unwrap_or_default().to_string();
            algs.insert(name.clone(), Signature { name, arguments, return_type });
        }
        Ok(Contract { schemas, methods, algorithms: algs })
    }

    /// The signature of an algorithm (`Image.load`), if it exists.
    pub fn algorithm(&self, name: &str) -> Option<&Signature> {
        self.algorithms.get(name)
    }

    /// All algorithm signatures.
    pub fn algorithms(&self) -> impl Iterator<Item = &Signature> {
        self.algorithms.values()
    }

    /// HTTP method, path template and request schema of a method id (`earthengine.projects.table.export`).
    pub fn method(&self, id: &str) -> Option<(&str, &str, Option<&str>)> {
        self.methods.get(id).map(|(m, p, r)| (m.as_str(), p.as_str(), r.as_deref()))
    }

    /// The enum values a schema field allows (`("TableFileExportOptions", "fileFormat")`).
    pub fn enum_values(&self, schema: &str, field: &str) -> Vec<String> {
        self.schemas
            .get(schema)
            .and_then(|s| s.pointer(&format!("/properties/{field}/enum")))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// Checks the body of a request to method `method_id` (e.g. `earthengine.projects.table.export`).
    pub fn check_request(&self, method_id: &str, body: &Value) -> Vec<Violation> {
        let Some((_, _, Some(schema))) = self.method(method_id) else {
            return vec![Violation {
                path: String::new(),
                message: format!("unknown method or no request body: {method_id}"),
            }];
        };
        let mut out = self.check_schema(schema, body);
        if method_id.ends_with(".export") {
            match body.get("expression") {
                None => out.push(Violation { path: "/expression".into(), message: "required field missing".into() }),
                Some(e) => out.extend(
                    self.check_expression(e)
                        .into_iter()
                        .map(|v| Violation { path: format!("/expression{}", v.path), message: v.message }),
                ),
            }
            let options: Vec<&str> = body
                .as_object()
                .map(|o| o.keys().filter(|k| k.ends_with("ExportOptions")).map(String::as_str).collect())
                .unwrap_or_default();
            if options.len() != 1 {
                out.push(Violation {
                    path: String::new(),
                    message: format!("an export needs exactly one *ExportOptions field, found {options:?}"),
                });
            }
            if let Some(id) = body.get("requestId").and_then(Value::as_str) {
                if id.is_empty() || id.len() > 60 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    out.push(Violation {
                        path: "/requestId".into(),
                        message: format!("requestId `{id}` must be 1-60 characters of [a-zA-Z0-9-]"),
                    });
                }
            }
            if let Some(p) = body.get("priority").and_then(Value::as_i64) {
                if !(0..=9999).contains(&p) {
                    out.push(Violation { path: "/priority".into(), message: format!("priority {p} outside 0..9999") });
                }
            }
        }
        out
    }

    /// Checks `value` against the discovery schema named `schema` (e.g. `Operation`).
    pub fn check_schema(&self, schema: &str, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.check_ref(schema, value, "", &mut out);
        out
    }

    fn check_ref(&self, schema: &str, value: &Value, path: &str, out: &mut Vec<Violation>) {
        match self.schemas.get(schema) {
            Some(s) => self.check_node(s, value, path, out),
            None => {
                out.push(Violation { path: path.into(), message: format!("schema {schema} is not in the contract") })
            }
        }
    }

    fn check_node(&self, s: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            return self.check_ref(r, value, path, out);
        }
        let ty = s.get("type").and_then(Value::as_str).unwrap_or("any");
        let format = s.get("format").and_then(Value::as_str);
        let bad = |out: &mut Vec<Violation>, what: &str| {
            out.push(Violation { path: path.into(), message: format!("expected {what}, found {}", kind(value)) })
        };
        match ty {
            "any" => {}
            "string" => match value.as_str() {
                None => bad(out, "a string"),
                Some(text) => {
                    if let Some(e) = s.get("enum").and_then(Value::as_array) {
                        if !e.iter().any(|v| v.as_str() == Some(text)) {
                            let allowed: Vec<&str> = e.iter().filter_map(Value::as_str).collect();
                            out.push(Violation {
                                path: path.into(),
                                message: format!("`{text}` is not one of {}", allowed.join(", ")),
                            });
                        }
                    }
                    let ok = match format {
                        Some("int64") => {
                            let t = text.strip_prefix('-').unwrap_or(text);
                            !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
                        }
                        Some("google-duration") => text.strip_suffix('s').is_some_and(|n| n.parse::<f64>().is_ok()),
                        Some("google-datetime") => text.len() >= 20 && text.as_bytes().get(10) == Some(&b'T'),
                        _ => true,
                    };
                    if !ok {
                        out.push(Violation {
                            path: path.into(),
                            message: format!("`{text}` is not a valid {}", format.unwrap_or("value")),
                        });
                    }
                }
            },
            "integer" => match format {
                // Discovery documents mark int64 as strings; tolerate a schema that says integer+int64.
                Some("int64") if value.is_string() => {
                    self.check_node(&serde_json::json!({"type":"string","format":"int64"}), value, path, out)
                }
                _ => match value.as_i64() {
                    Some(n) if format != Some("int32") || (i32::MIN as i64..=i32::MAX as i64).contains(&n) => {}
                    Some(_) => bad(out, "a 32-bit integer"),
                    None => bad(out, "an integer"),
                },
            },
            "number" => {
                if !value.is_number() {
                    bad(out, "a number")
                }
            }
            "boolean" => {
                if !value.is_boolean() {
                    bad(out, "true or false")
                }
            }
            "array" => match value.as_array() {
                None => bad(out, "an array"),
                Some(items) => {
                    if let Some(item_schema) = s.get("items") {
                        for (i, item) in items.iter().enumerate() {
                            self.check_node(item_schema, item, &format!("{path}/{i}"), out);
                        }
                    }
                }
            },
            "object" => match value.as_object() {
                None => bad(out, "an object"),
                Some(obj) => {
                    let props = s.get("properties").and_then(Value::as_object);
                    let extra = s.get("additionalProperties");
                    let mut oneofs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                    for (k, v) in obj {
                        let child = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                        if let Some(ps) = props.and_then(|p| p.get(k)) {
                            if let Some(group) = ps.get("x-oneof").and_then(Value::as_str) {
                                oneofs.entry(group).or_default().push(k);
                            }
                            self.check_node(ps, v, &child, out);
                        } else if let Some(extra) = extra {
                            self.check_node(extra, v, &child, out);
                        } else {
                            let known: Vec<&str> =
                                props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                            out.push(Violation {
                                path: child,
                                message: format!("unknown field `{k}` (known: {})", known.join(", ")),
                            });
                        }
                    }
                    for (group, members) in oneofs {
                        if members.len() > 1 {
                            out.push(Violation {
                                path: path.into(),
                                message: format!("fields {members:?} are alternatives (oneof {group}); send one"),
                            });
                        }
                    }
                }
            },
            other => out
                .push(Violation { path: path.into(), message: format!("schema type {other} unknown to the checker") }),
        }
    }

    /// Checks an `Expression` (`{values, result}`): graph shape, references, and every function
    /// invocation against the algorithm signatures.
    pub fn check_expression(&self, expr: &Value) -> Vec<Violation> {
        let mut out = self.check_schema("Expression", expr);
        let Some(values) = expr.get("values").and_then(Value::as_object) else {
            out.push(Violation { path: "/values".into(), message: "an expression needs `values`".into() });
            return out;
        };
        let Some(result) = expr.get("result").and_then(Value::as_str) else {
            out.push(Violation { path: "/result".into(), message: "an expression needs `result`".into() });
            return out;
        };
        if !values.contains_key(result) {
            out.push(Violation {
                path: "/result".into(),
                message: format!("result `{result}` is not a key of values"),
            });
            return out;
        }
        let mut walker = Walker { contract: self, values, out: &mut out, done: BTreeSet::new(), stack: Vec::new() };
        walker.reference(result, &[], "/result");
        let unused: Vec<&String> = values.keys().filter(|k| !walker.done.iter().any(|(d, _)| d == *k)).collect();
        if !unused.is_empty() {
            out.push(Violation {
                path: "/values".into(),
                message: format!("values never used from result: {unused:?}"),
            });
        }
        out
    }
}

struct Walker<'a> {
    contract: &'a Contract,
    values: &'a serde_json::Map<String, Value>,
    out: &'a mut Vec<Violation>,
    /// (key, scope) pairs already checked.
    done: BTreeSet<(String, Vec<String>)>,
    /// keys being checked (cycle detection).
    stack: Vec<String>,
}

impl Walker<'_> {
    fn reference(&mut self, key: &str, scope: &[String], from: &str) {
        let Some(node) = self.values.get(key) else {
            self.out.push(Violation { path: from.into(), message: format!("reference to missing value `{key}`") });
            return;
        };
        if self.stack.iter().any(|k| k == key) {
            self.out.push(Violation { path: from.into(), message: format!("cycle through value `{key}`") });
            return;
        }
        if !self.done.insert((key.to_string(), scope.to_vec())) {
            return;
        }
        self.stack.push(key.to_string());
        self.node(node, scope, &format!("/values/{key}"));
        self.stack.pop();
    }

    fn node(&mut self, node: &Value, scope: &[String], path: &str) {
        let Some(obj) = node.as_object() else {
            self.out.push(Violation { path: path.into(), message: "a value node must be an object".into() });
            return;
        };
        if obj.len() != 1 {
            let keys: Vec<&String> = obj.keys().collect();
            self.out.push(Violation {
                path: path.into(),
                message: format!("a value node has exactly one field, found {keys:?}"),
            });
            return;
        }
        let (kind, v) = obj.iter().next().expect("one field");
        let sub = format!("{path}/{kind}");
        match kind.as_str() {
            "constantValue" | "bytesValue" => {}
            "integerValue" => {
                if !v.as_str().is_some_and(|s| s.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit())) {
                    self.out.push(Violation { path: sub, message: "integerValue must be a decimal string".into() });
                }
            }
            "valueReference" => match v.as_str() {
                Some(k) => self.reference(k, scope, &sub),
                None => self.out.push(Violation { path: sub, message: "valueReference must be a string".into() }),
            },
            "argumentReference" => {
                let name = v.as_str().unwrap_or_default();
                if !scope.iter().any(|s| s == name) {
                    self.out.push(Violation {
                        path: sub,
                        message: format!("argumentReference `{name}` is not an argument of an enclosing function"),
                    });
                }
            }
            "arrayValue" => {
                for (i, item) in v.get("values").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    self.node(item, scope, &format!("{sub}/values/{i}"));
                }
            }
            "dictionaryValue" => {
                for (k, item) in v.get("values").and_then(Value::as_object).into_iter().flatten() {
                    self.node(item, scope, &format!("{sub}/values/{k}"));
                }
            }
            "functionDefinitionValue" => {
                let mut inner: Vec<String> = scope.to_vec();
                for a in v.get("argumentNames").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(a) = a.as_str() {
                        inner.push(a.to_string());
                    }
                }
                match v.get("body").and_then(Value::as_str) {
                    Some(body) => self.reference(body, &inner, &format!("{sub}/body")),
                    None => {
                        self.out.push(Violation { path: sub, message: "a function definition needs a body".into() })
                    }
                }
            }
            "functionInvocationValue" => self.invocation(v, scope, &sub),
            other => self.out.push(Violation { path: sub, message: format!("unknown value node kind `{other}`") }),
        }
    }

    fn invocation(&mut self, v: &Value, scope: &[String], path: &str) {
        let args = v.get("arguments").and_then(Value::as_object);
        for (k, a) in args.into_iter().flatten() {
            self.node(a, scope, &format!("{path}/arguments/{k}"));
        }
        match (v.get("functionName").and_then(Value::as_str), v.get("functionReference").and_then(Value::as_str)) {
            (Some(name), None) => {
                let Some(sig) = self.contract.algorithm(name) else {
                    self.out.push(Violation {
                        path: format!("{path}/functionName"),
                        message: format!("unknown algorithm `{name}`"),
                    });
                    return;
                };
                for k in args.into_iter().flatten().map(|(k, _)| k) {
                    if !sig.arguments.iter().any(|(n, _)| n == k) {
                        let names: Vec<&str> = sig.arguments.iter().map(|(n, _)| n.as_str()).collect();
                        self.out.push(Violation {
                            path: format!("{path}/arguments/{k}"),
                            message: format!("`{name}` has no argument `{k}` (its arguments: {})", names.join(", ")),
                        });
                    }
                }
                for (n, optional) in &sig.arguments {
                    if !optional && !args.is_some_and(|a| a.contains_key(n)) {
                        self.out.push(Violation {
                            path: format!("{path}/arguments"),
                            message: format!("`{name}` needs its argument `{n}`"),
                        });
                    }
                }
            }
            (None, Some(r)) => {
                if !scope.iter().any(|s| s == r) {
                    self.reference(r, scope, &format!("{path}/functionReference"));
                }
            }
            _ => self.out.push(Violation {
                path: path.into(),
                message: "a function invocation names exactly one of functionName and functionReference".into(),
            }),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
