//! Configuration, read once from the environment during INIT.
//!
//! This module does no I/O on purpose: INIT must stay cheap and must not start anything that
//! could be frozen half-way (a signed request sitting in a frozen sandbox is exactly how
//! "Signature expired" happens). Everything here is validated up front so that a typo fails the
//! deployment at start-up with one line naming the variable, instead of failing the first
//! customer request.

use crate::event::base64::decode_base64;
use crate::event::LAMBDA_PAYLOAD_LIMIT;
use crate::key::{check_key_id, Key, Secret};
use crate::memory::MemoryPlan;
use std::fmt;
use std::time::Duration;

/// The function's settings. See the "Configuration" table of the kit's README.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The default key of each kind in the key table (`KMS_KEY_ID`, …): the key an operation of
    /// that kind uses when its event names none.
    pub keys: Vec<(&'static Key, String)>,
    /// Each secret of the secrets table, as its variable holds it: a KMS ciphertext, decrypted
    /// on first use (never here).
    pub secrets: Vec<(&'static Secret, Vec<u8>)>,
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets): the encryption
    /// context its secrets were encrypted under.
    pub function_name: Option<String>,
    /// Total attempts per KMS call, first try included (`KMS_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Fixed offset added to the signing clock (`KMS_CLOCK_OFFSET_SECONDS`), the equivalent of
    /// the JS SDK's `systemClockOffset`. Normally zero; the SDK measures real skew itself.
    pub clock_offset_seconds: i64,
    /// CloudWatch namespace of the EMF metrics (`METRICS_NAMESPACE`).
    pub metrics_namespace: String,
    /// Time kept back from the invocation deadline for the function to report an error
    /// (`KMS_DEADLINE_MARGIN_MS`).
    pub deadline_margin: Duration,
    /// Retry `Signature expired` / `not yet current` with a fresh signature even when the SDK's
    /// measured skew is small (`KMS_RETRY_EXPIRED_SIGNATURES`, default on). Off only to show
    /// what breaks without it.
    pub retry_expired_signatures: bool,
    /// Data-key caching for envelopes (`DATA_KEY_CACHE_MAX_AGE_SECONDS` and
    /// `DATA_KEY_CACHE_MAX_MESSAGES`, both required to enable it, and optionally
    /// `DATA_KEY_CACHE_MAX_BYTES`); `None` when off.
    pub data_key_cache: Option<CacheLimits>,
    /// Whether decrypt opens envelopes whose algorithm suite does not commit to its data key
    /// (message format 1): `ENVELOPE_COMMITMENT_POLICY`, the ESDK's commitment policies.
    pub commitment: CommitmentPolicy,
    /// Invocations served at once (`AWS_LAMBDA_MAX_CONCURRENCY`, set by Lambda Managed
    /// Instances; 1 on classic Lambda).
    pub concurrency: u32,
    /// What the function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`) allows at that
    /// concurrency, for events of at most `MAX_EVENT_BYTES` (the kit's `memory`).
    pub memory: MemoryPlan,
}

/// The data-key cache's limits; a cache exists only when the age and message limits are both set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// A cached data key is not used once this old.
    pub max_age: Duration,
    /// A cached data key is used for at most this many messages (first use included).
    pub max_messages: u64,
    /// A cached data key seals at most this many plaintext bytes in all (`u64::MAX`: no limit).
    pub max_bytes: u64,
}

/// Which envelopes decrypt opens, named as the AWS Encryption SDK names its commitment policies.
/// Encrypt always writes a committing suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitmentPolicy {
    /// `REQUIRE_ENCRYPT_REQUIRE_DECRYPT` (default): only committing suites open.
    RequireDecrypt,
    /// `REQUIRE_ENCRYPT_ALLOW_DECRYPT`: older, non-committing (format 1) messages open too.
    AllowDecrypt,
}

/// A configuration variable that is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it, for a person.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: {}: {}",
            self.variable, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// Largest clock offset accepted. A day is far beyond any real skew; anything larger is
/// almost certainly milliseconds typed where seconds were meant.
const MAX_CLOCK_OFFSET_SECONDS: i64 = 24 * 60 * 60;

/// Longest a cached data key may live. The cache trades KMS calls for a key held in memory;
/// the ESDK's own examples bound it in minutes, and past a day the bound stops bounding.
const MAX_CACHE_AGE_SECONDS: i64 = 24 * 60 * 60;

