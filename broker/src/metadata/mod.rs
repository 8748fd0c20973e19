//! Cluster metadata (KRaft's role): a replicated log of [`MetadataRecord`]s (openraft) applied
//! to an immutable [`MetadataImage`], and the active [`Controller`] that turns admin requests
//! into records.
//!
//! Invariants: nobody mutates an image (the next one is built from records); the controller
//! never touches partition logs; apply is total (a record that does not fit is skipped, so
//! every node reaches the same image).

pub mod controller;
pub mod image;
mod network;
pub mod quorum;
pub mod records;
mod store;

pub use controller::{
    legacy_replace_ops, validate_topic_name, AlterOp, BrokerRegistrationRequest, ConfigChangeSpec,
    ConfigDefaultFn, ConfigValidator, Controller, ControllerDefaults, CreatePartitionsSpec,
    CreateTopicSpec, CreatedTopic, TopicRef,
};
pub use image::{BrokerRegistration, MetadataImage, PartitionRegistration, TopicImage};
pub use quorum::{MetadataQuorum, QuorumConfig, QuorumError, QuorumOptions};
pub use records::{BrokerEndpoint, ConfigResource, MetadataBatch, MetadataRecord};
