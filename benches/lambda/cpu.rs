//! Lambda's CPU share, emulated with a cgroup (v1) CPU quota.
//!
//! Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU. A
//! [`CpuShare`] for `memory_mb` is a cgroup with period 20 ms and quota 20 ms × MB / 1,769,
//! so a 128 MB function gets about 1.45 ms of CPU every 20 ms. A process joins it either from
//! exec ([`CpuShare::procs_file`] with `Function::spawn_command_in`) or later, e.g. once INIT is
//! done ([`CpuShare::add`]), as practitioners report Lambda does.

#![allow(dead_code)]

use std::path::PathBuf;

const ROOT: &str = "/sys/fs/cgroup/cpu";
const PERIOD_US: u64 = 20_000;

/// A CPU quota cgroup, removed when dropped (after its processes have gone).
pub struct CpuShare {
    dir: PathBuf,
    /// The memory size it stands for.
    pub memory_mb: u64,
}

impl CpuShare {
    /// A new cgroup with the share of a `memory_mb` function; why not, when cgroups cannot be
    /// written here (not root, no cgroup v1 cpu controller).
    pub fn new(memory_mb: u64) -> Result<Self, String> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from(ROOT).join(format!(
            "kms-lambda-bench-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let quota = PERIOD_US * memory_mb / 1769;
        std::fs::create_dir(&dir)
            .and_then(|_| std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string()))
            .and_then(|_| std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string()))
            .map_err(|e| format!("cannot write a CPU quota under {ROOT}: {e}"))?;
        Ok(CpuShare { dir, memory_mb })
    }

    /// The `cgroup.procs` file: a process writing `0` to it joins the group.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// Moves process `pid` (all its threads) into the group.
    pub fn add(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.procs_file(), pid.to_string())
    }

    /// CPU time used by the group's processes so far (`cpuacct` is a separate controller in
    /// v1, so this reads the quota controller's own throttling statistics instead).
    pub fn throttled_periods(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("cpu.stat"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("nr_throttled ")?.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for CpuShare {
    fn drop(&mut self) {
        // The processes are killed when their `Function` drops; give the kernel a moment.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
