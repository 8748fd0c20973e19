//! `client`: requests to a Kafka cluster by target — any broker, a given node, the
//! controller — over one reused [`Connection`] per node, with bounded retries.
//!
//! The client learns the cluster from Metadata (brokers, cluster id, the controller id as
//! Kafka's brokers report it), asked of a known broker or else of the bootstrap servers in
//! turn. Addresses in `known_nodes` (e.g. controller quorum voters) need no metadata and
//! win over it. Metadata is refreshed when it is older than `metadata_max_age` and after
//! any failure that suggests it moved (connection failures, NOT_CONTROLLER,
//! NOT_LEADER_OR_FOLLOWER, an unknown node).
//!
//! Retries: a failed attempt is tried again — after a backoff, within the [`RetryPolicy`]'s
//! attempts and total time — when it failed on the connection or with a retriable Kafka
//! error. Kafka's per-entry error codes live inside each response type, so callers hand
//! [`Client::send_with`] a check that turns a response into a value or an [`Error::Kafka`].
//! A retried request may reach the peer twice (the first answer can be lost with the
//! connection): send idempotent requests, or accept the answers a repeat gets (e.g.
//! TOPIC_ALREADY_EXISTS), as with Kafka's admin client.
//!
//! It is small on purpose: what an admin client and an inter-broker sender need, not a
//! producer or a consumer (no partitioning, batching or group membership).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::Request;
use tokio::time::Instant;

use crate::connection::{Connection, ConnectionConfig, SendOptions};
use crate::error::Error;
use crate::retry::{Retry, RetryPolicy};

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of brokers to ask for metadata first (Kafka's `bootstrap.servers`).
    pub bootstrap_servers: Vec<String>,
    /// `host:port` by node id of nodes known without metadata; they win over metadata.
    pub known_nodes: BTreeMap<i32, String>,
    pub connection: ConnectionConfig,
    pub retry: RetryPolicy,
    /// Metadata older than this is refreshed before use (Kafka's `metadata.max.age.ms`).
    pub metadata_max_age: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: Vec::new(),
            known_nodes: BTreeMap::new(),
            connection: ConnectionConfig::default(),
            retry: RetryPolicy::default(),
            metadata_max_age: Duration::from_secs(300),
        }
    }
}

