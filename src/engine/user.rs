//! The virtual user's own state — its variables, counters, random generator, data rows,
//! cookies and the flows whose init it ran — and what every user reads besides (`Globals`: the run's variables and data
//! feeds). Templates render through a `UserScope`: the user's own variables first, then the
//! run's.
//!
//! Depends on `scenario` (the template scope and data sets) only. Invariant: the cookie jar
//! holds the target's cookies only; whoever fills it (`step`) decides which answers are the
//! target's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};

use crate::scenario::{DataMode, DataSet, Scope};

/// A data file and its shared cursor.
#[derive(Debug)]
pub(super) struct Feed {
    /// The file's rows and how they are handed out.
    pub(super) set: DataSet,
    cursor: AtomicU64,
}

impl Feed {
    /// A feed that starts at the file's first row.
    pub(super) fn new(set: DataSet) -> Self {
        Self {
            set,
            cursor: AtomicU64::new(0),
        }
    }
}

/// What every user reads besides its own state: the run's variables (`variables:`, `--set`,
/// then setup's extractions) and the data feeds.
#[derive(Debug, Default)]
pub(super) struct Globals {
    /// Variables, by name.
    pub(super) vars: HashMap<String, String>,
    /// The data feeds, in the plan's order.
    pub(super) data: Vec<Feed>,
}

/// One virtual user: its variables, counters, random generator, data rows and cookies.
#[derive(Debug)]
pub struct User {
    vu: u64,
    /// Iterations it has run (the closed model's users run many).
    pub(super) iteration: u64,
    /// Its random generator: flow choice, random rows, think times, template functions.
    pub(super) rng: fastrand::Rng,
    vars: HashMap<String, String>,
    rows: Vec<usize>,
    jar: Option<Jar>,
    /// By flow index: whether the user has run that flow's init.
    inited: Vec<bool>,
    /// Closed model: the times between its last iterations' starts (µs), for the corrected
    /// view.
    recent: Recent,
}

/// A user's last `RECENT` iteration durations (µs), oldest overwritten first.
#[derive(Debug, Default)]
struct Recent {
    values: [u32; RECENT],
    len: usize,
    next: usize,
}

/// How many iterations a user's median time per iteration is taken over.
const RECENT: usize = 9;

impl User {
    /// A user with id `vu`; `cookies` gives it a cookie jar.
    pub(super) fn new(vu: u64, seed: u64, cookies: bool) -> Self {
        Self {
            vu,
            iteration: 0,
            rng: fastrand::Rng::with_seed(seed),
            vars: HashMap::new(),
            rows: Vec::new(),
            jar: cookies.then(Jar::default),
            inited: Vec::new(),
            recent: Recent::default(),
        }
    }

    /// Closed model: `took` passed between the starts of two of this user's iterations.
    pub(super) fn note_iteration(&mut self, took: Duration) {
        let r = &mut self.recent;
        r.values[r.next] = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        r.next = (r.next + 1) % RECENT;
        r.len = (r.len + 1).min(RECENT);
    }

    /// Closed model: the user's median time per iteration (start to start) over its last
    /// few (at least three), the interval the corrected view expects between its requests
    /// of a step.
    pub(super) fn expected_interval(&self) -> Option<Duration> {
        let r = &self.recent;
        if r.len < 3 {
            return None;
        }
        let mut v = r.values;
        let v = &mut v[..r.len];
        v.sort_unstable();
        Some(Duration::from_micros(u64::from(v[r.len / 2])))
    }

    /// Whether the user has run the init of flow `flow`.
    #[inline]
    pub(super) fn has_init(&self, flow: usize) -> bool {
        self.inited.get(flow).copied().unwrap_or(false)
    }

    /// Notes that the user ran flow `flow`'s init (what it extracted is in its variables).
    pub(super) fn init_done(&mut self, flow: usize) {
        if self.inited.len() <= flow {
            self.inited.resize(flow + 1, false);
        }
        self.inited[flow] = true;
    }

    /// The values this user extracted.
    pub(super) fn into_vars(self) -> HashMap<String, String> {
        self.vars
    }

    /// Keeps an extracted value.
    #[inline]
    pub(super) fn set_var(&mut self, name: String, value: String) {
        self.vars.insert(name, value);
    }

    /// Gives the user a row of each feed in `feeds` (indexes into `globals.data`); `Err`
    /// names the feed whose unique rows are all used (the run must stop).
    pub(super) fn take_rows(&mut self, globals: &Globals, feeds: &[usize]) -> Result<(), String> {
        for &i in feeds {
            let feed = &globals.data[i];
            let len = feed.set.rows.len() as u64;
            let row = match feed.set.mode {
                DataMode::Random => self.rng.u64(..len),
                DataMode::Sequential | DataMode::Unique { wrap: true } => {
                    feed.cursor.fetch_add(1, Ordering::Relaxed) % len
                }
                DataMode::Unique { wrap: false } => {
                    let n = feed.cursor.fetch_add(1, Ordering::Relaxed);
                    if n >= len {
                        return Err(format!(
                            "data file {} ran out of unique rows ({len} used)",
                            feed.set.name
                        ));
                    }
                    n
                }
            };
            if self.rows.len() < globals.data.len() {
                self.rows.resize(globals.data.len(), 0);
            }
            self.rows[i] = row as usize;
        }
        Ok(())
    }

