//! SASL/OAUTHBEARER with JWT validation against real clients: keys and signed tokens are
//! made in the test (ES256, rcgen's P-256 keys), the broker reads their public halves
//! from a `file://` JSON Web Key Set. librdkafka (confluent-kafka, handing the test's
//! token through `oauth_cb`; the rdkafka crate's librdkafka is built without the
//! OAUTHBEARER provider) produces and consumes as the principal the
//! configured claim names, which the ACL authorizer then judges; expired, wrongly signed,
//! wrong-issuer, wrong-audience, unknown-key and garbage tokens get Kafka's
//! `{"status":"invalid_token"}` then SASL_AUTHENTICATION_FAILED, closing only their own
//! connection; a key added to the set later is picked up without a restart.
mod common;

use std::path::{Path, PathBuf};
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
    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0";
    let broker = broker_spec()
        .overrides(&[
            ("listeners", listeners),
            ("advertised.listeners", listeners),
            ("sasl.enabled.mechanisms", "OAUTHBEARER"),
            (
                "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
            ),
            (
                "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
            ),
            ("sasl.oauthbearer.jwks.endpoint.url", &url),
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
        .start();
    OAuthBroker {
        broker,
        jwks,
        _dir: dir,
    }
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
