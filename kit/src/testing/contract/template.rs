//! `template.yaml` against the code, so the two cannot drift apart silently:
//!
//! - the keys: the regions `make template` writes from the tables
//!   ([`tools::template`](crate::tools::template)) are what the tables give; a difference is
//!   named by key, action and line;
//! - least privilege across the whole template: KMS actions only in inline statements, on the
//!   template's own keys, no wildcards, and `kms:*` only for the account root in key policies;
//! - metrics: every metric the alarms and the dashboard read is one the function emits (checked
//!   by running it), and the dashboard body is valid JSON;
//! - `template.managed-instances.yaml`, when the project has it: the function starts with the
//!   memory and concurrency it sets;
//! - `cargo lambda deploy`'s settings (`[package.metadata.lambda.deploy]` in `Cargo.toml`), when
//!   the project has them: the memory, timeout and tracing `template.yaml` gives the function,
//!   and nothing cargo-lambda would replace the stack's role or environment with.

use crate::key::Key;
use crate::testing::events::run_sample_events;
use crate::testing::{Harness, Project};
use crate::tools::template::{actions_by_key, render, resource, secrets_statement};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};

/// See the module documentation. Panics naming every difference and what to run or change.
pub async fn template(project: &Project) {
    keys_and_role(project);
    least_privilege(project);
    dashboard(project);
    managed_instances_overlay(project);
    cargo_lambda_deploy_settings(project);
    metrics_are_emitted(project).await;
}

fn text(project: &Project) -> String {
    std::fs::read_to_string(project.path("template.yaml")).expect("template.yaml")
}

