//! The INIT story, which the kit tells (`kms_lambda_kit::Function::run`): logging, the tables
//! checked and the configuration read from the environment — a typo stops start-up with one
//! line naming the variable —, the SDK prepared without signing or sending anything, then the
//! runtime loop. The KMS client is built by the first invocation, never here, so nothing signed
//! can sit in a frozen or snapshotted sandbox.

fn main() -> std::process::ExitCode {
    function::ops::FUNCTION.run()
}
