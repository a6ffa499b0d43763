//! Faults of the world outside a run: how hard the store is retried, and keeping secrets out of what a
//! run shows.
//!
//! Owns the store's retry policy as configured (`store.retry` in `config/boardpack.yaml`), turned into
//! the object store's own retry and timeout settings, and the redaction of credentials from URLs and
//! messages. Cloud stores retry transient failures (timeouts, connection errors, 5xx, 429 throttling) with
//! exponential backoff inside the object store's HTTP client; permanent ones (404, 403, 400) are not
//! retried and fail the run naming the object. A local folder has no transient failures worth retrying
//! (a full disk or a refused write stays so), so no retrying layer is put over it. It knows nothing of
//! pipelines or runs.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// How a cloud store retries and how long it waits (`store.retry` in `config/boardpack.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries of one request after a transient failure; 0 turns retrying off.
    pub max_retries: usize,
    /// The first wait before a retry (`100ms`); each next wait is up to `backoff_base` times longer.
    pub initial_backoff: String,
    /// The longest wait between two tries (`15s`).
    pub max_backoff: String,
    /// The factor by which the wait grows.
    pub backoff_base: f64,
    /// No retry starts this long after a request was first sent (`3m`).
    pub retry_timeout: String,
    /// The longest one request may take, connection included (`30s`).
    pub timeout: String,
    /// The longest connecting may take (`5s`).
    pub connect_timeout: String,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // The object store's own defaults, written out so that configuration shows what is in force.
        Self {
            max_retries: 10,
            initial_backoff: "100ms".into(),
            max_backoff: "15s".into(),
            backoff_base: 2.0,
            retry_timeout: "3m".into(),
            timeout: "30s".into(),
            connect_timeout: "5s".into(),
        }
    }
}

impl RetryPolicy {
    /// Checks every duration; the error names the setting (`store.retry.timeout: …`).
    pub fn validate(&self) -> Result<(), String> {
        for (name, text) in self.durations() {
            parse_duration(text).map_err(|e| format!("store.retry.{name}: {e}"))?;
        }
        if !(self.backoff_base >= 1.0 && self.backoff_base.is_finite()) {
            return Err("store.retry.backoff_base must be at least 1".into());
        }
        Ok(())
    }

