//! `stampede FILE [flags] --print-scenario`: the scenario file as the run would read it, the
//! command line's changes written in. The file's own text is kept (its comments, its order,
//! its flows as written); only the top-level parts a flag replaces (`target`, `load`,
//! `variables`, `secrets`, `thresholds`, `tls`, `http2`, `streams_per_connection`, `proxy`,
//! `proxy_from_env`) are written anew, from the file's values with the flags' applied. The
//! text is then read back and must make the same plan as the file with the flags, or it is
//! refused: what is printed always runs what the command would have run.

use std::path::Path;

use serde_json::{Map, Value};

use super::{EnvLookup, Overrides, Plan, Target};
use crate::yaml_text::{flow, key, quoted};

/// The file's text with the flags' changes written in; `plan` is what the file and the
/// flags make (with `--threshold`'s `thresholds` added).
pub fn file_yaml(
    path: &Path,
    plan: &Plan,
    thresholds: &[String],
    env: EnvLookup<'_>,
    ov: &Overrides,
) -> Result<String, String> {
    let file = path.display().to_string();
    let text = crate::files::read_text(path, crate::files::SCENARIO)
        .map_err(|e| format!("{file}: {}", e.reason))?;
    let doc: Value = serde_saphyr::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
    let Value::Object(doc) = doc else {
        return Err(format!("{file}: the scenario is not a mapping"));
    };
    let changes = changes(&doc, thresholds, ov)?;
    if changes.is_empty() {
        return Ok(text);
    }
    let names: Vec<&str> = changes.iter().map(|(k, _)| *k).collect();
    let printed = rewrite(&text, &changes).ok_or_else(|| {
        format!(
            "{file}: --print-scenario writes the flags into a block-style YAML file (top-level \
             keys at the start of their lines); this one is written in flow style or JSON. \
             Pass the flags when you run it instead"
        )
    })?;
    let printed = with_header(&printed, &file, &names);
    same_plan(path, &printed, plan, env).map_err(|why| {
        format!(
            "{file}: the flags ({}) cannot be written into this file as they act on the run: \
             {why}; pass them when you run it instead",
            names.join(", ")
        )
    })?;
    Ok(printed)
}

/// Each top-level key the flags change, with its new value (`None`: the key goes).
fn changes(
    doc: &Map<String, Value>,
    thresholds: &[String],
    ov: &Overrides,
) -> Result<Vec<(&'static str, Option<Value>)>, String> {
    let mut out = Vec::new();
    if ov.follow_redirects.is_some() {
        return Err(
            "--follow-redirects replaces every step's follow_redirects; write it in \
                    the file's defaults (and steps) instead"
                .into(),
        );
    }
    if let Some(target) = &ov.target {
        let text = target.to_string();
        if matches!(target, Target::Url(u) if url_has_credentials(u)) {
            return Err(
                "--target has credentials, which a printed file would keep: write \
                        them in the file as {{ env.NAME }} references"
                    .into(),
            );
        }
        out.push(("target", Some(Value::String(text))));
    }
    if let Some(load) = load(doc.get("load"), ov)? {
        out.push(("load", Some(load)));
    }
    if !ov.set.is_empty() {
        let mut vars = object(doc.get("variables"));
        for (name, value) in &ov.set {
            vars.insert(name.clone(), Value::String(value.clone()));
        }
        out.push(("variables", Some(Value::Object(vars))));
    }
    if !ov.secrets.is_empty() {
        // The flags' names first, as the redactor lists them.
        let mut list: Vec<Value> = ov.secrets.iter().cloned().map(Value::String).collect();
        for name in array(doc.get("secrets")) {
            if !list.contains(&name) {
                list.push(name);
            }
        }
        out.push(("secrets", Some(Value::Array(list))));
    }
    if !thresholds.is_empty() {
        let mut list = array(doc.get("thresholds"));
        list.extend(thresholds.iter().cloned().map(Value::String));
        out.push(("thresholds", Some(Value::Array(list))));
    }
    out.extend(http(ov)?);
    if let Some(tls) = tls(doc.get("tls"), ov)? {
        out.push(("tls", Some(tls)));
    }
    Ok(out)
}

