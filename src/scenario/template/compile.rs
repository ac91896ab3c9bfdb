//! Compiling `{{ ... }}` templates once, at load time, into parts that render without
//! re-parsing: literal text, variables, data-file columns and function calls.
//!
//! Grammar inside the braces: `name`, `env.NAME` (resolved here, at compile time; with a
//! fallback as `env.NAME | default('value')` or `env('NAME', 'value')`), `data.SET.COLUMN`,
//! or `function(arg, ...)` with number or quoted string arguments. The encoders
//! (`url_encode`, `base64`, `sha256_hex`) take one argument that is itself any of these: a
//! quoted text, a name, a data column or another call.
//!
//! Depends only on `template`'s `EnvLookup` (`env.NAME` is resolved at compile time).

use super::EnvLookup;

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Its literal text and expressions, in order.
    pub(super) parts: Vec<Part>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    /// Text copied as is.
    Text(String),
    /// A per-user variable (scenario variables, `--set`, extracted values).
    Var(String),
    /// A column of the current row of a data file.
    Data { set: String, column: String },
    /// A function call.
    Call(Func),
}

/// The functions templates may call.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Func {
    RandomInt(i64, i64),
    RandomString(usize),
    RandomChoice(Vec<String>),
    Uuid,
    RandomName,
    RandomEmail,
    NowMs,
    NowIso,
    RandomFloat(f64, f64),
    Iteration,
    Vu,
    /// An encoding of what the inner part renders to.
    Encode(Encoding, Box<Part>),
}

/// What `url_encode`, `base64` and `sha256_hex` do to their argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// Percent-encoding of everything but letters, digits and `-_.~` (a query value or a
    /// path segment).
    Url,
    /// Standard base64 with padding.
    Base64,
    /// The SHA-256 digest, in lowercase hex.
    Sha256Hex,
    /// The value as it is, as a string: `string(n)` in a JSON body stays a string.
    Text,
}

/// The function names, for messages.
pub const FUNCTIONS: &str = "random_int(a, b), random_float(a, b), random_string(n), \
     random_choice(x, ...), uuid(), random_name(), random_email(), now_ms(), now_iso(), \
     iteration(), vu(), url_encode(x), base64(x), sha256_hex(x), string(x), \
     env('NAME', 'default')";

/// A template that does not compile: where (character offset in the text) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Character offset of the problem within the template text.
    pub offset: usize,
    /// What is wrong and how to write it.
    pub message: String,
}

impl Template {
    /// Compiles `text`; `{{ env.NAME }}` is replaced from `env` now.
    pub fn compile(text: &str, env: EnvLookup<'_>) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            literal.push_str(&rest[..open]);
            let expr_start = text.len() - rest.len() + open + 2;
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| TemplateError {
                offset: char_offset(text, expr_start - 2),
                message: "\"{{\" is never closed; write {{ name }}".into(),
            })?;
            let at = |byte: usize| char_offset(text, expr_start + byte);
            match parse_expr(&after[..close], env, at)? {
                Expr::Text(t) => literal.push_str(&t),
                Expr::Part(p) => {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(p);
                }
            }
            rest = &after[close + 2..];
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The text, if the template has no dynamic part (rendering it is free).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Variables the template reads (for validation: each must be defined), those inside
    /// an encoder's argument included.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.all_parts().into_iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// Data columns the template reads, as (set, column).
    pub fn data_columns(&self) -> impl Iterator<Item = (&str, &str)> {
        self.all_parts().into_iter().filter_map(|p| match p {
            Part::Data { set, column } => Some((set.as_str(), column.as_str())),
            _ => None,
        })
    }

    /// Whether the template is exactly one expression (no text around it) whose value may
    /// be a number: a variable, a column, or a call that makes numbers (`random_int`,
    /// `random_float`, `now_ms`, `iteration`, `vu`). Text-making calls (`random_string`,
    /// `uuid`, the encoders, `string(x)`) stay strings even when they happen to be digits.
    pub fn is_one_value(&self) -> bool {
        match self.parts.as_slice() {
            [Part::Var(_) | Part::Data { .. }] => true,
            [Part::Call(f)] => matches!(
                f,
                Func::RandomInt(..)
                    | Func::RandomFloat(..)
                    | Func::NowMs
                    | Func::Iteration
                    | Func::Vu
            ),
            _ => false,
        }
    }

