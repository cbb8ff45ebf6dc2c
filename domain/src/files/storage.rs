//! Object storage behind one interface: local disk (the default) or an
//! S3-compatible store, chosen by configuration, both through `object_store`.
//!
//! Object keys are ours — `{customer}/{file_id}` (plus a prefix on S3) —
//! never a client's filename. Clients move bytes with signed URLs: S3
//! presigned requests (object_store's `Signer`), or, on local disk, URLs on
//! the API signed by us (HMAC-SHA256 over method, path and expiry).

use std::{path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, future::BoxFuture};
use hmac::{Hmac, Mac};
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, WriteMultipart,
    aws::{AmazonS3, AmazonS3Builder},
    local::LocalFileSystem,
    path::Path as ObjectPath,
    signer::{HeaderName, HeaderValue, Method, SignedUrlOptions, Signer},
};
use sha2::Sha256;

use crate::{
    config::{self, ConfigError},
    ids::CustomerId,
};

use super::FileId;

/// Where objects live.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// Files under a directory (`LAUNCHPAD_STORAGE_DIR`, default `.data/files`).
    Local { dir: PathBuf },
    /// An S3-compatible bucket (`LAUNCHPAD_STORAGE_URL=s3://bucket/prefix`).
    S3(S3Config),
}

#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing slash; may be empty).
    pub prefix: String,
    /// `LAUNCHPAD_STORAGE_ENDPOINT` (MinIO, SeaweedFS, R2…); AWS when absent.
    pub endpoint: Option<String>,
    /// `LAUNCHPAD_STORAGE_REGION`, else `AWS_REGION`, else `us-east-1`.
    pub region: String,
    /// `LAUNCHPAD_STORAGE_PATH_STYLE`: `https://host/bucket/key` addressing.
    pub path_style: bool,
    /// From `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials.
        match self {
            Self::Local { dir } => write!(f, "local:{}", dir.display()),
            Self::S3(s) => write!(
                f,
                "s3://{}/{} (endpoint {:?}, region {}, path style {})",
                s.bucket, s.prefix, s.endpoint, s.region, s.path_style
            ),
        }
    }
}

impl StorageConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let Some(url) = config::optional("LAUNCHPAD_STORAGE_URL")? else {
            let dir =
                config::optional("LAUNCHPAD_STORAGE_DIR")?.unwrap_or_else(|| ".data/files".into());
            return Ok(Self::Local { dir: dir.into() });
        };
        let var = "LAUNCHPAD_STORAGE_URL";
        let rest = url
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| config::invalid(var, "must be s3://bucket[/prefix]"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(config::invalid(
                var,
                "names no bucket (s3://bucket[/prefix])",
            ));
        }
        let region = match config::optional("LAUNCHPAD_STORAGE_REGION")? {
            Some(r) => r,
            None => config::optional("AWS_REGION")?.unwrap_or_else(|| "us-east-1".into()),
        };
        let endpoint = config::optional("LAUNCHPAD_STORAGE_ENDPOINT")?;
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(config::invalid(
                "LAUNCHPAD_STORAGE_ENDPOINT",
                "must be an http(s):// URL",
            ));
        }
        Ok(Self::S3(S3Config {
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
            endpoint,
            region,
            path_style: config::flag("LAUNCHPAD_STORAGE_PATH_STYLE")?,
            access_key_id: config::optional("AWS_ACCESS_KEY_ID")?,
            secret_access_key: config::optional("AWS_SECRET_ACCESS_KEY")?,
            session_token: config::optional("AWS_SESSION_TOKEN")?,
        }))
    }
}

/// Which implementation a [`Storage`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Local,
    S3,
}

/// A request a client may make without credentials of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: String,
    /// Absolute (S3) or relative to the API's base URL (local disk).
    pub url: String,
    /// Headers the request must carry exactly (they are part of the signature).
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What to sign.
pub struct Presign<'a> {
    pub put: bool,
    pub key: &'a ObjectKey,
    /// The API route that serves this request on local disk
    /// (`/api/v1/files/{id}/upload`); unused on S3.
    pub local_path: &'a str,
    pub expires_in: Duration,
    /// PUT: the content type the upload must declare; GET: the one answered.
    pub content_type: Option<&'a str>,
    /// GET: the `Content-Disposition` answered.
    pub content_disposition: Option<&'a str>,
}

