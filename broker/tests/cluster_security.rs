//! A 3-node cluster (combined roles) whose every link is secured — the nodes' own clients
//! (raft, registration and heartbeats, replica fetchers, forwarding) over TLS and SASL —
//! with real rdkafka clients over SASL_SSL:
//! - every listener SASL_SSL (PLAIN between the nodes): an RF=3 topic, an acks=all
//!   producer, kill -9 of a broker, every record readable once it is back in the ISR;
//!   plaintext bytes on the controller listener are refused;
//! - the controller listener SSL with required client certificates and the inter-broker
//!   listener SASL_SSL with SCRAM-SHA-512 (the nodes' credential created through the admin
//!   API): replication works; a TLS client without a certificate is refused by the
//!   controller listener;
//! - a node with a wrong SASL password, then with a truststore of another CA, cannot join
//!   (its log says why), while the others keep serving acks=all writes; with its right
//!   settings it rejoins and catches up;
//! - a CA rotation on every node through its files, no node restarted for it: the nodes
//!   serve the new CA's certificate and trust both CAs, a node restarted then with the new
//!   certificate rejoins (the others, never restarted, trust it and it trusts them), and
//!   acks=all writes go on throughout.
mod common;

use std::time::Duration;

use common::*;
use ironlog_testkit::cluster_security::{
    ClusterSecurity, ControllerLink, InterBrokerMechanism, CLIENT_PASSWORD, CLIENT_USER,
    NODE_CERTIFICATE_PRINCIPAL, NODE_PASSWORD, NODE_USER,
};
use rdkafka::consumer::Consumer;

const WAIT: Duration = Duration::from_secs(90);

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Every value of `expected` is in partition 0 of `topic`, in order, as a consumer of the
/// cluster reads it.
fn assert_readable(cluster: &TestCluster, topic: &str, expected: &[String], when: &str) {
    let read: Vec<String> = cluster
        .consume_all(topic, 0, 0)
        .iter()
        .map(|r| r.value_str())
        .collect();
    assert_eq!(
        read, expected,
        "{when}: the records read back over SASL_SSL are not the acknowledged ones"
    );
}

#[test]
fn every_link_sasl_ssl_replicates_and_survives_a_kill9() {
    let dir = TestDir::new("ironlog-cluster-sasl-ssl-").expect("temp dir");
    let security = ClusterSecurity::sasl_ssl_everywhere(&dir.path().join("certs"));
    let mut cluster = replicated_cluster_spec().secured(&security).start();
    let topic = topic_name("secured");
    cluster.create_replicated_topic(&topic, 1, 3, WAIT);

    let producer = cluster.producer();
    let before = values("before", 50);
    send_all(&producer, &topic, &before);

    cluster.kill9_node(2);
    let during = values("during", 50);
    send_all(&producer, &topic, &during);

    cluster.restart_node(2);
    cluster.wait_ready(WAIT);
    cluster.await_full_isr_on_running(&topic, 1, WAIT);
    let expected: Vec<String> = before.iter().chain(&during).cloned().collect();
    assert_readable(
        &cluster,
        &topic,
        &expected,
        "after node 2 was killed and came back",
    );
    // Node 2 has the records itself: it replicated them over SASL_SSL after its restart.
    let log = cluster.node(2).partition_log(&topic, 0);
    let needle = during.last().expect("values").as_bytes();
    assert!(
        log.windows(needle.len()).any(|w| w == needle),
        "node 2 did not replicate the records written while it was down"
    );

    // The controller listener speaks TLS only: a plaintext ApiVersions gets at most a TLS
    // alert (record type 21), never a Kafka response, and the connection is closed.
    let controller = format!(
        "127.0.0.1:{}",
        cluster.ports(1).controller.expect("node 1 is a controller")
    );
    let mut plain = RawSocket::connect(&controller);
    plain.send_raw_request(18, 0, &[]);
    let answered = plain
        .read_until_closed_within(Duration::from_secs(30))
        .expect("the SASL_SSL controller listener kept a plaintext connection open");
    assert!(
        answered.is_empty() || answered[0] == 21,
        "the SASL_SSL controller listener answered plaintext with {answered:?}, not a TLS alert"
    );
}

