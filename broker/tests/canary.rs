//! `ironlog canary` against real brokers: on a 3-node cluster every partition is produced
//! and read back with nothing lost, duplicated or out of order (and `/metrics` passes
//! `promtool check metrics`); a kill -9 of a partition leader shows as produce failures of
//! that broker, and availability comes back after its restart without an acknowledged
//! record reported lost; a broker that leads no canary partition gets one; records the
//! consumer cannot read within the bound, or that are deleted under it, are counted lost;
//! bad settings are refused with the setting named and a non-zero exit, and an unanswering
//! cluster leaves the canary live, not ready, counting metadata errors.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(90);

fn canary_spec(bootstrap: &str) -> CanarySpec {
    CanarySpec::new(IRONLOG_BINARY, bootstrap)
        .set("canary.interval.ms", "200")
        .set("canary.topic.reconcile.interval.ms", "2000")
        .set("canary.request.timeout.ms", "5000")
        // an acknowledged record a successful fetch 10 s later did not return is lost
        .set("canary.lost.timeout.ms", "10000")
}

fn sum(s: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.sum(&format!("ironlog_canary_{name}"), labels)
}

/// Lost, duplicated and out-of-order records in all.
fn bad_records(s: &Samples) -> (f64, f64, f64) {
    (
        sum(s, "records_lost_total", &[]),
        sum(s, "records_duplicated_total", &[]),
        sum(s, "records_out_of_order_total", &[]),
    )
}

#[test]
fn a_canary_on_three_brokers_sees_a_killed_leader_and_its_recovery_and_loses_nothing() {
    let mut cluster = cluster_spec(3).start();
    cluster.wait_ready(CLUSTER_READY_TIMEOUT);
    let canary = canary_spec(&cluster.bootstrap()).start();

    // every broker leads a partition, and every partition is produced and read back
    let healthy = canary.wait_for_metrics(
        WAIT,
        "3 partitions each produced and consumed 5 records",
        |s| {
            sum(s, "topic_partitions", &[]) == 3.0
                && (0..3).all(|p| {
                    let p = p.to_string();
                    sum(s, "records_produced_total", &[("partition", &p)]) >= 5.0
                        && sum(s, "records_consumed_total", &[("partition", &p)]) >= 5.0
                })
        },
    );
    let leaders = healthy.label_values("ironlog_canary_produce_available", "broker");
    assert_eq!(
        leaders,
        ["1", "2", "3"],
        "each broker leads one canary partition"
    );
    assert!(
        sum(&healthy, "records_end_to_end_latency_seconds_count", &[]) >= 15.0
            && sum(&healthy, "records_produced_latency_seconds_count", &[]) >= 15.0,
        "latency histograms fill:\n{}",
        healthy.show("ironlog_canary_records")
    );
    assert_eq!(
        bad_records(&healthy),
        (0.0, 0.0, 0.0),
        "nothing lost, duplicated or out of order"
    );
    let (status, scrape) = canary.get("/metrics").expect("scrape the canary");
    assert_eq!(status, 200);
    promtool_check_metrics(&scrape);

    // kill -9 broker 2: its partition's produces fail until leadership moves
    let victim = 2;
    let victim_label = victim.to_string();
    let failed_before = sum(
        &healthy,
        "records_produced_failed_total",
        &[("broker", &victim_label)],
    );
    canary.note(&format!("===== test: kill -9 broker {victim}"));
    cluster.kill9_node(victim);
    canary.wait_for_metrics(
        WAIT,
        "produce failures of the killed broker's partition",
        |s| {
            sum(
                s,
                "records_produced_failed_total",
                &[("broker", &victim_label)],
            ) > failed_before
        },
    );

    canary.note(&format!("===== test: restart broker {victim}"));
    cluster.restart_node(victim);
    cluster.wait_ready(CLUSTER_READY_TIMEOUT);
    let at_restart = canary.metrics().expect("scrape after the restart");
    let consumed_at_restart: Vec<f64> = (0..3)
        .map(|p| {
            sum(
                &at_restart,
                "records_consumed_total",
                &[("partition", &p.to_string())],
            )
        })
        .collect();
    // availability recovers: every partition's last produce and fetch succeeded, records
    // flow again on every partition, and everything acknowledged was read back
    let recovered = canary.wait_for_metrics(
        WAIT,
        "every partition available again and read up to date",
        |s| {
            let available = s
                .matching("ironlog_canary_produce_available", &[])
                .chain(s.matching("ironlog_canary_consume_available", &[]))
                .all(|(_, _, v)| *v == 1.0);
            available
                && s.matching("ironlog_canary_produce_available", &[]).count() == 3
                && (0..3).all(|p| {
                    sum(
                        s,
                        "records_consumed_total",
                        &[("partition", &p.to_string())],
                    ) >= consumed_at_restart[p] + 5.0
                })
                && sum(s, "records_pending", &[]) <= 3.0
        },
    );
    assert_eq!(
        bad_records(&recovered),
        (0.0, 0.0, 0.0),
        "the cluster keeps acknowledged writes: nothing lost, duplicated or out of order across the kill:\n{}",
        recovered.show("ironlog_canary_records")
    );
}

