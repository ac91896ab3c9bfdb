//! `tls:` (and `--insecure`, `--cacert`, `--cert`, `--key`): files read and their PEM
//! checked now, so a missing file, a file with no certificate, or a certificate without its
//! key is an error at its place before any request.
//!
//! Depends on the `Validator`, `files`, `raw`, `plan` and `template`.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::scenario::plan::{Tls, TlsVersion};
use crate::scenario::raw::RawTls;
use crate::scenario::template::substitute_env;

/// Where a PEM file comes from: the command line (relative to the working directory) or
/// the file (relative to the scenario).
enum From<'a> {
    Flag(&'static str, &'a Path),
    File(&'a Spanned<String>, String),
}

/// Reads a PEM file and checks it holds what it must; records the problem otherwise.
fn read_pem(from: From<'_>, key: bool, vd: &mut Validator<'_>) -> Option<Vec<u8>> {
    let (path, what) = match &from {
        From::Flag(flag, path) => (path.to_path_buf(), (*flag).to_string()),
        From::File(value, field) => match substitute_env(&value.value, vd.env) {
            Ok(p) => (vd.base_dir.join(p), field.clone()),
            Err(e) => {
                vd.problems.on(*value, field, e);
                return None;
            }
        },
    };
    let checked = crate::files::read(&path, crate::files::PEM)
        .map_err(|e| e.to_string())
        .and_then(|pem| {
            let ok = if key {
                PrivateKeyDer::from_pem_slice(&pem).is_ok()
            } else {
                CertificateDer::pem_slice_iter(&pem)
                    .next()
                    .is_some_and(|c| c.is_ok())
            };
            let kind = if key {
                "private key (-----BEGIN PRIVATE KEY-----)"
            } else {
                "certificate (-----BEGIN CERTIFICATE-----)"
            };
            ok.then_some(pem)
                .ok_or_else(|| format!("{} holds no PEM {kind}", path.display()))
        });
    match (checked, from) {
        (Ok(pem), _) => Some(pem),
        (Err(e), From::Flag(..)) => {
            vd.problems.at(Location::UNKNOWN, &what, e);
            None
        }
        (Err(e), From::File(value, field)) => {
            vd.problems.on(value, &field, e);
            None
        }
    }
}

/// The TLS settings: the command line's beat the file's, field by field.
pub(super) fn build_tls(raw: Option<&Spanned<RawTls>>, vd: &mut Validator<'_>) -> Tls {
    let empty = RawTls::default();
    let t = raw.map_or(&empty, |r| &r.value);
    let ov = vd.overrides;
    let pem = |flag: &'static str,
               over: &Option<std::path::PathBuf>,
               file: &Option<Spanned<String>>,
               field: &str,
               key: bool,
               vd: &mut Validator<'_>| match (over, file) {
        (Some(path), _) => read_pem(From::Flag(flag, path), key, vd),
        (None, Some(value)) => read_pem(From::File(value, format!("tls.{field}")), key, vd),
        (None, None) => None,
    };
    let ca_pem = pem("--cacert", &ov.cacert, &t.ca, "ca", false, vd);
    let cert = pem("--cert", &ov.cert, &t.cert, "cert", false, vd);
    let key = pem("--key", &ov.key, &t.key, "key", true, vd);
    let client_pem = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let at = raw.map_or(Location::UNKNOWN, |r| r.referenced);
            vd.problems.at(
                at,
                "tls",
                "a client certificate needs its key: give both cert and key (--cert and --key)",
            );
            None
        }
    };
    let min_version = t.min_version.as_ref().and_then(|v| match v.value.trim() {
        "1.2" => Some(TlsVersion::V1_2),
        "1.3" => Some(TlsVersion::V1_3),
        other => {
            let message = format!("\"{other}\" is not a TLS version; write \"1.2\" or \"1.3\"");
            vd.problems.on(v, "tls.min_version", message);
            None
        }
    });
    Tls {
        insecure: ov.insecure || t.insecure.as_ref().is_some_and(|i| i.value),
        ca_pem,
        client_pem,
        min_version,
    }
}