    fn durations(&self) -> [(&'static str, &str); 5] {
        [
            ("initial_backoff", &self.initial_backoff),
            ("max_backoff", &self.max_backoff),
            ("retry_timeout", &self.retry_timeout),
            ("timeout", &self.timeout),
            ("connect_timeout", &self.connect_timeout),
        ]
    }

    fn duration(text: &str, default: Duration) -> Duration {
        parse_duration(text).unwrap_or(default)
    }

    /// The object store's retry settings.
    pub fn retry_config(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Self::duration(&self.initial_backoff, Duration::from_millis(100)),
                max_backoff: Self::duration(&self.max_backoff, Duration::from_secs(15)),
                base: self.backoff_base.max(1.0),
            },
            max_retries: self.max_retries,
            retry_timeout: Self::duration(&self.retry_timeout, Duration::from_secs(180)),
        }
    }

    /// The HTTP client's timeouts, as store options (`timeout`, `connect_timeout`). Options given as
    /// `store.options` are applied after these; options from the environment (`AWS_ALLOW_HTTP`, …) are kept.
    pub fn timeout_options(&self) -> Vec<(String, String)> {
        vec![
            ("timeout".into(), self.timeout.trim().to_string()),
            (
                "connect_timeout".into(),
                self.connect_timeout.trim().to_string(),
            ),
        ]
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h` (a whole number and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like `30s`"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" | "min" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("`{text}`: unknown unit (use ms, s, m or h)")),
    }
}

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Environment variables whose values are credentials of the clouds' standard chains.
const SECRET_VARS: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON",
    // Not a secret on its own, but half of a credential pair and an account's identity: an error that
    // echoes a request (`Credential=AKIA…/…`) must not show it either.
    "AWS_ACCESS_KEY_ID",
];

/// Whether an option or query parameter of this name holds a credential (`secret_access_key`,
/// `sas_token`, `sig`, `X-Amz-Signature`, …).
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "sig"
        || ["secret", "token", "password", "signature", "credential", "sas", "key"]
            .iter()
            .any(|w| n.contains(w))
            // A key's *id* names an account; it is not a secret, and is useful in an error.
            && !n.ends_with("key_id")
}

/// Known secret values, to be blanked out of any message a run shows or records.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// The credentials among store options and the standard environment variables (read through `var`).
    pub fn gather<'a>(
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Secrets {
        let mut values: Vec<String> = options
            .into_iter()
            // The access key id too (see `SECRET_VARS`), though a URL may show a `…key_id` parameter.
            .filter(|(k, _)| is_secret_name(k) || k.to_ascii_lowercase().ends_with("key_id"))
            .map(|(_, v)| v.to_string())
            .chain(SECRET_VARS.iter().filter_map(|k| var(k)))
            // Very short values would blank ordinary words; real credentials are long.
            .filter(|v| v.trim().len() >= 8)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets(values)
    }

    /// The text with every known secret, every credential in a URL, every `name=value` credential and
    /// every credential a server's answer may echo (request headers, an S3 error's elements, an AWS access
    /// key id) replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_urls_in(text);
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        redact_echoed(&redact_params(&out))
    }
}

/// A URL for showing: without user name and password, and with the value of every query parameter that
/// holds a credential (a SAS token's `sig`, a presigned URL's `X-Amz-Signature`, `token=`) redacted.
pub fn redact_url(url: &Url) -> String {
    if !has_credentials(url) && url.fragment().is_none() {
        return url.to_string();
    }
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_name(&k) {
                    REDACTED.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    u.set_fragment(None);
    u.to_string()
}

/// Names that hold a credential wherever `name=value` appears, not only in a URL's query: a SAS token's
/// `sig`, signatures, tokens, passwords.
const SECRET_PARAMS: &[&str] = &[
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-security-token",
    "x-goog-signature",
    "token",
    "access_token",
    "sas_token",
    "password",
    "client_secret",
    "secret",
    // SigV4's `Authorization: AWS4-HMAC-SHA256 Credential=AKIA…/20220401/…, Signature=…`.
    "credential",
    "x-amz-credential",
];

/// Request headers whose value is a credential, as a server's error may echo them (`name: value`).
const SECRET_HEADERS: &[&str] = &[
    "x-amz-security-token",
    "authorization",
    "x-goog-iam-authorization-token",
    "x-ms-authorization",
    "proxy-authorization",
];

/// Elements of an S3 error body holding a credential or what it signs (`SignatureDoesNotMatch` echoes
/// the canonical request, which holds the security token; `InvalidToken` echoes the token).
const SECRET_ELEMENTS: &[&str] = &[
    "AWSAccessKeyId",
    "SignatureProvided",
    "StringToSign",
    "StringToSignBytes",
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "Token",
    "Token-0",
    "Credential",
];

/// What a server may echo of a request, blanked: the values of credential headers (`x-amz-security-token:
/// …`, `Authorization: …`), the content of an S3 error's credential elements (`<Token-0>…</Token-0>`) and
/// anything shaped like an AWS access key id (`AKIA…`, `ASIA…`).
pub fn redact_echoed(text: &str) -> String {
    let mut out = redact_headers(text);
    for name in SECRET_ELEMENTS {
        out = redact_element(&out, name);
    }
    redact_key_ids(&out)
}

/// `name: value` of a credential header, the value blanked up to the end of the line, a quote, a `<` or
/// a backslash (a JSON escape such as `\n`); a token's value also ends at white space.
fn redact_headers(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if !SECRET_HEADERS.iter().any(|h| lower.contains(h)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Compared as bytes: `i` may fall inside a character of other text (`µs`).
        let found = SECRET_HEADERS.iter().find(|h| {
            lower.as_bytes()[i..].starts_with(h.as_bytes())
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-'))
        });
        let Some(h) = found else {
            i += 1;
            continue;
        };
        let mut j = i + h.len();
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b':' {
            i += h.len();
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let spaces_end = *h != "authorization" && *h != "proxy-authorization";
        let mut end = j;
        while end < bytes.len()
            && !matches!(bytes[end], b'\n' | b'\r' | b'"' | b'<' | b'\\')
            && !(spaces_end && bytes[end].is_ascii_whitespace())
        {
            end += 1;
        }
        if end > j && !text[j..end].starts_with(REDACTED) {
            out.push_str(&text[copied..j]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// `<name>…</name>` with its content blanked.
fn redact_element(text: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    if !text.contains(&open) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let content = start + open.len();
        let Some(len) = rest[content..].find(&close) else {
            break;
        };
        out.push_str(&rest[..content]);
        out.push_str(REDACTED);
        out.push_str(&close);
        rest = &rest[content + len + close.len()..];
    }
    out.push_str(rest);
    out
}

/// Words shaped like an AWS access key id (`AKIA`/`ASIA` and 16 upper-case letters or digits) blanked.
fn redact_key_ids(text: &str) -> String {
    if !(text.contains("AKIA") || text.contains("ASIA")) {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let id_char = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 20 <= bytes.len() {
        let starts = (bytes[i..].starts_with(b"AKIA") || bytes[i..].starts_with(b"ASIA"))
            && (i == 0 || !id_char(bytes[i - 1]));
        if starts
            && bytes[i..i + 20].iter().all(|c| id_char(*c))
            && bytes.get(i + 20).is_none_or(|c| !id_char(*c))
        {
            out.push_str(&text[copied..i]);
            out.push_str(REDACTED);
            copied = i + 20;
            i += 20;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Every `name=value` whose value is a credential, replaced by `name=[redacted]`: after `?`, `&` or `;` any
/// name [`is_secret_name`] says holds one (a query string cut out of its URL, such as
/// `…/c?sv=2022-11-02&sig=…`), and anywhere a name of `SECRET_PARAMS` (`sig=…`, `token=…`). The value
/// runs to white space, `&`, `;`, `,`, a quote, a bracket or a backslash (a JSON escape).
pub fn redact_params(text: &str) -> String {
    if !text.contains('=') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let name_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-');
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && name_char(bytes[start - 1]) {
            start -= 1;
        }
        let name = &text[start..i];
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let in_query = matches!(before, Some(b'?' | b'&' | b';'));
        let standalone = !matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == b'.');
        let secret = !name.is_empty()
            && ((in_query && is_secret_name(name))
                || (standalone && SECRET_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p))));
        let mut end = i + 1;
        while end < bytes.len()
            && !bytes[end].is_ascii_whitespace()
            && !matches!(
                bytes[end],
                b'&' | b';'
                    | b','
                    | b'"'
                    | b'\''
                    | b'`'
                    | b')'
                    | b'('
                    | b'<'
                    | b'>'
                    | b'\\'
                    | b']'
                    | b'['
            )
        {
            end += 1;
        }
        let value = &text[i + 1..end];
        if secret && !value.is_empty() && !value.contains("redacted") {
            out.push_str(&text[copied..=i]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether a URL carries a user name, a password or a query parameter holding a credential.
fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty()
        || url.password().is_some()
        || url.query_pairs().any(|(k, _)| is_secret_name(&k))
}

/// A location as configured (a URL or a folder) for showing, with its credentials redacted.
pub fn redact_location(location: &str) -> String {
    match Url::parse(location) {
        Ok(u) if u.scheme().len() > 1 => redact_url(&u),
        _ => location.to_string(),
    }
}

/// Every URL in a text (`scheme://…` up to white space or a quote) with its credentials redacted.
fn redact_urls_in(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        // The scheme: the letters just before `://`.
        let start = rest[..pos]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')'))
            .map(|i| pos + i)
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        let candidate = &rest[start..end];
        match Url::parse(candidate) {
            // Only a URL with credentials is rewritten: others are quoted exactly as they were.
            Ok(u) if start < pos && has_credentials(&u) => out.push_str(&redact_url(&u)),
            _ => out.push_str(candidate),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        let mut p = RetryPolicy::default();
        assert!(p.validate().is_ok());
        p.timeout = "30 seconds".into();
        assert!(p.validate().unwrap_err().contains("store.retry.timeout"));
        let r = RetryPolicy::default().retry_config();
        assert_eq!(r.max_retries, 10);
        assert_eq!(r.backoff.init_backoff, Duration::from_millis(100));
    }

    #[test]
    fn the_retry_policy_is_read_from_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        let write = |text: &str| std::fs::write(dir.path().join(crate::config::CONFIG_FILE), text);
        write("store:\n  retry:\n    max_retries: 2\n    initial_backoff: 10ms\n").unwrap();
        let c = crate::config::Config::load(dir.path()).unwrap();
        let r = c.store.retry.retry_config();
        assert_eq!(r.max_retries, 2);
        assert_eq!(r.backoff.init_backoff, Duration::from_millis(10));
        // Unset settings keep their defaults.
        assert_eq!(r.backoff.max_backoff, Duration::from_secs(15));
        write("store:\n  retry:\n    timeout: thirty seconds\n").unwrap();
        let e = crate::config::Config::load(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("store.retry.timeout"), "{e}");
    }

    #[test]
    fn urls_lose_their_credentials() {
        let shown = redact_url(
            &Url::parse("https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=S3CR3Tsig%2B&se=x")
                .unwrap(),
        );
        assert!(!shown.contains("S3CR3T"), "{shown}");
        assert!(
            shown.contains("sv=2022-11-02") && shown.contains("sig=%5Bredacted%5D"),
            "{shown}"
        );
        let shown = redact_location("s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/prefix/");
        assert_eq!(shown, "s3://bucket/prefix/");
        assert_eq!(redact_location("lake"), "lake");
        let hook = "posting to https://hooks.example.org/notify?token=abcdef123456 failed";
        let s = Secrets::default().redact(hook);
        assert!(!s.contains("abcdef123456") && s.ends_with(" failed"), "{s}");
    }

    #[test]
    fn credentials_in_parameters_are_blanked_outside_urls_too() {
        let line = "retry 1 of 3: error for url (https://acct.blob.core.windows.net/c/x?sv=2022-11-02&se=2030&sig=FAKEsig%2Bq) sig=RAWsig token=TOK123 key=visit_id month=2022-04";
        let shown = redact_params(line);
        assert!(
            !shown.contains("FAKEsig") && !shown.contains("RAWsig") && !shown.contains("TOK123"),
            "{shown}"
        );
        assert!(
            shown.contains("sv=2022-11-02&se=2030&sig=[redacted])")
                && shown.contains("key=visit_id month=2022-04"),
            "{shown}"
        );
        // A query string in JSON, cut out of its URL.
        let json = r#"{"message":"GET /c/x?sv=1&sig=abc%2Fdef\" done"}"#;
        assert_eq!(
            redact_params(json),
            r#"{"message":"GET /c/x?sv=1&sig=[redacted]\" done"}"#
        );
    }

    #[test]
    fn known_secrets_are_blanked_wherever_they_appear() {
        let secrets = Secrets::gather(
            [
                ("access_key_id", "AKIAPUBLICID"),
                ("secret_access_key", "fake-secret-from-config"),
                ("endpoint", "http://127.0.0.1:9000"),
            ],
            |k| (k == "AWS_SESSION_TOKEN").then(|| "fake-token-from-env".to_string()),
        );
        let text = "key fake-secret-from-config and fake-token-from-env via AKIAPUBLICID at http://127.0.0.1:9000";
        let shown = secrets.redact(text);
        assert_eq!(
            shown,
            "key [redacted] and [redacted] via [redacted] at http://127.0.0.1:9000"
        );
    }

    #[test]
    fn what_a_server_echoes_of_a_request_is_blanked() {
        let body = "Client error with status 400: <Error><Code>InvalidToken</Code><Token-0>FQoGZXIvYXdzEFAKE</Token-0>\
                    <Headers>x-amz-security-token: FQoGZXIvYXdzEFAKE\nauthorization: AWS4-HMAC-SHA256 \
                    Credential=AKIAIOSFODNN7EXAMPLE/20220401/us-east-1/s3/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\n\
                    </Headers><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId></Error>";
        let shown = Secrets::default().redact(body);
        for secret in [
            "FQoGZXIvYXdzEFAKE",
            "AKIAIOSFODNN7EXAMPLE",
            "fe5f80f77d5fa3be",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("<Code>InvalidToken</Code>"), "{shown}");
        // The same in a JSON log line, where the newline is an escape.
        let json = r#"{"error":"x-amz-security-token: FQoGZXIvYXdzEFAKE\nhost: s3"}"#;
        let shown = Secrets::default().redact(json);
        assert_eq!(
            shown,
            r#"{"error":"x-amz-security-token: [redacted]\nhost: s3"}"#
        );
        // Ordinary words are left alone.
        let plain =
            "the authorization of the board in 384.6µs; tokens of appreciation; ASIAN and AKIA";
        assert_eq!(Secrets::default().redact(plain), plain);
    }
}
