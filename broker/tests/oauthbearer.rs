//! SASL/OAUTHBEARER with JWT validation against real clients: keys and signed tokens are
//! made in the test (ES256, rcgen's P-256 keys), the broker reads their public halves
//! from a `file://` JSON Web Key Set. librdkafka (confluent-kafka, handing the test's
//! token through `oauth_cb`; the rdkafka crate's librdkafka is built without the
//! OAUTHBEARER provider) produces and consumes as the principal the
//! configured claim names, which the ACL authorizer then judges; expired, wrongly signed,
//! wrong-issuer, wrong-audience, unknown-key and garbage tokens get Kafka's
//! `{"status":"invalid_token"}` then SASL_AUTHENTICATION_FAILED, closing only their own
//! connection; a key added to the set later is picked up without a restart. Over an
//! `https://` key set endpoint (a TLS server in the test, its CA given in the JAAS
//! options): the set is fetched at start, a rotated key is learnt from the endpoint
//! without a restart, an endpoint that fails keeps the keys fetched before in use, and a
//! broker that cannot fetch or trust its endpoint does not start and says why.
mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "ironlog";
const SASL_AUTHENTICATION_FAILED: i16 = 58;
const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;
const SCRIPT_TIMEOUT_SECS: u32 = 120;
const DEADLINE: Duration = Duration::from_secs(30);

/// A P-256 signing key and its key id.
struct SigningKey {
    kid: String,
    pair: rcgen::KeyPair,
}

impl SigningKey {
    fn generate(kid: &str) -> Self {
        SigningKey {
            kid: kid.to_string(),
            pair: rcgen::KeyPair::generate().expect("generate a P-256 key"),
        }
    }

    /// The public key as a JWK.
    fn jwk(&self) -> serde_json::Value {
        let point = self.pair.public_key_raw();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        serde_json::json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        })
    }

    /// A compact JWS of `claims`, with this key's id (or `kid`) in the header.
    fn sign(&self, claims: &serde_json::Value, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.unwrap_or(&self.kid).to_string());
        let key = EncodingKey::from_ec_pem(self.pair.serialize_pem().as_bytes())
            .expect("the key as a JWT signing key");
        jsonwebtoken::encode(&header, claims, &key).expect("sign a JWT")
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

/// Claims a valid token carries; the principal is in `preferred_username` (the broker's
/// `sasl.oauthbearer.sub.claim.name`), `sub` says something else on purpose.
fn claims(user: &str) -> serde_json::Value {
    let now = now_secs();
    serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": format!("subject-of-{user}"),
        "preferred_username": user, "scope": "kafka", "iat": now, "exp": now + 3600,
    })
}

fn write_jwks(path: &Path, keys: &[&SigningKey]) {
    let set = serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
    // Write then rename, so the broker never reads half a file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, set.to_string()).expect("write the JWKS");
    std::fs::rename(&partial, path).expect("move the JWKS in place");
}

/// A broker with a PLAINTEXT listener (ANONYMOUS, a super user, for the harness) and a
/// SASL_PLAINTEXT one with OAUTHBEARER only; alice is a super user, nobody else has ACLs.
struct OAuthBroker {
    broker: TestBroker,
    jwks: PathBuf,
    _dir: TestDir,
}

fn oauth_broker(keys: &[&SigningKey]) -> OAuthBroker {
    let dir = TestDir::new("ironlog-oauthbearer").expect("a temp dir for the JWKS");
    let jwks = dir.path().join("jwks.json");
    write_jwks(&jwks, keys);
    let url = format!("file://{}", jwks.display());
    let broker = oauth_broker_spec(&url, LOGIN_MODULE_REQUIRED, &[]).start();
    OAuthBroker {
        broker,
        jwks,
        _dir: dir,
    }
}

const LOGIN_MODULE_REQUIRED: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;";

/// The broker of [`oauth_broker`] with the key set at `url`, the OAUTHBEARER JAAS entry
/// `jaas` and `more` settings on top.
fn oauth_broker_spec(url: &str, jaas: &str, more: &[(&str, &str)]) -> BrokerSpec {
    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0";
    broker_spec()
        .overrides(&[
            ("listeners", listeners),
            ("advertised.listeners", listeners),
            ("sasl.enabled.mechanisms", "OAUTHBEARER"),
            (
                "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                jaas,
            ),
            (
                "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
            ),
            ("sasl.oauthbearer.jwks.endpoint.url", url),
            ("sasl.oauthbearer.expected.issuer", ISSUER),
            ("sasl.oauthbearer.expected.audience", AUDIENCE),
            ("sasl.oauthbearer.sub.claim.name", "preferred_username"),
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:alice;User:ANONYMOUS"),
            ("authentication.timeout.ms", "5000"),
        ])
        .overrides(more)
}

