//! `connect_rest`: the Kafka Connect REST API calls the Connector controller needs, over
//! hyper (the HTTP client kube already brings). Domain values in and out; every request has
//! a timeout and every answer a size limit; a failure is a [`ConnectError`] naming the call.
//!
//! - `GET /connectors/{name}/config`, `PUT /connectors/{name}/config` (create or change);
//! - `GET /connectors/{name}/status` (connector and task states);
//! - `PUT /connectors/{name}/pause|resume|stop`;
//! - `POST /connectors/{name}/restart?includeTasks=true&onlyFailed=false`,
//!   `POST /connectors/{name}/tasks/{id}/restart`;
//! - `DELETE /connectors/{name}`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// How long one REST call may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read.
pub const RESPONSE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0} is no Connect REST URL")]
    BadUrl(String),
    #[error("{operation} of connector {connector}: the Connect worker at {url} cannot be reached: {message}")]
    Unreachable {
        operation: &'static str,
        connector: String,
        url: String,
        message: String,
    },
    #[error(
        "{operation} of connector {connector}: the Connect worker answered {status}: {message}"
    )]
    Refused {
        operation: &'static str,
        connector: String,
        status: u16,
        message: String,
    },
    #[error("{operation} of connector {connector}: cannot read the answer: {message}")]
    Decode {
        operation: &'static str,
        connector: String,
        message: String,
    },
}

impl ConnectError {
    /// The HTTP status the worker refused with, if it did.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConnectError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One connector's state and its tasks', as `GET .../status` reports them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectorStateInfo {
    pub connector: StateInfo,
    #[serde(default)]
    pub tasks: Vec<TaskStateInfo>,
}

/// A connector's state (`UNASSIGNED`, `RUNNING`, `PAUSED`, `STOPPED`, `FAILED`,
/// `RESTARTING`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StateInfo {
    pub state: String,
    #[serde(default)]
    pub worker_id: Option<String>,
    #[serde(default)]
    pub trace: Option<String>,
}

/// A task's state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TaskStateInfo {
    pub id: i32,
    pub state: String,
    #[serde(default)]
    pub worker_id: Option<String>,
    #[serde(default)]
    pub trace: Option<String>,
}

/// Connect's error body.
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// A client for one Connect cluster's REST API.
#[derive(Clone)]
pub struct ConnectClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// A path segment with what a URL cannot carry percent-encoded.
fn segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ConnectClient {
    /// A client of the REST API at `url` (`http://connect:8083`).
    pub fn new(url: &str) -> Result<ConnectClient, ConnectError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") || base.parse::<http::Uri>().is_err() {
            // https needs a TLS connector; the Connect clusters the operator serves speak http
            return Err(ConnectError::BadUrl(url.to_string()));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(REQUEST_TIMEOUT));
        Ok(ConnectClient {
            base,
            http: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// One call: `Ok(None)` for a 404, the body otherwise.
    async fn call(
        &self,
        operation: &'static str,
        connector: &str,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<Bytes>, ConnectError> {
        let unreachable = |message: String| ConnectError::Unreachable {
            operation,
            connector: connector.to_string(),
            url: self.base.clone(),
            message,
        };
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| ConnectError::BadUrl(format!("{}{path}: {e}", self.base)))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), RESPONSE_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, ConnectError>((status, body))
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {REQUEST_TIMEOUT:?}")))??;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|e| e.message)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(1000).collect());
            return Err(ConnectError::Refused {
                operation,
                connector: connector.to_string(),
                status: status.as_u16(),
                message,
            });
        }
        Ok(Some(body))
    }

    fn decode<T: serde::de::DeserializeOwned>(
        operation: &'static str,
        connector: &str,
        body: &[u8],
    ) -> Result<T, ConnectError> {
        serde_json::from_slice(body).map_err(|e| ConnectError::Decode {
            operation,
            connector: connector.to_string(),
            message: e.to_string(),
        })
    }

    /// The connector's config, `None` when the cluster has no such connector.
    pub async fn config(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ConnectError> {
        let path = format!("/connectors/{}/config", segment(name));
        match self
            .call("GetConfig", name, Method::GET, &path, None)
            .await?
        {
            Some(body) => Ok(Some(Self::decode("GetConfig", name, &body)?)),
            None => Ok(None),
        }
    }

    /// Creates the connector or replaces its config.
    pub async fn put_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ConnectError> {
        let path = format!("/connectors/{}/config", segment(name));
        let body = serde_json::to_value(config).map_err(|e| ConnectError::Decode {
            operation: "PutConfig",
            connector: name.to_string(),
            message: e.to_string(),
        })?;
        self.call("PutConfig", name, Method::PUT, &path, Some(body))
            .await?;
        Ok(())
    }

    /// The connector's and its tasks' states, `None` when there is no such connector.
    pub async fn status(&self, name: &str) -> Result<Option<ConnectorStateInfo>, ConnectError> {
        let path = format!("/connectors/{}/status", segment(name));
        match self.call("Status", name, Method::GET, &path, None).await? {
            Some(body) => Ok(Some(Self::decode("Status", name, &body)?)),
            None => Ok(None),
        }
    }

    /// `PUT /connectors/{name}/{action}` for `pause`, `resume` or `stop`.
    pub async fn transition(&self, name: &str, action: &'static str) -> Result<(), ConnectError> {
        let path = format!("/connectors/{}/{action}", segment(name));
        self.call(action, name, Method::PUT, &path, None).await?;
        Ok(())
    }

    /// Restarts the connector and all its tasks.
    pub async fn restart(&self, name: &str) -> Result<(), ConnectError> {
        let path = format!(
            "/connectors/{}/restart?includeTasks=true&onlyFailed=false",
            segment(name)
        );
        self.call("Restart", name, Method::POST, &path, None)
            .await?;
        Ok(())
    }

    /// Restarts one task.
    pub async fn restart_task(&self, name: &str, task: i32) -> Result<(), ConnectError> {
        let path = format!("/connectors/{}/tasks/{task}/restart", segment(name));
        self.call("RestartTask", name, Method::POST, &path, None)
            .await?;
        Ok(())
    }

    /// Deletes the connector; one that is already gone is no error.
    pub async fn delete(&self, name: &str) -> Result<(), ConnectError> {
        let path = format!("/connectors/{}", segment(name));
        self.call("Delete", name, Method::DELETE, &path, None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_in_paths() {
        assert_eq!(segment("my-connector.v1_x~"), "my-connector.v1_x~");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn only_http_urls_are_taken() {
        assert!(ConnectClient::new("http://connect:8083/").is_ok());
        assert!(matches!(
            ConnectClient::new("ftp://connect"),
            Err(ConnectError::BadUrl(_))
        ));
    }

    #[test]
    fn a_status_answer_decodes() {
        let body = br#"{"name":"fs","connector":{"state":"RUNNING","worker_id":"w:1","version":"4.1.1"},"tasks":[{"id":0,"state":"FAILED","worker_id":"w:1","trace":"boom"}],"type":"source"}"#;
        let status: ConnectorStateInfo =
            ConnectClient::decode("Status", "fs", body).expect("decodes");
        assert_eq!(status.connector.state, "RUNNING");
        assert_eq!(status.tasks[0].state, "FAILED");
        assert_eq!(status.tasks[0].trace.as_deref(), Some("boom"));
    }
}
