//! Upstream keys at rest: encryption (XChaCha20-Poly1305 under a key derived once with Argon2id
//! from `ENCRYPTION_KEY`), the lookup hash stored in `key_hash` (SHA-256 without encryption, as
//! GPT-Load; HMAC-SHA256 under a separately derived key with it), and the check that the stored
//! data matches the configured key.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Every encrypted value starts with this, so encrypted and plaintext data tell themselves apart.
pub const ENCRYPTED_PREFIX: &str = "enc1:";

/// Argon2id salt. `ENCRYPTION_KEY` is a configured secret, not a user password, so a fixed
/// application salt (as GPT-Load's PBKDF2 one) only separates this use from any other.
const KDF_SALT: &[u8] = b"gateway-key-encryption-v1";
/// Argon2id cost: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option). About a
/// quarter of a second, paid once per process start.
const KDF_MEMORY_KIB: u32 = 64 * 1024;
const KDF_PASSES: u32 = 3;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// Encrypts, decrypts and hashes upstream keys as `ENCRYPTION_KEY` says. Cheap to clone.
#[derive(Clone)]
pub struct KeyCipher(Option<Arc<DerivedKeys>>);

struct DerivedKeys {
    aead: XChaCha20Poly1305,
    lookup: HmacSha256,
}

/// Why a stored value could not be turned back into a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the value is encrypted but ENCRYPTION_KEY is not set")]
    EncryptedWithoutKey,
    #[error("the value is not encrypted but ENCRYPTION_KEY is set")]
    NotEncrypted,
    #[error("the value does not decrypt with this ENCRYPTION_KEY")]
    WrongKey,
}

/// The key derivation failed (only with parameters argon2 refuses; never for a given passphrase).
#[derive(Debug, thiserror::Error)]
#[error("cannot derive the encryption key: {0}")]
pub struct DeriveError(String);

impl KeyCipher {
    /// No encryption: values stored as they are, hashed with SHA-256.
    pub const fn plaintext() -> Self {
        Self(None)
    }

    /// The cipher for `ENCRYPTION_KEY` (`None` or empty = plaintext).
    pub fn from_config(encryption_key: Option<&Secret<String>>) -> Result<Self, DeriveError> {
        match encryption_key {
            Some(k) if !k.is_empty() => Self::derive(k),
            _ => Ok(Self::plaintext()),
        }
    }

