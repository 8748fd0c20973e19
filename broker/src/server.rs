//! `server`: start-up, the accept loops, background maintenance and clean shutdown.
//!
//! Start-up order: bind the admin listener (`admin.listener`; live from here on, ready
//! once the broker serves clients unfenced) → check `meta.properties` in every log dir → open the logs (recovery) →
//! bind the controller listener (controller role only; a dynamic quorum's controller joins
//! under its bound address) → open the metadata quorum → serve the quorum's RPCs on the
//! controller listener → join the quorum (formatting a fresh one; bounded by
//! `initial.broker.registration.timeout.ms`) → write `meta.properties` → bind the client
//! listeners (port 0 → the bound port is advertised) → register this broker with the
//! active controller → apply the current metadata image to partitions → heartbeat until
//! unfenced → accept clients. A start that fails stops what it had started. A controller
//! alone binds no client listener and skips registration and unfencing; a broker alone
//! binds its client listeners before it opens the quorum and serves the leader's raft
//! replication on its inter-broker listener from then on, since it joins as a learner.
//! Shutdown: readiness off, controlled shutdown (leaderships move away while clients are still served,
//! until this broker's partitions applied the image that fenced it), then a watch signal
//! every connection task listens to; logs are flushed and
//! checkpointed, and the clean-shutdown marker written, before the process exits; the
//! admin listener stops last. A fatal
//! signal (another cluster's voters, a duplicate node id) stops the process with its
//! reason.

use crate::security::authorizer::Authorizer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::admin::AdminListener;
use crate::connection_quota::{Admission, ConnectionQuotas};
use crate::group::{GroupConfig, GroupCoordinator};
use crate::handlers::{fetch_session::FetchSessionCache, Broker};
use crate::inter_broker::InterBrokerClient;
use crate::lifecycle::BrokerLifecycle;
use crate::log::{
    capacity_for_limit, open_files_limit, CleanerConfig, FileCache, LogCleaner, LogConfig,
    LogError, LogManager,
};
use crate::metadata::quorum::{QuorumError, QuorumOptions};
use crate::metadata::{
    BrokerEndpoint, BrokerRegistrationRequest, ConfigResource, Controller, ControllerClient,
    ControllerDefaults, MetadataQuorum, QuorumConfig,
};
use crate::metadata::{ControllerNode, MetadataNode};
use crate::metrics::Metrics;
use crate::network::{ControllerEndpoint, Endpoint, LearnerEndpoint};
use crate::replica::ReplicaManager;
use crate::security::{ListenerSecurity, NodeConnectors};
use crate::txn::{ProducerIdManager, TransactionCoordinator, TxnConfig};
use crate::types::{kafka_uuid_string, now_ms};
use ironlog_config::{BrokerConfig, Listener};

