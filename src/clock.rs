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

/// `fut`, given up after `limit` (`None`): [`tokio::time::timeout`], but a
/// future ready at its first poll (a cache hit, a body already read)
/// finishes without a timer, which costs a registration and a removal in
/// the runtime's timer wheel. The limit counts from the call.
pub async fn within<F: std::future::Future>(limit: std::time::Duration, fut: F) -> Option<F::Output> {
    let started = tokio::time::Instant::now();
    let mut fut = std::pin::pin!(fut);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => tokio::time::timeout_at(started + limit, fut).await.ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn within_answers_a_ready_future_and_gives_up_a_slow_one_at_its_limit() {
        assert_eq!(within(Duration::from_millis(50), async { 7 }).await, Some(7));
        let started = tokio::time::Instant::now();
        let slow = within(Duration::from_millis(50), tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(slow, None);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50) && waited < Duration::from_secs(2), "{waited:?}");
        // Pending at first, ready within the limit.
        let later = within(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            8
        });
        assert_eq!(later.await, Some(8));
    }
}
