//! The process's limit on open files: raised to its hard limit at start, and read where a
//! default depends on it.

/// Raises this process's soft limit on open files to its hard limit, as nginx
/// (`worker_rlimit_nofile`) and Go's runtime do: every viewer holds a file, and many systems
/// start processes with a soft limit of 1,024 under a far higher hard one. Returns the limit
/// before and after when it changed.
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
            || limit.rlim_cur >= limit.rlim_max
            // Linux refuses an infinite limit on files: leave it to the operator.
            || limit.rlim_max == libc::RLIM_INFINITY
        {
            return None;
        }
        let before = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return None;
        }
        Some((before, limit.rlim_max))
    }
    #[cfg(not(unix))]
    None
}

/// The soft limit on open files of this process, when it has one.
pub(super) fn open_file_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        (ok && limit.rlim_cur != libc::RLIM_INFINITY)
            .then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    None
}
