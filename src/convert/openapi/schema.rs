//! Values a service accepts, from the JSON Schemas of an OpenAPI document: each a template a
//! scenario sends (`"{{ random_int(1, 100) }}"`, `"{{ uuid() }}"`), so that every request
//! differs, or the schema's own example when it gives one.
//!
//! `$ref`s are followed within the document (`#/components/...`); a schema that refers to
//! itself is cut at `MAX_DEPTH` (an optional property is left out there, a required one is
//! the simplest value of its type), never followed forever. Depends on nothing in the
//! crate.

use serde_json::{Map, Value, json};

use super::clean::literal;

/// How deep a sample goes into nested (or recursive) schemas.
pub const MAX_DEPTH: usize = 6;

/// How many `$ref`s one schema may go through before it is taken as a loop.
const MAX_HOPS: usize = 32;

/// Follows `schema`'s `$ref` (and a chain of them) in `doc`; the schema itself when it has
/// none, `Value::Null` when a reference leads nowhere or loops.
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut at = schema;
    for _ in 0..MAX_HOPS {
        let Some(target) = at.get("$ref").and_then(Value::as_str) else {
            return at;
        };
        let found = target
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(&pointer.replace("~1", "/").replace("~0", "~")));
        match found {
            Some(next) => at = next,
            None => return &Value::Null,
        }
    }
    &Value::Null
}

/// A value for `schema`: its example first, else one made from its type, format, enum and
/// bounds. `depth` counts the levels above it.
pub fn sample(doc: &Value, schema: &Value, depth: usize) -> Value {
    let s = resolve(doc, schema);
    // Branches (anyOf, allOf) count as levels too: a schema whose branch refers back to it
    // ends here.
    if depth > 2 * MAX_DEPTH {
        return simplest(s);
    }
    // The document's own values, unless they would read as templates.
    if let Some(example) = example(s).filter(literal) {
        return example;
    }
    let first =
        (s.get("enum").and_then(Value::as_array)).and_then(|e| e.iter().find(|v| literal(v)));
    if let Some(first) = first {
        return first.clone();
    }
    if let Some(constant) = s.get("const").filter(|c| literal(c)) {
        return constant.clone();
    }
    // anyOf / oneOf: the first branch that is not null (FastAPI's `Optional[X]` is anyOf
    // with null); allOf: every branch's properties together.
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            let branch = branches
                .iter()
                .find(|b| type_of(resolve(doc, b)) != Some("null"))
                .or(branches.first());
            return branch.map_or(Value::Null, |b| sample(doc, b, depth + 1));
        }
    }
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        let mut all = Map::new();
        for part in parts {
            match sample(doc, part, depth + 1) {
                Value::Object(o) => all.extend(o),
                other if parts.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(all);
    }
    match type_of(s) {
        Some("integer") => integer(s),
        Some("number") => number(s),
        Some("boolean") => Value::Bool(true),
        Some("null") => Value::Null,
        Some("array") => array(doc, s, depth),
        Some("object") => object(doc, s, depth),
        Some("string") => string(s),
        _ if s.get("properties").is_some() => object(doc, s, depth),
        _ => string(s),
    }
}

/// The properties an object schema has, its `allOf` branches' included (and a `$ref`'s,
/// and the first non-null branch of an `anyOf` or `oneOf`), by name.
pub fn properties(doc: &Value, schema: &Value) -> Map<String, Value> {
    fn walk(doc: &Value, s: &Value, out: &mut Map<String, Value>, depth: usize) {
        let s = resolve(doc, s);
        if depth > MAX_DEPTH {
            return;
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            out.extend(props.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(doc, part, out, depth + 1);
        }
        for key in ["anyOf", "oneOf"] {
            let branches = s.get(key).and_then(Value::as_array);
            let first =
                branches.and_then(|b| b.iter().find(|b| type_of(resolve(doc, b)) != Some("null")));
            if let Some(branch) = first {
                walk(doc, branch, out, depth + 1);
            }
        }
    }
    let mut out = Map::new();
    walk(doc, schema, &mut out, 0);
    out
}

/// The schema's type: `type`, or the first of a list of types that is not null (3.1).
pub fn type_of(s: &Value) -> Option<&str> {
    match s.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(types)) => {
            let mut names = types.iter().filter_map(Value::as_str);
            let first = names.clone().next();
            names.find(|t| *t != "null").or(first)
        }
        _ if s.get("nullable").is_some() && s.get("properties").is_none() => None,
        _ => None,
    }
}

