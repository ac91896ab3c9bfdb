//! `stampede init --from-openapi`: a scenario from an OpenAPI 3.0 or 3.1 document (JSON or
//! YAML), as FastAPI serves it at `/openapi.json`: a flow per tag (or per path group, or
//! one), a step per operation with the inputs its schemas accept, the statuses its
//! responses list, and, where an operation creates a resource, its id extracted and used by
//! the same flow's read, update and delete of that resource, in that order.
//!
//! Depends on `schema` (values from schemas), `ops` (an operation as a step) and the
//! converters' `yaml`. Errors name the document and what is wrong with it.

pub mod clean;
mod ops;
pub mod schema;

use serde_json::Value;

use self::ops::{Created, METHODS, Operation};
use super::yaml::{Flow, Scenario, Step};
use crate::yaml_text::quoted;

/// How operations are grouped into flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowPer {
    /// A flow per tag (an operation's first tag; `default` for the untagged).
    #[default]
    Tag,
    /// A flow per path group (the path's first segment).
    Path,
    /// One flow.
    Single,
}

/// What `init --from-openapi` was asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep only operations whose path matches one of these globs (`*` any text) or whose
    /// tags include one of them; all when empty.
    pub include: Vec<String>,
    /// Leave out operations whose path matches one of these globs or whose tags include one.
    pub exclude: Vec<String>,
    pub flow_per: FlowPer,
    /// The target to write (else the document's server, else where it was fetched from).
    pub target: Option<String>,
}

/// The scenario file for the document `text`, read from `source` (a file or a URL;
/// `origin`: the URL's scheme and host, when it was fetched). `Err` says what is wrong.
pub fn convert(
    text: &str,
    source: &str,
    origin: Option<&str>,
    opts: &Options,
) -> Result<String, String> {
    let doc = parse(text, source)?;
    version(&doc, source)?;
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err(format!(
            "{source}: an OpenAPI document needs `paths`, an object of the API's paths"
        ));
    };
    let (target, prefix) = target(&doc, origin, opts);
    let (mut operations, unusable) = operations(&doc, paths, &prefix);
    let total = operations.len();
    operations.retain(|op| wanted(op, opts));
    if operations.is_empty() {
        return Err(format!(
            "{source}: no operation to make a step of ({total} in the document; --include and --exclude left none)"
        ));
    }
    let auth = Auth::of(&doc);
    let mut scenario = Scenario {
        name: clean::name(
            (doc.pointer("/info/title").and_then(Value::as_str)).unwrap_or("api"),
            "api",
        ),
        target,
        ..Scenario::default()
    };
    scenario.header.push(format!(
        "Made by `stampede init --from-openapi {source}`: a step per operation, its"
    ));
    scenario
        .header
        .push("inputs from the document's schemas (templates, so each request differs).".into());
    scenario.header.push(format!(
        "{} of the document's {total} operations.",
        operations.len()
    ));
    if unusable > 0 {
        scenario.header.push(format!(
            "{unusable} path(s) left out: not a path a URL can hold (no leading /, or template braces)."
        ));
    }
    auth.describe(&mut scenario);
    for (name, ops) in groups(operations, opts.flow_per) {
        scenario.flows.push(flow(&doc, name, ops, &auth));
    }
    Ok(scenario.to_yaml())
}

/// Every operation of `paths`, each under `prefix` (the server's path); and how many paths
/// were left out (not a path a URL can hold).
fn operations(
    doc: &Value,
    paths: &serde_json::Map<String, Value>,
    prefix: &str,
) -> (Vec<Operation>, usize) {
    let global_security = doc
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let mut operations = Vec::new();
    let mut unusable = 0;
    for (path, item) in paths {
        let Some(path) = clean::path(&format!("{prefix}{path}")) else {
            unusable += 1;
            continue;
        };
        let item = schema::resolve(doc, item);
        let shared: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            let Some(spec) = item.get(method) else {
                continue;
            };
            let tags: Vec<String> = (spec
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten())
            .filter_map(|t| t.as_str().map(|t| clean::name(t, "default")))
            .collect();
            let secured = match spec.get("security").and_then(Value::as_array) {
                Some(list) => !list.is_empty(),
                None => global_security,
            };
            operations.push(Operation {
                method: method.to_string(),
                path: path.clone(),
                id: spec
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                tags,
                spec: spec.clone(),
                shared_params: shared.clone(),
                secured,
            });
        }
    }
    (operations, unusable)
}

/// The document as JSON, whichever of JSON or YAML it is written in.
fn parse(text: &str, source: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| format!("{source}: not a JSON document: {e}"));
    }
    let doc: Value = serde_saphyr::from_str(text)
        .map_err(|e| format!("{source}: neither JSON nor YAML: {e}"))?;
    Ok(doc)
}

