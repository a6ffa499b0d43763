//! The object store: the system of record for inputs, step outputs, reports and run records.
//!
//! Owns opening a store from configuration (a local folder by default; `s3://`, `gs://`, `az://` by URL,
//! credentials only from the standard environment variables or instance metadata), keeping every path
//! under the configured root, and the few operations the rest of the tool needs. It knows nothing of
//! pipelines: callers pass paths relative to the root, and this module refuses any that would escape it.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};
use url::Url;

use crate::faults::{RetryPolicy, Secrets, redact_location, redact_url};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store path `{path}` is not allowed: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("store `{url}` could not be opened: {reason}")]
    Open { url: String, reason: String },
    #[error("{op} `{path}` on the store failed: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("`{path}` already exists on the store")]
    AlreadyExists { path: String },
    #[error("`{path}` was not found on the store")]
    NotFound { path: String },
    #[error(
        "`{path}` on the store leads through a symbolic link to `{target}`, outside the store's root: refused"
    )]
    OutsideRoot { path: String, target: String },
}

/// A store rooted at a URL. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The root, always ending in `/` (`file:///srv/lake/`, `s3://bucket/boardpack/`).
    root: Url,
    /// The store for the root's scheme and authority (the whole file system, the whole bucket).
    inner: Arc<dyn ObjectStore>,
    /// The root's path inside `inner`.
    prefix: Path,
    /// Credentials in force, never to be shown.
    secrets: Arc<Secrets>,
    /// A local store's root folder, resolved once at open (links followed): what no path may leave.
    local_root: Option<PathBuf>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", redact_url(&self.root))
    }
}

/// One object, by its path relative to the store root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectInfo {
    pub path: String,
    pub size: u64,
}

impl Store {
    /// Opens the store named by `location`: an `s3://`, `gs://`, `az://`/`abfs://`, `file://` or `memory://`
    /// URL, or a folder path (relative to `base`), created if missing.
    ///
    /// `options` are builder settings such as an endpoint or `allow_http` for an S3-compatible server; they
    /// must never hold credentials, which come from the environment as each cloud's tools expect.
    pub fn open(
        location: &str,
        base: &FsPath,
        options: &[(String, String)],
    ) -> Result<Store, StoreError> {
        Self::open_with(location, base, options, &RetryPolicy::default())
    }

