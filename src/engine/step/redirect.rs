//! Following a redirect (`follow_redirects`): the request a 3xx asks for, as browsers and
//! curl make it, and the error when a chain goes on past its limit.
//!
//! Depends on the step (`ReadyStep`), the user (its cookie jar) and the transport's
//! `Prepared` and `Reply`.

use reqwest::Method;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION, PROXY_AUTHORIZATION,
};

use super::ReadyStep;
use crate::engine::user::User;
use crate::engine::{Prepared, Reply, Wire};

impl ReadyStep {
    /// The request a redirect asks for: `reply` is a 301, 302, 303, 307 or 308 to `req`
    /// with a `Location` that makes an http(s) URL. The method and body change as browsers
    /// and curl change them (303, and 301/302 after a POST, become a body-less GET; 307
    /// and 308 repeat the request); `Authorization`, `Cookie`, `Proxy-Authorization` and
    /// `Host` are not sent to another origin (other headers are, as curl and browsers send
    /// them); the user's jar takes the 3xx's cookies and goes along only at the target.
    /// `None`: the 3xx is the answer.
    pub(in crate::engine) fn redirect(
        &self,
        req: &Prepared,
        reply: &Reply,
        user: &mut User,
    ) -> Option<Prepared> {
        let url = Self::next_url(req, reply)?;
        // The jar holds the target's cookies (it matches no domain): it takes them only
        // from the target's answers and sends them only to the target.
        let target = reqwest::Url::parse(&self.base).ok().map(|b| b.origin());
        let at_target = |u: &reqwest::Url| target.as_ref() == Some(&u.origin());
        if user.has_jar() && at_target(&req.url) {
            user.take_cookies(&reply.headers);
        }
        let get = match reply.status {
            303 => req.method != Method::HEAD,
            301 | 302 => req.method == Method::POST,
            _ => false,
        };
        let mut headers = req.headers.clone();
        let (method, body) = if get {
            headers.remove(CONTENT_TYPE);
            headers.remove(CONTENT_LENGTH);
            (Method::GET, None)
        } else {
            (req.method.clone(), req.body.clone())
        };
        let same_origin = url.origin() == req.url.origin();
        if !same_origin {
            for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST] {
                headers.remove(name);
            }
        }
        if at_target(&url)
            && let Some(cookie) = user.cookie_header(headers.get(COOKIE))
        {
            headers.insert(COOKIE, cookie);
        }
        Some(Prepared {
            method,
            url,
            headers,
            body,
            timeout: req.timeout,
            keep: req.keep,
            wire: Wire::default(),
            clock: req.clock.clone(),
        })
    }

    /// Where `reply` (to `req`) redirects: a 301, 302, 303, 307 or 308 whose `Location`
    /// makes an http(s) URL; `None` for any other answer.
    pub(in crate::engine) fn next_url(req: &Prepared, reply: &Reply) -> Option<reqwest::Url> {
        if !matches!(reply.status, 301 | 302 | 303 | 307 | 308) {
            return None;
        }
        let location = reply.headers.get(LOCATION)?.to_str().ok()?;
        let url = req.url.join(location).ok()?;
        matches!(url.scheme(), "http" | "https").then_some(url)
    }

    /// Whether `url` is at the target's origin (where the cookie jar belongs).
    pub(in crate::engine) fn at_target(&self, url: &reqwest::Url) -> bool {
        reqwest::Url::parse(&self.base).is_ok_and(|b| b.origin() == url.origin())
    }

    /// `too_many_redirects`: the chain was still redirecting after `follow_redirects` hops.
    pub(in crate::engine) fn too_many_redirects(&self, status: u16) -> String {
        let n = self.spec.follow_redirects;
        format!(
            "still redirected ({status}) after following {n} redirect{} (follow_redirects: \
             {n}); raise follow_redirects for this step to follow more",
            if n == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};

    use super::*;
    use crate::engine::Keep;

    fn sent(method: Method, url: &str, body: Option<&'static str>) -> Prepared {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Prepared {
            method,
            url: reqwest::Url::parse(url).expect("url"),
            headers,
            body: body.map(|b| Bytes::from_static(b.as_bytes())),
            timeout: Duration::from_secs(1),
            keep: Keep::default(),
            wire: Wire::default(),
            clock: crate::scenario::ServerClock::Auto,
        }
    }

    fn answer(status: u16, location: &'static str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static(location));
        Reply {
            status,
            headers,
            ..Reply::default()
        }
    }

    fn redirect_of(req: &Prepared, reply: &Reply) -> Option<Prepared> {
        let text = "target: http://a.test\nload: { vus: 1, iterations: 1 }\nflows: [ { steps: [ { get: / } ] } ]\n";
        let overrides = crate::scenario::Overrides::default();
        let plan =
            crate::scenario::parse(text, "t.yaml", "t", &|_| None, &overrides).expect("plan");
        let step = ReadyStep::new(&plan.flows[0].steps[0], "http://a.test", false).expect("step");
        step.redirect(req, reply, &mut User::new(0, 1, false))
    }

    #[test]
    fn redirects_change_method_and_body_as_browsers_do() {
        let post = sent(Method::POST, "http://a.test/x/y", Some("{}"));
        let see_other = redirect_of(&post, &answer(303, "../z?q=1")).expect("followed");
        assert_eq!(see_other.method, Method::GET);
        assert_eq!(see_other.url.as_str(), "http://a.test/z?q=1");
        assert!(see_other.body.is_none());
        assert!(!see_other.headers.contains_key(CONTENT_TYPE));
        assert!(see_other.headers.contains_key(AUTHORIZATION), "same origin");
        let found = redirect_of(&post, &answer(302, "/n")).expect("followed");
        assert_eq!((found.method, found.body), (Method::GET, None));
        let temporary = redirect_of(&post, &answer(307, "/n")).expect("followed");
        assert_eq!(temporary.method, Method::POST);
        assert_eq!(temporary.body.as_deref(), Some(&b"{}"[..]));
        let put = sent(Method::PUT, "http://a.test/x", Some("{}"));
        let moved = redirect_of(&put, &answer(301, "/n")).expect("followed");
        assert_eq!(
            moved.method,
            Method::PUT,
            "only a POST becomes a GET on 301/302"
        );
    }

    #[test]
    fn the_jar_takes_and_sends_cookies_only_at_the_target() {
        let text = "target: http://a.test\ncookies: true\nload: { vus: 1, iterations: 1 }\nflows: [ { steps: [ { get: / } ] } ]\n";
        let overrides = crate::scenario::Overrides::default();
        let plan =
            crate::scenario::parse(text, "t.yaml", "t", &|_| None, &overrides).expect("plan");
        let step = ReadyStep::new(&plan.flows[0].steps[0], "http://a.test", true).expect("step");
        let mut user = User::new(0, 1, true);
        let with_cookie = |status, location, cookie| {
            let mut r = answer(status, location);
            r.headers
                .insert(SET_COOKIE, HeaderValue::from_static(cookie));
            r
        };
        let home = sent(Method::GET, "http://a.test/x", None);
        let next = step
            .redirect(&home, &with_cookie(302, "/n", "sid=1"), &mut user)
            .expect("followed");
        assert_eq!(
            next.headers.get(COOKIE).map(|v| v.as_bytes()),
            Some(&b"sid=1"[..])
        );
        let away = step
            .redirect(
                &home,
                &with_cookie(302, "http://b.test/", "sid=2"),
                &mut user,
            )
            .expect("followed");
        assert!(
            away.headers.get(COOKIE).is_none(),
            "no cookie to another origin"
        );
        let from_away = step
            .redirect(
                &away,
                &with_cookie(302, "http://a.test/back", "evil=1"),
                &mut user,
            )
            .expect("followed");
        assert_eq!(
            from_away.headers.get(COOKIE).map(|v| v.as_bytes()),
            Some(&b"sid=2"[..]),
            "the target's own cookie (set by its 302) comes back; the other origin's is not kept"
        );
    }

    #[test]
    fn credentials_stay_with_their_origin_and_odd_locations_end_the_chain() {
        let get = sent(Method::GET, "http://a.test/x", None);
        let away = redirect_of(&get, &answer(302, "https://b.test/y")).expect("followed");
        assert!(!away.headers.contains_key(AUTHORIZATION));
        assert!(redirect_of(&get, &answer(302, "ftp://b.test/y")).is_none());
        assert!(redirect_of(&get, &answer(304, "/y")).is_none());
        assert!(redirect_of(&get, &answer(200, "/y")).is_none());
        let mut no_location = answer(302, "/y");
        no_location.headers.clear();
        assert!(redirect_of(&get, &no_location).is_none());
    }
}
