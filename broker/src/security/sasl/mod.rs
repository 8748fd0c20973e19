//! SASL on SASL_PLAINTEXT and SASL_SSL listeners, as Kafka's `SaslServerAuthenticator`:
//! before a client is authenticated only ApiVersions and SaslHandshake are served; the
//! handshake names the mechanism, then the tokens come in SaslAuthenticate requests
//! (SaslHandshake v1) or as bare size-prefixed frames (v0). Mechanisms: PLAIN (users from
//! the listener's `PlainLoginModule` JAAS options `user_<name>="<password>"`) and
//! SCRAM-SHA-256/512 (credentials from the metadata image) and OAUTHBEARER (JWTs checked
//! against a JSON Web Key Set, `oauthbearer`). A failure is answered
//! SASL_AUTHENTICATION_FAILED (on v1) and closes the connection; nothing about the
//! secret is logged.
//!
//! Re-authentication (KIP-368): a session lasts `connections.max.reauth.ms` (per listener,
//! and per mechanism as `listener.name.<listener>.<mechanism>.connections.max.reauth.ms`),
//! or until the credential expires (an OAUTHBEARER token's `exp`), whichever comes first;
//! SaslAuthenticate v1+ answers that as `session_lifetime_ms`. A client re-authenticates on
//! its connection with a new SaslHandshake ([`SaslSession::reauthenticating`]) with the
//! same mechanism and as the same principal, else the re-authentication fails and the
//! connection is closed. The connection layer refuses a session's requests after it
//! expired (`network`).

pub(crate) mod jaas;
mod jwks;
pub(crate) mod oauthbearer;
pub(crate) mod scram;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ironlog_config::{BrokerConfig, ConfigValue};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::principal::KafkaPrincipal;
use super::SecurityError;
use oauthbearer::{JwtValidator, OAuthBearerServer, OAuthBearerStep, OAUTHBEARER};
use scram::{ScramCredential, ScramError, ScramMechanism, ScramServer, ScramStep};

const PLAIN: &str = "PLAIN";
const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// A listener's SASL settings, built once at start.
#[derive(Debug)]
pub(crate) struct SaslSettings {
    /// `sasl.enabled.mechanisms`, in the configured order.
    mechanisms: Vec<String>,
    /// PLAIN's static users (name → password) from the listener's JAAS configuration.
    plain_users: HashMap<String, String>,
    /// OAUTHBEARER's JWT validation, when the mechanism is enabled.
    oauthbearer: Option<JwtValidator>,
    /// `connections.max.reauth.ms` of each enabled mechanism, where above 0.
    max_reauth: HashMap<String, Duration>,
}

