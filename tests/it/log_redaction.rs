//! Secrets in log lines (issue 8): every line boardpack writes, human or JSON, passes through the redaction
//! of credentials — the lines of its dependencies too, such as the object store's own retry lines, which
//! boardpack does not compose. The object store is made to retry against the in-process S3 server; lines
//! carrying a SAS-style URL and the store's secret key are logged under the object store's own target, as
//! a client that prints its request URL in a retry line would; the secret never reaches the writer, the
//! retry lines still do.

use std::sync::Arc;

use bytes::Bytes;

use boardpack::logging::{self, Captured};
use boardpack::world::World;

use crate::s3_server::S3Server;
use crate::support::TestProject;

const SECRET_KEY: &str = "bpFAKEstoreSecretKey0d1e2f3a4b5c";
const SAS_SIG: &str = "FAKEsasSIGnature0a1b2c3d%2Bq%3D";

/// Runs `work` with boardpack's subscriber (as `main` installs it, JSON or not) writing to memory.
async fn logged<F: std::future::Future<Output = ()>>(json: bool, work: F) -> String {
    let captured = Captured::default();
    let subscriber = logging::subscriber(
        tracing_subscriber::EnvFilter::new("info"),
        json,
        false,
        captured.clone(),
    );
    // The test runtime has one thread: the object store's retries are logged on it, under this default.
    let guard = tracing::subscriber::set_default(subscriber);
    work.await;
    drop(guard);
    captured.text()
}

