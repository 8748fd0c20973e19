//! The `request_percentage` quota (Kafka's `ClientRequestQuotaManager`): the share of a
//! request handler's time a client may use, in percent of one thread (`200` = two threads'
//! worth). Kafka counts the time its request handler threads spend on a client's requests;
//! here a request's handler runs as a future, so its handler time is the time spent inside
//! its polls ([`handler_time`]) — what the handler used a thread for, not the time it waited
//! (a Fetch parked until data arrives, a Produce until its replicas acknowledged). Each
//! request's time is recorded as percent-seconds, so the sensor's rate is a percentage.

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `future` to its end; with the time spent polling it.
pub(crate) async fn handler_time<F: Future>(future: F) -> (F::Output, Duration) {
    let mut future = std::pin::pin!(future);
    let mut busy = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let started = Instant::now();
        let poll = future.as_mut().poll(cx);
        busy += started.elapsed();
        poll
    })
    .await;
    (output, busy)
}

/// Kafka's `nanosToPercentage`: handler time as percent-seconds of one thread.
pub(crate) fn percentage_seconds(busy: Duration) -> f64 {
    busy.as_secs_f64() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_is_not_handler_time() {
        let (value, busy) = handler_time(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            7
        })
        .await;
        assert_eq!(value, 7);
        assert!(
            busy < Duration::from_millis(100),
            "a future that mostly waited counted {busy:?} of handler time"
        );
        let (_, busy) = handler_time(async { std::thread::sleep(Duration::from_millis(20)) }).await;
        assert!(
            busy >= Duration::from_millis(20),
            "busy time not counted: {busy:?}"
        );
        assert_eq!(percentage_seconds(Duration::from_millis(500)), 50.0);
    }
}
