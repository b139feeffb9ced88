//! [`FeedSlots`]: how many live feeds (`GET /v1/events`, each a JetStream consumer and a core
//! subscription) one tenant may hold open on this replica. A slot is taken before the consumer
//! is created and released when the feed's response body is dropped (the client went away, or
//! shutdown), so a disconnect frees it at once.
//!
//! The count is per projection replica (in memory): with R replicas behind a balancer a tenant
//! holds at most R × the limit, which still bounds consumers on the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use framelog_events::TenantId;

/// Open feeds per tenant, with a limit.
#[derive(Clone, Debug)]
pub struct FeedSlots {
    limit: usize,
    open: Arc<Mutex<HashMap<TenantId, usize>>>,
}

/// One open feed; dropping it gives the slot back.
#[derive(Debug)]
pub struct FeedSlot {
    tenant: TenantId,
    open: Arc<Mutex<HashMap<TenantId, usize>>>,
}

impl FeedSlots {
    /// At most `limit` open feeds per tenant (0: no limit).
    pub fn new(limit: usize) -> FeedSlots {
        FeedSlots { limit, open: Arc::default() }
    }

    /// A slot for `tenant`, or `None` when it already holds `limit` feeds.
    pub fn acquire(&self, tenant: &TenantId) -> Option<FeedSlot> {
        let mut open = self.open.lock().expect("feed slots poisoned");
        let n = open.entry(tenant.clone()).or_insert(0);
        if self.limit > 0 && *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(FeedSlot { tenant: tenant.clone(), open: self.open.clone() })
    }

    /// Feeds `tenant` holds open.
    pub fn open(&self, tenant: &TenantId) -> usize {
        self.open.lock().expect("feed slots poisoned").get(tenant).copied().unwrap_or(0)
    }
}

impl Drop for FeedSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("feed slots poisoned");
        if let Some(n) = open.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_per_tenant_and_come_back_when_dropped() {
        let slots = FeedSlots::new(2);
        let (a, b) = (TenantId::new("acme").unwrap(), TenantId::new("globex").unwrap());
        let a1 = slots.acquire(&a).unwrap();
        let a2 = slots.acquire(&a).unwrap();
        assert!(slots.acquire(&a).is_none(), "a third feed of acme");
        assert!(slots.acquire(&b).is_some(), "another tenant is not affected");
        drop(a1);
        assert_eq!(slots.open(&a), 1);
        let _a3 = slots.acquire(&a).expect("a released slot is free again");
        drop(a2);
        assert_eq!(slots.open(&a), 1);
        assert!(FeedSlots::new(0).acquire(&a).is_some(), "0 means no limit");
    }
}
