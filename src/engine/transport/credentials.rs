//! Credentials every transport sends the same way: `Authorization: Basic` for a URL's
//! `user:password@` (percent-decoded, as reqwest sends them) and `Proxy-Authorization` for
//! a proxy URL's. The dialer (CONNECT), HTTP/1.1 and HTTP/2 all take them from here.
//! Depends on `failure` and `metrics` (a credential that is not a header value is a
//! `render` failure) and the plan's `ProxyUrl`. Pure functions: no I/O, no state.

use reqwest::header::HeaderValue;

use super::failure::{Failure, fail};
use crate::metrics::ErrorClass;
use crate::scenario::ProxyUrl;

/// `Basic` credentials for `user:password` (RFC 7617), as the value of `authorization`.
pub fn basic_auth(user: &str, password: Option<&str>) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let plain = format!("{user}:{}", password.unwrap_or(""));
    let mut out = String::from("Basic ");
    for group in plain.as_bytes().chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Authorization: Basic` for the credentials in `url` (`user:password@`, percent-decoded),
/// as reqwest sends them; `None` when it has none. Both transports send it.
pub fn url_authorization(url: &url::Url) -> Result<Option<HeaderValue>, Failure> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let user = percent_decode(url.username());
    let password = url.password().map(percent_decode);
    HeaderValue::from_str(&basic_auth(&user, password.as_deref()))
        .map(Some)
        .map_err(|e| fail(ErrorClass::Render, format!("URL credentials: {e}")))
}

/// `Proxy-Authorization` for a proxy URL's credentials.
pub fn proxy_authorization(p: &ProxyUrl) -> Option<HeaderValue> {
    let (user, password) = p.credentials.as_ref()?;
    HeaderValue::from_str(&basic_auth(user, Some(password))).ok()
}

/// A URL's user or password, percent-decoded (`%40` is `@`; a bad escape stays as written).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(
            basic_auth("Aladdin", Some("open sesame")),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("a", None), "Basic YTo=");
        assert_eq!(basic_auth("ab", Some("c")), "Basic YWI6Yw==");
    }

    #[test]
    fn url_credentials_are_percent_decoded() {
        assert_eq!(percent_decode("ann%40example.com"), "ann@example.com");
        assert_eq!(percent_decode("p%3Ass+w%zz"), "p:ss+w%zz");
    }
}
