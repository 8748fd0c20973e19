//! `kafka_admin`: the Kafka admin operations the controllers need, over the workspace's
//! protocol client (`ironlog-protocol`; the `kafka-protocol` codec). Domain values in and
//! out — a controller never sees a wire type. Retriable errors (a controller moving, a
//! broker restarting) are retried within the client's bounded policy; what is left is an
//! [`AdminError`] naming the operation and what it was about.
//!
//! - this file: [`KafkaAdmin`], [`AdminError`] and the one request path every operation
//!   takes ([`KafkaAdmin::request`]);
//! - `topics`: Metadata, DescribeConfigs, CreateTopics, CreatePartitions,
//!   IncrementalAlterConfigs and DeleteTopics of one topic (the Topic controller);
//! - `users`: a user's SCRAM credential, its principal's ACLs and its client quotas (the
//!   User controller).

mod topics;
mod users;

use std::time::Duration;

use ironlog_protocol::kafka_protocol::protocol::{Request, StrBytes};
use ironlog_protocol::kafka_protocol::ResponseError;
use ironlog_protocol::{Client, ClientConfig, Error, SendOptions, Target};

pub use topics::TopicDescription;
pub use users::{salted_password, AclBinding, SCRAM_ITERATIONS};

/// How long the controller may take for a change (the request's `timeout_ms`).
pub const ADMIN_TIMEOUT_MS: i32 = 30_000;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no Kafka client for {bootstrap}: {source}")]
    Client { bootstrap: String, source: Error },
    /// `subject` says what the request was about (`topic orders`, `user alice`).
    #[error("{operation} of {subject}: {source}")]
    Request {
        operation: &'static str,
        subject: String,
        source: Error,
    },
}

impl AdminError {
    /// The Kafka error the broker answered, if that is what failed.
    pub fn kafka_error(&self) -> Option<ResponseError> {
        match self {
            AdminError::Request { source, .. } => source.kafka_error(),
            AdminError::Client { .. } => None,
        }
    }
}

/// An admin client for one cluster.
#[derive(Clone)]
pub struct KafkaAdmin {
    client: Client,
}

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The one result a single-entry request's response holds.
pub(crate) fn only<T>(results: Vec<T>, operation: &str) -> Result<T, Error> {
    results
        .into_iter()
        .next()
        .ok_or_else(|| Error::Config(format!("{operation} answered no result")))
}

impl KafkaAdmin {
    /// A client bootstrapping from `bootstrap` (`host:port,...`); connects on first use.
    pub fn new(bootstrap: &str) -> Result<KafkaAdmin, AdminError> {
        let servers: Vec<String> = bootstrap
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let mut config = ClientConfig::new(servers);
        // a reconcile should fail over in seconds, not minutes: the controller retries it
        config.retry.total_timeout = Duration::from_secs(20);
        let client = Client::new(config).map_err(|source| AdminError::Client {
            bootstrap: bootstrap.to_string(),
            source,
        })?;
        Ok(KafkaAdmin { client })
    }

    /// Sends `request` to `target`; `check` turns the response into the value (or the
    /// Kafka error its entries carry). A failure is named by `operation` and `subject`.
    pub(crate) async fn request<R, T>(
        &self,
        target: Target,
        request: &R,
        options: SendOptions,
        operation: &'static str,
        subject: impl FnOnce() -> String,
        check: impl FnMut(R::Response) -> Result<T, Error>,
    ) -> Result<T, AdminError>
    where
        R: Request + 'static,
    {
        self.client
            .send_with(target, request, options, check)
            .await
            .map_err(|source| AdminError::Request {
                operation,
                subject: subject(),
                source,
            })
    }
}
