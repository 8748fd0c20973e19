//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side, as Kafka's
//! `ScramSaslServer`: client-first (`n,[a=authzid],n=user,r=nonce`) → server-first
//! (`r=nonce+ours,s=salt,i=iterations`) → client-final (`c=binding,r=nonce,p=proof`) →
//! server-final (`v=signature`). Credentials are Kafka's: salt, StoredKey, ServerKey and
//! iteration count — never the password; the controller derives them from the salted
//! password AlterUserScramCredentials carries.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub(crate) use ironlog_protocol::scram::ScramMechanism;

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

impl ScramCredential {
    /// The stored credential for a salted password (Kafka's
    /// `ScramFormatter.generateCredential`).
    pub(crate) fn derive(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ironlog_protocol::scram::ScramClient;

    /// RFC 7677's SCRAM-SHA-256 example: user `user`, password `pencil`.
    #[test]
    fn rfc_7677_example_verifies_and_signs() {
        let m = ScramMechanism::Sha256;
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let credential = ScramCredential::derive(m, &salt, &salted, 4096);
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
        let credential = ScramCredential::derive(
            m,
            b"salt",
            &m.salted_password(b"right", b"salt", 4096),
            4096,
        );
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
            let credential = ScramCredential::derive(mechanism, salt, &salted, 4096);
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
                Err(ironlog_protocol::scram::ScramClientError::Mismatch(
                    "server signature"
                )),
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
