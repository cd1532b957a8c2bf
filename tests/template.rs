//! `template.yaml` against the code, so the two cannot drift apart silently:
//!
//! - least privilege: the function's role grants exactly the IAM actions the operations table
//!   (`src/ops/mod.rs`) lists — no more, none missing — on the template's own key only, and only
//!   the account root holds `kms:*` in the key policy;
//! - metrics: every metric the alarms and the dashboard read is one the function emits (checked
//!   by running it), and the dashboard body is valid JSON.

mod support;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeSet;
use support::Harness;

const TEMPLATE: &str = include_str!("../template.yaml");

fn template() -> Yaml {
    serde_yaml_ng::from_str(TEMPLATE).expect("template.yaml is YAML")
}

fn resources(t: &Yaml) -> Vec<(String, &Yaml)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v))
        .collect()
}

fn of_type<'a>(t: &'a Yaml, ty: &str) -> Vec<(String, &'a Yaml)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .collect()
}

/// A scalar or a list of them, as IAM allows either.
fn list(v: &Yaml) -> Vec<&Yaml> {
    match v {
        Yaml::Sequence(items) => items.iter().collect(),
        Yaml::Null => vec![],
        one => vec![one],
    }
}

/// `!Tag value` → ("!Tag", value).
fn tagged(v: &Yaml) -> Option<(String, &Yaml)> {
    match v {
        Yaml::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

#[test]
fn the_role_grants_exactly_the_actions_the_operations_table_lists_on_the_template_key_only() {
    let t = template();
    let keys: Vec<String> = of_type(&t, "AWS::KMS::Key")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(!keys.is_empty(), "the template defines its KMS key");
    let functions = of_type(&t, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    let needed: BTreeSet<&str> = kms_lambda::ops::iam_actions().into_iter().collect();
    let mut problems = Vec::new();

    for (name, function) in functions {
        let mut granted = BTreeSet::new();
        for policy in list(&function["Properties"]["Policies"]) {
            let Some(statements) = policy.get("Statement") else {
                // A SAM policy template or a managed policy: it must not carry KMS rights.
                if format!("{policy:?}").to_lowercase().contains("kms") {
                    problems.push(format!(
                        "{name}: policy {policy:?} grants KMS rights outside an inline statement"
                    ));
                }
                continue;
            };
            for st in list(statements) {
                let actions: Vec<String> = list(&st["Action"])
                    .into_iter()
                    .filter_map(|a| a.as_str())
                    .filter(|a| a.to_lowercase().starts_with("kms:"))
                    .map(str::to_string)
                    .collect();
                if actions.is_empty() || st["Effect"].as_str() != Some("Allow") {
                    continue;
                }
                for a in &actions {
                    if a.contains('*') {
                        problems.push(format!("{name}: wildcard KMS action {a}"));
                    }
                }
                for r in list(&st["Resource"]) {
                    let on_own_key = tagged(r).is_some_and(|(tag, v)| {
                        tag == "!GetAtt"
                            && v.as_str()
                                .is_some_and(|v| keys.iter().any(|k| v == format!("{k}.Arn")))
                    });
                    if !on_own_key {
                        problems.push(format!("{name}: KMS actions on {r:?}, not on the template's key (use !GetAtt <Key>.Arn)"));
                    }
                }
                granted.extend(actions);
            }
        }
        let granted: BTreeSet<&str> = granted.iter().map(String::as_str).collect();
        for missing in needed.difference(&granted) {
            problems.push(format!(
                "{name}: the operations table needs {missing}, which template.yaml does not grant: \
                 add `- {missing}` to the function's policy statement"
            ));
        }
        for extra in granted.difference(&needed) {
            problems.push(format!(
                "{name}: template.yaml grants {extra}, which no operation in src/ops/mod.rs needs: remove it"
            ));
        }
    }

    for key in &keys {
        let (_, resource) = resources(&t).into_iter().find(|(n, _)| n == key).unwrap();
        for st in list(&resource["Properties"]["KeyPolicy"]["Statement"]) {
            let all_of_kms = list(&st["Action"])
                .iter()
                .any(|a| matches!(a.as_str(), Some("kms:*") | Some("*")));
            if !all_of_kms {
                continue;
            }
            let principals = list(&st["Principal"]["AWS"]);
            let root_only = principals.len() == 1
                && tagged(principals[0]).is_some_and(|(tag, v)| {
                    tag == "!Sub"
                        && v.as_str() == Some("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
                });
            if !root_only {
                problems.push(format!(
                    "{key}: the key policy grants kms:* to {principals:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "least privilege:\n  {}",
        problems.join("\n  ")
    );
}

/// `MetricName: X` under `Namespace: !Ref MetricsNamespace` (alarms, plain and metric-math) and
/// `["${MetricsNamespace}", "X", …]` rows in the dashboard.
fn metrics_the_template_reads(t: &Yaml) -> BTreeSet<String> {
    fn walk(v: &Yaml, out: &mut BTreeSet<String>) {
        match v {
            Yaml::Mapping(m) => {
                let ours = m.get("Namespace").and_then(tagged).is_some_and(|(tag, v)| {
                    tag == "!Ref" && v.as_str() == Some("MetricsNamespace")
                });
                if ours {
                    if let Some(name) = m.get("MetricName").and_then(Yaml::as_str) {
                        out.insert(name.to_string());
                    }
                }
                m.values().for_each(|v| walk(v, out));
            }
            Yaml::Sequence(s) => s.iter().for_each(|v| walk(v, out)),
            Yaml::Tagged(t) => walk(&t.value, out),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    walk(t, &mut names);
    for widget in dashboard_body()["widgets"].as_array().unwrap() {
        for row in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if row[0] == "${MetricsNamespace}" {
                names.insert(row[1].as_str().unwrap().to_string());
            }
        }
    }
    names
}

/// The dashboard body (a `!Sub` string), parsed with its placeholders kept as strings — or
/// numbers where they stand for a number — so a JSON typo fails here, not in CloudFormation.
fn dashboard_body() -> Value {
    let t = template();
    let (_, dashboard) = of_type(&t, "AWS::CloudWatch::Dashboard")
        .into_iter()
        .next()
        .expect("a dashboard");
    let (tag, body) = tagged(&dashboard["Properties"]["DashboardBody"]).expect("!Sub body");
    assert_eq!(tag, "!Sub");
    let mut text = body.as_str().unwrap().to_string();
    // A placeholder outside quotes stands for a number (an alarm threshold).
    let mut out = String::new();
    while let Some(i) = text.find("${") {
        let end = i + text[i..].find('}').unwrap();
        let quoted = text[..i].ends_with('"');
        out.push_str(&text[..i]);
        out.push_str(if quoted { &text[i..=end] } else { "1" });
        text = text[end + 1..].to_string();
    }
    out.push_str(&text);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("dashboard body is not JSON: {e}\n{out}"))
}

#[tokio::test]
async fn every_metric_the_alarms_and_dashboard_read_is_one_the_function_emits() {
    let read = metrics_the_template_reads(&template());
    for expected in [
        "KmsAttempts",
        "ClockSkewMs",
        "SignatureAgeMs",
        "ColdStart",
        "ClientInitMs",
        "InitToSendMs",
        "KmsRoundTripMs",
    ] {
        assert!(
            read.contains(expected),
            "the template parser missed {expected}: {read:?}"
        );
    }

    // A cold invocation that reaches KMS emits every metric the function has.
    let h = Harness::start(&[]).await;
    let event = support::encrypt(b"metrics", serde_json::json!({"k": "v"}));
    h.emulator.invoke(&event).await.ok();
    h.emulator.invoke(&event).await.ok();
    let emitted: BTreeSet<String> = h
        .function
        .emf_wait(2)
        .await
        .iter()
        .flat_map(|line| {
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|def| def["Name"].as_str().unwrap().to_string())
        .collect();

    let missing: Vec<_> = read.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "the template reads metrics the function never emits: {missing:?} (emitted: {emitted:?})"
    );
}

#[test]
fn the_dashboard_body_is_valid_json_with_the_errors_by_error_type_widget() {
    let body = dashboard_body();
    let widgets = body["widgets"].as_array().unwrap();
    assert!(widgets.len() >= 6);
    let log = widgets
        .iter()
        .find(|w| w["type"] == "log")
        .expect("a Logs Insights widget");
    let query = log["properties"]["query"].as_str().unwrap();
    assert!(query.contains("by ErrorType"), "{query}");
}
