//! Request parts every client of the workspace builds the same way.

use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kafka_protocol::protocol::StrBytes;

/// CreateTopics' config entries of a new topic: one per (name, value).
pub fn creatable_topic_configs<K: AsRef<str>, V: AsRef<str>>(
    configs: impl IntoIterator<Item = (K, V)>,
) -> Vec<CreatableTopicConfig> {
    configs
        .into_iter()
        .map(|(name, value)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(name.as_ref().to_owned()))
                .with_value(Some(StrBytes::from_string(value.as_ref().to_owned())))
        })
        .collect()
}
