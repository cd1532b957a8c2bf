//! What a function project's own tasks run (the `tools` feature; its `xtask`): the parts of
//! `template.yaml` that follow from the two tables ([`template`]), their consistency
//! ([`tables`]), and local keys of each kind for `make invoke` ([`local_keys`]).

pub mod local_keys;
pub mod tables;
pub mod template;