/// One store of objects. Reads, writes, listings and deletes go through
/// [`Storage::objects`] (object_store's interface, the same for both
/// implementations); what differs is signing URLs for clients.
pub trait Storage: Send + Sync + 'static {
    fn kind(&self) -> StorageKind;
    fn objects(&self) -> &Arc<dyn ObjectStore>;
    /// The store's path of a key (adds the S3 prefix).
    fn path(&self, key: &ObjectKey) -> ObjectPath;
    /// The key of a store path, when it is one of ours.
    fn key_of(&self, path: &ObjectPath) -> Option<ObjectKey>;
    /// The path listed to find every object (the prefix; the root on disk).
    fn root(&self) -> Option<ObjectPath>;
    /// Whether objects can carry a stored `Content-Type`.
    fn stores_content_type(&self) -> bool;
    fn presign<'a>(&'a self, req: Presign<'a>) -> BoxFuture<'a, anyhow::Result<SignedRequest>>;
}

/// An object key: `{customer}/{file_id}`, or the thumbnail of a file
/// (`{customer}/{file_id}.thumb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub customer: CustomerId,
    pub file: FileId,
    pub thumbnail: bool,
}

impl ObjectKey {
    pub fn of(customer: CustomerId, file: FileId) -> Self {
        Self {
            customer,
            file,
            thumbnail: false,
        }
    }

    pub fn thumbnail(self) -> Self {
        Self {
            thumbnail: true,
            ..self
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let (customer, rest) = s.split_once('/')?;
        let (file, thumbnail) = match rest.strip_suffix(".thumb") {
            Some(f) => (f, true),
            None => (rest, false),
        };
        Some(Self {
            customer: customer.parse().ok()?,
            file: file.parse().ok()?,
            thumbnail,
        })
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.customer, self.file)?;
        if self.thumbnail {
            f.write_str(".thumb")?;
        }
        Ok(())
    }
}

/// Builds the configured storage. `signing_key` signs local URLs (the API's;
/// the worker signs none and may pass any key).
pub fn build(cfg: &StorageConfig, signing_key: &[u8]) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(match cfg {
        StorageConfig::Local { dir } => Arc::new(LocalStorage::new(dir, signing_key)?),
        StorageConfig::S3(s) => Arc::new(S3Storage::new(s)?),
    })
}

/// The key of the API's URL signatures, derived from another secret.
pub fn derive_signing_key(secret: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(b"launchpad file URL signatures v1");
    mac.finalize().into_bytes().to_vec()
}

/// rustls' provider for the S3 client's TLS (ring, as everywhere here).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ---------------------------------------------------------------------------
// Local disk

pub struct LocalStorage {
    store: Arc<dyn ObjectStore>,
    signer: UrlSigner,
}

impl LocalStorage {
    pub fn new(dir: &std::path::Path, signing_key: &[u8]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("storage directory {}: {e}", dir.display()))?;
        let fs = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(fs),
            signer: UrlSigner::new(signing_key),
        })
    }
}

impl Storage for LocalStorage {
    fn kind(&self) -> StorageKind {
        StorageKind::Local
    }
    fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
    fn path(&self, key: &ObjectKey) -> ObjectPath {
        ObjectPath::from(key.to_string())
    }
    fn key_of(&self, path: &ObjectPath) -> Option<ObjectKey> {
        ObjectKey::parse(path.as_ref())
    }
    fn root(&self) -> Option<ObjectPath> {
        None
    }
    fn stores_content_type(&self) -> bool {
        false
    }
    fn presign<'a>(&'a self, req: Presign<'a>) -> BoxFuture<'a, anyhow::Result<SignedRequest>> {
        Box::pin(async move {
            let method = if req.put { "PUT" } else { "GET" };
            let expires_at = Utc::now()
                + chrono::Duration::from_std(req.expires_in).unwrap_or(chrono::Duration::hours(1));
            let expires = expires_at.timestamp();
            let signature = self.signer.sign(method, req.local_path, expires);
            let mut headers = vec![];
            if req.put
                && let Some(ct) = req.content_type
            {
                headers.push(("content-type".to_string(), ct.to_string()));
            }
            Ok(SignedRequest {
                method: method.into(),
                url: format!("{}?expires={expires}&signature={signature}", req.local_path),
                headers,
                expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(expires_at),
            })
        })
    }
}

/// Signs and checks the API's own URLs for local storage:
/// HMAC-SHA256 over `METHOD\npath\nexpires` (unix seconds), hex.
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the URL has expired")]
    Expired,
    #[error("the signature does not match")]
    Invalid,
}

impl UrlSigner {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, method: &str, path: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(method.as_bytes());
        mac.update(b"\n");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    pub fn sign(&self, method: &str, path: &str, expires: i64) -> String {
        hex::encode(self.mac(method, path, expires).finalize().into_bytes())
    }

