//! An S3-compatible server in the test process: `s3s-fs` serving a temporary folder over HTTP on a
//! loopback port, with real SigV4 authentication, so that boardpack's `s3://` store is exercised through
//! the same client, signatures, retries and errors as against a cloud bucket.
//!
//! Faults can be injected between the client and the server: the next N requests answered `503 SlowDown`
//! (transient: the client must retry), every request for a path answered with a fixed status (permanent),
//! or the server stopped outright when a request matches (a crash: connections drop, new ones are
//! refused) and started again later on the same port with the same data.
//!
//! Usage: `let s3 = S3Server::start().await;` then point a project at it with `s3.config_yaml("lake")`
//! (configuration only) or `s3.env()` (environment only, for a child process).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::task::JoinSet;

pub const BUCKET: &str = "bucket";
pub const ACCESS_KEY: &str = "boardpack-test-access";
pub const REGION: &str = "us-east-1";

/// What to do with a request that matches.
#[derive(Clone, Debug)]
enum Rule {
    /// Answer with this status (and an S3 error body) every time.
    Status(u16),
    /// Stop the whole server before answering.
    Crash,
    /// Answer `400 InvalidToken` with a body echoing the request's credential headers, as AWS does.
    EchoCredentials,
}

#[derive(Default)]
struct Faults {
    /// The next this-many requests are answered `503 SlowDown`.
    transient: AtomicUsize,
    /// The next this-many requests are answered only after 30 s (longer than a test's timeout).
    stalled: AtomicUsize,
    /// (method or "*", a part of the path, what to do).
    rules: Mutex<Vec<(String, String, Rule)>>,
    /// "METHOD /bucket/path?query" of every request seen, in order.
    log: Mutex<Vec<String>>,
}

struct Running {
    accept: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

/// An S3 server on 127.0.0.1 serving a temporary folder; stopped when dropped.
pub struct S3Server {
    addr: SocketAddr,
    secret: String,
    dir: tempfile::TempDir,
    faults: Arc<Faults>,
    running: Arc<Mutex<Option<Running>>>,
}

impl S3Server {
    /// Starts a server with an empty bucket `bucket` and the default test secret key.
    pub async fn start() -> S3Server {
        Self::start_with_secret("boardpack-test-secret-key-0123456789").await
    }

    /// Starts a server whose only credentials are `ACCESS_KEY` and this secret key.
    pub async fn start_with_secret(secret: &str) -> S3Server {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join(BUCKET)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = S3Server {
            addr,
            secret: secret.to_string(),
            dir,
            faults: Arc::new(Faults::default()),
            running: Arc::new(Mutex::new(None)),
        };
        server.serve(listener);
        server
    }

