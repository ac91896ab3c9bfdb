//! The operations of an OpenAPI document as steps: each with its request made from the
//! document's parameters and body schema, its expected status, and, for an operation that
//! creates a resource, what later steps need of its answer (its `id`, or its `Location`).
//! Depends on `schema` and `yaml` (the step a scenario file holds).

use serde_json::{Map, Value};

use super::clean;
use super::schema::{resolve, sample};
use crate::convert::yaml::Step;

/// The HTTP methods an OpenAPI path item may hold, in the order a person reads them.
pub const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: String,
    pub path: String,
    /// `operationId`, when the document gives one.
    pub id: Option<String>,
    pub tags: Vec<String>,
    /// The operation's object, resolved.
    pub spec: Value,
    /// The path item's own parameters, which every operation of the path shares.
    pub shared_params: Vec<Value>,
    /// Whether a security requirement applies to it.
    pub secured: bool,
}

impl Operation {
    /// The step's name: its `operationId`, else `METHOD path`.
    pub fn name(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.method.to_uppercase(), self.path))
    }

    /// The path without its last `{parameter}` segment, when it ends with one:
    /// `/users/{id}` → (`/users`, `id`). An item of the collection at that path.
    pub fn item_of(&self) -> Option<(&str, &str)> {
        let (collection, last) = self.path.rsplit_once('/')?;
        let name = last.strip_prefix('{')?.strip_suffix('}')?;
        Some((collection, name))
    }

    /// What it creates, when it is a POST to a collection whose success answer has an `id`
    /// (or a `Location` header): how a later step reads it.
    pub fn creates(&self, doc: &Value) -> Option<Created> {
        if self.method != "post" || self.item_of().is_some() {
            return None;
        }
        let responses = self.spec.get("responses")?.as_object()?;
        let (_, answer) = responses
            .iter()
            .find(|(code, _)| code.starts_with('2') || code.eq_ignore_ascii_case("2XX"))?;
        let answer = resolve(doc, answer);
        if let Some(schema) = answer.pointer("/content/application~1json/schema") {
            let props = super::schema::properties(doc, schema);
            for field in ["id", "uuid", "key"] {
                if props.contains_key(field) {
                    return Some(Created::Field(field.to_string()));
                }
            }
        }
        let headers = answer.get("headers").and_then(Value::as_object);
        if headers.is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("location"))) {
            return Some(Created::Location);
        }
        None
    }

    /// Its expected statuses, from the document's responses: the first 2xx code (`2XX`
    /// read as the class); none when it lists no success (any status below 400 then).
    pub fn expected(&self) -> Option<String> {
        let responses = self.spec.get("responses")?.as_object()?;
        let mut codes: Vec<&String> = responses.keys().collect();
        codes.sort();
        codes
            .into_iter()
            .find_map(|code| match code.to_ascii_lowercase().as_str() {
                c if c.len() == 3
                    && c.starts_with('2')
                    && c.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Some(c.to_string())
                }
                "2xx" => Some("2xx".into()),
                _ => None,
            })
    }

    /// Every parameter of the operation (its own over the path item's, by name and place).
    fn params<'a>(&'a self, doc: &'a Value) -> Vec<&'a Value> {
        let own: Vec<&Value> = (self.spec.get("parameters").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .map(|p| resolve(doc, p))
            .collect();
        let key = |p: &Value| {
            (
                p["name"].as_str().map(str::to_string),
                p["in"].as_str().map(str::to_string),
            )
        };
        let mut all = own.clone();
        for shared in self.shared_params.iter().map(|p| resolve(doc, p)) {
            if !own.iter().any(|o| key(o) == key(shared)) {
                all.push(shared);
            }
        }
        all
    }

    /// The step that sends it. `ids` are the values earlier steps of the flow extracted, as
    /// (collection path, variable): an item of such a collection takes that variable.
    pub fn step(&self, doc: &Value, ids: &[(String, Created, String)]) -> Step {
        let mut url = self.path.clone();
        let mut query = Map::new();
        let mut headers = Vec::new();
        let chained = self.item_of().and_then(|(collection, name)| {
            // FastAPI's collections often end in a slash (`/items/`), their items not.
            let same = |c: &String| c.trim_end_matches('/') == collection.trim_end_matches('/');
            let (_, created, var) = ids.iter().find(|(c, _, _)| same(c))?;
            Some((name.to_string(), created.clone(), var.clone()))
        });
        for p in self.params(doc) {
            let (Some(name), Some(place)) = (p["name"].as_str(), p["in"].as_str()) else {
                continue;
            };
            let required = p["required"].as_bool().unwrap_or(place == "path");
            let schema = p.get("schema").unwrap_or(&Value::Null);
            let value = match &chained {
                Some((param, _, var)) if param == name && place == "path" => {
                    Value::String(format!("{{{{ {var} }}}}"))
                }
                _ => {
                    (example_of(p).filter(clean::literal)).unwrap_or_else(|| sample(doc, schema, 1))
                }
            };
            match place {
                "path" => {
                    url = url.replace(&format!("{{{name}}}"), &clean::segment(&text_of(&value)));
                }
                "query" if required && clean::literal(&Value::String(name.to_string())) => {
                    // A query value is one scalar: a list or an object goes as its JSON text.
                    let scalar = match value {
                        Value::Null => continue,
                        Value::Array(_) | Value::Object(_) => Value::String(value.to_string()),
                        scalar => scalar,
                    };
                    query.insert(name.to_string(), scalar);
                }
                "header" if required => {
                    if let Some(name) = clean::header(name) {
                        headers.push((name, text_of(&value)));
                    }
                }
                _ => {}
            }
        }
        fill_undeclared(&mut url);
        let fallback = format!("{} {}", self.method.to_uppercase(), self.path);
        let mut step = Step::new(clean::name(&self.name(), &fallback), &self.method, url);
        let id = self
            .id
            .as_ref()
            .map_or(String::new(), |id| format!("{id}: "));
        step.comment = clean::name(&format!("{id}{fallback}"), &fallback);
        step.query = query;
        step.headers = headers;
        self.body(doc, &mut step);
        step.status = self.expected();
        step
    }

    /// The request body from the document's `requestBody`: JSON, or a form.
    fn body(&self, doc: &Value, step: &mut Step) {
        let Some(body) = self.spec.get("requestBody").map(|b| resolve(doc, b)) else {
            return;
        };
        let content = body.get("content");
        if let Some(schema) = content.and_then(|c| c.pointer("/application~1json/schema")) {
            step.json = Some(sample(doc, schema, 0));
        } else if let Some(schema) =
            content.and_then(|c| c.pointer("/application~1x-www-form-urlencoded/schema"))
            && let Value::Object(fields) = sample(doc, schema, 0)
        {
            step.form = (fields.into_iter())
                .filter(|(k, _)| clean::literal(&Value::String(k.clone())))
                .map(|(k, v)| (k, text_of(&v)))
                .collect();
        }
    }
}