    /// Checks a signature (constant time) and then the expiry.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let given = hex::decode(signature).map_err(|_| SignatureError::Invalid)?;
        self.mac(method, path, expires)
            .verify_slice(&given)
            .map_err(|_| SignatureError::Invalid)?;
        if now.timestamp() > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// S3-compatible

pub struct S3Storage {
    s3: Arc<AmazonS3>,
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl S3Storage {
    pub fn new(c: &S3Config) -> anyhow::Result<Self> {
        install_tls_provider();
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&c.bucket)
            .with_region(&c.region)
            .with_virtual_hosted_style_request(!c.path_style);
        if let Some(e) = &c.endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        if let Some(k) = &c.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &c.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        if let Some(t) = &c.session_token {
            b = b.with_token(t);
        }
        let s3 = Arc::new(b.build()?);
        Ok(Self {
            store: s3.clone(),
            s3,
            prefix: c.prefix.clone(),
        })
    }
}

impl Storage for S3Storage {
    fn kind(&self) -> StorageKind {
        StorageKind::S3
    }
    fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
    fn path(&self, key: &ObjectKey) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key.to_string())
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }
    fn key_of(&self, path: &ObjectPath) -> Option<ObjectKey> {
        let s = path.as_ref();
        let s = if self.prefix.is_empty() {
            s
        } else {
            s.strip_prefix(&self.prefix)?.strip_prefix('/')?
        };
        ObjectKey::parse(s)
    }
    fn root(&self) -> Option<ObjectPath> {
        (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()))
    }
    fn stores_content_type(&self) -> bool {
        true
    }
    fn presign<'a>(&'a self, req: Presign<'a>) -> BoxFuture<'a, anyhow::Result<SignedRequest>> {
        Box::pin(async move {
            let path = self.path(req.key);
            let mut opts = SignedUrlOptions::default();
            let mut headers = vec![];
            if req.put {
                if let Some(ct) = req.content_type {
                    opts = opts.with_signed_header(
                        HeaderName::from_static("content-type"),
                        HeaderValue::from_str(ct)?,
                    );
                    headers.push(("content-type".to_string(), ct.to_string()));
                }
            } else {
                if let Some(ct) = req.content_type {
                    opts = opts.with_query([("response-content-type", ct)]);
                }
                if let Some(cd) = req.content_disposition {
                    opts = opts.with_query([("response-content-disposition", cd)]);
                }
            }
            let method = if req.put { Method::PUT } else { Method::GET };
            let expires_at = Utc::now()
                + chrono::Duration::from_std(req.expires_in).unwrap_or(chrono::Duration::hours(1));
            let url = self
                .s3
                .signed_url_opts(method.clone(), &path, req.expires_in, &opts)
                .await?;
            Ok(SignedRequest {
                method: method.to_string(),
                url: url.to_string(),
                headers,
                expires_at,
            })
        })
    }
}

// ---------------------------------------------------------------------------
// Streaming writes

/// Why a streamed write stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// More bytes than `limit` arrived (the write was aborted at that point).
    #[error("the body exceeds {limit} bytes")]
    TooLarge { limit: u64 },
    /// The body ended before `expected` bytes.
    #[error("the body has {got} bytes, {expected} were declared")]
    TooShort { got: u64, expected: u64 },
    /// Reading the body failed (client went away).
    #[error("reading the body failed: {0}")]
    Body(std::io::Error),
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
}

/// Part size of streamed writes: memory per upload is a few of these.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Streams `body` to `key` as a multipart upload, so memory stays flat
/// whatever the size; stops and aborts (nothing kept) as soon as more than
/// `limit` bytes arrive, or when fewer than `expected` arrived in the end.
pub async fn put_stream<S>(
    storage: &dyn Storage,
    key: &ObjectKey,
    body: S,
    limit: u64,
    expected: u64,
    content_type: &str,
) -> Result<u64, PutError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
{
    let mut attributes = Attributes::new();
    if storage.stores_content_type() {
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
    }
    let upload = storage
        .objects()
        .put_multipart_opts(
            &storage.path(key),
            PutMultipartOptions {
                attributes,
                ..Default::default()
            },
        )
        .await?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut total = 0u64;
    let mut body = std::pin::pin!(body);
    let outcome = loop {
        match body.next().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(PutError::Body(e)),
            Some(Ok(chunk)) => {
                total += chunk.len() as u64;
                if total > limit {
                    break Err(PutError::TooLarge { limit });
                }
                if let Err(e) = w.wait_for_capacity(2).await {
                    break Err(e.into());
                }
                w.put(chunk);
            }
        }
    };
    let outcome = outcome.and_then(|()| {
        if total < expected {
            Err(PutError::TooShort {
                got: total,
                expected,
            })
        } else {
            Ok(())
        }
    });
    match outcome {
        Ok(()) => {
            w.finish().await?;
            Ok(total)
        }
        Err(e) => {
            if let Err(abort) = w.abort().await {
                tracing::warn!(key = %key, error = %abort, "aborting an upload failed");
            }
            Err(e)
        }
    }
}