fn version(doc: &Value, source: &str) -> Result<(), String> {
    match doc.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.") => Ok(()),
        Some(v) => Err(format!(
            "{source}: OpenAPI {v}; stampede reads OpenAPI 3.0 and 3.1"
        )),
        None if doc.get("swagger").is_some() => Err(format!(
            "{source}: a Swagger 2.0 document; stampede reads OpenAPI 3.0 and 3.1: convert it \
             first (e.g. with swagger2openapi)"
        )),
        None => Err(format!(
            "{source}: not an OpenAPI document (it has no `openapi` version); FastAPI serves \
             its own at /openapi.json"
        )),
    }
}

/// The target and the path every step's path goes under: `--target`, else the first
/// server (a relative one under where the document came from), else that origin.
fn target(doc: &Value, origin: Option<&str>, opts: &Options) -> (String, String) {
    if let Some(t) = &opts.target {
        return (t.trim_end_matches('/').to_string(), String::new());
    }
    let server = doc
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .unwrap_or("");
    let server = server.trim_end_matches('/');
    if (server.starts_with("http://") || server.starts_with("https://"))
        && clean::literal(&Value::String(server.to_string()))
        && let Ok(url) = url::Url::parse(server)
    {
        let base = url[..url::Position::BeforePath].to_string();
        return (base, url.path().trim_end_matches('/').to_string());
    }
    let base = origin.unwrap_or("http://127.0.0.1:8000").to_string();
    (base, clean::path(server).unwrap_or_default())
}

/// `--include` and `--exclude`, by path glob or tag.
fn wanted(op: &Operation, opts: &Options) -> bool {
    let hits = |pattern: &String| glob(pattern, &op.path) || op.tags.iter().any(|t| t == pattern);
    (opts.include.is_empty() || opts.include.iter().any(hits)) && !opts.exclude.iter().any(hits)
}

/// A glob of `*` (any text, `/` included) over the whole text.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    text.len() >= first.len() + last.len()
}

/// The operations grouped into flows, in the document's order of first appearance.
fn groups(ops: Vec<Operation>, per: FlowPer) -> Vec<(String, Vec<Operation>)> {
    let mut out: Vec<(String, Vec<Operation>)> = Vec::new();
    for op in ops {
        let name = match per {
            FlowPer::Tag => op.tags.first().cloned().unwrap_or_else(|| "default".into()),
            FlowPer::Path => (op.path.trim_start_matches('/').split('/').next())
                .filter(|s| !s.is_empty())
                .unwrap_or("root")
                .to_string(),
            FlowPer::Single => "api".into(),
        };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, list)) => list.push(op),
            None => out.push((name, vec![op])),
        }
    }
    out
}

/// Where an operation stands in its flow: creates first, then reads, updates, the rest,
/// and deletes last, so a created item is read, changed and removed in one iteration.
fn rank(op: &Operation, doc: &Value) -> u8 {
    let item = op.item_of().is_some();
    match op.method.as_str() {
        "post" if op.creates(doc).is_some() => 0,
        "get" if item => 1,
        "put" | "patch" if item => 2,
        "delete" if item => 4,
        _ => 3,
    }
}

/// One flow: its operations in order, each create's id extracted for the rest.
fn flow(doc: &Value, name: String, mut ops: Vec<Operation>, auth: &Auth) -> Flow {
    ops.sort_by_key(|op| rank(op, doc));
    let mut ids: Vec<(String, Created, String)> = Vec::new();
    let mut steps = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for op in &ops {
        let mut step = op.step(doc, &ids);
        // Step names are unique within the flow (two operations without an id may share one).
        let mut unique = step.name.clone();
        let mut n = 2;
        while names.contains(&unique) {
            unique = format!("{} ({n})", step.name);
            n += 1;
        }
        step.name = unique.clone();
        names.push(unique);
        if let Some(created) = op.creates(doc) {
            let var = variable(&op.path, &ids);
            step.extract.push((var.clone(), created.source()));
            ids.push((op.path.clone(), created, var));
        }
        if op.secured {
            auth.secure(&mut step);
        }
        steps.push(step);
    }
    let init = match ops.iter().any(|o| o.secured) {
        true => auth.login().into_iter().collect(),
        false => Vec::new(),
    };
    Flow {
        comment: format!("tag or group \"{name}\": {} operation(s)", ops.len()),
        name,
        init,
        steps,
    }
}

/// The variable a created item's id goes in: `users` → `user_id`, unique in the flow.
fn variable(collection: &str, taken: &[(String, Created, String)]) -> String {
    let last = collection
        .rsplit('/')
        .find(|s| !s.is_empty() && !s.starts_with('{'))
        .unwrap_or("item");
    let singular = last.strip_suffix('s').filter(|s| !s.is_empty());
    let mut base = clean::identifier(singular.unwrap_or(last), false);
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert(0, '_');
    }
    let mut var = format!("{base}_id");
    let mut n = 2;
    while taken.iter().any(|(_, _, v)| *v == var) {
        var = format!("{base}_id{n}");
        n += 1;
    }
    var
}

