//! `balance`: the built-in balancer — even replica and leader counts across brokers after a
//! scale-out or when the cluster drifts, and emptying brokers before a scale-in. No extra
//! service: the operator plans and runs the moves itself.
//!
//! - `bytes_in`: produce traffic per partition, from its size's growth between two looks;
//! - `model`: the cluster as the balancer sees it (plain values) and what "balanced" means;
//! - `plan`: the planner, pure and deterministic: a model in, a plan (moves, leader changes,
//!   what is blocked and why) out;
//! - `throttle`: the replicas and brokers a plan's moves throttle;
//! - `executor`: one balancing step in the KafkaCluster's reconcile — plans, throttles,
//!   submits and follows the moves, then clears the throttles and elects preferred leaders;
//! - `scale_in`: a broker pool made smaller keeps its pods until the brokers that go hold
//!   no replicas (the executor drains them), refused when the rest cannot hold a topic;
//! - `stale`: the fallback when a scale-in's record of the brokers that left was lost —
//!   registered brokers in no pool, without a pod and holding nothing, are unregistered.

pub mod bytes_in;
pub mod executor;
pub mod model;
pub mod plan;
pub mod scale_in;
pub mod stale;
pub mod throttle;

pub use model::{Balance, BrokerId, BrokerModel, ClusterModel, PartitionModel, TopicPartition};
pub use plan::{
    assume_done, plan, BlockReason, Blocked, LeaderChange, PartitionMove, Plan, PlanOptions,
};
