//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side, as Kafka's
//! `ScramSaslServer`: client-first (`n,[a=authzid],n=user,r=nonce`) → server-first
//! (`r=nonce+ours,s=salt,i=iterations`) → client-final (`c=binding,r=nonce,p=proof`) →
//! server-final (`v=signature`). Credentials are Kafka's: salt, StoredKey, ServerKey and
//! iteration count — never the password; the controller derives them from the salted
//! password AlterUserScramCredentials carries.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// A SCRAM mechanism, with Kafka's `ScramMechanism` type ids and iteration bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    pub(crate) const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub(crate) fn name(&self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Kafka's wire id (`ScramMechanism.type()` in the Alter/DescribeUserScramCredentials APIs).
    pub(crate) fn type_id(&self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub(crate) fn from_type_id(id: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.type_id() == id)
    }

    /// RFC 7677's minimum, Kafka's `ScramMechanism.minIterations`.
    pub(crate) const MIN_ITERATIONS: i32 = 4096;
    /// Kafka's upper bound for AlterUserScramCredentials.
    pub(crate) const MAX_ITERATIONS: i32 = 16384;

    fn hash(&self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        match self {
            ScramMechanism::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this mechanism's HMAC (what a client computes).
    pub(crate) fn salted_password(&self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }

    /// The stored credential for a salted password (Kafka's `ScramFormatter.generateCredential`).
    pub(crate) fn credential(
        &self,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = self.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: self.hash(&client_key),
            server_key: self.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }
}

/// What the broker keeps of a SCRAM user: enough to verify a proof, not to make one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScramCredential {
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub stored_key: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

mod base64_bytes {
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Why a SCRAM exchange failed. The client hears Kafka's generic sentence; the log gets this.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("unknown user or no {0} credential")]
    UnknownUser(&'static str),
    #[error("the authorization id differs from the user name")]
    AuthzidMismatch,
    #[error("delegation tokens (tokenauth) are not supported")]
    TokenAuth,
    #[error("the client's {0} does not match the exchange")]
    Mismatch(&'static str),
    #[error("invalid proof (wrong password)")]
    InvalidProof,
    #[error("a SCRAM message after the exchange completed")]
    Completed,
    #[error("the server refused the exchange: {0}")]
    ServerRefused(String),
    #[error("the server asks for {0} iterations, fewer than SCRAM allows")]
    TooFewIterations(u32),
}

/// A successful exchange: the user and the server-final message to send.
#[derive(Debug)]
pub(crate) struct ScramSuccess {
    pub user: String,
    pub server_final: Vec<u8>,
}

/// One server-side SCRAM exchange.
pub(crate) struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
}

enum State {
    AwaitingClientFirst,
    AwaitingClientFinal {
        user: String,
        gs2_header: String,
        nonce: String,
        client_first_bare: String,
        server_first: String,
        credential: ScramCredential,
    },
    Done,
}

/// What a step returns: a message to send, or the end of the exchange.
pub(crate) enum ScramStep {
    Challenge(Vec<u8>),
    Success(ScramSuccess),
}

impl ScramServer {
    pub(crate) fn new(mechanism: ScramMechanism) -> Self {
        Self {
            mechanism,
            state: State::AwaitingClientFirst,
        }
    }

    pub(crate) fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Handles one client message; `lookup` finds a user's credential for this mechanism.
    pub(crate) fn step(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingClientFirst => {
                let first = parse_client_first(text)?;
                if first.token_auth {
                    return Err(ScramError::TokenAuth);
                }
                if first.authzid.as_deref().is_some_and(|a| a != first.user) {
                    return Err(ScramError::AuthzidMismatch);
                }
                let credential = lookup(&first.user)
                    .filter(|c| c.iterations >= ScramMechanism::MIN_ITERATIONS)
                    .ok_or(ScramError::UnknownUser(self.mechanism.name()))?;
                // Letters and digits, as Kafka's base-36 nonces: nothing a client could escape.
                let server_nonce: String = {
                    use rand::Rng;
                    rand::thread_rng()
                        .sample_iter(&rand::distributions::Alphanumeric)
                        .take(32)
                        .map(char::from)
                        .collect()
                };
                let nonce = format!("{}{server_nonce}", first.nonce);
                let server_first = format!(
                    "r={nonce},s={},i={}",
                    BASE64.encode(&credential.salt),
                    credential.iterations
                );
                self.state = State::AwaitingClientFinal {
                    user: first.user,
                    gs2_header: first.gs2_header,
                    nonce,
                    client_first_bare: first.bare,
                    server_first: server_first.clone(),
                    credential,
                };
                Ok(ScramStep::Challenge(server_first.into_bytes()))
            }
            State::AwaitingClientFinal {
                user,
                gs2_header,
                nonce,
                client_first_bare,
                server_first,
                credential,
            } => {
                let (without_proof, proof) = text
                    .rsplit_once(",p=")
                    .ok_or(ScramError::Malformed("client-final without a proof"))?;
                let mut fields = without_proof.split(',');
                let binding = fields.next().and_then(|f| f.strip_prefix("c=")).ok_or(
                    ScramError::Malformed("client-final without channel binding"),
                )?;
                let client_nonce = fields
                    .next()
                    .and_then(|f| f.strip_prefix("r="))
                    .ok_or(ScramError::Malformed("client-final without a nonce"))?;
                let binding = BASE64
                    .decode(binding)
                    .map_err(|_| ScramError::Malformed("channel binding is not base64"))?;
                if binding != gs2_header.as_bytes() {
                    return Err(ScramError::Mismatch("channel binding"));
                }
                if client_nonce != nonce {
                    return Err(ScramError::Mismatch("nonce"));
                }
                let proof = BASE64
                    .decode(proof)
                    .map_err(|_| ScramError::Malformed("proof is not base64"))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let m = self.mechanism;
                let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err(ScramError::InvalidProof);
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                let stored_key = m.hash(&client_key);
                if !bool::from(subtle::ConstantTimeEq::ct_eq(
                    stored_key.as_slice(),
                    credential.stored_key.as_slice(),
                )) {
                    return Err(ScramError::InvalidProof);
                }
                let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
                Ok(ScramStep::Success(ScramSuccess {
                    user,
                    server_final: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
                }))
            }
            State::Done => Err(ScramError::Completed),
        }
    }
}

struct ClientFirst {
    gs2_header: String,
    authzid: Option<String>,
    user: String,
    nonce: String,
    bare: String,
    token_auth: bool,
}

/// `n,[a=authzid],n=user,r=nonce[,ext=value...]` (Kafka accepts no channel binding).
fn parse_client_first(text: &str) -> Result<ClientFirst, ScramError> {
    let rest = text.strip_prefix("n,").ok_or(ScramError::Malformed(
        "client-first must start with the gs2 header n,",
    ))?;
    let (authzid, bare) = rest.split_once(',').ok_or(ScramError::Malformed(
        "client-first without an authorization id field",
    ))?;
    let authzid = match authzid {
        "" => None,
        a => Some(decode_saslname(
            a.strip_prefix("a=")
                .ok_or(ScramError::Malformed("bad authorization id field"))?,
        )?),
    };
    let gs2_header = format!("n,{},", &rest[..rest.len() - bare.len() - 1]);
    let mut fields = bare.split(',');
    let user = fields
        .next()
        .and_then(|f| f.strip_prefix("n="))
        .ok_or(ScramError::Malformed("client-first without a user name"))?;
    let user = decode_saslname(user)?;
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or(ScramError::Malformed("client-first without a nonce"))?
        .to_string();
    let mut token_auth = false;
    for extension in fields {
        let (key, value) = extension
            .split_once('=')
            .ok_or(ScramError::Malformed("bad extension"))?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(ScramError::Malformed("bad extension name"));
        }
        if key == "tokenauth" && value.eq_ignore_ascii_case("true") {
            token_auth = true;
        }
    }
    if user.is_empty() {
        return Err(ScramError::Malformed("empty user name"));
    }
    Ok(ClientFirst {
        gs2_header,
        authzid,
        user,
        nonce,
        bare: bare.to_string(),
        token_auth,
    })
}

