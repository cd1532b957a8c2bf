//! `template.yaml` against the code, so the two cannot drift apart silently:
//!
//! - the keys: the regions `make template` writes from the tables in `src/ops/mod.rs` — for each
//!   row of `keys!` a key of its spec and usage with its alias, its two outputs, the variable
//!   of its default key, and a role statement granting on exactly that key the IAM actions of
//!   the operations of that kind — are what the tables give. A difference is named by key,
//!   action and line; `make template` (this test with `KMS_LAMBDA_WRITE_TEMPLATE=1`) rewrites
//!   the regions;
//! - least privilege across the whole template: KMS actions only in inline statements, on the
//!   template's own keys, no wildcards, and `kms:*` only for the account root in key policies;
//! - metrics: every metric the alarms and the dashboard read is one the function emits (checked
//!   by running it), and the dashboard body is valid JSON.

use crate::support;

use kms_lambda::kit::Key;
use kms_lambda::ops::{KEYS, OPERATIONS};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use support::Harness;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");

fn text() -> String {
    std::fs::read_to_string(PATH).expect("template.yaml")
}

fn template() -> Yaml {
    serde_yaml_ng::from_str(&text()).expect("template.yaml is YAML")
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

/// `!GetAtt X.Arn` → `X`.
fn get_att_arn(v: &Yaml) -> Option<&str> {
    let (tag, v) = tagged(v)?;
    (tag == "!GetAtt").then_some(())?;
    v.as_str()?.strip_suffix(".Arn")
}

// ---- The regions `make template` writes ----------------------------------------------------

/// The template resource of a kind of key.
fn resource(key: &Key) -> String {
    format!("{}Key", key.pascal())
}

/// The IAM actions each kind of key is granted: the union over its operations.
fn actions_by_key() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut by_key: BTreeMap<&str, BTreeSet<&str>> =
        KEYS.iter().map(|k| (k.name, BTreeSet::new())).collect();
    for row in OPERATIONS.iter().filter(|r| !r.test_only) {
        by_key
            .entry(row.key.name)
            .or_default()
            .extend(row.iam_actions.iter().copied());
    }
    by_key
}

/// One line of text from a row's doc comment.
fn purpose(key: &Key) -> String {
    key.purpose.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each region's lines, indented relative to its markers.
fn regions() -> Vec<(&'static str, Vec<String>)> {
    let actions = actions_by_key();
    let mut keys = Vec::new();
    let mut variables = Vec::new();
    let mut statements = vec![
        "- Version: \"2012-10-17\"".to_string(),
        "  Statement:".to_string(),
    ];
    let mut outputs = Vec::new();
    for (i, key) in KEYS.iter().enumerate() {
        let (r, p) = (resource(key), key.pascal());
        if i > 0 {
            keys.push(String::new());
        }
        keys.extend([
            format!("{r}:"),
            "  Type: AWS::KMS::Key".into(),
            "  DeletionPolicy: Retain".into(),
            "  UpdateReplacePolicy: Retain".into(),
            "  Properties:".into(),
            format!(
                "    Description: !Sub \"${{AWS::StackName}} (kms-lambda), {}: {}\"",
                key.name,
                purpose(key).replace('"', "'")
            ),
            format!("    KeySpec: {}", key.spec.as_str()),
            format!("    KeyUsage: {}", key.usage.as_str()),
        ]);
        if key.rotates() {
            keys.push("    EnableKeyRotation: true".into());
        }
        keys.extend(
            [
                "    KeyPolicy:",
                "      Version: \"2012-10-17\"",
                "      Statement:",
                "        # The account administers the key through IAM: the default key policy",
                "        # statement, which lets the function role's IAM policy take effect.",
                "        - Sid: EnableIamPoliciesForTheAccount",
                "          Effect: Allow",
                "          Principal:",
                "            AWS: !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:root\"",
                "          Action: \"kms:*\"",
                "          Resource: \"*\"",
                "",
            ]
            .map(String::from),
        );
        keys.extend([
            format!("{r}Alias:"),
            "  Type: AWS::KMS::Alias".into(),
            "  Properties:".into(),
            format!(
                "    AliasName: !Sub \"alias/${{AWS::StackName}}-{}\"",
                key.kebab()
            ),
            format!("    TargetKeyId: !Ref {r}"),
        ]);
        variables.push(format!("{}: !GetAtt {r}.Arn", key.variable));
        let granted = &actions[key.name];
        if !granted.is_empty() {
            statements.extend([
                format!("    - Sid: Use{r}"),
                "      Effect: Allow".into(),
                "      Action:".into(),
            ]);
            statements.extend(granted.iter().map(|a| format!("        - {a}")));
            statements.push(format!("      Resource: !GetAtt {r}.Arn"));
        }
        outputs.extend([
            format!("{p}KeyArn:"),
            format!(
                "  Description: The {} key ({}), {} for {}.",
                key.name,
                key.variable,
                key.spec.as_str(),
                key.usage.as_str()
            ),
            format!("  Value: !GetAtt {r}.Arn"),
            format!("{p}KeyAlias:"),
            format!("  Description: The {} key's alias.", key.name),
            format!("  Value: !Ref {r}Alias"),
        ]);
    }
    vec![
        ("keys", keys),
        ("key variables", variables),
        ("least privilege", statements),
        ("key outputs", outputs),
    ]
}

const BEGIN: &str = "# make template: begin ";
const END: &str = "# make template: end ";

/// `text` with each region between its markers rewritten; `Err` names a missing marker.
fn render(text: &str) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (name, body) in regions() {
        let begin = lines
            .iter()
            .position(|l| l.trim() == format!("{BEGIN}{name}").trim())
            .ok_or(format!("template.yaml has no line `{BEGIN}{name}`"))?;
        let end = lines[begin..]
            .iter()
            .position(|l| l.trim() == format!("{END}{name}").trim())
            .map(|i| begin + i)
            .ok_or(format!(
                "template.yaml has no line `{END}{name}` after its begin"
            ))?;
        let indent: String = lines[begin].chars().take_while(|c| *c == ' ').collect();
        let body = body.iter().map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{indent}{l}")
            }
        });
        lines.splice(begin + 1..end, body);
    }
    Ok(lines.join("\n") + "\n")
}