/// `example`, or the first of `examples` (3.1 lists them; 3.0 keys them with `value`).
fn example(s: &Value) -> Option<Value> {
    if let Some(e) = s.get("example") {
        return Some(e.clone());
    }
    match s.get("examples")? {
        Value::Array(list) => list.first().cloned(),
        Value::Object(named) => named
            .values()
            .next()
            .map(|e| e.get("value").unwrap_or(e).clone()),
        _ => None,
    }
}

/// A bound of the schema (`minimum`, or 3.0's `exclusiveMinimum: true` beside it, or 3.1's
/// numeric `exclusiveMinimum`).
fn bound(s: &Value, name: &str, exclusive: &str, step: f64) -> Option<f64> {
    match (s.get(name).and_then(Value::as_f64), s.get(exclusive)) {
        (_, Some(Value::Number(n))) => n.as_f64().map(|v| v + step),
        (Some(v), Some(Value::Bool(true))) => Some(v + step),
        (v, _) => v,
    }
}

fn integer(s: &Value) -> Value {
    let low = bound(s, "minimum", "exclusiveMinimum", 1.0).map_or(1, |v| v.ceil() as i64);
    let high = bound(s, "maximum", "exclusiveMaximum", -1.0)
        .map_or(low.max(0) + 999, |v| v.floor() as i64);
    let (low, high) = if low <= high { (low, high) } else { (low, low) };
    Value::String(format!("{{{{ random_int({low}, {high}) }}}}"))
}

fn number(s: &Value) -> Value {
    let low = bound(s, "minimum", "exclusiveMinimum", 0.01).unwrap_or(0.0);
    let high = bound(s, "maximum", "exclusiveMaximum", -0.01).unwrap_or(low + 100.0);
    let high = if high < low { low } else { high };
    Value::String(format!("{{{{ random_float({low}, {high}) }}}}"))
}

fn array(doc: &Value, s: &Value, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return json!([]);
    }
    let items = s.get("items").unwrap_or(&Value::Null);
    let n = s
        .get("minItems")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 3);
    Value::Array((0..n).map(|_| sample(doc, items, depth + 1)).collect())
}

/// Its required properties (every property when it names none, to a depth); past
/// `MAX_DEPTH` only the required ones, as the simplest value of their type.
fn object(doc: &Value, s: &Value, depth: usize) -> Value {
    let props = s.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = (s.get("required").and_then(Value::as_array))
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    let Some(props) = props else {
        return Value::Object(out);
    };
    for (name, prop) in props {
        if !literal(&Value::String(name.clone())) {
            continue;
        }
        let needed = required.contains(&name.as_str());
        if !needed && (!required.is_empty() || depth >= 2) {
            continue; // an optional field: a request without it is a valid one
        }
        let resolved = resolve(doc, prop);
        if resolved.get("readOnly") == Some(&Value::Bool(true)) {
            continue; // the server's to set (an id, a creation time)
        }
        let value = if depth >= MAX_DEPTH {
            simplest(resolved)
        } else {
            sample(doc, prop, depth + 1)
        };
        out.insert(name.clone(), value);
    }
    Value::Object(out)
}

/// The simplest value of a schema's type, where a recursive schema is cut.
fn simplest(s: &Value) -> Value {
    match type_of(s) {
        Some("integer" | "number") => json!(0),
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        Some("object") => json!({}),
        Some("string") => json!(""),
        _ => Value::Null,
    }
}