/// RFC 5802 saslname: `=2C` is `,`, `=3D` is `=`, any other `=` is an error.
fn decode_saslname(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in a user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The client half of one SCRAM exchange, as the nodes' own clients run it against another
/// node's SASL listener (Kafka's `ScramSaslClient`): client-first, then client-final from
/// the server-first, then the server-final's signature checked, so that a node also knows
/// it talks to a server that holds the credential.
pub(crate) struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    nonce: String,
    client_first_bare: String,
    /// The server signature the server-final must carry, once client-final is made.
    server_signature: Option<Vec<u8>>,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    pub(crate) fn new(mechanism: ScramMechanism, user: &str, password: &str) -> Self {
        let nonce: String = {
            use rand::Rng;
            rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(32)
                .map(char::from)
                .collect()
        };
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Self {
            mechanism,
            password: password.to_string(),
            client_first_bare: format!("n={user},r={nonce}"),
            nonce,
            server_signature: None,
        }
    }

    /// `n,,n=user,r=nonce`.
    pub(crate) fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message answering `server_first` (`r=…,s=…,i=…`).
    pub(crate) fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(ScramError::ServerRefused(error.to_string()));
        }
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for field in text.split(',') {
            match field.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(ScramError::Malformed("server-first without a nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err(ScramError::Mismatch("nonce"));
        }
        let salt = BASE64
            .decode(salt.ok_or(ScramError::Malformed("server-first without a salt"))?)
            .map_err(|_| ScramError::Malformed("salt is not base64"))?;
        let iterations: u32 = iterations
            .ok_or(ScramError::Malformed(
                "server-first without an iteration count",
            ))?
            .parse()
            .map_err(|_| ScramError::Malformed("iteration count is not a number"))?;
        if iterations < ScramMechanism::MIN_ITERATIONS as u32 {
            return Err(ScramError::TooFewIterations(iterations));
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        // `biws` = base64("n,,"): no channel binding, no authorization id.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let client_signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.server_signature = Some(m.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message (`v=signature`, or `e=error`).
    pub(crate) fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text =
            std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(ScramError::ServerRefused(error.to_string()));
        }
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or(ScramError::Malformed("server-final without a signature"))?;
        let expected = self
            .server_signature
            .as_deref()
            .ok_or(ScramError::Malformed("server-final before client-final"))?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            signature.as_slice(),
            expected,
        )) {
            return Err(ScramError::Mismatch("server signature"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example: user `user`, password `pencil`.
    #[test]
    fn rfc_7677_example_verifies_and_signs() {
        let m = ScramMechanism::Sha256;
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let credential = m.credential(&salt, &salted, 4096);
        let mut server = ScramServer::new(m);
        let first = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        let ScramStep::Challenge(server_first) =
            server.step(first, |_| Some(credential.clone())).unwrap()
        else {
            panic!("the first step is a challenge");
        };
        let server_first = String::from_utf8(server_first).unwrap();
        assert!(
            server_first.starts_with("r=rOprNGfwEbeRWgbNEkqO"),
            "{server_first}"
        );
        assert!(
            server_first.ends_with(",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            "{server_first}"
        );
        // The client's side, computed here as a client would.
        let nonce = &server_first[2..server_first.find(",s=").unwrap()];
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("n=user,r=rOprNGfwEbeRWgbNEkqO,{server_first},{without_proof}");
        let client_key = m.hmac(&salted, b"Client Key");
        let signature = m.hmac(&m.hash(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let final_msg = format!("{without_proof},p={}", BASE64.encode(&proof));
        let ScramStep::Success(ok) = server.step(final_msg.as_bytes(), |_| None).unwrap() else {
            panic!("a right proof succeeds");
        };
        assert_eq!(ok.user, "user");
        let server_key = m.hmac(&salted, b"Server Key");
        let expected = format!("v={}", BASE64.encode(m.hmac(&server_key, auth.as_bytes())));
        assert_eq!(String::from_utf8(ok.server_final).unwrap(), expected);
        assert!(matches!(
            server.step(b"again", |_| None),
            Err(ScramError::Completed)
        ));
    }

    #[test]
    fn a_wrong_proof_and_bad_messages_fail() {
        let m = ScramMechanism::Sha512;
        let credential = m.credential(b"salt", &m.salted_password(b"right", b"salt", 4096), 4096);
        let mut server = ScramServer::new(m);
        let ScramStep::Challenge(sf) = server
            .step(b"n,,n=bob,r=abc", |_| Some(credential.clone()))
            .unwrap()
        else {
            panic!("challenge");
        };
        let sf = String::from_utf8(sf).unwrap();
        let nonce = &sf[2..sf.find(",s=").unwrap()];
        let bad = format!("c=biws,r={nonce},p={}", BASE64.encode([0u8; 64]));
        assert_eq!(
            server.step(bad.as_bytes(), |_| None).err(),
            Some(ScramError::InvalidProof)
        );
        for bad in [
            &b"y,,n=bob,r=abc"[..],
            b"n,,r=abc",
            b"n,,n=bo=b,r=x",
            b"n,,n=bob",
            b"\xff",
        ] {
            let mut s = ScramServer::new(m);
            assert!(
                matches!(
                    s.step(bad, |_| Some(credential.clone())),
                    Err(ScramError::Malformed(_))
                ),
                "{:?} must be malformed",
                String::from_utf8_lossy(bad)
            );
        }
        let mut s = ScramServer::new(m);
        assert_eq!(
            s.step(b"n,a=eve,n=bob,r=abc", |_| Some(credential.clone()))
                .err(),
            Some(ScramError::AuthzidMismatch)
        );
        let mut s = ScramServer::new(m);
        assert_eq!(
            s.step(b"n,,n=nobody,r=abc", |_| None).err(),
            Some(ScramError::UnknownUser("SCRAM-SHA-512"))
        );
        assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
    }

    #[test]
    fn the_client_half_authenticates_against_the_server_half_and_checks_it() {
        for mechanism in ScramMechanism::ALL {
            let salt = b"0123456789abcdef";
            let salted = mechanism.salted_password(b"broker-secret", salt, 4096);
            let credential = mechanism.credential(salt, &salted, 4096);
            let mut client = ScramClient::new(mechanism, "broker", "broker-secret");
            let mut server = ScramServer::new(mechanism);
            let ScramStep::Challenge(server_first) = server
                .step(&client.client_first(), |u| {
                    (u == "broker").then(|| credential.clone())
                })
                .unwrap_or_else(|e| panic!("{mechanism:?} client-first refused: {e}"))
            else {
                panic!("{mechanism:?}: no server-first");
            };
            let client_final = client.client_final(&server_first).unwrap();
            let ScramStep::Success(success) = server
                .step(&client_final, |_| None)
                .unwrap_or_else(|e| panic!("{mechanism:?} client-final refused: {e}"))
            else {
                panic!("{mechanism:?}: no success");
            };
            assert_eq!(success.user, "broker");
            client
                .verify_server_final(&success.server_final)
                .unwrap_or_else(|e| panic!("{mechanism:?} server-final refused: {e}"));
            assert_eq!(
                client.verify_server_final(b"v=AAAA"),
                Err(ScramError::Mismatch("server signature")),
                "a forged server signature must be refused"
            );

            let mut wrong = ScramClient::new(mechanism, "broker", "not-the-password");
            let mut server = ScramServer::new(mechanism);
            let Ok(ScramStep::Challenge(server_first)) =
                server.step(&wrong.client_first(), |_| Some(credential.clone()))
            else {
                panic!("{mechanism:?}: no server-first");
            };
            let client_final = wrong.client_final(&server_first).unwrap();
            assert!(
                matches!(
                    server.step(&client_final, |_| None),
                    Err(ScramError::InvalidProof)
                ),
                "{mechanism:?}: a wrong password must give an invalid proof"
            );
        }
    }
}