impl SaslSettings {
    pub(crate) async fn from_config(
        config: &BrokerConfig,
        listener: &str,
    ) -> Result<Self, SecurityError> {
        let invalid = |name: &str, message: String| SecurityError::Config {
            listener: listener.to_string(),
            name: name.to_string(),
            message,
        };
        let mechanisms = match config.listener_value(listener, "sasl.enabled.mechanisms") {
            Some(ConfigValue::List(names)) => names,
            _ => Vec::new(),
        };
        if mechanisms.is_empty() {
            return Err(invalid(
                "sasl.enabled.mechanisms",
                "names no mechanism".into(),
            ));
        }
        let mut plain_users = HashMap::new();
        let mut oauthbearer = None;
        for mechanism in &mechanisms {
            match mechanism.as_str() {
                PLAIN => {
                    let key = format!(
                        "listener.name.{}.plain.sasl.jaas.config",
                        listener.to_ascii_lowercase()
                    );
                    let text = config.listener_jaas_config(listener, PLAIN).ok_or_else(|| {
                        invalid(&key, "PLAIN is enabled but this listener has no JAAS configuration for it".into())
                    })?;
                    let entries = jaas::parse(text).map_err(|m| invalid(&key, m))?;
                    let entry = entries
                        .iter()
                        .find(|e| e.login_module == PLAIN_LOGIN_MODULE)
                        .ok_or_else(|| invalid(&key, format!("no {PLAIN_LOGIN_MODULE} entry")))?;
                    for (option, password) in &entry.options {
                        if let Some(user) = option.strip_prefix("user_") {
                            plain_users.insert(user.to_string(), password.clone());
                        }
                    }
                }
                OAUTHBEARER => {
                    oauthbearer = Some(
                        JwtValidator::from_config(config, listener)
                            .await
                            .map_err(|(key, message)| invalid(&key, message))?,
                    );
                }
                m if ScramMechanism::from_name(m).is_some() => {}
                other => {
                    return Err(invalid(
                        "sasl.enabled.mechanisms",
                        format!("SASL mechanism {other} is not implemented (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER are)"),
                    ))
                }
            }
        }
        let mut max_reauth = HashMap::new();
        for mechanism in &mechanisms {
            let ms = match config.listener_mechanism_value(
                listener,
                mechanism,
                "connections.max.reauth.ms",
            ) {
                Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
                    invalid(
                        &format!(
                            "listener.name.{}.{}.connections.max.reauth.ms",
                            listener.to_ascii_lowercase(),
                            mechanism.to_ascii_lowercase()
                        ),
                        format!("{raw:?} is not a number of milliseconds"),
                    )
                })?,
                None => config
                    .listener_value(listener, "connections.max.reauth.ms")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0),
            };
            if ms > 0 {
                max_reauth.insert(mechanism.clone(), Duration::from_millis(ms as u64));
            }
        }
        Ok(Self {
            mechanisms,
            plain_users,
            oauthbearer,
            max_reauth,
        })
    }

    /// How long a session of `mechanism` may last: Kafka's rule, the shorter of
    /// `connections.max.reauth.ms` and the credential's remaining lifetime (0 when that
    /// has already passed); `None` when neither bounds it.
    fn session_lifetime(
        &self,
        mechanism: &str,
        credential_expires_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Option<Duration> {
        let max_reauth = self.max_reauth.get(mechanism).copied();
        let credential = credential_expires_at_ms
            .map(|expires| Duration::from_millis(expires.saturating_sub(now_ms).max(0) as u64));
        match (max_reauth, credential) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What the connection sends back for a SASL frame.
#[derive(Debug)]
pub(crate) enum SaslReply {
    /// A Kafka response to the request with this header.
    Response {
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        body: Box<ResponseKind>,
    },
    /// A bare token (SaslHandshake v0 framing).
    Token(Vec<u8>),
}

/// The result of one frame during authentication.
#[derive(Debug)]
pub(crate) enum SaslOutcome {
    /// Not SASL's (ApiVersions): the connection serves it as a request.
    Request(Bytes),
    /// Send this; the exchange goes on.
    Continue(SaslReply),
    /// Send this; the connection is now `principal`'s, authenticated with `mechanism`, for
    /// `session_lifetime` (`None`: until it closes).
    Authenticated {
        reply: SaslReply,
        principal: KafkaPrincipal,
        mechanism: &'static str,
        session_lifetime: Option<Duration>,
    },
    /// Send `reply` if any, then close the connection; `reason` is for the log.
    Failed {
        reply: Option<SaslReply>,
        reason: String,
    },
}

/// The SASL state of one connection until it is authenticated (or re-authenticated).
pub(crate) struct SaslSession {
    state: State,
    /// While re-authenticating: the mechanism and principal of the session before, which
    /// the new one must keep.
    previous: Option<(&'static str, KafkaPrincipal)>,
}

enum State {
    Handshake,
    Authenticate {
        mechanism: Active,
        /// SaslHandshake v0: tokens are bare frames, not SaslAuthenticate requests.
        bare_tokens: bool,
    },
    /// A re-authentication asked for another mechanism than the session's: the next token
    /// is answered with this failure (as Kafka, after a successful handshake response).
    BadMechanism(String),
    Done,
}

enum Active {
    Plain,
    Scram(Box<ScramServer>),
    OAuthBearer(OAuthBearerServer),
}

impl Active {
    fn mechanism(&self) -> &'static str {
        match self {
            Active::Plain => PLAIN,
            Active::Scram(server) => server.mechanism().name(),
            Active::OAuthBearer(_) => OAUTHBEARER,
        }
    }
}

/// Kafka's message for a failed SASL authentication of `mechanism`.
fn failure_message(mechanism: &str) -> String {
    format!("Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}")
}

impl SaslSession {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Handshake,
            previous: None,
        }
    }

    /// A re-authentication of a session `principal` authenticated with `mechanism`, begun
    /// by the SaslHandshake the client sent on its authenticated connection.
    pub(crate) fn reauthenticating(mechanism: &'static str, principal: KafkaPrincipal) -> Self {
        Self {
            state: State::Handshake,
            previous: Some((mechanism, principal)),
        }
    }

    /// Handles one frame before authentication. `credential` finds a SCRAM user's credential.
    pub(crate) fn on_frame(
        &mut self,
        settings: &SaslSettings,
        mut frame: Bytes,
        credential: &dyn Fn(&str, ScramMechanism) -> Option<ScramCredential>,
    ) -> SaslOutcome {
        let failed = |reason: String| SaslOutcome::Failed {
            reply: None,
            reason,
        };
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => failed("a frame after the SASL exchange ended".into()),
            State::BadMechanism(message) => SaslOutcome::Failed {
                reply: bad_mechanism_reply(&frame, &message),
                reason: message,
            },
            State::Handshake => {
                let Some((api, version, correlation_id)) = request_prefix(&frame) else {
                    return failed(
                        "a frame too short for a request header during the SASL handshake".into(),
                    );
                };
                match api {
                    Some(ApiKey::ApiVersions) => {
                        self.state = State::Handshake;
                        SaslOutcome::Request(frame)
                    }
                    Some(ApiKey::SaslHandshake) if (0..=1).contains(&version) => {
                        let request = match decode::<SaslHandshakeRequest>(
                            &mut frame,
                            ApiKey::SaslHandshake,
                            version,
                        ) {
                            Ok(r) => r,
                            Err(e) => return failed(e),
                        };
                        let requested = request.mechanism.to_string();
                        let mut response = SaslHandshakeResponse::default().with_mechanisms(
                            settings
                                .mechanisms
                                .iter()
                                .map(|m| StrBytes::from_string(m.clone()))
                                .collect(),
                        );
                        let enabled = settings.mechanisms.contains(&requested);
                        let mechanism = match requested.as_str() {
                            PLAIN if enabled => Some(Active::Plain),
                            OAUTHBEARER if enabled && settings.oauthbearer.is_some() => {
                                Some(Active::OAuthBearer(OAuthBearerServer::default()))
                            }
                            m if enabled => ScramMechanism::from_name(m)
                                .map(|m| Active::Scram(Box::new(ScramServer::new(m)))),
                            _ => None,
                        };
                        let Some(mechanism) = mechanism else {
                            response.error_code = ResponseError::UnsupportedSaslMechanism.code();
                            return SaslOutcome::Failed {
                                reply: Some(SaslReply::Response {
                                    api: ApiKey::SaslHandshake,
                                    version,
                                    correlation_id,
                                    body: Box::new(ResponseKind::SaslHandshake(response)),
                                }),
                                reason: format!("the client asked for SASL mechanism {requested:?}, which this listener does not enable"),
                            };
                        };
                        self.state = match &self.previous {
                            Some((previous, _)) if *previous != mechanism.mechanism() => {
                                State::BadMechanism(format!(
                                    "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{previous}'",
                                    mechanism.mechanism()
                                ))
                            }
                            _ => State::Authenticate {
                                mechanism,
                                bare_tokens: version == 0,
                            },
                        };
                        SaslOutcome::Continue(SaslReply::Response {
                            api: ApiKey::SaslHandshake,
                            version,
                            correlation_id,
                            body: Box::new(ResponseKind::SaslHandshake(response)),
                        })
                    }
                    other => failed(format!(
                        "unexpected request {} before SASL authentication",
                        describe_api(other, api_key_of(&frame))
                    )),
                }
            }
            State::Authenticate {
                mut mechanism,
                bare_tokens,
            } => {
                let (token, header) = if bare_tokens {
                    (frame, None)
                } else {
                    let Some((api, version, correlation_id)) = request_prefix(&frame) else {
                        return failed(
                            "a frame too short for a request header during SASL authentication"
                                .into(),
                        );
                    };
                    if api != Some(ApiKey::SaslAuthenticate) || !(0..=2).contains(&version) {
                        return failed(format!(
                            "unexpected request {} during SASL authentication",
                            describe_api(api, api_key_of(&frame))
                        ));
                    }
                    match decode::<SaslAuthenticateRequest>(
                        &mut frame,
                        ApiKey::SaslAuthenticate,
                        version,
                    ) {
                        Ok(r) => (r.auth_bytes, Some((version, correlation_id))),
                        Err(e) => return failed(e),
                    }
                };
                let mechanism_name = match &mechanism {
                    Active::Plain => PLAIN,
                    Active::Scram(_) => "SCRAM",
                    Active::OAuthBearer(_) => OAUTHBEARER,
                };
                let step = match &mut mechanism {
                    Active::Plain => {
                        plain(settings, &token).map(|user| Step::Done(Vec::new(), user, None))
                    }
                    Active::Scram(server) => {
                        let scram_mechanism = server.mechanism();
                        server
                            .step(&token, |user| credential(user, scram_mechanism))
                            .map(|step| match step {
                                ScramStep::Challenge(c) => Step::Challenge(c),
                                ScramStep::Success(ok) => {
                                    Step::Done(ok.server_final, ok.user, None)
                                }
                            })
                            .map_err(|e: ScramError| {
                                (failure_message(scram_mechanism.name()), e.to_string())
                            })
                    }
                    Active::OAuthBearer(server) => match &settings.oauthbearer {
                        None => Err((
                            failure_message(OAUTHBEARER),
                            "OAUTHBEARER is not configured on this listener".to_string(),
                        )),
                        Some(validator) => server.step(validator, &token).map(|step| match step {
                            OAuthBearerStep::Challenge(error) => Step::Challenge(error),
                            OAuthBearerStep::Success(token) => {
                                Step::Done(Vec::new(), token.principal, Some(token.expires_at_ms))
                            }
                        }),
                    },
                };
                let reply = |bytes: Vec<u8>, error: Option<String>, lifetime: Option<Duration>| {
                    match header {
                        None => SaslReply::Token(bytes),
                        Some((version, correlation_id)) => {
                            let mut response = SaslAuthenticateResponse::default()
                                .with_auth_bytes(Bytes::from(bytes));
                            if let Some(message) = error {
                                response.error_code =
                                    ResponseError::SaslAuthenticationFailed.code();
                                response.error_message = Some(StrBytes::from_string(message));
                            }
                            // v1 has the field; a v0 client cannot be told (and is cut off all
                            // the same when the session ends, as Kafka does).
                            if version >= 1 {
                                response.session_lifetime_ms = lifetime.map_or(0, |d| {
                                    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
                                });
                            }
                            SaslReply::Response {
                                api: ApiKey::SaslAuthenticate,
                                version,
                                correlation_id,
                                body: Box::new(ResponseKind::SaslAuthenticate(response)),
                            }
                        }
                    }
                };
                match step {
                    Ok(Step::Challenge(challenge)) => {
                        self.state = State::Authenticate {
                            mechanism,
                            bare_tokens,
                        };
                        SaslOutcome::Continue(reply(challenge, None, None))
                    }
                    Ok(Step::Done(last, user, credential_expires_at_ms)) => {
                        let principal = KafkaPrincipal::user(user);
                        if let Some((_, previous)) = &self.previous {
                            if *previous != principal {
                                let message = format!(
                                    "Cannot change principals during re-authentication from {previous}: {principal}"
                                );
                                return SaslOutcome::Failed {
                                    reply: header
                                        .map(|_| reply(Vec::new(), Some(message.clone()), None)),
                                    reason: message,
                                };
                            }
                        }
                        let now_ms = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as i64);
                        let session_lifetime = settings.session_lifetime(
                            mechanism.mechanism(),
                            credential_expires_at_ms,
                            now_ms,
                        );
                        SaslOutcome::Authenticated {
                            reply: reply(last, None, session_lifetime),
                            principal,
                            mechanism: mechanism.mechanism(),
                            session_lifetime,
                        }
                    }
                    Err((client_message, reason)) => SaslOutcome::Failed {
                        reply: header.map(|_| reply(Vec::new(), Some(client_message), None)),
                        reason: format!("SASL {mechanism_name} authentication failed: {reason}"),
                    },
                }
            }
        }
    }
}