/// Name of the metadata log directory inside the metadata log dir (as Kafka's KRaft).
pub(crate) const METADATA_DIR_NAME: &str = "__cluster_metadata-0";
pub(crate) const META_PROPERTIES: &str = "meta.properties";
/// The admin listener's name in the `ironlog: listener NAME bound to ADDR` lines.
const ADMIN_LISTENER_NAME: &str = "ADMIN";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("log dir {dir}: {reason}")]
    MetaProperties { dir: PathBuf, reason: String },
    #[error(transparent)]
    Storage(#[from] LogError),
    #[error("metadata quorum: {0}")]
    Quorum(String),
    #[error("cannot bind listener {name} on {address}: {source}")]
    Bind {
        name: String,
        address: String,
        source: std::io::Error,
    },
    #[error("registering this broker failed: {0}")]
    Registration(String),
    #[error("listener security: {0}")]
    Security(String),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A started broker: its shared state, bound addresses and background tasks.
pub struct RunningBroker {
    broker: Arc<Broker>,
    bound: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// One permit per open connection; shutdown waits until all are back.
    connections: Arc<Semaphore>,
    connections_max: u32,
    /// Log compaction threads (`log.cleaner.enable`).
    cleaner: Option<LogCleaner>,
    /// `None` on a controller alone (it never registers as a broker).
    lifecycle: Option<Arc<BrokerLifecycle>>,
    fatal: watch::Receiver<Option<String>>,
    /// The admin HTTP listener (`admin.listener`), stopped last.
    admin: Option<AdminListener>,
}

/// How long the background tasks together may take to stop at shutdown.
const TASKS_STOP_MS: u64 = 10_000;
/// How long a clean shutdown waits for in-flight requests to finish.
const SHUTDOWN_DRAIN_MS: u64 = 15_000;

/// The process's cache of open segment and index files, sized from the open-files limit
/// (`log.open.files.max` when set and the limit allows it).
fn log_file_cache(configured_max: u32) -> Arc<FileCache> {
    let limit = open_files_limit();
    let (capacity, lowered) = capacity_for_limit(limit, i64::from(configured_max));
    if lowered {
        tracing::warn!(
            configured = configured_max,
            open_files_limit = limit,
            capacity,
            "log.open.files.max leaves too few descriptors for sockets; lowered"
        );
    }
    tracing::info!(open_files_limit = limit, capacity, "open log file cache");
    FileCache::new(capacity)
}

/// Starts a broker: the admin listener, storage, the metadata quorum (opened, its
/// controller listener bound and served, then joined: formatted on a first start),
/// listeners, registration, the broker's components, unfencing, then the background tasks
/// and client accept loops (the order of the module header).
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, ServerError> {
    let admin = start_admin(&config).await?;
    match start_broker(config).await {
        Ok(mut running) => {
            if let Some(admin) = &admin {
                running
                    .bound
                    .push((ADMIN_LISTENER_NAME.to_owned(), admin.local));
                admin
                    .state
                    .set_serving(&running.broker, running.lifecycle.clone());
            }
            running.admin = admin;
            Ok(running)
        }
        Err(e) => {
            if let Some(admin) = admin {
                admin.stop().await;
            }
            Err(e)
        }
    }
}

/// Binds the admin listener first, so that liveness answers during log recovery and while
/// the node waits for the quorum.
async fn start_admin(config: &BrokerConfig) -> Result<Option<AdminListener>, ServerError> {
    let Some((host, port)) = &config.admin_listener else {
        return Ok(None);
    };
    AdminListener::start(host, *port)
        .await
        .map(Some)
        .map_err(|source| ServerError::Bind {
            name: ADMIN_LISTENER_NAME.to_owned(),
            address: format!("http://{host}:{port}"),
            source,
        })
}

/// Everything of [`start`] after the admin listener.
async fn start_broker(config: BrokerConfig) -> Result<RunningBroker, ServerError> {
    let metrics = Metrics::new()?;
    let meta_cluster_id = check_meta_properties(&config)?;
    let (logs, cleaner) = open_storage(&config).await?;
    // A broker-only node follows the metadata log as a raft learner: the leader replicates
    // to its inter-broker listener, which is therefore bound (and its address known) first.
    let mut early_listeners = None;
    let mut learner_address = None;
    if is_learner(&config) {
        let listeners = bind_listeners(&config).await?;
        learner_address = listeners
            .iter()
            .find(|l| l.name == config.inter_broker_listener_name)
            .map(|l| host_port(&l.advertised_host, l.advertised_port));
        early_listeners = Some(listeners);
    }
    // A controller binds its controller listener before it opens the quorum: a dynamic
    // quorum's controller names its bound address when it joins (and in its voter entry).
    let controller_listener = bind_controller_listener(&config).await?;
    if is_dynamic_controller(&config) {
        learner_address = controller_listener.as_ref().map(|l| {
            let host = match l.advertised_host.as_str() {
                "" | "0.0.0.0" | "::" => "localhost",
                host => host,
            };
            host_port(host, l.advertised_port)
        });
    }
    let directory_id = metadata_directory_id(&config);
    let quorum = open_quorum(
        &config,
        meta_cluster_id.clone(),
        learner_address,
        directory_id,
    )
    .await?;
    let controller = build_controller(&config, &quorum);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let connections_max = config.max_connections.clamp(1, 1 << 20);
    let connections = Arc::new(Semaphore::new(connections_max as usize));
    let (fatal, _) = watch::channel(None);
    let mut running = Starting {
        shutdown,
        tasks: Vec::new(),
        bound: Vec::new(),
        quorum: Arc::clone(&quorum),
        learner: None,
        connection_quotas: Arc::new(ConnectionQuotas::new(
            &config,
            quorum.subscribe(),
            Arc::clone(&metrics),
        )),
    };
    let endpoint = Arc::new(ControllerEndpoint::new(
        Arc::clone(&quorum),
        Arc::clone(&controller),
        config.clone(),
        Arc::clone(&metrics),
        Arc::new(Authorizer::from_config(&config)),
    ));
    match async {
        if let Some(BoundListener {
            name,
            listener: Some(tcp),
            security,
            local,
            ..
        }) = controller_listener
        {
            running.bound.push((name, local));
            running.tasks.push(tokio::spawn(accept_loop(
                security,
                tcp,
                Endpoint::Controller(Arc::clone(&endpoint)),
                Arc::clone(&connections),
                Arc::clone(&running.connection_quotas),
                shutdown_rx.clone(),
            )));
        }
        let listeners = match early_listeners {
            Some(mut listeners) => {
                let learner = Arc::new(LearnerEndpoint::new(
                    Arc::clone(&quorum),
                    Arc::clone(&metrics),
                    config.clone(),
                ));
                if let Some(l) = listeners
                    .iter_mut()
                    .find(|l| l.name == config.inter_broker_listener_name)
                {
                    if let Some(listener) = l.listener.take() {
                        running.bound.push((l.name.clone(), l.local));
                        running.tasks.push(tokio::spawn(accept_loop(
                            Arc::clone(&l.security),
                            listener,
                            Endpoint::Learner(Arc::clone(&learner)),
                            Arc::clone(&connections),
                            Arc::clone(&running.connection_quotas),
                            shutdown_rx.clone(),
                        )));
                    }
                }
                running.learner = Some(learner);
                join_quorum(&config, &quorum, meta_cluster_id, directory_id).await?;
                listeners
            }
            None => {
                join_quorum(&config, &quorum, meta_cluster_id, directory_id).await?;
                bind_listeners(&config).await?
            }
        };
        let controller_client = Arc::new(ControllerClient::new(
            config.node_id,
            Arc::clone(&quorum),
            Arc::clone(&controller),
            Duration::from_millis(config.request_timeout_ms.max(1000) as u64),
            Duration::from_millis((config.broker_session_timeout_ms / 2).max(100) as u64),
            Duration::from_millis(config.initial_broker_registration_timeout_ms.max(1000) as u64),
        ));
        // A controller alone never registers: it hosts no partitions and no coordinators,
        // and Metadata never lists it.
        let lifecycle = if config.process_role_broker {
            Some(
                register_broker(
                    &config,
                    &controller_client,
                    &quorum,
                    &listeners,
                    fatal.clone(),
                )
                .await?,
            )
        } else {
            None
        };
        let broker =
            build_broker(config, logs, quorum, controller, controller_client, metrics).await?;
        endpoint.set_broker(Arc::clone(&broker));
        if let Some(lifecycle) = &lifecycle {
            running
                .tasks
                .push(lifecycle.spawn_heartbeats(shutdown_rx.clone()));
            lifecycle
                .wait_unfenced(
                    broker
                        .config
                        .initial_broker_registration_timeout_ms
                        .max(1000) as u64,
                )
                .await
                .map_err(|e| ServerError::Registration(e.to_string()))?;
        }
        Ok::<_, ServerError>((broker, listeners, lifecycle))
    }
    .await
    {
        Ok((broker, listeners, lifecycle)) => Ok(spawn_tasks(
            broker,
            listeners,
            cleaner,
            running,
            connections,
            connections_max,
            lifecycle,
            fatal,
        )),
        Err(e) => {
            running.abort().await;
            Err(e)
        }
    }
}

/// What a start has running before it succeeded (stopped again if it fails).
struct Starting {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    bound: Vec<(String, SocketAddr)>,
    quorum: Arc<MetadataQuorum>,
    /// A broker-only node's inter-broker listener, served (raft only) since before the join.
    learner: Option<Arc<LearnerEndpoint>>,
    /// The connection creation rate limits every accept loop applies.
    connection_quotas: Arc<ConnectionQuotas>,
}

/// Whether this node follows the metadata log as a raft learner: a broker alone in a
/// cluster of controllers (a broker without voters is its own one-voter quorum).
fn is_learner(config: &BrokerConfig) -> bool {
    let has_quorum = !config.controller_quorum_voters.is_empty()
        || !config.controller_quorum_bootstrap_servers.is_empty();
    !config.process_role_controller && has_quorum
}

/// Whether this node is a controller of a dynamic quorum (KIP-853): its voters are the
/// membership in the metadata log, found through `controller.quorum.bootstrap.servers`.
fn is_dynamic_controller(config: &BrokerConfig) -> bool {
    config.process_role_controller
        && config.controller_quorum_voters.is_empty()
        && !config.controller_quorum_bootstrap_servers.is_empty()
}

/// `host:port`, with an IPv6 host in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Starting {
    async fn abort(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if let Err(e) = self.quorum.shutdown().await {
            tracing::warn!(error = %e, "stopping the metadata quorum after a failed start");
        }
    }
}

