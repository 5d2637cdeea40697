//! Capturing what Gatekey logs during a test: every line the in-process service writes, as JSON
//! with the current span's fields (so the request id of each line can be checked), for tests that
//! assert what reaches the log and what does not.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// Every log line written through it, as written.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Installs [`Self::subscriber`] as the process-wide subscriber and returns the capture.
    /// Once per test process (one test file): a second call panics.
    pub fn install() -> Self {
        use tracing_subscriber::util::SubscriberInitExt as _;
        let logs = Self::default();
        logs.subscriber().init();
        logs
    }

    /// All lines so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// The lines so far that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .map(str::to_owned)
            .collect()
    }

    /// A JSON subscriber at `debug` for every crate, with span fields, writing here: the
    /// production format's library, with the list of spans too.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        json_subscriber::fmt()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with_writer(self.clone())
            .finish()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