impl OAuthBroker {
    fn sasl_address(&self) -> String {
        self.broker
            .listener("SASL_PLAINTEXT")
            .expect("the broker printed its SASL_PLAINTEXT listener")
    }

    /// confluent-kafka (librdkafka) with `token` (see oauthbearer_session.py); fails the
    /// test unless the session sees `expect`.
    fn session(&self, expect: &str, topic: &str, token: &str, principal: &str) {
        require_python_modules(&["confluent_kafka"], "pip install confluent-kafka");
        let mut session = python_session(
            "oauthbearer_session.py",
            self.sasl_address(),
            vec![expect.to_string(), topic.to_string()],
            SCRIPT_TIMEOUT_SECS,
        );
        session.env.extend([
            ("OAUTH_TOKEN".into(), token.to_string()),
            ("OAUTH_PRINCIPAL".into(), principal.to_string()),
        ]);
        session.run(&self.broker.log_tail());
    }
}

fn first_message(token: &str) -> Vec<u8> {
    format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}").into_bytes()
}

/// Authenticates `token` over a raw connection: `Ok(())` on success (the connection then
/// serves Metadata), else the error message of the SASL_AUTHENTICATION_FAILED that must
/// follow Kafka's invalid_token status.
fn raw_attempt(address: &str, token: &str) -> Result<(), String> {
    let mut socket = RawSocket::connect(address);
    assert_eq!(
        socket.sasl_handshake("OAUTHBEARER", 1).error_code,
        0,
        "OAUTHBEARER is enabled"
    );
    let first = socket.sasl_authenticate(&first_message(token));
    assert_eq!(
        first.error_code, 0,
        "the first answer is never an error code"
    );
    if first.auth_bytes.is_empty() {
        assert!(
            socket.metadata_answers(),
            "an authenticated connection serves Metadata"
        );
        return Ok(());
    }
    assert_eq!(
        String::from_utf8_lossy(&first.auth_bytes),
        INVALID_TOKEN,
        "a refused token is answered with the invalid_token status"
    );
    let last = socket.sasl_authenticate(&[1]);
    assert_eq!(
        last.error_code, SASL_AUTHENTICATION_FAILED,
        "the client's %x01 after the status is answered SASL_AUTHENTICATION_FAILED"
    );
    let message = last
        .error_message
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        !socket.metadata_answers(),
        "the connection of a refused token is closed"
    );
    Err(message)
}

#[test]
fn a_token_from_the_key_set_produces_and_consumes_as_the_claimed_principal() {
    let key = SigningKey::generate("key-1");
    let broker = oauth_broker(&[&key]);
    broker.broker.create_topic("oauth-orders", 1, &[]);

    let alice = key.sign(&claims("alice"), None);
    broker.session("roundtrip", "oauth-orders", &alice, "alice");

    // A valid token of someone who is no super user and has no ACL authenticates, and is
    // then refused by the authorizer: the principal is the claim's, not a fixed one.
    let mallory = key.sign(&claims("mallory"), None);
    broker.session("write-denied", "oauth-orders", &mallory, "mallory");
    let log = broker.broker.log_text();
    assert!(
        log.lines().any(|l| l.contains("ironlog::audit")
            && l.contains("principal=User:mallory")
            && l.contains("resource_name=oauth-orders")),
        "no audit line denies User:mallory (the token's preferred_username) on oauth-orders:\n{}",
        broker.broker.log_tail()
    );
    assert!(
        !log.contains("subject-of-"),
        "the principal must come from preferred_username, not sub"
    );

    // An expired token through librdkafka: refused with the invalid_token status.
    let mut expired = claims("alice");
    expired["iat"] = (now_secs() - 7200).into();
    expired["exp"] = (now_secs() - 3600).into();
    broker.session(
        "auth-failure",
        "oauth-orders",
        &key.sign(&expired, None),
        "alice",
    );
}