impl Config {
    /// Reads the process environment; `keys` is the key table (`ops::KEYS`) and `secrets` the
    /// secrets table (`ops::SECRETS`), whose variables are all required.
    pub fn from_env(
        keys: &[&'static Key],
        secrets: &[&'static Secret],
    ) -> Result<Self, ConfigError> {
        Self::from_lookup(keys, secrets, |name| std::env::var(name).ok())
    }

    /// Reads configuration through `get`, so tests need not touch the process environment.
    pub fn from_lookup(
        keys: &[&'static Key],
        secrets: &[&'static Secret],
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let keys = keys
            .iter()
            .map(|key| {
                let id = match get(key.variable) {
                    Some(v) if !v.trim().is_empty() => v.trim().to_string(),
                    _ => {
                        return Err(ConfigError {
                            variable: key.variable,
                            reason: format!(
                                "is required: the default {} key, a key id, key ARN, alias/NAME \
                                 or alias ARN ({key})",
                                key.name
                            ),
                        })
                    }
                };
                check_key_id(&id).map_err(|reason| ConfigError {
                    variable: key.variable,
                    reason,
                })?;
                Ok((*key, id))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let function_name = get("AWS_LAMBDA_FUNCTION_NAME").filter(|n| !n.trim().is_empty());
        let secrets = secrets
            .iter()
            .map(|secret| Ok((*secret, ciphertext_of(secret, get(secret.variable))?)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        if !secrets.is_empty() && function_name.is_none() {
            return Err(ConfigError {
                variable: "AWS_LAMBDA_FUNCTION_NAME",
                reason: "is required to decrypt the function's secrets, which were encrypted for \
                         it (Lambda sets it)"
                    .into(),
            });
        }

        let max_attempts = parse_int(&get, "KMS_MAX_ATTEMPTS", 3, 1, 10)? as u32;
        // Managed Instances accept 1 to 1,600 per execution environment.
        let concurrency = parse_int(&get, "AWS_LAMBDA_MAX_CONCURRENCY", 1, 1, 1600)? as u32;
        // Lambda sets the memory size; off Lambda (tests, benchmarks) it may be absent (0).
        let memory_mb = parse_int(&get, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0, 64, 1 << 20)?;
        let memory_mb = (memory_mb > 0).then_some(memory_mb as u64);
        let max_event_bytes = parse_int(
            &get,
            "MAX_EVENT_BYTES",
            LAMBDA_PAYLOAD_LIMIT as i64,
            1024,
            LAMBDA_PAYLOAD_LIMIT as i64,
        )? as usize;
        let memory =
            MemoryPlan::new(memory_mb, concurrency, max_event_bytes).map_err(|reason| {
                ConfigError {
                    variable: "AWS_LAMBDA_MAX_CONCURRENCY",
                    reason,
                }
            })?;
        let clock_offset_seconds = parse_int(
            &get,
            "KMS_CLOCK_OFFSET_SECONDS",
            0,
            -MAX_CLOCK_OFFSET_SECONDS,
            MAX_CLOCK_OFFSET_SECONDS,
        )?;
        let margin_ms = parse_int(&get, "KMS_DEADLINE_MARGIN_MS", 500, 0, 60_000)?;

        let cache_age = parse_int(
            &get,
            "DATA_KEY_CACHE_MAX_AGE_SECONDS",
            0,
            0,
            MAX_CACHE_AGE_SECONDS,
        )?;
        let cache_messages = parse_int(&get, "DATA_KEY_CACHE_MAX_MESSAGES", 0, 0, u32::MAX as i64)?;
        let cache_bytes = parse_int(&get, "DATA_KEY_CACHE_MAX_BYTES", 0, 0, i64::MAX)?;
        let data_key_cache = match (cache_age, cache_messages) {
            (0, 0) if cache_bytes != 0 => {
                return Err(ConfigError {
                    variable: "DATA_KEY_CACHE_MAX_BYTES",
                    reason: "limits the data-key cache, which needs DATA_KEY_CACHE_MAX_AGE_SECONDS and DATA_KEY_CACHE_MAX_MESSAGES to be on".into(),
                })
            }
            (0, 0) => None,
            (0, _) => {
                return Err(ConfigError {
                    variable: "DATA_KEY_CACHE_MAX_AGE_SECONDS",
                    reason: "must be set (1 or more) when DATA_KEY_CACHE_MAX_MESSAGES is, to bound how long a data key is reused".into(),
                })
            }
            (_, 0) => {
                return Err(ConfigError {
                    variable: "DATA_KEY_CACHE_MAX_MESSAGES",
                    reason: "must be set (1 or more) when DATA_KEY_CACHE_MAX_AGE_SECONDS is, to bound how often a data key is reused".into(),
                })
            }
            (age, messages) => Some(CacheLimits {
                max_age: Duration::from_secs(age as u64),
                max_messages: messages as u64,
                max_bytes: if cache_bytes == 0 {
                    u64::MAX
                } else {
                    cache_bytes as u64
                },
            }),
        };

        let retry_expired_signatures = match get("KMS_RETRY_EXPIRED_SIGNATURES")
            .as_deref()
            .map(str::trim)
        {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(other) => {
                return Err(ConfigError {
                    variable: "KMS_RETRY_EXPIRED_SIGNATURES",
                    reason: format!("expected true or false, got {other:?}"),
                })
            }
        };

        let commitment = match get("ENVELOPE_COMMITMENT_POLICY").as_deref().map(str::trim) {
            None | Some("REQUIRE_ENCRYPT_REQUIRE_DECRYPT") => CommitmentPolicy::RequireDecrypt,
            Some("REQUIRE_ENCRYPT_ALLOW_DECRYPT") => CommitmentPolicy::AllowDecrypt,
            Some(other) => {
                return Err(ConfigError {
                    variable: "ENVELOPE_COMMITMENT_POLICY",
                    reason: format!(
                        "expected REQUIRE_ENCRYPT_REQUIRE_DECRYPT or REQUIRE_ENCRYPT_ALLOW_DECRYPT, got {other:?}"
                    ),
                })
            }
        };

        let metrics_namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| "KmsLambda".into());
        check_namespace(&metrics_namespace).map_err(|reason| ConfigError {
            variable: "METRICS_NAMESPACE",
            reason,
        })?;

        Ok(Config {
            keys,
            secrets,
            function_name,
            max_attempts,
            clock_offset_seconds,
            metrics_namespace,
            deadline_margin: Duration::from_millis(margin_ms as u64),
            retry_expired_signatures,
            data_key_cache,
            commitment,
            concurrency,
            memory,
        })
    }
}

impl Config {
    /// The default key of `kind`; `None` for a kind that is not in the key table.
    pub fn default_key(&self, kind: &Key) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| std::ptr::eq(*k, kind))
            .map(|(_, id)| id.as_str())
    }
}

/// The ciphertext a secret's variable holds: base64 of a KMS ciphertext (1 to 6,144 bytes, not
/// an AWS Encryption SDK message, at least 16: a ciphertext carries its IV and tag). Never its
/// value in a message: only what is wrong, and how to make a right one.
fn ciphertext_of(secret: &Secret, value: Option<String>) -> Result<Vec<u8>, ConfigError> {
    let how = format!(
        "encrypt the {} secret for this function: aws kms encrypt --key-id <the {} key, {}> \
         --encryption-context LambdaFunctionName=<the function's name> --plaintext fileb://<a \
         file> --query CiphertextBlob --output text",
        secret.name, secret.key.name, secret.key.variable
    );
    let wrong = |what: String| ConfigError {
        variable: secret.variable,
        reason: format!("{what}: {how}"),
    };
    let text = value.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Err(wrong("is required, the base64 of a KMS ciphertext".into()));
    }
    let blob =
        decode_base64(text).map_err(|why| wrong(format!("is not standard base64 ({why})")))?;
    let envelope = matches!(blob.as_slice(), [0x02, _, ..] | [0x01, 0x80, ..]);
    if envelope || !(16..=6144).contains(&blob.len()) {
        return Err(wrong(format!(
            "decodes to {} bytes{}, which is no KMS ciphertext (16 to 6,144 bytes)",
            blob.len(),
            if envelope {
                " of an AWS Encryption SDK message"
            } else {
                ""
            }
        )));
    }
    Ok(blob)
}

fn parse_int(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let Some(raw) = get(variable) else {
        return Ok(default);
    };
    let value: i64 = raw.trim().parse().map_err(|_| ConfigError {
        variable,
        reason: format!("expected a whole number from {min} to {max}, got {raw:?}"),
    })?;
    if !(min..=max).contains(&value) {
        return Err(ConfigError {
            variable,
            reason: format!("must be from {min} to {max}, got {value}"),
        });
    }
    Ok(value)
}

/// CloudWatch namespaces: 1–255 of letters, digits and `. - _ / # : space`, not `AWS/…`.
fn check_namespace(ns: &str) -> Result<(), String> {
    if ns.is_empty() || ns.len() > 255 {
        return Err("must be 1 to 255 characters".into());
    }
    if ns.starts_with("AWS/") {
        return Err("the AWS/ prefix is reserved for AWS services".into());
    }
    if !ns
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        return Err("use only letters, digits and . - _ / # : or space".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::test_kinds::{DATA, MAC};
    use std::collections::HashMap;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn config_of(keys: &[&'static Key], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(keys, &[], |k| map.get(k).cloned())
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        config_of(&[&DATA], vars)
    }

    #[test]
    fn every_kind_of_key_needs_its_default_and_each_is_checked_by_its_variable() {
        let both = [&DATA, &MAC];
        let c = config_of(
            &both,
            &[("KMS_KEY_ID", KEY), ("KMS_MAC_KEY_ID", " alias/mac ")],
        )
        .unwrap();
        assert_eq!(c.default_key(&DATA), Some(KEY));
        assert_eq!(c.default_key(&MAC), Some("alias/mac"), "trimmed");
        assert_eq!(
            config(&[("KMS_KEY_ID", KEY)]).unwrap().default_key(&MAC),
            None
        );
        let e = config_of(&both, &[("KMS_KEY_ID", KEY)]).unwrap_err();
        assert_eq!(e.variable, "KMS_MAC_KEY_ID");
        assert!(e.reason.contains("the default MAC key"), "{e}");
        assert!(e.reason.contains("HMAC_256"), "{e}");
        let e = config_of(&both, &[("KMS_KEY_ID", KEY), ("KMS_MAC_KEY_ID", "mac")]).unwrap_err();
        assert_eq!(
            e.variable, "KMS_MAC_KEY_ID",
            "a malformed id names its variable"
        );
    }

    #[test]
    fn only_the_keys_are_required_and_the_rest_has_documented_defaults() {
        let c = config(&[("KMS_KEY_ID", KEY)]).unwrap();
        assert_eq!(c.default_key(&DATA), Some(KEY));
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.clock_offset_seconds, 0);
        assert_eq!(c.metrics_namespace, "KmsLambda");
        assert_eq!(c.deadline_margin, Duration::from_millis(500));
        assert_eq!(c.data_key_cache, None);
        assert!(c.retry_expired_signatures);
        assert_eq!(c.commitment, CommitmentPolicy::RequireDecrypt);
        assert_eq!(c.concurrency, 1);
        assert_eq!(c.memory.max_event_bytes, LAMBDA_PAYLOAD_LIMIT);
        assert_eq!(c.memory.budget_kib, None, "no memory size, no budget");
    }

    #[test]
    fn managed_instances_concurrency_must_fit_the_memory() {
        let at = |concurrency: &str, max_event: Option<&str>| {
            let mut vars = vec![
                ("KMS_KEY_ID", KEY),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"),
                ("AWS_LAMBDA_MAX_CONCURRENCY", concurrency),
            ];
            vars.extend(max_event.map(|m| ("MAX_EVENT_BYTES", m)));
            config(&vars)
        };
        let c = at("64", None).unwrap();
        assert_eq!(c.concurrency, 64);
        assert!(c.memory.budget_kib.is_some());
        // 400 slots of 6 MiB events do not fit in 2 GB: the error says what does.
        let e = at("400", None).unwrap_err();
        assert_eq!(e.variable, "AWS_LAMBDA_MAX_CONCURRENCY");
        assert!(e.reason.contains("at most 307 fit"), "{e}");
        // Small events make room.
        assert_eq!(
            at("400", Some("65536")).unwrap().memory.max_event_bytes,
            65536
        );
        assert_eq!(
            at("8", Some("7000000")).unwrap_err().variable,
            "MAX_EVENT_BYTES",
            "above Lambda's own limit"
        );
        assert_eq!(
            at("1601", None).unwrap_err().variable,
            "AWS_LAMBDA_MAX_CONCURRENCY"
        );
    }

    #[test]
    fn the_data_key_cache_needs_both_limits() {
        let c = config(&[
            ("KMS_KEY_ID", KEY),
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
            ("DATA_KEY_CACHE_MAX_MESSAGES", "100"),
        ])
        .unwrap();
        assert_eq!(
            c.data_key_cache,
            Some(CacheLimits {
                max_age: Duration::from_secs(300),
                max_messages: 100,
                max_bytes: u64::MAX,
            })
        );
        let c = config(&[
            ("KMS_KEY_ID", KEY),
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
            ("DATA_KEY_CACHE_MAX_MESSAGES", "100"),
            ("DATA_KEY_CACHE_MAX_BYTES", "1048576"),
        ])
        .unwrap();
        assert_eq!(c.data_key_cache.unwrap().max_bytes, 1_048_576);
        let e = config(&[("KMS_KEY_ID", KEY), ("DATA_KEY_CACHE_MAX_BYTES", "10")]).unwrap_err();
        assert_eq!(e.variable, "DATA_KEY_CACHE_MAX_BYTES");
        let e = config(&[
            ("KMS_KEY_ID", KEY),
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "DATA_KEY_CACHE_MAX_MESSAGES");
        let e = config(&[("KMS_KEY_ID", KEY), ("DATA_KEY_CACHE_MAX_MESSAGES", "10")]).unwrap_err();
        assert_eq!(e.variable, "DATA_KEY_CACHE_MAX_AGE_SECONDS");
    }

    #[test]
    fn a_missing_key_names_the_variable() {
        let err = config(&[]).unwrap_err();
        assert_eq!(err.variable, "KMS_KEY_ID");
        assert!(err
            .to_string()
            .starts_with("invalid configuration: KMS_KEY_ID"));
        assert_eq!(
            config(&[("KMS_KEY_ID", "  ")]).unwrap_err().variable,
            "KMS_KEY_ID"
        );
    }

    #[test]
    fn a_secret_is_a_base64_kms_ciphertext_named_by_its_variable_and_never_echoed() {
        use crate::key::Secret;
        static HOOK: Secret = Secret::new("HOOK", "HOOK_SECRET", &DATA, " Signs.");
        let blob = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [1u8; 64]);
        let with = |value: Option<&str>, function: Option<&str>| {
            let mut vars: HashMap<String, String> = [("KMS_KEY_ID", KEY)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if let Some(v) = value {
                vars.insert("HOOK_SECRET".into(), v.into());
            }
            if let Some(f) = function {
                vars.insert("AWS_LAMBDA_FUNCTION_NAME".into(), f.into());
            }
            Config::from_lookup(&[&DATA], &[&HOOK], |k| vars.get(k).cloned())
        };
        let c = with(Some(&blob), Some("fn")).unwrap();
        assert_eq!(c.secrets[0].1, [1u8; 64]);
        assert_eq!(c.function_name.as_deref(), Some("fn"));
        for (value, said) in [
            (None, "is required"),
            (Some("   "), "is required"),
            (Some("secret-text!"), "is not standard base64"),
            (Some("aGk="), "decodes to 2 bytes"),
            (
                Some("AgR4rx2jBGdEzExvjiBKOXYwuUPrkvSmdiz6iZQr+1JS/IMAGQACAA=="),
                "AWS Encryption SDK message",
            ),
        ] {
            let e = with(value, Some("fn")).unwrap_err();
            assert_eq!(e.variable, "HOOK_SECRET", "{value:?}");
            assert!(e.reason.contains(said), "{value:?}: {e}");
            assert!(
                e.reason
                    .contains("--encryption-context LambdaFunctionName="),
                "{e}"
            );
            assert!(!e.to_string().contains("secret-text"), "{e}");
        }
        let e = with(Some(&blob), None).unwrap_err();
        assert_eq!(e.variable, "AWS_LAMBDA_FUNCTION_NAME");
        assert!(with(None, None).is_err());
        assert!(
            config(&[("KMS_KEY_ID", KEY)]).unwrap().secrets.is_empty(),
            "none declared, none read"
        );
    }

    #[test]
    fn numbers_are_parsed_and_bounded() {
        let c = config(&[
            ("KMS_KEY_ID", KEY),
            ("KMS_MAX_ATTEMPTS", "5"),
            ("KMS_CLOCK_OFFSET_SECONDS", "-900"),
            ("KMS_DEADLINE_MARGIN_MS", "250"),
            ("METRICS_NAMESPACE", "Team/Payments"),
        ])
        .unwrap();
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.clock_offset_seconds, -900);
        assert_eq!(c.deadline_margin, Duration::from_millis(250));
        assert_eq!(c.metrics_namespace, "Team/Payments");

        for (var, value) in [
            ("KMS_MAX_ATTEMPTS", "0"),
            ("KMS_MAX_ATTEMPTS", "three"),
            ("KMS_MAX_ATTEMPTS", "11"),
            ("KMS_CLOCK_OFFSET_SECONDS", "900000"),
            ("KMS_CLOCK_OFFSET_SECONDS", "1.5"),
            ("KMS_DEADLINE_MARGIN_MS", "-1"),
            ("METRICS_NAMESPACE", ""),
            ("METRICS_NAMESPACE", "AWS/Lambda"),
            ("METRICS_NAMESPACE", "bad{ns}"),
            ("KMS_RETRY_EXPIRED_SIGNATURES", "maybe"),
            ("ENVELOPE_COMMITMENT_POLICY", "FORBID_ENCRYPT_ALLOW_DECRYPT"),
        ] {
            let err = config(&[("KMS_KEY_ID", KEY), (var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{var}={value}");
        }
    }
}
