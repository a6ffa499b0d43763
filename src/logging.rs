//! The log lines boardpack writes, human or JSON, all passing through the redaction of credentials.
//!
//! Owns the tracing subscriber `main` installs and the writer under it: every formatted event — boardpack's
//! own, and those of its dependencies (the object store's retries, the HTTP client, DataFusion) — is
//! buffered whole and written only after `faults` has blanked what it knows to be a credential: the
//! credentials of URLs (user and password, a SAS token's `sig`, a presigned signature), `name=value` pairs
//! holding one (`sig=`, `token=`, a query string cut out of its URL), the cloud credentials of the standard
//! environment variables and the store's configured secrets. It decides nothing about what is logged.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::faults::{Secrets, redact_params};
use crate::store::Store;

/// The stores whose configured credentials are blanked too (registered once a store is open).
static STORES: RwLock<Vec<Store>> = RwLock::new(Vec::new());

/// Blanks the credentials of this store (its options and the environment) from every later log line.
pub fn redact_store(store: &Store) {
    if let Ok(mut s) = STORES.write() {
        s.push(store.clone());
    }
}

/// A log line as it may be shown: credentials of URLs, `name=value` credentials, those of the standard
/// environment variables and of every registered store replaced by `[redacted]`.
pub fn redact_line(text: &str) -> String {
    // The environment's credentials are read once: the process does not change them while it logs.
    static ENV_SECRETS: OnceLock<Secrets> = OnceLock::new();
    let mut out = ENV_SECRETS
        .get_or_init(|| Secrets::gather([], |k| std::env::var(k).ok()))
        .redact(text);
    if let Ok(stores) = STORES.read() {
        for s in stores.iter() {
            out = s.redact(&out);
        }
    }
    // (`Secrets::redact` blanked `name=value` credentials and echoed ones already.)
    // On a terminal the field names are styled (`\x1b[3mtoken\x1b[0m\x1b[2m=\x1b[0m…`): judged without the
    // styling, a line with a credential in a field is written plain.
    if out.contains('\x1b') {
        let plain = strip_ansi(&out);
        let redacted = redact_params(&plain);
        if redacted != plain {
            return redacted;
        }
    }
    out
}

/// The text without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_styled_field_holding_a_credential_is_redacted() {
        let line = "\x1b[2m2026\x1b[0m \x1b[32m INFO\x1b[0m retrying \x1b[3mtoken\x1b[0m\x1b[2m=\x1b[0mFAKEtok123 \x1b[3mrows\x1b[0m\x1b[2m=\x1b[0m4\n";
        let shown = redact_line(line);
        assert!(!shown.contains("FAKEtok123"), "{shown:?}");
        assert!(shown.contains("token=[redacted] rows=4"), "{shown:?}");
        // A styled line without a credential keeps its styling.
        let plain = "\x1b[3mrows\x1b[0m\x1b[2m=\x1b[0m4\n";
        assert_eq!(redact_line(plain), plain);
    }
}

/// A writer of log lines through [`redact_line`]: each event is formatted into a buffer, and the buffer
/// redacted and written to the inner writer in one piece when the event is done.
#[derive(Clone)]
pub struct Redacting<M> {
    inner: M,
}

impl<M> Redacting<M> {
    pub fn new(inner: M) -> Self {
        Redacting { inner }
    }
}

/// One event's formatted bytes, written redacted when dropped.
pub struct EventBuffer<W: Write> {
    buf: Vec<u8>,
    out: W,
}

impl<W: Write> Write for EventBuffer<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for EventBuffer<W> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        // A log line that cannot be written has nowhere else to go.
        let _ = self.out.write_all(redact_line(&text).as_bytes());
        let _ = self.out.flush();
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = EventBuffer<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer {
            buf: Vec::new(),
            out: self.inner.make_writer(),
        }
    }
}

/// Log lines kept in memory (for a test reading what would have been written).
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The subscriber of the `boardpack` command: `filter` as `BOARDPACK_LOG` gives it (`info`, `debug`, …),
/// JSON or compact human lines, every line redacted on its way to `writer`.
pub fn subscriber<M>(
    filter: EnvFilter,
    json: bool,
    ansi: bool,
    writer: M,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting::new(writer))
        .with_ansi(ansi)
        .with_target(false);
    if json {
        Box::new(builder.json().finish())
    } else {
        Box::new(builder.compact().finish())
    }
}
