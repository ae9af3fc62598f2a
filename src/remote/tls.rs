//! Whom TLS connections to the shared servers trust: the platform's roots plus the PEM bundle
//! of `tls_ca_file` (Amazon RDS's certificate authorities, say), the same for MySQL, Redis and
//! memcached. Certificates and host names are always verified: nothing here can turn that off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// The certificate authorities trusted besides the platform's.
#[derive(Clone, Default)]
pub struct TlsTrust {
    file: Option<PathBuf>,
    extra: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(path) => write!(f, "platform roots + {} ({} certificates)", path.display(), self.extra.len()),
            None => write!(f, "platform roots"),
        }
    }
}

fn usable_as_root(cert: &CertificateDer<'static>) -> bool {
    RootCertStore::empty().add(cert.clone()).is_ok()
}

impl TlsTrust {
    /// Reads `path`, a PEM bundle of one or more CA certificates. A missing file, one without
    /// a certificate, or one holding a certificate that cannot be a trust anchor is an error
    /// saying so: a typo must not leave a server unverifiable until its first connection.
    pub fn from_pem_file(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let extra = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not a PEM certificate bundle ({e})", path.display()))?;
        if extra.is_empty() {
            return Err(format!("{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
        }
        if let Some(n) = extra.iter().position(|c| !usable_as_root(c)) {
            return Err(format!("{}: certificate {} is not a usable CA certificate", path.display(), n + 1));
        }
        Ok(Self { file: Some(path.to_owned()), extra })
    }

    /// The platform's roots that rustls can use, then the configured ones.
    fn certificates(&self) -> Vec<CertificateDer<'static>> {
        // A platform store that cannot be read leaves the configured bundle, which still
        // verifies every server it signed; a server it did not sign then fails loudly.
        let mut certs: Vec<_> =
            rustls_native_certs::load_native_certs().certs.into_iter().filter(usable_as_root).collect();
        certs.extend(self.extra.iter().cloned());
        certs
    }

    /// The trusted certificates as one PEM bundle, for the clients that take trust as PEM
    /// (redis, mysql_async).
    pub fn pem_bundle(&self) -> Vec<u8> {
        let mut pem = String::new();
        for cert in self.certificates() {
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            let body = STANDARD.encode(cert.as_ref());
            for line in body.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(line));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem.into_bytes()
    }

    /// A rustls client configuration verifying against these roots (memcached).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(self.certificates());
        Arc::new(ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = TlsTrust::from_pem_file(&dir.path().join("absent.pem")).expect_err("missing");
        assert!(missing.contains("absent.pem"), "{missing}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = TlsTrust::from_pem_file(&empty).expect_err("no certificate");
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn the_platform_roots_round_trip_through_pem() {
        let trust = TlsTrust::default();
        let bundle = trust.pem_bundle();
        let parsed = CertificateDer::pem_slice_iter(&bundle).collect::<Result<Vec<_>, _>>().expect("valid PEM");
        assert_eq!(parsed, trust.certificates());
    }
}
