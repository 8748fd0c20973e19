//! Puts a quota's throttle time into a response: every Kafka response with a
//! `throttle_time_ms` field carries the larger of what its handler set and the quota's
//! (versions without the field leave it out when encoding).

use kafka_protocol::messages::ResponseKind;

macro_rules! raise_throttle {
    ($response:expr, $ms:expr, $($variant:ident),* $(,)?) => {
        match $response {
            $(ResponseKind::$variant(r) => r.throttle_time_ms = r.throttle_time_ms.max($ms),)*
            _ => {}
        }
    };
}

/// Raises `response`'s `throttle_time_ms` to `throttle_ms` where it has the field.
pub(crate) fn raise_throttle_time_ms(response: &mut ResponseKind, throttle_ms: i32) {
    raise_throttle!(
        response,
        throttle_ms,
        AddOffsetsToTxn,
        AddPartitionsToTxn,
        AlterClientQuotas,
        AlterConfigs,
        AlterPartitionReassignments,
        AlterReplicaLogDirs,
        AlterUserScramCredentials,
        ApiVersions,
        ConsumerGroupDescribe,
        ConsumerGroupHeartbeat,
        CreateAcls,
        CreateDelegationToken,
        CreatePartitions,
        CreateTopics,
        DeleteAcls,
        DeleteGroups,
        DeleteRecords,
        DeleteTopics,
        DescribeAcls,
        DescribeClientQuotas,
        DescribeCluster,
        DescribeConfigs,
        DescribeDelegationToken,
        DescribeGroups,
        DescribeLogDirs,
        DescribeProducers,
        DescribeTopicPartitions,
        DescribeTransactions,
        DescribeUserScramCredentials,
        ElectLeaders,
        EndTxn,
        ExpireDelegationToken,
        Fetch,
        FindCoordinator,
        GetTelemetrySubscriptions,
        Heartbeat,
        IncrementalAlterConfigs,
        InitProducerId,
        JoinGroup,
        LeaveGroup,
        ListConfigResources,
        ListGroups,
        ListOffsets,
        ListPartitionReassignments,
        ListTransactions,
        Metadata,
        OffsetCommit,
        OffsetDelete,
        OffsetFetch,
        OffsetForLeaderEpoch,
        Produce,
        PushTelemetry,
        RenewDelegationToken,
        SyncGroup,
        TxnOffsetCommit,
        UpdateFeatures,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{MetadataResponse, ProduceResponse, SaslHandshakeResponse};

    #[test]
    fn the_larger_throttle_time_wins_where_there_is_the_field() {
        let mut metadata = ResponseKind::Metadata(MetadataResponse::default());
        raise_throttle_time_ms(&mut metadata, 250);
        assert!(matches!(&metadata, ResponseKind::Metadata(r) if r.throttle_time_ms == 250));
        let mut produce =
            ResponseKind::Produce(ProduceResponse::default().with_throttle_time_ms(900));
        raise_throttle_time_ms(&mut produce, 250);
        assert!(matches!(&produce, ResponseKind::Produce(r) if r.throttle_time_ms == 900));
        let mut handshake = ResponseKind::SaslHandshake(SaslHandshakeResponse::default());
        raise_throttle_time_ms(&mut handshake, 250);
    }
}
