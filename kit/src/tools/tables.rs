//! The two tables, checked against each other before anything is written from them.

use crate::key::Key;
use crate::operation::Entry;

/// What is wrong with the tables, one line each naming the row and the fix; empty when they are
/// consistent: unique operation names made of letters and digits, IAM actions that are KMS
/// action names, every operation's kind of key a row of `keys!`, unique key names and
/// variables, each kind's purpose stated.
pub fn problems(keys: &[&'static Key], operations: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for row in operations.iter().filter(|r| !r.test_only) {
        if !names.insert(row.name) {
            problems.push(format!("two rows of operations! are named {:?}", row.name));
        }
        let mut chars = row.name.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric());
        if !well_formed {
            problems.push(format!(
                "operation {:?}: a NAME is letters and digits, starting with a letter \
                 (`describeKey`)",
                row.name
            ));
        }
        for a in row.iam_actions {
            let ok = a.strip_prefix("kms:").is_some_and(|action| {
                !action.is_empty()
                    && action.chars().all(|c| c.is_ascii_alphanumeric())
                    && action != "ReEncrypt"
            });
            if !ok {
                problems.push(format!(
                    "{}: {a} is not an IAM action name of KMS (`kms:Encrypt`; ReEncrypt is \
                     kms:ReEncryptFrom and kms:ReEncryptTo)",
                    row.name
                ));
            }
        }
        if !keys.iter().any(|k| std::ptr::eq(*k, row.key)) {
            problems.push(format!(
                "{} uses the {} key, which is no row of keys! in src/ops/mod.rs: add its row \
                 (name, variable, spec, usage)",
                row.name, row.key.name
            ));
        }
    }
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[..i] {
            if a.pascal() == b.pascal() || a.variable == b.variable {
                problems.push(format!(
                    "keys {} and {} share a name or a variable ({})",
                    b.name, a.name, a.variable
                ));
            }
        }
        if a.purpose.trim().is_empty() {
            problems.push(format!(
                "key {} has no doc comment saying what it is for",
                a.name
            ));
        }
    }
    problems
}
