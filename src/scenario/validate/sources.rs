//! Default headers that read what setup or a flow's `init` extracts (`authorization:
//! "Bearer {{ token }}"` in `defaults.headers`): which steps provide each name (`Providers`,
//! found before any step is built, since the defaults are compiled first), which default
//! headers are late (`Late`), and where each applies.
//!
//! A late header goes on every step at which every name it reads is known. Setup's and an
//! init's steps before the extraction go without it (the login itself carries no token); a
//! flow whose looping steps would run without it is refused, naming the steps that do
//! provide it.
//!
//! Depends on the `Validator`, `names` (what is known at a point of a flow), `raw` and the
//! template type. Invariant: a name no setup or init step extracts is never late: compiling
//! the defaults refuses it.

use std::collections::BTreeSet;

use reqwest::header::HeaderName;
use serde_saphyr::{Location, Spanned};

use super::Validator;
use super::names::Known;
use crate::scenario::raw::{RawScenario, RawStep};
use crate::scenario::template::Template;

/// Every name setup or a flow's init extracts, with the steps that extract it.
#[derive(Debug, Default)]
pub(super) struct Providers {
    /// (name, the step that extracts it, in words), in file order.
    found: Vec<(String, String)>,
}

impl Providers {
    /// Reads the names from the raw file (before any step is built).
    pub(super) fn of(raw: &RawScenario) -> Self {
        let mut found = Vec::new();
        let mut add = |steps: &[Spanned<RawStep>], describe: &dyn Fn(usize, &RawStep) -> String| {
            for (j, step) in steps.iter().enumerate() {
                for name in step.value.extract.iter().flatten().map(|(k, _)| k) {
                    found.push((name.clone(), describe(j, &step.value)));
                }
            }
        };
        if let Some(steps) = raw.setup.as_ref().and_then(|s| s.value.steps.as_ref()) {
            add(&steps.value, &|j, step| match &step.name {
                Some(n) => format!("setup step \"{}\"", n.value),
                None => format!("setup.steps[{j}]"),
            });
        }
        for (i, flow) in raw.flows.iter().flat_map(|f| &f.value).enumerate() {
            let Some(init) = &flow.value.init else {
                continue;
            };
            let flow_name = flow
                .value
                .name
                .as_ref()
                .map_or_else(|| format!("flow{}", i + 1), |n| n.value.clone());
            add(&init.value, &|j, step| match &step.name {
                Some(n) => format!("init step \"{}\" of flow \"{flow_name}\"", n.value),
                None => format!("flows[{i}].init[{j}] (flow \"{flow_name}\")"),
            });
        }
        Self { found }
    }

    /// The names, for compiling the defaults.
    pub(super) fn names(&self) -> impl Iterator<Item = &String> {
        self.found.iter().map(|(n, _)| n)
    }

    /// The steps that extract `name`, in words (`init step "login" of flow "shop"`).
    fn of_name(&self, name: &str) -> String {
        let places: Vec<&str> = (self.found.iter())
            .filter(|(n, _)| n == name)
            .map(|(_, p)| p.as_str())
            .collect();
        places.join(", ")
    }
}

/// A default header that reads names setup or an init extracts.
#[derive(Debug, Clone)]
pub(super) struct Late {
    /// The header.
    pub(super) header: HeaderName,
    /// The names it reads that `variables:` and `--set` do not define.
    pub(super) reads: Vec<String>,
    /// Where it is written (`defaults.headers.NAME`).
    loc: Location,
}

/// The late ones among the defaults' templated headers: those reading a name beyond
/// `variables` (which, once the defaults compiled, setup or an init provides).
pub(super) fn late_headers(
    templates: &[(HeaderName, Template)],
    variables: &BTreeSet<String>,
    raw: Option<&std::collections::BTreeMap<String, Spanned<String>>>,
) -> Vec<Late> {
    let mut late = Vec::new();
    for (header, t) in templates {
        let mut reads: Vec<String> = Vec::new();
        for v in t.variables().filter(|v| !variables.contains(*v)) {
            if !reads.iter().any(|r| r == v) {
                reads.push(v.to_string());
            }
        }
        if reads.is_empty() {
            continue;
        }
        let loc = raw
            .and_then(|r| {
                r.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(header.as_str()))
            })
            .map_or(Location::UNKNOWN, |(_, v)| v.referenced);
        late.push(Late {
            header: header.clone(),
            reads,
            loc,
        });
    }
    late
}