/// `load:` with `--vus`/`--rate` (which replace the file's model, stages and search),
/// `--max-in-flight`, `--duration` and `--iterations`; `None` when no flag touches it.
fn load(file: Option<&Value>, ov: &Overrides) -> Result<Option<Value>, String> {
    let touched = ov.vus.is_some()
        || ov.rate.is_some()
        || ov.max_in_flight.is_some()
        || ov.duration.is_some()
        || ov.iterations.is_some();
    if !touched {
        return Ok(None);
    }
    let mut load = object(file);
    if ov.vus.is_some() || ov.rate.is_some() {
        for gone in ["vus", "rate", "stages", "find_capacity"] {
            load.remove(gone);
        }
    }
    if let Some(vus) = ov.vus {
        load.insert("vus".into(), vus.into());
    } else if let Some(rate) = ov.rate {
        load.insert("rate".into(), Value::String(format!("{rate}/s")));
    }
    if let Some(m) = ov.max_in_flight {
        load.insert("max_in_flight".into(), m.into());
    }
    if let Some(d) = ov.duration {
        if load
            .get("stages")
            .is_some_and(|s| s != &Value::Array(Vec::new()))
        {
            return Err(
                "--duration cuts or extends the file's last stage; change the stages' \
                        durations in the file instead"
                    .into(),
            );
        }
        let text = super::ad_hoc::duration(d);
        load.insert("duration".into(), Value::String(text));
    }
    if let Some(n) = ov.iterations {
        load.insert("iterations".into(), n.into());
    }
    Ok(Some(Value::Object(load)))
}

/// The top-level HTTP settings the flags turn on.
fn http(ov: &Overrides) -> Result<Vec<(&'static str, Option<Value>)>, String> {
    let mut out = Vec::new();
    if ov.http2 {
        out.push(("http2", Some(Value::Bool(true))));
    }
    if let Some(n) = ov.streams_per_connection {
        out.push(("streams_per_connection", Some(n.into())));
    }
    if let Some(proxy) = &ov.proxy {
        if url_has_credentials(proxy) {
            return Err(
                "--proxy has credentials, which a printed file would keep: write the \
                        proxy in the file with {{ env.NAME }} for its password"
                    .into(),
            );
        }
        out.push(("proxy", Some(Value::String(proxy.clone()))));
    }
    if ov.proxy_from_env {
        out.push(("proxy_from_env", Some(Value::Bool(true))));
    }
    Ok(out)
}

/// `tls:` with `--insecure`, `--cacert`, `--cert` and `--key` (as absolute paths: a printed
/// file may be kept in another folder than the one the flags were given in).
fn tls(file: Option<&Value>, ov: &Overrides) -> Result<Option<Value>, String> {
    let files = [("ca", &ov.cacert), ("cert", &ov.cert), ("key", &ov.key)];
    if !ov.insecure && files.iter().all(|(_, p)| p.is_none()) {
        return Ok(None);
    }
    let mut tls = object(file);
    if ov.insecure {
        tls.insert("insecure".into(), Value::Bool(true));
    }
    for (name, path) in files {
        if let Some(path) = path {
            let whole =
                std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
            tls.insert(name.into(), Value::String(whole.display().to_string()));
        }
    }
    Ok(Some(Value::Object(tls)))
}

