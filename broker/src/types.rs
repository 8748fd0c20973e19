//! Small value types shared across modules.

use std::fmt;

/// A topic partition, named as Kafka names it (`topic-partition` on disk).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub(crate) fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }

    /// Directory name of this partition's log inside a log dir: `<topic>-<partition>`.
    pub(crate) fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses a log directory name (`<topic>-<partition>`); `None` for anything else.
    pub(crate) fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition: i32 = partition.parse().ok()?;
        if topic.is_empty() || partition < 0 {
            return None;
        }
        Some(Self::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Milliseconds since the Unix epoch, as Kafka timestamps are.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka's `Uuid.toString()` (topic, cluster, directory and member ids): the 16 bytes in
/// URL-safe base64 without padding, 22 characters.
pub(crate) fn kafka_uuid_string(id: uuid::Uuid) -> String {
    let mut out = String::with_capacity(22);
    for chunk in id.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(BASE64_URL[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

/// Kafka's `Uuid.fromString`: the inverse of [`kafka_uuid_string`]; `None` for anything
/// that is not 22 URL-safe base64 characters.
pub(crate) fn parse_kafka_uuid(text: &str) -> Option<uuid::Uuid> {
    if text.len() != 22 {
        return None;
    }
    let mut bits = 0u32;
    let mut bit_count = 0;
    let mut bytes = Vec::with_capacity(16);
    for c in text.bytes() {
        let value = BASE64_URL.iter().position(|b| *b == c)? as u32;
        bits = (bits << 6) | value;
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            bytes.push((bits >> bit_count) as u8);
            bits &= (1 << bit_count) - 1;
        }
    }
    uuid::Uuid::from_slice(&bytes).ok()
}

const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Kafka's internal topics (`Topic.isInternal`): written only by their coordinators.
pub(crate) fn is_internal_topic(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_name_round_trips_topics_with_dashes() {
        let tp = TopicPartition::new("my-topic-1", 12);
        assert_eq!(tp.dir_name(), "my-topic-1-12");
        assert_eq!(TopicPartition::from_dir_name("my-topic-1-12"), Some(tp));
        assert_eq!(TopicPartition::from_dir_name("nodash"), None);
        assert_eq!(
            TopicPartition::from_dir_name("t--1"),
            Some(TopicPartition::new("t-", 1))
        );
        assert_eq!(TopicPartition::from_dir_name("t-x"), None);
    }

    #[test]
    fn uuids_print_and_parse_in_kafkas_base64url_form() {
        let id = uuid::Uuid::from_bytes([0xff; 16]);
        assert_eq!(kafka_uuid_string(id), "_____________________w");
        assert_eq!(
            kafka_uuid_string(uuid::Uuid::nil()),
            "AAAAAAAAAAAAAAAAAAAAAA"
        );
        let id = uuid::Uuid::from_bytes([0xfb; 16]);
        assert_eq!(kafka_uuid_string(id), "-_v7-_v7-_v7-_v7-_v7-w");
        for _ in 0..50 {
            let id = uuid::Uuid::new_v4();
            assert_eq!(
                parse_kafka_uuid(&kafka_uuid_string(id)),
                Some(id),
                "round trip of {id}"
            );
        }
        assert_eq!(parse_kafka_uuid("short"), None);
        assert_eq!(parse_kafka_uuid("!!!!!!!!!!!!!!!!!!!!!!"), None);
    }
}
