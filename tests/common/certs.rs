//! A certificate authority made at test time (rcgen): a server certificate for 127.0.0.1
//! and a client certificate, both signed by it, for the TLS and HTTP/2 tests.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The authority and what it signed.
pub struct Authority {
    /// The authority's certificate (PEM), to trust with --cacert.
    pub ca_pem: String,
    /// The authority's certificate (DER), for a server that checks client certificates.
    pub ca_der: Vec<u8>,
    /// The server certificate (for 127.0.0.1) and its key (DER).
    pub server_cert: CertificateDer<'static>,
    pub server_key_der: Vec<u8>,
    /// A client certificate and key (PEM), for mutual TLS.
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Authority {
    /// A new authority with its certificates.
    pub fn new() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");
        let client_key = KeyPair::generate().expect("client key");
        let client_cert = CertificateParams::new(vec!["client".to_string()])
            .expect("client params")
            .signed_by(&client_key, &issuer)
            .expect("client cert");
        Self {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            server_cert: CertificateDer::from(leaf.der().to_vec()),
            server_key_der: leaf_key.serialize_der(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    /// The server's key.
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()))
    }

    /// A server configuration with the server certificate, no client authentication, and
    /// `alpn` offered.
    pub fn server_config(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert.clone()], self.server_key())
            .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

/// A self-signed certificate for `names`, marked CA:TRUE as `openssl req -x509` marks it
/// (OpenSSL 3), valid from `from` to `until` ((year, month, day); `None`: from yesterday
/// for a year).
pub struct SelfSigned {
    pub cert_pem: String,
    pub cert: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

/// A date: (year, month, day).
pub type Ymd = (i32, u8, u8);

impl SelfSigned {
    pub fn new(names: &[&str], dates: Option<(Ymd, Ymd)>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if let Some(((y0, m0, d0), (y1, m1, d1))) = dates {
            params.not_before = rcgen::date_time_ymd(y0, m0, d0);
            params.not_after = rcgen::date_time_ymd(y1, m1, d1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        Self {
            cert_pem: cert.pem(),
            cert: CertificateDer::from(cert.der().to_vec()),
            key_der: key.serialize_der(),
        }
    }

    /// A server configuration that serves this certificate.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .expect("server config")
    }
}
