//! The key that seals account tokens at rest: `CROSSBAR_ACCOUNTS_KEY` (64 hex characters) when
//! set, else the gateway key (`gateway_key.rs`: `<data_dir>/gateway.key` or
//! `CROSSBAR_GATEWAY_KEY`), so gateways on several hosts share accounts by sharing that key.
//! ChaCha20-Poly1305 with a random nonce per seal; the associated data binds a sealed value to
//! its account (a row's tokens cannot be moved to another row).
//! Must never: log a key or an opened value.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// The key by the rules above.
    pub fn open(data_dir: &Path) -> anyhow::Result<Sealer> {
        let key = match std::env::var("CROSSBAR_ACCOUNTS_KEY") {
            Ok(hex) => crate::gateway_key::parse_hex(hex.trim())
                .ok_or_else(|| anyhow::anyhow!("CROSSBAR_ACCOUNTS_KEY must be 64 hex characters"))?,
            Err(_) => crate::gateway_key::load_or_create(data_dir)?,
        };
        Ok(Sealer { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    /// `base64(nonce ‖ ciphertext)`.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> anyhow::Result<String> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plain, aad })
            .map_err(|_| anyhow::anyhow!("cannot seal the account's tokens"))?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        Ok(STANDARD.encode(raw))
    }

    /// The plain bytes, or `None` when `text` was not sealed with this key (and `aad`).
    pub fn unseal(&self, text: &str, aad: &[u8]) -> Option<Vec<u8>> {
        let raw = STANDARD.decode(text.trim()).ok()?;
        if raw.len() < 12 {
            return None;
        }
        let (nonce, sealed) = raw.split_at(12);
        self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_account() {
        let s = Sealer { cipher: ChaCha20Poly1305::new(Key::from_slice(&[7; 32])) };
        let sealed = s.seal(b"refresh-1", b"acct-1").expect("seal");
        assert!(!sealed.contains("refresh"));
        assert_eq!(s.unseal(&sealed, b"acct-1").as_deref(), Some(&b"refresh-1"[..]));
        assert_eq!(s.unseal(&sealed, b"acct-2"), None, "bound to its account");
        let other = Sealer { cipher: ChaCha20Poly1305::new(Key::from_slice(&[8; 32])) };
        assert_eq!(other.unseal(&sealed, b"acct-1"), None);
        assert_eq!(s.unseal("not base64 !", b"acct-1"), None);
        assert_eq!(s.unseal("AAAA", b"acct-1"), None);
    }
}