    /// [`Store::open`] with the retries and timeouts of a cloud store (`store.retry` in the configuration).
    pub fn open_with(
        location: &str,
        base: &FsPath,
        options: &[(String, String)],
        retry: &RetryPolicy,
    ) -> Result<Store, StoreError> {
        // A location may carry credentials (`az://…?sig=…`): errors show it without them.
        let secrets = Secrets::gather(options.iter().map(|(k, v)| (k.as_str(), v.as_str())), |k| {
            std::env::var(k).ok()
        });
        let open_err = |reason: String| StoreError::Open {
            url: redact_location(location),
            reason: secrets.redact(&reason),
        };
        let url = match Url::parse(location) {
            Ok(u) if u.scheme().len() > 1 => u,
            // Not a URL (or a Windows drive letter): a folder.
            _ => {
                let dir = if FsPath::new(location).is_absolute() {
                    PathBuf::from(location)
                } else {
                    base.join(location)
                };
                std::fs::create_dir_all(&dir)
                    .map_err(|e| open_err(format!("cannot create folder: {e}")))?;
                let dir = dir.canonicalize().map_err(|e| open_err(e.to_string()))?;
                Url::from_directory_path(&dir)
                    .map_err(|_| open_err("not an absolute folder".into()))?
            }
        };
        let root = with_trailing_slash(url);
        // Cloud stores: the configured timeouts first, so that explicit options override them.
        let cloud_options: Vec<(String, String)> = retry
            .timeout_options()
            .into_iter()
            .chain(options.iter().cloned())
            .collect();
        let options = cloud_options.as_slice();
        let inner: Arc<dyn ObjectStore> = match root.scheme() {
            "file" => {
                let dir = root
                    .to_file_path()
                    .map_err(|_| open_err("not a local path".into()))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| open_err(format!("cannot create folder: {e}")))?;
                Arc::new(LocalFileSystem::new())
            }
            "memory" => Arc::new(object_store::memory::InMemory::new()),
            "s3" | "s3a" => {
                let b = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(root.as_str())
                    .with_retry(retry.retry_config());
                let b = with_options(
                    b,
                    options,
                    |b, k: object_store::aws::AmazonS3ConfigKey, v| b.with_config(k, v),
                );
                Arc::new(
                    b.map_err(open_err)?
                        .build()
                        .map_err(|e| open_err(e.to_string()))?,
                )
            }
            "gs" => {
                let b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(root.as_str())
                    .with_retry(retry.retry_config());
                let b = with_options(b, options, |b, k: object_store::gcp::GoogleConfigKey, v| {
                    b.with_config(k, v)
                });
                Arc::new(
                    b.map_err(open_err)?
                        .build()
                        .map_err(|e| open_err(e.to_string()))?,
                )
            }
            "az" | "azure" | "abfs" | "abfss" => {
                let b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(root.as_str())
                    .with_retry(retry.retry_config());
                let b = with_options(
                    b,
                    options,
                    |b, k: object_store::azure::AzureConfigKey, v| b.with_config(k, v),
                );
                Arc::new(
                    b.map_err(open_err)?
                        .build()
                        .map_err(|e| open_err(e.to_string()))?,
                )
            }
            other => {
                return Err(open_err(format!(
                    "unsupported scheme `{other}` (use a folder, s3://, gs:// or az://)"
                )));
            }
        };
        let prefix = Path::from_url_path(root.path()).map_err(|e| open_err(e.to_string()))?;
        let local_root = (root.scheme() == "file")
            .then(|| root.to_file_path().ok())
            .flatten()
            .map(|d| d.canonicalize().unwrap_or(d));
        Ok(Store {
            root,
            inner,
            prefix,
            secrets: Arc::new(secrets),
            local_root,
        })
    }

    /// The same store seen through a layer over its object store (a test's failing or counting
    /// wrapper, say): every read and write of the tool, the engine's included, goes through it.
    pub fn wrapped(
        &self,
        layer: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> Store {
        let mut s = self.clone();
        s.inner = layer(self.inner.clone());
        s
    }

    /// The root URL for showing and recording: without user name, password or credential parameters.
    pub fn display_root(&self) -> String {
        redact_url(&self.root)
    }

    /// A message with the store's credentials (from its options or the environment) and any credential in
    /// a URL replaced by `[redacted]`, for logs, run records and errors.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    /// The root URL (ends in `/`).
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The object store serving the root's scheme and authority, for registering with the engine.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// The URL of the scheme and authority (`s3://bucket`), under which the engine finds this store.
    pub fn authority_url(&self) -> Url {
        let mut u = self.root.clone();
        u.set_path("");
        u
    }

    /// The full path inside the inner store of a path relative to the root. Refuses absolute paths,
    /// `..`, empty or `.` segments and backslashes: a configured path can never leave the root.
    /// On a local store the path must also not lead out of the root through a symbolic link.
    pub fn path(&self, rel: &str) -> Result<Path, StoreError> {
        let rel = check_relative(rel)?;
        self.inside_root(rel)?;
        Ok(self.prefix.parts().chain(Path::from(rel).parts()).collect())
    }

    /// The URL of a path relative to the root (a prefix ends in `/`), for the engine's table paths.
    pub fn url(&self, rel: &str) -> Result<Url, StoreError> {
        let rel = check_relative(rel)?;
        self.root.join(rel).map_err(|_| StoreError::InvalidPath {
            path: rel.to_string(),
            reason: "not a URL path",
        })
    }

    /// The file of a path on a local store (`file://`); `None` on a bucket or in memory.
    pub fn local_path(&self, rel: &str) -> Option<PathBuf> {
        let rel = check_relative(rel).ok()?;
        Some(self.local_root.as_ref()?.join(rel))
    }

    /// Refuses a path of a local store that resolves outside the root: the local object store follows
    /// symbolic links, and a link inside the lake must not make it read (or list) files elsewhere.
    fn inside_root(&self, rel: &str) -> Result<(), StoreError> {
        let (Some(file), Some(root)) = (self.local_path(rel), &self.local_root) else {
            return Ok(());
        };
        // A path not written yet is judged by the nearest folder above it that exists: a write must not
        // go through a linked folder either.
        let mut existing = file.as_path();
        while std::fs::symlink_metadata(existing).is_err() {
            match existing.parent() {
                Some(p) => existing = p,
                None => return Ok(()),
            }
        }
        let Ok(resolved) = existing.canonicalize() else {
            // A dangling link: the operation itself reports that nothing is there.
            return Ok(());
        };
        if resolved.starts_with(root) {
            Ok(())
        } else {
            Err(StoreError::OutsideRoot {
                path: rel.to_string(),
                target: resolved.display().to_string(),
            })
        }
    }

    /// Turns a full path from `list` back into a path relative to the root.
    fn relative(&self, full: &Path) -> String {
        let prefix_len = self.prefix.parts().count();
        full.parts()
            .skip(prefix_len)
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    pub async fn put(&self, rel: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = self.path(rel)?;
        self.inner
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| StoreError::Io {
                op: "writing",
                path: rel.to_string(),
                source,
            })?;
        Ok(())
    }

    /// Writes an object only if none exists at the path (an atomic create-if-absent).
    pub async fn put_new(&self, rel: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = self.path(rel)?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .inner
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(StoreError::AlreadyExists {
                path: rel.to_string(),
            }),
            Err(source) => Err(StoreError::Io {
                op: "writing",
                path: rel.to_string(),
                source,
            }),
        }
    }

    pub async fn get(&self, rel: &str) -> Result<Bytes, StoreError> {
        let path = self.path(rel)?;
        let result = match self.inner.get(&path).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound {
                    path: rel.to_string(),
                });
            }
            Err(source) => {
                return Err(StoreError::Io {
                    op: "reading",
                    path: rel.to_string(),
                    source,
                });
            }
        };
        result.bytes().await.map_err(|source| StoreError::Io {
            op: "reading",
            path: rel.to_string(),
            source,
        })
    }

    /// Whether an object exists at the path.
    pub async fn exists(&self, rel: &str) -> Result<bool, StoreError> {
        let path = self.path(rel)?;
        match self.inner.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(StoreError::Io {
                op: "looking up",
                path: rel.to_string(),
                source,
            }),
        }
    }

    pub async fn delete(&self, rel: &str) -> Result<(), StoreError> {
        let path = self.path(rel)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StoreError::Io {
                op: "deleting",
                path: rel.to_string(),
                source,
            }),
        }
    }

    /// Every object under a prefix (recursively), sorted by path, with paths relative to the root.
    pub async fn list(&self, rel_prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let prefix = self.path(rel_prefix.trim_end_matches('/'))?;
        let metas: Vec<ObjectMeta> =
            self.inner
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|source| StoreError::Io {
                    op: "listing",
                    path: rel_prefix.to_string(),
                    source,
                })?;
        let mut out: Vec<ObjectInfo> = metas
            .iter()
            .map(|m| ObjectInfo {
                path: self.relative(&m.location),
                size: m.size,
            })
            .collect();
        // A listed file reached through a link out of the root is refused, never silently read or skipped.
        for o in &out {
            self.inside_root(&o.path)?;
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The size and SHA-256 of an object's content, in one streaming read (never whole into memory).
    pub async fn digest(&self, rel: &str) -> Result<(u64, String), StoreError> {
        let path = self.path(rel)?;
        let io = |source| StoreError::Io {
            op: "reading",
            path: rel.to_string(),
            source,
        };
        let mut stream = self.inner.get(&path).await.map_err(io)?.into_stream();
        let (mut size, mut hasher) = (0u64, Sha256::new());
        while let Some(chunk) = stream.try_next().await.map_err(io)? {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((size, hex::encode(hasher.finalize())))
    }
}

/// Applies a cloud builder's non-secret options (`endpoint`, `allow_http`, …), naming any it does not know.
fn with_options<B, K>(
    mut builder: B,
    options: &[(String, String)],
    set: fn(B, K, String) -> B,
) -> Result<B, String>
where
    K: std::str::FromStr,
    K::Err: fmt::Display,
{
    for (k, v) in options {
        let key = k
            .parse::<K>()
            .map_err(|e| format!("unknown store option `{k}`: {e}"))?;
        builder = set(builder, key, v.clone());
    }
    Ok(builder)
}

/// SHA-256 of bytes in memory, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    url
}

