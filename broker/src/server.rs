//! `server`: start-up, the accept loops, background maintenance and clean shutdown.
//!
//! Start-up order: check `meta.properties` in every log dir → open the logs (recovery) →
//! start the metadata quorum → bind listeners (port 0 → the bound port is advertised) →
//! register this broker → apply the current metadata image to partitions → accept clients.
//! Shutdown is a watch signal every connection task listens to; logs are flushed and
//! checkpointed, and the clean-shutdown marker written, before the process exits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::group::{GroupConfig, GroupCoordinator};
use crate::handlers::{fetch_session::FetchSessionCache, Broker};
use crate::log::{
    capacity_for_limit, open_files_limit, CleanerConfig, FileCache, LogCleaner, LogConfig,
    LogError, LogManager,
};
use crate::metadata::{
    BrokerEndpoint, BrokerRegistrationRequest, ConfigResource, Controller, ControllerDefaults,
    MetadataQuorum, QuorumConfig,
};
use crate::replica::ReplicaManager;
use crate::txn::{ProducerIdManager, TransactionCoordinator, TxnConfig};
use crate::types::{kafka_uuid_string, now_ms};
use ironlog_config::BrokerConfig;

/// Name of the metadata log directory inside the metadata log dir (as Kafka's KRaft).
pub(crate) const METADATA_DIR_NAME: &str = "__cluster_metadata-0";
const META_PROPERTIES: &str = "meta.properties";

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
}

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

