//! The sled side of the projection: the view trees, their key layout, a write overlay that
//! batches many events into one transaction together with the stream sequence, and the digest.
//!
//! Key layout (every key starts with `<tenant>\0`, so one tenant's views are one prefix; ids are
//! `[a-z0-9_-]`, so `\0` never occurs inside them):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `proj_videos` | tenant, video | [`VideoEntry`](framelog_events::fold::VideoEntry) JSON |
//! | `proj_video_index` | tenant, !created (8 bytes BE), video | status token (visible videos only) |
//! | `proj_streams` | tenant, stream | [`StreamEntry`](framelog_events::fold::StreamEntry) JSON |
//! | `proj_usage` | tenant, `v`, video / `l`, stream, session / `e`, instance, period | usage JSON |
//! | `proj_views` | tenant, video | u64 BE |
//! | `proj_view_days` | tenant, video, day | u64 BE |
//! | `proj_tenant_days` | tenant, day | u64 BE |
//! | `proj_view_ids` | tenant, event id (16 bytes) | empty (views counted once per id) |
//! | `proj_meters` | tenant, `m`, month, `views`/`egress_bytes`/`egress_requests` / `m`, month, `vv`, video | u64 BE (open months, from `VID_VIEW`) |
//! | `proj_meters` | tenant, `c`, month | [`MonthTotals`](framelog_events::MonthTotals) JSON (closed months, from `VID`) |
//! | `proj_qoe` | tenant, `v`, video / `d`, video, day / `t`, day | [`QoeTally`](framelog_events::fold::QoeTally) JSON (ids in `proj_view_ids`) |
//! | `proj_meta` | `seq/<stream>`, `created/<stream>`, `skip/<stream>/<seq>`, `unknown/<stream>/<seq>`, `replica` | u64 BE, unix ns (i128 BE), empty, empty, id (not part of the digest) |

use std::collections::HashMap;
use std::sync::Arc;

use framelog_events::TenantId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::error::ProjectionError;

/// A view tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    Videos,
    VideoIndex,
    Streams,
    Usage,
    Views,
    ViewDays,
    TenantDays,
    ViewIds,
    Meters,
    Qoe,
}

impl View {
    /// Every view tree, in digest order.
    pub const ALL: [View; 10] = [
        View::Videos,
        View::VideoIndex,
        View::Streams,
        View::Usage,
        View::Views,
        View::ViewDays,
        View::TenantDays,
        View::ViewIds,
        View::Meters,
        View::Qoe,
    ];

    /// The sled tree name.
    pub fn tree_name(self) -> &'static str {
        match self {
            View::Videos => "proj_videos",
            View::VideoIndex => "proj_video_index",
            View::Streams => "proj_streams",
            View::Usage => "proj_usage",
            View::Views => "proj_views",
            View::ViewDays => "proj_view_days",
            View::TenantDays => "proj_tenant_days",
            View::ViewIds => "proj_view_ids",
            View::Meters => "proj_meters",
            View::Qoe => "proj_qoe",
        }
    }
}

/// Name of the tree with the applied sequences and the replica id.
pub const META_TREE: &str = "proj_meta";

