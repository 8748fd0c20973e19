//! Connection creation rate limits (KIP-612) on real sockets: a listener's
//! `max.connection.creation.rate` delays new connections — every one is served, later —
//! and the `connection_creation_rate` quota of an IP (AlterClientQuotas, entity `ip`)
//! closes the connections over it unserved. Connections already open are served
//! throughout; the broker's metrics count what was delayed and what was closed. Nothing
//! here asserts a time: only what was served, what was closed, and the counters.
mod common;

use std::time::Duration;

use common::*;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::AlterClientQuotasRequest;

/// How long a refused connection may take to be closed (one quota window at most, and a
/// loaded machine).
const CLOSE_WAIT: Duration = Duration::from_secs(20);

/// The value of the metric sample `name{listener="PLAINTEXT"}` (0 when absent).
fn metric(broker: &TestBroker, name: &str) -> f64 {
    let url = broker
        .admin_url()
        .expect("the test broker has an admin listener");
    let (status, text) = http("GET", &format!("{url}/metrics"), None);
    assert_eq!(status, 200, "GET /metrics answered {status}: {text}");
    let series = format!("{name}{{listener=\"PLAINTEXT\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.trim().parse().expect("a metric value is a number"))
        .unwrap_or(0.0)
}

/// Whether a new connection gets an answer to ApiVersions (`false`: the broker closed it
/// without one).
fn served(bootstrap: &str) -> bool {
    let mut socket = RawSocket::connect(bootstrap);
    socket.send_raw_request(18, 0, &[]);
    socket.read_frame().is_ok()
}

fn api_versions_answered(socket: &mut RawSocket) -> bool {
    socket.send_raw_request(18, 0, &[]);
    socket.read_frame().is_ok()
}

fn set_ip_quota(raw: &mut RawClient, ip: Option<&str>, rate: Option<f64>) {
    let entry = EntryData::default()
        .with_entity(vec![EntityData::default()
            .with_entity_type(sb("ip"))
            .with_entity_name(ip.map(sb))])
        .with_ops(vec![OpData::default()
            .with_key(sb("connection_creation_rate"))
            .with_value(rate.unwrap_or(0.0))
            .with_remove(rate.is_none())]);
    let response = raw.expect_call(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![entry]),
        "AlterClientQuotas",
    );
    for e in &response.entries {
        assert_eq!(
            e.error_code, 0,
            "AlterClientQuotas refused the ip quota: {:?}",
            e.error_message
        );
    }
}

#[test]
fn connections_over_a_listeners_creation_rate_are_delayed_not_refused() {
    // 2 per second, measured over 2 one-second windows: a burst of connections is mostly
    // waited for.
    let broker = TestBroker::start_with(&[
        ("listener.name.plaintext.max.connection.creation.rate", "2"),
        ("quota.window.num", "2"),
        ("quota.window.size.seconds", "1"),
    ]);
    let mut open = RawSocket::connect(broker.bootstrap());
    assert!(
        api_versions_answered(&mut open),
        "the first connection is served"
    );
    let attempts = 12;
    let answered = (0..attempts).filter(|_| served(broker.bootstrap())).count();
    assert_eq!(
        answered, attempts,
        "every connection over the listener's rate is served once its wait is over"
    );
    assert!(
        api_versions_answered(&mut open),
        "a connection opened before the burst is still served"
    );
    let delayed = metric(
        &broker,
        "kafka_server_socket_server_metrics_connection_accept_throttled_total",
    );
    assert!(
        delayed >= 1.0,
        "{attempts} connections at 2 per second, yet none was delayed (metric {delayed})"
    );
    assert!(
        metric(
            &broker,
            "kafka_server_socket_server_metrics_connection_accept_throttle_time_ms_total"
        ) > 0.0,
        "the delays add up to no time"
    );
    assert_eq!(
        metric(
            &broker,
            "kafka_server_socket_server_metrics_ip_connection_accept_throttled_total"
        ),
        0.0,
        "a listener's rate closes nothing"
    );
}

#[test]
fn connections_over_an_ips_creation_rate_are_closed_unserved() {
    let broker = TestBroker::start();
    let mut raw = RawClient::connect(broker.bootstrap());
    let mut open = RawSocket::connect(broker.bootstrap());
    assert!(api_versions_answered(&mut open));
    // One per second: over Kafka's default 10 s minimum span about ten connections at
    // once are within it, the rest of a quick burst is not.
    set_ip_quota(&mut raw, Some("127.0.0.1"), Some(1.0));
    let attempts = 40;
    let mut answered = 0;
    let mut closed = 0;
    for _ in 0..attempts {
        let mut socket = RawSocket::connect(broker.bootstrap());
        socket.send_raw_request(18, 0, &[]);
        match socket.read_frame() {
            Ok(_) => answered += 1,
            Err(_) => {
                assert!(
                    socket.closed_by_broker_within(CLOSE_WAIT),
                    "an unanswered connection was not closed"
                );
                closed += 1;
            }
        }
    }
    assert!(
        answered >= 1 && closed >= 1,
        "{attempts} connections from one IP at 1 per second: {answered} served, {closed} closed"
    );
    assert_eq!(answered + closed, attempts);
    assert_eq!(
        metric(
            &broker,
            "kafka_server_socket_server_metrics_ip_connection_accept_throttled_total"
        ),
        f64::from(closed),
        "the metric counts every connection closed for the IP's rate"
    );
    assert!(
        api_versions_answered(&mut open),
        "a connection opened before the quota is still served"
    );

    // Without the quota, new connections are served again.
    set_ip_quota(&mut raw, Some("127.0.0.1"), None);
    assert!(
        (0..10).all(|_| served(broker.bootstrap())),
        "with the quota removed a connection was not served"
    );
}

#[test]
fn the_default_ip_quota_is_described_and_applies_to_every_ip() {
    let broker = TestBroker::start();
    let mut raw = RawClient::connect(broker.bootstrap());
    set_ip_quota(&mut raw, None, Some(1.0));
    let described = raw.expect_call(
        1,
        &kafka_protocol::messages::DescribeClientQuotasRequest::default().with_components(vec![
            kafka_protocol::messages::describe_client_quotas_request::ComponentData::default()
                .with_entity_type(sb("ip"))
                .with_match_type(1)
                .with_match(None),
        ]),
        "DescribeClientQuotas",
    );
    assert_eq!(described.error_code, 0, "{:?}", described.error_message);
    let entries = described.entries.unwrap_or_default();
    assert!(
        entries.iter().any(|e| e
            .values
            .iter()
            .any(|v| v.key.as_str() == "connection_creation_rate" && v.value == 1.0)),
        "DescribeClientQuotas does not show the default IP's connection_creation_rate"
    );
    let closed = (0..40).filter(|_| !served(broker.bootstrap())).count();
    assert!(
        closed >= 1,
        "40 connections at a default IP rate of 1 per second were all served"
    );
}
