//! The keys that sign access and ID tokens: key pairs that Gatehouse generates itself, one per algorithm — ES256
//! (P-256) and RS256 (RSA, 2048 bits) — keeps in the database with the private half sealed under `SECRET_KEY`,
//! publishes at `/oauth/jwks.json`, and replaces on a schedule (`SIGNING_KEY_ROTATION`) or on demand (`gatehouse
//! keys rotate`), every algorithm's at once.
//!
//! For each algorithm, the newest key that is not retired signs. A retired key stays published until every token it
//! signed has expired, then its row is deleted. Every instance reads the keys again every minute, and at once when a token names a key it
//! does not know, so a rotation made anywhere is picked up everywhere.

use std::{
    fmt,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header,
    jwk::{Jwk, KeyAlgorithm, PublicKeyUse},
};
use p256::pkcs8::EncodePrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;

use crate::server::platform::{
    clock,
    db::{self, Db, Exec, on},
    secret_key::{Purpose, Sealer},
};

/// Clock difference tolerated when checking `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// What access tokens (and anything only Gatehouse reads) are signed with: small, fast to sign and to verify.
pub const ALGORITHM: Algorithm = Algorithm::ES256;
/// The algorithms Gatehouse holds a key for. RS256 because OpenID Connect requires every provider to offer it for ID
/// tokens (Core §15.1, Discovery §3) and many relying parties accept nothing else.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];
/// The size of a new RSA key (NIST SP 800-57: 112-bit security, good through 2030).
const RSA_BITS: usize = 2048;

/// An algorithm's name, as the JOSE header and the `algorithm` column spell it.
pub fn name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::RS256 => "RS256",
        _ => "ES256",
    }
}

/// The algorithm a name spells, among those Gatehouse signs with.
pub fn parse(name: &str) -> Option<Algorithm> {
    ALGORITHMS.into_iter().find(|a| self::name(*a) == name)
}
/// A token that names an unknown key makes the keys be read again at most this often.
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// One key pair. The private half never leaves this struct: `Debug` shows the id only.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    /// An RSA key, parsed once, for `ring` to sign with.
    rsa: Option<ring::signature::RsaKeyPair>,
    pub decoding: DecodingKey,
    /// The public half, as the JWKS publishes it.
    pub jwk: Jwk,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

impl SigningKey {
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// A compact JWS of `claims` under `header` (whose `alg` is this key's).
    pub fn sign(&self, header: &Header, claims: &impl serde::Serialize) -> String {
        let Some(pair) = &self.rsa else {
            return jsonwebtoken::encode(header, claims, &self.encoding).expect("a signing key signs any claims");
        };
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        fn part(value: &(impl serde::Serialize + ?Sized)) -> String {
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("headers and claims serialise"))
        }
        let input = format!("{}.{}", part(header), part(claims));
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .expect("an RSA key signs any message");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("signing key {kid} cannot be opened with SECRET_KEY (or SECRET_KEY_PREVIOUS): {problem}")]
    Sealed { kid: String, problem: String },
    #[error("signing key {kid} is unusable: {problem}")]
    Unusable { kid: String, problem: String },
}

/// The keys in use, shared by every request.
pub struct KeyRing {
    keys: RwLock<Arc<Vec<Arc<SigningKey>>>>,
    last_reload: Mutex<Instant>,
    sealer: Arc<Sealer>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("keys", &self.all()).finish()
    }
}

impl KeyRing {
    /// Reads the keys, first making one when there is none that may sign (the first start, or every key retired).
    pub async fn open(db: &Db, sealer: Arc<Sealer>, rotation: Duration) -> Result<Self, KeyError> {
        ensure_current(db, &sealer, rotation, false).await?;
        let keys = load(db, &sealer).await?;
        Ok(Self { keys: RwLock::new(Arc::new(keys)), last_reload: Mutex::new(Instant::now()), sealer })
    }

