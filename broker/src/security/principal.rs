//! `KafkaPrincipal`: who a connection is, as Kafka names it (`User:alice`). A connection
//! without authentication (PLAINTEXT, or SSL without a client certificate) is
//! `User:ANONYMOUS`, as in Kafka.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::DefaultPrincipalData;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The version `DefaultKafkaPrincipalBuilder` writes before `DefaultPrincipalData`.
const PRINCIPAL_DATA_VERSION: i16 = 0;

/// Kafka's principal type for every authenticated user (`KafkaPrincipal.USER_TYPE`).
pub(crate) const USER_TYPE: &str = "User";

/// A principal: type and name (`User` + `alice` = `User:alice`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    pub(crate) fn user(name: impl Into<String>) -> Self {
        Self {
            principal_type: USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`: an unauthenticated connection.
    pub(crate) fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }

    /// Kafka's serialized form (`DefaultKafkaPrincipalBuilder.serialize`: a version, then
    /// `DefaultPrincipalData`), as an Envelope carries the client's principal.
    pub(crate) fn serialize(&self) -> Bytes {
        let data = DefaultPrincipalData::default()
            .with_type(StrBytes::from_string(self.principal_type.clone()))
            .with_name(StrBytes::from_string(self.name.clone()));
        let mut out = BytesMut::new();
        out.extend_from_slice(&PRINCIPAL_DATA_VERSION.to_be_bytes());
        if let Err(e) = data.encode(&mut out, PRINCIPAL_DATA_VERSION) {
            tracing::warn!(error = %e, "encoding a principal");
        }
        out.freeze()
    }

    /// The principal an Envelope carries; `None` when it does not decode.
    pub(crate) fn deserialize(mut bytes: Bytes) -> Option<Self> {
        if bytes.remaining() < 2 {
            return None;
        }
        let version = bytes.get_i16();
        if version != PRINCIPAL_DATA_VERSION {
            return None;
        }
        let data = DefaultPrincipalData::decode(&mut bytes, version).ok()?;
        if data.token_authenticated || data.name.is_empty() || data._type.is_empty() {
            return None;
        }
        Some(Self {
            principal_type: data._type.to_string(),
            name: data.name.to_string(),
        })
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_print_as_kafka_writes_them() {
        assert_eq!(
            KafkaPrincipal::user("CN=a,O=b").to_string(),
            "User:CN=a,O=b"
        );
        assert_eq!(KafkaPrincipal::anonymous().to_string(), "User:ANONYMOUS");
    }

    #[test]
    fn principals_survive_the_envelope_form() {
        let alice = KafkaPrincipal::user("alice");
        assert_eq!(KafkaPrincipal::deserialize(alice.serialize()), Some(alice));
        assert_eq!(
            KafkaPrincipal::deserialize(Bytes::from_static(&[0, 1, 2])),
            None
        );
    }
}
