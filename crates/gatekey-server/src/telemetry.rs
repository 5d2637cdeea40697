//! Logging and tracing setup: human-readable or JSON lines filtered by `tracing` directives, and,
//! when `log.otlp_endpoint` is set, the same spans exported as OpenTelemetry traces over OTLP/HTTP.
//! Secrets never reach a log line or a span: the Authorization header is marked sensitive and keys
//! have redacting `Debug`. Every line leaves through [`LineSafe`], so text a caller controls (a
//! request path) cannot split a log record for tools that break lines at Unicode line breaks.

use std::fmt::Write as _;
use std::io;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, LogSettings};

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OTLP trace exporter for {endpoint}: {source}")]
pub struct TelemetryError {
    endpoint: String,
    source: opentelemetry_otlp::ExporterBuildError,
}

/// Keeps the trace exporter alive; dropping it flushes the spans still buffered.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("flushing OpenTelemetry traces failed: {err}");
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` overrides the configured filter.
pub fn init(settings: &LogSettings) -> Result<TelemetryGuard, TelemetryError> {
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let fmt = match settings.format {
        LogFormat::Json => json_lines(|| LineSafe(io::stdout())).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(|| LineSafe(io::stdout()))
            .boxed(),
    };
    let provider = settings
        .otlp_endpoint
        .as_ref()
        .map(|endpoint| tracer_provider(endpoint))
        .transpose()?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("gatekey"))
            .with_filter(filter())
    });
    let result = tracing_subscriber::registry()
        .with(fmt.with_filter(filter()))
        .with(otel)
        .try_init();
    if result.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
    }
    if let Some(endpoint) = &settings.otlp_endpoint {
        tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
    }
    Ok(TelemetryGuard { provider })
}

/// The JSON format: one object per line, the event's fields at the top level and the fields of
/// the span it happened in (the request's: id, method, path, subject, API) under `span`. The list
/// of enclosing spans is left out: a request has one span, so the list only repeated `span`, and
/// writing it cost a tenth of a mint's logging.
///
/// `json-subscriber` writes the same lines as `tracing-subscriber`'s JSON format, for less: that
/// one keeps a span's fields as a JSON text, which it parses and writes again for every field
/// recorded later (the subject, the API) and for every line written in the span; this one keeps
/// them as values and their text side by side (`docs/performance.md`,
/// "The group commit's own command, the Kong client's transport and the log lines").
fn json_lines<S, W>(make_writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    json_subscriber::fmt::layer()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(make_writer)
}

/// A batching OTLP/HTTP (protobuf) exporter to `endpoint`, e.g.
/// `http://otel-collector:4318/v1/traces`; spans leave on the SDK's own thread.
fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|source| TelemetryError {
            endpoint: endpoint.to_owned(),
            source,
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("gatekey").build())
        .build())
}

/// A log writer that writes the C1 control characters (U+0080 to U+009F, among them NEL, U+0085)
/// and the Unicode line and paragraph separators (U+2028, U+2029) as `\uXXXX` escapes. JSON
/// encoders leave them raw (JSON allows them in strings), but log shippers and editors that split
/// on Unicode line breaks would cut the record there. Inside a JSON string the escape is the same
/// character; in the human format it reads as the escape. The formatter hands over one whole
/// event per write, so a character is never split between two calls.
#[derive(Debug)]
pub struct LineSafe<W>(pub W);

fn breaks_lines(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
}

/// Whether `buf` holds the first byte of a character [`breaks_lines`] matches: 0xC2 starts the
/// UTF-8 encoding of U+0080 to U+009F, 0xE2 that of U+2028 and U+2029. Almost no line has
/// either, and those go out without being decoded: decoding and scanning every line by
/// character cost about 2 % of a mint's instructions.
fn may_break_lines(buf: &[u8]) -> bool {
    memchr::memchr2(0xC2, 0xE2, buf).is_some()
}

impl<W: io::Write> io::Write for LineSafe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if !may_break_lines(buf) {
            return self.0.write_all(buf);
        }
        match std::str::from_utf8(buf) {
            Ok(text) if text.chars().any(breaks_lines) => {
                let mut escaped = String::with_capacity(text.len() + 16);
                for c in text.chars() {
                    if breaks_lines(c) {
                        write!(escaped, "\\u{:04x}", u32::from(c)).map_err(io::Error::other)?;
                    } else {
                        escaped.push(c);
                    }
                }
                self.0.write_all(escaped.as_bytes())
            }
            _ => self.0.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::sync::{Arc, Mutex, PoisonError};

    use super::*;

    /// A writer into a shared buffer, as the formatter's `MakeWriter`.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn only_lines_with_a_line_breaking_characters_first_byte_are_decoded() {
        for c in ('\u{80}'..='\u{9f}').chain(['\u{2028}', '\u{2029}']) {
            assert!(may_break_lines(c.to_string().as_bytes()), "{c:?}");
        }
        // é and the key emoji skip the decoding; the dash (E2 80 94) shares U+2028's first byte
        // and is decoded, then written unchanged all the same.
        let undecoded = "caf\u{e9} \u{1F511} {\"path\":\"/v1/apis\"}";
        let dash = "a \u{2014} b";
        assert!(!may_break_lines(undecoded.as_bytes()));
        assert!(may_break_lines(dash.as_bytes()));
        for text in [undecoded, dash] {
            let mut written = Vec::new();
            LineSafe(&mut written)
                .write_all(text.as_bytes())
                .expect("written");
            assert_eq!(written, text.as_bytes(), "{text:?} passes unchanged");
        }
        let mut bytes = Vec::new();
        LineSafe(&mut bytes)
            .write_all(&[b'a', 0xff, b'\n'])
            .expect("written");
        assert_eq!(
            bytes,
            [b'a', 0xff, b'\n'],
            "bytes that are not UTF-8 pass unchanged"
        );
    }

    #[test]
    fn a_json_line_carries_its_requests_span_once() {
        use tracing_subscriber::layer::SubscriberExt as _;

        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber =
            tracing_subscriber::registry().with(json_lines(move || LineSafe(writer.clone())));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "req-1",
                subject = tracing::field::Empty
            );
            let _entered = span.enter();
            span.record("subject", "user:default/ada");
            tracing::info!(issuance = "01J", "credential issued");
        });

        let bytes = captured
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        let record: serde_json::Value = serde_json::from_str(text.trim_end()).expect("JSON");
        assert_eq!(record["message"], "credential issued");
        assert_eq!(record["issuance"], "01J");
        assert_eq!(record["span"]["name"], "request");
        assert_eq!(record["span"]["request_id"], "req-1");
        assert_eq!(record["span"]["subject"], "user:default/ada");
        assert!(record.get("spans").is_none(), "{text}");
    }

    #[test]
    fn unicode_line_breaks_in_a_json_log_line_are_escaped_and_decode_to_the_same_text() {
        use tracing_subscriber::layer::SubscriberExt as _;

        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber =
            tracing_subscriber::registry().with(json_lines(move || LineSafe(writer.clone())));
        let path = "/v1/apis/a\u{85}b\u{2028}c\u{2029}d\u{9b}e";
        tracing::subscriber::with_default(subscriber, || tracing::info!(path, "request"));

        let bytes = captured
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            !text.chars().any(breaks_lines),
            "raw line break in {text:?}"
        );
        let record: serde_json::Value = serde_json::from_str(text.trim_end()).expect("JSON");
        assert_eq!(record["path"], path);
    }
}
