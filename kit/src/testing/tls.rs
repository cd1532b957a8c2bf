//! A local HTTPS endpoint for KMS, shaped like the real one: TLS with an RSA-2048 root →
//! intermediate → leaf chain for `localhost`/`127.0.0.1` (made by `tools/make_test_ca.py`),
//! terminated here with rustls and spliced to a plain-HTTP upstream (moto or the time gate).
//!
//! The function trusts it as it would trust AWS: `SSL_CERT_FILE` names the machine's CA bundle
//! plus the test root ([`TestCa::bundle`]); the Node.js peer gets the root through
//! `NODE_EXTRA_CA_CERTS`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::net::{TcpListener, TcpStream};

/// The throwaway certificate chain, made once per test process.
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// The root certificate alone (PEM).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.pem")
    }
    /// The machine's CA bundle plus the root (PEM), for `SSL_CERT_FILE`.
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle.pem")
    }
    fn chain(&self) -> PathBuf {
        self.dir.join("chain.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.join("leaf.key")
    }
}

/// The chain, generated on first use into a per-process temporary directory.
pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        // The kit's own script, with the project's Python (`cryptography` comes with moto).
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/make_test_ca.py");
        let dir = std::env::temp_dir().join(format!("kms-lambda-test-ca-{}", std::process::id()));
        let python = Path::new(".venv/bin/python");
        let status = std::process::Command::new(python)
            .arg(script)
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("{}: {e} (run `make venv`)", python.display()));
        assert!(status.success(), "make_test_ca.py failed");
        TestCa { dir }
    })
}

/// A TLS-terminating endpoint in front of `upstream`. Serves until the test's runtime ends.
pub struct TlsEndpoint {
    addr: SocketAddr,
}

impl TlsEndpoint {
    /// Starts on a free loopback port, forwarding each connection's plaintext to `upstream`
    /// (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let ca = test_ca();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca.chain())
            .expect("chain.pem")
            .collect::<Result<_, _>>()
            .expect("PEM certificates");
        let key = PrivateKeyDer::from_pem_file(ca.key()).expect("leaf.key");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream as http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // As KMS's own endpoint and the SDK do: no Nagle delay on small writes.
                    let _ = stream.set_nodelay(true);
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = plain.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsEndpoint { addr }
    }

    /// `https://localhost:PORT`, for `AWS_ENDPOINT_URL_KMS` (a name, so the client resolves
    /// it as it resolves KMS's).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}