/// Opens every log (recovering after an unclean shutdown) and starts the log cleaner.
async fn open_storage(
    config: &BrokerConfig,
) -> Result<(Arc<LogManager>, Option<LogCleaner>), ServerError> {
    let dirs = config.log_dirs.clone();
    let default_log_config = LogConfig::broker_default(config);
    let files = log_file_cache(config.log_open_files_max);
    let logs = tokio::task::spawn_blocking(move || {
        let fallback = default_log_config.clone();
        LogManager::startup(dirs, default_log_config, move |_| fallback.clone(), files)
    })
    .await
    .map_err(|e| ServerError::Quorum(format!("log start-up task failed: {e}")))??;
    let logs = Arc::new(logs);
    let cleaner = if config.log_cleaner_enable && config.log_cleaner_threads > 0 {
        Some(LogCleaner::start(
            Arc::clone(&logs),
            CleanerConfig {
                threads: config.log_cleaner_threads as usize,
                dedupe_buffer_bytes: config.log_cleaner_dedupe_buffer_size.max(0) as u64,
                io_buffer_bytes: config.log_cleaner_io_buffer_size.max(0) as u64,
                backoff_ms: config.log_cleaner_backoff_ms.max(0) as u64,
            },
        )?)
    } else {
        None
    };
    Ok((logs, cleaner))
}

/// `metadata.log.dir`, else the first of `log.dirs`: where `__cluster_metadata-0` and the
/// format command's bootstrap records are.
pub(crate) fn metadata_log_dir(config: &BrokerConfig) -> PathBuf {
    config
        .metadata_log_dir
        .clone()
        .unwrap_or_else(|| config.log_dirs[0].clone())
}

