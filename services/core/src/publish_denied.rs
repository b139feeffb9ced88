//! Publishes the server refuses for permissions, seen as they happen.
//!
//! NATS answers a publish its user may not make with an asynchronous
//! `-ERR 'Permissions Violation for Publish to "<subject>"'` on the connection, not with a reply:
//! the JetStream publish then waits for an ack that never comes and fails with a timeout, which
//! reads like an outage (so the entry would stay at the outbox's head for ever). The
//! connection's event callback ([`PublishViolations::install`]) hands each such error to the
//! [`PublishViolations`] of the client; [`crate::eventlog::EventLog::send`] waits for the ack
//! and for a violation naming its subject at once, and the first to come decides: a violation
//! is a refusal, at once, with the server's text as its reason.

use async_nats::{Event, ServerError};
use tokio::sync::broadcast;

/// The permission violations of publishes reported on one connection; cheap to clone.
#[derive(Debug, Clone)]
pub struct PublishViolations {
    tx: broadcast::Sender<Denied>,
}

/// One publish the server refused for permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The subject the publish named.
    pub subject: String,
    /// The server's text.
    pub reason: String,
}

impl Default for PublishViolations {
    fn default() -> Self {
        PublishViolations { tx: broadcast::channel(256).0 }
    }
}

/// The subject of a server error that refuses a publish for permissions (pure): the last
/// quoted name of `Permissions Violation for Publish to "<subject>"` (or `... for Publish with
/// Reply of "<inbox>" to "<subject>"`).
pub fn denied_subject(error: &str) -> Option<String> {
    let rest = error.split_once("Permissions Violation for Publish")?.1;
    let end = rest.rfind('"')?;
    let start = rest[..end].rfind('"')?;
    let subject = &rest[start + 1..end];
    (!subject.is_empty()).then(|| subject.to_owned())
}

impl PublishViolations {
    /// `opts` with an event callback that reports this connection's publish violations here
    /// (and logs them).
    pub fn install(&self, opts: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        let me = self.clone();
        opts.event_callback(move |event| {
            let me = me.clone();
            async move { me.observe(&event) }
        })
    }

    /// Takes one connection event (what the callback of [`Self::install`] does).
    pub fn observe(&self, event: &Event) {
        let Event::ServerError(ServerError::Other(text)) = event else { return };
        let Some(subject) = denied_subject(text) else { return };
        tracing::warn!(%subject, error = %text, "NATS refused a publish for permissions");
        // No receiver: nobody publishes right now; nothing to tell.
        let _ = self.tx.send(Denied { subject, reason: text.clone() });
    }

    /// A receiver of the violations reported from now on: take it before publishing, so a
    /// violation answered at once is not missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Denied> {
        self.tx.subscribe()
    }
}

/// Waits for a violation naming `subject` on `rx`; never returns if none comes.
pub async fn denied(mut rx: broadcast::Receiver<Denied>, subject: &str) -> Denied {
    loop {
        match rx.recv().await {
            Ok(d) if d.subject == subject => return d,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_is_read_from_the_servers_text() {
        assert_eq!(
            denied_subject(r#"Permissions Violation for Publish to "vid.acme.upload.deleted.v1""#),
            Some("vid.acme.upload.deleted.v1".into())
        );
        assert_eq!(
            denied_subject(
                r#"Permissions Violation for Publish with Reply of "_INBOX.x.y" to "vid.a.b""#
            ),
            Some("vid.a.b".into())
        );
        assert_eq!(denied_subject(r#"Permissions Violation for Subscription to "_INBOX.>""#), None);
        assert_eq!(denied_subject("Slow Consumer"), None);
        assert_eq!(denied_subject(r#"Permissions Violation for Publish to """#), None);
    }

    #[tokio::test]
    async fn a_violation_reaches_only_the_publish_of_its_subject() {
        let v = PublishViolations::default();
        let rx = v.subscribe();
        let other = r#"Permissions Violation for Publish to "vid.other""#;
        v.observe(&Event::ServerError(ServerError::Other(other.into())));
        v.observe(&Event::ServerError(ServerError::AuthorizationViolation));
        let mine = r#"Permissions Violation for Publish to "vid.mine""#;
        v.observe(&Event::ServerError(ServerError::Other(mine.into())));
        let d = tokio::time::timeout(std::time::Duration::from_secs(1), denied(rx, "vid.mine"))
            .await
            .unwrap();
        assert_eq!(d, Denied { subject: "vid.mine".into(), reason: mine.into() });
    }
}
