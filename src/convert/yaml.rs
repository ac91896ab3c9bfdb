//! A scenario file as a person writes it, from what a converter found: the schema comment,
//! the target, a short load, default headers, and flows of steps, each step under a comment
//! naming where it came from. Strings are written in JSON's double-quoted form, which YAML
//! reads the same; bodies and queries as JSON flow mappings (`crate::yaml_text`, a leaf).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::yaml_text::{comment, flow, key, quoted};

/// One step of a flow.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The comment above it (the operation or recorded request it came from).
    pub comment: String,
    pub name: String,
    /// Lowercase: `get`, `post`, …
    pub method: String,
    pub url: String,
    pub query: Map<String, Value>,
    pub headers: Vec<(String, String)>,
    pub json: Option<Value>,
    /// Fields sent urlencoded (`form:`).
    pub form: Vec<(String, String)>,
    /// A text body, when the request had one that is neither JSON nor a form.
    pub body: Option<String>,
    /// `expect.status`: a code or a class.
    pub status: Option<String>,
    /// (variable, its source as the scenario writes it), e.g. (`user_id`, `"body.id"`).
    pub extract: Vec<(String, String)>,
    /// `think:` after the step.
    pub think: Option<String>,
}

impl Step {
    pub fn new(name: String, method: &str, url: String) -> Self {
        Step {
            name,
            method: method.to_ascii_lowercase(),
            url,
            ..Step::default()
        }
    }
}

/// One flow.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    pub name: String,
    /// A comment above it.
    pub comment: String,
    /// Steps each user runs once (a login).
    pub init: Vec<Step>,
    pub steps: Vec<Step>,
}

/// A whole scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Comment lines at the top, after the schema's (without `# `).
    pub header: Vec<String>,
    pub name: String,
    pub target: String,
    /// `defaults.headers`.
    pub headers: Vec<(String, String)>,
    /// `secrets:` names.
    pub secrets: Vec<String>,
    /// A cookie jar per user (`cookies: true`).
    pub cookies: bool,
    pub flows: Vec<Flow>,
}

impl Scenario {
    /// The file's text.
    pub fn to_yaml(&self) -> String {
        let mut y = String::new();
        y.push_str("# yaml-language-server: $schema=schema/scenario.schema.json\n");
        y.push_str("# (point $schema at stampede's schema/scenario.schema.json for completion in your editor)\n");
        for line in &self.header {
            let _ = writeln!(y, "# {}", comment(line));
        }
        let _ = writeln!(y, "name: {}", quoted(&self.name));
        let _ = writeln!(y, "target: {}", quoted(&self.target));
        y.push_str("load:\n  vus: 5\n  duration: 30s\n");
        if self.cookies {
            y.push_str("cookies: true\n");
        }
        if !self.secrets.is_empty() {
            let names: Vec<String> = self.secrets.iter().map(|s| quoted(s)).collect();
            let _ = writeln!(y, "secrets: [{}]", names.join(", "));
        }
        y.push_str("defaults:\n  timeout: 10s\n");
        if !self.headers.is_empty() {
            y.push_str("  headers:\n");
            for (name, value) in &self.headers {
                let _ = writeln!(y, "    {}: {}", key(name), quoted(value));
            }
        }
        y.push_str("flows:\n");
        for f in &self.flows {
            if !f.comment.is_empty() {
                let _ = writeln!(y, "  # {}", comment(&f.comment));
            }
            let _ = writeln!(y, "  - name: {}", quoted(&f.name));
            if !f.init.is_empty() {
                y.push_str("    init:\n");
                for s in &f.init {
                    step(&mut y, s);
                }
            }
            y.push_str("    steps:\n");
            for s in &f.steps {
                step(&mut y, s);
            }
        }
        y
    }
}

/// One step, at a flow's indentation.
fn step(y: &mut String, s: &Step) {
    let pad = "        ";
    if !s.comment.is_empty() {
        let _ = writeln!(y, "      # {}", comment(&s.comment));
    }
    let _ = writeln!(y, "      - name: {}", quoted(&s.name));
    const SHORT: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];
    if SHORT.contains(&s.method.as_str()) {
        let _ = writeln!(y, "{pad}{}: {}", s.method, quoted(&s.url));
    } else {
        let _ = writeln!(y, "{pad}method: {}", quoted(&s.method.to_ascii_uppercase()));
        let _ = writeln!(y, "{pad}url: {}", quoted(&s.url));
    }
    if !s.query.is_empty() {
        let _ = writeln!(y, "{pad}query: {}", flow(&Value::Object(s.query.clone())));
    }
    if !s.headers.is_empty() {
        y.push_str(&format!("{pad}headers:\n"));
        for (name, value) in &s.headers {
            let _ = writeln!(y, "{pad}  {}: {}", key(name), quoted(value));
        }
    }
    if let Some(json) = &s.json {
        let _ = writeln!(y, "{pad}json: {}", flow(json));
    }
    if !s.form.is_empty() {
        let fields: Map<String, Value> = (s.form.iter())
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let _ = writeln!(y, "{pad}form: {}", flow(&Value::Object(fields)));
    }
    if let Some(body) = &s.body {
        let _ = writeln!(y, "{pad}body: {}", quoted(body));
    }
    if let Some(status) = &s.status {
        let shown = if status.bytes().all(|b| b.is_ascii_digit()) {
            status.clone()
        } else {
            quoted(status)
        };
        let _ = writeln!(y, "{pad}expect: {{ status: {shown} }}");
    }
    if !s.extract.is_empty() {
        let pairs: Vec<String> = (s.extract.iter())
            .map(|(var, from)| format!("{}: {from}", key(var)))
            .collect();
        let _ = writeln!(y, "{pad}extract: {{ {} }}", pairs.join(", "));
    }
    if let Some(think) = &s.think {
        let _ = writeln!(y, "{pad}think: {think}");
    }
}
