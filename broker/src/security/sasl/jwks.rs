//! Where OAUTHBEARER's JSON Web Key Set comes from (`sasl.oauthbearer.jwks.endpoint.url`):
//!
//! - `file://`: read at start, again every `sasl.oauthbearer.jwks.endpoint.refresh.ms`, and
//!   sooner (at most once a second) when a token names a key id the set does not hold. The
//!   read is a small local file, done where the token is checked.
//! - `https://` (or `http://`): Kafka's refreshing HTTPS key set. Fetched once at start —
//!   a broker that cannot fetch it does not start, naming the URL and why — then in the
//!   background every `refresh.ms`, each refresh retried from
//!   `sasl.oauthbearer.jwks.endpoint.retry.backoff.ms` doubling up to
//!   `...retry.backoff.max.ms`. A token naming an unknown key id is refused at once and
//!   makes the background task fetch now, at most once a minute per key id (key ids over
//!   1,000 characters are never looked up), so a rotated IdP key is learnt within one
//!   fetch. Token checks never wait for the network. TLS to the endpoint trusts the PEM
//!   CAs of the JAAS options `ssl.truststore.location` (with `ssl.truststore.type=PEM`) or
//!   `ssl.truststore.certificates`, else the system's trusted CAs, and checks the host
//!   name unless the JAAS option `ssl.endpoint.identification.algorithm` is empty (Kafka
//!   takes the endpoint's TLS settings from the JAAS options, too).
//!
//! A set replaces the one in use only when it was fetched whole (status 200, at most
//! [`JWKS_BYTES_MAX`]) and parses; a failed refresh keeps the keys already known.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ironlog_protocol::tls::TlsClient;
use jsonwebtoken::jwk::JwkSet;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use tokio::sync::Notify;

/// The largest key set accepted from an endpoint.
pub(crate) const JWKS_BYTES_MAX: usize = 1024 * 1024;
/// One fetch, from connecting to the last byte of the body.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// A file set is read again for an unknown key id at most this often.
const FILE_UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(1);
/// An endpoint is asked again for the same unknown key id at most this often (Kafka's).
const ENDPOINT_UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(60);
/// Unknown key ids remembered at once (Kafka's); the oldest is forgotten first.
const UNKNOWN_KIDS_MAX: usize = 16;
/// Longer key ids are taken for malformed tokens and never looked up (Kafka's).
const KID_LENGTH_MAX: usize = 1000;

/// The key set in use and how it is kept up to date.
#[derive(Debug)]
pub(crate) struct KeySource {
    keys: Arc<Keys>,
    origin: Origin,
}

#[derive(Debug)]
enum Origin {
    File {
        path: PathBuf,
        refresh_every: Duration,
    },
    /// The background task fetching from the endpoint; it ends when the source is dropped.
    Endpoint,
}

#[derive(Debug)]
struct Keys {
    state: Mutex<KeysState>,
    /// Wakes the endpoint task for a fetch now (an unknown key id).
    fetch_now: Arc<Notify>,
}

#[derive(Debug)]
struct KeysState {
    set: JwkSet,
    loaded_at: Instant,
    /// Unknown key ids and when they were last asked for.
    unknown: HashMap<String, Instant>,
}

/// How an endpoint is fetched and how often.
#[derive(Debug, Clone)]
pub(crate) struct EndpointSettings {
    pub url: String,
    pub refresh_every: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// TLS for `https://` URLs (from the JAAS options, see [`endpoint_tls`]).
    pub tls: Option<TlsClient>,
}

impl KeySource {
    /// A `file://` key set, read now.
    pub(crate) fn file(path: PathBuf, refresh_every: Duration) -> Result<Self, String> {
        let set = read_file(&path)?;
        Ok(Self {
            keys: Keys::new(set),
            origin: Origin::File {
                path,
                refresh_every,
            },
        })
    }

    /// An endpoint's key set: fetched now (the error says why it could not be), then kept
    /// up to date by a background task.
    pub(crate) async fn endpoint(settings: EndpointSettings) -> Result<Self, String> {
        let fetcher = Fetcher::new(&settings)?;
        let set = fetcher.fetch().await?;
        tracing::info!(url = %settings.url, keys = set.keys.len(), "fetched the OAUTHBEARER JSON Web Key Set");
        let keys = Keys::new(set);
        tokio::spawn(refresh_endpoint(
            Arc::downgrade(&keys),
            Arc::clone(&keys.fetch_now),
            fetcher,
            settings,
        ));
        Ok(Self {
            keys,
            origin: Origin::Endpoint,
        })
    }