/// Starts a broker: storage, the metadata quorum and controller, listeners, registration,
/// the broker's components, then the background tasks and accept loops (the order of the
/// module header).
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, ServerError> {
    let meta_cluster_id = check_meta_properties(&config)?;
    let (logs, cleaner) = open_storage(&config).await?;
    let quorum = start_quorum(&config, meta_cluster_id).await?;
    let controller = build_controller(&config, &quorum);
    let listeners = bind_listeners(&config).await?;
    register_broker(&config, &controller, &listeners).await?;
    let broker = build_broker(config, logs, quorum, controller).await?;
    Ok(spawn_tasks(broker, listeners, cleaner))
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

/// Starts the metadata quorum (replaying its log) and checks that `meta.properties` and
/// the metadata log name the same cluster, then writes `meta.properties` where missing.
async fn start_quorum(
    config: &BrokerConfig,
    meta_cluster_id: Option<String>,
) -> Result<Arc<MetadataQuorum>, ServerError> {
    let metadata_dir = config
        .metadata_log_dir
        .clone()
        .unwrap_or_else(|| config.log_dirs[0].clone())
        .join(METADATA_DIR_NAME);
    let quorum = MetadataQuorum::start(QuorumConfig {
        node_id: config.node_id,
        metadata_dir,
        cluster_id: meta_cluster_id
            .clone()
            .or_else(|| config.cluster_id.clone()),
    })
    .await
    .map_err(|e| ServerError::Quorum(e.to_string()))?;
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
    write_meta_properties(config, &cluster_id)?;
    Ok(Arc::new(quorum))
}

/// The controller, with the config crate's rules for the values it stores.
fn build_controller(config: &BrokerConfig, quorum: &Arc<MetadataQuorum>) -> Arc<Controller> {
    let controller = Controller::new(
        Arc::clone(quorum),
        ControllerDefaults {
            num_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor,
            node_id: config.node_id,
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

/// A bound client listener and what this broker advertises for it.
struct BoundListener {
    name: String,
    listener: TcpListener,
    local: SocketAddr,
    advertised_host: String,
    advertised_port: u16,
}

/// Binds every listener; a port-0 listener advertises the port it was given.
async fn bind_listeners(config: &BrokerConfig) -> Result<Vec<BoundListener>, ServerError> {
    let mut bound = Vec::with_capacity(config.listeners.len());
    for l in &config.listeners {
        let bind_host = if l.host.is_empty() {
            "0.0.0.0"
        } else {
            l.host.as_str()
        };
        let address = format!("{bind_host}:{}", l.port);
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
            listener,
            local,
            advertised_host,
            advertised_port,
        });
    }
    Ok(bound)
}

/// Registers this broker with its advertised endpoints.
async fn register_broker(
    config: &BrokerConfig,
    controller: &Controller,
    listeners: &[BoundListener],
) -> Result<(), ServerError> {
    controller
        .register_broker(BrokerRegistrationRequest {
            broker_id: config.node_id,
            incarnation_id: uuid::Uuid::new_v4(),
            listeners: listeners
                .iter()
                .map(|l| BrokerEndpoint {
                    name: l.name.clone(),
                    host: l.advertised_host.clone(),
                    port: l.advertised_port,
                    security_protocol: "PLAINTEXT".to_owned(),
                })
                .collect(),
            rack: config.rack.clone(),
        })
        .await
        .map_err(|e| ServerError::Registration(e.to_string()))
}

/// The replica manager (the current image applied to the logs), the coordinators and the
/// context handlers receive.
async fn build_broker(
    config: BrokerConfig,
    logs: Arc<LogManager>,
    quorum: Arc<MetadataQuorum>,
    controller: Arc<Controller>,
) -> Result<Arc<Broker>, ServerError> {
    let node_id = config.node_id;
    let replicas = Arc::new(ReplicaManager::new(
        node_id,
        config.clone(),
        logs,
        quorum.subscribe(),
    ));
    replicas.set_isr_channel(Arc::clone(&controller));
    replicas.apply_image(quorum.image()).await?;
    let groups = GroupCoordinator::new(
        node_id,
        GroupConfig::from_broker_config(&config),
        Arc::clone(&replicas),
        Arc::clone(&controller),
        Arc::clone(&quorum),
    );
    let producer_ids = Arc::new(ProducerIdManager::new());
    let txn = TransactionCoordinator::new(
        node_id,
        TxnConfig::from_broker_config(&config),
        Arc::clone(&replicas),
        Arc::clone(&controller),
        Arc::clone(&quorum),
        Arc::clone(&groups),
        Arc::clone(&producer_ids),
    );
    Ok(Arc::new(Broker {
        fetch_sessions: FetchSessionCache::new(
            config.max_incremental_fetch_session_cache_slots as usize,
        ),
        producer_ids,
        txn,
        config,
        node_id,
        quorum,
        controller,
        replicas,
        groups,
    }))
}

/// Spawns the background tasks (image application, the coordinators, maintenance) and one
/// accept loop per listener.
fn spawn_tasks(
    broker: Arc<Broker>,
    listeners: Vec<BoundListener>,
    cleaner: Option<LogCleaner>,
) -> RunningBroker {
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(apply_images(
            Arc::clone(&broker.replicas),
            broker.quorum.subscribe(),
            shutdown_rx.clone(),
        )),
        broker.groups.start(shutdown_rx.clone()),
        broker.txn.start(shutdown_rx.clone()),
        tokio::spawn(maintenance(Arc::clone(&broker), shutdown_rx.clone())),
        broker.replicas.start_isr_expiration(shutdown_rx.clone()),
    ];
    let connections_max = broker.config.max_connections.clamp(1, 1 << 20);
    let connections = Arc::new(Semaphore::new(connections_max as usize));
    let mut bound = Vec::with_capacity(listeners.len());
    for l in listeners {
        bound.push((l.name.clone(), l.local));
        tasks.push(tokio::spawn(accept_loop(
            l.name.into(),
            l.listener,
            Arc::clone(&broker),
            Arc::clone(&connections),
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

    /// Stops accepting, closes connections, flushes and checkpoints every log and writes the
    /// clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
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
        let logs = Arc::clone(self.broker.replicas.log_manager());
        tokio::task::spawn_blocking(move || logs.shutdown())
            .await
            .map_err(|e| ServerError::Quorum(format!("log shutdown task failed: {e}")))??;
        self.broker
            .quorum
            .shutdown()
            .await
            .map_err(|e| ServerError::Quorum(e.to_string()))?;
        Ok(())
    }
}

async fn accept_loop(
    name: Arc<str>,
    listener: TcpListener,
    broker: Arc<Broker>,
    connections: Arc<Semaphore>,
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
                let broker = Arc::clone(&broker);
                let name = Arc::clone(&name);
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    crate::network::serve_connection(stream, peer, name, broker, shutdown).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(listener = %name, error = %e, "accept failed");
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

fn write_meta_properties(config: &BrokerConfig, cluster_id: &str) -> Result<(), ServerError> {
    for dir in &config.log_dirs {
        let path = dir.join(META_PROPERTIES);
        if path.exists() {
            continue;
        }
        let directory_id = kafka_uuid_string(uuid::Uuid::new_v4());
        let text = format!(
            "#\n#Written by ironlog\ncluster.id={cluster_id}\ndirectory.id={directory_id}\nnode.id={}\nversion=1\n",
            config.node_id
        );
        write_atomically(dir, &path, text.as_bytes()).map_err(|e| ServerError::MetaProperties {
            dir: dir.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
