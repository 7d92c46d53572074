//! DICOM TLS (PS3.15 B.9, Basic TLS Secure Transport Connection Profile, in the BCP 195
//! form): the rustls configurations of the SCP's TLS listener and of the senders' `+tls`
//! destinations. They are built once, at startup, from PEM files, so a missing file, bad
//! PEM or a key that does not match its certificate stops the node before it accepts
//! anything, with the configuration key in the message.
//!
//! Cryptography is rustls with its `ring` provider, passed explicitly to every builder:
//! nothing depends on a process-wide default provider, so another crate enabling a second
//! provider (aws-lc-rs) could not make the builders panic. Protocol versions are TLS 1.3
//! and 1.2; ring's suites are all AEAD with (EC)DHE key exchange, as BCP 195 asks.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use snafu::{ResultExt, Snafu, ensure};

use crate::config::{SenderTls, Tls, resolve_path};

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("{key}: is empty"))]
    Unset { key: &'static str },
    #[snafu(display("{key}: cannot read {}", path.display()))]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("{key}: {} is not valid PEM", path.display()))]
    Pem {
        key: &'static str,
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[snafu(display("{key}: {} holds no {what}", path.display()))]
    Missing {
        key: &'static str,
        path: PathBuf,
        what: &'static str,
    },
    #[snafu(display("{key}: a certificate in {} cannot be a trust anchor", path.display()))]
    Anchor {
        key: &'static str,
        path: PathBuf,
        source: rustls::Error,
    },
    #[snafu(display(
        "{key}: the private key does not belong to the certificate, or is not usable"
    ))]
    Key {
        key: &'static str,
        source: rustls::Error,
    },
    #[snafu(display("{key}: cannot verify client certificates with these CA certificates"))]
    Verifier {
        key: &'static str,
        source: rustls::server::VerifierBuilderError,
    },
    #[snafu(display("the TLS library refuses TLS 1.2/1.3 with its ring provider"))]
    Versions { source: rustls::Error },
}

/// TLS 1.3 first; 1.2 for peers (older PACS, DCMTK builds) that lack 1.3. Nothing older:
/// BCP 195 forbids it.
const VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS listener's configuration; `cfg` was validated (paths set as required).
pub fn server_config(cfg: &Tls) -> Result<Arc<ServerConfig>, Error> {
    let chain = certificates("node.tls.certificate", &cfg.certificate)?;
    let key = private_key("node.tls.private_key", &cfg.private_key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .context(VersionsSnafu)?;
    let builder = if cfg.ca_certificates.trim().is_empty() {
        // Only reachable with require_client_certificate = false (validated): no client
        // certificates are asked for.
        ensure!(
            !cfg.require_client_certificate,
            UnsetSnafu {
                key: "node.tls.ca_certificates"
            }
        );
        builder.with_no_client_auth()
    } else {
        const KEY: &str = "node.tls.ca_certificates";
        let roots = roots(KEY, &cfg.ca_certificates)?;
        let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
        if !cfg.require_client_certificate {
            verifier = verifier.allow_unauthenticated();
        }
        builder.with_client_cert_verifier(verifier.build().context(VerifierSnafu { key: KEY })?)
    };
    let config = builder.with_single_cert(chain, key).context(KeySnafu {
        key: "node.tls.private_key",
    })?;
    Ok(Arc::new(config))
}

/// HTTPS for the review UI (`review.tls`): the same versions and provider as DICOM TLS, no
/// client certificates, ALPN `http/1.1`.
pub fn https_config(certificate: &str, private_key: &str) -> Result<Arc<ServerConfig>, Error> {
    let chain = certificates("review.tls.certificate", certificate)?;
    let key = self::private_key("review.tls.private_key", private_key)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .context(VersionsSnafu)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context(KeySnafu {
            key: "review.tls.private_key",
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The configuration for `+tls` destinations: their server certificates must chain to
/// `ca_certificates` and name the destination's HOST; the client certificate, if set, is
/// presented to destinations that ask for one.
pub fn client_config(cfg: &SenderTls) -> Result<Arc<ClientConfig>, Error> {
    const KEY: &str = "node.sender.tls.ca_certificates";
    ensure!(
        !cfg.ca_certificates.trim().is_empty(),
        UnsetSnafu { key: KEY }
    );
    let roots = roots(KEY, &cfg.ca_certificates)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .context(VersionsSnafu)?
        .with_root_certificates(roots);
    let config = if cfg.certificate.trim().is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = certificates("node.sender.tls.certificate", &cfg.certificate)?;
        let key = private_key("node.sender.tls.private_key", &cfg.private_key)?;
        builder
            .with_client_auth_cert(chain, key)
            .context(KeySnafu {
                key: "node.sender.tls.private_key",
            })?
    };
    Ok(Arc::new(config))
}

/// The file named by `key`, read whole (certificate and key files are small); the path is
/// resolved like every other path of the configuration.
fn read(key: &'static str, path: &str) -> Result<(PathBuf, Vec<u8>), Error> {
    ensure!(!path.trim().is_empty(), UnsetSnafu { key });
    let path = resolve_path(std::path::Path::new(path.trim()));
    let bytes = std::fs::read(&path).context(ReadSnafu {
        key,
        path: path.clone(),
    })?;
    Ok((path, bytes))
}

/// All CERTIFICATE sections of a PEM file, in order (own certificate first in a chain).
fn certificates(key: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let (path, bytes) = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .context(PemSnafu {
            key,
            path: path.clone(),
        })?;
    ensure!(
        !certs.is_empty(),
        MissingSnafu {
            key,
            path,
            what: "PEM certificate (BEGIN CERTIFICATE)"
        }
    );
    Ok(certs)
}

/// The first private key of a PEM file. Encrypted keys are not read: the node starts
/// unattended, with no one to type a passphrase; protect the file with its permissions.
fn private_key(key: &'static str, path: &str) -> Result<PrivateKeyDer<'static>, Error> {
    let (path, bytes) = read(key, path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(k) => Ok(k),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => MissingSnafu {
            key,
            path,
            what: "unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)",
        }
        .fail(),
        Err(source) => Err(source).context(PemSnafu { key, path }),
    }
}

/// A trust store of every certificate in a PEM bundle.
fn roots(key: &'static str, path: &str) -> Result<Arc<RootCertStore>, Error> {
    let certs = certificates(key, path)?;
    let path = resolve_path(std::path::Path::new(path.trim()));
    let mut store = RootCertStore::empty();
    for c in certs {
        store.add(c).context(AnchorSnafu {
            key,
            path: path.clone(),
        })?;
    }
    Ok(Arc::new(store))
}

/// The protocol version of an established session, for the log ("TLSv1_3").
pub fn version_name(v: Option<rustls::ProtocolVersion>) -> String {
    v.map(|v| format!("{v:?}")).unwrap_or_default()
}
