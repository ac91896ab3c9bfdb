//! Compiling `{{ ... }}` templates once, at load time, into parts that render without
//! re-parsing: literal text, variables, data-file columns and function calls.
//!
//! Grammar inside the braces: `name`, `env.NAME` (resolved here, at compile time),
//! `data.SET.COLUMN`, or `function(arg, ...)` with integer or quoted string arguments.

use super::EnvLookup;

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
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
    Iteration,
    Vu,
}

/// The function names, for messages.
pub const FUNCTIONS: &str = "random_int(a, b), random_string(n), random_choice(x, ...), uuid(), \
     random_name(), random_email(), now_ms(), iteration(), vu()";

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

    /// Variables the template reads (for validation: each must be defined).
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// Data columns the template reads, as (set, column).
    pub fn data_columns(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Data { set, column } => Some((set.as_str(), column.as_str())),
            _ => None,
        })
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
    if let Some(open) = expr.find('(') {
        return parse_call(expr, open)
            .map(|f| Expr::Part(Part::Call(f)))
            .map_err(fail);
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

fn parse_call(expr: &str, open: usize) -> Result<Func, String> {
    let name = expr[..open].trim();
    let inner = expr[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("\"{expr}\": a call ends with ), e.g. random_int(1, 100)"))?;
    let args = split_args(inner)?;
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

fn unquote(arg: &str) -> String {
    let quoted = arg.len() >= 2
        && ((arg.starts_with('"') && arg.ends_with('"'))
            || (arg.starts_with('\'') && arg.ends_with('\'')));
    if quoted {
        arg[1..arg.len() - 1].to_string()
    } else {
        arg.to_string()
    }
}
