//! No `Debug` prints what an event carried: every type that holds event content or key material
//! is formatted here with `{:?}` around a recognisable payload, and none of its bytes — raw, or
//! as the base64 the event carried them in — appears.

use crate::envelope::datakey::{Decrypted, Generated};
use crate::envelope::{self, DataKey};
use crate::event::types::{Bytes, Context};
use crate::event::Event;
use crate::key::test_kinds::DATA;
use crate::operation::{dispatch, Ctx, Entry, Operation};
use crate::reply::Reply;
use crate::secret::SecretBytes;
use crate::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::HashMap;

/// `{"operation": "hold", "data": "<base64>", "blob": "<base64>", "ctx": {…}}`: holds its
/// data and context, as an operation might, with a derived `Debug` — which prints what the kit's
/// field types show, and they show no value.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)] // read by its Debug only
struct Hold {
    data: SecretBytes,
    blob: Bytes,
    ctx: Context,
}

impl Operation for Hold {
    const NAME: &'static str = "hold";
    const KEY: &'static crate::Key = &DATA;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    type Answer = Held;
    async fn run(self, _: &Ctx<'_>) -> Result<Held, Error> {
        unreachable!("not run")
    }
}

/// What an answer carrying a plaintext looks like.
#[derive(serde::Serialize)]
struct Held {
    echo: &'static str,
    plaintext: SecretBytes,
}

static TABLE: &[Entry] = &[Entry::of::<Hold>("hold")];

/// A payload no log line has by chance, of `len` bytes.
fn payload(len: usize) -> Vec<u8> {
    b"PAYLOAD-CANARY-7c1e9-"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

thread_local! {
    static FORMS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `shown` has a 12-character window of any form of any payload of this test (every form
/// is ASCII).
fn shows_payload(shown: &str) -> bool {
    FORMS.with(|forms| {
        forms.borrow().iter().any(|form| {
            (0..form.len().saturating_sub(12))
                .step_by(7)
                .any(|i| shown.contains(&form[i..i + 12]))
        })
    })
}

/// Keeps the forms in which `bytes` could show: as text (when they are), as the base64 an event
/// carries them in, and as `Debug` prints a byte slice (`[80, 65, …]`).
fn remember(bytes: &[u8]) {
    FORMS.with(|forms| {
        let mut forms = forms.borrow_mut();
        if let Ok(text) = std::str::from_utf8(bytes) {
            forms.push(text.to_string());
        }
        forms.push(STANDARD.encode(bytes));
        let listed = format!("{:?}", &bytes[..bytes.len().min(64)]);
        forms.push(listed.trim_matches(|c| c == '[' || c == ']').to_string());
    });
}

#[test]
fn no_type_that_holds_event_content_or_key_material_prints_it() {
    // A small payload stays text in the event; a large one is decoded while it is parsed.
    for len in [300, 100_000] {
        let data = payload(len);
        remember(&data);
        remember(b"context-value-canary-5c2");
        let json = serde_json::json!({
            "operation": "hold",
            "data": STANDARD.encode(&data),
            "blob": STANDARD.encode(&data),
            "ctx": {"k": "context-value-canary-5c2"},
        });
        let event: Event = serde_json::from_str(&json.to_string()).unwrap();
        let mut shown = vec![format!("{event:?}")];
        let other: Event = serde_json::from_str(&json.to_string()).unwrap();
        shown.push(format!(
            "{:?}",
            crate::event::de::read::<Hold>(&other).unwrap()
        ));
        let d = dispatch(TABLE, &event);
        shown.push(format!("{d:?}"));
        shown.push(format!("{:?}", d.request.unwrap()));
        let mut ctx = lambda_runtime::Context::default();
        ctx.request_id = "req".into();
        shown.push(format!(
            "{:?}",
            lambda_runtime::LambdaEvent::new(event, ctx)
        ));

        let secret = SecretBytes::from(data.clone());
        shown.push(format!("{secret:?}"));
        let reply = Reply::of(Held {
            echo: "context-value-canary-5c2",
            plaintext: secret,
        })
        .unwrap();
        shown.push(format!("{reply:?}"));

        let key = DataKey::new(vec![0x5a; 32]);
        remember(key.bytes());
        let edk = payload(200);
        remember(&edk);
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let context = HashMap::from([("k".to_string(), "context-value-canary-5c2".to_string())]);
        let sealed = envelope::seal_framed(&key, arn, &edk, &context, &data, 4096).unwrap();
        remember(&sealed[sealed.len() - 200..]);
        let message = envelope::parse(&sealed).unwrap();
        shown.push(format!("{message:?}"));
        shown.push(format!("{:?}", message.segments().collect::<Vec<_>>()));
        shown.push(format!("{:?}", message.data_keys));
        shown.push(format!("{key:?}"));
        shown.push(format!(
            "{:?}",
            Generated {
                key: key.clone(),
                encrypted: edk.clone(),
                key_id: arn.into()
            }
        ));
        shown.push(format!(
            "{:?}",
            Decrypted {
                key,
                key_id: arn.into()
            }
        ));
        for s in &shown {
            assert!(!shows_payload(s), "{len} bytes: {s}");
        }
        // The check itself sees a payload where there is one, in each form.
        assert!(shows_payload(&format!(
            "{:?}",
            String::from_utf8_lossy(&data)
        )));
        assert!(shows_payload(&STANDARD.encode(&data)));
        assert!(shows_payload(&format!(
            "{:?}",
            &sealed[sealed.len() - 200..]
        )));
    }
}
