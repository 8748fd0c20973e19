//! `validate`: a KafkaCluster's spec judged as the brokers will judge it — pure, no API
//! calls. The schema already refused what it can express; this checks what needs the
//! broker's config tables (`ironlog-config`: unknown keys, invalid values, the broker's own
//! cross-field checks on each node's complete configuration), the keys the operator sets
//! itself, `spec.metadataVersion` a version the brokers know, node id ranges across pools, and features the operator does not implement yet.
//!
//! Every problem is collected (a user fixes them in one go), each naming the field.
//! A valid cluster comes out as [`ValidCluster`]: the spec with every node's settings
//! resolved, which `build` turns into objects.

use std::collections::BTreeMap;

use ironlog_config::defs::{broker_config_def, listener_prefixed_def};
use ironlog_config::metadata_version::{known_release_versions, metadata_version_from_release};
use ironlog_config::BrokerConfig;

use crate::crd::kafka_cluster::{
    AuthenticationType, AuthorizationSpec, KafkaCluster, KafkaClusterSpec, ListenerType, NodePool,
    NodeRole, OAuthSpec,
};

use super::names;

/// The broker setting a node that formats itself on its first start bootstraps the
/// cluster's metadata version from (`spec.metadataVersion`).
pub const BOOTSTRAP_RELEASE_VERSION: &str = "bootstrap.release.version";

/// Broker keys the operator sets from the spec or its own layout; a spec's `config` may
/// not set them.
pub const OPERATOR_OWNED_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    "process.roles",
    "cluster.id",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "controller.listener.names",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "security.inter.broker.protocol",
    "sasl.mechanism.inter.broker.protocol",
    "sasl.mechanism.controller.protocol",
    "sasl.enabled.mechanisms",
    "log.dir",
    "log.dirs",
    "metadata.log.dir",
    "broker.rack",
    "admin.listener",
    BOOTSTRAP_RELEASE_VERSION,
    "authorizer.class.name",
    "super.users",
    "early.start.listeners",
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.sub.claim.name",
];

/// Kafka's ACL authorizer (ACLs in the metadata log).
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The node labels Kubernetes copies onto a pod at binding, so a container can read them
/// (downward API): the only rack keys a broker can learn without API access.
pub const RACK_TOPOLOGY_KEYS: &[&str] = &[
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
];

/// One problem with a spec, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// The field path, e.g. `spec.config[log.retention.ms]`.
    pub field: String,
    pub message: String,
}

/// A node of the cluster: one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_id: i32,
    /// The pool's index in `spec.nodePools`.
    pub pool: usize,
    /// The pod's ordinal in its StatefulSet.
    pub ordinal: i32,
    /// The pod's name, `<cluster>-<pool>-<ordinal>`.
    pub pod_name: String,
    /// The pod's DNS name through the headless Service.
    pub host: String,
    /// The node's complete broker configuration (what its properties file holds).
    pub settings: Vec<(String, String)>,
}

/// A client listener with its Kafka name and security protocol resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientListener {
    /// The Kafka name, upper-cased.
    pub name: String,
    pub port: i32,
    pub security_protocol: &'static str,
    /// The SASL mechanism clients use, if any.
    pub sasl_mechanism: Option<&'static str>,
    /// TLS on the listener (the node's certificate from the cluster CA).
    pub tls: bool,
    /// Clients authenticate with certificates of the clients CA (`ssl.client.auth=required`).
    pub client_certificates: bool,
}

/// A cluster that passed validation, with every node resolved.
#[derive(Debug, Clone)]
pub struct ValidCluster {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub generation: Option<i64>,
    pub spec: KafkaClusterSpec,
    pub cluster_id: String,
    pub listeners: Vec<ClientListener>,
    /// The oauth listeners' token validation (the same for all of them), if any.
    pub oauth: Option<OAuthSpec>,
    /// `spec.metadataVersion` as its `metadata.version` level, when set.
    pub metadata_version: Option<i16>,
    pub nodes: Vec<Node>,
}

impl ValidCluster {
    /// Whether the cluster needs the operator's CAs and the nodes' certificates: a TLS
    /// listener, or authorization (mTLS between the nodes and from the operator).
    pub fn needs_certificates(&self) -> bool {
        self.listeners.iter().any(|l| l.tls) || self.spec.authorization.is_some()
    }

