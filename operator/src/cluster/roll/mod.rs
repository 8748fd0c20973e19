//! `roll`: changing a running cluster without costing availability. `plan` decides the
//! next restart (pure: a model of the pods, partitions and quorum in, the next action
//! out); `execute` gathers that model from the API server and the brokers, carries the
//! action out (deletes one pod, records an Event) and reports it in the status; `dynamic`
//! applies the spec's runtime-changeable broker configs with no restart at all.

pub mod dynamic;
pub mod execute;
pub mod plan;