enum Step {
    Challenge(Vec<u8>),
    /// The last token to send, the authenticated user and when its credential expires
    /// (milliseconds since the epoch), if it does.
    Done(Vec<u8>, String, Option<i64>),
}

/// The SaslAuthenticate failure for a re-authentication that changed mechanism (none for
/// a bare v0 token, which has no response to carry it).
fn bad_mechanism_reply(frame: &[u8], message: &str) -> Option<SaslReply> {
    let (api, version, correlation_id) = request_prefix(frame)?;
    if api != Some(ApiKey::SaslAuthenticate) || !(0..=2).contains(&version) {
        return None;
    }
    let response = SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::SaslAuthenticationFailed.code())
        .with_error_message(Some(StrBytes::from_string(message.to_string())));
    Some(SaslReply::Response {
        api: ApiKey::SaslAuthenticate,
        version,
        correlation_id,
        body: Box::new(ResponseKind::SaslAuthenticate(response)),
    })
}

/// PLAIN (RFC 4616): `authzid NUL authcid NUL password`; Kafka's messages on failure.
fn plain(settings: &SaslSettings, token: &[u8]) -> Result<String, (String, String)> {
    let fail = |message: &str| (message.to_string(), message.to_string());
    let text =
        std::str::from_utf8(token).map_err(|_| fail("Invalid SASL/PLAIN response: not UTF-8"))?;
    let parts: Vec<&str> = text.split('\0').collect();
    if parts.len() != 3 {
        return Err(fail(&format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len()
        )));
    }
    let (authzid, user, password) = (parts[0], parts[1], parts[2]);
    if user.is_empty() {
        return Err(fail("Authentication failed: username not specified"));
    }
    if password.is_empty() {
        return Err(fail("Authentication failed: password not specified"));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(fail(
            "Authentication failed: Client requested an authorization id that is different from username",
        ));
    }
    let known = settings.plain_users.get(user);
    // Compare against something of the same shape for unknown users too.
    let expected = known.map(String::as_bytes).unwrap_or(b"\0unknown-user\0");
    let matches = bool::from(subtle::ConstantTimeEq::ct_eq(password.as_bytes(), expected));
    if known.is_some() && matches {
        Ok(user.to_string())
    } else {
        Err((
            "Authentication failed: Invalid username or password".to_string(),
            format!("invalid username or password for user {user:?}"),
        ))
    }
}