/// Opens the metadata quorum (replaying its log) with the configured voters, and the
/// format command's bootstrap records for a fresh log.
async fn open_quorum(
    config: &BrokerConfig,
    meta_cluster_id: Option<String>,
    learner_address: Option<String>,
    directory_id: uuid::Uuid,
) -> Result<Arc<MetadataQuorum>, ServerError> {
    let metadata_log_dir = metadata_log_dir(config);
    let bootstrap = crate::metadata::bootstrap::read_bootstrap(&metadata_log_dir)
        .map_err(|e| ServerError::Quorum(e.to_string()))?;
    // A broker that formats itself on its first start runs at `bootstrap.release.version`
    // (else the latest levels); read only when the metadata log is new.
    let bootstrap_records = crate::metadata::features::with_default_levels(
        bootstrap.records,
        config
            .bootstrap_metadata_version
            .unwrap_or(crate::metadata::features::METADATA_VERSION_LATEST),
    );
    let metadata_dir = metadata_log_dir.join(METADATA_DIR_NAME);
    let voters: BTreeMap<i32, String> = config
        .controller_quorum_voters
        .iter()
        .map(|v| (v.node_id, host_port(&v.host, v.port)))
        .collect();
    let bootstrap_servers: Vec<String> = config
        .controller_quorum_bootstrap_servers
        .iter()
        .map(|(host, port)| host_port(host, *port))
        .collect();
    let dynamic_controller = is_dynamic_controller(config);
    let controller = dynamic_controller.then(|| ControllerNode {
        listener: config.controller_listener_name(),
        directory_id,
    });
    // A controller whose only bootstrap server is itself has no quorum to join: on a
    // fresh log it is the first voter, as if formatted --standalone (Kafka's shipped
    // server.properties is such a node).
    let standalone = dynamic_controller
        && (bootstrap.standalone
            || (bootstrap.initial_controllers.is_empty()
                && bootstrap_servers.len() == 1
                && learner_address.as_deref() == bootstrap_servers.first().map(String::as_str)));
    // `format --initial-controllers`: a fresh log starts with those voters
    let initial_voters: BTreeMap<i32, MetadataNode> = if dynamic_controller {
        let listener = config.controller_listener_name();
        bootstrap
            .initial_controllers
            .iter()
            .map(|c| {
                let node = MetadataNode {
                    addr: c.addr.clone(),
                    controller: Some(ControllerNode {
                        listener: listener.clone(),
                        directory_id: c.directory_id,
                    }),
                };
                (c.node_id, node)
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut options = QuorumOptions::default();
    if voters.len() > 1 || !bootstrap_servers.is_empty() {
        // Over the network, Kafka's quorum timeouts rather than a lone voter's: a follower
        // that hears nothing from the leader for `controller.quorum.fetch.timeout.ms`
        // stands for election after a random extra of up to
        // `controller.quorum.election.timeout.ms`. The leader heartbeats four times in a
        // fetch timeout; openraft gives every AppendEntries the heartbeat interval to
        // live, so that interval is also a request's bound (at most
        // `controller.quorum.request.timeout.ms`): long enough for a loaded peer.
        options.set_network_timing(
            config.controller_quorum_fetch_timeout_ms,
            config.controller_quorum_election_timeout_ms,
            config.controller_quorum_request_timeout_ms,
        );
    }
    options.start_timeout_ms = config.initial_broker_registration_timeout_ms.max(1000) as u64;
    let quorum = MetadataQuorum::open(
        QuorumConfig {
            node_id: config.node_id,
            metadata_dir,
            cluster_id: meta_cluster_id.or_else(|| config.cluster_id.clone()),
            voters,
            learner_address,
            bootstrap_servers,
            controller,
            standalone,
            initial_voters,
            connectors: NodeConnectors::from_config(config)
                .map_err(|e| ServerError::Security(e.to_string()))?,
            bootstrap_records,
        },
        options,
    )
    .await
    .map_err(|e| ServerError::Quorum(e.to_string()))?;
    Ok(Arc::new(quorum))
}

/// Joins the quorum (formatting on a first start) and checks that `meta.properties` and
/// the metadata log name the same cluster, then writes `meta.properties` where missing.
async fn join_quorum(
    config: &BrokerConfig,
    quorum: &MetadataQuorum,
    meta_cluster_id: Option<String>,
    directory_id: uuid::Uuid,
) -> Result<(), ServerError> {
    let timeout_ms = config.initial_broker_registration_timeout_ms.max(1000) as u64;
    quorum.join(timeout_ms).await.map_err(|e| match e {
        QuorumError::InconsistentClusterId { configured, stored } => ServerError::MetaProperties {
            dir: config.log_dirs[0].clone(),
            reason: format!(
                "the data directory belongs to cluster {configured} but the metadata quorum has cluster id {stored} (INCONSISTENT_CLUSTER_ID)"
            ),
        },
        other => ServerError::Quorum(other.to_string()),
    })?;
    let cluster_id = quorum.image().cluster_id.clone();
    if let Some(meta) = &meta_cluster_id {
        if *meta != cluster_id {
            return Err(ServerError::MetaProperties {
                dir: config.log_dirs[0].clone(),
                reason: format!(
                    "meta.properties has cluster.id {meta} but the metadata log has {cluster_id}"
                ),
            });
        }
    }
    write_meta_properties(config, &cluster_id, directory_id)?;
    Ok(())
}

/// The controller, with the config crate's rules for the values it stores.
fn build_controller(config: &BrokerConfig, quorum: &Arc<MetadataQuorum>) -> Arc<Controller> {
    let controller = Controller::new(
        Arc::clone(quorum),
        ControllerDefaults {
            num_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor,
            node_id: config.node_id,
            broker_session_timeout_ms: config.broker_session_timeout_ms.max(100) as u64,
            unclean_leader_election_enable: config.unclean_leader_election_enable,
            min_insync_replicas: config.min_insync_replicas,
            auto_leader_rebalance_enable: config.auto_leader_rebalance_enable,
            leader_imbalance_per_broker_percentage: config.leader_imbalance_per_broker_percentage,
        },
    )
    .with_config_validators(
        Arc::new(|name: &str, value: &str| ironlog_config::validate_topic_config(name, value)),
        // The handler checks a whole broker change first, level included, as Kafka's
        // broker does (ironlog_config::check_broker_config_change); this is the
        // controller's last check of each value (APPEND/SUBTRACT results included).
        Arc::new(|name: &str, value: &str| {
            ironlog_config::validate_broker_dynamic_config(name, value, true)
        }),
    )
    .with_list_config_predicate(Arc::new(|name: &str| ironlog_config::is_list_config(name)))
    .with_config_defaults(Arc::new(|resource: &ConfigResource, name: &str| {
        ironlog_config::default_value(matches!(resource, ConfigResource::Topic(_)), name)
            .map(str::to_owned)
    }));
    Arc::new(controller)
}

/// A bound listener and what this broker advertises for it.
struct BoundListener {
    name: String,
    /// `None` once its accept loop runs (a learner's inter-broker listener, early).
    listener: Option<TcpListener>,
    /// The listener's security protocol and what it needs (TLS acceptor, SASL settings).
    security: Arc<ListenerSecurity>,
    local: SocketAddr,
    advertised_host: String,
    advertised_port: u16,
}

async fn bind_one(l: &Listener) -> Result<(TcpListener, SocketAddr), ServerError> {
    let bind_host = if l.host.is_empty() {
        "0.0.0.0"
    } else {
        l.host.as_str()
    };
    let address = if bind_host.contains(':') {
        format!("[{bind_host}]:{}", l.port)
    } else {
        format!("{bind_host}:{}", l.port)
    };
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|source| ServerError::Bind {
            name: l.name.clone(),
            address: address.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        name: l.name.clone(),
        address,
        source,
    })?;
    Ok((listener, local))
}

/// The controller listener (the first of `controller.listener.names`), bound only on a
/// node with the controller role; never advertised to clients.
async fn bind_controller_listener(
    config: &BrokerConfig,
) -> Result<Option<BoundListener>, ServerError> {
    let Some(l) = config
        .controller_listeners
        .first()
        .filter(|_| config.process_role_controller)
    else {
        return Ok(None);
    };
    let security = Arc::new(
        ListenerSecurity::new(config, l)
            .await
            .map_err(|e| ServerError::Security(e.to_string()))?,
    );
    let (listener, local) = bind_one(l).await?;
    Ok(Some(BoundListener {
        name: l.name.clone(),
        listener: Some(listener),
        security,
        local,
        advertised_host: l.host.clone(),
        advertised_port: local.port(),
    }))
}

/// Binds every client listener; a port-0 listener advertises the port it was given.
async fn bind_listeners(config: &BrokerConfig) -> Result<Vec<BoundListener>, ServerError> {
    let mut bound = Vec::with_capacity(config.listeners.len());
    for l in &config.listeners {
        let security = Arc::new(
            ListenerSecurity::new(config, l)
                .await
                .map_err(|e| ServerError::Security(e.to_string()))?,
        );
        let (listener, local) = bind_one(l).await?;
        let adv = config
            .advertised_listeners
            .iter()
            .find(|a| a.name == l.name);
        let advertised_host = match adv {
            Some(a) if !a.host.is_empty() => a.host.clone(),
            _ if !l.host.is_empty() && l.host != "0.0.0.0" => l.host.clone(),
            _ => "localhost".to_owned(),
        };
        let advertised_port = match adv {
            Some(a) if a.port != 0 => a.port,
            _ => local.port(),
        };
        bound.push(BoundListener {
            name: l.name.clone(),
            listener: Some(listener),
            security,
            local,
            advertised_host,
            advertised_port,
        });
    }
    Ok(bound)
}

/// Registers this broker with its advertised endpoints (a fresh incarnation id).
async fn register_broker(
    config: &BrokerConfig,
    client: &Arc<ControllerClient>,
    quorum: &Arc<MetadataQuorum>,
    listeners: &[BoundListener],
    fatal: watch::Sender<Option<String>>,
) -> Result<Arc<BrokerLifecycle>, ServerError> {
    let registration = BrokerRegistrationRequest {
        broker_id: config.node_id,
        incarnation_id: uuid::Uuid::new_v4(),
        listeners: listeners
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.clone(),
                host: l.advertised_host.clone(),
                port: l.advertised_port,
                security_protocol: config
                    .listeners
                    .iter()
                    .find(|c| c.name == l.name)
                    .map_or("PLAINTEXT", |c| c.security_protocol.name())
                    .to_owned(),
            })
            .collect(),
        rack: config.rack.clone(),
        features: Some(crate::metadata::features::supported()),
    };
    let lifecycle = Arc::new(BrokerLifecycle::new(
        Arc::clone(client),
        Arc::clone(quorum),
        registration,
        config.broker_heartbeat_interval_ms.max(10) as u64,
        config.broker_session_timeout_ms.max(100) as u64,
        config.initial_broker_registration_timeout_ms.max(1000) as u64,
        fatal,
    ));
    lifecycle
        .register()
        .await
        .map_err(|e| ServerError::Registration(e.to_string()))?;
    Ok(lifecycle)
}

