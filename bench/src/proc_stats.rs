//! Broker resource use read from Linux `/proc/<pid>/{stat,status,fd}`.

use crate::error::BenchError;

/// `/proc/<pid>/stat` reports CPU times in USER_HZ ticks, which Linux fixes at 100 per
/// second for the userspace ABI on every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) consumed by a process so far.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64, BenchError> {
    let text = read_proc(pid, "stat")?;
    parse_stat_cpu_seconds(&text).map_err(|reason| BenchError::Proc {
        pid,
        file: "stat",
        reason,
    })
}

/// A `kB` field of `/proc/<pid>/status` (e.g. `VmHWM`, `VmRSS`), in bytes.
pub(crate) fn status_bytes(pid: u32, field: &'static str) -> Result<u64, BenchError> {
    let text = read_proc(pid, "status")?;
    parse_status_kib(&text, field)
        .map(|kib| kib * 1024)
        .map_err(|reason| BenchError::Proc {
            pid,
            file: "status",
            reason,
        })
}

/// File descriptors the process has open (entries of `/proc/<pid>/fd`).
pub(crate) fn open_fds(pid: u32) -> Result<u64, BenchError> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| BenchError::Proc {
        pid,
        file: "fd",
        reason: e.to_string(),
    })?;
    Ok(entries.count() as u64)
}

fn read_proc(pid: u32, file: &'static str) -> Result<String, BenchError> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|e| BenchError::Proc {
        pid,
        file,
        reason: e.to_string(),
    })
}

/// utime (field 14) + stime (field 15). The command name (field 2) may contain spaces and
/// parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_stat_cpu_seconds(stat: &str) -> Result<f64, String> {
    let (_, after_comm) = stat
        .rsplit_once(')')
        .ok_or_else(|| "no ')' closing the command name".to_string())?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After ')' the first field is field 3 (state), so field N is at index N - 3.
    let tick_field = |n: usize| -> Result<u64, String> {
        let raw = fields
            .get(n - 3)
            .ok_or_else(|| format!("field {n} missing"))?;
        raw.parse::<u64>()
            .map_err(|_| format!("field {n} is not a tick count: {raw:?}"))
    };
    let ticks = tick_field(14)? + tick_field(15)?;
    Ok(ticks as f64 / USER_HZ)
}

/// Finds `Field:   1234 kB` and returns 1234.
pub(crate) fn parse_status_kib(status: &str, field: &str) -> Result<u64, String> {
    for line in status.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name != field {
            continue;
        }
        let number = value
            .trim()
            .strip_suffix("kB")
            .ok_or_else(|| format!("{field} is not in kB: {value:?}"))?
            .trim();
        return number
            .parse()
            .map_err(|_| format!("{field} is not a number: {number:?}"));
    }
    Err(format!("{field} not present"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_counts_fields_after_the_command_name() {
        // Command name with a space and a ')' inside, as the kernel allows.
        let stat = "4242 (iron log) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 8 0 100 1000 200";
        let seconds = parse_stat_cpu_seconds(stat).unwrap();
        assert!(
            (seconds - 3.0).abs() < 1e-9,
            "utime 250 + stime 50 ticks should be 3.0 s, got {seconds}"
        );
    }

    #[test]
    fn stat_cpu_rejects_truncated_input() {
        assert!(parse_stat_cpu_seconds("1 (x) S 1 2").is_err());
        assert!(parse_stat_cpu_seconds("garbage").is_err());
    }

    #[test]
    fn status_fields_in_kib() {
        let status = "Name:\tironlog\nVmPeak:\t  300000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\nThreads:\t9\n";
        assert_eq!(parse_status_kib(status, "VmHWM").unwrap(), 81_234);
        assert_eq!(parse_status_kib(status, "VmRSS").unwrap(), 70_000);
        assert!(
            parse_status_kib(status, "VmSwap").is_err(),
            "absent field is an error"
        );
        assert!(
            parse_status_kib(status, "Threads").is_err(),
            "a field without kB is an error"
        );
    }

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        // Other tests run in this process meanwhile: only "at least the file we hold".
        let held = std::fs::File::open("/proc/self/status").unwrap();
        assert!(
            open_fds(pid).unwrap() >= 1,
            "a process holding a file has at least one descriptor"
        );
        drop(held);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(
            status_bytes(pid, "VmHWM").unwrap() > 0,
            "the test process itself must have a non-zero peak RSS"
        );
    }
}
