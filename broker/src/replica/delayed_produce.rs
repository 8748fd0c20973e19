//! The delayed-produce purgatory (Kafka's `DelayedProduce`): an acks=all produce is
//! answered once the high watermark of every partition it wrote has passed its batch.
//!
//! One waiter per written partition of a waiting request, parked on the partition's change
//! signal (high watermark, ISR, leadership), never polling. Bounded: a waiter ends at the
//! request's `timeout_ms` (REQUEST_TIMED_OUT; capped at [`MAX_TIMEOUT_MS`]), and at most
//! one produce request per connection waits (requests on a connection are processed one at
//! a time), so waiters are bounded by `max.connections` times the partitions of a request.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Partition;
use crate::error::{ApiError, ResponseError};

/// Upper bound of one wait, whatever the request's `timeout_ms` says.
pub(crate) const MAX_TIMEOUT_MS: i32 = 5 * 60 * 1000;

/// What one written partition waits for.
pub(crate) struct PendingAck {
    pub partition: Arc<Partition>,
    /// The offset after the batch: the high watermark must reach it.
    pub required_offset: i64,
    /// The leader epoch the batch was appended in.
    pub leader_epoch: i32,
}

/// The deadline of a wait of `timeout_ms` (negative = none, 0 = answer at once).
pub(crate) fn deadline_after(timeout_ms: i32) -> Instant {
    Instant::now() + Duration::from_millis(timeout_ms.clamp(0, MAX_TIMEOUT_MS) as u64)
}

