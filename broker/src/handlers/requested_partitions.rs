//! `RequestedPartitions`: the partitions a per-partition group request names (OffsetCommit,
//! OffsetDelete, TxnOffsetCommit), which of them are answered here and never reach a
//! coordinator, and the response's topics built from every partition's code. The three
//! APIs' request and response topic types are one table ([`per_partition_api!`]).

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_request::OffsetDeleteRequestTopic;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequestTopic;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::TopicName;

use crate::error::ResponseError;
use crate::metadata::MetadataImage;

/// A request's topic: its name and the partitions it names.
pub(super) trait RequestTopic {
    fn name(&self) -> &TopicName;
    fn partition_indexes(&self) -> Vec<i32>;
}

/// A response's topic, made of one error code per partition.
pub(super) trait ResponseTopic {
    type Partition;
    fn partition(index: i32, error_code: i16) -> Self::Partition;
    fn topic(name: TopicName, partitions: Vec<Self::Partition>) -> Self;
}

/// The request topic, response topic and response partition types of one API.
macro_rules! per_partition_api {
    ($request:ty => $response:ty, $partition:ty) => {
        impl RequestTopic for $request {
            fn name(&self) -> &TopicName {
                &self.name
            }

            fn partition_indexes(&self) -> Vec<i32> {
                self.partitions.iter().map(|p| p.partition_index).collect()
            }
        }

        impl ResponseTopic for $response {
            type Partition = $partition;

            fn partition(index: i32, error_code: i16) -> $partition {
                <$partition>::default()
                    .with_partition_index(index)
                    .with_error_code(error_code)
            }

            fn topic(name: TopicName, partitions: Vec<$partition>) -> Self {
                Self::default().with_name(name).with_partitions(partitions)
            }
        }
    };
}

per_partition_api!(OffsetCommitRequestTopic => OffsetCommitResponseTopic, OffsetCommitResponsePartition);
per_partition_api!(OffsetDeleteRequestTopic => OffsetDeleteResponseTopic, OffsetDeleteResponsePartition);
per_partition_api!(
    TxnOffsetCommitRequestTopic => TxnOffsetCommitResponseTopic, TxnOffsetCommitResponsePartition
);

/// The partitions a per-partition request names, in request order, and which of them are
/// answered here and never reach a coordinator: those of topics the principal may not use
/// (an authorization error for the whole topic, checked first, as Kafka), and those the
/// `MetadataImage` lacks (UNKNOWN_TOPIC_OR_PARTITION: the coordinator knows no topics, as
/// Kafka's request handler).
pub(super) struct RequestedPartitions<'a> {
    topics: Vec<(&'a TopicName, Vec<i32>)>,
    refused: HashMap<&'a str, ResponseError>,
    unknown: HashSet<(&'a str, i32)>,
}

impl<'a> RequestedPartitions<'a> {
    /// `refuse(topic)` is the authorization error of a topic the request may not touch.
    pub(super) fn new(
        image: &MetadataImage,
        topics: &'a [impl RequestTopic],
        refuse: impl Fn(&str) -> Option<ResponseError>,
    ) -> Self {
        let topics: Vec<_> = topics
            .iter()
            .map(|t| (t.name(), t.partition_indexes()))
            .collect();
        let mut refused = HashMap::new();
        for (name, _) in &topics {
            if !refused.contains_key(name.0.as_str()) {
                if let Some(code) = refuse(name.0.as_str()) {
                    refused.insert(name.0.as_str(), code);
                }
            }
        }
        let unknown = topics
            .iter()
            .filter(|(name, _)| !refused.contains_key(name.0.as_str()))
            .flat_map(|(name, partitions)| partitions.iter().map(|p| (name.0.as_str(), *p)))
            .filter(|(topic, partition)| !image.has_partition(topic, *partition))
            .collect();
        Self {
            topics,
            refused,
            unknown,
        }
    }

    /// The topics and partitions the request names, in request order.
    pub(super) fn topics(&self) -> &[(&'a TopicName, Vec<i32>)] {
        &self.topics
    }

    /// The partition is answered here (refused or unknown), not by the coordinator.
    pub(super) fn is_answered_here(&self, topic: &str, partition: i32) -> bool {
        self.refused.contains_key(topic) || self.unknown.contains(&(topic, partition))
    }

    pub(super) fn is_refused(&self, topic: &str) -> bool {
        self.refused.contains_key(topic)
    }

    pub(super) fn has_unknown(&self) -> bool {
        !self.unknown.is_empty()
    }

    /// Some partition is answered here.
    pub(super) fn answers_any_here(&self) -> bool {
        !self.unknown.is_empty() || !self.refused.is_empty()
    }

    /// The response's topics in the request's order, with a code for each partition the
    /// request named; `known(topic, partition)` gives the code of each partition not
    /// answered here, called in request order.
    pub(super) fn respond<T: ResponseTopic>(
        &self,
        mut known: impl FnMut(&str, i32) -> i16,
    ) -> Vec<T> {
        self.topics
            .iter()
            .map(|(name, indexes)| {
                let name_str = name.0.as_str();
                let partitions = indexes
                    .iter()
                    .map(|&index| {
                        let code = if let Some(refusal) = self.refused.get(name_str) {
                            refusal.code()
                        } else if self.unknown.contains(&(name_str, index)) {
                            ResponseError::UnknownTopicOrPartition.code()
                        } else {
                            known(name_str, index)
                        };
                        T::partition(index, code)
                    })
                    .collect();
                T::topic((*name).clone(), partitions)
            })
            .collect()
    }
}