    /// Derives the encryption and lookup keys from a passphrase (Argon2id, then HMAC-SHA256 with
    /// two labels, so neither derived key says anything about the other).
    pub fn derive(passphrase: &Secret<String>) -> Result<Self, DeriveError> {
        let params = argon2::Params::new(KDF_MEMORY_KIB, KDF_PASSES, 1, Some(32))
            .map_err(|e| DeriveError(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut master = [0_u8; 32];
        argon
            .hash_password_into(passphrase.expose().as_bytes(), KDF_SALT, &mut master)
            .map_err(|e| DeriveError(e.to_string()))?;
        let label = |name: &[u8]| -> Result<[u8; 32], DeriveError> {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(&master)
                .map_err(|e| DeriveError(e.to_string()))?;
            mac.update(name);
            Ok(mac.finalize().into_bytes().into())
        };
        let enc = label(b"gateway key encryption v1")?;
        let lookup = label(b"gateway key lookup v1")?;
        let keys = DerivedKeys {
            aead: XChaCha20Poly1305::new(&enc.into()),
            lookup: <HmacSha256 as Mac>::new_from_slice(&lookup)
                .map_err(|e| DeriveError(e.to_string()))?,
        };
        Ok(Self(Some(Arc::new(keys))))
    }

    /// True when keys are encrypted at rest.
    pub const fn is_encrypting(&self) -> bool {
        self.0.is_some()
    }

    /// The stored form of `key`: `enc1:` + base64(nonce ‖ ciphertext ‖ tag) with a random nonce,
    /// or the key itself without encryption.
    pub fn seal(&self, key: &str) -> String {
        let Some(k) = &self.0 else {
            return key.to_owned();
        };
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce only fails for plaintexts beyond 256 GiB.
        let sealed = k.aead.encrypt(&nonce, key.as_bytes()).unwrap_or_default();
        let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        let mut out = String::with_capacity(ENCRYPTED_PREFIX.len() + raw.len().div_ceil(3) * 4);
        out.push_str(ENCRYPTED_PREFIX);
        STANDARD_NO_PAD.encode_string(&raw, &mut out);
        out
    }

    /// The key a stored value holds.
    pub fn open(&self, stored: &str) -> Result<String, OpenError> {
        let body = stored.strip_prefix(ENCRYPTED_PREFIX);
        let Some(k) = &self.0 else {
            return match body {
                Some(_) => Err(OpenError::EncryptedWithoutKey),
                None => Ok(stored.to_owned()),
            };
        };
        let body = body.ok_or(OpenError::NotEncrypted)?;
        let raw = STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::WrongKey)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::WrongKey);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let plain = k
            .aead
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| OpenError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| OpenError::WrongKey)
    }

    /// The `key_hash` of a key: hex SHA-256 without encryption, hex HMAC-SHA256 under the lookup
    /// key with it. The empty key hashes to the empty string (keyless log rows).
    pub fn lookup_hash(&self, key: &str) -> String {
        if key.is_empty() {
            return String::new();
        }
        match &self.0 {
            None => hex::encode(Sha256::digest(key.as_bytes())),
            Some(k) => {
                let mut mac = k.lookup.clone();
                mac.update(key.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// What a sample of stored `(key_value, key_hash)` pairs says about this cipher and the data.
    pub fn assess<'a>(&self, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Assessment {
        let mut counts = SampleCounts::default();
        for (value, hash) in rows {
            if hash.is_empty() {
                continue;
            }
            counts.total += 1;
            match self.open(value) {
                Ok(key) if self.lookup_hash(&key) == hash => counts.readable += 1,
                Err(OpenError::EncryptedWithoutKey) => counts.encrypted += 1,
                Err(OpenError::NotEncrypted) => counts.plaintext += 1,
                Err(OpenError::WrongKey) => counts.other_key += 1,
                // Decrypted, or plaintext, but the hash is another key's: a foreign hash scheme.
                Ok(_) if value.starts_with(ENCRYPTED_PREFIX) => counts.other_key += 1,
                Ok(_) => counts.plaintext += 1,
            }
        }
        counts.assessment(self.is_encrypting())
    }

    /// [`KeyCipher::assess`] as a result: an error says which mismatch and how to fix it.
    pub fn verify<'a>(
        &self,
        rows: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), Mismatch> {
        match self.assess(rows) {
            Assessment::Consistent => Ok(()),
            other => Err(Mismatch(other)),
        }
    }
}

/// The stored keys do not match `ENCRYPTION_KEY`; displays what is wrong and how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}); {}", .0.message(), .0.scenario(), .0.suggestion())]
pub struct Mismatch(pub Assessment);

impl std::fmt::Debug for KeyCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_encrypting() {
            "KeyCipher(encrypting)"
        } else {
            "KeyCipher(plaintext)"
        })
    }
}

#[derive(Default)]
struct SampleCounts {
    total: usize,
    readable: usize,
    encrypted: usize,
    plaintext: usize,
    other_key: usize,
}

/// Whether stored keys match the configured `ENCRYPTION_KEY` (GPT-Load's scenario names, plus
/// `inconsistent_data` for a mix no single key explains).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment {
    /// Every sampled key reads back with the configured key (or there is nothing to sample).
    Consistent,
    /// `ENCRYPTION_KEY` is set but the data is plaintext.
    DataNotEncrypted,
    /// The data is encrypted but `ENCRYPTION_KEY` is not set.
    KeyNotConfigured,
    /// The data is encrypted with another key.
    KeyMismatch,
    /// Some keys read back and others do not.
    Inconsistent,
}

impl SampleCounts {
    const fn assessment(&self, encrypting: bool) -> Assessment {
        if self.readable == self.total {
            Assessment::Consistent
        } else if self.readable > 0 {
            Assessment::Inconsistent
        } else if !encrypting && self.encrypted == self.total {
            Assessment::KeyNotConfigured
        } else if encrypting && self.plaintext == self.total {
            Assessment::DataNotEncrypted
        } else if encrypting && self.other_key == self.total {
            Assessment::KeyMismatch
        } else {
            Assessment::Inconsistent
        }
    }
}

