//! The parts of `template.yaml` that follow from the tables: for each row of `keys!` a key of its
//! spec and usage with its alias, its two outputs, the variable of its default key, and a role
//! statement granting on exactly that key the IAM actions of the operations of that kind; for
//! each row of `secrets!` a `NoEcho` parameter holding its ciphertext, its variable, and for
//! each kind of key that encrypts secrets a statement granting `kms:Decrypt` on that key only
//! under the encryption context of this function's name (`LambdaFunctionName`, the function's
//! explicit name, the stack's: naming the function itself would be a circular reference).
//! Each part sits between `# make template: begin <name>` and `# make template: end <name>`
//! lines; the rest of the file is the function's own.
//!
//! `cargo xtask template` ([`write`](fn@write)) rewrites the parts; `--check` ([`check`]) only says
//! whether they are what the tables give, and where they differ, so that a rehearsal or a
//! deploy never changes what `make test` checked.

use crate::key::{Key, Secret};
use crate::operation::Entry;
use crate::Function;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The template resource of a kind of key.
pub fn resource(key: &Key) -> String {
    format!("{}Key", key.pascal())
}

/// The IAM actions each kind of key is granted: the union over its operations.
pub fn actions_by_key(
    keys: &[&'static Key],
    operations: &[Entry],
) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut by_key: BTreeMap<&str, BTreeSet<&str>> =
        keys.iter().map(|k| (k.name, BTreeSet::new())).collect();
    for row in operations {
        by_key
            .entry(row.key().name)
            .or_default()
            .extend(row.iam_actions().iter().copied());
    }
    by_key
}

