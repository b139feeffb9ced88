//! The lease of one work item a worker holds ([`crate::items`]): keeping it alive while the
//! work runs (renewal every ttl/3, fencing), and ending it: a stored result, a failure (the
//! attempt kept; dead-lettered on the last one), a permanent failure, or a hand-back (the
//! attempt given back). Every end is a compare-and-set on the revision this worker last wrote,
//! so a worker whose lease was taken over can end nothing (`Err(Fenced)`).

use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::items::{ItemError, ItemResult, Items, lease_err};
use crate::lease::{self, Record};

/// The lease of one item this worker holds (one attempt).
#[derive(Debug)]
pub struct ItemLease {
    items: Arc<Items>,
    key: String,
    token: String,
    record: Record,
    revision: u64,
    attempt: u32,
}

impl ItemLease {
    pub(crate) fn new(
        items: Arc<Items>,
        key: String,
        token: String,
        record: Record,
        revision: u64,
        attempt: u32,
    ) -> ItemLease {
        ItemLease { items, key, token, record, revision, attempt }
    }

    /// Which attempt this is (1 the first time).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The item's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Unique to this take.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Writes `change` of the record with a compare-and-set; `Fenced` if it was lost.
    async fn write(
        &mut self,
        change: impl FnOnce(&Record) -> Option<Record>,
    ) -> Result<(), ItemError> {
        let next = change(&self.record).ok_or(ItemError::Fenced)?;
        self.revision =
            self.items.leases.write(&self.key, &next, self.revision).await.map_err(lease_err)?;
        self.record = next;
        Ok(())
    }

    /// Extends the lease by its ttl from now.
    async fn renew(&mut self) -> Result<(), ItemError> {
        let (token, ttl) = (self.token.clone(), self.items.ttl());
        self.write(|r| r.renewed(&token, lease::now_ms(), ttl)).await
    }

    /// Runs `work` (given a child of `cancel`) while renewing the lease every ttl/3, calling
    /// `on_renew` before each renewal (e.g. the queue message's in-progress ack). A renewal
    /// lost to another worker, or a lease that would run out before the next renewal, cancels
    /// `work`'s token, drops it and returns `Err(Fenced)`; else its output and the lease.
    pub async fn run<F, Fut, R, RFut>(
        mut self,
        work: F,
        mut on_renew: R,
        cancel: &CancellationToken,
    ) -> Result<(Fut::Output, ItemLease), ItemError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future,
        R: FnMut() -> RFut,
        RFut: Future<Output = ()>,
    {
        let token = cancel.child_token();
        let work = work(token.clone());
        tokio::pin!(work);
        let every = self.items.ttl() / 3;
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        let mut expires = Instant::now() + self.items.ttl();
        loop {
            tokio::select! {
                out = &mut work => return Ok((out, self)),
                _ = tick.tick() => {
                    on_renew().await;
                    let sent = Instant::now();
                    match self.renew().await {
                        Ok(()) => expires = sent + self.items.ttl(),
                        Err(ItemError::Fenced) => {
                            tracing::warn!(item = %self.key, "the item's lease was taken over: fenced");
                            token.cancel();
                            return Err(ItemError::Fenced);
                        }
                        Err(e) => tracing::warn!(item = %self.key, error = %e, "renewing the item's lease failed"),
                    }
                    if expires.saturating_duration_since(Instant::now()) < every {
                        tracing::warn!(item = %self.key, "the item's lease could not be renewed in time: fenced");
                        token.cancel();
                        return Err(ItemError::Fenced);
                    }
                }
            }
        }
    }

    /// Stores `result` if this worker still holds the lease (`Err(Fenced)` otherwise); false if
    /// a result exists already (the caller deletes its own files).
    pub async fn complete(mut self, result: serde_json::Value) -> Result<bool, ItemError> {
        self.renew().await?;
        let won = self.items.create_result(&self.key, &ItemResult::Done(result)).await?;
        if let Err(e) = self.write(|r| Some(r.settled())).await {
            tracing::warn!(item = %self.key, error = %e, "the item's lease record was not settled");
        }
        Ok(won)
    }

    /// A failed attempt: the attempt stays counted and the lease is released; on the last
    /// attempt the item is dead-lettered (`Failed` result) and true is returned.
    pub async fn fail(mut self, reason: &str) -> Result<bool, ItemError> {
        if self.attempt >= self.items.max_attempts() {
            self.dead_letter(reason).await?;
            return Ok(true);
        }
        let token = self.token.clone();
        self.write(|r| r.failed(&token)).await?;
        Ok(false)
    }

    /// A failure that no retry can mend (the input's fault): dead-lettered now.
    pub async fn dead_letter(mut self, reason: &str) -> Result<(), ItemError> {
        self.renew().await?;
        self.items.dead_letter(&self.key, reason.to_owned(), self.attempt).await?;
        Ok(())
    }

    /// A graceful hand-back (shutdown, another release's plan): lease released, attempt given
    /// back.
    pub async fn hand_back(mut self) -> Result<(), ItemError> {
        let token = self.token.clone();
        self.write(|r| r.handed_back(&token)).await
    }
}
