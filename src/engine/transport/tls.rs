//! The rustls client configuration every connection uses (every transport: through `dial`
//! for HTTP/1.1 and HTTP/2, given to reqwest, and the preflight's): the platform's roots
//! plus `tls.ca`, or no verification with `insecure`; an optional client certificate; the
//! lowest version. Built once per run.
//!
//! Verification goes as curl's does where rustls is stricter: a server certificate that is
//! itself one of the certificates given with `tls.ca` (`--cacert`) is trusted after its
//! name and dates are checked (the usual `openssl req -x509` recipe marks it CA:TRUE, which
//! webpki refuses as a server's own), and an X.509 v1 client certificate is accepted when
//! it matches its key. A refusal says in plain words what is wrong (`describe`).
//! Depends on `x509` and the plan's `Tls`; nothing else in the crate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WantsClientCert, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ConfigBuilder, DigitallySignedStruct, Error, OtherError, SignatureScheme,
};

use super::x509;

use crate::scenario::{Tls, TlsVersion};

/// A client configuration for `tls`, offering `alpn` protocols.
pub fn client_config(tls: &Tls, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        Some(TlsVersion::V1_3) => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure {
        Arc::new(AcceptAny(Arc::clone(&provider)))
    } else {
        let given: Vec<CertificateDer<'static>> = match &tls.ca_pem {
            Some(pem) => CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("the trusted authorities (ca): {e}"))?,
            None => Vec::new(),
        };
        let platform = rustls_platform_verifier::Verifier::new_with_extra_roots(
            given.clone(),
            Arc::clone(&provider),
        )
        .map_err(|e| format!("cannot set up TLS verification: {e}"))?;
        Arc::new(Verifier { platform, given })
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &tls.client_pem {
        Some((cert, key)) => client_auth(builder, &provider, cert, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The client certificate (`cert`, its chain) and its key. rustls matches them through
/// webpki, which reads only X.509 v3: a v1 certificate (what `openssl x509 -req` makes
/// without extensions) is matched here, by its public key.
fn client_auth(
    builder: ConfigBuilder<rustls::ClientConfig, WantsClientCert>,
    provider: &CryptoProvider,
    cert: &[u8],
    key: &[u8],
) -> Result<rustls::ClientConfig, String> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the client certificate (cert): {e}"))?;
    let key =
        PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("the client key (key): {e}"))?;
    let v1 = chain
        .first()
        .and_then(|c| x509::read(c))
        .filter(|f| f.version == 1)
        .map(|f| f.public_key.to_vec());
    let Some(public_key) = v1 else {
        return builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("the client certificate and key do not go together: {e}"));
    };
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("the client key (key): {e}"))?;
    if signing.public_key().as_deref() != Some(public_key.as_slice()) {
        return Err(
            "the client certificate and key do not go together: the key is not the \
                    one the certificate (X.509 v1) names; give the key it was made with"
                .into(),
        );
    }
    let certified = CertifiedKey::new(chain, signing);
    Ok(builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified))))
}

/// The platform's verification (its roots plus `tls.ca`), with a server certificate given
/// in `tls.ca` itself trusted after its name and dates are checked, and refusals in plain
/// words.
#[derive(Debug)]
struct Verifier {
    platform: rustls_platform_verifier::Verifier,
    /// The certificates of `tls.ca`, as given.
    given: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let refused = match self.platform.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        // Trusted by name: the very certificate the user gave (an exact DER match), as
        // curl trusts it. Its name and dates still count; the handshake's signatures are
        // checked below, as for any certificate.
        if self.given.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return check_given(end_entity, server_name, now)
                .map(|()| ServerCertVerified::assertion())
                .map_err(refusal);
        }
        Err(refusal(plain(&refused, end_entity, server_name, now)))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.platform.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.platform.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.platform.supported_verify_schemes()
    }
}

/// A certificate the user gave, served by the server: its dates, then its name.
fn check_given(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), String> {
    let fields =
        x509::read(cert).ok_or("the server's certificate cannot be read (not X.509 DER)")?;
    let now_s = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now_s < fields.not_before {
        return Err(not_yet_valid(Some(&fields), now_s));
    }
    if now_s > fields.not_after {
        return Err(expired(Some(&fields), now_s));
    }
    let parsed = ParsedCertificate::try_from(cert).map_err(|e| plain(&e, cert, name, now))?;
    verify_server_name(&parsed, name).map_err(|e| plain(&e, cert, name, now))
}