/// The replica manager (the current image applied to the logs), the coordinators and the
/// context handlers receive.
async fn build_broker(
    config: BrokerConfig,
    logs: Arc<LogManager>,
    quorum: Arc<MetadataQuorum>,
    controller: Arc<Controller>,
    controller_client: Arc<ControllerClient>,
    metrics: Arc<Metrics>,
) -> Result<Arc<Broker>, ServerError> {
    let node_id = config.node_id;
    let replicas = Arc::new(ReplicaManager::new(
        node_id,
        config.clone(),
        logs,
        quorum.subscribe(),
        Some(Arc::clone(&controller_client)),
        Arc::clone(&quorum.connectors().inter_broker),
    ));
    replicas.apply_image(quorum.image()).await?;
    let groups = GroupCoordinator::new(
        node_id,
        GroupConfig::from_broker_config(&config),
        Arc::clone(&replicas),
        Arc::clone(&controller_client),
        Arc::clone(&quorum),
    );
    let producer_ids = Arc::new(ProducerIdManager::new());
    let inter_broker = Arc::new(InterBrokerClient::new(
        node_id,
        config.inter_broker_listener_name.clone(),
        Arc::clone(&quorum),
        Duration::from_millis(config.request_timeout_ms.clamp(1_000, 300_000) as u64),
    ));
    let txn = TransactionCoordinator::new(
        node_id,
        TxnConfig::from_broker_config(&config),
        Arc::clone(&replicas),
        Arc::clone(&controller_client),
        Arc::clone(&quorum),
        Arc::clone(&groups),
        Arc::clone(&producer_ids),
        Arc::clone(&inter_broker),
    );
    let quota_int = |name: &str, default: i32| match config.value(name) {
        Some(ironlog_config::ConfigValue::Int(v)) => v,
        _ => default,
    };
    let client_quotas = crate::client_quota::ClientQuotaManagers::new(
        quota_int("quota.window.num", 11).max(1) as usize,
        i64::from(quota_int("quota.window.size.seconds", 1).max(1)) * 1000,
    );
    Ok(Arc::new(Broker {
        metrics,
        client_quotas,
        authorizer: Arc::new(Authorizer::from_config(&config)),
        fetch_sessions: FetchSessionCache::new(
            config.max_incremental_fetch_session_cache_slots as usize,
        ),
        producer_ids,
        txn,
        config,
        node_id,
        quorum,
        controller,
        controller_client,
        replicas,
        groups,
    }))
}