impl ClientConfig {
    /// Defaults with these bootstrap servers.
    pub fn new(bootstrap_servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ClientConfig {
            bootstrap_servers: bootstrap_servers.into_iter().map(Into::into).collect(),
            ..ClientConfig::default()
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any broker (one already connected when there is one).
    AnyBroker,
    /// The node with this id.
    Node(i32),
    /// The controller as Metadata names it (KRaft brokers name a broker, which forwards
    /// admin requests to the active controller).
    Controller,
}

/// A broker as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl Node {
    /// `host:port` (`[host]:port` for IPv6 literals).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The cluster as the last Metadata response described it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    /// By node id.
    pub brokers: Vec<Node>,
}

impl ClusterView {
    pub fn broker(&self, node_id: i32) -> Option<&Node> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    fn from_response(response: &MetadataResponse) -> Self {
        let mut brokers: Vec<Node> = response
            .brokers
            .iter()
            .map(|b| Node {
                node_id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect();
        brokers.sort_by_key(|b| b.node_id);
        ClusterView {
            cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
            controller_id: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
            brokers,
        }
    }
}

/// Counters since the client was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Attempts that failed with a retriable error (each was retried or ended the call).
    pub failed_attempts: u64,
    pub connections_opened: u64,
    pub metadata_refreshes: u64,
}

/// Requests to a cluster by [`Target`]; cheap to clone (clones share connections).
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    config: ClientConfig,
    metadata: Mutex<MetadataState>,
    /// One slot per node id: its connection, made by one caller at a time. Bounded by the
    /// nodes in metadata and `known_nodes` (slots of nodes that left are removed).
    slots: Mutex<HashMap<i32, Slot>>,
    next_any: AtomicUsize,
    next_bootstrap: AtomicUsize,
    failed_attempts: AtomicU64,
    connections_opened: AtomicU64,
    metadata_refreshes: AtomicU64,
}

type Slot = Arc<tokio::sync::Mutex<Option<Connection>>>;

#[derive(Default)]
struct MetadataState {
    view: ClusterView,
    fetched_at: Option<Instant>,
    stale: bool,
}

impl Client {
    /// A client; nothing is connected until the first request.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        if config.bootstrap_servers.is_empty() && config.known_nodes.is_empty() {
            return Err(Error::Config(
                "no bootstrap servers and no known nodes".to_string(),
            ));
        }
        if config.retry.max_attempts == 0 {
            return Err(Error::Config(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        Ok(Client {
            inner: Arc::new(ClientInner {
                config,
                metadata: Mutex::new(MetadataState::default()),
                slots: Mutex::new(HashMap::new()),
                next_any: AtomicUsize::new(0),
                next_bootstrap: AtomicUsize::new(0),
                failed_attempts: AtomicU64::new(0),
                connections_opened: AtomicU64::new(0),
                metadata_refreshes: AtomicU64::new(0),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The cluster as last seen (empty before the first metadata).
    pub fn cluster(&self) -> ClusterView {
        self.metadata().view.clone()
    }

    pub fn stats(&self) -> ClientStats {
        ClientStats {
            failed_attempts: self.inner.failed_attempts.load(Ordering::Relaxed),
            connections_opened: self.inner.connections_opened.load(Ordering::Relaxed),
            metadata_refreshes: self.inner.metadata_refreshes.load(Ordering::Relaxed),
        }
    }

    /// Asks the cluster for its metadata now (with retries).
    pub async fn refresh_metadata(&self) -> Result<ClusterView, Error> {
        let mut retry = Retry::new(&self.inner.config.retry);
        loop {
            let deadline = retry.attempt();
            match self.refresh_once(deadline).await {
                Ok(view) => return Ok(view),
                Err(e) => self.failed(&mut retry, e, "metadata").await?,
            }
        }
    }

    /// The connection a request to `target` would use (with retries), for callers that
    /// drive it themselves (e.g. a fetcher that long-polls one node).
    pub async fn connection(&self, target: Target) -> Result<Connection, Error> {
        let mut retry = Retry::new(&self.inner.config.retry);
        loop {
            let deadline = retry.attempt();
            match self.connect_target(target, deadline).await {
                Ok(connection) => return Ok(connection),
                Err(e) => self.failed(&mut retry, e, "connect").await?,
            }
        }
    }

    /// Sends `request` to `target` and returns the response, retrying connection failures.
    pub async fn send<R: Request + 'static>(
        &self,
        target: Target,
        request: &R,
    ) -> Result<R::Response, Error> {
        self.send_with(target, request, SendOptions::default(), Ok)
            .await
    }

    /// Sends `request` to `target`; `check` turns the response into the caller's value or
    /// an error (use [`Error::check`] on the response's error codes). Connection failures
    /// and retriable errors — from the exchange or from `check` — are retried within the
    /// retry policy. `options.timeout` bounds each attempt (and is cut to the time left).
    pub async fn send_with<R, T, F>(
        &self,
        target: Target,
        request: &R,
        options: SendOptions,
        mut check: F,
    ) -> Result<T, Error>
    where
        R: Request + 'static,
        F: FnMut(R::Response) -> Result<T, Error>,
    {
        let mut retry = Retry::new(&self.inner.config.retry);
        loop {
            let deadline = retry.attempt();
            let result = match self.send_once(target, request, options, deadline).await {
                Ok(response) => check(response),
                Err(e) => Err(e),
            };
            match result {
                Ok(value) => return Ok(value),
                Err(e) => self.failed(&mut retry, e, "request").await?,
            }
        }
    }

    /// Closes every connection; the next request connects again.
    pub fn close(&self) {
        let slots: Vec<Slot> = self.slots().drain().map(|(_, slot)| slot).collect();
        for slot in slots {
            if let Ok(guard) = slot.try_lock() {
                if let Some(connection) = guard.as_ref() {
                    connection.close();
                }
            }
        }
    }

    // -------------------------------------------------------------------- one attempt

    async fn send_once<R: Request + 'static>(
        &self,
        target: Target,
        request: &R,
        options: SendOptions,
        deadline: Instant,
    ) -> Result<R::Response, Error> {
        let connection = self.connect_target(target, deadline).await?;
        let timeout = self.attempt_timeout(&connection, R::KEY, options, deadline)?;
        connection
            .send_with(request, options.timeout(timeout))
            .await
    }

    async fn connect_target(&self, target: Target, deadline: Instant) -> Result<Connection, Error> {
        let node_id = match target {
            Target::Node(node_id) => node_id,
            Target::Controller => {
                self.ensure_metadata(deadline).await?;
                self.metadata()
                    .view
                    .controller_id
                    .ok_or(Error::NoController)?
            }
            Target::AnyBroker => self.any_node(deadline).await?,
        };
        let addr = self.node_address(node_id, deadline).await?;
        self.node_connection(node_id, &addr, deadline).await
    }

    /// A node with an open connection if there is one, else the next in turn.
    async fn any_node(&self, deadline: Instant) -> Result<i32, Error> {
        if self.inner.config.bootstrap_servers.is_empty() {
            // only known nodes: no metadata needed to pick one
            let ids: Vec<i32> = self.inner.config.known_nodes.keys().copied().collect();
            return self.pick(&ids);
        }
        self.ensure_metadata(deadline).await?;
        let ids: Vec<i32> = self
            .metadata()
            .view
            .brokers
            .iter()
            .map(|b| b.node_id)
            .collect();
        self.pick(&ids)
    }

    fn pick(&self, ids: &[i32]) -> Result<i32, Error> {
        if ids.is_empty() {
            return Err(Error::NoBrokers);
        }
        let slots = self.slots();
        let connected = ids.iter().copied().find(|id| {
            slots
                .get(id)
                .and_then(|slot| slot.try_lock().ok())
                .is_some_and(|guard| guard.as_ref().is_some_and(Connection::is_open))
        });
        Ok(connected.unwrap_or_else(|| {
            ids[self.inner.next_any.fetch_add(1, Ordering::Relaxed) % ids.len()]
        }))
    }

    async fn node_address(&self, node_id: i32, deadline: Instant) -> Result<String, Error> {
        if let Some(addr) = self.inner.config.known_nodes.get(&node_id) {
            return Ok(addr.clone());
        }
        let refreshed = self.ensure_metadata(deadline).await?;
        if let Some(node) = self.metadata().view.broker(node_id) {
            return Ok(node.address());
        }
        if !refreshed {
            // the node may be newer than our metadata
            self.refresh_once(deadline).await?;
            if let Some(node) = self.metadata().view.broker(node_id) {
                return Ok(node.address());
            }
        }
        Err(Error::UnknownNode { node_id })
    }

    /// The open connection to `node_id` at `addr`, connecting when there is none (or it
    /// went to another address). One caller connects at a time per node.
    async fn node_connection(
        &self,
        node_id: i32,
        addr: &str,
        deadline: Instant,
    ) -> Result<Connection, Error> {
        let slot = self.slots().entry(node_id).or_default().clone();
        let waited = time_left(deadline);
        let Ok(mut guard) = tokio::time::timeout_at(deadline, slot.lock()).await else {
            // another caller's connect to this node took all our time
            return Err(Error::ConnectTimeout {
                addr: addr.to_string(),
                timeout_ms: millis(waited),
            });
        };
        if let Some(connection) = guard.as_ref() {
            if connection.is_open() && connection.peer() == addr {
                return Ok(connection.clone());
            }
            connection.close();
            *guard = None;
        }
        let connection = self.open(addr, deadline).await?;
        *guard = Some(connection.clone());
        Ok(connection)
    }

    /// A new connection to `addr`; connecting and negotiating end by `deadline`.
    async fn open(&self, addr: &str, deadline: Instant) -> Result<Connection, Error> {
        let mut config = self.inner.config.connection.clone();
        let left = time_left(deadline);
        config.connect_timeout = config.connect_timeout.min(left);
        let connect = Connection::connect(addr, config);
        let Ok(connection) = tokio::time::timeout_at(deadline, connect).await else {
            return Err(Error::ConnectTimeout {
                addr: addr.to_string(),
                timeout_ms: millis(left),
            });
        };
        let connection = connection?;
        self.inner
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        Ok(connection)
    }

    /// The timeout of a request that must be answered by `deadline`: the requested one (or
    /// the connection default) cut to the time left. With no time left nothing is sent: the
    /// request could only time out, and a timeout closes the connection others share.
    fn attempt_timeout(
        &self,
        connection: &Connection,
        api_key: i16,
        options: SendOptions,
        deadline: Instant,
    ) -> Result<Duration, Error> {
        let left = time_left(deadline);
        if left.is_zero() {
            let api = crate::frame::api_key(api_key)?;
            return Err(Error::RequestTimeout {
                peer: Arc::from(connection.peer()),
                api_key,
                version: connection.version_for(api, options.version)?,
                timeout_ms: 0,
            });
        }
        Ok(options
            .timeout
            .unwrap_or(self.inner.config.connection.request_timeout)
            .min(left))
    }

    // -------------------------------------------------------------------- metadata

    /// Refreshes metadata when there is none, it is marked stale or it is too old; returns
    /// whether it refreshed.
    async fn ensure_metadata(&self, deadline: Instant) -> Result<bool, Error> {
        let needed = {
            let state = self.metadata();
            state.stale
                || state.view.brokers.is_empty()
                || state
                    .fetched_at
                    .is_none_or(|at| at.elapsed() >= self.inner.config.metadata_max_age)
        };
        if needed {
            self.refresh_once(deadline).await?;
        }
        Ok(needed)
    }

    /// One round of asking for metadata: each known broker (over its connection), then
    /// each bootstrap server (over a connection closed afterwards), until one answers —
    /// all within `deadline`.
    async fn refresh_once(&self, deadline: Instant) -> Result<ClusterView, Error> {
        let mut asked: Vec<(Option<i32>, String)> = self
            .metadata()
            .view
            .brokers
            .iter()
            .map(|b| (Some(b.node_id), b.address()))
            .collect();
        for (node_id, addr) in &self.inner.config.known_nodes {
            if !asked.iter().any(|(id, _)| *id == Some(*node_id)) {
                asked.push((Some(*node_id), addr.clone()));
            }
        }
        let bootstrap = &self.inner.config.bootstrap_servers;
        let first = self.inner.next_bootstrap.fetch_add(1, Ordering::Relaxed);
        for i in 0..bootstrap.len() {
            asked.push((None, bootstrap[(first + i) % bootstrap.len()].clone()));
        }
        let mut last = None;
        for (node_id, addr) in asked {
            let result = match node_id {
                Some(node_id) => match self.node_connection(node_id, &addr, deadline).await {
                    Ok(connection) => self.ask_metadata(&connection, deadline).await,
                    Err(e) => Err(e),
                },
                None => match self.open(&addr, deadline).await {
                    Ok(connection) => {
                        let result = self.ask_metadata(&connection, deadline).await;
                        connection.close();
                        result
                    }
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(view) => return Ok(view),
                Err(e) if e.is_retriable() && time_left(deadline) > Duration::ZERO => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::NoBrokers))
    }

    async fn ask_metadata(
        &self,
        connection: &Connection,
        deadline: Instant,
    ) -> Result<ClusterView, Error> {
        // no topics: just brokers, cluster id and controller
        let request = MetadataRequest::default()
            .with_topics(Some(Vec::new()))
            .with_allow_auto_topic_creation(false);
        let timeout = self.attempt_timeout(
            connection,
            MetadataRequest::KEY,
            SendOptions::default(),
            deadline,
        )?;
        let response = connection
            .send_with(&request, SendOptions::default().timeout(timeout))
            .await?;
        Error::check(response.error_code, None)?;
        let view = ClusterView::from_response(&response);
        self.install(view.clone());
        Ok(view)
    }

    /// Makes `view` current and closes connections to nodes that left the cluster.
    fn install(&self, view: ClusterView) {
        self.inner
            .metadata_refreshes
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(brokers = view.brokers.len(), controller = ?view.controller_id,
            "cluster metadata");
        let gone: Vec<Slot> = {
            let mut slots = self.slots();
            let known = &self.inner.config.known_nodes;
            let leaving: Vec<i32> = slots
                .keys()
                .copied()
                .filter(|id| view.broker(*id).is_none() && !known.contains_key(id))
                .collect();
            leaving
                .into_iter()
                .filter_map(|id| slots.remove(&id))
                .collect()
        };
        for slot in gone {
            if let Ok(guard) = slot.try_lock() {
                if let Some(connection) = guard.as_ref() {
                    connection.close();
                }
            }
        }
        let mut state = self.metadata();
        state.view = view;
        state.fetched_at = Some(Instant::now());
        state.stale = false;
    }

    // -------------------------------------------------------------------- bookkeeping

    async fn failed(&self, retry: &mut Retry<'_>, error: Error, what: &str) -> Result<(), Error> {
        if error.is_retriable() {
            self.inner.failed_attempts.fetch_add(1, Ordering::Relaxed);
        }
        if error.means_stale_metadata() {
            self.metadata().stale = true;
        }
        retry.failed(error, what).await
    }

    fn metadata(&self) -> MutexGuard<'_, MetadataState> {
        self.inner
            .metadata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<i32, Slot>> {
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn time_left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use kafka_protocol::messages::BrokerId;

    #[test]
    fn cluster_view_reads_metadata() {
        let response = MetadataResponse::default()
            .with_cluster_id(Some("c1".into()))
            .with_controller_id(BrokerId(-1))
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host("::1".into())
                    .with_port(9093),
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host("broker-1".into())
                    .with_port(9092)
                    .with_rack(Some("r1".into())),
            ]);
        let view = ClusterView::from_response(&response);
        assert_eq!(view.cluster_id.as_deref(), Some("c1"));
        assert_eq!(view.controller_id, None, "-1 means no controller");
        let ids: Vec<i32> = view.brokers.iter().map(|b| b.node_id).collect();
        assert_eq!(ids, [1, 2], "brokers by node id");
        assert_eq!(view.brokers[0].address(), "broker-1:9092");
        assert_eq!(view.brokers[0].rack.as_deref(), Some("r1"));
        assert_eq!(
            view.broker(2).map(Node::address).as_deref(),
            Some("[::1]:9093")
        );
    }

    #[test]
    fn a_client_needs_somewhere_to_start() {
        assert!(matches!(
            Client::new(ClientConfig::default()),
            Err(Error::Config(_))
        ));
        let mut no_attempts = ClientConfig::new(["localhost:9092"]);
        no_attempts.retry.max_attempts = 0;
        assert!(matches!(Client::new(no_attempts), Err(Error::Config(_))));
        assert!(Client::new(ClientConfig::new(["localhost:9092"])).is_ok());
    }
}