/// A string as its `format` and bounds ask.
fn string(s: &Value) -> Value {
    let text = match s.get("format").and_then(Value::as_str) {
        Some("email") => "{{ random_email() }}".to_string(),
        Some("uuid") => "{{ uuid() }}".to_string(),
        Some("date-time") => "{{ now_iso() }}".to_string(),
        Some("date") => "2024-0{{ random_int(1, 9) }}-1{{ random_int(0, 9) }}".to_string(),
        Some("uri" | "url") => "https://example.com/{{ random_string(8) }}".to_string(),
        Some("hostname") => "host-{{ random_string(6) }}.example.com".to_string(),
        Some("ipv4") => "10.0.{{ random_int(0, 255) }}.{{ random_int(1, 254) }}".to_string(),
        Some("password") => "{{ random_string(12) }}".to_string(),
        _ => match simple_pattern(s) {
            Some(text) => text,
            None => {
                let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(1);
                let max = s.get("maxLength").and_then(Value::as_u64).unwrap_or(12);
                let n = 8u64.clamp(min.max(1), max.max(1)).min(4096);
                format!("{{{{ random_string({n}) }}}}")
            }
        },
    };
    Value::String(text)
}

/// A value for a simple `pattern`: an anchored run of one character class with a count,
/// such as `^[0-9]{5}$` or `^[A-Z]{3}$`; `None` for anything else (left to the lengths).
fn simple_pattern(s: &Value) -> Option<String> {
    let p = s.get("pattern")?.as_str()?;
    let inner = p.strip_prefix('^')?.strip_suffix('$')?;
    let (class, count) = inner.split_once('{')?;
    let n: usize = count
        .strip_suffix('}')?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()?;
    if n == 0 || n > 64 {
        return None;
    }
    let digit = match class {
        "[0-9]" | "\\d" => "{{ random_int(0, 9) }}",
        "[a-z]" => "{{ random_choice(a, b, c, d, e, f, g, h) }}",
        "[A-Z]" => "{{ random_choice(A, B, C, D, E, F, G, H) }}",
        _ => return None,
    };
    Some(digit.repeat(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_types_formats_bounds_and_examples() {
        let doc = json!({});
        let s = |schema: Value| sample(&doc, &schema, 0);
        assert_eq!(
            s(json!({"type": "integer", "minimum": 1, "maximum": 10})),
            json!("{{ random_int(1, 10) }}")
        );
        assert_eq!(
            s(json!({"type": "string", "format": "email"})),
            json!("{{ random_email() }}")
        );
        assert_eq!(s(json!({"type": "string", "enum": ["a", "b"]})), json!("a"));
        assert_eq!(s(json!({"type": "string", "example": "Ada"})), json!("Ada"));
        assert_eq!(
            s(json!({"type": "string", "pattern": "^[0-9]{3}$"})),
            json!("{{ random_int(0, 9) }}{{ random_int(0, 9) }}{{ random_int(0, 9) }}")
        );
        assert_eq!(
            s(json!({"anyOf": [{"type": "null"}, {"type": "boolean"}]})),
            json!(true)
        );
        assert_eq!(
            s(json!({"type": ["string", "null"], "maxLength": 4})),
            json!("{{ random_string(4) }}")
        );
        let object = json!({"type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "note": {"type": "string"},
                           "id": {"type": "integer", "readOnly": true}}});
        assert_eq!(s(object), json!({"name": "{{ random_string(8) }}"}));
    }

    #[test]
    fn references_are_followed_and_a_recursive_schema_is_cut() {
        let doc = json!({"components": {"schemas": {
            "Node": {"type": "object", "required": ["name", "child"],
                     "properties": {"name": {"type": "string"}, "child": {"$ref": "#/components/schemas/Node"}}},
            "Loop": {"$ref": "#/components/schemas/Loop"}
        }}});
        let node = sample(&doc, &json!({"$ref": "#/components/schemas/Node"}), 0);
        let mut depth = 0;
        let mut at = &node;
        while let Some(child) = at.get("child") {
            depth += 1;
            at = child;
        }
        // MAX_DEPTH levels sampled, then the cut: the simplest object.
        assert_eq!(depth, MAX_DEPTH + 1, "{node}");
        assert_eq!(at, &json!({}));
        assert_eq!(
            sample(&doc, &json!({"$ref": "#/components/schemas/Loop"}), 0),
            json!("{{ random_string(8) }}")
        );
        assert_eq!(resolve(&doc, &json!({"$ref": "#/nowhere"})), &Value::Null);
    }
}