#[test]
fn controllers_over_mutual_tls_and_brokers_over_scram_replicate() {
    let dir = TestDir::new("ironlog-cluster-mtls-scram-").expect("temp dir");
    let security = ClusterSecurity::new(
        &dir.path().join("certs"),
        ControllerLink::MutualTls,
        InterBrokerMechanism::ScramSha512,
    );
    // With the StandardAuthorizer the nodes need CLUSTER_ACTION for raft, registration and
    // replication: they are super users by certificate (controllers) and by SASL user.
    let cluster = replicated_cluster_spec()
        .secured(&security)
        .set(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )
        .set(
            "super.users",
            &format!("User:{CLIENT_USER};User:{NODE_USER};{NODE_CERTIFICATE_PRINCIPAL}"),
        )
        .start();

    // The nodes reach the controllers by certificate alone; between brokers they need
    // their SCRAM credential, which lives in the metadata log.
    require_python_modules(&["confluent_kafka"], "pip install confluent-kafka");
    let admin = format!(
        "{{\"security.protocol\": \"SASL_SSL\", \"sasl.mechanism\": \"PLAIN\", \
         \"sasl.username\": \"{CLIENT_USER}\", \"sasl.password\": \"{CLIENT_PASSWORD}\", \
         \"ssl.ca.location\": \"{}\"}}",
        security.certs.ca_pem.display()
    );
    python_session(
        "scram_admin.py",
        cluster.bootstrap(),
        vec![admin, NODE_USER.to_string(), NODE_PASSWORD.to_string()],
        120,
    )
    .run(&cluster.node(1).log_tail());

    let topic = topic_name("scram-replicated");
    cluster.create_replicated_topic(&topic, 1, 3, WAIT);
    let expected = values("scram", 100);
    send_all(&cluster.producer(), &topic, &expected);
    assert_readable(&cluster, &topic, &expected, "over SCRAM replication");

    // A TLS client without a certificate is refused by the controller listener.
    let controller = format!(
        "127.0.0.1:{}",
        cluster.ports(1).controller.expect("node 1 is a controller")
    );
    let anonymous = consumer_for(
        &controller,
        &[
            ("security.protocol", "SSL"),
            (
                "ssl.ca.location",
                &security.certs.ca_pem.display().to_string(),
            ),
        ],
    );
    assert!(
        anonymous
            .fetch_metadata(None, Duration::from_secs(5))
            .is_err(),
        "a client without a certificate got an answer from the mTLS controller listener"
    );
    wait_until(
        WAIT,
        "node 1 to log the refused TLS handshake of the client without a certificate",
        || {
            let log = cluster.node(1).log_text();
            log.lines().any(|l| {
                l.contains("closing connection")
                    && l.contains("CONTROLLER")
                    && l.contains("TLS handshake")
            })
        },
    );
}

