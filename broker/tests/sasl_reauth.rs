//! SASL re-authentication (KIP-368) with `connections.max.reauth.ms`: SaslAuthenticate
//! answers the session's lifetime (per mechanism where set so); a connection whose session
//! ran out gets its next request refused by closing it; a re-authentication in time, as the
//! same principal, keeps the connection serving, one as another principal is refused. A
//! librdkafka producer (the rdkafka crate) re-authenticates by itself and keeps its
//! connection through several session lifetimes.
mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::SaslAuthenticateResponse;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// How long the broker may take to close a connection it must close (the machine may be busy).
const CLOSE_WITHIN: Duration = Duration::from_secs(20);

/// SaslHandshake v1 + SaslAuthenticate v2 with PLAIN as `user`.
fn plain(socket: &mut RawSocket, user: &str, password: &str) -> SaslAuthenticateResponse {
    assert_eq!(
        socket.sasl_handshake("PLAIN", 1).error_code,
        0,
        "PLAIN handshake"
    );
    socket.sasl_authenticate(format!("\0{user}\0{password}").as_bytes())
}

/// Waits until `instant` has passed (the session lifetime is time; nothing else to poll).
fn sleep_until(instant: Instant) {
    if let Some(left) = instant.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

fn sasl_broker(extra: &[(&str, &str)]) -> TestBroker {
    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0";
    let mut settings = vec![
        ("listeners", listeners),
        ("advertised.listeners", listeners),
        ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            PLAIN_JAAS,
        ),
    ];
    settings.extend_from_slice(extra);
    let broker = broker_spec().overrides(&settings).start();
    // The connection layer's debug lines say when a session was renewed or ended.
    let url = broker.admin_url().expect("the broker's admin listener");
    let (status, body) = http(
        "PUT",
        &format!("{url}/loggers/ironlog::network"),
        Some("DEBUG"),
    );
    assert!(
        (200..300).contains(&status),
        "cannot raise the network log level: {status} {body}"
    );
    broker
}

#[test]
fn expired_sessions_are_closed_and_reauthentication_keeps_the_same_principal_serving() {
    const LIFETIME: Duration = Duration::from_millis(3_000);
    let broker = sasl_broker(&[
        ("connections.max.reauth.ms", "600000"),
        // Kafka's per-mechanism key wins over the listener's.
        (
            "listener.name.sasl_plaintext.plain.connections.max.reauth.ms",
            "3000",
        ),
    ]);
    let address = broker
        .listener("SASL_PLAINTEXT")
        .expect("SASL_PLAINTEXT listener");

    // The session lifetime is answered, and the session ends with it.
    let mut expiring = RawSocket::connect(&address);
    let authenticated = Instant::now();
    let answer = plain(&mut expiring, "admin", "admin-secret");
    assert_eq!(
        answer.error_code, 0,
        "admin authenticates: {:?}",
        answer.error_message
    );
    assert_eq!(
        answer.session_lifetime_ms,
        LIFETIME.as_millis() as i64,
        "SaslAuthenticate did not answer PLAIN's connections.max.reauth.ms as the session lifetime"
    );
    assert!(
        expiring.metadata_answers(),
        "a request within the session was not served"
    );
    sleep_until(authenticated + LIFETIME + Duration::from_millis(300));
    expiring.send_metadata();
    assert!(
        expiring.closed_by_broker_within(CLOSE_WITHIN),
        "a request after the session expired was served\n{}",
        broker.log_tail()
    );

    // Re-authenticating in time, as the same principal, extends the session.
    let mut renewed = RawSocket::connect(&address);
    let authenticated = Instant::now();
    assert_eq!(plain(&mut renewed, "admin", "admin-secret").error_code, 0);
    sleep_until(authenticated + Duration::from_millis(1_500));
    let again = plain(&mut renewed, "admin", "admin-secret");
    assert_eq!(
        again.error_code, 0,
        "re-authentication failed: {:?}",
        again.error_message
    );
    assert_eq!(again.session_lifetime_ms, LIFETIME.as_millis() as i64);
    sleep_until(authenticated + LIFETIME + Duration::from_millis(300));
    assert!(
        renewed.metadata_answers(),
        "a re-authenticated connection was refused after its first session's end\n{}",
        broker.log_tail()
    );

    // Re-authenticating as someone else is refused and closes the connection.
    let mut switched = RawSocket::connect(&address);
    assert_eq!(plain(&mut switched, "admin", "admin-secret").error_code, 0);
    let other = plain(&mut switched, "alice", "alice-secret");
    assert_eq!(
        other.error_code, SASL_AUTHENTICATION_FAILED,
        "re-authentication as another principal was accepted"
    );
    assert!(
        other
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("Cannot change principals")),
        "the refusal does not say why: {:?}",
        other.error_message
    );
    assert!(
        switched.closed_by_broker_within(CLOSE_WITHIN),
        "the connection stayed open after a refused re-authentication"
    );

    // The other listener never noticed.
    let mut plaintext = RawSocket::connect(broker.bootstrap());
    assert!(
        plaintext.metadata_answers(),
        "the PLAINTEXT listener stopped serving"
    );
}

#[test]
fn librdkafka_reauthenticates_and_keeps_its_connection() {
    const LIFETIME_MS: u64 = 4_000;
    let lifetime = LIFETIME_MS.to_string();
    let broker = sasl_broker(&[("connections.max.reauth.ms", &lifetime)]);
    let address = broker
        .listener("SASL_PLAINTEXT")
        .expect("SASL_PLAINTEXT listener");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &address)
        .set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", "admin")
        .set("sasl.password", "admin-secret")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("rdkafka producer");
    let reauthentications = || {
        broker
            .log_text()
            .matches("SASL re-authentication succeeded")
            .count()
    };
    // Produce across at least three session lifetimes (bounded by a deadline).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let mut sent = 0u32;
    while reauthentications() < 3 {
        assert!(
            Instant::now() < deadline,
            "librdkafka re-authenticated {} times in {:?}\n{}",
            reauthentications(),
            started.elapsed(),
            broker.log_tail()
        );
        producer
            .send(BaseRecord::<(), str>::to("reauth").payload("record"))
            .unwrap_or_else(|(e, _)| panic!("enqueue: {e}"));
        producer.flush(Duration::from_secs(20)).unwrap_or_else(|e| {
            panic!(
                "a produce failed across re-authentication: {e}\n{}",
                broker.log_tail()
            )
        });
        sent += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(sent > 0);
    let log = broker.log_text();
    assert_eq!(
        log.matches("SASL session expired without re-authentication")
            .count(),
        0,
        "the broker closed librdkafka's connection for an expired session\n{}",
        broker.log_tail()
    );
}
