//! Rendering a compiled template: a walk over its parts, appending to a buffer. No parsing
//! happens here; variables and data come from a `Scope` the caller provides (a virtual
//! user's state), randomness from its generator.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::compile::{Encoding, Func, Part, Template};

/// What a template can read while it renders: one virtual user's view of the run.
pub trait Scope {
    /// A variable's value (scenario variables, `--set`, values extracted so far).
    fn var(&self, name: &str) -> Option<&str>;
    /// A column of the user's current row of data set `set`.
    fn data(&self, set: &str, column: &str) -> Option<&str>;
    /// The virtual user's id.
    fn vu(&self) -> u64;
    /// The user's iteration counter.
    fn iteration(&self) -> u64;
    /// The user's random generator.
    fn rng(&mut self) -> &mut fastrand::Rng;
}

/// A name the template reads that the scope does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} has no value", self.0)
    }
}

const FIRST: [&str; 16] = [
    "Ada", "Alan", "Barbara", "Dennis", "Edsger", "Frances", "Grace", "Guido", "Hedy", "John",
    "Ken", "Linus", "Margaret", "Radia", "Tim", "Yukihiro",
];
const LAST: [&str; 16] = [
    "Allen",
    "Berners-Lee",
    "Dijkstra",
    "Hamilton",
    "Hopper",
    "Kernighan",
    "Lamarr",
    "Liskov",
    "Lovelace",
    "Matsumoto",
    "McCarthy",
    "Perlman",
    "Ritchie",
    "Rossum",
    "Torvalds",
    "Turing",
];
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl Template {
    /// Appends the rendered text to `out`.
    pub fn render_into(&self, scope: &mut dyn Scope, out: &mut String) -> Result<(), Missing> {
        for part in &self.parts {
            render_part(part, scope, out)?;
        }
        Ok(())
    }

    /// Renders to a new string.
    pub fn render(&self, scope: &mut dyn Scope) -> Result<String, Missing> {
        let mut out = String::new();
        self.render_into(scope, &mut out)?;
        Ok(out)
    }
}

fn render_part(part: &Part, scope: &mut dyn Scope, out: &mut String) -> Result<(), Missing> {
    match part {
        Part::Text(t) => out.push_str(t),
        Part::Var(name) => out.push_str(scope.var(name).ok_or_else(|| Missing(name.clone()))?),
        Part::Data { set, column } => {
            let value = scope
                .data(set, column)
                .ok_or_else(|| Missing(format!("data.{set}.{column}")))?;
            out.push_str(value);
        }
        Part::Call(f) => call(f, scope, out)?,
    }
    Ok(())
}

fn call(f: &Func, scope: &mut dyn Scope, out: &mut String) -> Result<(), Missing> {
    match f {
        Func::RandomInt(a, b) => {
            let n = scope.rng().i64(*a..=*b);
            let _ = write!(out, "{n}");
        }
        Func::RandomString(n) => random_string(scope.rng(), *n, out),
        Func::RandomChoice(items) => {
            let i = scope.rng().usize(..items.len());
            out.push_str(&items[i]);
        }
        Func::Uuid => uuid(scope.rng(), out),
        Func::RandomName => {
            let rng = scope.rng();
            let _ = write!(
                out,
                "{} {}",
                FIRST[rng.usize(..FIRST.len())],
                LAST[rng.usize(..LAST.len())]
            );
        }
        Func::RandomEmail => {
            let rng = scope.rng();
            out.push_str(&FIRST[rng.usize(..FIRST.len())].to_ascii_lowercase());
            out.push('.');
            random_string(rng, 8, out);
            out.push_str("@example.com");
        }
        Func::NowMs => {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let _ = write!(out, "{ms}");
        }
        Func::Iteration => {
            let _ = write!(out, "{}", scope.iteration());
        }
        Func::Vu => {
            let _ = write!(out, "{}", scope.vu());
        }
        Func::NowIso => {
            let _ = write!(
                out,
                "{}",
                humantime::format_rfc3339_millis(SystemTime::now())
            );
        }
        Func::RandomFloat(a, b) => {
            let x = a + scope.rng().f64() * (b - a);
            // Four decimals: enough for prices and coordinates, short on the wire.
            let _ = write!(out, "{x:.4}");
        }
        Func::Encode(encoding, inner) => {
            let mut value = String::new();
            render_part(inner, scope, &mut value)?;
            encode(*encoding, &value, out);
        }
    }
    Ok(())
}

