//! The session's side of presence (`docs/protocol.md` §5a), with the
//! `presence` feature: this replica's presence, sent when it changes and
//! on every connection, and the others', kept as anchors and resolved
//! against this replica whenever asked.

use alloc::string::String;
use alloc::vec::Vec;

use super::{ClientSession, Event, Status};
use crate::anchor::Selection;
use crate::error::Error;
use crate::sync::message::{ClientMessage, JsonObject, Presence, PresenceUpdate};

/// Another member's presence as the session keeps it: anchors, resolved
/// against this replica whenever asked ([`ClientSession::resolve`]), so
/// that they follow every edit, this replica's unacknowledged ones too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePresence {
    /// The member's token subject, once the relay checks tokens.
    pub sub: Option<String>,
    pub selections: Vec<Selection>,
    pub data: Option<JsonObject>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct State {
    /// This replica's presence as last set, sent again on every connection.
    own: Option<Presence>,
    /// Set when `own` changed (or must be refreshed) and is unsent.
    dirty: bool,
    /// The other members' presence, by replica, in the order they came
    /// (a handful: a `Vec`, not a map); emptied when the connection ends,
    /// as the relay sends it all again after the next catch-up.
    pub(super) others: Vec<(u64, RemotePresence)>,
}

impl State {
    /// A new connection: the relay forgot this replica's presence.
    pub(super) fn connected(&mut self) {
        self.dirty = self.own.is_some();
    }
}

impl ClientSession {
    /// Sets this replica's presence: its selections as `(anchor, head)`
    /// character positions (equal for a caret), kept as anchors, and the
    /// application's data. Sent by [`ClientSession::poll_send`] once
    /// connected, and again on every new connection.
    pub fn set_presence(
        &mut self,
        selections: &[(usize, usize)],
        data: Option<JsonObject>,
    ) -> Result<(), Error> {
        let selections = selections
            .iter()
            .map(|&(anchor, head)| Selection::new(&self.doc, anchor, head))
            .collect::<Result<Vec<_>, _>>()?;
        let presence = Presence { selections, data };
        if self.presence.own.as_ref() != Some(&presence) {
            self.presence.own = Some(presence);
            self.presence.dirty = true;
        }
        Ok(())
    }

    /// Sends the presence again even if unchanged: the relay forgets a
    /// presence that is not refreshed within its TTL (`docs/protocol.md`).
    pub fn refresh_presence(&mut self) {
        self.presence.dirty = self.presence.own.is_some();
    }

    /// The other members' presence, by replica id, in the order they
    /// first came.
    pub fn others(&self) -> &[(u64, RemotePresence)] {
        &self.presence.others
    }

    /// One member's presence.
    pub fn presence_of(&self, replica_id: u64) -> Option<&RemotePresence> {
        self.presence
            .others
            .iter()
            .find(|(id, _)| *id == replica_id)
            .map(|(_, p)| p)
    }

    /// A selection's `(anchor, head)` positions in this replica's text;
    /// `None` while it names a character this replica has not integrated
    /// yet (ask again after the next remote operation).
    pub fn resolve(&self, selection: &Selection) -> Option<(usize, usize)> {
        selection.resolve(&self.doc).ok()
    }

    /// The `presence` message to send, if one is due: after the edits it
    /// may name characters of (the caller sends those first), and once
    /// `hello_ack` came, as the relay takes nothing before `hello`.
    pub(super) fn poll_presence(&mut self) -> Option<ClientMessage> {
        if !self.presence.dirty || !matches!(self.status, Status::Syncing | Status::Live) {
            return None;
        }
        self.presence.dirty = false;
        self.presence.own.clone().map(ClientMessage::Presence)
    }

    pub(super) fn on_presence(&mut self, update: PresenceUpdate) -> Event {
        let replica_id = update.replica_id;
        // The relay never sends a member its own presence; a stale one of
        // this replica (an older connection) is not someone else.
        if replica_id != self.doc.replica_id() {
            let presence = RemotePresence {
                sub: update.sub,
                selections: update.selections,
                data: update.data,
            };
            match self
                .presence
                .others
                .iter_mut()
                .find(|(id, _)| *id == replica_id)
            {
                Some((_, kept)) => *kept = presence,
                None => self.presence.others.push((replica_id, presence)),
            }
        }
        Event::Presence {
            replica_id,
            removed: false,
        }
    }

    pub(super) fn on_presence_removed(&mut self, replica_id: u64) -> Event {
        self.presence.others.retain(|(id, _)| *id != replica_id);
        Event::Presence {
            replica_id,
            removed: true,
        }
    }
}
