//! `resource_status!`: the status every custom resource has — `observedGeneration` and the
//! standard `conditions` (a list keyed by type, so server-side apply merges them) — written
//! once; each kind adds its own fields. [`ResourceStatus`] lets the controllers set a
//! condition on any of them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::conditions;

/// What every kind's status has.
pub trait ResourceStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn set_observed_generation(&mut self, generation: Option<i64>);

    /// Sets the condition `type_` observed at `generation` (keeping its transition time
    /// while its status stays the same).
    fn set_condition(
        &mut self,
        type_: &str,
        value: bool,
        reason: &str,
        message: impl Into<String>,
        generation: Option<i64>,
    ) {
        conditions::set_condition(
            self.conditions_mut(),
            conditions::condition(type_, value, reason, message, generation),
        );
    }
}

/// Declares a kind's status struct: `observedGeneration`, `conditions`, then the fields
/// given.
macro_rules! resource_status {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                pub $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(
            serde::Serialize,
            serde::Deserialize,
            Clone,
            Debug,
            PartialEq,
            schemars::JsonSchema,
            Default,
        )]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// The `metadata.generation` this status describes.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_generation: Option<i64>,
            /// `Ready`, `Progressing`, `Degraded`, `Paused`.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
            pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
            $(
                $(#[$field_attr])*
                pub $field: $ty,
            )*
        }

        impl $crate::crd::status::ResourceStatus for $name {
            fn conditions_mut(
                &mut self,
            ) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
                &mut self.conditions
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
        }
    };
}

pub(crate) use resource_status;
