//! SASL/OAUTHBEARER (RFC 7628) with JWT validation, as Kafka's `OAuthBearerSaslServer`
//! with its `OAuthBearerValidatorCallbackHandler`: the client's first message carries
//! `auth=Bearer <JWT>`; the JWT's signature is checked against a key of the configured
//! JSON Web Key Set (`sasl.oauthbearer.jwks.endpoint.url`: a `file://` URL or an
//! `https://` endpoint, kept up to date as [`super::jwks`] says), then `exp`, `nbf` and `iat` (within
//! `sasl.oauthbearer.clock.skew.seconds`), `iss` and `aud` when configured. The principal
//! is the `sasl.oauthbearer.sub.claim.name` claim. A refused token is answered with the
//! JSON error status `{"status":"invalid_token"}`; the client acknowledges it with `%x01`
//! and the exchange then fails with SASL_AUTHENTICATION_FAILED. Nothing about a token but
//! its principal and why it was refused reaches a log line.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironlog_config::{BrokerConfig, ConfigValue};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::jwks::{EndpointSettings, KeySource};

pub(crate) const OAUTHBEARER: &str = "OAUTHBEARER";
const LOGIN_MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";
const VALIDATOR_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
/// The error status a refused token is answered with (RFC 7628 section 3.2.2).
const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;
/// Signature algorithms accepted: asymmetric only (a JWKS of public keys cannot verify
/// an HMAC, and accepting one would let a public key act as a shared secret).
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A listener's OAUTHBEARER configuration is unusable: (key, message).
pub(crate) type ConfigError = (String, String);

/// How JWTs are validated on a listener, built once at start.
#[derive(Debug)]
pub(crate) struct JwtValidator {
    keys: KeySource,
    expected_issuer: Option<String>,
    expected_audience: Vec<String>,
    sub_claim_name: String,
    scope_claim_name: String,
    clock_skew_seconds: u64,
}

/// A token that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidatedToken {
    pub principal: String,
    /// `exp`, in milliseconds since the epoch: the session must not outlive it.
    pub expires_at_ms: i64,
}