/// One line of text from a row's doc comment.
fn purpose(key: &Key) -> String {
    key.purpose.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parameter that holds a secret's ciphertext.
pub fn parameter(secret: &Secret) -> String {
    format!("{}Ciphertext", secret.pascal())
}

/// The statement id of the permission to decrypt the secrets of a kind of key.
pub fn secrets_statement(key: &Key) -> String {
    format!("DecryptSecretsWith{}", resource(key))
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrapped(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("a line");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// The regions about secrets, which a template without secrets may leave out.
const SECRET_REGIONS: &[&str] = &["secret parameters", "secret variables"];

/// Each region's lines, indented relative to its markers.
fn regions(function: &Function) -> Vec<(&'static str, Vec<String>)> {
    let (table, operations) = (function.keys(), function.operations());
    let secrets = function.secrets_table();
    let actions = actions_by_key(table, operations);
    let mut keys = Vec::new();
    let mut variables = Vec::new();
    let mut statements = vec![
        "- Version: \"2012-10-17\"".to_string(),
        "  Statement:".to_string(),
    ];
    let mut outputs = Vec::new();
    for (i, key) in table.iter().enumerate() {
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
                "    Description: !Sub \"${{AWS::StackName}}, the {} key: {}\"",
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
                "        # The default statement: the account's IAM (the role's policy) governs the key.",
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
    let mut parameters = Vec::new();
    let mut secret_variables = Vec::new();
    for secret in secrets {
        parameters.extend([
            format!("{}:", parameter(secret)),
            "  Type: String".into(),
            "  NoEcho: true".into(),
            "  Default: \"\"".into(),
            "  Description: >-".into(),
        ]);
        let purpose = secret
            .purpose
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let description = format!(
            "The {} secret ({}): its KMS ciphertext in base64, encrypted with the {} key \
             under the encryption context LambdaFunctionName=<the stack's name> (aws kms \
             encrypt --key-id <the {}KeyArn output> --encryption-context \
             LambdaFunctionName=<the stack's name> --plaintext fileb://<a file> --query \
             CiphertextBlob --output text). Empty, the function refuses to start, naming {}.",
            secret.name,
            purpose.trim_end_matches('.').replace('"', "'"),
            secret.key.name,
            secret.key.pascal(),
            secret.variable
        );
        parameters.extend(
            wrapped(&description, 92)
                .into_iter()
                .map(|l| format!("    {l}")),
        );
        secret_variables.push(format!("{}: !Ref {}", secret.variable, parameter(secret)));
    }
    for key in table
        .iter()
        .filter(|k| secrets.iter().any(|s| std::ptr::eq(s.key, **k)))
    {
        let r = resource(key);
        statements.extend([
            format!("    - Sid: {}", secrets_statement(key)),
            "      Effect: Allow".into(),
            "      Action:".into(),
            "        - kms:Decrypt".into(),
            format!("      Resource: !GetAtt {r}.Arn"),
            "      Condition:".into(),
            "        StringEquals:".into(),
            "          kms:EncryptionContext:LambdaFunctionName: !Ref AWS::StackName".into(),
        ]);
    }
    vec![
        ("keys", keys),
        ("key variables", variables),
        ("least privilege", statements),
        ("key outputs", outputs),
        ("secret parameters", parameters),
        ("secret variables", secret_variables),
    ]
}

const BEGIN: &str = "# make template: begin ";
const END: &str = "# make template: end ";

/// `text` (a `template.yaml`) with each region between its markers written from the tables;
/// `Err` names a missing marker. (A template without secrets may leave their regions out.)
pub fn render(text: &str, function: &Function) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (name, body) in regions(function) {
        let Some(begin) = lines
            .iter()
            .position(|l| l.trim() == format!("{BEGIN}{name}").trim())
        else {
            if SECRET_REGIONS.contains(&name) && body.is_empty() {
                continue;
            }
            return Err(format!(
                "template.yaml has no line `{BEGIN}{name}`{}",
                if SECRET_REGIONS.contains(&name) {
                    " (nor its end): a function with secrets has them, the parameters' among the \
                     Parameters, the variables' among the function's Environment Variables"
                } else {
                    ""
                }
            ));
        };
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

/// Writes the parts of the `template.yaml` at `path` from the tables; whether anything changed.
/// `Err` says why nothing was written: inconsistent tables, a missing marker, I/O.
pub fn write(path: &Path, function: &Function) -> Result<bool, String> {
    let (text, written) = rendered(path, function)?;
    if written == text {
        return Ok(false);
    }
    std::fs::write(path, written).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}

/// Checks that the parts of the `template.yaml` at `path` are what the tables give; `Err` names
/// the first line that differs.
pub fn check(path: &Path, function: &Function) -> Result<(), String> {
    let (text, written) = rendered(path, function)?;
    match written
        .lines()
        .zip(text.lines())
        .enumerate()
        .find(|(_, (w, h))| w != h)
    {
        Some((i, (want, have))) => Err(format!(
            "{}:{} differs from what the tables give: run `make template`\n  has:    {have}\n  \
             tables: {want}",
            path.display(),
            i + 1
        )),
        None if written != text => Err(format!(
            "{}: its length differs from what the tables give: run `make template`",
            path.display()
        )),
        None => Ok(()),
    }
}

fn rendered(path: &Path, function: &Function) -> Result<(String, String), String> {
    let problems = crate::function::problems(
        function.keys(),
        function.operations(),
        function.secrets_table(),
    );
    if !problems.is_empty() {
        return Err(format!(
            "the tables in src/ops/mod.rs are inconsistent:\n  {}",
            problems.join("\n  ")
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let written = render(&text, function)?;
    Ok((text, written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::test_kinds::DATA;
    use crate::operation::{Ctx, Operation};
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};

    static MAC: Key = Key {
        name: "MAC",
        variable: "KMS_MAC_KEY_ID",
        spec: KeySpec::Hmac256,
        usage: KeyUsageType::GenerateVerifyMac,
        purpose: " Signs webhooks.",
    };
    use crate::Error;

    /// `{"operation": "sign"}` on the MAC kind of key, calling `kms:GenerateMac`.
    #[derive(serde::Deserialize)]
    struct Sign {}

    impl Operation for Sign {
        const NAME: &'static str = "sign";
        const KEY: &'static Key = &MAC;
        const IAM_ACTIONS: &'static [&'static str] = &["kms:GenerateMac"];
        type Answer = ();
        async fn run(self, _: &Ctx<'_>) -> Result<(), Error> {
            Ok(())
        }
    }

    static TABLE: &[Entry] = &[Entry::of::<Sign>("sign")];
    static DATA_ONLY: &[&Key] = &[&DATA];
    static MAC_ONLY: &[&Key] = &[&MAC];
    const ON_DATA: Function = Function::new("f", DATA_ONLY, TABLE);
    const ON_MAC: Function = Function::new("f", MAC_ONLY, TABLE);

    /// A `template.yaml` of `text` in a directory of its own, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl std::ops::Deref for Scratch {
        type Target = std::path::Path;
        fn deref(&self) -> &std::path::Path {
            &self.0
        }
    }

    fn template(dir: &str, text: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("kms-lambda-kit-{dir}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("template.yaml"), text).unwrap();
        Scratch(dir)
    }

    const REGIONS: &str =
        "Resources:\n  # make template: begin keys\n  # make template: end keys\n  \
        Fn:\n    Variables:\n      # make template: begin key variables\n      \
        # make template: end key variables\n    Policies:\n      \
        # make template: begin least privilege\n      # make template: end least privilege\n\
        Outputs:\n  # make template: begin key outputs\n  # make template: end key outputs\n";

    #[test]
    fn inconsistent_tables_write_nothing_and_say_why() {
        // `sign` uses the MAC kind, which is no row of this key table.
        let dir = template("inconsistent", REGIONS);
        let path = dir.join("template.yaml");
        let e = write(&path, &ON_DATA).unwrap_err();
        assert!(
            e.contains("sign uses the MAC key, which is no row of keys!"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            REGIONS,
            "nothing written"
        );
        assert!(check(&path, &ON_DATA).is_err());
    }

    #[test]
    fn the_regions_are_written_then_checked_and_a_missing_marker_is_named() {
        let dir = template("regions", REGIONS);
        let path = dir.join("template.yaml");
        assert!(check(&path, &ON_MAC)
            .unwrap_err()
            .contains("run `make template`"));
        assert!(write(&path, &ON_MAC).unwrap(), "written");
        check(&path, &ON_MAC).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("MacKey:\n    Type: AWS::KMS::Key"), "{text}");
        assert!(text.contains("- kms:GenerateMac\n"), "{text}");
        assert!(!write(&path, &ON_MAC).unwrap(), "nothing left to change");
        let dir = template("marker", "Resources: {}\n");
        let path = dir.join("template.yaml");
        let e = write(&path, &ON_MAC).unwrap_err();
        assert!(e.contains("no line `# make template: begin keys`"), "{e}");
    }
}
