//! The Ironlog Kubernetes operator: kube-rs controllers that turn `KafkaCluster`, `Topic`,
//! `User` and `Connector` custom resources into a running cluster.
//!
//! - [`backoff`]: exponential retry delays per failing object.
//! - [`balance`]: the built-in balancer (a pure planner: a cluster model in, partition moves
//!   and leader changes out).
//! - [`crd`]: the custom resource types and the CRD manifests generated from them.
//! - [`controller`]: what every controller's reconcile shares (timing, retries, status).
//! - [`events`]: the Events that say what the operator did and why.
//! - [`metrics`]: the operator's Prometheus metrics and its `/metrics` and `/health` endpoint.
//! - [`cluster`]: the KafkaCluster controller (validate → build → apply → status).
//! - [`topic`]: the Topic controller, through [`kafka_admin`] (the Kafka admin protocol over
//!   `ironlog-protocol`'s client).
//! - [`user`]: the User controller (SCRAM credentials, the user's Secret, ACLs, quotas),
//!   through [`kafka_admin`].
//! - [`connector`]: the Connector controller, through [`connect_rest`] (the Kafka Connect
//!   REST API).

pub mod backoff;
pub mod balance;
pub mod cluster;
pub mod connect_rest;
pub mod connector;
pub mod controller;
pub mod crd;
pub mod events;
pub mod kafka_admin;
pub mod metrics;
pub mod topic;
pub mod user;