/// Letters, digits and `-_.~` stay; everything else is percent-encoded (RFC 3986's
/// unreserved set, as JavaScript's encodeURIComponent minus `!'()*`).
const URL_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(encoding: Encoding, value: &str, out: &mut String) {
    match encoding {
        Encoding::Url => {
            out.extend(percent_encoding::utf8_percent_encode(value, URL_KEEP));
        }
        Encoding::Base64 => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode_string(value, out);
        }
        Encoding::Text => out.push_str(value),
        Encoding::Sha256Hex => {
            let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
            for b in digest.as_ref() {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

fn random_string(rng: &mut fastrand::Rng, n: usize, out: &mut String) {
    out.extend((0..n).map(|_| char::from(ALPHANUMERIC[rng.usize(..ALPHANUMERIC.len())])));
}

/// A random (version 4) UUID.
fn uuid(rng: &mut fastrand::Rng, out: &mut String) {
    let mut bytes = rng.u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::compile::TemplateError;
    use super::*;

    struct User {
        vars: HashMap<String, String>,
        rng: fastrand::Rng,
    }

    impl Scope for User {
        fn var(&self, name: &str) -> Option<&str> {
            self.vars.get(name).map(String::as_str)
        }
        fn data(&self, set: &str, column: &str) -> Option<&str> {
            (set == "users" && column == "email").then_some("a@b.c")
        }
        fn vu(&self) -> u64 {
            7
        }
        fn iteration(&self) -> u64 {
            3
        }
        fn rng(&mut self) -> &mut fastrand::Rng {
            &mut self.rng
        }
    }

    fn user() -> User {
        let vars = HashMap::from([("user_id".to_string(), "42".to_string())]);
        User {
            vars,
            rng: fastrand::Rng::with_seed(1),
        }
    }

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "example.test".to_string())
    }

    fn compile(text: &str) -> Result<Template, TemplateError> {
        Template::compile(text, &env)
    }

    #[test]
    fn literals_render_for_free() {
        let t = compile("/users/1?x={{ env.HOST }}").expect("compiles");
        assert_eq!(t.as_literal(), Some("/users/1?x=example.test"));
    }

    #[test]
    fn variables_data_and_counters() {
        let t =
            compile("/users/{{ user_id }}/{{data.users.email}}?vu={{ vu() }}&i={{ iteration() }}")
                .expect("ok");
        assert_eq!(t.render(&mut user()), Ok("/users/42/a@b.c?vu=7&i=3".into()));
        assert_eq!(t.variables().collect::<Vec<_>>(), vec!["user_id"]);
        assert_eq!(
            t.data_columns().collect::<Vec<_>>(),
            vec![("users", "email")]
        );
        let missing = compile("{{ order_id }}").expect("ok").render(&mut user());
        assert_eq!(missing, Err(Missing("order_id".into())));
    }

    #[test]
    fn encoders_take_names_columns_quotes_and_calls() {
        let mut u = user();
        u.vars.insert("q".into(), "a b&c/é~".into());
        let render =
            |text: &str, u: &mut User| compile(text).expect("compiles").render(u).expect("renders");
        assert_eq!(render("{{ url_encode(q) }}", &mut u), "a%20b%26c%2F%C3%A9~");
        assert_eq!(render("{{ base64('user:pass') }}", &mut u), "dXNlcjpwYXNz");
        assert_eq!(
            render("{{ sha256_hex(\"abc\") }}", &mut u),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            render("{{ url_encode(data.users.email) }}", &mut u),
            "a%40b.c"
        );
        assert_eq!(render("{{ base64(vu()) }}", &mut u), "Nw==");
        // Names inside an encoder are checked like any other.
        let t = compile("{{ base64(order_id) }}").expect("compiles");
        assert_eq!(t.variables().collect::<Vec<_>>(), vec!["order_id"]);
        assert_eq!(t.render(&mut u), Err(Missing("order_id".into())));
        assert!(compile("{{ base64(a, b) }}").is_err());
        assert!(compile("{{ url_encode() }}").is_err());
    }

    #[test]
    fn env_defaults_floats_and_iso_time() {
        let mut u = user();
        let render =
            |text: &str, u: &mut User| compile(text).expect("compiles").render(u).expect("renders");
        assert_eq!(render("{{ env.NOPE | default('x y') }}", &mut u), "x y");
        assert_eq!(
            render("{{ env.HOST | default('x') }}", &mut u),
            "example.test"
        );
        assert_eq!(render("{{ env('NOPE', 'd') }}", &mut u), "d");
        assert_eq!(render("{{ env('HOST') }}", &mut u), "example.test");
        assert!(compile("{{ env('NOPE') }}").is_err());
        assert!(compile("{{ user_id | default('x') }}").is_err());
        for _ in 0..200 {
            let x: f64 = render("{{ random_float(1.5, 2) }}", &mut u)
                .parse()
                .expect("a number");
            assert!((1.5..=2.0).contains(&x), "{x}");
        }
        let iso = render("{{ now_iso() }}", &mut u);
        assert!(
            iso.len() == 24 && iso.ends_with('Z') && iso.contains('T'),
            "{iso}"
        );
    }

    #[test]
    fn random_values_stay_in_range() {
        let t = compile("{{ random_int(-3, 5) }}").expect("ok");
        let mut u = user();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let n: i64 = t
                .render(&mut u)
                .expect("renders")
                .parse()
                .expect("a number");
            assert!((-3..=5).contains(&n));
            seen.insert(n);
        }
        assert_eq!(seen.len(), 9, "every value in range appears");
        let s = compile("{{ random_string(12) }}")
            .expect("ok")
            .render(&mut u)
            .expect("ok");
        assert!(s.len() == 12 && s.chars().all(|c| c.is_ascii_alphanumeric()));
        let c = compile("{{ random_choice('a b', \"c\", d) }}").expect("ok");
        for _ in 0..100 {
            let v = c.render(&mut u).expect("ok");
            assert!(["a b", "c", "d"].contains(&v.as_str()), "{v}");
        }
    }

    #[test]
    fn uuids_names_emails_and_time() {
        let mut u = user();
        let id = compile("{{ uuid() }}")
            .expect("ok")
            .render(&mut u)
            .expect("ok");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        let name = compile("{{ random_name() }}")
            .expect("ok")
            .render(&mut u)
            .expect("ok");
        assert!(name.contains(' '));
        let email = compile("{{ random_email() }}")
            .expect("ok")
            .render(&mut u)
            .expect("ok");
        assert!(
            email.ends_with("@example.com") && email.contains('.'),
            "{email}"
        );
        let ms: u128 = compile("{{ now_ms() }}")
            .expect("ok")
            .render(&mut u)
            .expect("ok")
            .parse()
            .expect("ms");
        assert!(ms > 1_700_000_000_000);
    }

    #[test]
    fn errors_point_into_the_template() {
        // Offsets count characters from 0: where the expression (or the unclosed braces) starts.
        let cases = [
            ("/x/{{ nope(1) }}", 6, "unknown function \"nope\""),
            ("/x/{{ random_int(5, 1) }}", 6, "must not exceed"),
            ("/x/{{ random_int(1) }}", 6, "takes 2 argument"),
            ("ab{{ user_id", 2, "never closed"),
            ("{{ }}", 3, "empty"),
            ("{{ a.b }}", 3, "not a name"),
            ("{{ env.MISSING }}", 3, "MISSING is not set"),
            ("{{ random_choice('a, b) }}", 3, "unclosed quote"),
            ("{{ uuid(3) }}", 3, "takes no arguments"),
        ];
        for (text, offset, words) in cases {
            let err = compile(text).expect_err(text);
            assert_eq!(err.offset, offset, "{text}: {err:?}");
            assert!(err.message.contains(words), "{text}: {}", err.message);
        }
    }
}