/// Spawns the background tasks (image application, the coordinators, maintenance, the
/// controller's session expiry) and one accept loop per client listener.
#[allow(clippy::too_many_arguments)]
fn spawn_tasks(
    broker: Arc<Broker>,
    listeners: Vec<BoundListener>,
    cleaner: Option<LogCleaner>,
    starting: Starting,
    connections: Arc<Semaphore>,
    connections_max: u32,
    lifecycle: Option<Arc<BrokerLifecycle>>,
    fatal: watch::Sender<Option<String>>,
) -> RunningBroker {
    let Starting {
        shutdown,
        mut tasks,
        mut bound,
        quorum: _,
        learner,
        connection_quotas,
    } = starting;
    if let Some(learner) = learner {
        learner.set_broker(Arc::clone(&broker));
    }
    let shutdown_rx = shutdown.subscribe();
    tasks.extend([
        tokio::spawn(apply_images(
            Arc::clone(&broker.replicas),
            broker.quorum.subscribe(),
            shutdown_rx.clone(),
        )),
        broker.groups.start(shutdown_rx.clone()),
        broker.txn.start(shutdown_rx.clone()),
        tokio::spawn(maintenance(Arc::clone(&broker), shutdown_rx.clone())),
        tokio::spawn(Arc::clone(&broker.metrics).follow_images(
            Arc::clone(&broker.replicas),
            broker.quorum.subscribe(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(expire_broker_sessions(
            Arc::clone(&broker.controller),
            broker.config.broker_session_timeout_ms.max(100) as u64,
            shutdown_rx.clone(),
        )),
        tokio::spawn(balance_leaders(
            Arc::clone(&broker.controller),
            Duration::from_secs(
                broker
                    .config
                    .leader_imbalance_check_interval_seconds
                    .clamp(1, 86_400) as u64,
            ),
            shutdown_rx.clone(),
        )),
        broker.replicas.start_isr_expiration(shutdown_rx.clone()),
        tokio::spawn(forward_fatal(
            broker.quorum.fatal_signal(),
            fatal.clone(),
            shutdown_rx.clone(),
        )),
    ]);
    for l in listeners {
        // (a learner's inter-broker listener has been served since before the join)
        let Some(listener) = l.listener else {
            continue;
        };
        bound.push((l.name.clone(), l.local));
        tasks.push(tokio::spawn(accept_loop(
            l.security,
            listener,
            Endpoint::Broker(Arc::clone(&broker)),
            Arc::clone(&connections),
            Arc::clone(&connection_quotas),
            shutdown_rx.clone(),
        )));
    }
    RunningBroker {
        broker,
        bound,
        shutdown,
        tasks,
        connections,
        connections_max,
        cleaner,
        lifecycle,
        fatal: fatal.subscribe(),
        admin: None,
    }
}

/// On the active controller, fences brokers whose session expired (checked four times a
/// session timeout, at most once a second), then elects leaders uncleanly for leaderless
/// partitions whose topic allows it (Kafka checks those every internal
/// `unclean.leader.election.interval.ms`, five minutes; here a topic that starts allowing
/// it gets its leader within a second).
async fn expire_broker_sessions(
    controller: Arc<Controller>,
    session_timeout_ms: u64,
    shutdown: watch::Receiver<bool>,
) {
    let tick = tokio::time::interval(Duration::from_millis(
        (session_timeout_ms / 4).clamp(50, 1000),
    ));
    let controller = &controller;
    on_every_tick(tick, shutdown, move || async move {
        if let Err(e) = controller.expire_sessions().await {
            tracing::debug!(error = %e, "broker session expiry");
        }
        if let Err(e) = controller.elect_unclean_leaders().await {
            tracing::debug!(error = %e, "unclean leader election");
        }
    })
    .await
}

/// On the active controller, every `leader.imbalance.check.interval.seconds`: preferred
/// elections for imbalanced brokers (`Controller::balance_leaders`, with
/// `auto.leader.rebalance.enable`).
async fn balance_leaders(
    controller: Arc<Controller>,
    interval: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let controller = &controller;
    on_every_tick(tick, shutdown, move || async move {
        if let Err(e) = controller.balance_leaders().await {
            tracing::debug!(error = %e, "preferred leader election");
        }
    })
    .await
}

/// Runs `work` at each of `tick`'s ticks (a late tick delays the next ones) until shutdown,
/// which also cuts a run short: without a quorum the active controller's proposals wait for
/// their timeout, and shutdown does not wait for them.
async fn on_every_tick<W: std::future::Future<Output = ()>>(
    mut tick: tokio::time::Interval,
    mut shutdown: watch::Receiver<bool>,
    mut work: impl FnMut() -> W,
) {
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            () = work() => {}
        }
    }
}

/// Passes the quorum's fatal signal (another cluster's voters) on to the process's.
async fn forward_fatal(
    mut quorum_fatal: watch::Receiver<Option<String>>,
    fatal: watch::Sender<Option<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Some(message) = quorum_fatal.borrow_and_update().clone() {
            fatal.send_replace(Some(message));
            return;
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = quorum_fatal.changed() => if changed.is_err() { return },
        }
    }
}

impl RunningBroker {
    /// This broker's `node.id`.
    pub fn node_id(&self) -> i32 {
        self.broker.node_id
    }

    /// Each listener's name and the address it is bound to (port 0 resolved).
    pub fn bound(&self) -> &[(String, SocketAddr)] {
        &self.bound
    }