fn url_has_credentials(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

fn object(value: Option<&Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn array(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

/// A top-level key and its value as block YAML: a mapping's entries one per line, anything
/// else on the key's line.
fn block(name: &str, value: &Value) -> String {
    match value {
        Value::Object(m) if !m.is_empty() => {
            let mut y = format!("{name}:\n");
            // The load's model first, then how it ends, as people write it.
            let order = [
                "vus",
                "rate",
                "max_in_flight",
                "stages",
                "duration",
                "iterations",
            ];
            let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by_key(|(k, _)| rank(k));
            for (k, v) in entries {
                y.push_str(&format!("  {}: {}\n", key(k), flow(v)));
            }
            y
        }
        Value::Array(a) if !a.is_empty() => {
            let mut y = format!("{name}:\n");
            for v in a {
                y.push_str(&format!("  - {}\n", flow(v)));
            }
            y
        }
        Value::String(s) => format!("{name}: {}\n", quoted(s)),
        other => format!("{name}: {}\n", flow(other)),
    }
}

/// A top-level key's lines: `[start, end)`, its trailing blank and comment lines left to
/// what follows.
struct Block {
    key: String,
    start: usize,
    end: usize,
}

/// The file's top-level keys, or `None` when its top level is not block YAML.
fn blocks(lines: &[&str]) -> Option<Vec<Block>> {
    let mut out: Vec<Block> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let inside = line.starts_with([' ', '\t', '-']) && !line.starts_with("---");
        let aside = line.trim().is_empty() || line.starts_with('#');
        if inside {
            if let Some(b) = out.last_mut() {
                b.end = i + 1;
            }
            continue;
        }
        if aside || line.starts_with("---") || line.starts_with('%') {
            continue;
        }
        if line.starts_with(['{', '[', '"', '\'', '?', '&', '*', '!']) {
            return None;
        }
        let (name, _) = line.split_once(':')?;
        out.push(Block {
            key: name.trim().to_string(),
            start: i,
            end: i + 1,
        });
    }
    Some(out)
}

/// The text with each changed key's block replaced (or a new key put before `flows:`).
fn rewrite(text: &str, changes: &[(&str, Option<Value>)]) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let found = blocks(&lines)?;
    let mut replaced: Vec<Option<String>> = vec![None; lines.len() + 1];
    let mut dropped = vec![false; lines.len()];
    let mut fresh = String::new();
    for (name, value) in changes {
        let new = value.as_ref().map(|v| block(name, v)).unwrap_or_default();
        match found.iter().find(|b| b.key == *name) {
            Some(b) => {
                replaced[b.start] = Some(new);
                dropped[b.start..b.end].iter_mut().for_each(|d| *d = true);
            }
            None => fresh.push_str(&new),
        }
    }
    let before = found
        .iter()
        .find(|b| b.key == "flows")
        .map_or(lines.len(), |b| b.start);
    let mut y = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == before {
            y.push_str(&fresh);
        }
        if let Some(new) = &replaced[i] {
            y.push_str(new);
        }
        if !dropped[i] {
            y.push_str(line);
            y.push('\n');
        }
    }
    if before == lines.len() {
        y.push_str(&fresh);
    }
    Some(y)
}

/// A comment saying what was written in, after the file's leading modeline (if any).
fn with_header(text: &str, file: &str, names: &[&str]) -> String {
    let note = format!(
        "# {} with the command line's {} written in (--print-scenario): running this file runs \
         the same plan.\n",
        crate::yaml_text::comment(file),
        names.join(", ")
    );
    match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("# yaml-language-server") => {
            format!("{first}\n{note}{rest}")
        }
        _ => format!("{note}{text}"),
    }
}

/// Reads `printed` as if it were at `path`, with no flag: `Err` unless it makes `plan`.
fn same_plan(path: &Path, printed: &str, plan: &Plan, env: EnvLookup<'_>) -> Result<(), String> {
    let stem = path
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    let dir = path.parent().unwrap_or(Path::new(""));
    let ov = Overrides::default();
    let file = path.display().to_string();
    let mut back = super::parse_in(printed, &file, &stem, dir, env, &ov)
        .map_err(|e| format!("the printed file does not load: {e}"))?;
    back.source.clone_from(&plan.source);
    let mut expected = plan.clone();
    expected.shard = None;
    back.shard = None;
    let (back, expected) = (format!("{back:?}"), format!("{expected:?}"));
    match back.bytes().zip(expected.bytes()).position(|(a, b)| a != b) {
        None if back.len() == expected.len() => Ok(()),
        at => {
            let at = at.unwrap_or(back.len().min(expected.len()));
            let near = |t: &str| {
                t.get(at.saturating_sub(40)..(at + 40).min(t.len()))
                    .map(str::to_string)
            };
            Err(format!(
                "the printed file makes another plan (near {:?}, not {:?})",
                near(&back),
                near(&expected)
            ))
        }
    }
}

#[cfg(test)]
#[path = "print_tests.rs"]
mod tests;