impl JwtValidator {
    pub(crate) async fn from_config(
        config: &BrokerConfig,
        listener: &str,
    ) -> Result<Self, ConfigError> {
        let lower = listener.to_ascii_lowercase();
        let handler_key =
            format!("listener.name.{lower}.oauthbearer.sasl.server.callback.handler.class");
        match config.listener_mechanism_value(listener, OAUTHBEARER, "sasl.server.callback.handler.class") {
            Some(class) if class.trim() == VALIDATOR_HANDLER => {}
            Some(class) => {
                return Err((
                    handler_key,
                    format!("{} is not implemented; OAUTHBEARER needs {VALIDATOR_HANDLER} (JWT validation against a JWKS)", class.trim()),
                ))
            }
            None => {
                return Err((
                    handler_key,
                    format!("OAUTHBEARER is enabled but this listener names no server callback handler; set it to {VALIDATOR_HANDLER} (the unsecured validator Kafka defaults to accepts unsigned tokens and is not offered)"),
                ))
            }
        }
        let jaas_key = format!("listener.name.{lower}.oauthbearer.sasl.jaas.config");
        let jaas = config
            .listener_jaas_config(listener, OAUTHBEARER)
            .ok_or_else(|| {
                (
                    jaas_key.clone(),
                    "OAUTHBEARER is enabled but this listener has no JAAS configuration for it"
                        .to_string(),
                )
            })?;
        let entries = super::jaas::parse(jaas).map_err(|m| (jaas_key.clone(), m))?;
        if !entries.iter().any(|e| e.login_module == LOGIN_MODULE) {
            return Err((jaas_key, format!("no {LOGIN_MODULE} entry")));
        }
        let string = |key: &str| match config.value(key) {
            Some(ConfigValue::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
        const URL_KEY: &str = "sasl.oauthbearer.jwks.endpoint.url";
        let url = string(URL_KEY).ok_or_else(|| {
            (
                URL_KEY.to_string(),
                "OAUTHBEARER is enabled but no JSON Web Key Set is configured".to_string(),
            )
        })?;
        let refresh_every = Duration::from_millis(
            config
                .value("sasl.oauthbearer.jwks.endpoint.refresh.ms")
                .and_then(|v| v.as_i64())
                .unwrap_or(3_600_000)
                .max(1) as u64,
        );
        let millis = |key: &str, default: i64| {
            Duration::from_millis(
                config
                    .value(key)
                    .and_then(|v| v.as_i64())
                    .unwrap_or(default)
                    .max(0) as u64,
            )
        };
        let keys = match url.split_once("://") {
            Some((scheme, path)) if scheme.eq_ignore_ascii_case("file") && !path.is_empty() => {
                KeySource::file(PathBuf::from(path), refresh_every)
                    .map_err(|m| (URL_KEY.to_string(), m))?
            }
            Some((scheme, _))
                if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") =>
            {
                let entry = entries
                    .iter()
                    .find(|e| e.login_module == LOGIN_MODULE)
                    .map(|e| &e.options);
                let tls = if scheme.eq_ignore_ascii_case("https") {
                    let options = entry.cloned().unwrap_or_default();
                    Some(super::jwks::endpoint_tls(&options).map_err(|m| {
                        (
                            jaas_key.clone(),
                            format!("TLS to the JSON Web Key Set endpoint {url}: {m}"),
                        )
                    })?)
                } else {
                    None
                };
                KeySource::endpoint(EndpointSettings {
                    url: url.clone(),
                    refresh_every,
                    retry_backoff: millis("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", 100)
                        .max(Duration::from_millis(1)),
                    retry_backoff_max: millis(
                        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
                        10_000,
                    ),
                    tls,
                })
                .await
                .map_err(|m| (URL_KEY.to_string(), m))?
            }
            _ => {
                return Err((
                    URL_KEY.to_string(),
                    format!("{url}: not a file://, https:// or http:// URL"),
                ))
            }
        };
        let expected_audience = match config.value("sasl.oauthbearer.expected.audience") {
            Some(ConfigValue::List(names)) => names.into_iter().filter(|n| !n.is_empty()).collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            keys,
            expected_issuer: string("sasl.oauthbearer.expected.issuer"),
            expected_audience,
            sub_claim_name: string("sasl.oauthbearer.sub.claim.name")
                .unwrap_or_else(|| "sub".into()),
            scope_claim_name: string("sasl.oauthbearer.scope.claim.name")
                .unwrap_or_else(|| "scope".into()),
            clock_skew_seconds: config
                .value("sasl.oauthbearer.clock.skew.seconds")
                .and_then(|v| v.as_i64())
                .unwrap_or(30)
                .max(0) as u64,
        })
    }

    /// The key that should have signed a token with key id `kid`.
    fn decoding_key(&self, kid: Option<&str>) -> Result<DecodingKey, String> {
        let jwk = self.keys.find(kid)?;
        DecodingKey::from_jwk(&jwk)
            .map_err(|e| format!("key {kid:?} of the JSON Web Key Set is unusable: {e}"))
    }

    /// Validates a compact JWS; `Err` says why it is refused (never the token itself).
    pub(crate) fn validate(&self, token: &str) -> Result<ValidatedToken, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("the token is not a JWT: {e}"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(format!(
                "signature algorithm {:?} is not accepted",
                header.alg
            ));
        }
        let key = self.decoding_key(header.kid.as_deref())?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.clock_skew_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iat"]);
        match &self.expected_issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        if self.expected_audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.expected_audience);
        }
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| format!("the token is refused: {e}"))?
        .claims;
        let number = |name: &str| match claims.get(name) {
            None => Err(format!("the token has no {name:?} claim")),
            Some(value) => value
                .as_f64()
                .ok_or_else(|| format!("claim {name:?} is not a number")),
        };
        let expires_at = number("exp")?;
        let issued_at = number("iat")?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        if issued_at > now + self.clock_skew_seconds as f64 {
            return Err("the token's issue time (iat) is in the future".into());
        }
        let principal = match claims.get(&self.sub_claim_name) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(_) => {
                return Err(format!(
                    "claim {:?} is not a non-empty string",
                    self.sub_claim_name
                ))
            }
            None => return Err(format!("the token has no {:?} claim", self.sub_claim_name)),
        };
        match claims.get(&self.scope_claim_name) {
            None | Some(serde_json::Value::String(_)) => {}
            Some(serde_json::Value::Array(scopes))
                if scopes
                    .iter()
                    .all(|s| s.as_str().is_some_and(|s| !s.trim().is_empty())) => {}
            Some(_) => {
                return Err(format!(
                    "claim {:?} is neither a string nor a list of scopes",
                    self.scope_claim_name
                ))
            }
        }
        Ok(ValidatedToken {
            principal,
            expires_at_ms: (expires_at * 1000.0) as i64,
        })
    }
}

