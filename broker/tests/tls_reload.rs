//! Certificate rotation without a restart: an mTLS listener whose keystore and truststore
//! live in a Kubernetes Secret volume's layout (`..data` a symlink to a timestamped
//! directory, the files symlinks through it) serves the new certificate and trusts the new
//! CA once the files change, while a connection opened before keeps producing; files that
//! cannot be used (a key that does not match its certificate, text that is no PEM) are
//! refused with a logged error and the certificate before keeps serving. Checked with
//! openssl's client (which certificate a new connection is shown) and librdkafka (the rdkafka
//! crate and kcat).
mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const DEADLINE: Duration = Duration::from_secs(60);

/// A CA, its server keystore and a client certificate it signed.
struct Generation {
    certs: TestCertificates,
    client: ClientCertificate,
}

impl Generation {
    fn new(dir: &Path) -> Self {
        let certs = TestCertificates::generate(dir);
        let client = certs.client("client", &[("CN", "rotating-client")]);
        Generation { certs, client }
    }

    fn ca(&self) -> String {
        self.certs.ca_pem.display().to_string()
    }

    /// The serial number of the server certificate in the keystore, as openssl prints it.
    fn server_serial(&self) -> String {
        let pem = std::fs::read_to_string(&self.certs.server_keystore).expect("keystore");
        serial_of(&pem).expect("the generated keystore holds a certificate")
    }
}

/// A Secret volume: `..data` → `<generation>/`, `keystore.pem` and `ca.pem` → `..data/…`.
struct SecretVolume {
    dir: PathBuf,
}