fn parse(text: &str) -> Yaml {
    serde_yaml_ng::from_str(text).expect("template.yaml is YAML")
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
                // The secrets' own statements, conditioned: `secret_grants` checks them whole.
                if st["Sid"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("DecryptSecretsWith"))
                {
                    continue;
                }
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

/// Each kind of key that encrypts secrets: one statement granting `kms:Decrypt` on its key and
/// nothing else, only under the encryption context of the function's own name — the stack's,
/// which the function must be given explicitly (a `!Ref` of the function in its own role's
/// policy is a circular reference).
fn secret_grants(project: &Project, t: &Yaml, text: &str, problems: &mut Vec<String>) {
    let secrets = project.function.secrets_table();
    if secrets.is_empty() {
        return;
    }
    let functions = of_type(t, "AWS::Serverless::Function");
    let statements: Vec<&Yaml> = functions
        .iter()
        .flat_map(|(_, f)| list(&f["Properties"]["Policies"]))
        .flat_map(|p| p.get("Statement").map(list).unwrap_or_default())
        .collect();
    for (_, f) in &functions {
        let name = tagged(&f["Properties"]["FunctionName"]);
        if !matches!(name, Some((tag, v)) if tag == "!Ref" && v.as_str() == Some("AWS::StackName"))
        {
            problems.push(format!(
                "template.yaml:{} the function's FunctionName must be `!Ref AWS::StackName`: its \
                 secrets' statement names it so (naming the function itself in its own role's \
                 policy would be a circular reference)",
                line_of(text, 0, "FunctionName:")
            ));
        }
    }
    for key in project.keys() {
        let users: Vec<&str> = secrets
            .iter()
            .filter(|s| std::ptr::eq(s.key, *key))
            .map(|s| s.name)
            .collect();
        if users.is_empty() {
            continue;
        }
        let sid = secrets_statement(key);
        let Some(st) = statements
            .iter()
            .find(|st| st["Sid"].as_str() == Some(sid.as_str()))
        else {
            problems.push(format!(
                "template.yaml has no statement {sid}, which lets the function decrypt its \
                 secrets ({}) with the {} key: run `make template`",
                users.join(", "),
                key.name
            ));
            continue;
        };
        let line = line_of(text, 0, &format!("Sid: {sid}"));
        let actions: Vec<&str> = list(&st["Action"])
            .into_iter()
            .filter_map(Yaml::as_str)
            .collect();
        let on: Vec<Option<&str>> = list(&st["Resource"]).into_iter().map(get_att_arn).collect();
        let context = &st["Condition"]["StringEquals"]["kms:EncryptionContext:LambdaFunctionName"];
        let own_name = matches!(tagged(context), Some((tag, v)) if tag == "!Ref" && v.as_str() == Some("AWS::StackName"));
        let conditions = st["Condition"].as_mapping().map_or(0, |m| m.len());
        if actions != ["kms:Decrypt"]
            || on != [Some(resource(key).as_str())]
            || !own_name
            || conditions != 1
        {
            problems.push(format!(
                "template.yaml:{line} statement {sid} must grant kms:Decrypt on {} only, with the \
                 one condition StringEquals kms:EncryptionContext:LambdaFunctionName: !Ref \
                 AWS::StackName: run `make template`",
                resource(key)
            ));
        }
    }
}

/// The regions `make template` writes, against the tables.
fn keys_and_role(project: &Project) {
    let (keys, operations) = (project.keys(), project.function.operations());
    let text = text(project);
    let written = render(&text, &project.function).unwrap_or_else(|e| panic!("{e}"));
    // Named differences first: what a person must change, and where.
    let t = parse(&text);
    let mut problems = Vec::new();
    let kinds: BTreeMap<String, &Key> = keys.iter().map(|k| (resource(k), *k)).collect();
    for row in project.rows() {
        if !keys.iter().any(|k| std::ptr::eq(*k, row.key())) {
            problems.push(format!(
                "{} uses the {} key, which is no row of keys! in src/ops/mod.rs: add its row \
                 (name, variable, spec, usage), then run `make template`",
                row.name(),
                row.key().name
            ));
        }
    }
    secret_grants(project, &t, &text, &mut problems);
    let granted = grants(&t, &text);
    let needed = actions_by_key(keys, operations);
    for ((on, action), line) in &granted {
        match kinds.get(on) {
            Some(key) if needed[key.name].contains(action.as_str()) => {}
            Some(key) => {
                let users: Vec<String> = project
                    .rows()
                    .filter(|r| r.iam_actions().contains(&action.as_str()))
                    .map(|r| format!("{} (the {} key)", r.name(), r.key().name))
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
    for key in keys {
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

fn least_privilege(project: &Project) {
    let t = parse(&text(project));
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
    for widget in dashboard_body(t)["widgets"].as_array().unwrap() {
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
fn dashboard_body(t: &Yaml) -> Value {
    let (_, dashboard) = of_type(t, "AWS::CloudWatch::Dashboard")
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

/// Every metric the alarms and the dashboard read is one the function emits: each sample
/// event's invocation, the first of which builds the client, emits every metric it has.
async fn metrics_are_emitted(project: &Project) {
    let read = metrics_the_template_reads(&parse(&text(project)));
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
    let h = Harness::start(project, &[]).await;
    let mut invocations = 0;
    run_sample_events(project, &h.emulator, &h.aliases(), |_, _, _| {
        invocations += 1
    })
    .await;
    let emitted: BTreeSet<String> = h
        .function
        .emf_wait(invocations)
        .await
        .iter()
        .flat_map(|line| {
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|def| def["Name"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<_> = read.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "the template reads metrics the function never emits: {missing:?} (emitted: {emitted:?})"
    );
}

/// The dashboard body is valid JSON, with a Logs Insights widget counting errors by type.
fn dashboard(project: &Project) {
    let body = dashboard_body(&parse(&text(project)));
    let widgets = body["widgets"].as_array().unwrap();
    assert!(widgets.len() >= 6);
    let log = widgets
        .iter()
        .find(|w| w["type"] == "log")
        .expect("a Logs Insights widget");
    let query = log["properties"]["query"].as_str().unwrap();
    assert!(query.contains("by ErrorType"), "{query}");
}

/// `template.managed-instances.yaml` (`kit/tools/managed_instances.py` merges it into
/// `template.yaml`, translates and lints it), when the project has it: the function must start
/// with the memory and concurrency it sets.
fn managed_instances_overlay(project: &Project) {
    let Ok(text) = std::fs::read_to_string(project.path("template.managed-instances.yaml")) else {
        return;
    };
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
    let keys = project.keys();
    let secrets = project.function.secrets_table();
    let ciphertext = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [1u8; 64]);
    let config = crate::config::Config::from_lookup(keys, secrets, |name| match name {
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some(memory.clone()),
        "AWS_LAMBDA_MAX_CONCURRENCY" => Some(concurrency.clone()),
        "AWS_LAMBDA_FUNCTION_NAME" => Some("managed".to_string()),
        _ if secrets.iter().any(|s| s.variable == name) => Some(ciphertext.clone()),
        _ => keys
            .iter()
            .any(|k| k.variable == name)
            .then(|| "alias/managed".to_string()),
    })
    .unwrap_or_else(|e| panic!("the overlay's function would not start: {e}"));
    assert!(config.memory.budget_kib.is_some());
    assert_eq!(config.concurrency.to_string(), concurrency);
}

/// What `cargo lambda deploy` may set ([package.metadata.lambda.deploy]); anything else — a role,
/// environment variables, a runtime, layers — would replace what the stack set.
const DEPLOY_SETTINGS: [&str; 5] = ["memory", "timeout", "tracing", "tags", "tag"];

/// `cargo lambda deploy`'s settings against `template.yaml`: `make deploy-code` must leave the
/// function as `make deploy` made it.
fn cargo_lambda_deploy_settings(project: &Project) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(project.path("Cargo.toml"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let manifest = project.path("Cargo.toml");
    let package = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["manifest_path"].as_str().map(std::path::Path::new) == Some(&manifest))
        .expect("the function's package");
    let Some(settings) = package["metadata"]["lambda"]["deploy"].as_object() else {
        return;
    };
    let unknown: Vec<&String> = settings
        .keys()
        .filter(|k| !DEPLOY_SETTINGS.contains(&k.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "Cargo.toml's [package.metadata.lambda.deploy] sets {unknown:?}: cargo lambda deploy would \
         replace the stack's role, environment or runtime with them; only {DEPLOY_SETTINGS:?} \
         belong there"
    );
    let t = parse(&text(project));
    let (_, function) = of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .next()
        .expect("template.yaml has a function");
    let props = &function["Properties"];
    // A property's value, or the default of the parameter it names (`!Ref Name`).
    let value = |v: &Yaml| -> Yaml {
        match tagged(v) {
            Some((tag, name)) if tag == "!Ref" => {
                t["Parameters"][name.as_str().unwrap_or_default()]["Default"].clone()
            }
            _ => v.clone(),
        }
    };
    let number = |v: Yaml| match v {
        Yaml::Number(n) => n.as_u64(),
        Yaml::String(s) => s.parse().ok(),
        _ => None,
    };
    let tracing = match value(&props["Tracing"]).as_str() {
        Some("Active") => "active",
        _ => "passthrough", // Disabled or PassThrough: Lambda's PassThrough
    };
    for (setting, template) in [
        (
            "memory",
            number(value(&props["MemorySize"])).map(|n| n.to_string()),
        ),
        (
            "timeout",
            number(value(&props["Timeout"])).map(|n| n.to_string()),
        ),
        ("tracing", Some(tracing.to_string())),
    ] {
        let template =
            template.unwrap_or_else(|| panic!("template.yaml's function has no {setting}"));
        let cargo = match &settings.get(setting) {
            Some(Value::String(s)) => s.to_lowercase(),
            Some(other) => other.to_string(),
            None => panic!(
                "Cargo.toml's [package.metadata.lambda.deploy] has no {setting}: cargo lambda \
                 deploy would leave what the last deploy set, not {template} as template.yaml says"
            ),
        };
        assert_eq!(
            cargo, template,
            "Cargo.toml's [package.metadata.lambda.deploy] {setting} is {cargo}, template.yaml's \
             function has {template}: make deploy-code would change what make deploy set"
        );
    }
}
