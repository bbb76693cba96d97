//! The time, in one place: Unix seconds, as tokens, links and records use it.

/// Unix seconds now (0 before 1970, which no clock here reports).
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A monotonic clock that tests can move by hand. What waits in minutes
/// (the CRM circuit breaker's cool-down, an OAuth token's lifetime) reads
/// it, so a test need not sleep through them; request timeouts do not.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> std::time::Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// A clock that moves only when told to (for tests).
#[derive(Debug)]
pub struct ManualClock {
    start: std::time::Instant,
    offset: std::sync::Mutex<std::time::Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self { start: std::time::Instant::now(), offset: std::sync::Mutex::new(std::time::Duration::ZERO) }
    }
}

impl ManualClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        *self.offset.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> std::time::Instant {
        self.start + *self.offset.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
