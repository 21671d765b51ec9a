//! In-order delivery of a conversation's `message` frames on one node.
//!
//! A conversation's messages reach a node from several sources: this node's message writer
//! (which fans out each committed batch in `seq` order), the group service (membership events),
//! and the relay from other nodes. Each conversation has a lane holding the next `seq` this node
//! expects; a frame with that `seq` is delivered at once (with any held frames it unblocks), a
//! frame from further ahead is held until the gap fills. A gap that stays open for
//! [`GAP_WAIT`] (a frame that never comes: a sender's node stopped between its commit and its
//! fan-out, or the relay, which is at-most-once, lost it; the wait is between one and two
//! [`GAP_WAIT`]s) is skipped: the held frames go out in
//! order and the client fetches the missing message from history, as after any gap. A frame
//! behind its lane (it arrived after its gap was skipped, or raced the lane's first frame) is
//! still delivered, so nothing is lost live; `zynk_ws_late_frames_total` counts those.
//!
//! Frames are offered to connections while the lane is locked, so two sources delivering
//! the same conversation at once cannot interleave.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use zynk_proto::ConversationId;

use super::Frame;
use super::hub::{ConnectionId, Target, Users, deliver};

/// How long frames wait for a missing earlier one before it is given up on.
pub const GAP_WAIT: Duration = Duration::from_millis(250);
/// Lanes idle this long are forgotten (swept when there are more than [`SWEEP_ABOVE`]).
const LANE_IDLE: Duration = Duration::from_secs(120);
const SWEEP_ABOVE: usize = 1024;
/// Lanes are swept at most once per this many offers.
const SWEEP_EVERY: u64 = 4096;

/// A frame waiting for an earlier one.
struct Held {
    targets: Vec<Target>,
    frame: Frame,
    except: Option<ConnectionId>,
}

/// One conversation's position on this node.
struct Lane {
    /// The `seq` to deliver next.
    next: i64,
    /// Frames from beyond a gap, by `seq`.
    held: BTreeMap<i64, Held>,
    /// When a frame last came.
    touched: Instant,
    /// Whether a gap timer runs for this lane.
    timer: bool,
}

/// The lanes of one node.
#[derive(Clone, Default)]
pub(super) struct Lanes {
    lanes: Arc<DashMap<ConversationId, Lane>>,
    offers: Arc<AtomicU64>,
}

impl Lanes {
    /// Delivers the frame of message `seq` of `conversation_id` in order (or holds it).
    pub(super) fn offer(
        &self,
        users: &Arc<Users>,
        conversation_id: ConversationId,
        seq: i64,
        targets: &[Target],
        frame: &Frame,
        except: Option<ConnectionId>,
    ) {
        if self.offers.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1
            && self.lanes.len() > SWEEP_ABOVE
        {
            self.lanes
                .retain(|_, lane| !lane.held.is_empty() || lane.touched.elapsed() < LANE_IDLE);
        }
        let mut lane = self.lanes.entry(conversation_id).or_insert_with(|| Lane {
            next: seq,
            held: BTreeMap::new(),
            touched: Instant::now(),
            timer: false,
        });
        lane.touched = Instant::now();
        if seq < lane.next {
            metrics::counter!("zynk_ws_late_frames_total").increment(1);
            deliver(users, targets, frame, except);
            return;
        }
        if seq > lane.next {
            lane.held.insert(
                seq,
                Held {
                    targets: targets.to_vec(),
                    frame: frame.clone(),
                    except,
                },
            );
            if !lane.timer {
                lane.timer = true;
                let gap = lane.next;
                drop(lane);
                self.arm(users.clone(), conversation_id, gap);
            }
            return;
        }
        deliver(users, targets, frame, except);
        lane.next = seq + 1;
        release(users, &mut lane);
    }

    /// Skips a gap of `conversation_id` that stays open for [`GAP_WAIT`].
    fn arm(&self, users: Arc<Users>, conversation_id: ConversationId, gap: i64) {
        let lanes = self.lanes.clone();
        tokio::spawn(async move {
            let mut waited_for = Some(gap);
            loop {
                tokio::time::sleep(GAP_WAIT).await;
                let Some(mut lane) = lanes.get_mut(&conversation_id) else {
                    return;
                };
                let Some(&first) = lane.held.keys().next() else {
                    lane.timer = false;
                    return;
                };
                // Skip only a gap that was already open at the previous check.
                if waited_for == Some(lane.next) {
                    metrics::counter!("zynk_ws_skipped_gaps_total").increment(1);
                    lane.next = first;
                    release(&users, &mut lane);
                    if lane.held.is_empty() {
                        lane.timer = false;
                        return;
                    }
                }
                waited_for = Some(lane.next);
            }
        });
    }

    /// Lanes on this node (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lanes.len()
    }
}

/// Delivers the held frames that follow `lane.next` without a gap.
fn release(users: &Users, lane: &mut Lane) {
    while let Some(held) = lane.held.remove(&lane.next) {
        deliver(users, &held.targets, &held.frame, held.except);
        lane.next += 1;
    }
}
