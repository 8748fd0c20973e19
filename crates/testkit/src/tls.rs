//! Certificates for TLS tests, generated in the test (rcgen): a CA, a server certificate
//! for `localhost` and `127.0.0.1`, and client certificates with the subjects a test names.
//! Written as PEM files the way the broker and the clients read them: the server's
//! keystore is one file (private key, then the chain), the truststore the CA certificate,
//! each client's certificate and key separate files (librdkafka's `ssl.certificate.location`
//! and `ssl.key.location`, kafka-python's `ssl_certfile` / `ssl_keyfile`).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A client certificate's files.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// A CA and the server keystore it signed, as PEM files in one directory.
pub struct TestCertificates {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    /// The CA certificate (a truststore for the broker and for the clients).
    pub ca_pem: PathBuf,
    /// The server's private key followed by its certificate and the CA's (`ssl.keystore.location`).
    pub server_keystore: PathBuf,
}

impl TestCertificates {
    /// Generates a CA and a server certificate into `dir`; panics, saying why, on failure.
    pub fn generate(dir: &Path) -> Self {
        Self::generate_with_ca_name(dir, "Ironlog Test CA")
    }

    /// [`TestCertificates::generate`] with the CA's common name `ca_name`: two CAs a client
    /// trusts at once (a CA rotation) need names of their own, as their certificates carry
    /// no authority key identifier to tell them apart.
    pub fn generate_with_ca_name(dir: &Path, ca_name: &str) -> Self {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
        let mut ca_params = CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| panic!("CA params: {e}"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name = dn(&[
            (DnType::OrganizationName, "Ironlog Tests"),
            (DnType::CommonName, ca_name),
        ]);
        let ca = ca_params
            .self_signed(&ca_key)
            .unwrap_or_else(|e| panic!("CA certificate: {e}"));

        let server_key = KeyPair::generate().unwrap_or_else(|e| panic!("server key: {e}"));
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap_or_else(|e| panic!("server params: {e}"));
        server_params.distinguished_name = dn(&[(DnType::CommonName, "localhost")]);
        // Client use too: the brokers of a cluster present it to each other (mTLS).
        server_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let server = server_params
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap_or_else(|e| panic!("server certificate: {e}"));

        let ca_pem = dir.join("ca.pem");
        write(&ca_pem, &ca.pem());
        let server_keystore = dir.join("server-keystore.pem");
        write(
            &server_keystore,
            &format!("{}{}{}", server_key.serialize_pem(), server.pem(), ca.pem()),
        );
        TestCertificates {
            dir: dir.to_path_buf(),
            ca,
            ca_key,
            ca_pem,
            server_keystore,
        }
    }

    /// A client certificate signed by the CA, its subject the given attributes in order
    /// (most significant first, e.g. `[("C","US"),("O","acme"),("CN","alice")]`), which
    /// Kafka prints last first: `CN=alice,O=acme,C=US`.
    pub fn client(&self, file_name: &str, subject: &[(&str, &str)]) -> ClientCertificate {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("client key: {e}"));
        let mut params = CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| panic!("client params: {e}"));
        let attributes: Vec<(DnType, &str)> = subject
            .iter()
            .map(|(kind, value)| {
                let kind = match *kind {
                    "CN" => DnType::CommonName,
                    "O" => DnType::OrganizationName,
                    "OU" => DnType::OrganizationalUnitName,
                    "C" => DnType::CountryName,
                    "L" => DnType::LocalityName,
                    "ST" => DnType::StateOrProvinceName,
                    other => panic!("no DN attribute {other} in the test kit"),
                };
                (kind, *value)
            })
            .collect();
        params.distinguished_name = dn(&attributes);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .unwrap_or_else(|e| panic!("client certificate: {e}"));
        let certificate = self.dir.join(format!("{file_name}.pem"));
        let key_path = self.dir.join(format!("{file_name}.key"));
        write(&certificate, &cert.pem());
        write(&key_path, &key.serialize_pem());
        ClientCertificate {
            certificate,
            key: key_path,
        }
    }

    /// A certificate for `CN=<name>` from a CA the broker does not trust.
    pub fn untrusted_client(&self, file_name: &str) -> ClientCertificate {
        let other = TestCertificates::generate(&self.dir.join(format!("{file_name}-other-ca")));
        other.client(file_name, &[("CN", file_name)])
    }
}

/// A distinguished name of `attributes`, in order.
pub(crate) fn dn(attributes: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (kind, value) in attributes {
        dn.push(kind.clone(), *value);
    }
    dn
}

/// Writes `text` to `path`; fails the test when it cannot.
pub(crate) fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
