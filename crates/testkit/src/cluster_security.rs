//! `cluster_security`: [`ClusterSecurity`], the settings of a cluster whose every link is
//! secured — the client listener (which is also the inter-broker listener) and the
//! controller listener — with certificates from [`TestCertificates`]: what the nodes are
//! started with ([`ClusterSecurity::overrides`], given to [`crate::ClusterSpec::secured`])
//! and what its clients connect with ([`ClusterSecurity::client_settings`]).
//!
//! The cluster's client listener keeps its name `PLAINTEXT` (the test kit finds a node's
//! address by that name); `listener.security.protocol.map` gives it its real protocol.
//! Every node has the one server keystore (CN=localhost, SANs `localhost` and
//! `127.0.0.1`, server and client use), so a node's client certificate maps to the
//! principal `User:CN=localhost`, and the nodes' SASL user is [`NODE_USER`].

use std::path::Path;

use crate::tls::TestCertificates;

/// The SASL user the nodes authenticate as between themselves.
pub const NODE_USER: &str = "broker";
pub const NODE_PASSWORD: &str = "broker-secret";
/// The SASL PLAIN user the test's clients authenticate as.
pub const CLIENT_USER: &str = "admin";
pub const CLIENT_PASSWORD: &str = "admin-secret";
/// What a node's client certificate maps to (`ssl.principal.mapping.rules=DEFAULT`).
pub const NODE_CERTIFICATE_PRINCIPAL: &str = "User:CN=localhost";

/// How the controller listener is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerLink {
    /// SASL_SSL with PLAIN as [`NODE_USER`].
    SaslSslPlain,
    /// SSL with `ssl.client.auth=required`: the nodes prove themselves by certificate.
    MutualTls,
}

/// How the inter-broker (and client) listener authenticates the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterBrokerMechanism {
    Plain,
    /// SCRAM-SHA-512: [`NODE_USER`]'s credential must be created through the admin API
    /// before brokers can replicate (as with Kafka, unless formatted in).
    ScramSha512,
}

/// A secured cluster's certificates and settings.
pub struct ClusterSecurity {
    pub certs: TestCertificates,
    pub controller: ControllerLink,
    pub inter_broker: InterBrokerMechanism,
}

impl ClusterSecurity {
    /// Certificates generated into `dir`; every listener SASL_SSL with PLAIN.
    pub fn sasl_ssl_everywhere(dir: &Path) -> Self {
        Self::new(
            dir,
            ControllerLink::SaslSslPlain,
            InterBrokerMechanism::Plain,
        )
    }

    pub fn new(dir: &Path, controller: ControllerLink, inter_broker: InterBrokerMechanism) -> Self {
        Self {
            certs: TestCertificates::generate(dir),
            controller,
            inter_broker,
        }
    }

    /// The broker settings of every node.
    pub fn overrides(&self) -> Vec<(String, String)> {
        let keystore = self.certs.server_keystore.display().to_string();
        let ca = self.certs.ca_pem.display().to_string();
        let controller_protocol = match self.controller {
            ControllerLink::SaslSslPlain => "SASL_SSL",
            ControllerLink::MutualTls => "SSL",
        };
        let plain_jaas = format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"{NODE_USER}\" password=\"{NODE_PASSWORD}\" \
             user_{NODE_USER}=\"{NODE_PASSWORD}\" user_{CLIENT_USER}=\"{CLIENT_PASSWORD}\";"
        );
        let mut settings: Vec<(String, String)> = vec![
            (
                "listener.security.protocol.map".into(),
                format!("PLAINTEXT:SASL_SSL,CONTROLLER:{controller_protocol}"),
            ),
            ("ssl.keystore.type".into(), "PEM".into()),
            ("ssl.keystore.location".into(), keystore),
            ("ssl.truststore.type".into(), "PEM".into()),
            ("ssl.truststore.location".into(), ca),
            (
                "sasl.enabled.mechanisms".into(),
                "PLAIN,SCRAM-SHA-512".into(),
            ),
            (
                "listener.name.plaintext.plain.sasl.jaas.config".into(),
                plain_jaas.clone(),
            ),
        ];
        match self.inter_broker {
            InterBrokerMechanism::Plain => settings.push((
                "sasl.mechanism.inter.broker.protocol".into(),
                "PLAIN".into(),
            )),
            InterBrokerMechanism::ScramSha512 => {
                settings.push((
                    "sasl.mechanism.inter.broker.protocol".into(),
                    "SCRAM-SHA-512".into(),
                ));
                settings.push((
                    "listener.name.plaintext.scram-sha-512.sasl.jaas.config".into(),
                    format!(
                        "org.apache.kafka.common.security.scram.ScramLoginModule required \
                         username=\"{NODE_USER}\" password=\"{NODE_PASSWORD}\";"
                    ),
                ));
            }
        }
        match self.controller {
            ControllerLink::SaslSslPlain => {
                settings.push(("sasl.mechanism.controller.protocol".into(), "PLAIN".into()));
                settings.push((
                    "listener.name.controller.sasl.enabled.mechanisms".into(),
                    "PLAIN".into(),
                ));
                settings.push((
                    "listener.name.controller.plain.sasl.jaas.config".into(),
                    plain_jaas,
                ));
            }
            ControllerLink::MutualTls => {
                settings.push((
                    "listener.name.controller.ssl.client.auth".into(),
                    "required".into(),
                ));
            }
        }
        settings
    }

    /// What a node started with `overrides` then these authenticates with instead: the
    /// right user with a wrong password (the users it accepts itself stay right).
    pub fn wrong_password_overrides(&self) -> Vec<(String, String)> {
        let jaas = format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"{NODE_USER}\" password=\"not-the-password\" \
             user_{NODE_USER}=\"{NODE_PASSWORD}\" user_{CLIENT_USER}=\"{CLIENT_PASSWORD}\";"
        );
        vec![
            (
                "listener.name.plaintext.plain.sasl.jaas.config".into(),
                jaas.clone(),
            ),
            (
                "listener.name.controller.plain.sasl.jaas.config".into(),
                jaas,
            ),
        ]
    }

    /// What a node started with `overrides` then these trusts instead: a CA that signed
    /// none of the other nodes' certificates.
    pub fn untrusting_overrides(&self, dir: &Path) -> Vec<(String, String)> {
        let other = TestCertificates::generate(dir);
        vec![(
            "ssl.truststore.location".into(),
            other.ca_pem.display().to_string(),
        )]
    }

    /// rdkafka settings of the test's clients: SASL_SSL with PLAIN as [`CLIENT_USER`],
    /// trusting the test CA.
    pub fn client_settings(&self) -> Vec<(String, String)> {
        vec![
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanism".into(), "PLAIN".into()),
            ("sasl.username".into(), CLIENT_USER.into()),
            ("sasl.password".into(), CLIENT_PASSWORD.into()),
            (
                "ssl.ca.location".into(),
                self.certs.ca_pem.display().to_string(),
            ),
        ]
    }
}