    /// The key with id `kid` (`None`: the set's only key), cloned out of the set in use.
    pub(crate) fn find(&self, kid: Option<&str>) -> Result<jsonwebtoken::jwk::Jwk, String> {
        let mut state = self.keys.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Origin::File {
            path,
            refresh_every,
        } = &self.origin
        {
            let age = state.loaded_at.elapsed();
            if age >= *refresh_every
                || (!holds(&state.set, kid) && age >= FILE_UNKNOWN_KID_INTERVAL)
            {
                match read_file(path) {
                    Ok(set) => state.set = set,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the OAUTHBEARER JSON Web Key Set again; validating with the keys read before")
                    }
                }
                state.loaded_at = Instant::now();
            }
        }
        let found = match kid {
            Some(kid) => state.set.find(kid).cloned(),
            None => match state.set.keys.as_slice() {
                [only] => Some(only.clone()),
                _ => return Err("the token names no key id (kid) and the JSON Web Key Set holds more than one key".into()),
            },
        };
        match (found, kid) {
            (Some(jwk), _) => Ok(jwk),
            (None, Some(kid)) => {
                if matches!(self.origin, Origin::Endpoint) && state.ask_for(kid) {
                    self.keys.fetch_now.notify_one();
                }
                Err(format!(
                    "no key with key id {kid:?} in the JSON Web Key Set"
                ))
            }
            (None, None) => Err("the JSON Web Key Set holds no key".into()),
        }
    }
}

fn holds(set: &JwkSet, kid: Option<&str>) -> bool {
    match kid {
        Some(kid) => set.find(kid).is_some(),
        None => set.keys.len() == 1,
    }
}

impl Keys {
    fn new(set: JwkSet) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(KeysState {
                set,
                loaded_at: Instant::now(),
                unknown: HashMap::new(),
            }),
            fetch_now: Arc::new(Notify::new()),
        })
    }
}

impl KeysState {
    /// Whether unknown key id `kid` should make the endpoint be asked now.
    fn ask_for(&mut self, kid: &str) -> bool {
        if kid.len() > KID_LENGTH_MAX {
            return false;
        }
        let now = Instant::now();
        if let Some(asked) = self.unknown.get(kid) {
            if now.duration_since(*asked) < ENDPOINT_UNKNOWN_KID_INTERVAL {
                return false;
            }
        }
        if self.unknown.len() >= UNKNOWN_KIDS_MAX && !self.unknown.contains_key(kid) {
            if let Some(oldest) = self
                .unknown
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
            {
                self.unknown.remove(&oldest);
            }
        }
        self.unknown.insert(kid.to_string(), now);
        true
    }

    fn replace(&mut self, set: JwkSet) {
        self.unknown.retain(|kid, _| set.find(kid).is_none());
        self.set = set;
        self.loaded_at = Instant::now();
    }
}

/// Every `refresh_every`, or when a token names an unknown key id: fetch, retrying with
/// backoff; ends once the key source is gone.
async fn refresh_endpoint(
    keys: Weak<Keys>,
    fetch_now: Arc<Notify>,
    fetcher: Fetcher,
    settings: EndpointSettings,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(settings.refresh_every) => {}
            _ = fetch_now.notified() => {}
        }
        let started = Instant::now();
        let mut backoff = settings.retry_backoff;
        let set = loop {
            if keys.strong_count() == 0 {
                return;
            }
            match fetcher.fetch().await {
                Ok(set) => break Some(set),
                Err(e) if started.elapsed() + backoff <= settings.retry_backoff_max => {
                    tracing::debug!(url = %settings.url, error = %e, retry_in_ms = backoff.as_millis() as u64, "fetching the OAUTHBEARER JSON Web Key Set failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(settings.retry_backoff_max);
                }
                Err(e) => {
                    tracing::warn!(url = %settings.url, error = %e, "cannot fetch the OAUTHBEARER JSON Web Key Set; validating with the keys fetched before");
                    break None;
                }
            }
        };
        let Some(live) = keys.upgrade() else { return };
        if let Some(set) = set {
            tracing::debug!(url = %settings.url, keys = set.keys.len(), "refreshed the OAUTHBEARER JSON Web Key Set");
            live.state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replace(set);
        }
    }
}

/// An HTTP(S) GET of the key set.
#[derive(Debug, Clone)]
struct Fetcher {
    url: hyper::Uri,
    client: Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Empty<Bytes>,
    >,
}