impl Assessment {
    /// `scenario_type` of `/api/dashboard/encryption-status` (`""` when consistent).
    pub const fn scenario(self) -> &'static str {
        match self {
            Self::Consistent => "",
            Self::DataNotEncrypted => "data_not_encrypted",
            Self::KeyNotConfigured => "key_not_configured",
            Self::KeyMismatch => "key_mismatch",
            Self::Inconsistent => "inconsistent_data",
        }
    }

    /// What is wrong (English; the admin API localises by scenario).
    pub const fn message(self) -> &'static str {
        match self {
            Self::Consistent => "",
            Self::DataNotEncrypted => "ENCRYPTION_KEY is set but the stored keys are not encrypted",
            Self::KeyNotConfigured => "the stored keys are encrypted but ENCRYPTION_KEY is not set",
            Self::KeyMismatch => {
                "the stored keys are encrypted with a different key than ENCRYPTION_KEY"
            }
            Self::Inconsistent => {
                "some stored keys read back with ENCRYPTION_KEY and others do not"
            }
        }
    }

    /// How to fix it.
    pub const fn suggestion(self) -> &'static str {
        match self {
            Self::Consistent => "",
            Self::DataNotEncrypted => {
                "stop the gateway and encrypt the stored keys with `gateway-admin migrate-keys \
                 --to <ENCRYPTION_KEY>`, or unset ENCRYPTION_KEY"
            }
            Self::KeyNotConfigured => {
                "set ENCRYPTION_KEY to the key the data was encrypted with, or stop the gateway \
                 and decrypt it with `gateway-admin migrate-keys --from <old key>`"
            }
            Self::KeyMismatch => {
                "set ENCRYPTION_KEY back to the key the data was encrypted with, or stop the \
                 gateway and rotate with `gateway-admin migrate-keys --from <old key> --to <new key>`"
            }
            Self::Inconsistent => {
                "restore the database from a backup taken before the keys were changed, or delete \
                 the keys that no longer read back and import them again"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(k: &str) -> KeyCipher {
        KeyCipher::derive(&Secret::new(k.to_owned())).unwrap()
    }

    #[test]
    fn seals_and_opens_with_random_nonces() {
        let c = cipher("a-long-encryption-key-1234567890");
        let a = c.seal("sk-secret-value");
        let b = c.seal("sk-secret-value");
        assert!(a.starts_with(ENCRYPTED_PREFIX) && a != b);
        assert!(!a.contains("sk-secret"));
        assert_eq!(c.open(&a).unwrap(), "sk-secret-value");
        assert_eq!(
            cipher("another-key-0987654321").open(&a),
            Err(OpenError::WrongKey)
        );
        assert_eq!(
            KeyCipher::plaintext().open(&a),
            Err(OpenError::EncryptedWithoutKey)
        );
        assert_eq!(c.open("sk-plain"), Err(OpenError::NotEncrypted));
        assert_eq!(c.open("enc1:!!"), Err(OpenError::WrongKey));
        assert_eq!(c.open("enc1:AAAA"), Err(OpenError::WrongKey));
        let mut flipped = a.into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            c.open(std::str::from_utf8(&flipped).unwrap()),
            Err(OpenError::WrongKey)
        );
    }

    #[test]
    fn hashes_plain_like_gpt_load_and_keyed_otherwise() {
        let p = KeyCipher::plaintext();
        assert_eq!(
            p.lookup_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(p.lookup_hash(""), "");
        let c = cipher("a-long-encryption-key-1234567890");
        let h = c.lookup_hash("abc");
        assert_eq!(h.len(), 64);
        assert_ne!(h, p.lookup_hash("abc"));
        assert_eq!(
            h,
            cipher("a-long-encryption-key-1234567890").lookup_hash("abc")
        );
        assert_ne!(h, cipher("another-key-0987654321").lookup_hash("abc"));
        assert_eq!(p.seal("abc"), "abc");
        assert_eq!(p.open("abc").unwrap(), "abc");
    }

    #[test]
    fn assesses_each_scenario() {
        let p = KeyCipher::plaintext();
        let a = cipher("key-a-0123456789abcdef");
        let b = cipher("key-b-0123456789abcdef");
        let rows = |c: &KeyCipher| {
            ["k1", "k2"]
                .iter()
                .map(|k| (c.seal(k), c.lookup_hash(k)))
                .collect::<Vec<_>>()
        };
        let view = |r: &[(String, String)]| -> Vec<(String, String)> { r.to_vec() };
        let check = |c: &KeyCipher, r: &[(String, String)]| {
            c.assess(r.iter().map(|(v, h)| (v.as_str(), h.as_str())))
        };
        let plain = rows(&p);
        let enc_a = rows(&a);
        assert_eq!(check(&p, &plain), Assessment::Consistent);
        assert_eq!(check(&a, &enc_a), Assessment::Consistent);
        assert_eq!(check(&a, &[]), Assessment::Consistent);
        assert_eq!(check(&a, &plain), Assessment::DataNotEncrypted);
        assert_eq!(check(&p, &enc_a), Assessment::KeyNotConfigured);
        assert_eq!(check(&b, &enc_a), Assessment::KeyMismatch);
        let mut mixed = view(&plain);
        mixed.extend(enc_a);
        assert_eq!(check(&a, &mixed), Assessment::Inconsistent);
        assert_eq!(Assessment::KeyMismatch.scenario(), "key_mismatch");
    }

    #[test]
    fn debug_says_nothing_secret() {
        assert_eq!(
            format!("{:?}", cipher("a-long-encryption-key-1234567890")),
            "KeyCipher(encrypting)"
        );
    }
}