#[test]
fn bad_tokens_are_refused_with_sasl_authentication_failed_and_nothing_else_is_affected() {
    let key = SigningKey::generate("key-1");
    let impostor = SigningKey::generate("key-1");
    let broker = oauth_broker(&[&key]);
    let address = broker.sasl_address();

    let mut expired = claims("alice");
    expired["iat"] = (now_secs() - 7200).into();
    expired["exp"] = (now_secs() - 3600).into();
    let mut not_yet = claims("alice");
    not_yet["nbf"] = (now_secs() + 3600).into();
    let mut wrong_issuer = claims("alice");
    wrong_issuer["iss"] = "https://evil.example.test".into();
    let mut wrong_audience = claims("alice");
    wrong_audience["aud"] = "someone-else".into();
    let mut no_principal = claims("alice");
    no_principal
        .as_object_mut()
        .expect("an object")
        .remove("preferred_username");
    let mut no_iat = claims("alice");
    no_iat.as_object_mut().expect("an object").remove("iat");
    let valid = key.sign(&claims("alice"), None);
    let (signed_part, _) = valid.rsplit_once('.').expect("a compact JWS");
    let unsigned = format!("{signed_part}.");

    let cases: Vec<(&str, String)> = vec![
        ("an expired token", key.sign(&expired, None)),
        ("a token not valid yet (nbf)", key.sign(&not_yet, None)),
        (
            "a token signed by another key with the same kid",
            impostor.sign(&claims("alice"), None),
        ),
        ("a token of another issuer", key.sign(&wrong_issuer, None)),
        (
            "a token for another audience",
            key.sign(&wrong_audience, None),
        ),
        (
            "a token whose kid the key set does not hold",
            key.sign(&claims("alice"), Some("key-9")),
        ),
        (
            "a token without the principal claim",
            key.sign(&no_principal, None),
        ),
        ("a token without iat", key.sign(&no_iat, None)),
        ("a token with its signature cut off", unsigned),
        ("garbage instead of a JWT", "not.a.jwt".to_string()),
    ];
    for (what, token) in &cases {
        match raw_attempt(&address, token) {
            Ok(()) => panic!("{what} authenticated"),
            Err(message) => assert!(
                message.contains("invalid_token"),
                "{what}: the failure carries Kafka's invalid_token status, got {message:?}"
            ),
        }
    }

    // A first message that is not RFC 7628's: SASL_AUTHENTICATION_FAILED straight away.
    let mut socket = RawSocket::connect(&address);
    assert_eq!(socket.sasl_handshake("OAUTHBEARER", 1).error_code, 0);
    let answer = socket.sasl_authenticate(b"auth=Bearer nothing-like-rfc-7628");
    assert_eq!(
        answer.error_code, SASL_AUTHENTICATION_FAILED,
        "a malformed client first message is SASL_AUTHENTICATION_FAILED"
    );
    assert!(!socket.metadata_answers(), "and its connection is closed");

    // An authorization id other than the token's principal is refused.
    let mut socket = RawSocket::connect(&address);
    assert_eq!(socket.sasl_handshake("OAUTHBEARER", 1).error_code, 0);
    let message = format!("n,a=admin,\u{1}auth=Bearer {valid}\u{1}\u{1}");
    let answer = socket.sasl_authenticate(message.as_bytes());
    assert_eq!(answer.error_code, SASL_AUTHENTICATION_FAILED);
    assert!(
        answer
            .error_message
            .is_some_and(|m| m.contains("authorization id")),
        "the refusal names the authorization id"
    );

    // The broker still serves a good token, over the raw protocol and through librdkafka.
    raw_attempt(&address, &valid).expect("a valid token authenticates after all the bad ones");
    broker.broker.create_topic("oauth-after", 1, &[]);
    broker.session("roundtrip", "oauth-after", &valid, "alice");

    // Nothing of a token reaches the log: not the valid one, not the refused ones.
    let log = broker.broker.log_tail();
    for (what, token) in cases
        .iter()
        .map(|(w, t)| (*w, t.as_str()))
        .chain([("the valid token", valid.as_str())])
    {
        let (_, signature) = token.rsplit_once('.').unwrap_or(("", token));
        if signature.len() > 8 {
            assert!(!log.contains(signature), "the log shows {what}'s signature");
        }
    }
}