impl Fetcher {
    fn new(settings: &EndpointSettings) -> Result<Self, String> {
        let url: hyper::Uri = settings
            .url
            .parse()
            .map_err(|e| format!("{} is not a URL: {e}", settings.url))?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match (url.scheme_str(), &settings.tls) {
            (Some("https"), Some(tls)) => builder
                .with_tls_config(tls.config().as_ref().clone())
                .https_only()
                .enable_http1()
                .build(),
            (Some("https"), None) => {
                return Err(format!(
                    "{}: no TLS settings for an https URL",
                    settings.url
                ))
            }
            // plain HTTP, as Kafka allows: the connector never starts TLS for an http URL
            (Some("http"), _) => builder
                .with_tls_config(no_tls()?)
                .https_or_http()
                .enable_http1()
                .build(),
            _ => return Err(format!("{}: not an http:// or https:// URL", settings.url)),
        };
        Ok(Self {
            url,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let url = &self.url;
        let get = async {
            let response = self
                .client
                .get(url.clone())
                .await
                .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
            let status = response.status();
            if status != hyper::StatusCode::OK {
                return Err(format!("GET {url}: HTTP status {status}"));
            }
            let body = Limited::new(response.into_body(), JWKS_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| format!("GET {url}: reading the body: {e}"))?
                .to_bytes();
            serde_json::from_slice::<JwkSet>(&body)
                .map_err(|e| format!("{url} did not answer with a JSON Web Key Set: {e}"))
        };
        tokio::time::timeout(FETCH_TIMEOUT, get)
            .await
            .map_err(|_| format!("GET {url}: no answer within {} s", FETCH_TIMEOUT.as_secs()))?
    }
}

/// A TLS configuration that trusts nothing, for the connector of an `http://` URL (which
/// never uses it).
fn no_tls() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

/// The error and its sources, in words.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn read_file(path: &std::path::Path) -> Result<JwkSet, String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read the JSON Web Key Set {}: {e}", path.display()))?;
    serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a JSON Web Key Set: {e}", path.display()))
}

/// TLS to an `https://` key set endpoint, from the OAUTHBEARER JAAS entry's options.
pub(crate) fn endpoint_tls(options: &BTreeMap<String, String>) -> Result<TlsClient, String> {
    let option = |name: &str| {
        options
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let mut roots = RootCertStore::empty();
    let pem_certs = |text: &[u8], what: &str| {
        CertificateDer::pem_slice_iter(text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{what}: {e}"))
    };
    let cas = match (
        option("ssl.truststore.location"),
        option("ssl.truststore.certificates"),
    ) {
        (Some(_), Some(_)) => {
            return Err(
                "give ssl.truststore.location or ssl.truststore.certificates, not both".into(),
            )
        }
        (Some(path), None) => {
            if option("ssl.truststore.type").is_some_and(|t| !t.eq_ignore_ascii_case("PEM")) {
                return Err(
                    "only PEM truststores are supported: set ssl.truststore.type=PEM".into(),
                );
            }
            let text =
                std::fs::read(path).map_err(|e| format!("ssl.truststore.location {path}: {e}"))?;
            Some(pem_certs(
                &text,
                &format!("ssl.truststore.location {path}"),
            )?)
        }
        (None, Some(text)) => Some(pem_certs(text.as_bytes(), "ssl.truststore.certificates")?),
        (None, None) => None,
    };
    match cas {
        Some(cas) => {
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| format!("a CA of the truststore: {e}"))?;
            }
            if roots.is_empty() {
                return Err("the truststore holds no CA certificate".into());
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(format!(
                    "this system has no trusted CA certificates{}; give the endpoint's CA as the JAAS option ssl.truststore.location",
                    native.errors.first().map(|e| format!(" ({e})")).unwrap_or_default()
                ));
            }
        }
    }
    let verify_hostname = match options.get("ssl.endpoint.identification.algorithm").map(|v| v.trim()) {
        None => true,
        Some(a) if a.eq_ignore_ascii_case("https") => true,
        Some("") => false,
        Some(other) => {
            return Err(format!("ssl.endpoint.identification.algorithm {other} is not an algorithm: give https, or nothing to turn hostname verification off"))
        }
    };
    TlsClient::new(
        roots,
        None,
        &[&rustls::version::TLS12, &rustls::version::TLS13],
        verify_hostname,
    )
    .map_err(|e| e.to_string())
}