/// A single broker, a canary on its own topic reading read_committed, and an open
/// transaction on the canary's partition that holds the consumer below the last stable
/// offset while the producer's records are acknowledged above it.
fn stalled_canary(
    lost_timeout_ms: &str,
) -> (
    TestBroker,
    TestCanary,
    String,
    rdkafka::producer::FutureProducer,
) {
    let broker = TestBroker::start();
    let topic = topic_name("canary-stalled");
    let canary = canary_spec(broker.bootstrap())
        .set("canary.topic", &topic)
        .set("canary.consumer.isolation.level", "read_committed")
        .set("canary.request.timeout.ms", "1000")
        .set("canary.lost.timeout.ms", lost_timeout_ms)
        .start();
    canary.wait_for_metrics(WAIT, "records read back", |s| {
        sum(s, "records_consumed_total", &[]) >= 3.0
    });
    let txn = broker.transactional_producer(&topic_name("canary-stall-txn"));
    txn.begin_transaction().expect("begin the transaction");
    block_on(
        txn.send(
            FutureRecord::<(), str>::to(&topic)
                .partition(0)
                .payload("open transaction"),
            Duration::from_secs(10),
        ),
    )
    .expect("a transactional record written");
    canary.note("===== test: a transaction stays open on partition 0");
    canary.wait_for_metrics(WAIT, "acknowledged records wait to be read", |s| {
        sum(s, "records_pending", &[]) >= 3.0
    });
    (broker, canary, topic, txn)
}

#[test]
fn acknowledged_records_not_read_within_the_bound_are_lost() {
    let (_broker, canary, _topic, txn) = stalled_canary("3000");
    let lost = canary.wait_for_metrics(WAIT, "records lost by the timeout", |s| {
        sum(
            s,
            "records_lost_total",
            &[("reason", "timeout"), ("broker", "1")],
        ) >= 1.0
    });
    assert_eq!(
        sum(&lost, "records_lost_total", &[("reason", "skipped")]),
        0.0
    );
    // the transaction ends: the records are readable again and the canary reads on
    txn.abort_transaction(Duration::from_secs(10))
        .expect("abort");
    let consumed = sum(&lost, "records_consumed_total", &[]);
    canary.wait_for_metrics(WAIT, "records read again after the abort", |s| {
        sum(s, "records_consumed_total", &[]) >= consumed + 5.0
    });
}

#[test]
fn acknowledged_records_deleted_under_the_consumer_are_lost() {
    let (broker, canary, topic, txn) = stalled_canary("600000");
    let before = canary.metrics().expect("scrape");
    let pending = sum(&before, "records_pending", &[]);
    // delete everything written so far, the canary's unread records with it
    // (the high watermark, read_uncommitted: rdkafka's watermarks are read_committed's)
    let high_watermark = broker.raw().list_offset(&topic, 0, -1).1;
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(high_watermark))
        .expect("offset");
    canary.note(&format!(
        "===== test: DeleteRecords before {high_watermark}"
    ));
    let deleted =
        block_on(broker.admin().delete_records(&offsets, &admin_options())).expect("DeleteRecords");
    let p = deleted
        .find_partition(&topic, 0)
        .expect("the partition's result");
    assert!(p.error().is_ok(), "DeleteRecords failed: {:?}", p.error());
    txn.abort_transaction(Duration::from_secs(10))
        .expect("abort");
    let lost = canary.wait_for_metrics(WAIT, "the deleted records counted lost", |s| {
        sum(
            s,
            "records_lost_total",
            &[("reason", "skipped"), ("broker", "1")],
        ) >= pending
    });
    assert_eq!(
        sum(&lost, "records_lost_total", &[("reason", "timeout")]),
        0.0
    );
    let consumed = sum(&lost, "records_consumed_total", &[]);
    canary.wait_for_metrics(WAIT, "records read again after the reset", |s| {
        sum(s, "records_consumed_total", &[]) >= consumed + 5.0
    });
}

