//! The client side of SCRAM (RFC 5802, with SHA-256 and SHA-512 as RFC 7677 and Kafka's
//! KIP-84 name them), for the connection set-up measurement: client-first, client-final
//! with its proof, and the check of the server's signature. No channel binding, no
//! authorization id (`n,,`), as Kafka's clients send it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's lowest accepted iteration count (`ScramMechanism`'s minimum).
const ITERATIONS_MIN: u32 = 4096;
/// Letters and digits of the client nonce.
const NONCE_CHARS: usize = 32;

/// Why a SCRAM exchange could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ScramError {
    #[error("malformed server message: {0}")]
    Malformed(&'static str),
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("the server's nonce does not extend ours")]
    Nonce,
    #[error("{0} iterations is below SCRAM's minimum of 4096")]
    TooFewIterations(u32),
    #[error("the server's signature is not the one its key gives")]
    ServerSignature,
}

/// The hash of the mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    // The bench's listener speaks SCRAM-SHA-512; SHA-256 carries RFC 7677's test vector.
    #[cfg_attr(not(test), allow(dead_code))]
    Sha256,
    Sha512,
}

impl Mechanism {
    /// The SASL mechanism name, as SaslHandshake carries it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length.
            match <M as hmac::digest::KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            Mechanism::Sha256 => run::<Hmac<Sha256>>(key, message),
            Mechanism::Sha512 => run::<Hmac<Sha512>>(key, message),
        }
    }

    fn hash(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => Sha256::digest(bytes).to_vec(),
            Mechanism::Sha512 => Sha512::digest(bytes).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of the mechanism's hash.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Mechanism::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// One client's SCRAM exchange.
pub(crate) struct ScramClient {
    mechanism: Mechanism,
    password: String,
    nonce: String,
    /// `n=USER,r=NONCE`.
    first_bare: String,
    /// Set by [`ScramClient::client_final`]: what the server must prove it knows.
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A client with a fresh random nonce.
    pub(crate) fn new(mechanism: Mechanism, user: &str, password: &str) -> Self {
        use rand::Rng;
        let nonce: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(NONCE_CHARS)
            .map(char::from)
            .collect();
        Self::with_nonce(mechanism, user, password, &nonce)
    }

    /// A client with the nonce given (for the RFC's worked example).
    pub(crate) fn with_nonce(
        mechanism: Mechanism,
        user: &str,
        password: &str,
        nonce: &str,
    ) -> Self {
        // RFC 5802 5.1: `=` and `,` in a user name are escaped.
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            password: password.to_string(),
            nonce: nonce.to_string(),
            first_bare: format!("n={user},r={nonce}"),
            expected_server_signature: None,
        }
    }

    pub(crate) fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.first_bare).into_bytes()
    }

    /// The client-final message answering the server-first message `server_first`.
    pub(crate) fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text = std::str::from_utf8(server_first)
            .map_err(|_| ScramError::Malformed("server-first is not UTF-8"))?;
        if let Some(reason) = text.strip_prefix("e=") {
            return Err(ScramError::Refused(reason.to_string()));
        }
        let field = |name: &str| {
            text.split(',')
                .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        let nonce = field("r").ok_or(ScramError::Malformed("server-first has no nonce"))?;
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) {
            return Err(ScramError::Nonce);
        }
        let salt = field("s")
            .and_then(|s| BASE64.decode(s).ok())
            .ok_or(ScramError::Malformed("server-first has no base64 salt"))?;
        let iterations: u32 = field("i")
            .and_then(|i| i.parse().ok())
            .ok_or(ScramError::Malformed("server-first has no iteration count"))?;
        if iterations < ITERATIONS_MIN {
            return Err(ScramError::TooFewIterations(iterations));
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        // `biws` is base64 of the GS2 header `n,,`.
        let final_without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{final_without_proof}", self.first_bare);
        let client_key = m.hmac(&salted, b"Client Key");
        let client_signature = m.hmac(&m.hash(&client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.expected_server_signature = Some(m.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{final_without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: `v=SIGNATURE` as computed, or `e=REASON`.
    pub(crate) fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| ScramError::Malformed("server-final is not UTF-8"))?;
        if let Some(reason) = text.strip_prefix("e=") {
            return Err(ScramError::Refused(reason.to_string()));
        }
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or(ScramError::Malformed(
                "server-final has no base64 signature",
            ))?;
        match &self.expected_server_signature {
            None => Err(ScramError::Malformed(
                "server-final came before client-final",
            )),
            Some(expected) if *expected == signature => Ok(()),
            Some(_) => Err(ScramError::ServerSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user `user`, password `pencil`, SCRAM-SHA-256.
    #[test]
    fn the_rfc_7677_exchange_gives_its_proof_and_accepts_its_server_signature() {
        let mut client =
            ScramClient::with_nonce(Mechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
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
            Err(ScramError::ServerSignature)
        );
    }

    #[test]
    fn bad_server_messages_are_refused_in_words() {
        let mut client = ScramClient::with_nonce(Mechanism::Sha512, "a,b=c", "pw", "abc");
        assert_eq!(client.client_first(), b"n,,n=a=2Cb=3Dc,r=abc");
        assert_eq!(
            client.client_final(b"e=unknown-user"),
            Err(ScramError::Refused("unknown-user".to_string()))
        );
        assert_eq!(
            client.client_final(b"r=xyz123,s=AAAA,i=4096"),
            Err(ScramError::Nonce),
            "a nonce that does not extend ours"
        );
        assert_eq!(
            client.client_final(b"r=abc123,s=AAAA,i=1000"),
            Err(ScramError::TooFewIterations(1000))
        );
        assert!(matches!(
            client.client_final(b"r=abc123,i=4096"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(
            client.verify_server_final(b"v=AAAA"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(
            client.client_final(&[0xff, 0xfe]),
            Err(ScramError::Malformed(_))
        ));
    }
}