    fn service(&self) -> S3Service {
        let fs = s3s_fs::FileSystem::new(self.dir.path()).expect("s3s-fs");
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(
            ACCESS_KEY,
            self.secret.as_str(),
        ));
        b.build()
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let s3 = self.service();
        let faults = self.faults.clone();
        let running = self.running.clone();
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let conns = connections.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let s3 = s3.clone();
                let faults = faults.clone();
                let running = running.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let s3 = s3.clone();
                    let faults = faults.clone();
                    let running = running.clone();
                    async move { answer(&s3, &faults, &running, req).await }
                });
                conns.lock().unwrap().spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        *self.running.lock().unwrap() = Some(Running {
            accept,
            connections,
        });
    }

    /// Stops the server as a crash would: open connections drop, new ones are refused.
    pub fn stop(&self) {
        stop(&self.running);
    }

    /// Starts the server again on the same port, with the same data.
    pub async fn restart(&self) {
        self.stop();
        // The old listener closes once its task is dropped: try for a while.
        let mut tries = 0;
        let listener = loop {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            match socket.bind(self.addr).and_then(|()| socket.listen(128)) {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot bind {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    pub fn is_running(&self) -> bool {
        self.running.lock().unwrap().is_some()
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The folder holding the bucket's objects (one file per object).
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join(BUCKET)
    }

    /// The store options for `config/boardpack.yaml` (endpoint, plain HTTP, region, credentials).
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("endpoint", self.endpoint()),
            ("allow_http", "true".to_string()),
            ("region", REGION.to_string()),
            ("access_key_id", ACCESS_KEY.to_string()),
            ("secret_access_key", self.secret.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A `config/boardpack.yaml` putting the store at `s3://bucket/<prefix>` on this server, with quick
    /// retries (a few, 10 ms apart at first) so that a test of a failure does not wait minutes.
    pub fn config_yaml(&self, prefix: &str) -> String {
        let mut y = format!("store:\n  url: s3://{BUCKET}/{prefix}\n  options:\n");
        for (k, v) in self.options() {
            y.push_str(&format!("    {k}: \"{v}\"\n"));
        }
        y.push_str(
            "  retry:\n    max_retries: 3\n    initial_backoff: 10ms\n    max_backoff: 100ms\n    \
             retry_timeout: 10s\n    timeout: 10s\n    connect_timeout: 1s\n",
        );
        y
    }

    /// The same as environment variables only (the AWS SDK's standard names), for a child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }

    /// The next `n` requests are answered `503 SlowDown` (S3's throttling answer).
    pub fn fail_next(&self, n: usize) {
        self.faults.transient.store(n, Ordering::SeqCst);
    }

    /// The next `n` requests hang for 30 s before being answered (a server that stopped responding).
    pub fn stall_next(&self, n: usize) {
        self.faults.stalled.store(n, Ordering::SeqCst);
    }

    /// Every request whose path contains `path_part` is answered with `status`, for ever.
    pub fn refuse(&self, path_part: &str, status: u16) {
        self.faults.rules.lock().unwrap().push((
            "*".into(),
            path_part.into(),
            Rule::Status(status),
        ));
    }

    /// Every `method` request whose path contains `path_part` is answered with `status`, for ever.
    pub fn refuse_method(&self, method: &str, path_part: &str, status: u16) {
        self.faults.rules.lock().unwrap().push((
            method.into(),
            path_part.into(),
            Rule::Status(status),
        ));
    }

    /// The server stops (as if it crashed) on the first `method` request whose path contains `path_part`.
    pub fn crash_on(&self, method: &str, path_part: &str) {
        self.faults
            .rules
            .lock()
            .unwrap()
            .push((method.into(), path_part.into(), Rule::Crash));
    }

    /// Every request whose path contains `path_part` is refused `400 InvalidToken`, the error body echoing
    /// the request's `Authorization` and `x-amz-security-token` headers (real S3 echoes the token).
    /// Only `GET`s are refused so: a `HEAD` has no body to echo in.
    pub fn echo_credentials(&self, path_part: &str) {
        self.faults.rules.lock().unwrap().push((
            "GET".into(),
            path_part.into(),
            Rule::EchoCredentials,
        ));
    }

    /// Removes every fault rule.
    pub fn heal(&self) {
        self.faults.rules.lock().unwrap().clear();
        self.faults.transient.store(0, Ordering::SeqCst);
        self.faults.stalled.store(0, Ordering::SeqCst);
    }

    /// "METHOD /bucket/path?query" of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.faults.log.lock().unwrap().clone()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        stop(&self.running);
    }
}

fn stop(running: &Mutex<Option<Running>>) {
    if let Some(r) = running.lock().unwrap().take() {
        r.accept.abort();
        r.connections.lock().unwrap().abort_all();
    }
}

async fn answer(
    s3: &S3Service,
    faults: &Faults,
    running: &Mutex<Option<Running>>,
    req: Request<Incoming>,
) -> Result<Response<s3s::Body>, s3s::HttpError> {
    let method = req.method().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    faults
        .log
        .lock()
        .unwrap()
        .push(format!("{method} {target}"));
    let rule = {
        let mut rules = faults.rules.lock().unwrap();
        let found = rules
            .iter()
            .position(|(m, part, _)| (m == "*" || *m == method) && target.contains(part.as_str()));
        match found.map(|i| rules[i].2.clone()) {
            // A crash happens once: after a restart the server serves again.
            Some(Rule::Crash) => {
                rules.remove(found.unwrap_or_default());
                Some(Rule::Crash)
            }
            other => other,
        }
    };
    match rule {
        Some(Rule::Crash) => {
            stop(running);
            // This connection's task is being aborted: the request is never answered.
            std::future::pending::<()>().await;
            unreachable!()
        }
        Some(Rule::Status(status)) => return Ok(error_response(status)),
        Some(Rule::EchoCredentials) => return Ok(echo_response(&req)),
        None => {}
    }
    let stalled = faults
        .stalled
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if stalled {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
    let throttled = faults
        .transient
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if throttled {
        return Ok(error_response(503));
    }
    hyper::service::Service::call(s3, req).await
}

fn error_response(status: u16) -> Response<s3s::Body> {
    let code = match status {
        403 => "AccessDenied",
        404 => "NoSuchKey",
        400 => "InvalidRequest",
        503 => "SlowDown",
        _ => "InternalError",
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the test</Message></Error>"
    );
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/xml")
        .body(s3s::Body::from(body))
        .unwrap()
}

/// `400 InvalidToken` whose body quotes the request's credential headers, as S3's does.
fn echo_response(req: &Request<Incoming>) -> Response<s3s::Body> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let token = header("x-amz-security-token");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidToken</Code>\
         <Message>The provided token is malformed or otherwise invalid.</Message>\
         <Token-0>{token}</Token-0>\n<RequestHeaders>authorization: {}\nx-amz-security-token: {token}\n\
         </RequestHeaders></Error>",
        header("authorization")
    );
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header("content-type", "application/xml")
        .body(s3s::Body::from(body))
        .unwrap()
}