/// The parts of a client's first message (RFC 7628 section 3.1).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ClientInitialResponse {
    pub authorization_id: String,
    pub token: String,
}

/// Parses `n,[a=<authzid>],\x01auth=Bearer <token>\x01[key=value\x01]*\x01`.
pub(crate) fn parse_client_initial_response(
    message: &[u8],
) -> Result<ClientInitialResponse, String> {
    let text = std::str::from_utf8(message)
        .map_err(|_| "Invalid OAUTHBEARER client first message: not UTF-8".to_string())?;
    let invalid = || "Invalid OAUTHBEARER client first message".to_string();
    let rest = text.strip_prefix("n,").ok_or_else(invalid)?;
    let (authzid, rest) = rest.split_once(",\u{1}").ok_or_else(invalid)?;
    let authorization_id = match authzid {
        "" => String::new(),
        a => a
            .strip_prefix("a=")
            .filter(|a| !a.is_empty())
            .ok_or_else(invalid)?
            .to_string(),
    };
    let pairs = rest.strip_suffix('\u{1}').ok_or_else(invalid)?;
    let mut auth = None;
    for pair in pairs.split_terminator('\u{1}') {
        let (key, value) = pair.split_once('=').ok_or_else(invalid)?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid());
        }
        if !value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) || b" \t\r\n".contains(&b))
        {
            return Err(invalid());
        }
        if key == "auth" {
            auth = Some(value);
        }
    }
    let auth =
        auth.ok_or_else(|| "Invalid OAUTHBEARER client first message: no auth".to_string())?;
    let (scheme, token) = auth.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(format!(
            "Invalid scheme in OAUTHBEARER client first message: {scheme}"
        ));
    }
    let token = token.trim_start_matches(' ');
    let token_chars = |b: u8| b.is_ascii_alphanumeric() || b"-_~+/.=".contains(&b);
    if token.is_empty() || !token.bytes().all(token_chars) {
        return Err(invalid());
    }
    Ok(ClientInitialResponse {
        authorization_id,
        token: token.to_string(),
    })
}

/// One connection's OAUTHBEARER exchange.
#[derive(Debug, Default)]
pub(crate) struct OAuthBearerServer {
    /// Why the last token was refused, once its error status was sent.
    refused: Option<String>,
}

/// What the exchange does next.
#[derive(Debug)]
pub(crate) enum OAuthBearerStep {
    /// Send the error status; the client answers `%x01`.
    Challenge(Vec<u8>),
    Success(ValidatedToken),
}

