//! The Ironlog test kit: one way to start brokers and clusters as real processes, and the
//! client helpers tests drive them with. Used by the broker's integration tests, the bench,
//! and next by operator tests and end-to-end tests.
//!
//! - [`TestBroker`] / [`BrokerSpec`] ([`broker`]): one `ironlog broker` process of a binary
//!   the caller names, on a port-0 listener, its data dir and log in a temp dir that stays
//!   (and is named) when the test fails; stop, kill -9, restart, restart on the same port,
//!   crash points, overrides, environment, open-files limit.
//! - [`TestCluster`] / [`ClusterSpec`] ([`cluster`]): N nodes with the KRaft command line a
//!   user types, fixed ports from [`ports`] (retried when one was taken), per-node stop,
//!   kill -9 and restart on the same ports, a bootstrap string, readiness.
//! - [`TestCanary`] / [`CanarySpec`] ([`canary`]): one `ironlog canary` process against a
//!   broker or cluster, its `/metrics` polled as [`Samples`] with a deadline.
//! - [`process`]: the process contract underneath both (command line, `ironlog: listener
//!   NAME bound to ADDR` / `ironlog: started` lines, log file, bounded stop) with typed
//!   errors, for users that report instead of panicking (the bench).
//! - [`KafkaClients`] ([`clients`]): rdkafka producers, consumers and admin clients with test
//!   settings and the sessions tests repeat, for a broker, a cluster or a [`BootstrapServers`]
//!   list; [`groups`]:
//!   consumer groups with recorded rebalances; [`load`]: [`ProduceLoad`], acks=all writes
//!   in the background while brokers die, and the check that every acknowledged record is
//!   stored; [`netns`]: [`NetworkLab`], each cluster node in its own network namespace,
//!   with links to cut and heal, loss and throttling; [`batches`]: record batches as clients write
//!   them; [`raw`]: [`RawClient`] over `ironlog_protocol::Connection` and [`RawSocket`] for
//!   bytes no client may send, [`requests`]: its typed requests; [`tools`]: kcat, python and node clients.
//! - [`images`]: the Dockerfile's images (broker, operator) built offline and run with podman.
//! - `control_plane` (feature `kubernetes`): `TestControlPlane`, a real etcd +
//!   kube-apiserver (+ controller manager and scheduler) as envtest starts them, for the
//!   operator's tests; `node_agent` (same feature): `NodeAgent`, a small kubelet running the
//!   pods bound to its nodes as local processes, each in its own network namespace.
//!
//! The kit never reaches into broker internals: it drives the binary and the wire protocol
//! only. Test helpers fail with a sentence naming what did not happen (they panic: a test
//! kit's failure is the test's failure); [`process`] and [`ports`] return typed errors.

pub mod apache_kafka;
pub mod batches;
pub mod broker;
pub mod canary;
pub mod clients;
pub mod cluster;
pub mod cluster_security;
#[cfg(feature = "kubernetes")]
pub mod control_plane;
pub mod dirs;
pub mod groups;
pub mod images;
pub mod load;
pub mod netns;
#[cfg(feature = "kubernetes")]
pub mod node_agent;
pub mod ports;
pub mod process;
pub mod raw;
pub mod requests;
pub mod tls;
pub mod tools;

pub use apache_kafka::{ApacheKafka, ApacheKafkaCluster};
pub use batches::*;
pub use broker::{
    BrokerSpec, TestBroker, ADMIN_LISTENER, BROKER_START_TIMEOUT, BROKER_STOP_TIMEOUT,
    CLIENT_LISTENER, PORT_RETAKE_TIMEOUT,
};
pub use canary::{
    http_get, CanarySpec, Samples, TestCanary, CANARY_LISTENER, CANARY_START_TIMEOUT,
    CANARY_STOP_TIMEOUT,
};
pub use clients::*;
pub use cluster::{
    initial_directory_id, ClusterSpec, NodePorts, NodeSpec, PartitionView, Roles, TestCluster,
    CLUSTER_READY_TIMEOUT, CONTROLLER_LISTENER,
};
pub use dirs::{files_with_suffix, TestDir};
pub use groups::*;
pub use load::{
    check_acknowledged, check_load_outcome, AckedRecord, AckedValues, LoadOutcome, ProduceLoad,
};
pub use netns::NetworkLab;
pub use ports::{allocate_port, free_port};
pub use process::{BrokerCommand, BrokerProcess, Settings, StartError, StopError};
pub use raw::{codes, config_op, resource, versions, RawClient, RawSocket};
pub use requests::{fetch_partition, fetch_request, retry_while, sb, txn_id};
pub use tls::{ClientCertificate, TestCertificates};
pub use tools::*;
