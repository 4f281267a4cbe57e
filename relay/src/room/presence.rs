//! Presence in a room: each member's latest selections and data, fanned
//! out to the members that asked for it, at most once per
//! `--presence-interval-ms` per sender (the latest wins in between), removed
//! for everyone when the member's connection ends or its TTL passes.
//! Nothing here is numbered, logged or stored. The room keeps no timers:
//! the sender's connection calls back when a coalesced update is due and
//! when its TTL ends ([`Room::flush_presence`], [`Room::expire_presence`]).

use collab_crdt::sync::{Presence, PresenceRemoved, PresenceUpdate, ServerMessage};
use tokio::time::Instant;

use super::{ConnId, Room, RoomState};
use crate::member::{Frame, Member};

impl Room {
    /// Keeps `presence` as `conn`'s latest and fans it out now, or, within
    /// the interval since the last fan-out, later: then it returns when
    /// the connection must call [`Room::flush_presence`].
    pub fn set_presence(&self, conn: ConnId, presence: Presence, now: Instant) -> Option<Instant> {
        let interval = self.cx.config.presence_interval();
        let mut state = self.lock();
        let member = state.members.get_mut(&conn)?;
        self.cx.metrics.presence_received.inc();
        let frame = Frame::new(
            ServerMessage::Presence(PresenceUpdate {
                replica_id: member.replica_id,
                sub: member.sub.clone(),
                selections: presence.selections,
                data: presence.data,
            })
            .to_json(),
        );
        member.presence.frame = Some(frame);
        match member.presence.sent_at {
            Some(at) if now < at + interval => {
                member.presence.pending = true;
                Some(at + interval)
            }
            _ => {
                self.fan_out_presence(&mut state, conn, now);
                None
            }
        }
    }

    /// Fans out `conn`'s coalesced presence, if an update is still unsent.
    pub fn flush_presence(&self, conn: ConnId, now: Instant) {
        let mut state = self.lock();
        if state.members.get(&conn).is_some_and(|m| m.presence.pending) {
            self.fan_out_presence(&mut state, conn, now);
        }
    }

    /// `conn` sent no presence within the TTL: it is removed for everyone.
    pub fn expire_presence(&self, conn: ConnId) {
        let mut state = self.lock();
        if let Some(member) = state.members.get_mut(&conn) {
            let had = member.presence.frame.take().is_some();
            member.presence.pending = false;
            let replica_id = member.replica_id;
            if had {
                self.announce(&state, conn, replica_id, removed(replica_id));
            }
        }
    }

    fn fan_out_presence(&self, state: &mut RoomState, conn: ConnId, now: Instant) {
        let Some(member) = state.members.get_mut(&conn) else {
            return;
        };
        member.presence.pending = false;
        member.presence.sent_at = Some(now);
        let replica_id = member.replica_id;
        if let Some(frame) = member.presence.frame.clone() {
            self.announce(state, conn, replica_id, frame);
        }
    }

    /// Hands `frame`, about `replica_id`, to every other member that
    /// asked for presence.
    fn announce(&self, state: &RoomState, from: ConnId, replica_id: u64, frame: Frame) {
        let mut queued = 0;
        for (&id, member) in &state.members {
            if id != from && member.wants_presence {
                member.inbox.put(replica_id, frame.clone());
                queued += 1;
            }
        }
        self.cx.metrics.presence_queued.inc_by(queued);
    }

    /// Takes a member out of the room; its presence, if it had one, is
    /// removed for everyone else.
    pub(super) fn remove_member(&self, state: &mut RoomState, conn: ConnId) -> Option<Member> {
        let member = state.members.remove(&conn)?;
        if member.presence.frame.is_some() {
            self.announce(state, conn, member.replica_id, removed(member.replica_id));
        }
        Some(member)
    }

    /// Gives a joining member everyone's current presence; its writer sends
    /// it right after the catch-up.
    pub(super) fn greet(state: &RoomState, joining: &Member) {
        if !joining.wants_presence {
            return;
        }
        for member in state.members.values() {
            if let Some(frame) = &member.presence.frame {
                joining.inbox.put(member.replica_id, frame.clone());
            }
        }
    }
}

fn removed(replica_id: u64) -> Frame {
    Frame::new(ServerMessage::PresenceRemoved(PresenceRemoved { replica_id }).to_json())
}