/// API key (if known), version and correlation id of a request frame.
fn request_prefix(frame: &[u8]) -> Option<(Option<ApiKey>, i16, i32)> {
    if frame.len() < 8 {
        return None;
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    Some((
        ApiKey::try_from(key).ok(),
        i16::from_be_bytes([frame[2], frame[3]]),
        i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    ))
}

fn api_key_of(frame: &[u8]) -> i16 {
    if frame.len() < 2 {
        return -1;
    }
    i16::from_be_bytes([frame[0], frame[1]])
}

fn describe_api(api: Option<ApiKey>, raw: i16) -> String {
    match api {
        Some(api) => format!("{api:?}"),
        None => format!("with API key {raw}"),
    }
}

/// Decodes the header and body of a SASL request.
fn decode<R: Decodable>(frame: &mut Bytes, api: ApiKey, version: i16) -> Result<R, String> {
    RequestHeader::decode(frame, api.request_header_version(version))
        .map_err(|e| format!("cannot decode the {api:?} v{version} header: {e}"))?;
    R::decode(frame, version).map_err(|e| format!("cannot decode {api:?} v{version}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SaslSettings {
        SaslSettings {
            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
            plain_users: HashMap::from([
                ("admin".to_string(), "admin-secret".to_string()),
                ("alice".to_string(), "alice-secret".to_string()),
            ]),
            oauthbearer: None,
            max_reauth: HashMap::from([("PLAIN".to_string(), Duration::from_millis(2_000))]),
        }
    }

    #[test]
    fn plain_checks_user_password_and_authzid() {
        let s = settings();
        assert_eq!(plain(&s, b"\0admin\0admin-secret").unwrap(), "admin");
        assert_eq!(plain(&s, b"admin\0admin\0admin-secret").unwrap(), "admin");
        for (bad, why) in [
            (&b"\0admin\0wrong"[..], "Invalid username or password"),
            (b"\0nobody\0admin-secret", "Invalid username or password"),
            (b"eve\0admin\0admin-secret", "authorization id"),
            (b"\0admin", "expected 3 tokens, got 2"),
            (b"\0\0x", "username not specified"),
            (b"\0admin\0", "password not specified"),
        ] {
            let (client, _) = plain(&s, bad).expect_err("must fail");
            assert!(
                client.contains(why),
                "{:?}: {client}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn request<M: kafka_protocol::protocol::Encodable>(
        api: ApiKey,
        version: i16,
        body: &M,
    ) -> Bytes {
        use kafka_protocol::protocol::Encodable;
        let mut buf = bytes::BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(1)
            .encode(&mut buf, api.request_header_version(version))
            .expect("encode header");
        body.encode(&mut buf, version).expect("encode body");
        buf.freeze()
    }

    /// Runs a PLAIN handshake and token through `session`.
    fn plain_exchange(session: &mut SaslSession, s: &SaslSettings, token: &[u8]) -> SaslOutcome {
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(PLAIN));
        assert!(matches!(
            session.on_frame(s, request(ApiKey::SaslHandshake, 1, &handshake), &|_, _| {
                None
            }),
            SaslOutcome::Continue(_)
        ));
        let authenticate =
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token));
        session.on_frame(
            s,
            request(ApiKey::SaslAuthenticate, 2, &authenticate),
            &|_, _| None,
        )
    }

    fn authenticate_response(outcome: &SaslOutcome) -> SaslAuthenticateResponse {
        let reply = match outcome {
            SaslOutcome::Authenticated { reply, .. } => reply,
            SaslOutcome::Failed {
                reply: Some(reply), ..
            } => reply,
            other => panic!("no SaslAuthenticate answer: {other:?}"),
        };
        match reply {
            SaslReply::Response { body, .. } => match body.as_ref() {
                ResponseKind::SaslAuthenticate(r) => r.clone(),
                other => panic!("not a SaslAuthenticate response: {other:?}"),
            },
            SaslReply::Token(_) => panic!("a bare token instead of a response"),
        }
    }

    #[test]
    fn the_session_lifetime_is_the_shorter_of_max_reauth_and_the_credential() {
        let s = settings();
        let ms = Duration::from_millis;
        assert_eq!(s.session_lifetime("PLAIN", None, 0), Some(ms(2_000)));
        assert_eq!(s.session_lifetime("PLAIN", Some(500), 0), Some(ms(500)));
        assert_eq!(s.session_lifetime("PLAIN", Some(9_000), 0), Some(ms(2_000)));
        assert_eq!(s.session_lifetime("SCRAM-SHA-256", None, 0), None);
        assert_eq!(
            s.session_lifetime("OAUTHBEARER", Some(7_000), 1_000),
            Some(ms(6_000))
        );
        assert_eq!(
            s.session_lifetime("OAUTHBEARER", Some(1_000), 5_000),
            Some(Duration::ZERO),
            "an expired credential's session is over at once"
        );
    }

    #[test]
    fn authentication_answers_the_session_lifetime_and_reauthentication_keeps_the_principal() {
        let s = settings();
        let mut session = SaslSession::new();
        let outcome = plain_exchange(&mut session, &s, b"\0admin\0admin-secret");
        assert_eq!(authenticate_response(&outcome).session_lifetime_ms, 2_000);
        let SaslOutcome::Authenticated {
            principal,
            mechanism,
            session_lifetime,
            ..
        } = outcome
        else {
            panic!("admin did not authenticate");
        };
        assert_eq!(
            (mechanism, session_lifetime),
            (PLAIN, Some(Duration::from_millis(2_000)))
        );

        let mut same = SaslSession::reauthenticating(mechanism, principal.clone());
        assert!(matches!(
            plain_exchange(&mut same, &s, b"\0admin\0admin-secret"),
            SaslOutcome::Authenticated { .. }
        ));

        let mut other = SaslSession::reauthenticating(mechanism, principal.clone());
        let outcome = plain_exchange(&mut other, &s, b"\0alice\0alice-secret");
        let response = authenticate_response(&outcome);
        assert_eq!(
            response.error_code,
            ResponseError::SaslAuthenticationFailed.code()
        );
        assert!(
            response
                .error_message
                .as_deref()
                .is_some_and(|m| m.contains("Cannot change principals")),
            "{:?}",
            response.error_message
        );

        let mut changed = SaslSession::reauthenticating("SCRAM-SHA-256", principal);
        let outcome = plain_exchange(&mut changed, &s, b"\0admin\0admin-secret");
        assert!(
            matches!(outcome, SaslOutcome::Failed { .. }),
            "a changed mechanism re-authenticated"
        );
        assert_eq!(
            authenticate_response(&outcome).error_code,
            ResponseError::SaslAuthenticationFailed.code()
        );
    }

    #[test]
    fn only_api_versions_and_the_handshake_come_before_authentication() {
        let s = settings();
        let mut session = SaslSession::new();
        // A Metadata v12 request header: key 3, version 12, correlation 7.
        let frame = Bytes::from_static(&[0, 3, 0, 12, 0, 0, 0, 7, 0, 0, 0]);
        assert!(matches!(
            session.on_frame(&s, frame, &|_, _| None),
            SaslOutcome::Failed { reply: None, .. }
        ));
        let mut session = SaslSession::new();
        let short = Bytes::from_static(&[0, 17]);
        assert!(matches!(
            session.on_frame(&s, short, &|_, _| None),
            SaslOutcome::Failed { .. }
        ));
    }
}
