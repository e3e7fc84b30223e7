//! The test server's own certificate authority, made afresh for each
//! server (no key material is ever stored): a CA, a server certificate for
//! `localhost` and `127.0.0.1`, and client certificates on request.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

fn fail(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("test CA: {what}: {e}"))
}

pub(crate) struct Authority {
    certificate: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    pub fn new() -> io::Result<Authority> {
        let mut params = CertificateParams::new(Vec::new()).map_err(|e| fail("CA", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Brygga FHIR test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(|e| fail("CA key", e))?;
        let certificate = params.self_signed(&key).map_err(|e| fail("CA", e))?;
        Ok(Authority {
            pem: certificate.pem(),
            certificate: certificate.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A leaf certificate and its PKCS#8 key, for `names` and `purpose`.
    fn leaf(
        &self,
        names: Vec<String>,
        common_name: &str,
        purpose: ExtendedKeyUsagePurpose,
    ) -> io::Result<(CertificateDer<'static>, String, KeyPair)> {
        let mut params = CertificateParams::new(names).map_err(|e| fail(common_name, e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().map_err(|e| fail(common_name, e))?;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| fail(common_name, e))?;
        Ok((certificate.der().clone(), certificate.pem(), key))
    }

    /// The server's TLS configuration: its certificate for `localhost` and
    /// `127.0.0.1`, ALPN h2 and http/1.1, and, when asked, client
    /// certificates signed by this CA required.
    pub fn server_config(
        &self,
        require_client_certificate: bool,
    ) -> io::Result<rustls::ServerConfig> {
        let (certificate, _, key) = self.leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("TLS versions", e))?;
        let builder = if require_client_certificate {
            let mut roots = RootCertStore::empty();
            roots
                .add(self.certificate.clone())
                .map_err(|e| fail("client roots", e))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| fail("client verifier", e))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(vec![certificate], key)
            .map_err(|e| fail("server certificate", e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// A client certificate and its private key, both PEM.
    pub fn client_certificate(&self) -> io::Result<(String, String)> {
        let (_, pem, key) = self.leaf(
            Vec::new(),
            "brygga test client",
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        Ok((pem, key.serialize_pem()))
    }
}
