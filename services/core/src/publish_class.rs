//! What a failed JetStream publish means, decided from the error kind and the server's API
//! error code (nats-server `server/errors.json`), without IO: a duplicate of a one-shot fact,
//! a refusal that no retry can cure, a full store, or a transport problem worth retrying.

use async_nats::jetstream::context::PublishErrorKind;

/// "wrong last sequence": the subject already holds a message (`expected_last_subject_sequence`).
pub const WRONG_LAST_SEQUENCE: u64 = 10071;

/// "duplicate message id is in process" (409): on a replicated stream, a message with the same
/// `Nats-Msg-Id` is still being proposed (two writers of one deterministic fact at once, e.g.
/// completion and the jobs reactor on an R3 cluster). A retry soon gets the duplicate ack.
pub const DUPLICATE_IN_PROCESS: u64 = 10158;

/// The API error codes that mean "no room to store" (see `eventlog::STORE_FULL_CODES`).
use crate::eventlog::STORE_FULL_CODES;

/// The facts of a failed publish that the classification needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: PublishErrorKind,
    /// The JetStream API error code, when the server answered with one.
    pub code: Option<u64>,
    /// The HTTP-like status of that answer (400, 503...).
    pub status: Option<usize>,
    /// The error's text (for the reason and the stored sequence of a duplicate).
    pub message: String,
}

/// What a failure means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// A one-shot fact already stored: a success. The stored sequence, when the server said it.
    Duplicate { sequence: Option<u64> },
    /// The server refused this event for good: retrying cannot help.
    Refused { reason: String },
    /// No stream answered for the subject: a refusal if the server confirms that no stream
    /// takes the subject, a transport problem otherwise (JetStream still recovering).
    NoStream,
    /// JetStream has no room; retried later.
    Full,
    /// Not stored, for a reason that may pass (no connection, timeout, leader election...).
    Transport,
}

/// Classifies `f` for an event published as one-shot (`once`) or not.
pub fn classify(f: &Failure, once: bool) -> Class {
    if f.code.is_some_and(|c| STORE_FULL_CODES.contains(&c)) {
        return Class::Full;
    }
    match f.kind {
        PublishErrorKind::WrongLastSequence if once => {
            Class::Duplicate { sequence: stored_sequence(&f.message) }
        }
        PublishErrorKind::StreamNotFound => Class::NoStream,
        PublishErrorKind::WrongLastSequence
        | PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::MaxPayloadExceeded => Class::Refused { reason: f.message.clone() },
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::MaxAckPending => Class::Transport,
        PublishErrorKind::Other if f.code == Some(DUPLICATE_IN_PROCESS) => Class::Transport,
        PublishErrorKind::Other => match (f.code, f.status) {
            // "temporarily unavailable" (no leader, cluster not ready): passes.
            (_, Some(503)) | (None, _) => Class::Transport,
            // Any other answer of the server about this message (message too large for the
            // stream, sealed stream, expected stream mismatch, invalid TTL...) is final.
            (Some(_), Some(s)) if (400..500).contains(&s) => {
                Class::Refused { reason: f.message.clone() }
            }
            _ => Class::Transport,
        },
    }
}

/// The sequence in "wrong last sequence: 42 (...)": the message already on the subject.
pub fn stored_sequence(message: &str) -> Option<u64> {
    let rest = &message[message.rfind("wrong last sequence:")? + "wrong last sequence:".len()..];
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|&n| n > 0)
}

/// The facts of `err` (a publish error) that [`classify`] needs.
pub fn failure(err: &async_nats::jetstream::context::PublishError) -> Failure {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let (mut code, mut status) = (None, None);
    while let Some(e) = cur {
        if let Some(js) = e.downcast_ref::<async_nats::jetstream::Error>() {
            code = Some(js.error_code().0);
            status = Some(js.code());
            break;
        }
        cur = e.source();
    }
    Failure { kind: err.kind(), code, status, message: err.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: PublishErrorKind, code: Option<u64>, status: Option<usize>, msg: &str) -> Failure {
        Failure { kind, code, status, message: msg.into() }
    }

    #[test]
    fn wrong_last_sequence_is_a_duplicate_only_for_a_one_shot_fact() {
        let w = f(
            PublishErrorKind::WrongLastSequence,
            Some(10071),
            Some(400),
            "wrong last sequence: wrong last sequence: 42 (code 400, error code 10071)",
        );
        assert_eq!(classify(&w, true), Class::Duplicate { sequence: Some(42) });
        assert!(matches!(classify(&w, false), Class::Refused { .. }));
    }

    #[test]
    fn server_answers_about_the_message_are_refusals_and_outages_are_not() {
        let too_big = f(PublishErrorKind::Other, Some(10054), Some(400), "message size exceeds");
        assert!(matches!(classify(&too_big, false), Class::Refused { .. }));
        let sealed = f(PublishErrorKind::Other, Some(10109), Some(400), "sealed");
        assert!(matches!(classify(&sealed, true), Class::Refused { .. }));
        let no_leader = f(PublishErrorKind::Other, Some(10008), Some(503), "unavailable");
        assert_eq!(classify(&no_leader, false), Class::Transport);
        let garbled = f(PublishErrorKind::Other, None, None, "bad json");
        assert_eq!(classify(&garbled, false), Class::Transport);
        for k in [PublishErrorKind::TimedOut, PublishErrorKind::BrokenPipe] {
            assert_eq!(classify(&f(k, None, None, ""), true), Class::Transport);
        }
        let payload = f(PublishErrorKind::MaxPayloadExceeded, None, None, "max payload");
        assert!(matches!(classify(&payload, false), Class::Refused { .. }));
    }

    #[test]
    fn a_duplicate_still_in_process_on_a_replicated_stream_is_retried() {
        let racing = f(
            PublishErrorKind::Other,
            Some(10158),
            Some(409),
            "duplicate message id is in process (code 409, error code 10158)",
        );
        assert_eq!(classify(&racing, true), Class::Transport);
        assert_eq!(classify(&racing, false), Class::Transport);
    }

    #[test]
    fn no_responders_needs_confirmation_and_a_full_store_waits() {
        assert_eq!(
            classify(&f(PublishErrorKind::StreamNotFound, None, None, ""), true),
            Class::NoStream
        );
        let full = f(PublishErrorKind::Other, Some(10077), Some(500), "maximum bytes exceeded");
        assert_eq!(classify(&full, false), Class::Full);
    }

    #[test]
    fn the_stored_sequence_is_read_from_the_servers_text() {
        assert_eq!(stored_sequence("wrong last sequence: 7 (code 400, error code 10071)"), Some(7));
        assert_eq!(stored_sequence("wrong last sequence: 0"), None);
        assert_eq!(stored_sequence("something else"), None);
    }
}
