//! The cleaner: removes uploads idle for longer than the idle timeout and emits
//! `VID_UPLOAD expired`. One step (`collect_once`) wrapped by a thin loop.

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::lifecycle;
use crate::session::SessionState;
use crate::state::IngestState;

/// Expires every open upload idle since before `now - idle timeout`. Returns how many.
pub async fn collect_once(st: &IngestState, now: OffsetDateTime) -> usize {
    let cutoff = now - st.settings.idle_timeout();
    let all = match st.sessions.all().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "could not list upload sessions");
            return 0;
        }
    };
    let idle: Vec<_> = all
        .into_iter()
        .filter(|s| s.state == SessionState::Open && s.updated_at < cutoff)
        .collect();
    let mut n = 0;
    for s in idle {
        match lifecycle::end(st, &s, true).await {
            Ok(true) => {
                n += 1;
                tracing::info!(tenant = %s.tenant, upload_id = %s.upload_id, "idle upload expired");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(upload_id = %s.upload_id, error = %e, "could not expire upload")
            }
        }
    }
    n
}

/// Runs [`collect_once`] every `gc_interval` until `shutdown`.
pub async fn run(st: IngestState, shutdown: CancellationToken) {
    let every = st.settings.gc_interval();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        collect_once(&st, OffsetDateTime::now_utc()).await;
    }
}
