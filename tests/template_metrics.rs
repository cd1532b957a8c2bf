//! The alarms and the dashboard in `template.yaml` read the function's own EMF metrics. A renamed
//! metric would silently leave an alarm on a metric nobody emits, so this test runs the real
//! function, collects the metric names its EMF lines declare, and checks every metric the
//! template reads from the function's namespace is among them.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::{b64, Harness};

const TEMPLATE: &str = include_str!("../template.yaml");

/// `MetricName: X` under `Namespace: !Ref MetricsNamespace` (alarms) and
/// `["${MetricsNamespace}", "X", …]` (dashboard widgets).
fn metrics_the_template_reads() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut ours = false;
    for line in TEMPLATE.lines().map(str::trim) {
        if let Some(ns) = line.strip_prefix("Namespace:") {
            ours = ns.trim() == "!Ref MetricsNamespace";
        } else if let Some(name) = line.strip_prefix("MetricName:") {
            if ours {
                names.insert(name.trim().to_string());
            }
        }
        let mut rest = line;
        while let Some(i) = rest.find("[\"${MetricsNamespace}\", \"") {
            rest = &rest[i + "[\"${MetricsNamespace}\", \"".len()..];
            let end = rest.find('"').expect("closing quote");
            names.insert(rest[..end].to_string());
        }
    }
    names
}

/// The dashboard body with `${…}` substituted, parsed, so a JSON typo fails here, not in CloudFormation.
fn dashboard_body() -> Value {
    let start = TEMPLATE
        .find("DashboardBody: !Sub |")
        .expect("dashboard body");
    let body: Vec<&str> = TEMPLATE[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("        ") || l.trim().is_empty())
        .collect();
    let mut text = body.join("\n");
    while let Some(i) = text.find("${") {
        let end = i + text[i..].find('}').unwrap();
        let value = if text[i..end].contains("Threshold") {
            "1"
        } else {
            "x"
        };
        text.replace_range(i..=end, value);
    }
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("dashboard body is not JSON: {e}\n{text}"))
}

#[tokio::test]
async fn every_metric_the_alarms_and_dashboard_read_is_one_the_function_emits() {
    let read = metrics_the_template_reads();
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
    let event = json!({"operation": "encrypt", "plaintext": b64(b"metrics"), "encryptionContext": {"k": "v"}});
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
