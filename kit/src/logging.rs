//! Logging set-up, compatible with Lambda's log controls, and safe at every level.
//!
//! - `AWS_LAMBDA_LOG_FORMAT=JSON` selects JSON lines (Lambda's advanced logging controls);
//!   anything else gives plain text.
//! - `AWS_LAMBDA_LOG_LEVEL` sets the level (`TRACE` … `FATAL`), default `INFO`;
//!   `RUST_LOG` directives, when set, refine it per crate.
//!
//! Several dependencies log request and response *bodies* at TRACE (the runtime logs the raw
//! event; the SDK's orchestrator and signer log HTTP requests and responses), which would put
//! plaintext in CloudWatch. So TRACE is honoured only for this crate and for connection-level
//! crates that never see a body; everything else stops at DEBUG whatever `RUST_LOG` says.

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::filter::{dynamic_filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Crates allowed to log at TRACE: the kit, and transport crates that log frames, not payloads.
/// (Not a function's own crate: its name is its owner's, and its operations hold plaintexts.)
const TRACE_ALLOWED: &[&str] = &[
    "kms_lambda_kit",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tokio",
];

/// Whether an event may be logged at all, whatever the configured level.
pub fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() != tracing::Level::TRACE
        || TRACE_ALLOWED.iter().any(|c| {
            meta.target()
                .strip_prefix(c)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// Maps Lambda's level names (which include `FATAL`) to a filter.
pub fn lambda_level(name: Option<&str>) -> LevelFilter {
    match name.map(|s| s.trim().to_ascii_uppercase()).as_deref() {
        Some("TRACE") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR") | Some("FATAL") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

/// Installs the global subscriber. Logs go to stdout, like the EMF lines, as Lambda expects.
pub fn init() {
    let level = lambda_level(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref());
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_target(true)
        .without_time();
    let fmt = if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed()
    } else {
        fmt.boxed()
    };
    // Decided once per call site (both filters depend only on a call site's level and target),
    // so a disabled `debug!` on the warm path costs a load and a branch, not a filter run.
    let payload_safe = dynamic_filter_fn(|meta, _| allowed(meta)).with_callsite_filter(|meta| {
        if allowed(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    });
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter).with_filter(payload_safe))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_is_allowed_for_the_kit_and_transport_crates_only() {
        use tracing::callsite::Identifier;
        use tracing::field::FieldSet;
        use tracing::metadata::Kind;
        struct Site;
        impl tracing::Callsite for Site {
            fn set_interest(&self, _: Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static SITE: Site = Site;
        let at = |target: &'static str, level: tracing::Level| {
            Metadata::new(
                "event",
                target,
                level,
                None,
                None,
                None,
                FieldSet::new(&[], Identifier(&SITE)),
                Kind::EVENT,
            )
        };
        for target in [
            "kms_lambda_kit",
            "kms_lambda_kit::handler",
            "hyper::proto",
            "tokio",
        ] {
            assert!(allowed(&at(target, tracing::Level::TRACE)), "{target}");
        }
        for target in [
            "aws_smithy_runtime::client",
            "lambda_runtime",
            "kms_lambda_kitten",
            "function",
        ] {
            assert!(!allowed(&at(target, tracing::Level::TRACE)), "{target}");
            assert!(allowed(&at(target, tracing::Level::DEBUG)), "{target}");
        }
    }

    #[test]
    fn lambda_level_names_map_to_filters() {
        assert_eq!(lambda_level(None), LevelFilter::INFO);
        assert_eq!(lambda_level(Some("debug")), LevelFilter::DEBUG);
        assert_eq!(lambda_level(Some("FATAL")), LevelFilter::ERROR);
        assert_eq!(lambda_level(Some("nonsense")), LevelFilter::INFO);
    }
}
