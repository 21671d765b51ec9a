//! Protocol interaction property test (RELIABILITY A2): three devices randomly
//! send Olm to-device messages and Megolm conversation messages while the
//! "network" delays, shuffles, drops and duplicates them, the server replays
//! ciphertexts under new ids, the clock moves (rotations) and devices restart
//! from their encrypted saved state. Every delivered message must decrypt to
//! its exact plaintext, duplicates and replays must be rejected (Olm) or
//! flagged (Megolm re-reads), and a final round must succeed for every pair.
//!
//! CI runs 32 cases of 200 steps so the test takes seconds in a debug build.
//! A nightly run can raise both: `PROPTEST_CASES=256 ZYNK_INTERACTION_STEPS=10000`.
//!
//! Olm keeps at most 40 skipped message keys and 5 receiving chains per
//! session, so the simulated network reorders within a bounded window: a
//! message in flight is delivered (or dropped) before its sender sends
//! `MAX_REORDER` more on the same channel. Megolm messages reorder freely.

mod common;

use std::collections::{HashMap, HashSet};

use common::{Directory, FAST_KDF, TestUser, me};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;
use zynk_sdk::crypto::{
    CryptoError, CryptoMachine, EncryptedRoomMessage, EncryptedToDevice, GroupError,
    OutgoingToDevice, RoomEventContent, RotationPolicy, ToDeviceEvent,
};

const DEVICES: usize = 3;
const CONVERSATION: &str = "conversation";
const MAX_REORDER: u64 = 3;

#[derive(Clone, Debug)]
enum Action {
    SendOlm { from: usize, offset: usize },
    SendGroup { from: usize },
    Deliver(Index),
    Drop(Index),
    DuplicateOlm(Index),
    DuplicateGroup(Index),
    ReplayGroupUnderNewId(Index),
    Tick(u64),
    Restart(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..DEVICES, 1..DEVICES).prop_map(|(from, offset)| Action::SendOlm { from, offset }),
        3 => (0..DEVICES).prop_map(|from| Action::SendGroup { from }),
        8 => any::<Index>().prop_map(Action::Deliver),
        1 => any::<Index>().prop_map(Action::Drop),
        1 => any::<Index>().prop_map(Action::DuplicateOlm),
        1 => any::<Index>().prop_map(Action::DuplicateGroup),
        1 => any::<Index>().prop_map(Action::ReplayGroupUnderNewId),
        1 => (0..400u64).prop_map(Action::Tick),
        1 => (0..DEVICES).prop_map(Action::Restart),
    ]
}

#[derive(Clone, Debug)]
enum OlmExpect {
    Ping(u64),
    RoomKey(String),
}

#[derive(Clone, Debug)]
struct OlmFlight {
    from: usize,
    to: usize,
    seq: u64,
    envelope: EncryptedToDevice,
    expect: OlmExpect,
}

#[derive(Clone, Debug)]
struct GroupFlight {
    from: usize,
    to: usize,
    message_id: String,
    envelope: EncryptedRoomMessage,
    body: String,
}

struct World {
    machines: Vec<CryptoMachine>,
    directory: Directory,
    olm: Vec<OlmFlight>,
    sent: HashMap<(usize, usize), u64>,
    group: Vec<GroupFlight>,
    parked: Vec<GroupFlight>,
    olm_delivered: Vec<OlmFlight>,
    group_delivered: Vec<GroupFlight>,
    dropped_keys: HashSet<(usize, String)>,
    now: u64,
    counter: u64,
}

impl World {
    fn new() -> Self {
        let mut directory = Directory::default();
        let mut machines: Vec<CryptoMachine> = ["alice", "bob", "carol"]
            .iter()
            .enumerate()
            .map(|(i, user)| TestUser::new(user).device(&format!("D{i}")))
            .collect();
        for machine in &mut machines {
            machine.set_rotation_policy(RotationPolicy {
                max_messages: 7,
                max_age_ms: 1_000,
            });
            directory.register(machine);
        }
        for machine in &mut machines {
            directory.sync_all(machine);
        }
        Self {
            machines,
            directory,
            olm: Vec::new(),
            sent: HashMap::new(),
            group: Vec::new(),
            parked: Vec::new(),
            olm_delivered: Vec::new(),
            group_delivered: Vec::new(),
            dropped_keys: HashSet::new(),
            now: 0,
            counter: 0,
        }
    }

    fn participants(&self) -> Vec<zynk_sdk::crypto::DeviceRef> {
        self.machines.iter().map(me).collect()
    }