    /// Resolves with the reason when this node must stop on its own: its data belongs to
    /// another cluster than the quorum's, or another live process has its `node.id`.
    pub async fn fatal_error(&mut self) -> String {
        loop {
            if let Some(message) = self.fatal.borrow_and_update().clone() {
                return message;
            }
            if self.fatal.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits (at most `timeout`) until this broker's partitions have applied a metadata
    /// image in which the controller fenced it: the one that moved its leaderships away. As
    /// Kafka lets a broker stop only once it caught up to its controlled shutdown's
    /// records: until then its partitions still take themselves for leaders, and an acks=all
    /// produce appended there would wait on followers that stop fetching from it.
    async fn await_own_fencing_applied(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let id = self.broker.node_id;
        let mut images = self.broker.quorum.subscribe();
        let fenced = tokio::time::timeout_at(
            deadline,
            images.wait_for(|image| image.brokers.get(&id).is_some_and(|b| b.fenced)),
        )
        .await;
        let offset = match fenced {
            Ok(Ok(image)) => image.offset,
            _ => return false,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.broker.replicas.await_applied(offset, left).await;
        let applied = self.broker.replicas.applied_offset() >= offset;
        if applied {
            tracing::info!(
                offset,
                "controlled shutdown: this broker's partitions applied the image that fenced it"
            );
        }
        applied
    }

    /// Kafka's controlled shutdown first (this broker's leaderships move to other ISR
    /// members while clients are still served, bounded by `broker.session.timeout.ms`),
    /// then: stops accepting, closes connections, flushes and checkpoints every log and
    /// writes the clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        if let Some(admin) = &self.admin {
            admin.state.set_stopping();
        }
        self.broker.quorum.stop_campaigning();
        let timeout =
            Duration::from_millis(self.broker.config.broker_session_timeout_ms.max(1000) as u64);
        if let (true, Some(lifecycle)) = (self.fatal.borrow().is_none(), &self.lifecycle) {
            if !lifecycle.controlled_shutdown(timeout).await {
                tracing::warn!("controlled shutdown did not complete in time; stopping anyway");
            } else if !self.await_own_fencing_applied(timeout).await {
                tracing::warn!(
                    "the controlled shutdown's leadership moves did not reach this broker's partitions in time; stopping anyway"
                );
            }
        }
        let _ = self.shutdown.send(true);
        // One deadline for all of them (not one each): a task that misses it is aborted.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(TASKS_STOP_MS);
        let mut aborted = 0usize;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                aborted += 1;
            }
        }
        if aborted > 0 {
            tracing::warn!(
                aborted,
                timeout_ms = TASKS_STOP_MS,
                "background tasks did not stop in time; aborted"
            );
        }
        tracing::info!("shutdown: background tasks stopped");
        if let Some(cleaner) = self.cleaner {
            tokio::task::spawn_blocking(move || cleaner.shutdown())
                .await
                .map_err(|e| ServerError::Quorum(format!("log cleaner shutdown failed: {e}")))?;
        }
        self.broker.replicas.shutdown_fetchers().await;
        // Connections finish the request they are serving (responses included) and close;
        // only then are logs flushed, so nothing is appended after the clean-shutdown marker.
        let drained = tokio::time::timeout(
            Duration::from_millis(SHUTDOWN_DRAIN_MS),
            self.connections.acquire_many(self.connections_max),
        )
        .await;
        if !matches!(drained, Ok(Ok(_))) {
            tracing::warn!(
                open = self.connections_max as usize - self.connections.available_permits(),
                "connections still busy at shutdown; closing logs anyway"
            );
        }
        tracing::info!("shutdown: connections closed; flushing and closing the logs");
        let logs = Arc::clone(self.broker.replicas.log_manager());
        tokio::task::spawn_blocking(move || logs.shutdown())
            .await
            .map_err(|e| ServerError::Quorum(format!("log shutdown task failed: {e}")))??;
        self.broker
            .quorum
            .shutdown()
            .await
            .map_err(|e| ServerError::Quorum(e.to_string()))?;
        if let Some(admin) = self.admin {
            admin.stop().await;
        }
        Ok(())
    }
}

/// Accepts `listener`'s connections while a connection permit is free, each after the
/// wait its connection creation rates call for; one over its IP's rate is closed unserved
/// after its throttle time (see [`crate::connection_quota`]).
async fn accept_loop(
    security: Arc<ListenerSecurity>,
    listener: TcpListener,
    endpoint: Endpoint,
    connections: Arc<Semaphore>,
    quotas: Arc<ConnectionQuotas>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => return,
            p = Arc::clone(&connections).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let delay_ms = quotas.accept_delay_ms(&security.name, ConnectionQuotas::now_ms());
                if delay_ms > 0 {
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                    }
                }
                let admission =
                    quotas.admit_ip(&security.name, peer.ip(), ConnectionQuotas::now_ms());
                if let Admission::CloseAfterMs(close_after_ms) = admission {
                    drop(permit);
                    quotas.close_later(stream, close_after_ms, shutdown.clone());
                    continue;
                }
                let endpoint = endpoint.clone();
                let security = Arc::clone(&security);
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    crate::network::serve_connection(stream, peer, security, endpoint, shutdown)
                        .await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(listener = %security.name, error = %e, "accept failed");
                // Back off briefly (e.g. out of file descriptors) instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Applies every new metadata image to local partition state, in order.
async fn apply_images(
    replicas: Arc<ReplicaManager>,
    mut images: watch::Receiver<Arc<crate::metadata::MetadataImage>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = images.changed() => if changed.is_err() { return },
        }
        let image = images.borrow_and_update().clone();
        if let Err(e) = replicas.apply_image(image).await {
            tracing::error!(error = %e, "applying metadata image to partitions failed");
        }
    }
}

