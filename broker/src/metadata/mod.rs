//! Cluster metadata (KRaft's role): a replicated log of [`MetadataRecord`]s (openraft) applied
//! to an immutable [`MetadataImage`], and the active [`Controller`] that turns admin requests
//! into records.
//!
//! Invariants: nobody mutates an image (the next one is built from records); the controller
//! never touches partition logs; apply is total (a record that does not fit is skipped, so
//! every node reaches the same image).

pub(crate) mod bootstrap;
pub(crate) mod controller;
mod controller_client;
mod delta;
pub(crate) mod features;
mod identity;
pub(crate) mod image;
mod network;
pub(crate) mod quorum;
pub(crate) mod raft_rpc;
pub(crate) mod records;
mod store;

pub(crate) use controller::{
    legacy_replace_ops, validate_topic_name, AlterOp, BrokerHeartbeat, BrokerRegistrationRequest,
    ClientQuotaAlteration, ConfigChangeSpec, Controller, ControllerDefaults, CreatePartitionsSpec,
    CreateTopicSpec, ElectionType, IsrChange, LeaderAndIsr, ReassignmentSpec, ScramDeletion,
    ScramUpsertion, TopicRef,
};
pub(crate) use controller_client::{ControllerClient, ENVELOPE_METADATA_OFFSET_TAG};
pub(crate) use delta::{ConfigChanges, LocalPartition, LocalReplicaChanges};
pub(crate) use image::{MetadataImage, PartitionRegistration, TopicImage};
pub(crate) use quorum::{MetadataQuorum, QuorumConfig};
pub(crate) use records::{BrokerEndpoint, ConfigResource};
pub(crate) use store::{ControllerNode, MetadataNode};