    /// Whether the user keeps cookies (the plan's `cookies: true`).
    #[inline]
    pub(super) fn has_jar(&self) -> bool {
        self.jar.is_some()
    }

    /// Whether the user has a cookie to send.
    #[inline]
    pub(super) fn has_cookies(&self) -> bool {
        self.jar.as_ref().is_some_and(|j| !j.is_empty())
    }

    /// Keeps the cookies of an answer from the target (no-op without a jar).
    #[inline]
    pub(super) fn take_cookies(&mut self, headers: &HeaderMap) {
        if let Some(jar) = &mut self.jar {
            jar.take(headers);
        }
    }

    /// The `Cookie` header to send to the target, if the user has cookies: the jar's, after
    /// those of the step's own header (`own`) whose names the jar does not have (a recorded
    /// session's cookie written in the step stays sent until the service sets its own).
    pub(super) fn cookie_header(&self, own: Option<&HeaderValue>) -> Option<HeaderValue> {
        let jar = self.jar.as_ref()?;
        let own = own.and_then(|v| v.to_str().ok()).unwrap_or("");
        let kept: Vec<&str> = (own.split(';').map(str::trim))
            .filter(|pair| {
                let name = pair.split_once('=').map_or(*pair, |(n, _)| n).trim();
                !pair.is_empty() && !jar.cookies.iter().any(|(n, _)| n == name)
            })
            .collect();
        let text: Vec<String> = (kept.into_iter().map(str::to_string))
            .chain(jar.cookies.iter().map(|(n, v)| format!("{n}={v}")))
            .collect();
        (!text.is_empty())
            .then(|| HeaderValue::from_str(&text.join("; ")).ok())
            .flatten()
    }

    /// The user as templates see it, with the run's `globals` behind its own variables.
    #[inline]
    pub(super) fn scope<'a>(&'a mut self, globals: &'a Globals) -> UserScope<'a> {
        UserScope {
            user: self,
            globals,
        }
    }
}

/// The user seen by templates: its own variables first, then the run's.
pub(super) struct UserScope<'a> {
    user: &'a mut User,
    globals: &'a Globals,
}

impl Scope for UserScope<'_> {
    fn var(&self, name: &str) -> Option<&str> {
        self.user
            .vars
            .get(name)
            .or_else(|| self.globals.vars.get(name))
            .map(String::as_str)
    }

    fn data(&self, set: &str, column: &str) -> Option<&str> {
        let data = &self.globals.data;
        let i = data.iter().position(|f| f.set.name == set)?;
        let set = &data[i].set;
        let row = set.rows.get(*self.user.rows.get(i)?)?;
        row.get(set.column(column)?)?.as_deref()
    }

    fn vu(&self) -> u64 {
        self.user.vu
    }

    fn iteration(&self) -> u64 {
        self.user.iteration
    }

    fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.user.rng
    }
}

/// A user's cookies: name → value, from `Set-Cookie`, sent back as one `Cookie` header.
///
/// One target per run, so domain and path attributes are not matched; `Max-Age=0` (or a
/// negative one) deletes a cookie, and expiry dates are not tracked.
#[derive(Debug, Default)]
struct Jar {
    cookies: Vec<(String, String)>,
}

impl Jar {
    fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    fn take(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let expired = parts.any(|a| {
                a.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("max-age")
                        && v.trim().parse::<i64>().is_ok_and(|s| s <= 0)
                })
            });
            self.cookies.retain(|(n, _)| n != name);
            if !expired {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jar_keeps_replaces_and_deletes_cookies() {
        let mut user = User::new(0, 1, true);
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("session=abc; Path=/; HttpOnly"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("theme=dark"));
        user.take_cookies(&h);
        let sent = |own: Option<&'static str>| {
            let own = own.map(HeaderValue::from_static);
            user.cookie_header(own.as_ref())
        };
        assert_eq!(
            sent(None),
            Some(HeaderValue::from_static("session=abc; theme=dark"))
        );
        // A step's own cookies go first, except those the jar has (the service's win).
        assert_eq!(
            sent(Some("sid=rec; session=old")),
            Some(HeaderValue::from_static("sid=rec; session=abc; theme=dark"))
        );
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("session=def"));
        h.append(SET_COOKIE, HeaderValue::from_static("theme=; Max-Age=0"));
        user.take_cookies(&h);
        let sent = user.cookie_header(None);
        assert_eq!(sent, Some(HeaderValue::from_static("session=def")));
        let no_jar = User::new(0, 1, false);
        assert_eq!(no_jar.cookie_header(None), None);
    }
}