    /// The nodes of pool `pool`, in ordinal order.
    pub fn pool_nodes(&self, pool: usize) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.pool == pool)
    }

    /// The nodes whose pool has the broker role, in the order of `nodes`.
    pub fn broker_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| {
            self.spec.node_pools[n.pool]
                .roles
                .contains(&NodeRole::Broker)
        })
    }

    /// `host:port` of every broker node on the operator's own REPLICATION listener: what
    /// the operator's admin calls (Topics, Users, the health gauges) use, whatever security
    /// the client listeners have — as Strimzi's operator uses its replication listener.
    pub fn operator_bootstrap_servers(&self) -> String {
        self.broker_nodes()
            .map(|n| format!("{}:{}", n.host, names::REPLICATION_PORT))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `host:port` of every broker node on listener `listener`.
    pub fn bootstrap_servers(&self, listener: &ClientListener) -> String {
        self.broker_nodes()
            .map(|n| format!("{}:{}", n.host, listener.port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Validates `cluster`; on success every node's configuration is resolved.
pub fn validate(cluster: &KafkaCluster) -> Result<ValidCluster, Vec<SpecError>> {
    let mut errors = Vec::new();
    let error = |errors: &mut Vec<SpecError>, field: &str, message: String| {
        errors.push(SpecError {
            field: field.to_string(),
            message,
        })
    };
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let uid = cluster.metadata.uid.clone().unwrap_or_default();
    if name.is_empty() || namespace.is_empty() || uid.is_empty() {
        error(
            &mut errors,
            "metadata",
            "a stored KafkaCluster has a name, a namespace and a uid".to_string(),
        );
        return Err(errors);
    }
    let spec = &cluster.spec;

    // names: the longest pod name must fit a DNS label (63), as a pod's hostname must
    for (i, pool) in spec.node_pools.iter().enumerate() {
        let longest = names::pod_name(&name, &pool.name, pool.replicas.max(1) - 1);
        if longest.len() > names::DNS_LABEL_MAX {
            error(
                &mut errors,
                &format!("spec.nodePools[{i}].name"),
                format!(
                    "pod name {longest} is longer than {} characters: shorten the cluster or pool name",
                    names::DNS_LABEL_MAX
                ),
            );
        }
        if let Some(key) = &pool.rack_topology_key {
            if !RACK_TOPOLOGY_KEYS.contains(&key.as_str()) {
                error(
                    &mut errors,
                    &format!("spec.nodePools[{i}].rackTopologyKey"),
                    format!(
                        "{key} is not a label Kubernetes copies onto pods; use one of {}",
                        RACK_TOPOLOGY_KEYS.join(", ")
                    ),
                );
            }
        }
    }
    check_node_ids(&spec.node_pools, &mut errors);

    // listeners: what the operator cannot provide yet is refused, never half-built
    let mut listeners = Vec::new();
    let mut oauth: Option<OAuthSpec> = None;
    for (i, listener) in spec.listeners.iter().enumerate() {
        let field = format!("spec.listeners[{i}]");
        if listener.type_ != ListenerType::Internal {
            error(
                &mut errors,
                &format!("{field}.type"),
                "nodeport and loadbalancer listeners (per-broker external Services and their \
                 advertised addresses) are not implemented by the operator yet"
                    .to_string(),
            );
        }
        let (security_protocol, sasl_mechanism) = match (
            listener.tls,
            listener.authentication.type_,
        ) {
            (false, AuthenticationType::None) => ("PLAINTEXT", None),
            (true, AuthenticationType::None) => ("SSL", None),
            (false, AuthenticationType::ScramSha512) => ("SASL_PLAINTEXT", Some("SCRAM-SHA-512")),
            (true, AuthenticationType::ScramSha512) => ("SASL_SSL", Some("SCRAM-SHA-512")),
            (true, AuthenticationType::Tls) => ("SSL", None),
            (false, AuthenticationType::Tls) => {
                // the schema refuses it too; a stored object from before the rule
                error(
                    &mut errors,
                    &format!("{field}.authentication.type"),
                    "tls authentication (client certificates) needs tls: true".to_string(),
                );
                ("SSL", None)
            }
            (tls, AuthenticationType::Oauth) => {
                match (&listener.authentication.oauth, &oauth) {
                        (None, _) => error(
                            &mut errors,
                            &format!("{field}.authentication.oauth"),
                            "oauth authentication needs its settings (jwksConfigMap or jwksEndpointUri)"
                                .to_string(),
                        ),
                        (Some(mine), Some(first)) if mine != first => error(
                            &mut errors,
                            &format!("{field}.authentication.oauth"),
                            "every oauth listener of a cluster must have the same settings (the \
                             brokers' OAUTHBEARER validation is cluster-wide)"
                                .to_string(),
                        ),
                        (Some(mine), _)
                            if mine.jwks_config_map.is_some() == mine.jwks_endpoint_uri.is_some() =>
                        {
                            // the schema refuses it too; a stored object from before the rule
                            error(
                                &mut errors,
                                &format!("{field}.authentication.oauth"),
                                "give the JSON Web Key Set as jwksConfigMap or as \
                                 jwksEndpointUri, exactly one"
                                    .to_string(),
                            )
                        }
                        (Some(mine), _)
                            if mine.jwks_endpoint_ca_config_map.is_some()
                                && mine.jwks_endpoint_uri.is_none() =>
                        {
                            error(
                                &mut errors,
                                &format!("{field}.authentication.oauth.jwksEndpointCaConfigMap"),
                                "jwksEndpointCaConfigMap is the CA of jwksEndpointUri and needs it"
                                    .to_string(),
                            )
                        }
                        (Some(mine), None) => oauth = Some(mine.clone()),
                        _ => {}
                    }
                (
                    if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" },
                    Some("OAUTHBEARER"),
                )
            }
        };
        listeners.push(ClientListener {
            name: listener.name.to_ascii_uppercase(),
            port: listener.port,
            security_protocol,
            sasl_mechanism,
            tls: listener.tls,
            client_certificates: listener.authentication.type_ == AuthenticationType::Tls,
        });
    }
    if let Some(authorization) = &spec.authorization {
        check_authorization(authorization, &listeners, &mut errors);
    }

    check_config(&spec.config, &mut errors);
    let metadata_version = spec.metadata_version.as_deref().and_then(|release| {
        let level = metadata_version_from_release(release);
        if level.is_none() {
            error(
                &mut errors,
                "spec.metadataVersion",
                format!(
                    "{release} is not a metadata version this operator knows; known: {}",
                    known_release_versions()
                ),
            );
        }
        level
    });
    if !errors.is_empty() {
        return Err(errors);
    }

    let cluster_id = cluster_id_from_uid(&uid);
    let nodes = resolve_nodes(
        &name,
        &namespace,
        &cluster_id,
        spec,
        &listeners,
        oauth.as_ref(),
    );
    // each pool's first node as the broker itself would load it: the broker's own
    // cross-field checks (roles, listeners, voters, ...) on the complete configuration
    for (i, _) in spec.node_pools.iter().enumerate() {
        if let Some(node) = nodes.iter().find(|n| n.pool == i) {
            if let Err(e) = BrokerConfig::from_pairs(node.settings.clone()) {
                let field = match e.config_name() {
                    Some(key) if spec.config.contains_key(key) => format!("spec.config[{key}]"),
                    _ => format!("spec.nodePools[{i}]"),
                };
                error(
                    &mut errors,
                    &field,
                    format!("node {} would not start: {e}", node.node_id),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidCluster {
        name,
        namespace,
        uid,
        generation: cluster.metadata.generation,
        spec: spec.clone(),
        cluster_id,
        listeners,
        oauth,
        metadata_version,
        nodes,
    })
}

/// Authorization needs a client listener that tells its clients apart (on the others
/// every client is `User:ANONYMOUS`), and super users in Kafka's `Type:name` form.
fn check_authorization(
    authorization: &AuthorizationSpec,
    listeners: &[ClientListener],
    errors: &mut Vec<SpecError>,
) {
    let error = |errors: &mut Vec<SpecError>, field: &str, message: String| {
        errors.push(SpecError {
            field: field.to_string(),
            message,
        })
    };
    let authenticated = listeners
        .iter()
        .any(|l| l.sasl_mechanism.is_some() || l.client_certificates);
    if !authenticated {
        error(
            errors,
            "spec.authorization",
            "ACL authorization needs a listener whose clients authenticate (scram-sha-512, \
             tls or oauth): on listeners without authentication every client is \
             User:ANONYMOUS, and no ACL can tell one from another"
                .to_string(),
        );
    }
    for (i, principal) in authorization.super_users.iter().enumerate() {
        let well_formed = principal
            .split_once(':')
            .is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty())
            && !principal.contains(';');
        if !well_formed {
            error(
                errors,
                &format!("spec.authorization.superUsers[{i}]"),
                format!(
                    "{principal:?} is not a principal: give Kafka's Type:name, e.g. User:admin"
                ),
            );
        }
    }
}

/// How the nodes secure their own listeners (CONTROLLER, REPLICATION) when the cluster has
/// authorization: mTLS with the node certificates of the cluster CA, the peers' subjects
/// mapped to the nodes' and the operator's principals, both super users.
#[derive(Debug, Clone)]
struct InternalSecurity {
    principal_mapping_rules: String,
    super_users: String,
}

impl InternalSecurity {
    fn new(name: &str, namespace: &str, authorization: &AuthorizationSpec) -> Self {
        let node = names::node_principal(name);
        let operator = names::OPERATOR_PRINCIPAL;
        // a node's subject is `CN=<pod>.<cluster>-nodes.<namespace>.svc`; Kubernetes names
        // hold no regex metacharacters but the dots
        let host_suffix =
            format!("{}.{namespace}.svc", names::headless_service(name)).replace('.', "\\.");
        let strip = |principal: &str| principal.trim_start_matches("User:").to_string();
        let principal_mapping_rules = format!(
            "RULE:^CN=[a-z0-9-]+\\.{host_suffix}$/{}/,RULE:^CN={}$/{}/",
            strip(&node),
            names::OPERATOR_COMMON_NAME,
            strip(operator),
        );
        let mut super_users = vec![node, operator.to_string()];
        super_users.extend(authorization.super_users.iter().cloned());
        InternalSecurity {
            principal_mapping_rules,
            super_users: super_users.join(";"),
        }
    }
}

/// A pool's node ids: `[start, start + replicas)`. No two pools may share one.
fn check_node_ids(pools: &[NodePool], errors: &mut Vec<SpecError>) {
    let ranges: Vec<(i64, i64)> = pools
        .iter()
        .map(|p| {
            let start = i64::from(p.node_id_start.unwrap_or(0));
            (start, start + i64::from(p.replicas))
        })
        .collect();
    for (i, a) in ranges.iter().enumerate() {
        for (j, b) in ranges.iter().enumerate().skip(i + 1) {
            if a.0 < b.1 && b.0 < a.1 {
                errors.push(SpecError {
                    field: format!("spec.nodePools[{j}].nodeIdStart"),
                    message: format!(
                        "node ids {}..{} of pool {} overlap node ids {}..{} of pool {}",
                        b.0,
                        b.1 - 1,
                        pools[j].name,
                        a.0,
                        a.1 - 1,
                        pools[i].name
                    ),
                });
            }
        }
    }
}

/// Each key of `spec.config`: known to the broker, not the operator's, and a valid value.
fn check_config(config: &BTreeMap<String, String>, errors: &mut Vec<SpecError>) {
    for (key, value) in config {
        let field = format!("spec.config[{key}]");
        if OPERATOR_OWNED_KEYS.contains(&key.as_str()) {
            errors.push(SpecError {
                field,
                message: format!("{key} is set by the operator from the spec"),
            });
            continue;
        }
        let def = match broker_config_def(key) {
            Some(def) => def,
            None => match listener_prefixed_def(key) {
                // a listener's security settings follow its spec (tls, authentication)
                Some((_, _, def))
                    if def.name.starts_with("ssl.") || def.name.starts_with("sasl.") =>
                {
                    errors.push(SpecError {
                        field,
                        message: format!(
                            "{key}: a listener's TLS and SASL settings are set by the operator \
                             from spec.listeners"
                        ),
                    });
                    continue;
                }
                Some((_, _, def)) => def,
                None => {
                    errors.push(SpecError {
                        field,
                        message: format!("Unknown configuration '{key}'"),
                    });
                    continue;
                }
            },
        };
        if let Err(message) = def.parse(value) {
            errors.push(SpecError { field, message });
        }
    }
}

/// Kafka's cluster id form (a UUID's 16 bytes, base64url without padding: 22 characters)
/// of the resource's uid: stable for the life of the resource, whatever happens to its
/// status, so a node formatting a fresh volume joins the same cluster.
pub fn cluster_id_from_uid(uid: &str) -> String {
    use base64::Engine as _;
    let hex: String = uid.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Every node's complete settings, in the order a properties file lists them.
fn resolve_nodes(
    name: &str,
    namespace: &str,
    cluster_id: &str,
    spec: &KafkaClusterSpec,
    listeners: &[ClientListener],
    oauth: Option<&OAuthSpec>,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (pool_index, pool) in spec.node_pools.iter().enumerate() {
        let start = pool.node_id_start.unwrap_or(0);
        for ordinal in 0..pool.replicas {
            let pod_name = names::pod_name(name, &pool.name, ordinal);
            let host = names::pod_host(name, namespace, &pod_name);
            nodes.push(Node {
                node_id: start + ordinal,
                pool: pool_index,
                ordinal,
                pod_name,
                host,
                settings: Vec::new(),
            });
        }
    }
    let voters: Vec<String> = nodes
        .iter()
        .filter(|n| {
            spec.node_pools[n.pool]
                .roles
                .contains(&NodeRole::Controller)
        })
        .map(|n| format!("{}@{}:{}", n.node_id, n.host, names::CONTROLLER_PORT))
        .collect();
    let voters = voters.join(",");
    let internal = spec
        .authorization
        .as_ref()
        .map(|a| InternalSecurity::new(name, namespace, a));
    for node in &mut nodes {
        let pool = &spec.node_pools[node.pool];
        node.settings = node_settings(
            node,
            pool,
            cluster_id,
            &voters,
            spec,
            listeners,
            oauth,
            internal.as_ref(),
        );
    }
    nodes
}

#[allow(clippy::too_many_arguments)]
fn node_settings(
    node: &Node,
    pool: &NodePool,
    cluster_id: &str,
    voters: &str,
    spec: &KafkaClusterSpec,
    listeners: &[ClientListener],
    oauth: Option<&OAuthSpec>,
    internal: Option<&InternalSecurity>,
) -> Vec<(String, String)> {
    let is_broker = pool.roles.contains(&NodeRole::Broker);
    let is_controller = pool.roles.contains(&NodeRole::Controller);
    let mut roles: Vec<&str> = pool.roles.iter().map(|r| r.as_config()).collect();
    roles.sort();
    let mut bind = Vec::new();
    let mut advertised = Vec::new();
    let internal_protocol = if internal.is_some() {
        "SSL"
    } else {
        "PLAINTEXT"
    };
    let mut protocols = vec![
        format!("{}:{internal_protocol}", names::CONTROLLER_LISTENER),
        format!("{}:{internal_protocol}", names::REPLICATION_LISTENER),
    ];
    if is_broker {
        bind.push(format!(
            "{}://0.0.0.0:{}",
            names::REPLICATION_LISTENER,
            names::REPLICATION_PORT
        ));
        advertised.push(format!(
            "{}://{}:{}",
            names::REPLICATION_LISTENER,
            node.host,
            names::REPLICATION_PORT
        ));
        for listener in listeners {
            bind.push(format!("{}://0.0.0.0:{}", listener.name, listener.port));
            advertised.push(format!(
                "{}://{}:{}",
                listener.name, node.host, listener.port
            ));
        }
    }
    for listener in listeners {
        protocols.push(format!("{}:{}", listener.name, listener.security_protocol));
    }
    if is_controller {
        bind.push(format!(
            "{}://0.0.0.0:{}",
            names::CONTROLLER_LISTENER,
            names::CONTROLLER_PORT
        ));
    }
    let mut settings = vec![
        ("node.id".to_string(), node.node_id.to_string()),
        ("process.roles".to_string(), roles.join(",")),
        ("cluster.id".to_string(), cluster_id.to_string()),
        ("controller.quorum.voters".to_string(), voters.to_string()),
        (
            "controller.listener.names".to_string(),
            names::CONTROLLER_LISTENER.to_string(),
        ),
        ("listeners".to_string(), bind.join(",")),
        (
            "listener.security.protocol.map".to_string(),
            protocols.join(","),
        ),
    ];
    if is_broker {
        settings.push(("advertised.listeners".to_string(), advertised.join(",")));
        settings.push((
            "inter.broker.listener.name".to_string(),
            names::REPLICATION_LISTENER.to_string(),
        ));
        for listener in listeners {
            if listener.tls {
                let prefix = format!("listener.name.{}", listener.name.to_ascii_lowercase());
                settings.push((format!("{prefix}.ssl.keystore.type"), "PEM".to_string()));
                settings.push((
                    format!("{prefix}.ssl.keystore.location"),
                    format!(
                        "{}/{}",
                        names::TLS_MOUNT,
                        names::keystore_file(&node.pod_name)
                    ),
                ));
                if listener.client_certificates {
                    settings.push((format!("{prefix}.ssl.client.auth"), "required".to_string()));
                    settings.push((format!("{prefix}.ssl.truststore.type"), "PEM".to_string()));
                    settings.push((
                        format!("{prefix}.ssl.truststore.location"),
                        format!("{}/{}", names::TLS_MOUNT, names::CLIENTS_CA_FILE),
                    ));
                }
            }
            if let Some(mechanism) = listener.sasl_mechanism {
                settings.push((
                    format!(
                        "listener.name.{}.sasl.enabled.mechanisms",
                        listener.name.to_ascii_lowercase()
                    ),
                    mechanism.to_string(),
                ));
            }
            if listener.sasl_mechanism == Some("OAUTHBEARER") {
                let prefix = format!(
                    "listener.name.{}.oauthbearer",
                    listener.name.to_ascii_lowercase()
                );
                settings.push((
                    format!("{prefix}.sasl.server.callback.handler.class"),
                    names::OAUTH_VALIDATOR_HANDLER.to_string(),
                ));
                // TLS to a JWKS endpoint takes its truststore from the JAAS options, as in Kafka
                let trust = match oauth.as_ref().map(|o| &o.jwks_endpoint_ca_config_map) {
                    Some(Some(_)) => format!(
                        " ssl.truststore.location=\"{}/{}\" ssl.truststore.type=\"PEM\"",
                        names::OAUTH_CA_MOUNT,
                        names::OAUTH_CA_FILE
                    ),
                    _ => String::new(),
                };
                settings.push((
                    format!("{prefix}.sasl.jaas.config"),
                    format!(
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required{trust};"
                    ),
                ));
            }
        }
        if let Some(oauth) = oauth {
            settings.push((
                "sasl.oauthbearer.jwks.endpoint.url".to_string(),
                match &oauth.jwks_endpoint_uri {
                    Some(uri) => uri.clone(),
                    None => format!("file://{}/{}", names::OAUTH_MOUNT, names::JWKS_FILE),
                },
            ));
            if let Some(issuer) = &oauth.issuer {
                settings.push((
                    "sasl.oauthbearer.expected.issuer".to_string(),
                    issuer.clone(),
                ));
            }
            if !oauth.audience.is_empty() {
                settings.push((
                    "sasl.oauthbearer.expected.audience".to_string(),
                    oauth.audience.join(","),
                ));
            }
            if let Some(claim) = &oauth.username_claim {
                settings.push(("sasl.oauthbearer.sub.claim.name".to_string(), claim.clone()));
            }
        }
    }
    if let Some(internal) = internal {
        if !is_broker {
            // a controller alone reaches the broker-only learners on their REPLICATION
            // listener, over TLS like every other node
            settings.push((
                "inter.broker.listener.name".to_string(),
                names::REPLICATION_LISTENER.to_string(),
            ));
        }
        // both sides of both listeners: the node serves with its certificate, requires
        // one of the cluster CA from its peers, and presents its own when it dials them
        for listener in [names::CONTROLLER_LISTENER, names::REPLICATION_LISTENER] {
            let prefix = format!("listener.name.{}", listener.to_ascii_lowercase());
            for (key, value) in [
                ("ssl.keystore.type", "PEM".to_string()),
                (
                    "ssl.keystore.location",
                    format!(
                        "{}/{}",
                        names::TLS_MOUNT,
                        names::keystore_file(&node.pod_name)
                    ),
                ),
                ("ssl.truststore.type", "PEM".to_string()),
                (
                    "ssl.truststore.location",
                    format!("{}/{}", names::TLS_MOUNT, names::CLUSTER_CA_FILE),
                ),
                ("ssl.client.auth", "required".to_string()),
                ("ssl.endpoint.identification.algorithm", "https".to_string()),
                (
                    "ssl.principal.mapping.rules",
                    internal.principal_mapping_rules.clone(),
                ),
            ] {
                settings.push((format!("{prefix}.{key}"), value));
            }
        }
        settings.push((
            "authorizer.class.name".to_string(),
            STANDARD_AUTHORIZER.to_string(),
        ));
        settings.push(("super.users".to_string(), internal.super_users.clone()));
    }
    settings.push(("log.dirs".to_string(), names::LOG_DIR.to_string()));
    settings.push((
        "admin.listener".to_string(),
        format!("http://0.0.0.0:{}", names::ADMIN_PORT),
    ));
    // a new cluster's first metadata version (read only by a node whose metadata log is
    // new; raising it later is an UpdateFeatures, not a restart)
    if let Some(release) = &spec.metadata_version {
        settings.push((BOOTSTRAP_RELEASE_VERSION.to_string(), release.clone()));
    }
    settings.extend(spec.config.iter().map(|(k, v)| (k.clone(), v.clone())));
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_support::cluster;

    fn errors_of(cluster: &KafkaCluster) -> Vec<String> {
        match validate(cluster) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_combined_three_node_cluster_resolves_every_node() {
        let valid = validate(&cluster()).expect("the test cluster is valid");
        assert_eq!(valid.nodes.len(), 3);
        let node = &valid.nodes[1];
        assert_eq!(node.node_id, 1);
        assert_eq!(node.pod_name, "demo-combined-1");
        assert_eq!(node.host, "demo-combined-1.demo-nodes.kafka.svc");
        let get = |key: &str| {
            node.settings
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("controller.quorum.voters"),
            Some(
                "0@demo-combined-0.demo-nodes.kafka.svc:9093,\
                 1@demo-combined-1.demo-nodes.kafka.svc:9093,\
                 2@demo-combined-2.demo-nodes.kafka.svc:9093"
            )
        );
        assert_eq!(get("process.roles"), Some("broker,controller"));
        assert_eq!(
            get("advertised.listeners"),
            Some(
                "REPLICATION://demo-combined-1.demo-nodes.kafka.svc:9091,\
                 PLAINTEXT://demo-combined-1.demo-nodes.kafka.svc:9092"
            )
        );
        assert_eq!(
            get("min.insync.replicas"),
            Some("2"),
            "the spec's config is kept"
        );
        assert_eq!(
            valid.bootstrap_servers(&valid.listeners[0]),
            "demo-combined-0.demo-nodes.kafka.svc:9092,demo-combined-1.demo-nodes.kafka.svc:9092,\
             demo-combined-2.demo-nodes.kafka.svc:9092"
        );
        // the broker loads every node's settings
        for node in &valid.nodes {
            BrokerConfig::from_pairs(node.settings.clone())
                .unwrap_or_else(|e| panic!("node {} does not load: {e}", node.node_id));
        }
    }

    #[test]
    fn a_metadata_version_is_a_known_one_and_bootstraps_a_new_cluster() {
        let mut c = cluster();
        c.spec.metadata_version = Some("3.9-IV0".to_string());
        let valid = validate(&c).expect("3.9-IV0 is known");
        assert_eq!(valid.metadata_version, Some(21));
        for node in &valid.nodes {
            assert_eq!(
                setting(node, BOOTSTRAP_RELEASE_VERSION),
                Some("3.9-IV0"),
                "node {} formats itself at the spec's version",
                node.node_id
            );
        }
        c.spec.metadata_version = Some("4.1".to_string());
        assert_eq!(validate(&c).expect("a release").metadata_version, Some(27));
        c.spec.metadata_version = Some("3.2-IV0".to_string());
        let errors = errors_of(&c);
        assert!(
            errors.len() == 1
                && errors[0].contains("spec.metadataVersion")
                && errors[0].contains("3.2-IV0 is not a metadata version")
                && errors[0].contains("4.1-IV1"),
            "{errors:?}"
        );
        c.spec.metadata_version = None;
        let valid = validate(&c).expect("unset");
        assert_eq!(valid.metadata_version, None);
        assert!(valid
            .nodes
            .iter()
            .all(|n| setting(n, BOOTSTRAP_RELEASE_VERSION).is_none()));
        c.spec
            .config
            .insert(BOOTSTRAP_RELEASE_VERSION.to_string(), "3.9".to_string());
        assert!(
            errors_of(&c)
                .iter()
                .any(|e| e.contains("set by the operator")),
            "the spec's config cannot set it"
        );
    }

    #[test]
    fn the_cluster_id_is_the_uid_in_kafkas_form() {
        let id = cluster_id_from_uid("6f1c2a4e-3b5d-4c7e-8f90-a1b2c3d4e5f6");
        assert_eq!(id.len(), 22, "a Kafka cluster id is 22 characters: {id}");
        assert_eq!(id, "bxwqTjtdTH6PkKGyw9Tl9g");
    }

    #[test]
    fn broker_config_is_checked_with_the_brokers_tables() {
        let mut c = cluster();
        c.spec
            .config
            .insert("log.retention.fortnights".into(), "1".into());
        c.spec.config.insert("num.io.threads".into(), "many".into());
        c.spec.config.insert("node.id".into(), "7".into());
        c.spec.config.insert(
            "listener.name.plaintext.ssl.keystore.location".into(),
            "/x".into(),
        );
        let errors = errors_of(&c);
        assert_eq!(errors.len(), 4, "one error per bad key: {errors:#?}");
        assert!(errors.contains(
            &"spec.config[log.retention.fortnights]: Unknown configuration 'log.retention.fortnights'".to_string()
        ), "{errors:#?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("spec.config[num.io.threads]: Invalid value many")),
            "{errors:#?}"
        );
        assert!(errors.contains(
            &"spec.config[node.id]: node.id is set by the operator from the spec".to_string()
        ));
        assert!(errors
            .iter()
            .any(|e| e.contains("listener.name.plaintext.ssl.keystore.location")));
    }

    #[test]
    fn the_brokers_cross_field_checks_apply_to_each_nodes_whole_config() {
        let mut c = cluster();
        // each value is valid alone; only the whole configuration is refused
        c.spec
            .config
            .insert("group.min.session.timeout.ms".into(), "60000".into());
        c.spec
            .config
            .insert("group.max.session.timeout.ms".into(), "6000".into());
        let errors = errors_of(&c);
        assert!(
            errors.iter().any(|e| e.contains("would not start")),
            "the broker's own check must refuse min > max session timeout: {errors:#?}"
        );
    }

    #[test]
    fn overlapping_node_id_ranges_are_refused() {
        let mut c = cluster();
        let mut second = c.spec.node_pools[0].clone();
        c.spec.node_pools[0].node_id_start = Some(0);
        second.name = "second".into();
        second.node_id_start = Some(2);
        c.spec.node_pools.push(second);
        let errors = errors_of(&c);
        assert_eq!(
            errors,
            vec!["spec.nodePools[1].nodeIdStart: node ids 2..4 of pool second overlap node ids 0..2 of pool combined".to_string()]
        );
        c.spec.node_pools[1].node_id_start = Some(100);
        assert_eq!(errors_of(&c), Vec::<String>::new());
        let valid = validate(&c).expect("disjoint ranges are valid");
        let ids: Vec<i32> = valid.nodes.iter().map(|n| n.node_id).collect();
        assert_eq!(ids, [0, 1, 2, 100, 101, 102]);
    }

    #[test]
    fn dedicated_controller_and_broker_pools_pass_the_brokers_own_rules() {
        // the broker runs controller-only and broker-only nodes (Kafka's split roles): the
        // pools' node configurations load with its own rules, controllers with only the
        // controller listener, brokers without it
        let mut c = cluster();
        let mut brokers = c.spec.node_pools[0].clone();
        c.spec.node_pools[0].roles = vec![NodeRole::Controller];
        c.spec.node_pools[0].node_id_start = Some(0);
        brokers.name = "brokers".into();
        brokers.roles = vec![NodeRole::Broker];
        brokers.node_id_start = Some(100);
        c.spec.node_pools.push(brokers);
        assert_eq!(errors_of(&c), Vec::<String>::new());
        let valid = validate(&c).expect("split pools are valid");
        let setting = |node: &Node, key: &str| {
            node.settings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        for node in &valid.nodes {
            let roles = setting(node, "process.roles");
            let listeners = setting(node, "listeners");
            if node.pool == 0 {
                assert_eq!(roles, "controller", "node {}", node.node_id);
                assert!(
                    listeners.split(',').all(|l| l.starts_with("CONTROLLER://")),
                    "controller {} has a client listener: {listeners}",
                    node.node_id
                );
            } else {
                assert_eq!(roles, "broker", "node {}", node.node_id);
                assert!(
                    !listeners.contains("CONTROLLER://"),
                    "broker {} binds the controller listener: {listeners}",
                    node.node_id
                );
            }
        }
    }

    #[test]
    fn features_not_implemented_yet_are_refused_not_half_built() {
        let mut c = cluster();
        c.spec.node_pools[0].rack_topology_key = Some("kubernetes.io/hostname".into());
        c.spec.listeners[0].tls = true;
        c.spec.listeners[0].type_ = ListenerType::Loadbalancer;
        let errors = errors_of(&c);
        for expected in [
            "spec.nodePools[0].rackTopologyKey",
            "spec.listeners[0].type",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "no error for {expected}: {errors:#?}"
            );
        }
        assert!(
            !errors
                .iter()
                .any(|e| e.starts_with("spec.listeners[0].tls")),
            "TLS listeners are implemented: {errors:#?}"
        );
    }

    fn oauth(issuer: &str) -> crate::crd::kafka_cluster::OAuthSpec {
        crate::crd::kafka_cluster::OAuthSpec {
            jwks_config_map: Some(crate::crd::kafka_cluster::ConfigMapKey {
                name: "idp-keys".into(),
                key: "jwks.json".into(),
            }),
            jwks_endpoint_uri: None,
            jwks_endpoint_ca_config_map: None,
            issuer: Some(issuer.into()),
            audience: vec!["kafka".into(), "ironlog".into()],
            username_claim: Some("preferred_username".into()),
        }
    }

    #[test]
    fn an_oauth_listener_validates_jwts_as_its_settings_say() {
        let mut c = cluster();
        c.spec.listeners[0].tls = true;
        c.spec.listeners[0].authentication.type_ = AuthenticationType::Oauth;
        c.spec.listeners[0].authentication.oauth = Some(oauth("https://idp.example"));
        let valid = validate(&c).expect("an oauth listener is valid");
        let node = &valid.nodes[0];
        for (key, value) in [
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,REPLICATION:PLAINTEXT,PLAINTEXT:SASL_SSL",
            ),
            (
                "listener.name.plaintext.sasl.enabled.mechanisms",
                "OAUTHBEARER",
            ),
            (
                "listener.name.plaintext.oauthbearer.sasl.server.callback.handler.class",
                names::OAUTH_VALIDATOR_HANDLER,
            ),
            (
                "sasl.oauthbearer.jwks.endpoint.url",
                "file:///etc/ironlog-oauth/jwks.json",
            ),
            ("sasl.oauthbearer.expected.issuer", "https://idp.example"),
            ("sasl.oauthbearer.expected.audience", "kafka,ironlog"),
            ("sasl.oauthbearer.sub.claim.name", "preferred_username"),
        ] {
            assert_eq!(setting(node, key), Some(value), "{key}");
        }
        for node in &valid.nodes {
            BrokerConfig::from_pairs(node.settings.clone())
                .unwrap_or_else(|e| panic!("node {} does not load: {e}", node.node_id));
        }

        // a JWKS endpoint instead of the ConfigMap, with its CA in the JAAS options
        let mut endpoint = oauth("https://idp.example");
        endpoint.jwks_config_map = None;
        endpoint.jwks_endpoint_uri = Some("https://idp.example/jwks".into());
        endpoint.jwks_endpoint_ca_config_map = Some(crate::crd::kafka_cluster::ConfigMapKey {
            name: "idp-ca".into(),
            key: "ca.pem".into(),
        });
        c.spec.listeners[0].authentication.oauth = Some(endpoint.clone());
        let valid = validate(&c).expect("an oauth listener with a JWKS endpoint is valid");
        let node = &valid.nodes[0];
        assert_eq!(
            setting(node, "sasl.oauthbearer.jwks.endpoint.url"),
            Some("https://idp.example/jwks")
        );
        assert_eq!(
            setting(node, "listener.name.plaintext.oauthbearer.sasl.jaas.config"),
            Some(
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 ssl.truststore.location=\"/etc/ironlog-oauth-ca/ca.crt\" ssl.truststore.type=\"PEM\";"
            )
        );
        BrokerConfig::from_pairs(node.settings.clone()).expect("the node's settings load");
        // both sources, neither, or a CA without an endpoint (stored before the schema's rules)
        let mut both = endpoint.clone();
        both.jwks_config_map = oauth("x").jwks_config_map;
        let mut neither = endpoint.clone();
        neither.jwks_endpoint_uri = None;
        neither.jwks_endpoint_ca_config_map = None;
        let mut ca_only = oauth("https://idp.example");
        ca_only.jwks_endpoint_ca_config_map = endpoint.jwks_endpoint_ca_config_map.clone();
        for (what, bad, says) in [
            ("both", both, "exactly one"),
            ("neither", neither, "exactly one"),
            ("a CA without an endpoint", ca_only, "needs it"),
        ] {
            c.spec.listeners[0].authentication.oauth = Some(bad);
            let errors = errors_of(&c);
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with("spec.listeners[0].authentication.oauth")
                        && e.contains(says)),
                "{what}: {errors:#?}"
            );
        }

        // without settings, or two oauth listeners that disagree: refused
        c.spec.listeners[0].authentication.oauth = None;
        assert!(errors_of(&c)
            .iter()
            .any(|e| e.starts_with("spec.listeners[0].authentication.oauth")));
        c.spec.listeners[0].authentication.oauth = Some(oauth("https://idp.example"));
        let mut second = c.spec.listeners[0].clone();
        second.name = "other".into();
        second.port = 9099;
        second.authentication.oauth = Some(oauth("https://another.example"));
        c.spec.listeners.push(second);
        let errors = errors_of(&c);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("spec.listeners[1].authentication.oauth")
                    && e.contains("same settings")),
            "{errors:#?}"
        );
    }

    fn setting<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
        node.settings
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn tls_listeners_get_the_nodes_keystore_and_mtls_trusts_the_clients_ca() {
        let mut c = cluster();
        c.spec.listeners[0].tls = true;
        let mut scram = c.spec.listeners[0].clone();
        scram.name = "scram".into();
        scram.port = 9094;
        scram.authentication.type_ = AuthenticationType::ScramSha512;
        let mut mtls = c.spec.listeners[0].clone();
        mtls.name = "mtls".into();
        mtls.port = 9095;
        mtls.authentication.type_ = AuthenticationType::Tls;
        c.spec.listeners.push(scram);
        c.spec.listeners.push(mtls);
        let valid = validate(&c).expect("TLS, SASL_SSL and mTLS listeners are valid");
        assert!(valid.needs_certificates());
        let node = &valid.nodes[2];
        assert_eq!(
            setting(node, "listener.security.protocol.map"),
            Some(
                "CONTROLLER:PLAINTEXT,REPLICATION:PLAINTEXT,PLAINTEXT:SSL,SCRAM:SASL_SSL,MTLS:SSL"
            )
        );
        for listener in ["plaintext", "scram", "mtls"] {
            assert_eq!(
                setting(node, &format!("listener.name.{listener}.ssl.keystore.type")),
                Some("PEM")
            );
            assert_eq!(
                setting(
                    node,
                    &format!("listener.name.{listener}.ssl.keystore.location")
                ),
                Some("/etc/ironlog-tls/demo-combined-2.keystore.pem"),
                "{listener} serves node 2's own certificate"
            );
        }
        assert_eq!(
            setting(node, "listener.name.mtls.ssl.client.auth"),
            Some("required")
        );
        assert_eq!(
            setting(node, "listener.name.mtls.ssl.truststore.location"),
            Some("/etc/ironlog-tls/clients-ca.crt")
        );
        assert_eq!(
            setting(node, "listener.name.plaintext.ssl.client.auth"),
            None
        );
        assert_eq!(
            setting(node, "listener.name.scram.sasl.enabled.mechanisms"),
            Some("SCRAM-SHA-512")
        );
        for node in &valid.nodes {
            BrokerConfig::from_pairs(node.settings.clone())
                .unwrap_or_else(|e| panic!("node {} does not load: {e}", node.node_id));
        }
    }

    #[test]
    fn a_scram_listener_enables_the_mechanism_on_that_listener() {
        let mut c = cluster();
        c.spec.listeners[0].authentication.type_ = AuthenticationType::ScramSha512;
        let valid = validate(&c).expect("a SCRAM listener is valid");
        let settings = &valid.nodes[0].settings;
        assert!(settings.contains(&(
            "listener.name.plaintext.sasl.enabled.mechanisms".into(),
            "SCRAM-SHA-512".into()
        )));
        assert!(settings
            .iter()
            .any(|(k, v)| k == "listener.security.protocol.map"
                && v.contains("PLAINTEXT:SASL_PLAINTEXT")));
    }

    fn authorized(super_users: &[&str]) -> KafkaCluster {
        let mut c = cluster();
        c.spec.listeners[0].authentication.type_ = AuthenticationType::ScramSha512;
        c.spec.authorization = Some(AuthorizationSpec {
            type_: crate::crd::kafka_cluster::AuthorizationType::Simple,
            super_users: super_users.iter().map(|s| s.to_string()).collect(),
        });
        c
    }

    #[test]
    fn authorization_secures_the_nodes_own_listeners_and_names_the_super_users() {
        let valid = validate(&authorized(&["User:admin"])).expect("authorization is valid");
        assert!(
            valid.needs_certificates(),
            "authorization needs the node certificates even without a TLS client listener"
        );
        let node = &valid.nodes[0];
        assert_eq!(
            setting(node, "listener.security.protocol.map"),
            Some("CONTROLLER:SSL,REPLICATION:SSL,PLAINTEXT:SASL_PLAINTEXT")
        );
        assert_eq!(
            setting(node, "authorizer.class.name"),
            Some(STANDARD_AUTHORIZER)
        );
        assert_eq!(
            setting(node, "super.users"),
            Some("User:CN=demo-nodes,O=ironlog.dev;User:CN=ironlog-operator,O=ironlog.dev;User:admin")
        );
        for listener in ["controller", "replication"] {
            let key = |k: &str| format!("listener.name.{listener}.{k}");
            assert_eq!(setting(node, &key("ssl.client.auth")), Some("required"));
            assert_eq!(
                setting(node, &key("ssl.truststore.location")),
                Some("/etc/ironlog-tls/cluster-ca.crt"),
                "{listener} trusts the cluster CA only, never the clients CA"
            );
            assert_eq!(
                setting(node, &key("ssl.keystore.location")),
                Some("/etc/ironlog-tls/demo-combined-0.keystore.pem")
            );
            assert_eq!(
                setting(node, &key("ssl.principal.mapping.rules")),
                Some(
                    "RULE:^CN=[a-z0-9-]+\\.demo-nodes\\.kafka\\.svc$/CN=demo-nodes,O=ironlog.dev/,\
                     RULE:^CN=ironlog-operator$/CN=ironlog-operator,O=ironlog.dev/"
                ),
                "the nodes and the operator get fixed principals; no other subject maps"
            );
        }
        // the client listener is left as the spec says
        assert_eq!(
            setting(node, "listener.name.plaintext.ssl.client.auth"),
            None
        );
    }

    #[test]
    fn a_dedicated_controller_dials_the_learners_replication_listener_over_tls() {
        let mut c = authorized(&[]);
        c.spec.node_pools[0].roles = vec![NodeRole::Broker];
        let mut controllers = c.spec.node_pools[0].clone();
        controllers.name = "controllers".into();
        controllers.roles = vec![NodeRole::Controller];
        controllers.node_id_start = Some(100);
        c.spec.node_pools.push(controllers);
        let valid = validate(&c).expect("dedicated controllers with authorization are valid");
        let controller = valid
            .nodes
            .iter()
            .find(|n| n.node_id == 100)
            .expect("node 100");
        assert_eq!(
            setting(controller, "inter.broker.listener.name"),
            Some("REPLICATION")
        );
        assert_eq!(
            setting(
                controller,
                "listener.name.replication.ssl.keystore.location"
            ),
            Some("/etc/ironlog-tls/demo-controllers-0.keystore.pem")
        );
    }

    #[test]
    fn authorization_without_an_authenticated_listener_is_refused() {
        let mut c = authorized(&[]);
        c.spec.listeners[0].authentication.type_ = AuthenticationType::None;
        c.spec.listeners[0].tls = true; // TLS alone does not say who a client is
        let errors = errors_of(&c);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("spec.authorization:") && e.contains("ANONYMOUS")),
            "{errors:#?}"
        );
    }

    #[test]
    fn a_super_user_that_is_no_principal_is_refused() {
        let errors = errors_of(&authorized(&["admin", "User:ok", "User:a;User:b"]));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("spec.authorization.superUsers[0]")),
            "{errors:#?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("spec.authorization.superUsers[2]")),
            "{errors:#?}"
        );
        assert!(
            !errors
                .iter()
                .any(|e| e.starts_with("spec.authorization.superUsers[1]")),
            "{errors:#?}"
        );
    }
}