impl OAuthBearerServer {
    /// One client message. `Err((for the client, for the log))` ends the exchange.
    pub(crate) fn step(
        &mut self,
        validator: &JwtValidator,
        message: &[u8],
    ) -> Result<OAuthBearerStep, (String, String)> {
        if message == [1] {
            if let Some(reason) = self.refused.take() {
                return Err((INVALID_TOKEN.to_string(), reason));
            }
        }
        self.refused = None;
        let initial = parse_client_initial_response(message)
            .map_err(|e| (super::failure_message(OAUTHBEARER), e))?;
        match validator.validate(&initial.token) {
            Err(reason) => {
                self.refused = Some(reason);
                Ok(OAuthBearerStep::Challenge(
                    INVALID_TOKEN.as_bytes().to_vec(),
                ))
            }
            Ok(token) => {
                if !initial.authorization_id.is_empty()
                    && initial.authorization_id != token.principal
                {
                    let message = format!("Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})", initial.authorization_id, token.principal);
                    return Err((message.clone(), message));
                }
                Ok(OAuthBearerStep::Success(token))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};

    const HANDLER: &str =
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class";
    const JAAS: &str = "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;";

    fn config(lines: &[String]) -> BrokerConfig {
        let mut all = vec![
            "listeners=SASL_PLAINTEXT://127.0.0.1:0".to_string(),
            "advertised.listeners=SASL_PLAINTEXT://127.0.0.1:0".to_string(),
            "sasl.enabled.mechanisms=OAUTHBEARER".to_string(),
            "inter.broker.listener.name=SASL_PLAINTEXT".to_string(),
        ];
        all.extend_from_slice(lines);
        BrokerConfig::load(None, &all).expect("a valid broker configuration")
    }

    /// A JWKS file with one P-256 key (no kid) and its signing key.
    /// A token's claims for subject `sub`, issued now and expiring in a minute.
    fn fresh_claims(sub: &str) -> serde_json::Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is past 1970")
            .as_secs();
        serde_json::json!({"sub": sub, "iat": now, "exp": now + 60})
    }

    fn jwks(dir: &std::path::Path) -> (String, EncodingKey) {
        let pair = rcgen::KeyPair::generate().expect("a P-256 key");
        let point = pair.public_key_raw();
        let set = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }]});
        let path = dir.join("jwks.json");
        std::fs::write(&path, set.to_string()).expect("write the JWKS");
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("a signing key");
        (
            format!(
                "sasl.oauthbearer.jwks.endpoint.url=file://{}",
                path.display()
            ),
            key,
        )
    }

    fn handler(class: &str) -> String {
        format!("{HANDLER}={class}")
    }

    #[tokio::test]
    async fn unusable_oauthbearer_settings_are_refused_at_start_with_the_key_named() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (url, _) = jwks(dir.path());
        let cases = [
            (vec![JAAS.to_string(), url.clone()], HANDLER, "names no server callback handler"),
            (
                vec![JAAS.to_string(), url.clone(), handler("org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler")],
                HANDLER,
                "is not implemented",
            ),
            (
                vec![JAAS.to_string(), handler(VALIDATOR_HANDLER), "sasl.oauthbearer.jwks.endpoint.url=ftp://idp.example/jwks".into()],
                "sasl.oauthbearer.jwks.endpoint.url",
                "not a file://, https:// or http:// URL",
            ),
            (
                // nothing listens on port 1: the broker does not start without its keys
                vec![JAAS.to_string(), handler(VALIDATOR_HANDLER), "sasl.oauthbearer.jwks.endpoint.url=http://127.0.0.1:1/jwks".into()],
                "sasl.oauthbearer.jwks.endpoint.url",
                "GET http://127.0.0.1:1/jwks",
            ),
            (
                vec![JAAS.to_string(), handler(VALIDATOR_HANDLER), "sasl.oauthbearer.jwks.endpoint.url=file:///no/such/jwks.json".into()],
                "sasl.oauthbearer.jwks.endpoint.url",
                "cannot read",
            ),
            (vec![JAAS.to_string(), handler(VALIDATOR_HANDLER)], "sasl.oauthbearer.jwks.endpoint.url", "no JSON Web Key Set"),
            (vec![url.clone(), handler(VALIDATOR_HANDLER)], "oauthbearer.sasl.jaas.config", "no JAAS configuration"),
        ];
        for (lines, key, why) in cases {
            let (name, message) = JwtValidator::from_config(&config(&lines), "SASL_PLAINTEXT")
                .await
                .expect_err("the settings must be refused");
            assert!(
                name.contains(key),
                "{lines:?}: refused under {name}, not {key}"
            );
            assert!(message.contains(why), "{lines:?}: {message}");
        }
    }

    /// An RSA key made by the openssl command: the PEM and the JWK of its public half.
    fn rsa_key(dir: &std::path::Path, kid: &str) -> (Vec<u8>, serde_json::Value) {
        let pem_path = dir.join(format!("{kid}.pem"));
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("the openssl command (apt-get install openssl) makes the test's RSA key");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        let pem_file = pem_path.to_str().expect("a UTF-8 temp path");
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            pem_file,
        ]);
        let modulus = String::from_utf8(run(&["rsa", "-in", pem_file, "-noout", "-modulus"]))
            .expect("openssl prints the modulus as text");
        let hex = modulus
            .trim()
            .strip_prefix("Modulus=")
            .expect("Modulus=<hex>");
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
            .collect();
        let jwk = serde_json::json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB",
        });
        (std::fs::read(&pem_path).expect("read the RSA key"), jwk)
    }

    #[tokio::test]
    async fn rs256_tokens_are_checked_against_the_rsa_key_their_kid_names() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (pem_a, jwk_a) = rsa_key(dir.path(), "rsa-a");
        let (pem_b, jwk_b) = rsa_key(dir.path(), "rsa-b");
        let path = dir.path().join("jwks.json");
        std::fs::write(
            &path,
            serde_json::json!({"keys": [jwk_a, jwk_b]}).to_string(),
        )
        .expect("write the JWKS");
        let validator = JwtValidator::from_config(
            &config(&[
                JAAS.to_string(),
                format!(
                    "sasl.oauthbearer.jwks.endpoint.url=file://{}",
                    path.display()
                ),
                handler(VALIDATOR_HANDLER),
            ]),
            "SASL_PLAINTEXT",
        )
        .await
        .expect("a validator");
        let claims = fresh_claims("bob");
        let sign = |pem: &[u8], kid: Option<&str>| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = kid.map(str::to_string);
            let key = EncodingKey::from_rsa_pem(pem).expect("an RSA signing key");
            jsonwebtoken::encode(&header, &claims, &key).expect("sign")
        };
        assert_eq!(
            validator
                .validate(&sign(&pem_b, Some("rsa-b")))
                .map(|t| t.principal),
            Ok("bob".to_string())
        );
        assert!(
            validator.validate(&sign(&pem_a, Some("rsa-b"))).is_err(),
            "a token signed by key a but naming key b is refused"
        );
        let no_kid = validator
            .validate(&sign(&pem_a, None))
            .expect_err("without kid, a set of two keys cannot say which one signed");
        assert!(no_kid.contains("no key id"), "{no_kid}");
    }

    #[tokio::test]
    async fn the_only_key_verifies_tokens_without_kid_and_hmac_tokens_are_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (url, key) = jwks(dir.path());
        let validator = JwtValidator::from_config(
            &config(&[JAAS.to_string(), url, handler(VALIDATOR_HANDLER)]),
            "SASL_PLAINTEXT",
        )
        .await
        .expect("a validator");
        let claims = fresh_claims("alice");
        let now = claims["iat"].as_u64().expect("iat is a number");
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).unwrap();
        assert_eq!(
            validator.validate(&token),
            Ok(ValidatedToken {
                principal: "alice".into(),
                expires_at_ms: (now + 60) as i64 * 1000
            })
        );
        let hmac = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"a public key is no shared secret"),
        )
        .unwrap();
        let refused = validator
            .validate(&hmac)
            .expect_err("an HMAC token must be refused");
        assert!(refused.contains("HS256"), "{refused}");
        let mut future = claims.clone();
        future["iat"] = (now + 3600).into();
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &future, &key).unwrap();
        assert!(validator.validate(&token).is_err_and(|e| e.contains("iat")));
    }

    #[test]
    fn client_first_messages_are_parsed_as_rfc_7628_says() {
        let parsed =
            parse_client_initial_response(b"n,,\x01auth=Bearer abc.def.ghi\x01\x01").unwrap();
        assert_eq!(parsed.token, "abc.def.ghi");
        assert_eq!(parsed.authorization_id, "");
        let parsed =
            parse_client_initial_response(b"n,a=alice,\x01auth=Bearer x.y.z\x01traceId=42\x01\x01")
                .unwrap();
        assert_eq!(parsed.authorization_id, "alice");
        assert_eq!(parsed.token, "x.y.z");
        for bad in [
            &b""[..],
            b"n,,\x01\x01",
            b"y,,\x01auth=Bearer x\x01\x01",
            b"n,,\x01auth=Basic x\x01\x01",
            b"n,,\x01auth=Bearer x",
            b"n,,\x01auth=Bearer \x01\x01",
            b"n,,\x01auth=Bearer a\"b\x01\x01",
            b"n,,\x01a-b=c\x01auth=Bearer x\x01\x01",
            b"\xff\xfe",
        ] {
            assert!(
                parse_client_initial_response(bad).is_err(),
                "{:?} must be refused",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