impl SecretVolume {
    fn new(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).expect("secret dir");
        for name in ["keystore.pem", "ca.pem"] {
            symlink(format!("..data/{name}"), dir.join(name)).expect("file symlink");
        }
        SecretVolume { dir }
    }

    /// Writes `keystore` and `ca` into a new generation directory and swaps `..data` to it
    /// with an atomic rename, as the kubelet does.
    fn publish(&self, generation: &str, keystore: &str, ca: &str) {
        let target = self.dir.join(format!("..{generation}"));
        std::fs::create_dir_all(&target).expect("generation dir");
        std::fs::write(target.join("keystore.pem"), keystore).expect("write keystore");
        std::fs::write(target.join("ca.pem"), ca).expect("write truststore");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        symlink(format!("..{generation}"), &tmp).expect("new ..data symlink");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
    }

    fn keystore(&self) -> String {
        self.dir.join("keystore.pem").display().to_string()
    }

    fn truststore(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `openssl x509 -serial` of the first certificate in `pem`.
fn serial_of(pem: &str) -> Option<String> {
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("openssl stdin");
        stdin.write_all(pem.as_bytes()).expect("write to openssl");
    }
    let out = child.wait_with_output().expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The serial of the certificate a new TLS connection to `address` is shown, presenting
/// `generation`'s client certificate; `None` when the handshake shows none.
fn served_serial(address: &str, generation: &Generation) -> Option<String> {
    let out = Command::new("timeout")
        .args(["20", "openssl", "s_client", "-connect", address])
        .arg("-CAfile")
        .arg(&generation.certs.ca_pem)
        .arg("-cert")
        .arg(&generation.client.certificate)
        .arg("-key")
        .arg(&generation.client.key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    serial_of(&String::from_utf8_lossy(&out.stdout))
}

/// Whether kcat, as `generation`'s client, gets metadata over `address`.
fn kcat_metadata(address: &str, generation: &Generation) -> Result<(), String> {
    let settings = [
        ("security.protocol", "ssl".to_string()),
        ("ssl.ca.location", generation.ca()),
        (
            "ssl.certificate.location",
            generation.client.certificate.display().to_string(),
        ),
        (
            "ssl.key.location",
            generation.client.key.display().to_string(),
        ),
    ];
    let out = kcat_output(address, &settings, &["-L", "-m", "10"], None, 30);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn produce(producer: &BaseProducer, topic: &str, value: &str) -> Result<(), String> {
    producer
        .send(BaseRecord::<(), str>::to(topic).payload(value))
        .map_err(|(e, _)| e.to_string())?;
    producer
        .flush(Duration::from_secs(20))
        .map_err(|e| e.to_string())
}

fn refusals(broker: &TestBroker) -> usize {
    broker
        .log_text()
        .matches("TLS files changed but cannot be used")
        .count()
}

/// Opens new connections (each must be shown `expected`) until the broker has logged
/// `count` refused file changes.
fn await_refusal(broker: &TestBroker, address: &str, generation: &Generation, count: usize) {
    let started = Instant::now();
    while refusals(broker) < count {
        assert_eq!(
            served_serial(address, generation).as_deref(),
            Some(generation.server_serial().as_str()),
            "a connection after unusable files replaced good ones was not shown the certificate before\n{}",
            broker.log_tail()
        );
        assert!(
            started.elapsed() < DEADLINE,
            "the broker logged no refusal of the unusable TLS files within {DEADLINE:?}\n{}",
            broker.log_tail()
        );
    }
}

/// Opens new connections until one is shown `generation`'s server certificate.
fn await_served(broker: &TestBroker, address: &str, generation: &Generation, what: &str) {
    let started = Instant::now();
    let expected = generation.server_serial();
    loop {
        let served = served_serial(address, generation);
        if served.as_deref() == Some(expected.as_str()) {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: new connections were still shown {served:?}, not {expected}, after {DEADLINE:?}\n{}",
            broker.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rotated_certificate_files_serve_new_connections_and_broken_ones_are_refused() {
    let dir = TestDir::new("ironlog-tls-reload").expect("a temp dir for certificates");
    let a = Generation::new(&dir.path().join("a"));
    let b = Generation::new(&dir.path().join("b"));
    assert_ne!(
        a.server_serial(),
        b.server_serial(),
        "two generations share a serial"
    );
    let secret = SecretVolume::new(dir.path().join("secret"));
    secret.publish(
        "2026_a",
        &read(&a.certs.server_keystore),
        &read(&a.certs.ca_pem),
    );

    let listeners = "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0";
    let keystore = secret.keystore();
    let truststore = secret.truststore();
    let broker = broker_spec()
        .overrides(&[
            ("listeners", listeners),
            ("advertised.listeners", listeners),
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &keystore),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &truststore),
            ("ssl.client.auth", "required"),
            ("ssl.file.reload.interval.ms", "200"),
        ])
        .start();
    let address = broker
        .listener("SSL")
        .expect("the broker printed its SSL listener");
    assert_eq!(
        served_serial(&address, &a).as_deref(),
        Some(a.server_serial().as_str()),
        "the first certificate is not served\n{}",
        broker.log_tail()
    );

    // A producer connected before the rotation, as generation A's client.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &address)
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", a.ca())
        .set(
            "ssl.certificate.location",
            a.client.certificate.display().to_string(),
        )
        .set("ssl.key.location", a.client.key.display().to_string())
        .set("message.timeout.ms", "20000")
        .create()
        .expect("rdkafka producer");
    produce(&producer, "rotation", "before").unwrap_or_else(|e| {
        panic!(
            "producing before the rotation failed: {e}\n{}",
            broker.log_tail()
        )
    });

    // The Secret is updated to generation B: a new key, certificate and CA.
    secret.publish(
        "2026_b",
        &read(&b.certs.server_keystore),
        &read(&b.certs.ca_pem),
    );
    await_served(&broker, &address, &b, "after the ..data swap to B");
    kcat_metadata(&address, &b).unwrap_or_else(|e| {
        panic!(
            "kcat with B's CA and certificate was refused after the rotation: {e}\n{}",
            broker.log_tail()
        )
    });
    assert!(
        kcat_metadata(&address, &a).is_err(),
        "a new connection with A's certificate was accepted after the truststore became B's CA"
    );
    // The connection made before the rotation goes on (a new one as A would be refused).
    produce(&producer, "rotation", "after").unwrap_or_else(|e| {
        panic!(
            "the connection opened before the rotation stopped working: {e}\n{}",
            broker.log_tail()
        )
    });

    // A's key with B's certificate: the key does not match, B keeps serving.
    let b_keystore = read(&b.certs.server_keystore);
    let b_chain = &b_keystore[b_keystore
        .find("-----BEGIN CERTIFICATE")
        .expect("B's chain")..];
    let a_keystore = read(&a.certs.server_keystore);
    let a_key = &a_keystore[..a_keystore
        .find("-----BEGIN CERTIFICATE")
        .expect("A's chain")];
    secret.publish(
        "2026_c",
        &format!("{a_key}{b_chain}"),
        &read(&b.certs.ca_pem),
    );
    await_refusal(&broker, &address, &b, 1);

    // Text that is no PEM, written in place: refused too.
    let current = secret.dir.join("..2026_c").join("keystore.pem");
    std::fs::write(&current, "not a certificate\n").expect("overwrite the keystore");
    await_refusal(&broker, &address, &b, 2);
    kcat_metadata(&address, &b).unwrap_or_else(|e| {
        panic!(
            "kcat was refused while unusable files were on disk: {e}\n{}",
            broker.log_tail()
        )
    });

    // Good files written in place over the broken ones are loaded.
    std::fs::write(&current, read(&a.certs.server_keystore)).expect("rewrite the keystore");
    std::fs::write(
        secret.dir.join("..2026_c").join("ca.pem"),
        read(&a.certs.ca_pem),
    )
    .expect("rewrite the truststore");
    await_served(
        &broker,
        &address,
        &a,
        "after the files were rewritten in place with A",
    );
    kcat_metadata(&address, &a).unwrap_or_else(|e| {
        panic!(
            "kcat with A's certificate was refused after A came back: {e}\n{}",
            broker.log_tail()
        )
    });
    // Plaintext clients never noticed.
    let plaintext = broker.listener("PLAINTEXT").expect("PLAINTEXT listener");
    let metadata = kcat_output(&plaintext, &[], &["-L", "-m", "10"], None, 30);
    assert!(
        metadata.status.success(),
        "the PLAINTEXT listener stopped serving"
    );
}
