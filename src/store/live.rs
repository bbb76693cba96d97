//! The calls this instance keeps in memory ([`LiveCalls`]): every call,
//! memory only; with a database, the calls in progress, so that a step
//! need not read its call back.
//!
//! A call is kept `ttl` from its last write, and the calls written least
//! recently leave first when the budget (calls, or bytes) is spent; a new
//! call is always let in. Each of a few shards is a hash map and a queue
//! with one entry per call, oldest write first. A write to a call kept
//! leaves its entry where it is; the entry moves to the back when it
//! reaches the front, if its call was written since. A call's step costs
//! one hash lookup under an uncontended lock, and the queue is looked at
//! only when its front may be due; a general cache (moka, before) probed
//! its table twice per write, once to read and once to insert, with a key
//! comparison at every slot.

use super::record::CallRecord;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shards, each behind its own lock: a few times the workers a machine
/// runs, so that two steps rarely wait for each other.
const SHARDS: usize = 16;

/// What the calls may take, in all.
#[derive(Clone, Copy, Debug)]
pub(super) enum Budget {
    /// At most this many calls.
    Calls(u64),
    /// About this many bytes: each call weighs `per_call` plus its key and
    /// [`CallRecord::approx_bytes`].
    Bytes { total: u64, per_call: u64 },
}

impl Budget {
    fn weigh(&self, sid: &str, record: &CallRecord) -> u64 {
        match self {
            Budget::Calls(_) => 1,
            Budget::Bytes { per_call, .. } => per_call + (sid.len() + record.approx_bytes()) as u64,
        }
    }

    fn per_shard(&self) -> u64 {
        let total = match self {
            Budget::Calls(n) => *n,
            Budget::Bytes { total, .. } => *total,
        };
        total.div_ceil(SHARDS as u64).max(1)
    }
}

fn shard_of(sid: &str) -> usize {
    let tail =
        sid.as_bytes().iter().rev().take(4).fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(*b)));
    tail % SHARDS
}

pub(super) struct LiveCalls {
    shards: Box<[Mutex<Shard>]>,
    ttl: Duration,
    budget: Budget,
}

#[derive(Default)]
struct Shard {
    calls: HashMap<Arc<str>, Slot, foldhash::fast::RandomState>,
    /// One entry per call kept, in about the order of their last writes,
    /// oldest first; an entry is its call's while the call's `queued` is
    /// the entry's `write`.
    written: VecDeque<Written>,
    /// The weights of the calls held.
    weight: u64,
    /// Counts the writes, naming each.
    writes: u64,
}

struct Slot {
    /// The map's key, shared with the queue's entries.
    sid: Arc<str>,
    /// Boxed: a record is some 400 bytes, which the map would move each
    /// time it grows or rehashes.
    record: Box<CallRecord>,
    /// The call's last write.
    write: u64,
    /// Which write its entry in the queue carries: older than `write`
    /// when the call was written since the entry was queued.
    queued: u64,
    at: Instant,
    weight: u64,
}

struct Written {
    sid: Arc<str>,
    write: u64,
    at: Instant,
}

