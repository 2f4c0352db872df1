//! The signatures formats put in headers: HMAC-SHA256 and HMAC-SHA1, hex or Base64, and Ed25519
//! with a [`SigningKey`] that receivers verify with its public key.

use base64::Engine as _;
use hmac::{Hmac, Mac};

/// HMAC-SHA256 of `message` keyed with `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA1 of `message` keyed with `key`.
pub fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard Base64 with padding (not URL-safe, not URL-encoded).
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An Ed25519 signing key (`signing_key_file`): in its file as `whsk_` and the Base64 of its 32-byte
/// seed, as Standard Webhooks writes secret keys; its public key is `whpk_` and the Base64 of its 32
/// bytes. Never shown.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::secret::REDACTED)
    }
}

impl SigningKey {
    /// A new key from 32 random bytes.
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The key a file holds: `whsk_<base64>` (of the 32-byte seed, or of the 64 bytes of seed and
    /// public key that some tools write), one line.
    pub fn from_file(path: &std::path::Path) -> Result<SigningKey, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
        SigningKey::parse(text.trim()).ok_or_else(|| {
            "is not a signing key: write one with `git-webhook key new FILE`, \
             which holds `whsk_` and the Base64 of an Ed25519 seed"
                .to_owned()
        })
    }

    fn parse(text: &str) -> Option<SigningKey> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.strip_prefix("whsk_")?)
            .ok()?;
        let seed: [u8; 32] = bytes.get(..32)?.try_into().ok()?;
        let key = SigningKey::from_seed(seed);
        match bytes.len() {
            32 => Some(key),
            64 if bytes[32..] == key.0.verifying_key().to_bytes() => Some(key),
            _ => None,
        }
    }

    /// What the key file holds.
    pub fn to_file_text(&self) -> String {
        format!("whsk_{}\n", base64(self.0.as_bytes()))
    }

    /// The public key as receivers are given it: `whpk_<base64>`.
    pub fn public(&self) -> String {
        format!("whpk_{}", base64(self.0.verifying_key().as_bytes()))
    }

    /// The Ed25519 signature of `message` (64 bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        self.0.sign(message).to_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032, section 7.1, test 1 (the empty message).
    #[test]
    fn ed25519_published_vector() {
        let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        let seed: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let key = SigningKey::from_seed(seed.try_into().unwrap());
        assert_eq!(
            hex(&base64::engine::general_purpose::STANDARD
                .decode(key.public().strip_prefix("whpk_").unwrap())
                .unwrap()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex(&key.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        let text = key.to_file_text();
        let again = SigningKey::parse(text.trim()).expect("its own file text");
        assert_eq!(again.public(), key.public());
        let mut long = key.0.to_keypair_bytes().to_vec();
        assert!(SigningKey::parse(&format!("whsk_{}", base64(&long))).is_some());
        long[40] ^= 1;
        assert!(SigningKey::parse(&format!("whsk_{}", base64(&long))).is_none());
        assert!(SigningKey::parse("whsec_abc").is_none());
    }

    #[test]
    fn published_vectors() {
        // GitHub's "Validating webhook deliveries" example.
        let sig = hex(&hmac_sha256(
            b"It's a Secret to Everybody",
            b"Hello, World!",
        ));
        assert_eq!(
            sig,
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        // RFC 2202, test case 2.
        assert_eq!(
            hex(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }
}