/// Removes an object; a missing one is not an error.
pub async fn delete(storage: &dyn Storage, key: &ObjectKey) -> object_store::Result<()> {
    match storage.objects().delete(&storage.path(key)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `Content-Disposition: attachment` with `filename` as RFC 6266 wants it:
/// an ASCII fallback (`filename="…"`) and the exact name in RFC 5987
/// encoding (`filename*=UTF-8''…`).
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' && c != '%' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_never_hold_a_filename() {
        let k = ObjectKey::of(CustomerId::new(), FileId::new());
        assert_eq!(ObjectKey::parse(&k.to_string()), Some(k));
        let t = k.thumbnail();
        assert!(t.to_string().ends_with(".thumb"));
        assert_eq!(ObjectKey::parse(&t.to_string()), Some(t));
        assert_eq!(ObjectKey::parse("x/../etc/passwd"), None);
        assert_eq!(ObjectKey::parse("report.pdf"), None);
    }

    #[test]
    fn local_signatures_bind_method_path_and_expiry() {
        let s = UrlSigner::new(b"k");
        let now = Utc::now();
        let exp = now.timestamp() + 60;
        let sig = s.sign("PUT", "/api/v1/files/a/upload", exp);
        assert_eq!(
            s.verify("PUT", "/api/v1/files/a/upload", exp, &sig, now),
            Ok(())
        );
        let bad = Err(SignatureError::Invalid);
        assert_eq!(
            s.verify("GET", "/api/v1/files/a/upload", exp, &sig, now),
            bad
        );
        assert_eq!(
            s.verify("PUT", "/api/v1/files/b/upload", exp, &sig, now),
            bad
        );
        assert_eq!(
            s.verify("PUT", "/api/v1/files/a/upload", exp + 1, &sig, now),
            bad
        );
        assert_eq!(
            s.verify("PUT", "/api/v1/files/a/upload", exp, "zz", now),
            bad
        );
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            s.verify("PUT", "/api/v1/files/a/upload", exp, &sig, later),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            UrlSigner::new(b"other").verify("PUT", "/api/v1/files/a/upload", exp, &sig, now),
            bad
        );
    }

    #[test]
    fn content_disposition_has_an_ascii_fallback_and_the_exact_name() {
        assert_eq!(
            content_disposition("Résumé 2026.pdf"),
            "attachment; filename=\"R_sum_ 2026.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202026.pdf"
        );
        assert_eq!(
            content_disposition("a\"b\\c.txt"),
            "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"
        );
    }

    fn files_under(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { files_under(&p) } else { 1 }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn streamed_writes_stop_at_the_limit_and_keep_nothing() {
        let dir = std::env::temp_dir().join(format!("lp-storage-{}", uuid::Uuid::now_v7()));
        let st = LocalStorage::new(&dir, b"k").unwrap();
        let key = ObjectKey::of(CustomerId::new(), FileId::new());
        let chunks = |n: usize| {
            futures::stream::iter(
                (0..n).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 1 << 20]))),
            )
        };
        let r = put_stream(&st, &key, chunks(5), 3 << 20, 3 << 20, "x/y").await;
        assert!(matches!(r, Err(PutError::TooLarge { .. })), "{r:?}");
        let r = put_stream(&st, &key, chunks(2), 3 << 20, 3 << 20, "x/y").await;
        assert!(matches!(r, Err(PutError::TooShort { .. })), "{r:?}");
        let listed: Vec<_> = st.objects().list(None).collect().await;
        assert!(listed.is_empty(), "{listed:?}");
        assert_eq!(files_under(&dir), 0, "no staging file left");
        let n = put_stream(&st, &key, chunks(3), 3 << 20, 3 << 20, "x/y")
            .await
            .unwrap();
        assert_eq!(n, 3 << 20);
        let got = st
            .objects()
            .get(&st.path(&key))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(got.len(), 3 << 20);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
