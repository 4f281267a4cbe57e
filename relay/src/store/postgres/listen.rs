//! The LISTEN side of the PostgreSQL store: one dedicated connection per
//! relay that hears every commit of every relay (`NOTIFY` sent inside the
//! committing transaction, so only committed heads are announced) and
//! passes them on as [`Notice`]s.
//!
//! Notifications are lost while the connection is down, so each time it is
//! (re)established the listener announces [`Notice::Resync`]: every open
//! document then catches up from the log, which is the only source of
//! truth; a notification only says when to look.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use collab_crdt::sync::ServerSeq;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use super::Reach;
use crate::store::Notice;

/// The channel every relay listens on and every commit notifies.
pub const CHANNEL: &str = "collab_log";

/// How often the listener checks that its connection still answers: a
/// silent network partition leaves a socket that never errors.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Pause between reconnection attempts.
const RETRY: Duration = Duration::from_millis(500);

/// The payload of a notification: `"<head> <doc_id>"` (a document id has
/// no spaces; see `docs/protocol.md` §2).
pub fn payload(doc_id: &str, head: ServerSeq) -> String {
    format!("{} {doc_id}", head.0)
}

fn parse(payload: &str) -> Option<Notice> {
    let (head, doc_id) = payload.split_once(' ')?;
    Some(Notice::Head {
        doc_id: Arc::from(doc_id),
        head: ServerSeq(head.parse().ok()?),
    })
}

/// Runs until the store's runtime shuts down: connect, `LISTEN`, announce
/// a resync, forward notifications; on any failure start again.
pub async fn run(
    config: tokio_postgres::Config,
    notices: broadcast::Sender<Notice>,
    reach: Arc<Reach>,
) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let forward = notices.clone();
                // Dropped when the driver ends: the loop below then stops.
                let (end, mut ended) = tokio::sync::oneshot::channel::<()>();
                let driver = tokio::spawn(async move {
                    let _end = end;
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                if let Some(notice) = parse(n.payload()) {
                                    // No receiver yet is fine: nothing is open.
                                    let _ = forward.send(notice);
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "LISTEN connection failed");
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        tracing::debug!("listening for other relays' commits");
                        reach.listening.store(true, Ordering::Relaxed);
                        reach.reached();
                        let _ = notices.send(Notice::Resync);
                        loop {
                            tokio::select! {
                                _ = &mut ended => break,
                                _ = tokio::time::sleep(HEARTBEAT) => {
                                    let alive = tokio::time::timeout(HEARTBEAT, client.batch_execute("")).await;
                                    if !matches!(alive, Ok(Ok(()))) {
                                        tracing::warn!("LISTEN connection does not answer; reconnecting");
                                        break;
                                    }
                                    reach.reached();
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                }
                reach.listening.store(false, Ordering::Relaxed);
                driver.abort();
            }
            Err(e) => tracing::debug!(error = %e, "cannot connect the LISTEN connection"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        match parse(&payload("a/b:c", ServerSeq(42))) {
            Some(Notice::Head { doc_id, head }) => {
                assert_eq!(&*doc_id, "a/b:c");
                assert_eq!(head, ServerSeq(42));
            }
            other => panic!("parsed {other:?}"),
        }
        assert!(parse("x y").is_none());
        assert!(parse("12").is_none());
    }
}