impl LiveCalls {
    pub(super) fn new(ttl: Duration, budget: Budget) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::default()).collect();
        Self { shards, ttl, budget }
    }

    /// The shard of a call: by the last bytes of its SID, random in a
    /// Twilio SID. The shards only spread the locks; each map hashes its
    /// keys with a keyed hash of its own (foldhash, seeded per process).
    fn shard(&self, sid: &str) -> MutexGuard<'_, Shard> {
        self.shards[shard_of(sid)].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.ttl
    }

    /// A copy of the call, unless it is not kept (or its time is up).
    pub(super) fn get(&self, sid: &str) -> Option<CallRecord> {
        let now = Instant::now();
        let shard = self.shard(sid);
        shard.calls.get(sid).filter(|s| self.live(s.at, now)).map(|s| CallRecord::clone(&s.record))
    }

    /// Merges `write` into the kept copy of its call ([`CallRecord::merge`]),
    /// or keeps it as the call's copy when none is kept (or its time is
    /// up), unless it is partial (a status, a queue: nothing to complete).
    /// One lookup, under the shard's lock.
    pub(super) fn write(&self, write: CallRecord) {
        let now = Instant::now();
        let mut guard = self.shard(&write.call_sid);
        let shard = &mut *guard;
        shard.writes += 1;
        let n = shard.writes;
        match shard.calls.get_mut(write.call_sid.as_str()) {
            Some(slot) if self.live(slot.at, now) => {
                // Its entry stays where it is: it moves back when it
                // reaches the front (see `evict`).
                slot.record.merge(&write);
                let weight = self.budget.weigh(&slot.sid, &slot.record);
                shard.weight = shard.weight - slot.weight + weight;
                (slot.weight, slot.write, slot.at) = (weight, n, now);
            }
            _ if write.partial => return,
            _ => {
                let sid: Arc<str> = Arc::from(write.call_sid.as_str());
                let weight = self.budget.weigh(&sid, &write);
                let slot = Slot { sid: sid.clone(), record: Box::new(write), write: n, queued: n, at: now, weight };
                if let Some(old) = shard.calls.insert(sid.clone(), slot) {
                    shard.weight -= old.weight;
                }
                shard.weight += weight;
                shard.written.push_back(Written { sid, write: n, at: now });
            }
        }
        self.evict(shard, n, now);
    }

    /// Forgets the call.
    pub(super) fn invalidate(&self, sid: &str) {
        let mut shard = self.shard(sid);
        if let Some(old) = shard.calls.remove(sid) {
            shard.weight -= old.weight;
        }
    }

    /// The SIDs of the calls kept whose record `theirs`.
    pub(super) fn sids_where(&self, theirs: impl Fn(&CallRecord) -> bool) -> Vec<String> {
        let mut found = Vec::new();
        self.each(|record| {
            if theirs(record) {
                found.push(record.call_sid.clone());
            }
        });
        found
    }

    /// Copies of every call kept.
    pub(super) fn records(&self) -> Vec<CallRecord> {
        let mut all = Vec::new();
        self.each(|record| all.push(record.clone()));
        all
    }

    /// Shows `visit` every call kept, one shard's lock at a time.
    fn each(&self, mut visit: impl FnMut(&CallRecord)) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.calls.values().filter(|s| self.live(s.at, now)).for_each(|s| visit(&s.record));
        }
    }

    /// Drops, from the front of the queue, the calls whose time is up and
    /// those over the shard's budget, never the one written by `newest`.
    /// Only an entry that may be due is looked up: one whose call was
    /// written since moves to the back with its last write, and an entry
    /// whose call is gone (or was let in again) is dropped.
    fn evict(&self, shard: &mut Shard, newest: u64, now: Instant) {
        let budget = self.budget.per_shard();
        while let Some(front) = shard.written.front() {
            if self.live(front.at, now) && shard.weight <= budget {
                break;
            }
            match shard.calls.get_mut(&front.sid) {
                Some(slot) if slot.queued == front.write => {
                    if slot.write == newest {
                        break;
                    }
                    if slot.write != front.write {
                        slot.queued = slot.write;
                        let again = Written { sid: slot.sid.clone(), write: slot.write, at: slot.at };
                        shard.written.pop_front();
                        shard.written.push_back(again);
                        continue;
                    }
                    if let Some(old) = shard.calls.remove(&front.sid) {
                        shard.weight -= old.weight;
                    }
                }
                _ => {}
            }
            shard.written.pop_front();
        }
        // Entries of calls forgotten (or let in again) are dropped only at
        // the front: past twice the calls, the queue keeps only the calls'.
        if shard.written.len() > 2 * shard.calls.len() + 64 {
            let calls = &shard.calls;
            shard.written.retain(|w| calls.get(&w.sid).is_some_and(|s| s.queued == w.write));
        }
    }

    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().unwrap().weight).sum()
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().written.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(i: usize) -> String {
        format!("CA{i:032}")
    }

    fn record(i: usize) -> CallRecord {
        CallRecord::new(&sid(i), "support", "+1********01".into(), 100)
    }

    /// Calls whose SIDs fall in one shard, so that its budget decides.
    fn one_shard(n: usize) -> Vec<usize> {
        let target = shard_of(&sid(0));
        (0..).filter(|i| shard_of(&sid(*i)) == target).take(n).collect()
    }

    #[test]
    fn the_calls_spread_over_every_shard() {
        let mut per_shard = [0usize; SHARDS];
        for i in 0..16_000 {
            per_shard[shard_of(&crate::sim::call::new_call_sid())] += 1;
            per_shard[shard_of(&sid(i))] += 1;
        }
        assert!(per_shard.iter().all(|n| (1_000..3_000).contains(n)), "{per_shard:?}");
    }

    /// A write that only names the customer, as a later step's would.
    fn identified(i: usize) -> CallRecord {
        let mut r = record(i);
        r.customer_id = Some("12345678".into());
        r.updated_at = 200;
        r
    }

    #[test]
    fn a_call_written_is_read_back_and_a_later_write_merges_into_it() {
        let calls = LiveCalls::new(Duration::from_secs(60), Budget::Calls(1_000));
        assert!(calls.get(&sid(1)).is_none());
        calls.write(record(1));
        assert_eq!(calls.get(&sid(1)).map(|r| r.call_sid), Some(sid(1)));
        calls.write(identified(1));
        assert_eq!(calls.get(&sid(1)).and_then(|r| r.customer_id), Some("12345678".into()));
        // A record written again from an older copy loses nothing newer.
        calls.write(record(1));
        assert_eq!(calls.get(&sid(1)).and_then(|r| r.customer_id), Some("12345678".into()));
        // A partial write (a status) keeps nothing for a call not kept.
        calls.write(CallRecord::queue_only(&sid(2), "agents", 100));
        assert!(calls.get(&sid(2)).is_none());
        calls.invalidate(&sid(1));
        assert!(calls.get(&sid(1)).is_none());
        assert_eq!(calls.weight(), 0);
    }

    #[test]
    fn a_call_leaves_when_its_time_since_its_last_write_is_up() {
        let calls = LiveCalls::new(Duration::from_millis(300), Budget::Calls(1_000));
        calls.write(record(1));
        calls.write(record(2));
        std::thread::sleep(Duration::from_millis(200));
        // Call 2 is written again: its time starts again.
        calls.write(record(2));
        std::thread::sleep(Duration::from_millis(200));
        assert!(calls.get(&sid(1)).is_none(), "call 1's time is up");
        assert!(calls.get(&sid(2)).is_some(), "call 2 was written 200 ms ago");
        assert_eq!(calls.sids_where(|_| true), [sid(2)]);
        assert_eq!(calls.records().len(), 1);
        // A write to a call whose time is up starts from nothing: a partial
        // one keeps nothing, a whole one is kept as it is.
        calls.write(CallRecord::queue_only(&sid(1), "agents", 100));
        assert!(calls.get(&sid(1)).is_none());
        calls.write(record(1));
        assert_eq!(calls.get(&sid(1)).map(|r| r.customer_id), Some(None));
    }

    #[test]
    fn past_its_budget_of_calls_a_shard_drops_the_least_recently_written() {
        let calls = LiveCalls::new(Duration::from_secs(3_600), Budget::Calls(4 * SHARDS as u64));
        let ours = one_shard(8);
        for &i in &ours[..4] {
            calls.write(record(i));
        }
        // The first is written again: the least recently written is now the second.
        calls.write(record(ours[0]));
        for &i in &ours[4..6] {
            calls.write(record(i));
        }
        let kept: Vec<usize> = ours.iter().copied().filter(|i| calls.get(&sid(*i)).is_some()).collect();
        assert_eq!(kept, [ours[0], ours[3], ours[4], ours[5]], "{ours:?}");
        assert_eq!(calls.weight(), 4);
    }

    #[test]
    fn the_calls_keep_within_their_bytes_and_a_new_call_is_always_let_in() {
        let per_call = 400;
        let weight = per_call + (sid(0).len() + record(0).approx_bytes()) as u64;
        let budget = Budget::Bytes { total: weight * 3 * SHARDS as u64, per_call };
        let calls = LiveCalls::new(Duration::from_secs(3_600), budget);
        let ours = one_shard(5);
        for &i in &ours {
            calls.write(record(i));
        }
        assert_eq!(calls.weight(), weight * 3);
        assert!(calls.get(&sid(ours[4])).is_some() && calls.get(&sid(ours[1])).is_none());
        // A call heavier than the whole budget is still let in, alone.
        let tiny = LiveCalls::new(Duration::from_secs(3_600), Budget::Bytes { total: 1, per_call });
        tiny.write(record(1));
        assert!(tiny.get(&sid(1)).is_some());
        tiny.write(record(1));
        assert!(tiny.get(&sid(1)).is_some(), "rewritten, still in");
    }

    #[test]
    fn the_queue_holds_one_entry_per_call_however_often_it_is_written() {
        let calls = LiveCalls::new(Duration::from_secs(3_600), Budget::Calls(1_000_000));
        calls.write(record(0));
        for round in 0..10_000 {
            calls.write(record(1 + round % 10));
        }
        assert_eq!(calls.records().len(), 11);
        assert_eq!(calls.queued(), 11);
        // Forgotten and let in again, over and over: the forgotten
        // entries are dropped, at the front or past twice the calls.
        for _ in 0..1_000 {
            calls.invalidate(&sid(3));
            calls.write(record(3));
        }
        assert_eq!(calls.records().len(), 11);
        assert!(calls.queued() <= 2 * 11 + 64 + SHARDS, "{} entries queued", calls.queued());
    }

    #[test]
    fn a_call_written_since_its_entry_was_queued_moves_back_rather_than_leave() {
        let calls = LiveCalls::new(Duration::from_millis(300), Budget::Calls(1_000));
        let ours = one_shard(3);
        calls.write(record(ours[0]));
        calls.write(record(ours[1]));
        std::thread::sleep(Duration::from_millis(200));
        calls.write(record(ours[0]));
        std::thread::sleep(Duration::from_millis(150));
        // Both entries are past their time; the first call's last write is not.
        calls.write(record(ours[2]));
        assert!(calls.get(&sid(ours[0])).is_some());
        assert!(calls.get(&sid(ours[1])).is_none());
        assert_eq!(calls.queued(), 2, "the second call's entry dropped, the first's moved back");
        assert_eq!(calls.weight(), 2);
    }
}
