//! The layer in front of the runtime that parses each event once, and how a layer in front of
//! the runtime refuses an event ([`Inbox`]).
//!
//! lambda_runtime parses the body into the handler's event type itself. Left to do it, it
//! answers a body that is not JSON with an `errorType` naming its own internal type, a body that
//! is not UTF-8 makes its trace logging fail in a way that stops the poll loop, and the kit would
//! then read the event a second time into the operation's type. So [`Parser`] parses the body
//! into an [`Event`] here, once — or refuses it as `InvalidRequest`, naming the parser's
//! position, never its content — leaves the result in the [`Inbox`] under the invocation's
//! request id, and hands the runtime `{}` in its place: the runtime parses two bytes, and the
//! body (freed at once when large) never reaches its trace logging. The handler takes the event
//! from the inbox. (The memory budget, `memory`, refuses events the same way.)

use crate::error::{Error, ErrorType};
use crate::event::Event;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Each invocation's event, parsed (or refused) in front of the runtime, kept beside the event
/// under the request id Lambda gave the invocation — never inside it, where a caller could
/// write something: no content of any event can choose its own `errorType` or message.
#[derive(Clone, Default)]
pub(crate) struct Inbox(Arc<Mutex<HashMap<String, Result<Event, Error>>>>);

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

impl Inbox {
    /// Refuses `invocation` with `error`: nothing of its body is kept (a large one is freed at
    /// once), and the handler answers the refusal.
    pub(crate) fn refuse(&self, invocation: &mut LambdaInvocation, error: Error) {
        self.put(invocation, Err(error));
    }

    fn put(&self, invocation: &mut LambdaInvocation, parsed: Result<Event, Error>) {
        self.lock()
            .insert(invocation.context.request_id.clone(), parsed);
        invocation.body = b"{}".to_vec().into();
    }

    fn holds(&self, request_id: &str) -> bool {
        self.lock().contains_key(request_id)
    }

    /// The event of the invocation `request_id` (or why it was refused); taken, so it is
    /// answered once. `None` when no layer saw it (a test that calls the handler directly).
    pub(crate) fn take(&self, request_id: &str) -> Option<Result<Event, Error>> {
        self.lock().remove(request_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Result<Event, Error>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The layer installing [`Parse`]; innermost of the kit's layers, right in front of the runtime's
/// own (trivial) parse.
#[derive(Debug, Clone)]
pub(crate) struct Parser {
    inbox: Inbox,
}

impl Parser {
    /// A parser leaving each event in `inbox`, which the handler reads.
    pub(crate) fn new(inbox: Inbox) -> Self {
        Parser { inbox }
    }
}

impl<S> Layer<S> for Parser {
    type Service = Parse<S>;
    fn layer(&self, inner: S) -> Parse<S> {
        Parse {
            inner,
            inbox: self.inbox.clone(),
        }
    }
}

/// The service that parses each raw event before the runtime sees it.
#[derive(Debug, Clone)]
pub(crate) struct Parse<S> {
    inner: S,
    inbox: Inbox,
}

impl<S> Service<LambdaInvocation> for Parse<S>
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
        // An event a layer before this one refused is not read at all.
        if !self.inbox.holds(&req.context.request_id) {
            let parsed = parse(&req.body);
            self.inbox.put(&mut req, parsed);
        }
        self.inner.call(req)
    }
}

/// The event in `body`, or `InvalidRequest` saying where it stops being JSON.
pub(crate) fn parse(body: &[u8]) -> Result<Event, Error> {
    if std::str::from_utf8(body).is_err() {
        return Err(not_json("the body is not UTF-8".into()));
    }
    serde_json::from_slice::<Event>(body).map_err(|e| {
        // serde_json's messages name a position, never the input's content.
        not_json(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

fn not_json(reason: String) -> Error {
    Error::new(
        ErrorType::InvalidRequest,
        format!("the event is not valid JSON ({reason})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(body: &[u8]) -> Option<String> {
        parse(body).err().map(|e| {
            assert_eq!(e.kind(), ErrorType::InvalidRequest);
            let m = e.message();
            m["the event is not valid JSON (".len()..m.len() - 1].to_string()
        })
    }

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
            assert!(malformed(body).is_some());
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(malformed(deep.as_bytes())
            .unwrap()
            .contains("error at line 1 column"));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(malformed(ok.as_bytes()), None);
        let in_string = format!("{{\"k\":\"{}\\\"{}\"}}", "[".repeat(300), "{".repeat(300));
        assert_eq!(malformed(in_string.as_bytes()), None, "{in_string}");
    }
}
