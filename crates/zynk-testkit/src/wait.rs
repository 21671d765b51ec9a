//! Bounded polling: tests wait for background work (batches, blocks, publications) by asking
//! again until the answer comes or a generous deadline passes, never by timing assertions.

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `check` every 100 ms until it gives `Some`, for at most `limit`; panics naming `what`
/// when the time is up.
pub async fn eventually_within<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`eventually_within`] 30 seconds.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, Duration::from_secs(30), check).await
}
