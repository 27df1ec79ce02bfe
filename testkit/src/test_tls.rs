//! Throwaway TLS certificates for tests: a certificate authority generated on the spot and leaf
//! certificates it signs for given DNS names, all as PEM (the CA for clients' trust stores, e.g.
//! `SSL_CERT_FILE`; the leaf and its key for [`crate::MockProvider::start_tls`]).

use std::io::Write;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A test certificate authority: a self-signed CA certificate and its private key, kept in
/// memory only.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A leaf (server) certificate signed by a [`TestCa`], with its private key.
#[derive(Clone, Debug)]
pub struct LeafCert {
    /// The leaf certificate as PEM (the chain a server presents; the CA is the trust anchor).
    pub cert_pem: String,
    /// The leaf's PKCS#8 private key as PEM.
    pub key_pem: String,
}

impl TestCa {
    /// Generates a new CA (ECDSA P-256) named `gateway-testkit test CA`.
    pub fn new() -> anyhow::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .context("test CA certificate parameters")?;
        params
            .distinguished_name
            .push(DnType::CommonName, "gateway-testkit test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().context("test CA key")?;
        let issuer =
            CertifiedIssuer::self_signed(params, key).context("self-signing the test CA")?;
        Ok(Self { issuer })
    }

    /// The CA certificate as PEM: what a client must trust.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to a new temporary PEM file, deleted when the returned handle is
    /// dropped: a trust store for a client process (e.g. its `SSL_CERT_FILE`).
    pub fn cert_pem_file(&self) -> anyhow::Result<tempfile::NamedTempFile> {
        let mut file = tempfile::Builder::new()
            .prefix("test-ca-")
            .suffix(".pem")
            .tempfile()
            .context("creating the CA PEM file")?;
        file.write_all(self.cert_pem().as_bytes())
            .and_then(|()| file.flush())
            .context("writing the CA PEM file")?;
        Ok(file)
    }

    /// A server certificate for `dns_names` (subject alternative names; an IP literal becomes an
    /// IP address name), signed by this CA.
    pub fn leaf(&self, dns_names: &[&str]) -> anyhow::Result<LeafCert> {
        let names: Vec<String> = dns_names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())
            .with_context(|| format!("leaf certificate parameters for {names:?}"))?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().context("leaf key")?;
        let cert = params
            .signed_by(&key, &*self.issuer)
            .with_context(|| format!("signing the leaf certificate for {names:?}"))?;
        Ok(LeafCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

    use super::*;
    use crate::MockProvider;

    fn connector(ca: &TestCa) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    #[tokio::test]
    async fn tls_mock_serves_a_verified_client_and_records_sni() {
        let ca = TestCa::new().unwrap();
        let leaf = ca.leaf(&["localhost"]).unwrap();
        let mock = MockProvider::start_tls(&leaf.cert_pem, &leaf.key_pem)
            .await
            .unwrap();
        assert!(mock.base_url().starts_with("https://127.0.0.1:"));
        let tcp = TcpStream::connect(mock.addr()).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector(&ca).connect(name, tcp).await.unwrap();
        tls.write_all(
            b"GET /v1/models HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer k1\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut response = String::new();
        tls.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert_eq!(mock.requests_for_key("k1").len(), 1);
        assert_eq!(mock.tls_server_names(), vec![Some("localhost".to_owned())]);

        // The same client refuses a certificate for another name.
        let wrong = ca.leaf(&["other.example"]).unwrap();
        let other = MockProvider::start_tls(&wrong.cert_pem, &wrong.key_pem)
            .await
            .unwrap();
        let tcp = TcpStream::connect(other.addr()).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let err = connector(&ca).connect(name, tcp).await.unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
        assert!(other.requests().is_empty());
    }
}