/// `tenant \0 part \0 part ...`
pub fn key(tenant: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut k =
        Vec::with_capacity(tenant.len() + 1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.extend_from_slice(tenant.as_bytes());
    for p in parts {
        k.push(0);
        k.extend_from_slice(p);
    }
    k
}

/// The prefix of every key of `tenant`.
pub fn tenant_prefix(tenant: &str) -> Vec<u8> {
    let mut k = tenant.as_bytes().to_vec();
    k.push(0);
    k
}

fn seq_key(stream: &str) -> Vec<u8> {
    format!("seq/{stream}").into_bytes()
}

fn created_key(stream: &str) -> Vec<u8> {
    format!("created/{stream}").into_bytes()
}

fn read_past_prefix(stream: &str) -> Vec<u8> {
    format!("unknown/{stream}/").into_bytes()
}

fn skip_key(stream: &str, seq: u64) -> Vec<u8> {
    let mut k = format!("skip/{stream}/").into_bytes();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The projection's trees in one sled database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    trees: Arc<[sled::Tree]>,
    meta: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (creating) the projection's trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Store, ProjectionError> {
        let trees: Vec<sled::Tree> =
            View::ALL.iter().map(|v| db.open_tree(v.tree_name())).collect::<Result<_, _>>()?;
        Ok(Store { db: db.clone(), trees: trees.into(), meta: db.open_tree(META_TREE)? })
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The tree of a view.
    pub fn tree(&self, v: View) -> &sled::Tree {
        &self.trees[v as usize]
    }

    /// The last stream sequence applied from `stream` (0: nothing yet).
    pub fn applied(&self, stream: &str) -> Result<u64, ProjectionError> {
        Ok(self.meta.get(seq_key(stream))?.map(|v| be_u64(&v)).unwrap_or(0))
    }

    /// When the stream the views were read from was created (`None`: not recorded yet).
    pub fn stream_created(
        &self,
        stream: &str,
    ) -> Result<Option<time::OffsetDateTime>, ProjectionError> {
        let Some(v) = self.meta.get(created_key(stream))? else {
            return Ok(None);
        };
        let nanos = <[u8; 16]>::try_from(v.as_ref()).map(i128::from_be_bytes).map_err(|_| {
            ProjectionError::Corrupt {
                tree: META_TREE,
                message: "a bad stream creation time".into(),
            }
        })?;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(Some)
            .map_err(|e| ProjectionError::Corrupt { tree: META_TREE, message: e.to_string() })
    }

    /// Records when the stream the views are read from was created.
    pub fn set_stream_created(
        &self,
        stream: &str,
        created: time::OffsetDateTime,
    ) -> Result<(), ProjectionError> {
        self.meta.insert(created_key(stream), &created.unix_timestamp_nanos().to_be_bytes())?;
        Ok(())
    }

    /// An operator's decision (`framelog projection skip`) to read past the unreadable message
    /// at `seq` of `stream`. Only an unreadable message is ever skipped for it.
    pub fn mark_skip(&self, stream: &str, seq: u64) -> Result<(), ProjectionError> {
        self.meta.insert(skip_key(stream, seq), Vec::<u8>::new())?;
        Ok(())
    }

    /// Whether the operator decided to skip the unreadable message at `seq` of `stream`.
    pub fn is_skipped(&self, stream: &str, seq: u64) -> Result<bool, ProjectionError> {
        Ok(self.meta.contains_key(skip_key(stream, seq))?)
    }

    /// Notes that the event at `seq` of `stream` was read past as unknown (a newer writer's
    /// phase or type), so a later build that knows it can tell the views lack it. Written
    /// before the commit that passes it.
    pub fn note_read_past(&self, stream: &str, seq: u64) -> Result<(), ProjectionError> {
        let mut k = read_past_prefix(stream);
        k.extend_from_slice(&seq.to_be_bytes());
        self.meta.insert(k, Vec::<u8>::new())?;
        Ok(())
    }

    /// The sequences of `stream` read past as unknown, in order.
    pub fn read_past(&self, stream: &str) -> Result<Vec<u64>, ProjectionError> {
        let prefix = read_past_prefix(stream);
        self.meta.scan_prefix(&prefix).keys().map(|k| Ok(be_u64(&k?[prefix.len()..]))).collect()
    }

    /// Forgets a read-past note (its message is gone from the stream).
    pub fn forget_read_past(&self, stream: &str, seq: u64) -> Result<(), ProjectionError> {
        let mut k = read_past_prefix(stream);
        k.extend_from_slice(&seq.to_be_bytes());
        self.meta.remove(k)?;
        Ok(())
    }

    /// This store's replica id (generated on first use). Not a consumer name: projectors use
    /// ordered (ephemeral) consumers, so a copied store shares nothing with its original.
    pub fn replica_id(&self) -> Result<String, ProjectionError> {
        if let Some(v) = self.meta.get("replica")? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let id = uuid::Uuid::now_v7().simple().to_string()[..12].to_owned();
        self.meta.compare_and_swap("replica", None as Option<&[u8]>, Some(id.as_bytes()))?.ok();
        Ok(self
            .meta
            .get("replica")?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or(id))
    }

    /// Empties every view, the applied sequences, stream creation times and read-past notes
    /// (keeps the replica id and the operator's skips).
    pub fn clear(&self) -> Result<(), ProjectionError> {
        for t in self.trees.iter() {
            t.clear()?;
        }
        for s in [framelog_core::nats::STREAM_VID, framelog_core::nats::STREAM_VIEW] {
            self.meta.remove(seq_key(s))?;
            self.meta.remove(created_key(s))?;
            for k in self.meta.scan_prefix(read_past_prefix(s)).keys() {
                self.meta.remove(k?)?;
            }
        }
        Ok(())
    }

    /// Makes every committed transaction durable on disk.
    pub async fn flush(&self) -> Result<(), ProjectionError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// sha256 (hex) of every view tree, or of one tenant's keys. Independent of how the store
    /// was built (incrementally or rebuilt) and of the applied sequences; keys starting with
    /// `~` (bookkeeping, never a tenant) are left out.
    pub fn digest(&self, tenant: Option<&TenantId>) -> Result<String, ProjectionError> {
        let prefix = tenant.map(|t| tenant_prefix(t.as_str())).unwrap_or_default();
        let mut h = Sha256::new();
        for v in View::ALL {
            let name = v.tree_name().as_bytes();
            h.update((name.len() as u64).to_be_bytes());
            h.update(name);
            for kv in self.tree(v).scan_prefix(&prefix) {
                let (k, val) = kv?;
                if k.starts_with(b"~") {
                    continue; // bookkeeping (the view-id window's high water), not a view
                }
                h.update((k.len() as u64).to_be_bytes());
                h.update(&k);
                h.update((val.len() as u64).to_be_bytes());
                h.update(&val);
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    /// A JSON value stored under `key` in `view`.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        view: View,
        key: &[u8],
    ) -> Result<Option<T>, ProjectionError> {
        self.tree(view).get(key)?.map(|v| decode(view, &v)).transpose()
    }
}

/// Reads a big-endian u64 (0 when malformed).
pub fn be_u64(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

pub(crate) fn decode<T: DeserializeOwned>(view: View, v: &[u8]) -> Result<T, ProjectionError> {
    serde_json::from_slice(v)
        .map_err(|e| ProjectionError::Corrupt { tree: view.tree_name(), message: e.to_string() })
}

/// Pending writes over a [`Store`]: reads see them first, then sled. Committed in one
/// transaction together with the last applied stream sequence.
pub struct Overlay<'s> {
    store: &'s Store,
    writes: HashMap<(View, Vec<u8>), Option<Vec<u8>>>,
}

impl<'s> Overlay<'s> {
    pub fn new(store: &'s Store) -> Self {
        Overlay { store, writes: HashMap::new() }
    }

    /// Pending writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    pub fn get(&self, view: View, key: &[u8]) -> Result<Option<Vec<u8>>, ProjectionError> {
        if let Some(w) = self.writes.get(&(view, key.to_vec())) {
            return Ok(w.clone());
        }
        Ok(self.store.tree(view).get(key)?.map(|v| v.to_vec()))
    }

    pub fn get_json<T: DeserializeOwned>(
        &self,
        view: View,
        key: &[u8],
    ) -> Result<Option<T>, ProjectionError> {
        self.get(view, key)?.map(|v| decode(view, &v)).transpose()
    }

    pub fn put(&mut self, view: View, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert((view, key), Some(value));
    }

    pub fn put_json<T: Serialize>(&mut self, view: View, key: Vec<u8>, value: &T) {
        let bytes = serde_json::to_vec(value).expect("view states always serialise");
        self.put(view, key, bytes);
    }

    pub fn remove(&mut self, view: View, key: Vec<u8>) {
        self.writes.insert((view, key), None);
    }

    /// Adds one to a u64 counter.
    pub fn increment(&mut self, view: View, key: Vec<u8>) -> Result<(), ProjectionError> {
        self.add(view, key, 1)
    }

    /// Adds `n` to a u64 counter.
    pub fn add(&mut self, view: View, key: Vec<u8>, n: u64) -> Result<(), ProjectionError> {
        let old = self.get(view, &key)?.map(|v| be_u64(&v)).unwrap_or(0);
        self.put(view, key, old.saturating_add(n).to_be_bytes().to_vec());
        Ok(())
    }

    /// The keys of `view` under `prefix` as this overlay sees them (pending writes included).
    pub fn keys(&self, view: View, prefix: &[u8]) -> Result<Vec<Vec<u8>>, ProjectionError> {
        let mut out = std::collections::BTreeSet::new();
        for kv in self.store.tree(view).scan_prefix(prefix) {
            out.insert(kv?.0.to_vec());
        }
        for ((v, k), w) in &self.writes {
            if *v == view && k.starts_with(prefix) {
                match w {
                    Some(_) => out.insert(k.clone()),
                    None => out.remove(k),
                };
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Writes everything and `seq` as the last applied sequence of `stream`, atomically.
    /// Not yet durable: call [`Store::flush`] before acking.
    pub fn commit(self, stream: &str, seq: u64) -> Result<(), ProjectionError> {
        let mut trees: Vec<&sled::Tree> = self.store.trees.iter().collect();
        trees.push(&self.store.meta);
        let meta = trees.len() - 1;
        let writes = &self.writes;
        let seq_key = seq_key(stream);
        let res = trees[..].transaction(|tx| {
            for ((view, k), v) in writes {
                let t = &tx[*view as usize];
                match v {
                    Some(v) => t.insert(k.as_slice(), v.as_slice())?,
                    None => t.remove(k.as_slice())?,
                };
            }
            tx[meta].insert(seq_key.as_slice(), &seq.to_be_bytes())?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match res {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(e.into()),
            Err(TransactionError::Abort(())) => unreachable!("the transaction never aborts"),
        }
    }
}