/// Periodic retention, flush and checkpoint (offsets, high watermarks) work, on the
/// blocking pool.
async fn maintenance(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let c = &broker.config;
    let mut retention = tokio::time::interval(Duration::from_millis(
        c.log_retention_check_interval_ms.max(10) as u64,
    ));
    let mut flush = tokio::time::interval(Duration::from_millis(
        c.log_flush_scheduler_interval_ms.clamp(10, 3_600_000) as u64,
    ));
    let mut checkpoint = tokio::time::interval(Duration::from_millis(
        c.log_flush_offset_checkpoint_interval_ms.max(10) as u64,
    ));
    let mut producer_expiry = tokio::time::interval(Duration::from_millis(
        c.producer_id_expiration_check_interval_ms.max(10) as u64,
    ));
    let mut high_watermarks = tokio::time::interval(Duration::from_millis(
        c.replica_high_watermark_checkpoint_interval_ms.max(10) as u64,
    ));
    let producer_id_expiration_ms = i64::from(c.producer_id_expiration_ms);
    for t in [
        &mut retention,
        &mut flush,
        &mut checkpoint,
        &mut producer_expiry,
        &mut high_watermarks,
    ] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        let logs = Arc::clone(broker.replicas.log_manager());
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = retention.tick() => {
                let deleted = tokio::task::spawn_blocking(move || logs.enforce_retention(now_ms())).await.unwrap_or(0);
                if deleted > 0 {
                    tracing::info!(segments = deleted, "retention deleted segments");
                }
            }
            _ = producer_expiry.tick() => {
                let expired = tokio::task::spawn_blocking(move || logs.remove_expired_producers(now_ms(), producer_id_expiration_ms)).await.unwrap_or(0);
                if expired > 0 {
                    tracing::info!(producers = expired, "expired idle producer ids");
                }
            }
            _ = flush.tick() => {
                let _ = tokio::task::spawn_blocking(move || logs.flush_due(now_ms())).await;
            }
            _ = high_watermarks.tick() => {
                let r = tokio::task::spawn_blocking(move || logs.checkpoint_high_watermarks()).await;
                if let Ok(Err(e)) = r {
                    tracing::error!(error = %e, "writing the high-watermark checkpoint failed");
                }
            }
            _ = checkpoint.tick() => {
                let r = tokio::task::spawn_blocking(move || logs.checkpoint()).await;
                if let Ok(Err(e)) = r {
                    tracing::error!(error = %e, "writing offset checkpoints failed");
                }
            }
        }
    }
}

/// Reads `meta.properties` from every log dir: node.id must match the config; all cluster
/// ids must agree. Returns the cluster id when any dir has one.
fn check_meta_properties(config: &BrokerConfig) -> Result<Option<String>, ServerError> {
    let mut cluster_id: Option<String> = None;
    for dir in &config.log_dirs {
        let path = dir.join(META_PROPERTIES);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(ServerError::MetaProperties {
                    dir: dir.clone(),
                    reason: e.to_string(),
                })
            }
        };
        let props: BTreeMap<String, String> = ironlog_config::parse_properties(&text)
            .map_err(|e| ServerError::MetaProperties {
                dir: dir.clone(),
                reason: e.to_string(),
            })?
            .into_iter()
            .collect();
        if let Some(id) = props.get("node.id") {
            if id.parse::<i32>().ok() != Some(config.node_id) {
                return Err(ServerError::MetaProperties {
                    dir: dir.clone(),
                    reason: format!(
                        "meta.properties has node.id {id} but node.id is {}",
                        config.node_id
                    ),
                });
            }
        }
        if let Some(id) = props.get("cluster.id") {
            match &cluster_id {
                Some(existing) if existing != id => {
                    return Err(ServerError::MetaProperties {
                        dir: dir.clone(),
                        reason: format!(
                            "cluster.id {id} differs from {existing} in another log dir"
                        ),
                    })
                }
                _ => cluster_id = Some(id.clone()),
            }
        }
    }
    Ok(cluster_id)
}

/// A new `meta.properties` (Kafka's version 1): the cluster, the node, a fresh directory id.
pub(crate) fn meta_properties_text(cluster_id: &str, node_id: i32) -> String {
    meta_properties_text_with(cluster_id, node_id, uuid::Uuid::new_v4())
}

/// The directory id of the metadata log dir: the one its `meta.properties` has, else the
/// one it will be formatted with (chosen now, so that a dynamic quorum's controller joins
/// with the id its `meta.properties` then holds).
fn metadata_directory_id(config: &BrokerConfig) -> uuid::Uuid {
    let path = metadata_log_dir(config).join(META_PROPERTIES);
    let stored = std::fs::read_to_string(&path).ok().and_then(|text| {
        ironlog_config::parse_properties(&text)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "directory.id")
            .and_then(|(_, v)| crate::types::parse_kafka_uuid(&v))
    });
    stored.unwrap_or_else(uuid::Uuid::new_v4)
}

pub(crate) fn meta_properties_text_with(
    cluster_id: &str,
    node_id: i32,
    directory_id: uuid::Uuid,
) -> String {
    let directory_id = kafka_uuid_string(directory_id);
    format!(
        "#\n#Written by ironlog\ncluster.id={cluster_id}\ndirectory.id={directory_id}\nnode.id={node_id}\nversion=1\n"
    )
}

fn write_meta_properties(
    config: &BrokerConfig,
    cluster_id: &str,
    directory_id: uuid::Uuid,
) -> Result<(), ServerError> {
    for dir in &config.log_dirs {
        let path = dir.join(META_PROPERTIES);
        if path.exists() {
            continue;
        }
        // the metadata log dir gets the directory id a dynamic quorum knows it by
        let text = if *dir == metadata_log_dir(config) {
            meta_properties_text_with(cluster_id, config.node_id, directory_id)
        } else {
            meta_properties_text(cluster_id, config.node_id)
        };
        write_atomically(dir, &path, text.as_bytes()).map_err(|e| ServerError::MetaProperties {
            dir: dir.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Writes `path` in `dir` (created if need be) durably: tmp + fsync + rename + dir fsync.
pub(crate) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
