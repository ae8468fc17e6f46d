//! A provider's signing keys, as ID tokens are checked against them. RSA signatures (RS256 — what most providers
//! sign with — and the other RS and PS algorithms) are checked with `ring`; the rest as `openidconnect` checks them.
//!
//! Why: `openidconnect` checks RSA with the `rsa` crate, whose big-number arithmetic (`num-bigint-dig`) took 270 µs of
//! a sign-in's CPU (`bench/profiles/signin.txt`); `ring`, already in the build for TLS, takes 27 µs. `ring` also
//! refuses RSA keys under 2048 bits, which NIST SP 800-131A retired years ago. The key's type, use and `alg`
//! are checked first, as `openidconnect` checks them.

use std::sync::Arc;

use openidconnect::{
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JsonWebKeySet, JwsSigningAlgorithm, SignatureVerificationError,
    core::{CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm},
};
use ring::signature::{self, RsaPublicKeyComponents};
use serde::{Deserialize, Deserializer, Serialize};

/// A provider's key set.
pub type ProviderKeys = JsonWebKeySet<ProviderKey>;

/// One key of a provider's JWKS: `openidconnect`'s, with its RSA public key ready for `ring`.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct ProviderKey {
    core: CoreJsonWebKey,
    /// The modulus and exponent, for an RSA key that has both.
    #[serde(skip)]
    rsa: Option<Arc<RsaPublicKeyComponents<Vec<u8>>>>,
}

impl<'de> Deserialize<'de> for ProviderKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct RsaParts {
            kty: Option<String>,
            n: Option<String>,
            e: Option<String>,
        }
        let value = serde_json::Value::deserialize(deserializer)?;
        let core = CoreJsonWebKey::deserialize(&value).map_err(serde::de::Error::custom)?;
        // A key whose parts do not decode gets no fast path: `openidconnect` then refuses it with its own reason.
        let rsa = RsaParts::deserialize(&value).ok().and_then(|parts| {
            let decode = |part: Option<String>| {
                use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
                part.and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
            };
            match parts.kty.as_deref() {
                Some("RSA") => Some(Arc::new(RsaPublicKeyComponents { n: decode(parts.n)?, e: decode(parts.e)? })),
                _ => None,
            }
        });
        Ok(Self { core, rsa })
    }
}

impl JsonWebKey for ProviderKey {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.core.key_id()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.core.key_type()
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.core.key_use()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.core.signing_alg()
    }

    fn new_symmetric(key: Vec<u8>) -> Self {
        Self { core: CoreJsonWebKey::new_symmetric(key), rsa: None }
    }

    fn verify_signature(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        let (Some(rsa), Some(params)) = (&self.rsa, rsa_parameters(alg)) else {
            return self.core.verify_signature(alg, message, signature);
        };
        compatible(self, alg).map_err(|reason| SignatureVerificationError::InvalidKey(reason.to_owned()))?;
        rsa.verify(params, message, signature)
            .map_err(|_| SignatureVerificationError::CryptoError("the RSA signature does not verify".to_owned()))
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.core.hash_bytes(bytes, alg)
    }
}

/// The keys of `keys` that may check a signature made with `alg`: those named by `kid` when the token names one,
/// else every key that may. A token must verify with one of them.
pub fn candidates<'k>(
    keys: &'k ProviderKeys,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Vec<&'k ProviderKey> {
    keys.keys()
        .iter()
        .filter(|key| kid.is_none_or(|kid| key.key_id().is_some_and(|id| id.as_str() == kid)))
        .filter(|key| compatible(key, alg).is_ok())
        .collect()
}

fn rsa_parameters(alg: &CoreJwsSigningAlgorithm) -> Option<&'static signature::RsaParameters> {
    use CoreJwsSigningAlgorithm as A;
    Some(match alg {
        A::RsaSsaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        A::RsaSsaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        A::RsaSsaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        A::RsaSsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        A::RsaSsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        A::RsaSsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// Whether `key` may check a signature made with `alg`: meant for signatures (or not said), of the algorithm's key
/// type, and of that algorithm if the key names one — `openidconnect`'s own rules.
fn compatible(key: &ProviderKey, alg: &CoreJwsSigningAlgorithm) -> Result<(), &'static str> {
    if key.key_use().is_some_and(|use_| *use_ != CoreJsonWebKeyUse::Signature) {
        return Err("key usage not permitted for digital signatures");
    }
    if alg.key_type().as_ref() != Some(key.key_type()) {
        return Err("key type does not match signature algorithm");
    }
    match key.signing_alg() {
        JsonWebKeyAlgorithm::Unspecified => Ok(()),
        JsonWebKeyAlgorithm::Algorithm(named) if named == alg => Ok(()),
        JsonWebKeyAlgorithm::Algorithm(_) => Err("incompatible key algorithm"),
        JsonWebKeyAlgorithm::Unsupported => Err("key algorithm is not a signing algorithm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::{
        RsaPrivateKey,
        pkcs1v15::SigningKey,
        rand_core::OsRng,
        signature::{SignatureEncoding, Signer},
        traits::PublicKeyParts,
    };

    fn jwk(private: &RsaPrivateKey, extra: serde_json::Value) -> ProviderKey {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let public = private.to_public_key();
        let mut value = serde_json::json!({
            "kty": "RSA",
            "kid": "k1",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        });
        value.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(value).expect("a JWK")
    }

    /// The same answer as `openidconnect`'s own check, for good and bad signatures and keys that may not sign.
    #[test]
    fn rsa_signatures_are_checked_as_openidconnect_checks_them() {
        let private = RsaPrivateKey::new(&mut OsRng, 2048).expect("a key");
        let message = b"header.claims";
        let signature = SigningKey::<sha2::Sha256>::new(private.clone()).sign(message).to_bytes().to_vec();
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let cases = [
            (serde_json::json!({}), rs256.clone(), signature.clone(), true),
            (serde_json::json!({ "use": "sig", "alg": "RS256" }), rs256.clone(), signature.clone(), true),
            (serde_json::json!({}), rs256.clone(), [&signature[..255], &[signature[255] ^ 1]].concat(), false),
            (serde_json::json!({}), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384, signature.clone(), false),
            (serde_json::json!({}), CoreJwsSigningAlgorithm::RsaSsaPssSha256, signature.clone(), false),
            (serde_json::json!({ "use": "enc" }), rs256.clone(), signature.clone(), false),
            (serde_json::json!({ "alg": "RS512" }), rs256.clone(), signature.clone(), false),
        ];
        for (extra, alg, signature, valid) in cases {
            let key = jwk(&private, extra.clone());
            assert!(key.rsa.is_some(), "the fast path is taken");
            let ours = key.verify_signature(&alg, message, &signature);
            let theirs = key.core.verify_signature(&alg, message, &signature);
            assert_eq!(ours.is_ok(), valid, "{extra} {alg:?}: {ours:?}");
            assert_eq!(theirs.is_ok(), valid, "openidconnect agrees: {extra} {alg:?}: {theirs:?}");
        }
    }

    #[test]
    fn keys_under_2048_bits_are_refused() {
        let private = RsaPrivateKey::new(&mut OsRng, 1024).expect("a key");
        let message = b"header.claims";
        let signature = SigningKey::<sha2::Sha256>::new(private.clone()).sign(message).to_bytes().to_vec();
        let key = jwk(&private, serde_json::json!({}));
        assert!(key.verify_signature(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, message, &signature).is_err());
    }
}
