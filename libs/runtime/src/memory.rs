//! The process's memory pages.

/// Turns transparent huge pages off for this process, on Linux (elsewhere it does nothing).
///
/// mimalloc asks for huge pages (2 MiB) for its arenas where the kernel gives them on request.
/// A huge page is resident, and zeroed, as a whole at its first touch, and mimalloc hands
/// memory back in smaller parts than that, so a process that churns through buffers, as sled's
/// reads and writes do, keeps more memory resident and zeroes more of it again. Measured on the
/// `scale` benchmark (docs/performance.md, "Huge pages"), small pages held less memory at the
/// same speed.
pub fn without_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_thp_disable(true).map_err(std::io::Error::from)?;
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_kernel_reports_huge_pages_off_for_the_process() {
        super::without_huge_pages().expect("turns them off");
        let status = std::fs::read_to_string("/proc/self/status").expect("reads the process's status");
        let enabled = status.lines().find_map(|line| line.strip_prefix("THP_enabled:")).map(str::trim);
        assert_eq!(enabled, Some("0"), "/proc/self/status:\n{status}");
    }
}
