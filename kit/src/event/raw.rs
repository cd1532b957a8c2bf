//! A guard in front of the runtime's own deserialisation, for events that are not JSON; and how
//! a layer in front of the runtime refuses an event ([`Refusals`]).
//!
//! Left alone, `lambda_runtime` answers a non-JSON body with an `errorType` naming its own
//! internal type, and a body that is not UTF-8 makes its trace logging fail in a way that
//! stops the poll loop. Neither reaches a real Lambda through `Invoke` (which requires JSON),
//! but a function's failure behaviour should not depend on the caller. This layer refuses such
//! a body as `InvalidRequest`, naming the parser's position, like any other bad event. (The
//! memory budget, `memory`, refuses events the same way.)

use crate::error::{Error, ErrorType};
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Events refused before the runtime parsed them, kept beside the event under the request id
/// Lambda gave the invocation — never inside the event, where a caller could write one: no
/// content of any event can choose its own `errorType` or message. A refused event's body is
/// replaced by `{}` (nothing of it is kept, a large one is freed at once); the handler answers
/// the refusal before it looks at the event ([`App::handle`](crate::App::handle)).
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<Mutex<HashMap<String, Error>>>);

impl Refusals {
    /// Refuses `invocation` with `error`.
    pub(crate) fn refuse(&self, invocation: &mut LambdaInvocation, error: Error) {
        self.lock()
            .insert(invocation.context.request_id.clone(), error);
        invocation.body = b"{}".to_vec().into();
    }

    /// The refusal of the invocation `request_id`, if a layer refused it; taken, so it is
    /// answered once.
    pub(crate) fn take(&self, request_id: &str) -> Option<Error> {
        self.lock().remove(request_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Error>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Layer installing [`Guard`]; made by [`App::raw_event_guard`](crate::App::raw_event_guard).
#[derive(Debug, Clone)]
pub struct RawEventGuard {
    refusals: Refusals,
}

impl RawEventGuard {
    /// A guard recording its refusals in `refusals`, which the handler answers.
    pub(crate) fn new(refusals: Refusals) -> Self {
        RawEventGuard { refusals }
    }
}

impl<S> Layer<S> for RawEventGuard {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            refusals: self.refusals.clone(),
        }
    }
}

/// The service that checks each raw event before the runtime deserialises it.
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    refusals: Refusals,
}

impl<S> Service<LambdaInvocation> for Guard<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: LambdaInvocation) -> Self::Future {
        if let Some(reason) = malformed(&req.body) {
            let error = Error::new(
                ErrorType::InvalidRequest,
                format!("the event is not valid JSON ({reason})"),
            );
            self.refusals.refuse(&mut req, error);
        }
        self.inner.call(req)
    }
}

/// Why `body` is not a JSON document, or `None` if it is one.
pub fn malformed(body: &[u8]) -> Option<String> {
    if std::str::from_utf8(body).is_err() {
        return Some("the body is not UTF-8".into());
    }
    match serde_json::from_slice::<Probe>(body) {
        Ok(_) => None,
        // serde_json's messages name a position, never the input's content.
        Err(e) => Some(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )),
    }
}

/// Accepts exactly what parsing into a `serde_json::Value` accepts — and so what the runtime's
/// parse into an [`Event`](crate::event::Event), next, accepts (a test checks both) — without
/// building it: same recursion limit (128), same number range, same string rules. (`IgnoredAny` is not enough: it skips nesting and huge exponents the runtime rejects.)
struct Probe;

impl<'de> serde::Deserialize<'de> for Probe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProbeVisitor)
    }
}

struct ProbeVisitor;

impl<'de> serde::de::Visitor<'de> for ProbeVisitor {
    type Value = Probe;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_str<E>(self, _: &str) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_unit<E>(self) -> Result<Probe, E> {
        Ok(Probe)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
        while seq.next_element::<Probe>()?.is_some() {}
        Ok(Probe)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, Probe>()?.is_some() {}
        Ok(Probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_documents_pass_untouched() {
        for body in [&b"{}"[..], b"[1,2]", b"\"text\"", b"null", b" {\"a\": 1} "] {
            assert_eq!(malformed(body), None);
        }
    }

    #[test]
    fn broken_json_and_non_utf8_are_described_by_position_only() {
        assert_eq!(
            malformed(b"{\"operation\": encrypt}").unwrap(),
            "Syntax error at line 1 column 15"
        );
        assert_eq!(
            malformed(b"{\"a\":").unwrap(),
            "Eof error at line 1 column 5"
        );
        assert_eq!(malformed(b"").unwrap(), "Eof error at line 1 column 0");
        assert_eq!(
            malformed(&[0x7b, 0xff, 0x7d]).unwrap(),
            "the body is not UTF-8"
        );
        assert!(!malformed(b"{\"secret-value\" 1}")
            .unwrap()
            .contains("secret"));
    }

    #[test]
    fn whatever_the_runtime_cannot_parse_into_a_value_is_malformed() {
        for body in [&b"{\"n\": 1e400}"[..], b"[-1e999]"] {
            assert!(serde_json::from_slice::<serde_json::Value>(body).is_err());
            assert!(serde_json::from_slice::<crate::event::Event>(body).is_err());
            assert!(malformed(body).is_some());
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(serde_json::from_slice::<crate::event::Event>(deep.as_bytes()).is_err());
        assert!(malformed(deep.as_bytes())
            .unwrap()
            .contains("error at line 1 column"));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(malformed(ok.as_bytes()), None);
        let in_string = format!("{{\"k\":\"{}\\\"{}\"}}", "[".repeat(300), "{".repeat(300));
        assert_eq!(malformed(in_string.as_bytes()), None, "{in_string}");
    }
}
