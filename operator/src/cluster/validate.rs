//! `validate`: a KafkaCluster's spec judged as the brokers will judge it — pure, no API
//! calls. The schema already refused what it can express; this checks what needs the
//! broker's config tables (`ironlog-config`: unknown keys, invalid values, the broker's own
//! cross-field checks on each node's complete configuration), the keys the operator sets
//! itself, node id ranges across pools, and features the operator does not implement yet.
//!
//! Every problem is collected (a user fixes them in one go), each naming the field.
//! A valid cluster comes out as [`ValidCluster`]: the spec with every node's settings
//! resolved, which `build` turns into objects.

use std::collections::BTreeMap;

use ironlog_config::defs::{broker_config_def, listener_prefixed_def};
use ironlog_config::BrokerConfig;

use crate::crd::kafka_cluster::{
    AuthenticationType, KafkaCluster, KafkaClusterSpec, ListenerType, NodePool, NodeRole,
};

use super::names;

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
    "authorizer.class.name",
    "super.users",
    "early.start.listeners",
];

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
    pub nodes: Vec<Node>,
}

impl ValidCluster {
    /// The nodes of pool `pool`, in ordinal order.
    pub fn pool_nodes(&self, pool: usize) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.pool == pool)
    }

    /// `host:port` of every broker node on listener `listener`.
    pub fn bootstrap_servers(&self, listener: &ClientListener) -> String {
        self.nodes
            .iter()
            .filter(|n| {
                self.spec.node_pools[n.pool]
                    .roles
                    .contains(&NodeRole::Broker)
            })
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
        if listener.tls {
            error(
                &mut errors,
                &format!("{field}.tls"),
                "TLS listeners (the operator's CA and broker certificates) are not implemented \
                 by the operator yet"
                    .to_string(),
            );
        }
        let (security_protocol, sasl_mechanism) = match listener.authentication.type_ {
            AuthenticationType::None => ("PLAINTEXT", None),
            AuthenticationType::ScramSha512 => ("SASL_PLAINTEXT", Some("SCRAM-SHA-512")),
            AuthenticationType::Tls => ("SSL", None),
            AuthenticationType::Oauth => {
                error(
                    &mut errors,
                    &format!("{field}.authentication.type"),
                    "oauth: the broker does not implement SASL OAUTHBEARER".to_string(),
                );
                ("SASL_PLAINTEXT", Some("OAUTHBEARER"))
            }
        };
        listeners.push(ClientListener {
            name: listener.name.to_ascii_uppercase(),
            port: listener.port,
            security_protocol,
            sasl_mechanism,
        });
    }
    if spec.authorization.is_some() {
        error(
            &mut errors,
            "spec.authorization",
            "ACL authorization needs authenticated replication and controller listeners \
             (mTLS with the operator's CA), which the operator does not provide yet"
                .to_string(),
        );
    }

    check_config(&spec.config, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }

    let cluster_id = cluster_id_from_uid(&uid);
    let nodes = resolve_nodes(&name, &namespace, &cluster_id, spec, &listeners);
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
        nodes,
    })
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
    for node in &mut nodes {
        let pool = &spec.node_pools[node.pool];
        node.settings = node_settings(node, pool, cluster_id, &voters, spec, listeners);
    }
    nodes
}

fn node_settings(
    node: &Node,
    pool: &NodePool,
    cluster_id: &str,
    voters: &str,
    spec: &KafkaClusterSpec,
    listeners: &[ClientListener],
) -> Vec<(String, String)> {
    let is_broker = pool.roles.contains(&NodeRole::Broker);
    let is_controller = pool.roles.contains(&NodeRole::Controller);
    let mut roles: Vec<&str> = pool.roles.iter().map(|r| r.as_config()).collect();
    roles.sort();
    let mut bind = Vec::new();
    let mut advertised = Vec::new();
    let mut protocols = vec![
        format!("{}:PLAINTEXT", names::CONTROLLER_LISTENER),
        format!("{}:PLAINTEXT", names::REPLICATION_LISTENER),
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
            if let Some(mechanism) = listener.sasl_mechanism {
                settings.push((
                    format!(
                        "listener.name.{}.sasl.enabled.mechanisms",
                        listener.name.to_ascii_lowercase()
                    ),
                    mechanism.to_string(),
                ));
            }
        }
    }
    settings.push(("log.dirs".to_string(), names::LOG_DIR.to_string()));
    settings.push((
        "admin.listener".to_string(),
        format!("http://0.0.0.0:{}", names::ADMIN_PORT),
    ));
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
        c.spec.listeners[0].authentication.type_ = AuthenticationType::Oauth;
        let errors = errors_of(&c);
        for expected in [
            "spec.nodePools[0].rackTopologyKey",
            "spec.listeners[0].tls",
            "spec.listeners[0].type",
            "spec.listeners[0].authentication.type",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "no error for {expected}: {errors:#?}"
            );
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
}
