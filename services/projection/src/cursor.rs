//! Whether a stored cursor (the last applied sequence of a stream) still fits the stream it was
//! read from. Pure: the projector reads the stream's state, this decides.
//!
//! The sled store is the cursor, so a stream that changed under it would make the views diverge
//! silently: events purged or aged out before they were applied (`first_seq > stored + 1`), or
//! a stream deleted and recreated (`last_seq < stored`, or another creation time). The
//! projection refuses to resume then and names the remedy, `framelog projection rebuild`.

use time::OffsetDateTime;

/// What the stream looks like now (from its info).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamState {
    /// Lowest sequence still stored (`last_seq + 1` when the stream is empty).
    pub first_seq: u64,
    /// Last sequence ever assigned.
    pub last_seq: u64,
    /// When the stream was created.
    pub created: OffsetDateTime,
}

/// Why a stored cursor no longer fits its stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorMismatch {
    #[error(
        "events {from}..{to} of {stream} were purged or aged out before this projection applied \
         them (stored sequence {stored}, the stream now starts at {first_seq}): the views would \
         miss them; run `framelog projection rebuild`"
    )]
    Purged { stream: String, stored: u64, first_seq: u64, from: u64, to: u64 },
    #[error(
        "{stream} was recreated: this projection applied up to sequence {stored} but the stream's \
         last sequence is {last_seq}: the views belong to another stream; run `framelog \
         projection rebuild`"
    )]
    Behind { stream: String, stored: u64, last_seq: u64 },
    #[error(
        "{stream} was recreated (created {now}, the views were read from one created {was}; \
         stored sequence {stored}): run `framelog projection rebuild`"
    )]
    Recreated { stream: String, stored: u64, was: OffsetDateTime, now: OffsetDateTime },
}

/// Checks `stored` (0: nothing applied) against the stream. `stored_created` is the creation
/// time of the stream the views were read from, when known.
pub fn check(
    stream: &str,
    stored: u64,
    stored_created: Option<OffsetDateTime>,
    now: StreamState,
) -> Result<(), CursorMismatch> {
    if stored == 0 {
        // Nothing applied yet: any stream, from its first stored event, as a rebuild reads it.
        return Ok(());
    }
    if stored > now.last_seq {
        return Err(CursorMismatch::Behind {
            stream: stream.to_owned(),
            stored,
            last_seq: now.last_seq,
        });
    }
    if let Some(was) = stored_created
        && was != now.created
    {
        return Err(CursorMismatch::Recreated {
            stream: stream.to_owned(),
            stored,
            was,
            now: now.created,
        });
    }
    if stored + 1 < now.first_seq {
        return Err(CursorMismatch::Purged {
            stream: stream.to_owned(),
            stored,
            first_seq: now.first_seq,
            from: stored + 1,
            to: now.first_seq - 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(first_seq: u64, last_seq: u64) -> StreamState {
        StreamState { first_seq, last_seq, created: OffsetDateTime::UNIX_EPOCH }
    }
    const T0: Option<OffsetDateTime> = Some(OffsetDateTime::UNIX_EPOCH);

    #[test]
    fn a_cursor_inside_the_stream_or_right_before_its_start_fits() {
        assert_eq!(check("VID", 0, None, state(50, 90)), Ok(()));
        assert_eq!(check("VID", 10, T0, state(1, 90)), Ok(()));
        assert_eq!(check("VID", 49, T0, state(50, 90)), Ok(()), "nothing missed");
        assert_eq!(check("VID", 90, T0, state(91, 90)), Ok(()), "all applied, then purged");
        assert_eq!(check("VID", 90, None, state(1, 90)), Ok(()), "no creation time stored yet");
    }

    #[test]
    fn events_purged_before_they_were_applied_are_refused_naming_both_numbers() {
        let e = check("VID_VIEW", 10, T0, state(40, 90)).unwrap_err();
        assert!(matches!(e, CursorMismatch::Purged { from: 11, to: 39, .. }), "{e:?}");
        let m = e.to_string();
        assert!(m.contains("10") && m.contains("40") && m.contains("projection rebuild"), "{m}");
    }

    #[test]
    fn a_recreated_stream_is_refused() {
        let e = check("VID", 100, T0, state(1, 20)).unwrap_err();
        assert!(matches!(e, CursorMismatch::Behind { stored: 100, last_seq: 20, .. }), "{e:?}");
        assert!(e.to_string().contains("projection rebuild"));
        let later = StreamState {
            created: OffsetDateTime::UNIX_EPOCH + time::Duration::DAY,
            ..state(1, 500)
        };
        let e = check("VID", 100, T0, later).unwrap_err();
        assert!(matches!(e, CursorMismatch::Recreated { .. }), "{e:?}");
    }
}
