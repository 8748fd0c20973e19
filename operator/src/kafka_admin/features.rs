//! `features`: the cluster's feature levels (KIP-584). What a broker supports and what the
//! cluster is finalized at come from its ApiVersions answer (as Kafka's admin client's
//! `describeFeatures` reads them); UpdateFeatures raises a finalized level, through any
//! broker to the active controller, which checks it against every registered broker.

use std::collections::BTreeMap;

use ironlog_protocol::kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use ironlog_protocol::kafka_protocol::messages::{ApiVersionsRequest, UpdateFeaturesRequest};
use ironlog_protocol::{Error, SendOptions, Target};

use super::{sb, AdminError, KafkaAdmin, ADMIN_TIMEOUT_MS};

/// The feature of the metadata format and the records the controllers write.
pub const METADATA_VERSION_FEATURE: &str = "metadata.version";
/// UpdateFeatures' upgrade type of a raise.
const UPGRADE: i8 = 1;

/// An inclusive range of levels a broker supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedRange {
    pub min: i16,
    pub max: i16,
}

impl SupportedRange {
    pub fn contains(self, level: i16) -> bool {
        self.min <= level && level <= self.max
    }
}

/// One broker's ApiVersions answer about features.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeatureView {
    /// The levels this broker supports, by feature.
    pub supported: BTreeMap<String, SupportedRange>,
    /// The cluster's finalized levels as this broker's metadata image has them.
    pub finalized: BTreeMap<String, i16>,
}

impl KafkaAdmin {
    /// The features as `target` (a broker) reports them.
    pub async fn features(&self, target: Target) -> Result<FeatureView, AdminError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(sb("ironlog-operator"))
            .with_client_software_version(sb(env!("CARGO_PKG_VERSION")));
        self.request(
            target,
            &request,
            SendOptions::default(),
            "ApiVersions",
            || match target {
                Target::Node(id) => format!("broker {id}"),
                _ => "the cluster".to_string(),
            },
            |response| {
                Error::check(response.error_code, None)?;
                Ok(FeatureView {
                    supported: response
                        .supported_features
                        .iter()
                        .map(|f| {
                            (
                                f.name.to_string(),
                                SupportedRange {
                                    min: f.min_version,
                                    max: f.max_version,
                                },
                            )
                        })
                        .collect(),
                    finalized: response
                        .finalized_features
                        .iter()
                        .map(|f| (f.name.to_string(), f.max_version_level))
                        .collect(),
                })
            },
        )
        .await
    }

    /// Raises `feature` to `level` (UpdateFeatures, upgrade type UPGRADE). The
    /// controller's refusal comes back as the Kafka error with its message.
    pub async fn upgrade_feature(&self, feature: &str, level: i16) -> Result<(), AdminError> {
        let request = UpdateFeaturesRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_feature_updates(vec![FeatureUpdateKey::default()
                .with_feature(sb(feature))
                .with_max_version_level(level)
                .with_upgrade_type(UPGRADE)])
            .with_validate_only(false);
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "UpdateFeatures",
            || format!("{feature} {level}"),
            |response| {
                Error::check(response.error_code, response.error_message.as_ref())?;
                // v0 and v1 answer per feature
                for result in &response.results {
                    Error::check(result.error_code, result.error_message.as_ref())?;
                }
                Ok(())
            },
        )
        .await
    }
}
