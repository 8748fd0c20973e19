//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka names them (KIP-84): the
//! mechanisms with Kafka's wire ids and iteration bounds and their hash, HMAC and `Hi`
//! (PBKDF2), and the client half of an exchange — client-first (`n,,n=user,r=nonce`),
//! client-final with its proof, and the server-final's signature checked. No channel
//! binding, no authorization id, as Kafka's clients send it. The broker's server half, the
//! operator's credentials and the bench's connection measurement use these.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// Why the client half of an exchange cannot go on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramClientError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("the server's {0} does not match the exchange")]
    Mismatch(&'static str),
    #[error("the server refused the exchange: {0}")]
    ServerRefused(String),
    #[error("the server asks for {0} iterations, fewer than SCRAM allows")]
    TooFewIterations(u32),
}

/// A SCRAM mechanism, with Kafka's `ScramMechanism` type ids and iteration bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(&self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Kafka's wire id (`ScramMechanism.type()` in the Alter/DescribeUserScramCredentials APIs).
    pub fn type_id(&self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_type_id(id: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.type_id() == id)
    }

    /// RFC 7677's minimum, Kafka's `ScramMechanism.minIterations`.
    pub const MIN_ITERATIONS: i32 = 4096;
    /// Kafka's upper bound for AlterUserScramCredentials.
    pub const MAX_ITERATIONS: i32 = 16384;

    /// `H(data)`.
    pub fn hash(&self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, data)`.
    pub fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
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
    pub fn salted_password(&self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }
}

/// The client half of one SCRAM exchange (Kafka's `ScramSaslClient`), as the nodes' own
/// clients run it against another node's SASL listener and the bench measures it: client-first, then client-final from
/// the server-first, then the server-final's signature checked, so that a node also knows
/// it talks to a server that holds the credential.
pub struct ScramClient {
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
    /// A client with a fresh random nonce.
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str) -> Self {
        use rand::Rng;
        let nonce: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        Self::with_nonce(mechanism, user, password, &nonce)
    }

    /// A client with the nonce given (known-answer checks such as RFC 7677's example).
    pub fn with_nonce(mechanism: ScramMechanism, user: &str, password: &str, nonce: &str) -> Self {
        // RFC 5802 5.1: `=` and `,` in a user name are escaped.
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Self {
            mechanism,
            password: password.to_string(),
            client_first_bare: format!("n={user},r={nonce}"),
            nonce: nonce.to_string(),
            server_signature: None,
        }
    }

    /// `n,,n=user,r=nonce`.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message answering `server_first` (`r=…,s=…,i=…`).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramClientError> {
        let text = std::str::from_utf8(server_first)
            .map_err(|_| ScramClientError::Malformed("not UTF-8"))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(ScramClientError::ServerRefused(error.to_string()));
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
        let nonce = nonce.ok_or(ScramClientError::Malformed("server-first without a nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err(ScramClientError::Mismatch("nonce"));
        }
        let salt = BASE64
            .decode(salt.ok_or(ScramClientError::Malformed("server-first without a salt"))?)
            .map_err(|_| ScramClientError::Malformed("salt is not base64"))?;
        let iterations: u32 = iterations
            .ok_or(ScramClientError::Malformed(
                "server-first without an iteration count",
            ))?
            .parse()
            .map_err(|_| ScramClientError::Malformed("iteration count is not a number"))?;
        if iterations < ScramMechanism::MIN_ITERATIONS as u32 {
            return Err(ScramClientError::TooFewIterations(iterations));
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
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramClientError> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| ScramClientError::Malformed("not UTF-8"))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(ScramClientError::ServerRefused(error.to_string()));
        }
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or(ScramClientError::Malformed(
                "server-final without a signature",
            ))?;
        let expected = self
            .server_signature
            .as_deref()
            .ok_or(ScramClientError::Malformed(
                "server-final before client-final",
            ))?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            signature.as_slice(),
            expected,
        )) {
            return Err(ScramClientError::Mismatch("server signature"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user `user`, password `pencil`, SCRAM-SHA-256.
    #[test]
    fn the_rfc_7677_exchange_gives_its_proof_and_accepts_its_server_signature() {
        let mut client = ScramClient::with_nonce(
            ScramMechanism::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = client.client_final(server_first).unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        client
            .verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert_eq!(
            client.verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramClientError::Mismatch("server signature"))
        );
    }

    #[test]
    fn bad_server_messages_are_refused_in_words() {
        let mut client = ScramClient::with_nonce(ScramMechanism::Sha512, "a,b=c", "pw", "abc");
        assert_eq!(client.client_first(), b"n,,n=a=2Cb=3Dc,r=abc");
        assert_eq!(
            client.client_final(b"e=unknown-user"),
            Err(ScramClientError::ServerRefused("unknown-user".to_string()))
        );
        assert_eq!(
            client.client_final(b"r=xyz123,s=AAAA,i=4096"),
            Err(ScramClientError::Mismatch("nonce")),
            "a nonce that does not extend ours"
        );
        assert_eq!(
            client.client_final(b"r=abc123,s=AAAA,i=1000"),
            Err(ScramClientError::TooFewIterations(1000))
        );
        assert!(matches!(
            client.client_final(b"r=abc123,i=4096"),
            Err(ScramClientError::Malformed(_))
        ));
        assert!(matches!(
            client.verify_server_final(b"v=AAAA"),
            Err(ScramClientError::Malformed(_))
        ));
        assert!(matches!(
            client.client_final(&[0xff, 0xfe]),
            Err(ScramClientError::Malformed(_))
        ));
    }
}