#[tokio::test]
async fn retry_lines_are_written_and_secrets_in_them_are_not() {
    let s3 = S3Server::start_with_secret(SECRET_KEY).await;
    let p = TestProject::new();
    p.write("config/boardpack.yaml", &s3.config_yaml("lake"));
    let world: Arc<World> = Arc::new(p.world());
    // As `main` does once the store is open: its configured secret key is blanked from every line.
    logging::redact_store(&world.store);
    world
        .store
        .put("inputs/x/part-0.parquet", Bytes::from_static(b"PAR1"))
        .await
        .expect("upload");

    for json in [true, false] {
        let w = world.clone();
        let s3 = &s3;
        let text = logged(json, async move {
            // Two 503s, then the object: the object store retries twice and logs each retry itself.
            s3.fail_next(2);
            let got = w.store.get("inputs/x/part-0.parquet").await.expect("retried");
            assert_eq!(&got[..], b"PAR1");
            // What a client printing its request URL in a retry line logs (a SAS token in the query),
            // and a line quoting the configured secret key, both under the object store's target.
            tracing::info!(
                target: "object_store::client::retry",
                "Encountered transport error of kind Request, backing off for 0.1 seconds, retry 1 of 3: \
                 error sending request for url \
                 (https://acct.blob.core.windows.net/lake/runs/run.json?sv=2022-11-02&ss=b&sig={SAS_SIG})"
            );
            tracing::warn!(
                target: "object_store::aws::credential",
                secret = SECRET_KEY,
                "signing with secret_access_key={SECRET_KEY} failed once; retrying"
            );
        })
        .await;
        let what = if json { "JSON logs" } else { "human logs" };
        // The genuine retry lines of the object store are there (twice)…
        assert_eq!(
            text.matches("Encountered server error with status 503")
                .count(),
            2,
            "{what}: {text}"
        );
        assert!(
            text.contains("retry 1 of 3") && text.contains("retry 2 of 3"),
            "{what}: {text}"
        );
        // …and so are the lines with secrets, without them.
        assert!(
            text.contains("acct.blob.core.windows.net/lake/runs/run.json?sv=2022-11-02&ss=b&sig="),
            "{what}: {text}"
        );
        assert!(text.contains("failed once; retrying"), "{what}: {text}");
        for secret in [SAS_SIG, "FAKEsasSIG", SECRET_KEY] {
            assert!(!text.contains(secret), "{what} show {secret}:\n{text}");
        }
        assert!(text.contains("[redacted]"), "{what}: {text}");
        if json {
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("a redacted JSON line stays JSON ({e}): {line}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_writes_its_retry_lines_through_the_redaction() {
    let s3 = S3Server::start_with_secret(SECRET_KEY).await;
    let p = crate::pipeline::project();
    crate::pipeline::seed_visits(&p);
    // The visits uploaded through the store, as the faults tests do.
    p.write("config/boardpack.yaml", &s3.config_yaml("lake"));
    let world = p.world();
    upload_lake(&p, &world).await;
    for format in ["json", "text"] {
        s3.fail_next(2);
        let out = tokio::task::block_in_place(|| {
            std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
                .args([
                    "--project",
                    p.root().to_str().unwrap(),
                    "--log-format",
                    format,
                ])
                .args(["run", "waits", "--period", "2022-04", "--no-cache"])
                .env("BOARDPACK_LOG", "info")
                .output()
                .expect("the binary runs")
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("Encountered server error with status 503"),
            "{format}: the object store's retry line is written: {stderr}"
        );
        assert!(!stderr.contains(SECRET_KEY), "{format}: {stderr}");
    }
}

/// Moves the project's local lake (`lake/`) onto the world's store (the S3 server), object by object.
async fn upload_lake(p: &TestProject, world: &World) {
    let local = p.root().join("lake");
    for e in walk(&local) {
        let rel = e
            .strip_prefix(&local)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        world
            .store
            .put(&rel, Bytes::from(std::fs::read(&e).unwrap()))
            .await
            .unwrap();
    }
    std::fs::remove_dir_all(&local).unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const SESSION_TOKEN: &str = "FQoGZXIvYXdzEFAKEsessionTOKEN0123456789abcdef";

/// An S3 error whose body echoes the request's credentials (as real S3's `InvalidToken` echoes the token)
/// reaches the final `error:` line and the logs without them, in text and JSON modes: not the session
/// token, not the access key id, not the signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_error_echoing_the_request_credentials_shows_none_of_them() {
    let s3 = S3Server::start_with_secret(SECRET_KEY).await;
    let p = crate::pipeline::project();
    crate::pipeline::seed_visits(&p);
    p.write(
        "config/boardpack.yaml",
        &s3.config_yaml("lake").replace(
            "  options:\n",
            &format!("  options:\n    token: \"{SESSION_TOKEN}\"\n"),
        ),
    );
    let world = p.world();
    upload_lake(&p, &world).await;
    // Every request under the inputs is refused, the answer quoting its credential headers.
    s3.echo_credentials("/bucket/lake/inputs/");
    for format in ["text", "json"] {
        let out = tokio::task::block_in_place(|| {
            std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
                .args([
                    "--project",
                    p.root().to_str().unwrap(),
                    "--log-format",
                    format,
                ])
                .args(["run", "waits", "--period", "2022-04", "--no-cache"])
                .env("BOARDPACK_LOG", "debug")
                .output()
                .expect("the binary runs")
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{format}: the run fails: {stderr}");
        // The reason (the server's answer, over several lines) is shown, redacted.
        let reason = &stderr[stderr.rfind("error: ").expect("a reason")..];
        assert!(reason.contains("InvalidToken"), "{format}: {stderr}");
        for secret in [SESSION_TOKEN, crate::s3_server::ACCESS_KEY, SECRET_KEY] {
            assert!(
                !stderr.contains(secret),
                "{format}: shows {secret}:\n{stderr}"
            );
        }
        // The signature itself: whatever follows `Signature=` is blanked.
        for (i, _) in stderr.match_indices("Signature=") {
            assert!(
                stderr[i + "Signature=".len()..].starts_with("[redacted]"),
                "{format}: {}",
                &stderr[i..(i + 80).min(stderr.len())]
            );
        }
        assert!(stderr.contains("[redacted]"), "{format}: {stderr}");
    }
}