    fn all(&self) -> Arc<Vec<Arc<SigningKey>>> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The key that signs new tokens with `algorithm`: the newest one not retired.
    pub fn current(&self, algorithm: Algorithm) -> Arc<SigningKey> {
        let keys = self.all();
        let of_algorithm = || keys.iter().filter(|k| k.algorithm == algorithm);
        of_algorithm()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at)
            .or_else(|| of_algorithm().max_by_key(|k| k.created_at))
            .cloned()
            .expect("the key ring always holds a key of every algorithm: it is opened with them")
    }

    /// The published key with this id.
    pub fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.all().iter().find(|k| k.kid == kid).cloned()
    }

    /// Like [`KeyRing::find`]; an unknown id reads the keys again first (at most every few seconds), in case another
    /// instance rotated.
    pub async fn find_or_reload(&self, db: &Db, kid: &str) -> Option<Arc<SigningKey>> {
        if let Some(key) = self.find(kid) {
            return Some(key);
        }
        let due = {
            let mut last = self.last_reload.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = last.elapsed() >= RELOAD_AT_MOST_EVERY;
            if due {
                *last = Instant::now();
            }
            due
        };
        if due && let Err(error) = self.reload(db).await {
            tracing::warn!(%error, "reading the signing keys failed");
        }
        self.find(kid)
    }

    /// Reads the keys from the database again.
    pub async fn reload(&self, db: &Db) -> Result<(), KeyError> {
        let keys = load(db, &self.sealer).await?;
        if ALGORITHMS.iter().all(|a| keys.iter().any(|k| k.algorithm == *a)) {
            *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        }
        Ok(())
    }

    /// The public keys, as `/oauth/jwks.json` serves them: no private field, ever (the JWKs are built from the
    /// public halves only).
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.all();
        let keys: Vec<&Jwk> = keys.iter().map(|k| &k.jwk).collect();
        serde_json::json!({ "keys": keys })
    }

    /// Makes a new key if the signing one is older than `rotation`, retires the old one, and deletes keys whose
    /// tokens have all expired; then reads the keys again. For the background schedule.
    pub async fn housekeeping(&self, db: &Db, rotation: Duration, keep_retired: Duration) -> Result<(), KeyError> {
        ensure_current(db, &self.sealer, rotation, false).await?;
        retire_superseded(db, keep_retired).await?;
        self.reload(db).await
    }
}

/// How long a retired key stays published: the longest a token it signed can live, plus the leeway checkers allow.
pub fn keep_retired(settings: &crate::server::platform::config::OAuthSettings) -> Duration {
    settings.access_token_lifetime + Duration::from_secs(LEEWAY_SECS + 60)
}

/// Makes a new signing key of every algorithm now and retires the others: they stay published for `keep_retired`
/// (the longest a token they signed can live, plus leeway). Returns the new keys' ids. For `gatehouse keys rotate`.
pub async fn rotate(db: &Db, sealer: &Sealer, keep_retired: Duration) -> Result<Vec<String>, KeyError> {
    let kids = ensure_current(db, sealer, Duration::ZERO, true).await?;
    retire_superseded(db, keep_retired).await?;
    Ok(kids)
}

/// Makes a key of each algorithm that has none that may sign, or whose newest is older than `rotation` (or always,
/// when `force`), under a lock every instance takes, so two starting at once make one key each. Returns the new keys'
/// ids.
async fn ensure_current(db: &Db, sealer: &Sealer, rotation: Duration, force: bool) -> Result<Vec<String>, KeyError> {
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    db::claim(tx.as_exec(), "oauth signing keys").await?;
    let mut made = Vec::new();
    for algorithm in ALGORITHMS {
        let newest: Option<i64> = on!(tx.as_exec(), conn => sqlx::query_scalar(
            "SELECT MAX(created_at) FROM oauth_signing_keys WHERE retired_at IS NULL AND algorithm = $1"
        )
        .bind(name(algorithm))
        .fetch_one(conn)
        .await)?;
        if force || newest.is_none_or(|at| now - at >= rotation.as_secs() as i64) {
            made.push(insert_new(tx.as_exec(), sealer, now, algorithm).await?);
        }
    }
    if made.is_empty() {
        return Ok(made);
    }
    tx.commit().await?;
    tracing::info!(kids = ?made, "made new token-signing keys");
    Ok(made)
}

/// A new private key of `algorithm`, DER-encoded as `EncodingKey` reads it: PKCS#8 for ES256, PKCS#1 for RS256.
fn generate(algorithm: Algorithm) -> Result<Vec<u8>, String> {
    if algorithm == Algorithm::RS256 {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| e.to_string())?;
        return Ok(key.to_pkcs1_der().map_err(|e| e.to_string())?.as_bytes().to_vec());
    }
    let secret = loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        // Fails only for zero or a value at or above the curve's order: about 2^-32 of draws.
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            break secret;
        }
    };
    Ok(secret.to_pkcs8_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
}