/// Whether a late header goes on a step where `known` is known.
pub(super) fn applies(late: &Late, known: &Known<'_>) -> bool {
    late.reads.iter().all(|n| known.vars.contains(n))
}

/// Refuses the late headers a flow's looping steps would run without: `known` is what the
/// flow knows when its first step runs (setup's and its init's extractions included).
pub(super) fn check_flow(
    late: &[Late],
    providers: &Providers,
    flow: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) {
    for l in late.iter().filter(|l| !applies(l, known)) {
        let missing: Vec<&String> = l
            .reads
            .iter()
            .filter(|n| !known.vars.contains(*n))
            .collect();
        let name = missing[0];
        let message = format!(
            "reads {name}, which flow \"{flow}\" does not have when its steps run: it is \
             extracted by {}; give flow \"{flow}\" an init step that extracts {name}, or \
             set this header on the steps that have it",
            providers.of_name(name)
        );
        let field = format!("defaults.headers.{}", l.header);
        vd.problems.at(l.loc, &field, message);
    }
}

/// One line per late header: the steps its names come from.
pub(super) fn describe(late: &[Late], providers: &Providers) -> Vec<String> {
    late.iter()
        .map(|l| {
            let from: Vec<String> = (l.reads.iter())
                .map(|n| format!("{n} from {}", providers.of_name(n)))
                .collect();
            format!("defaults.headers.{} reads {}", l.header, from.join("; "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::scenario::{Overrides, parse};

    /// Which of the plan's steps (setup's last) carry `authorization`, by name.
    fn carrying(text: &str) -> Vec<(String, bool)> {
        let plan = parse(text, "t.yaml", "t", &|_| None, &Overrides::default()).expect("valid");
        let setup = plan.setup.iter().flat_map(|f| f.all_steps());
        (plan.flows.iter().flat_map(|f| f.all_steps()).chain(setup))
            .map(|s| {
                let has = s.header_templates.iter().any(|(h, _)| h == "authorization");
                (s.name.clone(), has)
            })
            .collect()
    }

    #[test]
    fn a_default_header_goes_on_the_steps_after_its_names_extraction() {
        let text = "target: http://a.test\nload: { vus: 1, iterations: 1 }\n\
            defaults: { headers: { authorization: 'Bearer {{ token }} {{ site }}' } }\n\
            setup: { steps: [ { name: s1, get: /s }, { name: s2, get: /t, extract: { site: body.s } } ] }\n\
            flows:\n\
            - { name: a, init: [ { name: login, post: /l, extract: { token: body.t } }, { name: after, get: /x } ],\n\
                steps: [ { name: work, get: /w } ] }\n\
            - { name: b, init: [ { name: login2, post: /l, extract: { token: body.t } } ],\n\
                steps: [ { name: more, get: /m } ] }\n";
        let seen = carrying(text);
        let want = [
            ("login", false),
            ("after", true),
            ("work", true),
            ("login2", false),
            ("more", true),
            ("s1", false),
            ("s2", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(n, b)| (n.to_string(), *b)).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn init_steps_are_numbered_before_their_flows_steps_and_setups_last() {
        let text = "target: http://a.test\nload: { vus: 1, iterations: 1 }\n\
            setup: { steps: [ { name: s, get: /s } ] }\n\
            flows:\n\
            - { name: a, init: [ { name: i, get: /i } ], steps: [ { name: x, get: /x } ] }\n\
            - { name: b, steps: [ { name: y, get: /y } ] }\n";
        let plan = parse(text, "t.yaml", "t", &|_| None, &Overrides::default()).expect("valid");
        let ids: Vec<(String, usize)> = (plan.steps().map(|(_, s)| (s.name.clone(), s.id)))
            .chain(
                plan.setup
                    .iter()
                    .flat_map(|f| &f.steps)
                    .map(|s| (s.name.clone(), s.id)),
            )
            .collect();
        let want: Vec<(String, usize)> = [("i", 0), ("x", 1), ("y", 2), ("s", 3)]
            .iter()
            .map(|(n, i)| (n.to_string(), *i))
            .collect();
        assert_eq!(ids, want);
        assert_eq!(plan.step_count(), 3);
    }
}