#[test]
fn a_key_added_to_the_key_set_file_is_used_without_a_restart() {
    let old = SigningKey::generate("key-old");
    let new = SigningKey::generate("key-new");
    let broker = oauth_broker(&[&old]);
    let address = broker.sasl_address();
    let token = new.sign(&claims("alice"), None);
    assert!(
        raw_attempt(&address, &token).is_err(),
        "a key the set does not hold yet is refused"
    );
    write_jwks(&broker.jwks, &[&old, &new]);
    // A kid the broker does not know makes it read the file again (at most once a second).
    let deadline = Instant::now() + DEADLINE;
    while raw_attempt(&address, &token).is_err() {
        assert!(
            Instant::now() < deadline,
            "the key added to the JWKS file was not used within {DEADLINE:?}\n{}",
            broker.broker.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    raw_attempt(&address, &old.sign(&claims("alice"), None))
        .expect("the old key still works after the set was read again");
}

/// What the key set endpoint answers.
#[derive(Clone)]
enum Answer {
    Jwks(String),
    Status(u16),
}

/// An HTTPS server answering every GET with [`Answer`], counting the requests.
struct JwksEndpoint {
    url: String,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl JwksEndpoint {
    fn start(certs: &TestCertificates, keys: &[&SigningKey]) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(&certs.server_keystore)
                .expect("the server keystore")
                .collect::<Result<_, _>>()
                .expect("the server chain");
        let key = PrivateKeyDer::from_pem_file(&certs.server_keystore).expect("the server key");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the server certificate"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the endpoint");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let endpoint = JwksEndpoint {
            url: format!("https://localhost:{port}/.well-known/jwks.json"),
            answer: Arc::new(Mutex::new(Answer::Jwks(jwks_text(keys)))),
            requests: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (answer, requests, stop) = (
            Arc::clone(&endpoint.answer),
            Arc::clone(&endpoint.requests),
            Arc::clone(&endpoint.stop),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let socket = match listener.accept() {
                    Ok((socket, _)) => socket,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    Err(e) => panic!("accept: {e}"),
                };
                socket.set_nonblocking(false).expect("a blocking socket");
                socket
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("a read timeout");
                let connection =
                    rustls::ServerConnection::new(Arc::clone(&config)).expect("a TLS session");
                let mut tls = rustls::StreamOwned::new(connection, socket);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if !request.starts_with(b"GET /.well-known/jwks.json ") {
                    continue; // a handshake refused by the client, or another path
                }
                requests.fetch_add(1, Ordering::SeqCst);
                let (status, body) = match answer.lock().expect("the answer").clone() {
                    Answer::Jwks(body) => (200, body),
                    Answer::Status(status) => (status, "{}".to_string()),
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        endpoint
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().expect("the answer") = answer;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for JwksEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn jwks_text(keys: &[&SigningKey]) -> String {
    serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// The OAUTHBEARER JAAS entry trusting the test CA for the key set endpoint.
fn jaas_trusting(certs: &TestCertificates) -> String {
    format!(
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         ssl.truststore.location=\"{}\" ssl.truststore.type=\"PEM\";",
        certs.ca_pem.display()
    )
}

/// Polls `attempt` until it says `Ok`, failing the test after [`DEADLINE`].
fn until(what: &str, broker: &TestBroker, mut attempt: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !attempt() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {DEADLINE:?}\n{}",
            broker.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_https_key_set_is_fetched_at_start_and_a_rotated_key_is_learnt_without_a_restart() {
    let dir = TestDir::new("ironlog-oauthbearer-https").expect("a temp dir");
    let certs = TestCertificates::generate(dir.path());
    let old = SigningKey::generate("key-old");
    let new = SigningKey::generate("key-new");
    let endpoint = JwksEndpoint::start(&certs, &[&old]);
    let broker = oauth_broker_spec(&endpoint.url, &jaas_trusting(&certs), &[]).start();
    let address = broker
        .listener("SASL_PLAINTEXT")
        .expect("the broker printed its SASL_PLAINTEXT listener");
    assert!(endpoint.requests() >= 1, "the set was fetched at start");
    raw_attempt(&address, &old.sign(&claims("alice"), None))
        .expect("a token of the fetched key set authenticates");

    // the IdP rotates: only the new key is published
    endpoint.answer(Answer::Jwks(jwks_text(&[&new])));
    let new_token = new.sign(&claims("alice"), None);
    let before = endpoint.requests();
    let refused = raw_attempt(&address, &new_token)
        .expect_err("a key the broker has not fetched yet is refused at once");
    assert!(
        refused.contains("key-new") || !refused.is_empty(),
        "{refused}"
    );
    // the unknown key id makes the broker fetch again, in the background
    until("a fetch for the unknown key id", &broker, || {
        endpoint.requests() > before
    });
    until("authentication with the rotated key", &broker, || {
        raw_attempt(&address, &new_token).is_ok()
    });
    raw_attempt(&address, &old.sign(&claims("alice"), None))
        .expect_err("the key the endpoint no longer publishes is refused");
}

#[test]
fn an_https_key_set_endpoint_that_fails_leaves_the_keys_fetched_before_in_use() {
    let dir = TestDir::new("ironlog-oauthbearer-https").expect("a temp dir");
    let certs = TestCertificates::generate(dir.path());
    let key = SigningKey::generate("key-1");
    let endpoint = JwksEndpoint::start(&certs, &[&key]);
    let broker = oauth_broker_spec(
        &endpoint.url,
        &jaas_trusting(&certs),
        &[
            ("sasl.oauthbearer.jwks.endpoint.refresh.ms", "200"),
            ("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", "20"),
            ("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", "100"),
        ],
    )
    .start();
    let address = broker
        .listener("SASL_PLAINTEXT")
        .expect("the broker printed its SASL_PLAINTEXT listener");
    let token = key.sign(&claims("alice"), None);
    raw_attempt(&address, &token).expect("a token of the fetched key set authenticates");
    for failure in [Answer::Status(500), Answer::Jwks("not json".into())] {
        endpoint.answer(failure);
        let before = endpoint.requests();
        // refreshes every 200 ms: several fail, with their retries
        until("refreshes against the failing endpoint", &broker, || {
            endpoint.requests() >= before + 3
        });
        raw_attempt(&address, &token)
            .expect("the keys fetched before stay in use while the endpoint fails");
    }
    let log = broker.log_tail();
    assert!(
        log.contains("cannot fetch the OAUTHBEARER JSON Web Key Set"),
        "a refresh that gave up is logged\n{log}"
    );
}

#[test]
fn a_broker_that_cannot_fetch_or_trust_its_https_key_set_does_not_start_and_says_why() {
    let dir = TestDir::new("ironlog-oauthbearer-https").expect("a temp dir");
    let certs = TestCertificates::generate(&dir.path().join("endpoint"));
    let other = TestCertificates::generate_with_ca_name(&dir.path().join("other"), "Another CA");
    let key = SigningKey::generate("key-1");
    let endpoint = JwksEndpoint::start(&certs, &[&key]);
    let cases: Vec<(&str, String, String, &str)> = vec![
        (
            "a CA that did not sign the endpoint's certificate",
            endpoint.url.clone(),
            jaas_trusting(&other),
            "certificate",
        ),
        (
            "the system's CAs only (the test CA is not among them)",
            endpoint.url.clone(),
            LOGIN_MODULE_REQUIRED.to_string(),
            "certificate",
        ),
        (
            "a path the endpoint does not serve",
            endpoint.url.replace("jwks.json", "nothing-here"),
            jaas_trusting(&certs),
            "GET",
        ),
        (
            "a truststore file that does not exist",
            endpoint.url.clone(),
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             ssl.truststore.location=\"/no/such/ca.pem\";"
                .to_string(),
            "/no/such/ca.pem",
        ),
    ];
    for (what, url, jaas, why) in cases {
        let failed = oauth_broker_spec(&url, &jaas, &[]).start_expecting_failure();
        assert!(
            failed.contains("sasl.oauthbearer.jwks.endpoint.url") || failed.contains("jaas.config"),
            "{what}: the error names the setting\n{failed}"
        );
        assert!(
            failed.contains(why),
            "{what}: the error says why ({why})\n{failed}"
        );
    }
    endpoint.answer(Answer::Status(503));
    let failed =
        oauth_broker_spec(&endpoint.url, &jaas_trusting(&certs), &[]).start_expecting_failure();
    assert!(
        failed.contains("503"),
        "an endpoint answering 503 at start\n{failed}"
    );
}
