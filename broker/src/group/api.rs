//! What the `GroupCoordinator` takes and answers, as domain values. The group handlers
//! translate each request version into these and the answers back into the response of
//! that version; nothing here knows a wire type or a protocol version's quirks.

use bytes::Bytes;
use uuid::Uuid;

use crate::error::ResponseError;

/// A JoinGroup (classic protocol), as the coordinator sees it.
pub(crate) struct JoinArgs {
    pub(crate) group_id: String,
    /// Empty for a member joining for the first time.
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    /// The request's rebalance timeout; the session timeout when it carries none (v0).
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocol_type: String,
    /// The member's protocols in preference order: (name, metadata).
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// The request version: from v4 a new member must rejoin with the id it was handed
    /// (MEMBER_ID_REQUIRED); from v9 a rejoining static leader may skip the assignment.
    pub(crate) version: i16,
}

/// What a JoinGroup is answered (Kafka's JoinGroupResponse fields). `error` may come with
/// the group's state (a static member whose replacement could not be stored is told the
/// generation it stays in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinOutcome {
    pub(crate) error: Option<ResponseError>,
    pub(crate) member_id: String,
    /// -1 with an error that names no generation.
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    /// A rejoining static leader keeps the group's assignment (JoinGroup v9+).
    pub(crate) skip_assignment: bool,
    /// The members and their metadata for the selected protocol; for the leader only.
    pub(crate) members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// A JoinGroup that failed with `code` before joining anything.
    pub(crate) fn error(member_id: &str, code: ResponseError) -> Self {
        Self {
            error: Some(code),
            member_id: member_id.to_owned(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

/// One member as the group leader learns of it in JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinedMember {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) metadata: Bytes,
}

/// A SyncGroup (classic protocol).
pub(crate) struct SyncArgs {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) generation_id: i32,
    /// Checked against the group's when given (SyncGroup v5+).
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    /// The leader's assignment: (member id, assignment).
    pub(crate) assignments: Vec<(String, Bytes)>,
}

/// What a successful SyncGroup hands the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncAssignment {
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Bytes,
}

/// SyncGroup's answer: the member's assignment, or Kafka's error.
pub(crate) type SyncOutcome = Result<SyncAssignment, ResponseError>;

/// A member named in a LeaveGroup: by member id, or (an admin's removal) by instance id
/// alone with an empty member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeavingMember {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
}

/// An OffsetCommit.
pub(crate) struct OffsetCommitArgs {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    /// The generation (classic members) or member epoch (consumer-protocol members); -1 for
    /// a commit from outside the group (an admin, an assign()-only consumer).
    pub(crate) generation_id_or_member_epoch: i32,
    /// Per topic, the partitions' offsets in request order.
    pub(crate) topics: Vec<(String, Vec<CommittedOffset>)>,
    /// The request version (v9+ answers an unknown group GROUP_ID_NOT_FOUND; consumer-protocol
    /// members commit with v9+ only).
    pub(crate) version: i16,
}

/// One partition's offset in an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: String,
}

/// Per topic, each partition's result, in the order of the request.
pub(crate) type PartitionResults = Vec<(String, Vec<(i32, Result<(), ResponseError>)>)>;

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupListing {
    pub(crate) group_id: String,
    pub(crate) protocol_type: String,
    pub(crate) state: &'static str,
    /// `classic` or `consumer`.
    pub(crate) group_type: &'static str,
}

/// A classic group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassicGroupDescription {
    pub(crate) state: &'static str,
    pub(crate) protocol_type: String,
    /// The selected protocol; empty unless the group is Stable.
    pub(crate) protocol: String,
    pub(crate) members: Vec<ClassicMemberDescription>,
}

/// A classic group's member; metadata and assignment are empty unless the group is Stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassicMemberDescription {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) metadata: Bytes,
    pub(crate) assignment: Bytes,
}

/// What a ConsumerGroupHeartbeat member is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberHeartbeat {
    pub(crate) member_id: String,
    pub(crate) member_epoch: i32,
    pub(crate) heartbeat_interval_ms: i32,
    /// The member's assignment, sent when it (re)joined, sent a full request or the
    /// assignment changed: per topic id, the partitions.
    pub(crate) assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}

/// A consumer-protocol group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroupDescription {
    pub(crate) state: &'static str,
    pub(crate) group_epoch: i32,
    pub(crate) assignment_epoch: i32,
    pub(crate) assignor_name: String,
    pub(crate) members: Vec<ConsumerMemberDescription>,
}

/// One member of a consumer-protocol group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerMemberDescription {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) member_epoch: i32,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) subscribed_topic_names: Vec<String>,
    pub(crate) subscribed_topic_regex: Option<String>,
    pub(crate) assignment: Vec<DescribedTopicPartitions>,
    pub(crate) target_assignment: Vec<DescribedTopicPartitions>,
    /// A classic member of the group (KIP-848 migration), not a consumer-protocol one.
    pub(crate) uses_classic_protocol: bool,
}

/// One topic's partitions in a described assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescribedTopicPartitions {
    pub(crate) topic_id: Uuid,
    pub(crate) topic_name: String,
    pub(crate) partitions: Vec<i32>,
}