fn encoding_key(algorithm: Algorithm, der: &[u8]) -> EncodingKey {
    match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_der(der),
        _ => EncodingKey::from_ec_der(der),
    }
}

/// Generates a key pair and stores it, sealed.
async fn insert_new(tx: Exec<'_>, sealer: &Sealer, now: i64, algorithm: Algorithm) -> Result<String, KeyError> {
    let kid = clock::random_token(12);
    let der = generate(algorithm).map_err(|problem| KeyError::Unusable { kid: kid.clone(), problem })?;
    let jwk = public_jwk(&kid, algorithm, &der)?;
    let public = serde_json::to_string(&jwk).expect("a JWK serialises");
    let sealed = sealer.seal(Purpose::SigningKey, &kid, &der);
    on!(tx, conn => sqlx::query(
            "INSERT INTO oauth_signing_keys (id, algorithm, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&kid)
        .bind(name(algorithm))
        .bind(&sealed)
        .bind(&public)
        .bind(now)
        .execute(conn)
        .await
        .map(drop))?;
    Ok(kid)
}

/// The public JWK of a private key: `kty` and the public parameters (`crv`, `x`, `y`; or `n`, `e`), plus `kid`, `use`
/// and `alg`. Built from the public half only: no private parameter can reach it.
fn public_jwk(kid: &str, algorithm: Algorithm, der: &[u8]) -> Result<Jwk, KeyError> {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(algorithm, der), algorithm)
        .map_err(|e| KeyError::Unusable { kid: kid.to_owned(), problem: e.to_string() })?;
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm =
        Some(if algorithm == Algorithm::RS256 { KeyAlgorithm::RS256 } else { KeyAlgorithm::ES256 });
    Ok(jwk)
}

/// Retires every key but the newest of its algorithm, to be unpublished after `keep`; deletes keys whose time is up.
async fn retire_superseded(db: &Db, keep: Duration) -> Result<(), KeyError> {
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    on!(tx.as_exec(), conn => sqlx::query(
        "UPDATE oauth_signing_keys SET retired_at = $1, expires_at = $2
         WHERE retired_at IS NULL AND created_at < (SELECT MAX(newer.created_at) FROM oauth_signing_keys newer
                                                    WHERE newer.algorithm = oauth_signing_keys.algorithm)",
    )
    .bind(now)
    .bind(now + keep.as_secs() as i64)
    .execute(conn)
    .await
    .map(drop))?;
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM oauth_signing_keys WHERE expires_at IS NOT NULL AND expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await
        .map(drop))?;
    tx.commit().await?;
    Ok(())
}

type KeyRow = (String, String, Vec<u8>, i64, Option<i64>);

/// Every published key, opened.
async fn load(db: &Db, sealer: &Sealer) -> Result<Vec<Arc<SigningKey>>, KeyError> {
    let rows: Vec<KeyRow> = on!(db, pool => sqlx::query_as(
        "SELECT id, algorithm, private_key, created_at, retired_at FROM oauth_signing_keys
         WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at DESC",
    )
    .bind(clock::now())
    .fetch_all(pool)
    .await)?;
    rows.into_iter()
        .map(|(kid, algorithm, sealed, created_at, retired_at)| {
            let algorithm = parse(&algorithm).ok_or_else(|| KeyError::Unusable {
                kid: kid.clone(),
                problem: format!("unknown algorithm {algorithm}"),
            })?;
            let der = sealer
                .open(Purpose::SigningKey, &kid, &sealed)
                .map_err(|e| KeyError::Sealed { kid: kid.clone(), problem: e.to_string() })?;
            let jwk = public_jwk(&kid, algorithm, &der)?;
            let decoding = DecodingKey::from_jwk(&jwk)
                .map_err(|e| KeyError::Unusable { kid: kid.clone(), problem: e.to_string() })?;
            let rsa = match algorithm {
                Algorithm::RS256 => Some(
                    ring::signature::RsaKeyPair::from_der(&der)
                        .map_err(|e| KeyError::Unusable { kid: kid.clone(), problem: e.to_string() })?,
                ),
                _ => None,
            };
            Ok(Arc::new(SigningKey {
                encoding: encoding_key(algorithm, &der),
                rsa,
                algorithm,
                decoding,
                jwk,
                kid,
                created_at,
                retired_at,
            }))
        })
        .collect()
}