/// Waits until the partition's high watermark reaches `required_offset` (Kafka's
/// `checkEnoughReplicasReachOffset`): then the ISR must still hold `min.insync.replicas`
/// replicas, else NOT_ENOUGH_REPLICAS_AFTER_APPEND (the batch is committed but was not
/// written to enough replicas). Leadership lost or a new leader epoch meanwhile is
/// NOT_LEADER_OR_FOLLOWER (the batch may be truncated; an idempotent retry is answered with
/// its offsets if it survived); past `deadline`, REQUEST_TIMED_OUT.
pub(crate) async fn wait_for_acks(pending: &PendingAck, deadline: Instant) -> Result<(), ApiError> {
    let p = &pending.partition;
    let mut changes = p.subscribe_changes();
    // Bounded by the deadline: every round either answers or waits for a change or it.
    loop {
        changes.borrow_and_update();
        if !p.is_leader() || p.leader_epoch() != pending.leader_epoch {
            return Err(ApiError::new(
                ResponseError::NotLeaderOrFollower,
                format!(
                    "leadership of {} moved while waiting for the ISR to acknowledge",
                    p.tp
                ),
            ));
        }
        if p.high_watermark() >= pending.required_offset {
            let (isr, min_isr) = (p.isr_len(), p.min_insync_replicas());
            if isr < min_isr {
                return Err(ApiError::new(
                    ResponseError::NotEnoughReplicasAfterAppend,
                    format!(
                        "the ISR of {} shrank to {isr} replicas, below min.insync.replicas {min_isr}, while the write was replicated",
                        p.tp
                    ),
                ));
            }
            return Ok(());
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() {
                return Err(ResponseError::NotLeaderOrFollower.into());
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(ApiError::new(
                    ResponseError::RequestTimedOut,
                    format!(
                        "the ISR of {} did not acknowledge offset {} in time (high watermark {})",
                        p.tp,
                        pending.required_offset - 1,
                        p.high_watermark()
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::test_support::{self, registration};
    use crate::types::now_ms;

    /// Partition t-0 led by node 1 (replicas 1, 2, 3; ISR as given; min.insync 2).
    fn led_partition(dir: &std::path::Path, isr: &[i32]) -> Arc<Partition> {
        test_support::led_partition(dir, isr, 2)
    }

    /// Appends 3 records as leader; returns what an acks=all produce waits for.
    fn append(p: &Arc<Partition>) -> PendingAck {
        let required_offset = test_support::append_as_leader(p, 3);
        p.maybe_increment_high_watermark();
        PendingAck {
            partition: Arc::clone(p),
            required_offset,
            leader_epoch: p.leader_epoch(),
        }
    }

    fn code(r: Result<(), ApiError>) -> Option<ResponseError> {
        r.err().map(|e| e.code)
    }

    #[tokio::test]
    async fn acks_all_completes_once_every_in_sync_follower_fetched_past_the_batch() {
        let dir = tempfile::tempdir().expect("dir");
        let p = led_partition(dir.path(), &[1, 2, 3]);
        let ack = append(&p);
        assert_eq!(
            p.high_watermark(),
            0,
            "no follower has fetched: nothing is committed"
        );
        let waiter = tokio::spawn(async move {
            let deadline = deadline_after(60_000);
            wait_for_acks(&ack, deadline).await
        });
        p.update_follower_fetch(2, 7, 3, 0, 3, now_ms())
            .expect("fetch of 2");
        assert_eq!(
            p.high_watermark(),
            0,
            "follower 3 is in the ISR and has not fetched"
        );
        // A broker outside the replica set changes nothing.
        let refused = p.update_follower_fetch(4, 7, 3, 0, 3, now_ms());
        assert_eq!(code(refused), Some(ResponseError::NotLeaderOrFollower));
        p.update_follower_fetch(3, 7, 3, 0, 3, now_ms())
            .expect("fetch of 3");
        assert_eq!(
            p.high_watermark(),
            3,
            "the high watermark is the smallest ISR log end"
        );
        assert_eq!(
            code(waiter.await.expect("join")),
            None,
            "acks=all completes"
        );
    }

    #[tokio::test]
    async fn acks_all_times_out_fails_after_an_isr_shrink_and_when_leadership_moves() {
        let dir = tempfile::tempdir().expect("dir");
        let p = led_partition(dir.path(), &[1, 2, 3]);
        let ack = append(&p);
        let expired = wait_for_acks(&ack, deadline_after(20)).await;
        assert_eq!(code(expired), Some(ResponseError::RequestTimedOut));

        // The ISR shrinks to the leader alone while the produce waits: below
        // min.insync.replicas the high watermark stays (Kafka 4.x, KIP-966), so the batch
        // is never committed and the wait ends at its deadline.
        let waiting = PendingAck {
            partition: Arc::clone(&p),
            required_offset: ack.required_offset,
            leader_epoch: ack.leader_epoch,
        };
        let waiter = tokio::spawn(async move { wait_for_acks(&waiting, deadline_after(50)).await });
        tokio::task::yield_now().await;
        p.apply_registration(&registration(1, 0, 1, &[1]), now_ms());
        assert_eq!(
            p.high_watermark(),
            0,
            "an ISR below min.insync.replicas does not advance the high watermark"
        );
        assert_eq!(
            code(waiter.await.expect("join")),
            Some(ResponseError::RequestTimedOut)
        );

        // Once the ISR is back at min.insync.replicas, a batch the high watermark passes
        // while the ISR shrinks again completes with NOT_ENOUGH_REPLICAS_AFTER_APPEND.
        p.apply_registration(&registration(1, 0, 2, &[1, 2]), now_ms());
        let waiting = PendingAck {
            partition: Arc::clone(&p),
            required_offset: ack.required_offset,
            leader_epoch: ack.leader_epoch,
        };
        p.update_follower_fetch(2, 7, 3, 0, 3, now_ms())
            .expect("fetch of 2");
        assert_eq!(p.high_watermark(), 3, "the ISR {{1, 2}} has the batch");
        p.apply_registration(&registration(1, 0, 3, &[1]), now_ms());
        assert_eq!(
            code(wait_for_acks(&waiting, deadline_after(60_000)).await),
            Some(ResponseError::NotEnoughReplicasAfterAppend)
        );

        // Another broker leads now: the wait ends with NOT_LEADER_OR_FOLLOWER.
        let ack = append(&p);
        let waiter = tokio::spawn(async move { wait_for_acks(&ack, deadline_after(60_000)).await });
        p.apply_registration(&registration(1, 0, 4, &[1, 2]), now_ms());
        p.apply_registration(&registration(2, 1, 5, &[1, 2]), now_ms());
        assert_eq!(
            code(waiter.await.expect("join")),
            Some(ResponseError::NotLeaderOrFollower)
        );
    }

    #[test]
    fn followers_leave_the_isr_after_the_lag_time_and_rejoin_once_caught_up() {
        let dir = tempfile::tempdir().expect("dir");
        let p = led_partition(dir.path(), &[1, 2, 3]);
        append(&p);
        let start = now_ms();
        assert_eq!(
            p.shrunk_isr(start, 30_000),
            None,
            "in sync at the start of the epoch"
        );
        p.update_follower_fetch(2, 7, 3, 0, 3, start + 1_000)
            .expect("2 caught up");
        assert_eq!(
            p.shrunk_isr(start + 31_000, 30_000),
            Some(vec![1, 2]),
            "3 has not caught up for longer than replica.lag.time.max.ms"
        );
        p.apply_registration(&registration(1, 0, 1, &[1, 2]), now_ms());
        assert_eq!(
            p.expanded_isr(start + 31_000, 30_000, |_, _| true),
            None,
            "3 is still behind"
        );
        p.update_follower_fetch(3, 7, 3, 0, 3, start + 32_000)
            .expect("3 caught up");
        assert_eq!(
            p.expanded_isr(start + 32_000, 30_000, |_, epoch| epoch != 7),
            None,
            "3 fetched with a broker epoch its registration does not have"
        );
        let isr = p.expanded_isr(start + 32_000, 30_000, |_, epoch| epoch == 7);
        assert_eq!(isr, Some(vec![1, 2, 3]));
        assert_eq!(
            p.follower_broker_epochs(&[1, 2, 3]),
            [(2, 7), (3, 7)].into_iter().collect(),
            "the epochs the followers fetched with go to the controller"
        );
        assert_eq!(p.begin_isr_change(&[1, 2, 3]), Some((0, 1)));
        assert_eq!(
            p.begin_isr_change(&[1, 2, 3]),
            None,
            "one change in flight at a time"
        );
        p.end_isr_change(1);
        assert!(p.begin_isr_change(&[1, 2, 3]).is_some());
    }
}
