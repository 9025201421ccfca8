//! The process's memory pages.

/// Turns transparent huge pages off for this process, on Linux (elsewhere it does nothing).
///
/// mimalloc asks for huge pages (2 MiB) for its arenas where the kernel gives them on request.
/// A huge page is resident, and zeroed, as a whole at its first touch, and mimalloc hands
/// memory back in smaller parts than that, so a process that churns through buffers, as sled's
/// reads and writes do, keeps more memory resident. On the `scale` benchmark at 100,000
/// families (one pair of runs; docs/performance.md, "Huge pages") a restarted service held
/// 47–61 MB less, at about the same speed; at 1,000,000 no clear difference. Processes this
/// one starts afterwards inherit the setting.
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
