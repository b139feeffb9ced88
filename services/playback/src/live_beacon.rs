//! The events of one live beacon: a `presence` in its window (concurrent viewers, never a
//! view) and, the first time this replica sees the viewer in the stream's live session, the
//! one view of that session (id deterministic over (viewer, session)). See [`crate::viewers`].

use framelog_events::{AggregateId, Event, Kind, TenantId, ViewData};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::state::PlaybackState;

/// The events of one live beacon of `viewer` at `now`: its `presence` in the window, and the
/// view of the live session the first time this replica sees the viewer in it. Call
/// [`LiveBeacon::not_queued`] if the view could not be queued.
pub struct LiveBeacon {
    pub events: Vec<Event>,
    view: Option<Uuid>,
}

impl LiveBeacon {
    /// Unmarks the session view so the next beacon sends it again.
    pub fn not_queued(&self, st: &PlaybackState) {
        if let Some(id) = self.view {
            st.viewers.uncount(id);
        }
    }
}

/// Builds the events of a live beacon (see the module docs).
pub async fn live_beacon(
    st: &PlaybackState,
    tenant: &TenantId,
    stream: &AggregateId,
    viewer: &str,
    now: OffsetDateTime,
) -> LiveBeacon {
    let window = st.viewers.window_of(now.unix_timestamp());
    let session = st.viewers.session_of(&st.platform.js, tenant.as_str(), stream.as_str()).await;
    let mut events = Vec::with_capacity(2);
    let mut view = None;
    if let Some(session) = &session {
        let id = session_view_id(tenant, stream, viewer, session);
        if st.viewers.first_count(id, window) {
            let data = ViewData::Counted { viewer: viewer.to_owned(), window, live: true };
            events.push(Event::new(id, now, crate::SOURCE, tenant.clone(), stream.clone(), data));
            view = Some(id);
        }
    }
    let id = Event::deterministic_id(
        tenant,
        stream,
        Kind::View,
        "presence",
        &format!("{viewer}/{window}"),
    );
    let data = ViewData::Presence { viewer: viewer.to_owned(), window, session_id: session };
    events.push(Event::new(id, now, crate::SOURCE, tenant.clone(), stream.clone(), data));
    LiveBeacon { events, view }
}

/// The id of the one view of `viewer` in live `session` of `stream`.
pub fn session_view_id(
    tenant: &TenantId,
    stream: &AggregateId,
    viewer: &str,
    session: &str,
) -> Uuid {
    Event::deterministic_id(
        tenant,
        stream,
        Kind::View,
        "counted",
        &format!("{viewer}/live/{session}"),
    )
}
