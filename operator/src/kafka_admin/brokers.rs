//! `brokers`: the brokers the cluster has registered (DescribeCluster) and the removal of a broker's
//! registration (UnregisterBroker, KIP-746) after a scale-in took its pod away.

use std::collections::BTreeSet;

use ironlog_protocol::kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, UnregisterBrokerRequest,
};
use ironlog_protocol::kafka_protocol::ResponseError;
use ironlog_protocol::{Error, SendOptions, Target};

use super::{AdminError, KafkaAdmin};

/// What an UnregisterBroker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unregistered {
    /// The controller removed the registration.
    Removed,
    /// The id was not registered (already unregistered, or it never registered).
    NotRegistered,
}

impl KafkaAdmin {
    /// Every registered broker id, fenced ones too (DescribeCluster v2,
    /// `includeFencedBrokers`, KIP-1073).
    pub async fn registered_brokers(&self) -> Result<BTreeSet<i32>, AdminError> {
        self.request(
            Target::AnyBroker,
            &DescribeClusterRequest::default().with_include_fenced_brokers(true),
            SendOptions::default(),
            "DescribeCluster",
            || "the cluster".to_string(),
            |response| {
                Error::check(response.error_code, response.error_message.as_ref())?;
                Ok(response.brokers.iter().map(|b| b.broker_id.0).collect())
            },
        )
        .await
    }

    /// Removes broker `broker_id`'s registration (UnregisterBroker, through any broker to
    /// the active controller). An id that is not registered is no error: that is where an
    /// earlier attempt may have ended.
    pub async fn unregister_broker(&self, broker_id: i32) -> Result<Unregistered, AdminError> {
        let request = UnregisterBrokerRequest::default().with_broker_id(BrokerId(broker_id));
        let sent = self
            .request(
                Target::AnyBroker,
                &request,
                SendOptions::default(),
                "UnregisterBroker",
                || format!("broker {broker_id}"),
                |response| Error::check(response.error_code, response.error_message.as_ref()),
            )
            .await;
        match sent {
            Ok(()) => Ok(Unregistered::Removed),
            Err(e) if e.kafka_error() == Some(ResponseError::BrokerIdNotRegistered) => {
                Ok(Unregistered::NotRegistered)
            }
            Err(e) => Err(e),
        }
    }
}
