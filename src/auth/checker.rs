//! Where login passwords are checked: a fixed set of dedicated threads,
//! each keeping the Argon2 memory it allocated for its first check, behind
//! a small bound. A flood of logins can then hold at most
//! `threads × 19 MiB` of hashing memory and keep at most `threads` cores
//! busy; what does not fit is refused at once ([`Busy`]), not queued.
//! (Checking on tokio's blocking pool instead let 150 concurrent logins
//! hold gigabytes: one thread, and one glibc arena, per check.)
//!
//! The same threads, under the same bound, check a keyed factor against a
//! salted slow hash a CRM stores (Argon2 or bcrypt, [`PasswordChecker::check_stored`]):
//! a flood of calls cannot out-hash a flood of logins.

use super::password;
use argon2::Block;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// Threads that check passwords.
pub const THREADS: usize = 2;
/// Checks that may wait for a thread, beyond those running.
pub const QUEUE: usize = 2;

/// Every checker is busy and the queue is full: try again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// How a stored hash is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// A PHC string (`$argon2id$…`).
    Argon2,
    /// `$2a$`/`$2b$`/`$2y$…`.
    Bcrypt,
}

struct Job {
    password: String,
    /// The user's hash; `None`: an unknown name, checked against [`password::DUMMY`].
    phc: Option<String>,
    scheme: Scheme,
    answer: oneshot::Sender<bool>,
    /// Held until the check is done, even if the request went away.
    _permit: OwnedSemaphorePermit,
}

/// Hands password checks to the checker threads. The threads end when the
/// last clone is dropped.
#[derive(Clone)]
pub struct PasswordChecker {
    jobs: mpsc::SyncSender<Job>,
    permits: Arc<Semaphore>,
}

impl PasswordChecker {
    /// `threads` checker threads (at least one), and room for `queue` more
    /// checks waiting.
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, inbox) = mpsc::sync_channel::<Job>(threads + queue);
        let inbox = Arc::new(Mutex::new(inbox));
        for i in 0..threads {
            let inbox = inbox.clone();
            let spawned = std::thread::Builder::new().name(format!("vouch-password-{i}")).spawn(move || {
                // Allocated by the first check, then reused by every one.
                let mut memory: Vec<Block> = Vec::new();
                loop {
                    let job = match inbox.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    };
                    let Job { password, phc, scheme, answer, _permit: permit } = job;
                    let ok = match (scheme, phc.as_deref()) {
                        (Scheme::Bcrypt, Some(hash)) => bcrypt::verify(&password, hash).unwrap_or(false),
                        (_, phc) => password::verify_with(&mut memory, &password, phc.unwrap_or(password::DUMMY)),
                    };
                    // The place is free before the answer is: whoever asks
                    // next, having seen this answer, finds it free.
                    drop(permit);
                    let _ = answer.send(ok && phc.is_some());
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "a password-check thread did not start");
            }
        }
        Self { jobs, permits: Arc::new(Semaphore::new(threads + queue)) }
    }

    /// Whether `password` matches `phc`; with `None` (an unknown name) the
    /// same work is done and the answer is no. [`Busy`] at once when every
    /// place is taken.
    pub async fn check(&self, phc: Option<String>, password: String) -> Result<bool, Busy> {
        self.submit(phc, Scheme::Argon2, password).await
    }

    /// Whether `value` matches a hash a CRM stores, written in `scheme`
    /// (the caller has checked its parameters are affordable). Same threads,
    /// same bound: [`Busy`] at once when every place is taken.
    pub async fn check_stored(&self, scheme: Scheme, hash: String, value: String) -> Result<bool, Busy> {
        self.submit(Some(hash), scheme, value).await
    }

    async fn submit(&self, phc: Option<String>, scheme: Scheme, password: String) -> Result<bool, Busy> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| Busy)?;
        let (answer, answered) = oneshot::channel();
        // The permit bounds the channel's contents, so this never blocks.
        self.jobs.try_send(Job { password, phc, scheme, answer, _permit: permit }).map_err(|_| Busy)?;
        answered.await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_beyond_the_bound_are_refused_at_once() {
        let checker = PasswordChecker::new(1, 1);
        let hash = password::hash("pw").unwrap();
        assert_eq!(checker.check(Some(hash.clone()), "pw".into()).await, Ok(true));
        assert_eq!(checker.check(Some(hash.clone()), "px".into()).await, Ok(false));
        assert_eq!(checker.check(None, "pw".into()).await, Ok(false), "an unknown name");
        let many: Vec<_> = (0..8).map(|_| checker.check(Some(hash.clone()), "pw".into())).collect();
        let answers = futures_util::future::join_all(many).await;
        assert_eq!(answers.iter().filter(|a| **a == Ok(true)).count(), 2, "{answers:?}");
        assert_eq!(answers.iter().filter(|a| **a == Err(Busy)).count(), 6, "{answers:?}");
    }

    #[tokio::test]
    async fn crm_hashes_are_checked_on_the_same_bounded_threads() {
        let checker = PasswordChecker::new(1, 1);
        let b = bcrypt::hash_with_salt("1234", 4, [3u8; 16]).unwrap().format_for_version(bcrypt::Version::TwoB);
        assert_eq!(checker.check_stored(Scheme::Bcrypt, b.clone(), "1234".into()).await, Ok(true));
        assert_eq!(checker.check_stored(Scheme::Bcrypt, b.clone(), "1235".into()).await, Ok(false));
        let a = password::hash("1234").unwrap();
        assert_eq!(checker.check_stored(Scheme::Argon2, a.clone(), "1234".into()).await, Ok(true));
        assert_eq!(checker.check_stored(Scheme::Bcrypt, a.clone(), "1234".into()).await, Ok(false), "wrong scheme");
        let many: Vec<_> = (0..8).map(|_| checker.check_stored(Scheme::Argon2, a.clone(), "1234".into())).collect();
        let answers = futures_util::future::join_all(many).await;
        assert_eq!(answers.iter().filter(|a| **a == Err(Busy)).count(), 6, "the login bound holds: {answers:?}");
    }
}