/// Validates a path relative to a root: no absolute paths, no `..`, `.` or empty segments, no backslashes.
pub fn check_relative(rel: &str) -> Result<&str, StoreError> {
    let bad = |reason| {
        Err(StoreError::InvalidPath {
            path: rel.to_string(),
            reason,
        })
    };
    let trimmed = rel.trim_end_matches('/');
    if trimmed.is_empty() {
        return bad("it is empty");
    }
    if trimmed.starts_with('/') || trimmed.contains(':') {
        return bad("it must be relative to the store root");
    }
    if trimmed.contains('\\') {
        return bad("use `/` between segments");
    }
    for seg in trimmed.split('/') {
        match seg {
            "" => return bad("it has an empty segment"),
            "." | ".." => return bad("it may not contain `.` or `..` segments"),
            _ => {}
        }
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_cannot_escape() {
        for bad in [
            "../x",
            "a/../../b",
            "/etc/passwd",
            "a//b",
            "a\\b",
            "",
            "s3://other/x",
            "./a",
        ] {
            assert!(check_relative(bad).is_err(), "{bad} should be refused");
        }
        for good in [
            "inputs/ae",
            "inputs/ae/",
            "runs/a/month=2022-04/part-0.parquet",
        ] {
            assert!(check_relative(good).is_ok(), "{good} should be allowed");
        }
    }

    #[test]
    fn cloud_stores_open_by_url_and_name_unknown_options() {
        let base = std::path::Path::new(".");
        let opts = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let s3 = Store::open(
            "s3://bucket/boardpack",
            base,
            &opts(&[
                ("endpoint", "http://127.0.0.1:9000"),
                ("allow_http", "true"),
                ("region", "eu-west-2"),
            ]),
        )
        .expect("an S3 store opens without touching the network");
        assert_eq!(s3.root().as_str(), "s3://bucket/boardpack/");
        assert_eq!(s3.authority_url().as_str(), "s3://bucket");
        assert_eq!(s3.path("inputs/x").unwrap().as_ref(), "boardpack/inputs/x");
        let err = Store::open("s3://bucket", base, &opts(&[("colour", "blue")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown store option `colour`"), "{err}");
        assert!(Store::open("ftp://host/x", base, &[]).is_err());
    }

    #[tokio::test]
    async fn local_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("lake", dir.path(), &[]).unwrap();
        store
            .put("a/b.txt", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert!(matches!(
            store.put_new("a/b.txt", Bytes::from_static(b"x")).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        assert_eq!(
            store.get("a/b.txt").await.unwrap(),
            Bytes::from_static(b"hello")
        );
        let listed = store.list("a").await.unwrap();
        assert_eq!(
            listed,
            vec![ObjectInfo {
                path: "a/b.txt".into(),
                size: 5
            }]
        );
        assert_eq!(
            store.digest("a/b.txt").await.unwrap(),
            (5, sha256_hex(b"hello"))
        );
        assert!(dir.path().join("lake/a/b.txt").exists());
    }
}