    /// Every part, nested arguments included.
    fn all_parts(&self) -> Vec<&Part> {
        let mut out = Vec::new();
        let mut todo: Vec<&Part> = self.parts.iter().collect();
        while let Some(part) = todo.pop() {
            if let Part::Call(Func::Encode(_, inner)) = part {
                todo.push(inner);
            }
            out.push(part);
        }
        out
    }
}

fn char_offset(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count()
}

enum Expr {
    Text(String),
    Part(Part),
}

/// A name a template can read: a letter or `_`, then letters, digits and `_` (variables,
/// data sets and columns, `--set` names).
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_expr(
    raw: &str,
    env: EnvLookup<'_>,
    at: impl Fn(usize) -> usize,
) -> Result<Expr, TemplateError> {
    let lead = raw.len() - raw.trim_start().len();
    let expr = raw.trim();
    let fail = |message: String| TemplateError {
        offset: at(lead),
        message,
    };
    if expr.is_empty() {
        return Err(fail("empty {{ }}; write a name, e.g. {{ user_id }}".into()));
    }
    if let Some((left, right)) = expr.split_once('|') {
        return env_default(left.trim(), right.trim(), env).map_err(fail);
    }
    if let Some(open) = expr.find('(') {
        return parse_call(expr, open, env).map_err(fail);
    }
    let path: Vec<&str> = expr.split('.').map(str::trim).collect();
    if !path.iter().all(|p| is_name(p)) {
        return Err(fail(format!(
            "\"{expr}\" is not a name; write {{{{ name }}}}, {{{{ data.SET.COLUMN }}}} or a function like uuid()"
        )));
    }
    match path.as_slice() {
        [name] => Ok(Expr::Part(Part::Var((*name).to_string()))),
        ["env", name] => env(name).map(Expr::Text).ok_or_else(|| {
            fail(format!(
                "environment variable {name} is not set; export it or remove {{{{ env.{name} }}}}"
            ))
        }),
        ["data", set, column] => Ok(Expr::Part(Part::Data {
            set: (*set).to_string(),
            column: (*column).to_string(),
        })),
        _ => Err(fail(format!(
            "\"{expr}\" is not a name; write {{{{ name }}}}, {{{{ env.NAME }}}} or {{{{ data.SET.COLUMN }}}}"
        ))),
    }
}

/// `env.NAME | default('value')`: the variable, or the value when it is not set.
fn env_default(left: &str, right: &str, env: EnvLookup<'_>) -> Result<Expr, String> {
    let usage = || {
        format!(
            "\"{left} | {right}\": the one filter is default, after env: write \
             {{{{ env.NAME | default('value') }}}}"
        )
    };
    let name = left
        .strip_prefix("env.")
        .filter(|n| is_name(n))
        .ok_or_else(usage)?;
    let arg = right
        .strip_prefix("default(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(usage)?;
    let args = split_args(arg)?;
    match args.as_slice() {
        [value] => Ok(Expr::Text(env(name).unwrap_or_else(|| unquote(value)))),
        _ => Err(usage()),
    }
}

/// A function call; `env('NAME', 'default')` is resolved now, like `env.NAME`.
fn parse_call(expr: &str, open: usize, env: EnvLookup<'_>) -> Result<Expr, String> {
    let name = expr[..open].trim();
    let inner = expr[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("\"{expr}\": a call ends with ), e.g. random_int(1, 100)"))?;
    let encoding = match name {
        "url_encode" => Some(Encoding::Url),
        "base64" => Some(Encoding::Base64),
        "sha256_hex" => Some(Encoding::Sha256Hex),
        "string" => Some(Encoding::Text),
        _ => None,
    };
    if let Some(encoding) = encoding {
        // The argument is a whole expression of its own (a name, a column, a call).
        let arg = inner.trim();
        let single = arg.contains('(') || split_args(arg).is_ok_and(|a| a.len() == 1);
        if arg.is_empty() || !single {
            return Err(format!("{name}(x) takes one argument, e.g. {name}(email)"));
        }
        let part = if is_quoted(arg) {
            Part::Text(unquote(arg))
        } else {
            match parse_expr(arg, env, |_| 0).map_err(|e| e.message)? {
                Expr::Text(t) => Part::Text(t),
                Expr::Part(p) => p,
            }
        };
        return Ok(Expr::Part(Part::Call(Func::Encode(
            encoding,
            Box::new(part),
        ))));
    }
    let args = split_args(inner)?;
    if name == "env" {
        return match args.as_slice() {
            [n] | [n, _] if is_name(&unquote(n)) => {
                let var = unquote(n);
                match (env(&var), args.get(1)) {
                    (Some(v), _) => Ok(Expr::Text(v)),
                    (None, Some(d)) => Ok(Expr::Text(unquote(d))),
                    (None, None) => Err(format!(
                        "environment variable {var} is not set; export it or give a default: \
                         env('{var}', 'value')"
                    )),
                }
            }
            _ => Err("env('NAME') or env('NAME', 'default'), with a variable name".into()),
        };
    }
    let floats = || -> Result<(f64, f64), String> {
        match args.as_slice() {
            [a, b] => {
                let num = |t: &String| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| format!("{name}(): \"{t}\" is not a number"))
                };
                Ok((num(a)?, num(b)?))
            }
            _ => Err(format!("{name}() takes 2 argument(s), got {}", args.len())),
        }
    };
    if name == "random_float" {
        let (a, b) = floats()?;
        if a > b {
            return Err(format!(
                "random_float({a}, {b}): the first bound must not exceed the second"
            ));
        }
        return Ok(Expr::Part(Part::Call(Func::RandomFloat(a, b))));
    }
    plain_call(name, &args).map(|f| Expr::Part(Part::Call(f)))
}

