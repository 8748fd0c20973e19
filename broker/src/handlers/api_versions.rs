//! ApiVersions: advertises exactly the APIs and versions this broker implements, and the
//! feature levels (KIP-584) it supports and runs at.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::{str_bytes, RequestContext};
use crate::metadata::{features, MetadataImage};

/// Implemented APIs with the version ranges we serve: Kafka 4.0's ranges (capped where the
/// codec knows newer versions than Kafka 4.0 accepts), and Kafka 4.1's where implemented
/// (Produce v13, ListConfigResources). Clients that infer the broker's release from these
/// ranges (kafka-python) see 4.1: Produce v13 says 4.1, ListOffsets v10 says 4.0.
const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    // v13 names topics by id (KIP-516, Kafka 4.1).
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 17),
    // v10 adds a timeout for lookups in remote storage (KIP-1075); without tiered storage
    // every lookup is local, so it is v9 with a field to ignore.
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    // v2 lists fenced brokers on request (KIP-1073).
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 2, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    // v6 answers GROUP_ID_NOT_FOUND for a group that is not there (KIP-1043).
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    // v5 is transaction version 2 (KIP-890 epoch bump per transaction), not implemented.
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    // Kafka 4.1 (KIP-1142): v0 is the older ListClientMetricsResources.
    (ApiKey::ListConfigResources, 0, 1),
    // Forwarded to the active controller, as Kafka's brokers do.
    (ApiKey::DescribeQuorum, 0, 2),
    // Forwarded to the active controller.
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    // Served by `security::sasl` before authentication; afterwards ILLEGAL_SASL_STATE.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    // Forwarded to the active controller.
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 1, 3),
    // Forwarded to the active controller.
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeClientQuotas, 0, 1),
    // Forwarded to the active controller.
    (ApiKey::AlterClientQuotas, 0, 1),
    // Forwarded to the active controller (KIP-746).
    (ApiKey::UnregisterBroker, 0, 0),
    // Forwarded to the active controller; v2 answers without per-feature results.
    (ApiKey::UpdateFeatures, 0, 2),
    // Forwarded to the active controller (KIP-853; a dynamic quorum's voters).
    (ApiKey::AddRaftVoter, 0, 0),
    (ApiKey::RemoveRaftVoter, 0, 0),
];

/// The controller listener's APIs (Kafka's `ControllerApis` that Ironlog implements), with
/// Kafka 4.0's ranges.
const CONTROLLER_SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::Envelope, 0, 0),
    (ApiKey::BrokerRegistration, 0, 4),
    (ApiKey::BrokerHeartbeat, 0, 1),
    (ApiKey::AllocateProducerIds, 0, 0),
    (ApiKey::AlterPartition, 2, 3),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::UnregisterBroker, 0, 0),
    (ApiKey::UpdateFeatures, 0, 2),
    // the controllers (KIP-919), for admin clients with bootstrap.controllers
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::AddRaftVoter, 0, 0),
    (ApiKey::RemoveRaftVoter, 0, 0),
    // from voters, on this listener only (as Kafka's)
    (ApiKey::UpdateRaftVoter, 0, 0),
];

/// The client APIs a broker forwards to the active controller (in an Envelope) when it is
/// not the active controller itself.
pub(crate) fn is_forwarded_to_controller(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::CreatePartitions
            | ApiKey::AlterConfigs
            | ApiKey::IncrementalAlterConfigs
            | ApiKey::DescribeQuorum
            | ApiKey::AlterUserScramCredentials
            | ApiKey::ElectLeaders
            | ApiKey::AlterPartitionReassignments
            | ApiKey::ListPartitionReassignments
            | ApiKey::CreateAcls
            | ApiKey::DeleteAcls
            | ApiKey::AlterClientQuotas
            | ApiKey::UnregisterBroker
            | ApiKey::UpdateFeatures
            | ApiKey::AddRaftVoter
            | ApiKey::RemoveRaftVoter
    )
}

/// The version range we serve for `api` on a client listener or the controller listener,
/// `None` when the API is not implemented there.
pub(crate) fn supported_range_on(api: ApiKey, controller_listener: bool) -> Option<(i16, i16)> {
    table(controller_listener)
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|(_, min, max)| {
            // Never advertise more than the codec can decode.
            let codec = api.valid_versions();
            ((*min).max(codec.min), (*max).min(codec.max))
        })
}

fn table(controller_listener: bool) -> &'static [(ApiKey, i16, i16)] {
    if controller_listener {
        CONTROLLER_SUPPORTED
    } else {
        SUPPORTED
    }
}

fn api_keys(controller_listener: bool) -> Vec<ApiVersion> {
    table(controller_listener)
        .iter()
        .filter_map(|(k, _, _)| {
            let (min, max) = supported_range_on(*k, controller_listener)?;
            let mut v = ApiVersion::default();
            v.api_key = *k as i16;
            v.min_version = min;
            v.max_version = max;
            Some(v)
        })
        .collect()
}

/// The features (KIP-584) come from [`crate::metadata::features`]: the levels this build
/// supports, and the finalized levels of `image` with its offset as Kafka's finalized
/// features epoch, plus the quorum's `kraft_version` when above 0 (Kafka's
/// `KRaftMetadataCache.features`).
pub(crate) fn handle(
    ctx: &RequestContext,
    _request: ApiVersionsRequest,
    image: &MetadataImage,
    kraft_version: i16,
) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.api_keys = api_keys(ctx.controller_listener);
    response.supported_features = features::supported()
        .into_iter()
        .map(|(name, range)| {
            let mut k = SupportedFeatureKey::default();
            k.name = str_bytes(&name);
            k.min_version = range.min;
            k.max_version = range.max;
            k
        })
        .collect();
    let mut finalized = image.finalized_features();
    if kraft_version > 0 {
        finalized.insert(features::KRAFT_VERSION.to_string(), kraft_version);
    }
    response.finalized_features = finalized
        .into_iter()
        .map(|(name, level)| {
            let mut k = FinalizedFeatureKey::default();
            k.name = str_bytes(&name);
            k.min_version_level = level;
            k.max_version_level = level;
            k
        })
        .collect();
    response.finalized_features_epoch = i64::try_from(image.offset).unwrap_or(i64::MAX);
    response
}

/// The answer to an ApiVersions request in a version we do not know (sent as v0).
pub(crate) fn unsupported_version_response(controller_listener: bool) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.error_code = ResponseError::UnsupportedVersion.code();
    response.api_keys = api_keys(controller_listener);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_decodable_and_non_empty() {
        for (api, _, _) in SUPPORTED.iter().chain(CONTROLLER_SUPPORTED) {
            let controller = !SUPPORTED.iter().any(|(k, _, _)| k == api);
            let (min, max) = supported_range_on(*api, controller).expect("listed API has a range");
            assert!(
                min <= max,
                "{api:?} advertises an empty range {min}..={max}"
            );
            let codec = api.valid_versions();
            assert!(
                codec.min <= min && max <= codec.max,
                "{api:?} range outside the codec's"
            );
        }
        assert_eq!(
            supported_range_on(ApiKey::JoinGroup, false),
            Some((2, 9)),
            "Kafka 4.0 serves JoinGroup v2-9"
        );
    }
}