/// How the document's security schemes become a scenario's: a placeholder that reads the
/// environment, or, for OAuth2's password flow, a login step each user runs once.
#[derive(Debug, Clone, Default)]
struct Auth {
    /// OAuth2 password flow: its token URL.
    token_url: Option<String>,
    /// A header every secured step sends, and its value.
    header: Option<(String, String)>,
    /// What to say about it at the top of the file.
    note: Vec<String>,
}

impl Auth {
    fn of(doc: &Value) -> Self {
        let schemes = doc
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object);
        let mut auth = Auth::default();
        for (name, scheme) in schemes.into_iter().flatten() {
            let scheme = schema::resolve(doc, scheme);
            let kind = scheme.get("type").and_then(Value::as_str).unwrap_or("");
            let token_url = (scheme.pointer("/flows/password/tokenUrl"))
                .and_then(Value::as_str)
                .and_then(token_url);
            match (kind, token_url) {
                ("oauth2", Some(url)) if auth.token_url.is_none() => {
                    auth.token_url = Some(url);
                    auth.note.push(format!(
                        "Security \"{name}\" (OAuth2 password): each user logs in once (init) with"
                    ));
                    auth.note.push(
                        "API_USERNAME and API_PASSWORD from the environment, and sends its token."
                            .into(),
                    );
                }
                ("http", _) | ("apiKey", _) | ("oauth2", _) | ("openIdConnect", _)
                    if auth.header.is_none() =>
                {
                    let (header, value, var) = match (
                        kind,
                        scheme.get("scheme").and_then(Value::as_str),
                    ) {
                        ("http", Some(s)) if s.eq_ignore_ascii_case("basic") => (
                            "authorization",
                            "Basic {{ env.API_BASIC | default('') }}",
                            "API_BASIC (user:password in base64)",
                        ),
                        ("apiKey", _)
                            if scheme.get("in").and_then(Value::as_str) == Some("header") =>
                        {
                            let header = (scheme.get("name").and_then(Value::as_str))
                                .and_then(clean::header)
                                .unwrap_or_else(|| "x-api-key".into());
                            auth.header = Some((
                                header.to_ascii_lowercase(),
                                "{{ env.API_KEY | default('') }}".into(),
                            ));
                            auth.note.push(format!("Security \"{name}\": the {header} header reads API_KEY from the environment."));
                            continue;
                        }
                        _ => (
                            "authorization",
                            "Bearer {{ env.API_TOKEN | default('') }}",
                            "API_TOKEN",
                        ),
                    };
                    auth.header = Some((header.into(), value.into()));
                    auth.note.push(format!("Security \"{name}\": set {var} in the environment; its value is never shown."));
                }
                _ => {}
            }
        }
        auth
    }

    fn describe(&self, scenario: &mut Scenario) {
        scenario.header.extend(self.note.iter().cloned());
    }

    /// The header a secured step sends.
    fn secure(&self, step: &mut Step) {
        if self.token_url.is_some() {
            step.headers
                .push(("authorization".into(), "Bearer {{ access_token }}".into()));
        } else if let Some((name, value)) = &self.header {
            step.headers.push((name.clone(), value.clone()));
        }
    }

    /// The login step of OAuth2's password flow.
    fn login(&self) -> Option<Step> {
        let url = self.token_url.as_ref()?;
        let mut step = Step::new("oauth2 login".into(), "post", url.clone());
        step.comment = "OAuth2 password flow: the token URL".into();
        step.form = vec![
            (
                "username".into(),
                "{{ env.API_USERNAME | default('user') }}".into(),
            ),
            (
                "password".into(),
                "{{ env.API_PASSWORD | default('') }}".into(),
            ),
        ];
        step.status = Some("200".into());
        step.extract
            .push(("access_token".into(), quoted("body.access_token")));
        Some(step)
    }
}

/// A token URL as a step's: a relative one (FastAPI's `tokenUrl="token"`) from the root,
/// an absolute one as it is; `None` when it is neither a path nor a URL.
fn token_url(url: &str) -> Option<String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return (url::Url::parse(url).is_ok() && clean::literal(&Value::String(url.into())))
            .then(|| url.to_string());
    }
    clean::path(&format!("/{}", url.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_paths() {
        assert!(glob("/_internal*", "/_internal/x"));
        assert!(glob("*/items/*", "/v1/items/{id}"));
        assert!(!glob("/users", "/users/{id}"));
        assert!(glob("/users*", "/users"));
        assert!(!glob("/a*b*c", "/ac"));
    }

    #[test]
    fn variables_name_the_collection() {
        assert_eq!(variable("/users", &[]), "user_id");
        let taken = [(
            "/users".to_string(),
            Created::Location,
            "user_id".to_string(),
        )];
        assert_eq!(variable("/v1/users", &taken), "user_id2");
        assert_eq!(variable("/", &[]), "item_id");
    }
}