/// What a node is started with that must keep it out: what it is, its overrides, and what
/// its log must say.
type RefusedStart = (&'static str, Vec<(String, String)>, &'static [&'static str]);

#[test]
fn a_node_with_a_wrong_password_or_truststore_cannot_join_and_the_others_keep_serving() {
    let dir = TestDir::new("ironlog-cluster-refused-node-").expect("temp dir");
    let security = ClusterSecurity::sasl_ssl_everywhere(&dir.path().join("certs"));
    let mut cluster = replicated_cluster_spec().secured(&security).start();
    let topic = topic_name("refused-node");
    cluster.create_replicated_topic(&topic, 1, 3, WAIT);
    let producer = cluster.producer();
    let mut expected = values("first", 20);
    send_all(&producer, &topic, &expected);

    cluster.stop_node(3);
    let right = security.overrides();
    let attempts: [RefusedStart; 2] = [
        (
            "a wrong SASL password",
            security.wrong_password_overrides(),
            &["SASL PLAIN authentication", "refused"],
        ),
        (
            "a truststore of another CA",
            security.untrusting_overrides(&dir.path().join("other-ca")),
            &["TLS handshake", "invalid peer certificate"],
        ),
    ];
    for (what, overrides, said) in attempts {
        let node = cluster.node_mut(3);
        for (k, v) in &right {
            node.set_override(k, v);
        }
        for (k, v) in &overrides {
            node.set_override(k, v);
        }
        // Bounded: the node gives up registering after this long.
        node.set_override("initial.broker.registration.timeout.ms", "10000");
        let why = node.start_expecting_failure();
        // This start's lines: after the last start note (not its failure note).
        let log = node.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let first = lines
            .iter()
            .rposition(|l| l.starts_with("===== start #") && !l.contains("failed"))
            .unwrap_or(0);
        let this_start = lines[first..].join("\n");
        assert!(
            said.iter().all(|s| this_start.contains(s)),
            "node 3 with {what} did not start ({why}), but its log does not say {said:?}:\n{}",
            node.log_tail()
        );
        // The others keep serving acks=all writes (RF=3, min.insync.replicas=2).
        let more = values(&format!("while-refused-{}", what.len()), 20);
        send_all(&producer, &topic, &more);
        expected.extend(more);
    }

    let node = cluster.node_mut(3);
    for (k, v) in &right {
        node.set_override(k, v);
    }
    node.set_override("initial.broker.registration.timeout.ms", "60000");
    cluster.restart_node(3);
    cluster.wait_ready(WAIT);
    cluster.await_full_isr_on_running(&topic, 1, WAIT);
    assert_readable(&cluster, &topic, &expected, "after node 3 rejoined");
}

/// Writes `text` to `path` as a kubelet or cert-manager would: a new file renamed over it.
fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn a_ca_rotation_through_the_files_of_every_node_needs_no_restart() {
    let dir = TestDir::new("ironlog-cluster-ca-rotation-").expect("temp dir");
    let old = ClusterSecurity::new(
        &dir.path().join("old"),
        ControllerLink::MutualTls,
        InterBrokerMechanism::Plain,
    );
    let new = TestCertificates::generate_with_ca_name(&dir.path().join("new"), "Ironlog Test CA 2");
    // the files every node reads (one set, as the nodes share one keystore here)
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).expect("live dir");
    let keystore = live.join("keystore.pem");
    let truststore = live.join("truststore.pem");
    replace_file(&keystore, &read(&old.certs.server_keystore));
    replace_file(&truststore, &read(&old.certs.ca_pem));
    // the test's clients trust both CAs throughout; the checks below trust one
    let both_cas = format!("{}{}", read(&old.certs.ca_pem), read(&new.ca_pem));
    let clients_ca = dir.path().join("clients-ca.pem");
    replace_file(&clients_ca, &both_cas);
    let mut cluster = replicated_cluster_spec()
        .secured(&old)
        .set("ssl.keystore.location", &keystore.display().to_string())
        .set("ssl.truststore.location", &truststore.display().to_string())
        .set("ssl.file.reload.interval.ms", "500")
        .client_setting("ssl.ca.location", &clients_ca.display().to_string())
        .start();
    let topic = topic_name("ca-rotation");
    cluster.create_replicated_topic(&topic, 1, 3, WAIT);
    let producer = cluster.producer();
    let mut expected = values("old-ca", 20);
    send_all(&producer, &topic, &expected);

    // Step 1: every node's truststore holds both CAs and its keystore the new certificate.
    replace_file(&truststore, &both_cas);
    replace_file(&keystore, &read(&new.server_keystore));
    let trusting_new_only = new.ca_pem.display().to_string();
    for id in 1..=3 {
        let node = cluster.node(id);
        wait_until(
            WAIT,
            &format!("node {id} to show a client the new CA's certificate"),
            || {
                node.consumer_with(&[("ssl.ca.location", &trusting_new_only)])
                    .fetch_metadata(None, Duration::from_secs(5))
                    .is_ok()
            },
        );
    }
    let during = values("both-cas", 20);
    send_all(&producer, &topic, &during);
    expected.extend(during);

    // Step 2: node 3 restarts with the new certificate: the controllers (never restarted)
    // must trust it on their mTLS listener, and it must trust what they show.
    cluster.restart_node(3);
    cluster.wait_ready(WAIT);
    cluster.await_full_isr_on_running(&topic, 1, WAIT);

    // Step 3: the old CA goes from every truststore; node 2 restarts with the new CA alone.
    replace_file(&truststore, &read(&new.ca_pem));
    let after = values("new-ca", 20);
    send_all(&producer, &topic, &after);
    expected.extend(after);
    cluster.restart_node(2);
    cluster.wait_ready(WAIT);
    cluster.await_full_isr_on_running(&topic, 1, WAIT);
    assert_readable(&cluster, &topic, &expected, "after the CA rotation");
    // Node 3, restarted with the new certificate, replicated what was written since.
    let log = cluster.node(3).partition_log(&topic, 0);
    let needle = expected.last().expect("values").as_bytes();
    assert!(
        log.windows(needle.len()).any(|w| w == needle),
        "node 3 did not replicate the records written after the old CA went"
    );
}
