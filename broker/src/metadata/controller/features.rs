//! UpdateFeatures on the controller (Kafka's `FeatureControlManager.updateFeatures`): the
//! checks are [`crate::metadata::features::plan_update`]'s, against this controller and
//! every registered broker (fenced ones too, as Kafka's), kraft.version against the quorum's
//! kind; all updates are written as one batch, or none when one is refused or the request
//! only validates.

use super::Controller;
use crate::error::ApiError;
use crate::metadata::features::{self, FeatureUpdate};

impl Controller {
    /// Applies `updates` (or only checks them); returns the offset of the committed batch,
    /// `None` when nothing was written.
    pub(crate) async fn update_features(
        &self,
        updates: Vec<FeatureUpdate>,
        validate_only: bool,
    ) -> Result<Option<u64>, ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        let brokers: Vec<_> = image
            .brokers
            .values()
            .map(|b| (b.broker_id, b.supported_features()))
            .collect();
        let records = features::plan_update(
            &image.finalized_features(),
            image.is_legacy_features(),
            self.quorum.kraft_version(),
            &updates,
            self.defaults.node_id,
            &brokers,
        )?;
        if validate_only || records.is_empty() {
            return Ok(None);
        }
        tracing::info!(?updates, "updating finalized features");
        self.propose(records).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::tests::fixture;
    use crate::error::ResponseError;
    use crate::metadata::features::{FeatureRange, UpgradeType, GROUP_VERSION, METADATA_VERSION};
    use crate::metadata::BrokerRegistrationRequest;

    fn update(name: &str, level: i16, upgrade_type: UpgradeType) -> super::FeatureUpdate {
        super::FeatureUpdate {
            name: name.into(),
            level,
            upgrade_type,
        }
    }

    #[tokio::test]
    async fn validate_only_and_refusals_write_nothing_and_an_update_is_applied() {
        let f = fixture(&[1]).await;
        let offset = f.image().offset;
        let checked = f
            .controller
            .update_features(
                vec![update(GROUP_VERSION, 0, UpgradeType::SafeDowngrade)],
                true,
            )
            .await
            .unwrap();
        assert_eq!(checked, None, "validate_only writes nothing");
        let refused = f
            .controller
            .update_features(
                vec![
                    update(GROUP_VERSION, 0, UpgradeType::SafeDowngrade),
                    update(METADATA_VERSION, 99, UpgradeType::Upgrade),
                ],
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code, ResponseError::InvalidUpdateVersion);
        assert_eq!(f.image().offset, offset, "a refusal writes nothing");
        f.controller
            .update_features(
                vec![update(GROUP_VERSION, 0, UpgradeType::SafeDowngrade)],
                false,
            )
            .await
            .unwrap()
            .expect("a change is written");
        assert_eq!(
            f.image().finalized_features().get(GROUP_VERSION),
            None,
            "group.version is back at 0"
        );
    }

    #[tokio::test]
    async fn a_broker_without_a_level_blocks_it_and_cannot_register_below_the_finalized_one() {
        let f = fixture(&[1]).await;
        f.controller
            .update_features(
                vec![update(METADATA_VERSION, 26, UpgradeType::SafeDowngrade)],
                false,
            )
            .await
            .unwrap();
        let mut old = crate::metadata::features::supported();
        old.insert(METADATA_VERSION.into(), FeatureRange { min: 7, max: 26 });
        let registration = |features: BTreeMap<String, FeatureRange>| BrokerRegistrationRequest {
            broker_id: 2,
            incarnation_id: uuid::Uuid::from_u128(2),
            listeners: vec![],
            rack: None,
            features: Some(features),
        };
        f.controller
            .register_broker(registration(old))
            .await
            .expect("a broker that supports the finalized level registers");
        let refused = f
            .controller
            .update_features(
                vec![update(METADATA_VERSION, 27, UpgradeType::Upgrade)],
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(
            refused.message.as_deref(),
            Some("Invalid update version 27 for feature metadata.version. Broker 2 only supports versions 7-26")
        );
        let mut older = crate::metadata::features::supported();
        older.insert(METADATA_VERSION.into(), FeatureRange { min: 7, max: 21 });
        let error = f
            .controller
            .register_broker(BrokerRegistrationRequest {
                incarnation_id: uuid::Uuid::from_u128(3),
                ..registration(older)
            })
            .await
            .unwrap_err();
        assert_eq!(error.code, ResponseError::UnsupportedVersion);
    }
}