/// The functions of fixed arguments.
fn plain_call(name: &str, args: &[String]) -> Result<Func, String> {
    let ints = |n: usize| -> Result<Vec<i64>, String> {
        if args.len() != n {
            return Err(format!(
                "{name}() takes {n} argument(s), got {}",
                args.len()
            ));
        }
        args.iter()
            .map(|a| {
                a.parse::<i64>()
                    .map_err(|_| format!("{name}(): \"{a}\" is not a whole number"))
            })
            .collect()
    };
    let none = || {
        if args.is_empty() {
            Ok(())
        } else {
            Err(format!("{name}() takes no arguments"))
        }
    };
    Ok(match name {
        "random_int" => match *ints(2)?.as_slice() {
            [a, b] if a <= b => Func::RandomInt(a, b),
            [a, b] => {
                return Err(format!(
                    "random_int({a}, {b}): the first bound must not exceed the second"
                ));
            }
            _ => return Err("random_int takes two numbers".into()),
        },
        "random_string" => match *ints(1)?.as_slice() {
            [n] if (1..=4096).contains(&n) => Func::RandomString(n as usize),
            _ => return Err("random_string(n): n runs from 1 to 4096".into()),
        },
        "random_choice" if !args.is_empty() => {
            Func::RandomChoice(args.iter().map(|a| unquote(a)).collect())
        }
        "random_choice" => return Err("random_choice needs at least one choice".into()),
        "uuid" => none().map(|()| Func::Uuid)?,
        "random_name" => none().map(|()| Func::RandomName)?,
        "random_email" => none().map(|()| Func::RandomEmail)?,
        "now_ms" => none().map(|()| Func::NowMs)?,
        "now_iso" => none().map(|()| Func::NowIso)?,
        "iteration" => none().map(|()| Func::Iteration)?,
        "vu" => none().map(|()| Func::Vu)?,
        other => {
            return Err(format!(
                "unknown function \"{other}\"; the functions are {FUNCTIONS}"
            ));
        }
    })
}

/// Splits on commas outside quotes.
fn split_args(inner: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in inner.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                current.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (None, ',') => args.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unclosed quote in \"{inner}\""));
    }
    let last = current.trim().to_string();
    if !last.is_empty() || !args.is_empty() {
        args.push(last);
    }
    if args.iter().any(String::is_empty) {
        return Err(format!("an empty argument in \"({inner})\""));
    }
    Ok(args)
}

fn is_quoted(arg: &str) -> bool {
    arg.len() >= 2
        && ((arg.starts_with('"') && arg.ends_with('"'))
            || (arg.starts_with('\'') && arg.ends_with('\'')))
}

fn unquote(arg: &str) -> String {
    if is_quoted(arg) {
        arg[1..arg.len() - 1].to_string()
    } else {
        arg.to_string()
    }
}