/// What is wrong with the server's certificate, in plain words with the fix.
fn plain(e: &Error, cert: &CertificateDer<'_>, name: &ServerName<'_>, now: UnixTime) -> String {
    use CertificateError as C;
    let Error::InvalidCertificate(problem) = e else {
        return e.to_string();
    };
    let fields = x509::read(cert);
    let now_s = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    match problem {
        C::Expired | C::ExpiredContext { .. } => expired(fields.as_ref(), now_s),
        C::NotValidYet | C::NotValidYetContext { .. } => not_yet_valid(fields.as_ref(), now_s),
        C::NotValidForName => wrong_name(name, &[]),
        C::NotValidForNameContext { presented, .. } => wrong_name(name, presented),
        C::UnknownIssuer => "the server's certificate was issued by an authority this machine \
            does not trust (or the server did not send its intermediate certificates); to \
            trust it, give the authority's certificate (PEM), or the server's own if it is \
            self-signed, with --cacert FILE (tls: { ca: FILE })"
            .into(),
        C::BadSignature => "the server's certificate has a signature that does not verify: \
            it was not signed by the authority it names"
            .into(),
        C::Revoked => "the server's certificate has been revoked by its authority".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => "the server's certificate is not \
            meant for a TLS server (its extended key usage does not allow serverAuth)"
            .into(),
        C::Other(OtherError(other))
            if other.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity) =>
        {
            "the server's certificate is an authority's (CA:TRUE), which is not trusted as a \
             server's own; to trust this very certificate, give it with --cacert FILE \
             (tls: { ca: FILE })"
                .into()
        }
        _ => e.to_string(),
    }
}

fn expired(fields: Option<&x509::Fields<'_>>, now: i64) -> String {
    match fields {
        Some(f) => format!(
            "the server's certificate expired on {} (it is now {}); the server needs a new one",
            x509::date(f.not_after),
            x509::date(now)
        ),
        None => "the server's certificate has expired; the server needs a new one".into(),
    }
}

fn not_yet_valid(fields: Option<&x509::Fields<'_>>, now: i64) -> String {
    match fields {
        Some(f) => format!(
            "the server's certificate is not valid before {} (it is now {}); check this \
             machine's clock",
            x509::date(f.not_before),
            x509::date(now)
        ),
        None => "the server's certificate is not valid yet; check this machine's clock".into(),
    }
}

fn wrong_name(name: &ServerName<'_>, presented: &[String]) -> String {
    let expected = name.to_str();
    let holds = if presented.is_empty() {
        "no name it is valid for".to_string()
    } else {
        presented
            .iter()
            .map(|p| bare_name(p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "the server's certificate is not valid for the name {expected} (it holds: {holds}); \
         reach the server by a name the certificate holds, or give it a certificate for \
         {expected}"
    )
}

/// `example.test` from rustls's `DnsName("example.test")` (and an address from
/// `IpAddress(127.0.0.1)`): the name as the user wrote it.
fn bare_name(presented: &str) -> &str {
    let inner = presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"')
}

/// A refusal in plain words, as the rustls error the handshake fails with.
fn refusal(text: String) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refusal(text)))))
}

/// Why the server's certificate was refused, in plain words (`describe` shows it).
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// A rustls error for people: a refused certificate's plain words, else rustls's text.
pub fn describe(e: &Error) -> String {
    match e {
        Error::InvalidCertificate(CertificateError::Other(OtherError(other))) => {
            match other.downcast_ref::<Refusal>() {
                Some(refusal) => refusal.0.clone(),
                None => e.to_string(),
            }
        }
        _ => e.to_string(),
    }
}

/// An I/O error from a TLS stream: `describe` for the rustls error it carries.
pub fn describe_io(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(tls) => describe(tls),
        None => e.to_string(),
    }
}

/// `insecure`: any certificate is accepted, but the handshake's signatures are still
/// checked (the connection is encrypted; only who holds the key is not known).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_are_bare() {
        assert_eq!(bare_name("DnsName(\"example.test\")"), "example.test");
        assert_eq!(bare_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(bare_name("plain"), "plain");
    }
}