#[test]
fn bad_settings_are_refused_naming_them_with_a_non_zero_exit() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("canary.interval.ms", "fast")], "canary.interval.ms"),
        (&[("canary.interval.ms", "0")], "canary.interval.ms"),
        (&[("canary.topic", "no spaces allowed")], "canary.topic"),
        (&[("canary.listener", "127.0.0.1:8080")], "canary.listener"),
        (
            &[("canary.consumer.isolation.level", "committed")],
            "canary.consumer.isolation.level",
        ),
        (
            &[("canary.intervall.ms", "100")],
            "unknown canary setting \"canary.intervall.ms\"",
        ),
    ];
    for (settings, named) in cases {
        let mut spec = CanarySpec::new(IRONLOG_BINARY, "127.0.0.1:9092");
        for (k, v) in *settings {
            spec = spec.set(k, v);
        }
        let (status, output) = spec.run_to_exit(Duration::from_secs(30));
        assert!(!status.success(), "{settings:?} must be refused: {output}");
        assert!(
            output.contains(named),
            "{settings:?}: the error must name {named:?}: {output}"
        );
    }
    let (status, output) =
        CanarySpec::new(IRONLOG_BINARY, "no-port").run_to_exit(Duration::from_secs(30));
    assert!(
        !status.success() && output.contains("bootstrap.servers"),
        "a bootstrap server without a port: {output}"
    );

    // a variable of the canary's prefix that is no setting
    let output = std::process::Command::new(IRONLOG_BINARY)
        .args(["canary", "--bootstrap-server", "127.0.0.1:9092"])
        .env("IRONLOG_CANARY_INTERVALL_MS", "100")
        .output()
        .expect("run the canary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("IRONLOG_CANARY_INTERVALL_MS"),
        "an unknown IRONLOG_CANARY_ variable is refused by name: {stderr}"
    );

    // a flag the canary does not have: clap's usage error
    let output = std::process::Command::new(IRONLOG_BINARY)
        .args([
            "canary",
            "--bootstrap-server",
            "127.0.0.1:9092",
            "--interval",
            "5",
        ])
        .output()
        .expect("run the canary");
    assert_eq!(output.status.code(), Some(2), "a usage error exits 2");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--interval"),
        "names the flag"
    );

    // a listener address in use
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address");
    let (status, output) = CanarySpec::new(IRONLOG_BINARY, "127.0.0.1:9092")
        .set("canary.listener", &format!("http://{address}"))
        .run_to_exit(Duration::from_secs(30));
    assert!(
        !status.success() && output.contains("cannot bind the canary listener"),
        "a taken listener address: {output}"
    );
}

#[test]
fn a_cluster_that_does_not_answer_leaves_the_canary_live_and_counting_errors() {
    let nobody = format!("127.0.0.1:{}", free_port());
    let mut canary = CanarySpec::new(IRONLOG_BINARY, &nobody)
        .set("canary.request.timeout.ms", "500")
        .set("canary.lost.timeout.ms", "1000")
        .start();
    canary.wait_for_metrics(WAIT, "metadata errors counted, retried", |s| {
        sum(s, "errors_total", &[("kind", "metadata")]) >= 3.0
    });
    assert_eq!(canary.get("/health/live").map(|(s, _)| s), Ok(200), "live");
    let (status, body) = canary.get("/health/ready").expect("ready probe");
    assert_eq!(status, 503, "not ready without a cluster: {body}");
    assert!(body.contains("\"ready\":false"), "{body}");
    assert!(canary.is_running(), "the canary keeps trying");
    assert!(canary.terminate().success(), "SIGTERM is a clean stop");
}

#[test]
fn a_broker_without_a_canary_partition_gets_one() {
    use rdkafka::admin::{NewTopic, TopicReplication};
    let cluster = cluster_spec(3).start();
    cluster.wait_ready(CLUSTER_READY_TIMEOUT);
    // the topic as a canary of a two-broker cluster left it: brokers 1 and 2 lead
    let topic = topic_name("canary-grown");
    let assignment: [&[i32]; 2] = [&[1, 2, 3], &[2, 3, 1]];
    let created = block_on(cluster.admin().create_topics(
        &[NewTopic::new(
            &topic,
            2,
            TopicReplication::Variable(&assignment),
        )],
        &admin_options(),
    ))
    .expect("CreateTopics");
    assert!(
        created.iter().all(Result::is_ok),
        "topic created: {created:?}"
    );

    let canary = canary_spec(&cluster.bootstrap())
        .set("canary.topic", &topic)
        .start();
    let grown =
        canary.wait_for_metrics(WAIT, "a third partition, led by broker 3, read back", |s| {
            sum(s, "topic_partitions", &[]) == 3.0
                && sum(
                    s,
                    "records_consumed_total",
                    &[("partition", "2"), ("broker", "3")],
                ) >= 3.0
        });
    assert_eq!(
        grown.label_values("ironlog_canary_produce_available", "broker"),
        ["1", "2", "3"],
        "each broker leads one canary partition"
    );
    assert_eq!(sum(&grown, "errors_total", &[]), 0.0, "no canary errors");
    assert_eq!(bad_records(&grown), (0.0, 0.0, 0.0));
}