/// A `{param}` the document does not declare still gets a value (a template's own `{{ }}`
/// are left alone).
fn fill_undeclared(url: &mut String) {
    let mut from = 0;
    while let Some(open) = url[from..].find('{').map(|i| i + from) {
        let Some(close) = url[open..].find('}').map(|i| i + open) else {
            break;
        };
        if url[open..].starts_with("{{") {
            from = url[open..].find("}}").map_or(url.len(), |i| open + i + 2);
            continue;
        }
        let value = "{{ random_int(1, 1000) }}";
        url.replace_range(open..=close, value);
        from = open + value.len();
    }
}

/// How a later step reads what an operation created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A field of its JSON answer (`id`).
    Field(String),
    /// Its `Location` header, whose last segment is the new item's id.
    Location,
}

impl Created {
    /// The extraction that reads it, as the scenario writes it.
    pub fn source(&self) -> String {
        match self {
            Created::Field(field) => crate::yaml_text::quoted(&format!("body.{field}")),
            Created::Location => "{ header: \"location\", regex: \"([^/?#]+)/?$\" }".to_string(),
        }
    }
}

/// A parameter's own example (`example`, or the first of `examples`).
fn example_of(p: &Value) -> Option<Value> {
    if let Some(e) = p.get("example") {
        return Some(e.clone());
    }
    let named = p.get("examples")?.as_object()?;
    let first = named.values().next()?;
    Some(first.get("value").unwrap_or(first).clone())
}

/// A value as it goes in a URL, a header or a form: text as it is, anything else as JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
