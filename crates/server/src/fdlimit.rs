//! The open-file limit, which bounds how many connections a node can hold. Many systems start
//! processes with a soft limit of 1,024 under a much higher hard one; a server raises its own
//! soft limit to the hard one, then keeps its connections below it with room for the store and
//! outgoing deliveries, so that running out of descriptors never stops it accepting the probe
//! of a load balancer or opening its database.

/// Descriptors kept for everything but incoming connections, at the least: the store's files
/// and pool, the runtime, logs, the listener, handshakes.
const RESERVE_BASE: u64 = 64;

/// The soft limit assumed where it cannot be read.
#[cfg(not(unix))]
const ASSUMED_SOFT_LIMIT: u64 = 1024;

/// Raises the soft open-file limit to the hard one where the system allows; returns the soft
/// limit before and after. Never fails: a limit that cannot be raised is kept.
pub fn raise_nofile() -> (u64, u64) {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let before = getrlimit(Resource::Nofile);
        let soft = before.current.unwrap_or(u64::MAX);
        // An unlimited hard limit (macOS reports one) cannot be the soft value; Linux's
        // default `nr_open` is a ceiling every system accepts.
        let target = before.maximum.unwrap_or(1 << 20);
        if target > soft
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(target),
                    maximum: before.maximum,
                },
            )
            .is_ok()
        {
            return (soft, target);
        }
        (soft, soft)
    }
    #[cfg(not(unix))]
    {
        (ASSUMED_SOFT_LIMIT, ASSUMED_SOFT_LIMIT)
    }
}

/// The soft open-file limit now in force.
pub fn soft_nofile() -> u64 {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX)
    }
    #[cfg(not(unix))]
    {
        ASSUMED_SOFT_LIMIT
    }
}

/// How many incoming connections to hold at most under a soft limit of `soft` descriptors when
/// up to `outgoing` deliveries may be in flight: the limit less a reserve for the store and the
/// outgoing connections, the reserve being at most half the limit so that a small limit still
/// leaves room to serve.
pub fn default_max_connections(soft: u64, outgoing: usize) -> usize {
    let reserve = (RESERVE_BASE + outgoing as u64).min(soft / 2);
    let max = soft.saturating_sub(reserve).max(1);
    usize::try_from(max.min(u64::from(u32::MAX))).unwrap_or(u32::MAX as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_room_for_the_store_and_deliveries() {
        assert_eq!(default_max_connections(1 << 20, 512), (1 << 20) - 576);
        assert_eq!(default_max_connections(1024, 512), 512);
        assert_eq!(default_max_connections(4096, 512), 4096 - 576);
        assert_eq!(default_max_connections(256, 512), 128);
        assert_eq!(default_max_connections(256, 8), 256 - 72);
        assert_eq!(default_max_connections(1, 8), 1);
        assert_eq!(default_max_connections(u64::MAX, 512), u32::MAX as usize);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let (before, after) = raise_nofile();
        assert!(after >= before);
        assert_eq!(soft_nofile(), after);
    }
}