    fn ensure_session(&mut self, from: usize, to: usize) {
        let target = me(&self.machines[to]);
        if !self.machines[from].has_olm_session(&target) {
            let key = self.directory.claim(&target).expect("keys to claim");
            self.machines[from]
                .create_outbound_session(&target, &key)
                .unwrap();
            self.directory.replenish(&mut self.machines[to]);
        }
    }

    fn send_olm(&mut self, from: usize, to: usize) {
        self.ensure_session(from, to);
        self.counter += 1;
        let n = self.counter;
        let event = OutgoingToDevice::Custom {
            event_type: "ping".into(),
            content: json!({ "n": n }),
        };
        let target = me(&self.machines[to]);
        let envelope = self.machines[from]
            .encrypt_to_device(&target, event)
            .unwrap();
        self.push_olm(from, to, envelope, OlmExpect::Ping(n));
    }

    /// Queue an Olm message, then deliver whatever became too old to reorder.
    fn push_olm(&mut self, from: usize, to: usize, envelope: EncryptedToDevice, expect: OlmExpect) {
        let sent = self.sent.entry((from, to)).or_insert(0);
        let seq = *sent;
        *sent += 1;
        self.olm.push(OlmFlight {
            from,
            to,
            seq,
            envelope,
            expect,
        });
        while let Some(position) = self
            .olm
            .iter()
            .enumerate()
            .filter(|(_, f)| f.from == from && f.to == to && f.seq + MAX_REORDER < seq + 1)
            .min_by_key(|(_, f)| f.seq)
            .map(|(i, _)| i)
        {
            let flight = self.olm.remove(position);
            self.deliver_olm(flight);
        }
    }

    fn send_group(&mut self, from: usize) {
        let participants = self.participants();
        let mut share = self.machines[from]
            .share_room_key(CONVERSATION, &participants, self.now)
            .unwrap();
        if !share.missing_sessions.is_empty() {
            for device in &share.missing_sessions {
                let to = self.index_of(device);
                self.ensure_session(from, to);
            }
            let second = self.machines[from]
                .share_room_key(CONVERSATION, &participants, self.now)
                .unwrap();
            assert!(second.missing_sessions.is_empty());
            share.messages.extend(second.messages);
        }
        for message in share.messages {
            let to = self.index_of(&message.recipient);
            self.push_olm(
                from,
                to,
                message.envelope,
                OlmExpect::RoomKey(share.session_id.clone()),
            );
        }
        self.counter += 1;
        let message_id = format!("m{}", self.counter);
        let body = format!("body {} from {from}", self.counter);
        let envelope = self.machines[from]
            .encrypt_room_event(
                CONVERSATION,
                &message_id,
                RoomEventContent::text(&body),
                self.now,
            )
            .unwrap();
        for to in (0..DEVICES).filter(|&to| to != from) {
            self.group.push(GroupFlight {
                from,
                to,
                message_id: message_id.clone(),
                envelope: envelope.clone(),
                body: body.clone(),
            });
        }
    }

    fn index_of(&self, device: &zynk_sdk::crypto::DeviceRef) -> usize {
        self.machines
            .iter()
            .position(|m| me(m) == *device)
            .expect("known device")
    }

    fn deliver_olm(&mut self, flight: OlmFlight) {
        let decrypted = self.machines[flight.to]
            .decrypt_to_device(&flight.envelope)
            .unwrap_or_else(|e| panic!("Olm {flight:?} failed: {e}"));
        assert_eq!(decrypted.sender, me(&self.machines[flight.from]));
        match (&flight.expect, &decrypted.event) {
            (
                OlmExpect::Ping(n),
                ToDeviceEvent::Custom {
                    event_type,
                    content,
                },
            ) => {
                assert_eq!(event_type, "ping");
                assert_eq!(content, &json!({ "n": n }));
            }
            (OlmExpect::RoomKey(session_id), ToDeviceEvent::RoomKey(info)) => {
                assert_eq!(&info.session_id, session_id);
                let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
                    .into_iter()
                    .partition(|g| g.to == flight.to && &g.envelope.session_id == session_id);
                self.parked = waiting;
                for parked in ready {
                    self.deliver_group(parked);
                }
            }
            (expect, event) => panic!("expected {expect:?}, got {event:?}"),
        }
        self.olm_delivered.push(flight);
    }