/// The 1-based line of the first line at or after `from` that contains `needle`.
fn line_of(text: &str, from: usize, needle: &str) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map_or(0, |(i, _)| i + 1)
}

/// What the template grants, per (resource it names, action), with the line of the action.
fn grants(t: &Yaml, text: &str) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (_, function) in of_type(t, "AWS::Serverless::Function") {
        for policy in list(&function["Properties"]["Policies"]) {
            for st in policy.get("Statement").map(list).unwrap_or_default() {
                let sid_line = st["Sid"]
                    .as_str()
                    .map_or(0, |sid| line_of(text, 0, &format!("Sid: {sid}")));
                for r in list(&st["Resource"]) {
                    let on = get_att_arn(r).map_or_else(|| format!("{r:?}"), str::to_string);
                    for a in list(&st["Action"]).into_iter().filter_map(Yaml::as_str) {
                        let line = line_of(text, sid_line, &format!("- {a}"));
                        out.insert((on.clone(), a.to_string()), line);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn the_keys_and_the_role_are_what_the_key_and_operation_tables_say() {
    let text = text();
    let written = render(&text).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("KMS_LAMBDA_WRITE_TEMPLATE").is_some() {
        if written != text {
            std::fs::write(PATH, &written).unwrap();
            println!("make template: template.yaml rewritten from the tables");
        }
        return;
    }
    // Named differences first: what a person must change, and where.
    let t = template();
    let mut problems = Vec::new();
    let kinds: BTreeMap<String, &Key> = KEYS.iter().map(|k| (resource(k), *k)).collect();
    for row in OPERATIONS.iter().filter(|r| !r.test_only) {
        if !KEYS.iter().any(|k| std::ptr::eq(*k, row.key)) {
            problems.push(format!(
                "{} uses the {} key, which is no row of keys! in src/ops/mod.rs: add its row \
                 (name, variable, spec, usage), then run `make template`",
                row.name, row.key.name
            ));
        }
    }
    let granted = grants(&t, &text);
    let needed = actions_by_key();
    for ((on, action), line) in &granted {
        match kinds.get(on) {
            Some(key) if needed[key.name].contains(action.as_str()) => {}
            Some(key) => {
                let users: Vec<String> = OPERATIONS
                    .iter()
                    .filter(|r| r.iam_actions.contains(&action.as_str()) && !r.test_only)
                    .map(|r| format!("{} (the {} key)", r.name, r.key.name))
                    .collect();
                problems.push(format!(
                    "template.yaml:{line} grants {action} on {on} (the {} key), but no operation \
                     of that kind calls it{}: remove that line, or run `make template`",
                    key.name,
                    if users.is_empty() {
                        String::new()
                    } else {
                        format!(" — {} does", users.join(", "))
                    }
                ));
            }
            None => problems.push(format!(
                "template.yaml:{line} grants {action} on {on}, which is not a key of the tables: \
                 run `make template`"
            )),
        }
    }
    for key in KEYS {
        let r = resource(key);
        for action in &needed[key.name] {
            if !granted.contains_key(&(r.clone(), action.to_string())) {
                let statement = line_of(&text, 0, &format!("Sid: Use{r}"));
                problems.push(format!(
                    "template.yaml{} does not grant {action} on {r} (the {} key), which its \
                     operations call: run `make template`, or add `- {action}` to statement \
                     Use{r}",
                    if statement > 0 {
                        format!(":{statement}")
                    } else {
                        String::new()
                    },
                    key.name
                ));
            }
        }
        let resource = &t["Resources"][r.as_str()];
        let (spec, usage) = (key.spec.as_str(), key.usage.as_str());
        if resource["Properties"]["KeySpec"].as_str() != Some(spec)
            || resource["Properties"]["KeyUsage"].as_str() != Some(usage)
        {
            problems.push(format!(
                "template.yaml has no {r} with KeySpec {spec} and KeyUsage {usage} for the {} \
                 key: run `make template`",
                key.name
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "template.yaml against the tables:\n  {}",
        problems.join("\n  ")
    );
    // Then anything else in the regions (a variable, an alias, an output, formatting).
    if let Some((i, (want, have))) = written
        .lines()
        .zip(text.lines())
        .enumerate()
        .find(|(_, (w, h))| w != h)
    {
        panic!(
            "template.yaml:{} differs from what the tables give: run `make template`\n  has:    \
             {have}\n  tables: {want}",
            i + 1
        );
    }
    assert_eq!(written, text, "template.yaml: run `make template`");
}

#[test]
fn least_privilege_across_the_whole_template() {
    let t = template();
    let keys: Vec<String> = of_type(&t, "AWS::KMS::Key")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(!keys.is_empty(), "the template defines its KMS keys");
    let functions = of_type(&t, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    let mut problems = Vec::new();
    for (name, function) in functions {
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
                let actions: Vec<&str> = list(&st["Action"])
                    .into_iter()
                    .filter_map(|a| a.as_str())
                    .filter(|a| a.to_lowercase().starts_with("kms:"))
                    .collect();
                if actions.is_empty() || st["Effect"].as_str() != Some("Allow") {
                    continue;
                }
                for a in actions.iter().filter(|a| a.contains('*')) {
                    problems.push(format!("{name}: wildcard KMS action {a}"));
                }
                for r in list(&st["Resource"]) {
                    if !get_att_arn(r).is_some_and(|k| keys.iter().any(|key| key == k)) {
                        problems.push(format!(
                            "{name}: KMS actions on {r:?}, not on one of the template's keys \
                             (use !GetAtt <Key>.Arn)"
                        ));
                    }
                }
            }
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

/// `template.managed-instances.yaml` (`scripts/managed_instances.py` merges it into
/// `template.yaml`, translates and lints it): the function must start with the memory and
/// concurrency it sets.
#[test]
fn the_managed_instances_overlay_gives_the_function_memory_for_its_concurrency() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/template.managed-instances.yaml"
    );
    let text = std::fs::read_to_string(path).expect("template.managed-instances.yaml");
    let overlay: Yaml = serde_yaml_ng::from_str(&text).expect("the overlay is YAML");
    // The function's properties: the resource that sets a capacity provider.
    let props = overlay["Resources"]
        .as_mapping()
        .expect("the overlay has Resources")
        .values()
        .map(|r| &r["Properties"])
        .find(|p| !p["CapacityProviderConfig"].is_null())
        .expect("the overlay sets the function's CapacityProviderConfig");
    let memory = props["MemorySize"]
        .as_u64()
        .expect("the overlay sets MemorySize");
    let concurrency = props["CapacityProviderConfig"]["PerExecutionEnvironmentMaxConcurrency"]
        .as_u64()
        .unwrap_or(8);
    let (memory, concurrency) = (memory.to_string(), concurrency.to_string());
    let config = kms_lambda::kit::config::Config::from_lookup(KEYS, |name| match name {
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some(memory.clone()),
        "AWS_LAMBDA_MAX_CONCURRENCY" => Some(concurrency.clone()),
        _ => KEYS
            .iter()
            .any(|k| k.variable == name)
            .then(|| "alias/managed".to_string()),
    })
    .unwrap_or_else(|e| panic!("the overlay's function would not start: {e}"));
    assert!(config.memory.budget_kib.is_some());
    assert_eq!(config.concurrency.to_string(), concurrency);
}