    fn deliver_group(&mut self, flight: GroupFlight) {
        let result = self.machines[flight.to].decrypt_room_event(
            CONVERSATION,
            &flight.message_id,
            &flight.envelope,
        );
        match result {
            Ok(decrypted) => {
                assert_eq!(
                    decrypted.event.content.body.as_deref(),
                    Some(flight.body.as_str())
                );
                assert_eq!(decrypted.event.message_id, flight.message_id);
                assert_eq!(decrypted.sender, me(&self.machines[flight.from]));
                assert!(!decrypted.repeat, "first delivery flagged as repeat");
                self.group_delivered.push(flight);
            }
            Err(GroupError::UnknownSession { .. }) => self.parked.push(flight),
            Err(other) => panic!("group message {flight:?} failed: {other}"),
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::SendOlm { from, offset } => self.send_olm(from, (from + offset) % DEVICES),
            Action::SendGroup { from } => self.send_group(from),
            Action::Deliver(index) => {
                let total = self.olm.len() + self.group.len();
                if total == 0 {
                    return;
                }
                let pick = index.index(total);
                if pick < self.olm.len() {
                    let flight = self.olm.remove(pick);
                    self.deliver_olm(flight);
                } else {
                    let flight = self.group.remove(pick - self.olm.len());
                    self.deliver_group(flight);
                }
            }
            Action::Drop(index) => {
                let total = self.olm.len() + self.group.len();
                if total == 0 {
                    return;
                }
                let pick = index.index(total);
                if pick < self.olm.len() {
                    let flight = self.olm.remove(pick);
                    if let OlmExpect::RoomKey(session_id) = flight.expect {
                        self.dropped_keys.insert((flight.to, session_id));
                    }
                } else {
                    self.group.remove(pick - self.olm.len());
                }
            }
            Action::DuplicateOlm(index) => {
                if self.olm_delivered.is_empty() {
                    return;
                }
                let flight = self.olm_delivered[index.index(self.olm_delivered.len())].clone();
                let result = self.machines[flight.to].decrypt_to_device(&flight.envelope);
                assert!(
                    matches!(result, Err(CryptoError::Olm(_))),
                    "duplicate Olm message accepted: {result:?}"
                );
            }
            Action::DuplicateGroup(index) => {
                if self.group_delivered.is_empty() {
                    return;
                }
                let flight = self.group_delivered[index.index(self.group_delivered.len())].clone();
                let decrypted = self.machines[flight.to]
                    .decrypt_room_event(CONVERSATION, &flight.message_id, &flight.envelope)
                    .unwrap();
                assert!(decrypted.repeat, "duplicate not flagged");
                assert_eq!(
                    decrypted.event.content.body.as_deref(),
                    Some(flight.body.as_str())
                );
            }
            Action::ReplayGroupUnderNewId(index) => {
                if self.group_delivered.is_empty() {
                    return;
                }
                let flight = self.group_delivered[index.index(self.group_delivered.len())].clone();
                let result = self.machines[flight.to].decrypt_room_event(
                    CONVERSATION,
                    "replayed-id",
                    &flight.envelope,
                );
                assert_eq!(
                    result.unwrap_err(),
                    GroupError::BindingMismatch("message_id")
                );
            }
            Action::Tick(ms) => self.now += ms,
            Action::Restart(device) => {
                let bytes = self.machines[device]
                    .save_with_params("pass", FAST_KDF)
                    .unwrap();
                self.machines[device] = CryptoMachine::load(&bytes, "pass").unwrap();
            }
        }
    }

    /// Deliver everything still in flight, then check what stays parked is
    /// exactly what lost its room key.
    fn flush(&mut self) {
        self.olm.sort_by_key(|f| f.seq);
        while !self.olm.is_empty() {
            let flight = self.olm.remove(0);
            self.deliver_olm(flight);
        }
        for flight in std::mem::take(&mut self.group) {
            self.deliver_group(flight);
        }
        for flight in std::mem::take(&mut self.parked) {
            assert!(
                self.dropped_keys
                    .contains(&(flight.to, flight.envelope.session_id.clone())),
                "message parked although its key was delivered: {flight:?}"
            );
        }
    }

    /// A last round: every ordered pair exchanges an Olm message and every
    /// device sends to the group with a fresh key; all must decrypt.
    fn final_round(&mut self) {
        for from in 0..DEVICES {
            for offset in 1..DEVICES {
                self.send_olm(from, (from + offset) % DEVICES);
            }
        }
        self.flush();
        for from in 0..DEVICES {
            self.machines[from].discard_outbound_group_session(CONVERSATION);
            self.send_group(from);
            self.flush();
        }
        assert!(self.parked.is_empty());
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn steps() -> usize {
    std::env::var("ZYNK_INTERACTION_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn devices_interact_under_loss_reordering_and_replay(
        actions in proptest::collection::vec(action(), steps())
    ) {
        let mut world = World::new();
        for action in actions {
            world.apply(action);
        }
        world.flush();
        world.final_round();
    }
}
