//! The state of one document at one recipient, and the only ways it may change.
//!
//! Profile (spec/edxml.md §2): for a document the order is 01 → (02 | 03) → 04 → 05 → 06. A
//! status may skip forward — many document systems never send 01, some send only 03 or 06 — so
//! 02/03 straight after delivery imply 01 and 04/05 may be skipped; the jump is recorded as the
//! status that was sent, never filled in with statuses nobody sent. 02 and 06 are final; a
//! status that goes backwards is refused (02 after 03 included: a registered document cannot be
//! refused); the same status twice is idempotent. On top of that the sender may ask to take the document back
//! (13), and the recipient answers a take-back or an update with 15 (agree) or 16 (refuse).
//! Everything here is pure: the exchange loads a state, asks [`RecipientState::apply`], and
//! stores what comes back in the same transaction as the status packet.

use std::fmt;

use crate::edxml::StatusCode;

/// How far the recipient has got with the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Handling {
    /// Accepted by the exchange, waiting in the recipient's inbox.
    Submitted,
    /// Taken by the recipient's system (pull acknowledged or push delivered).
    Delivered,
    /// 01: arrived at the recipient's system.
    Arrived,
    /// 02: refused (final).
    Refused,
    /// 03: accepted and registered.
    Accepted,
    /// 04: assigned for handling.
    Assigned,
    /// 05: being handled.
    Processing,
    /// 06: handling completed (final).
    Done,
    /// The recipient agreed (15) to the sender's take-back (final).
    Withdrawn,
}

/// A request from the sender that the recipient has not answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingChange {
    /// 13: the sender asks to take the document back.
    TakeBack,
    /// An update (BussinessDocType 2) of the document was sent.
    Update,
}

/// The state of one (document, recipient) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientState {
    pub handling: Handling,
    pub pending: Option<PendingChange>,
}

/// Who sent a status packet, relative to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The agency that sent the document.
    Sender,
    /// An agency in the document's To list.
    Recipient,
}

/// What applying a status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The state changed to this.
    Changed(RecipientState),
    /// The status repeats the current state: accepted, nothing changes.
    Repeated,
}

/// Why a status was refused; each is answered with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("status {code} may only be sent by the document's {expected}")]
    WrongActor {
        code: &'static str,
        expected: &'static str,
    },
    #[error("status {code} cannot follow the current state {state}: {reason}")]
    OutOfOrder {
        code: &'static str,
        state: String,
        reason: &'static str,
    },
    #[error("the document is already final at this recipient ({state}); status {code} is refused")]
    Final { code: &'static str, state: String },
    #[error("status {code} answers a take-back or an update, but none is pending")]
    NothingToAnswer { code: &'static str },
}

impl StateError {
    /// Stable error code, listed in docs/ERRORS.md.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::WrongActor { .. } => "exchange.status_not_allowed",
            StateError::OutOfOrder { .. } | StateError::NothingToAnswer { .. } => {
                "exchange.status_order"
            }
            StateError::Final { .. } => "exchange.status_final",
        }
    }
}

impl Handling {
    fn is_final(self) -> bool {
        matches!(
            self,
            Handling::Refused | Handling::Done | Handling::Withdrawn
        )
    }

    /// The handling a status 01–06 leads to.
    fn of(code: StatusCode) -> Option<Handling> {
        Some(match code {
            StatusCode::Inbox => Handling::Arrived,
            StatusCode::Rejection => Handling::Refused,
            StatusCode::Acceptance => Handling::Accepted,
            StatusCode::Assignment => Handling::Assigned,
            StatusCode::Processing => Handling::Processing,
            StatusCode::Finish => Handling::Done,
            _ => return None,
        })
    }

    /// Whether a recipient's status may move the document from `self` to `target`: any step
    /// forward, skipping what lies between, except that only a document not yet registered
    /// (at most 01) may be refused. Final states are handled before this is asked.
    fn may_precede(self, target: Handling) -> bool {
        use Handling::*;
        match target {
            Refused => self <= Arrived,
            Arrived | Accepted | Assigned | Processing | Done => self < target,
            Submitted | Delivered | Withdrawn => false,
        }
    }

    /// Stored form (the `recipient_states.state` column, before any pending change).
    pub fn as_str(self) -> &'static str {
        match self {
            Handling::Submitted => "submitted",
            Handling::Delivered => "delivered",
            Handling::Arrived => "01",
            Handling::Refused => "02",
            Handling::Accepted => "03",
            Handling::Assigned => "04",
            Handling::Processing => "05",
            Handling::Done => "06",
            Handling::Withdrawn => "withdrawn",
        }
    }

    fn parse(s: &str) -> Option<Handling> {
        use Handling::*;
        [
            Submitted, Delivered, Arrived, Refused, Accepted, Assigned, Processing, Done, Withdrawn,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
    }
}

impl RecipientState {
    /// A document just accepted by the exchange.
    pub const NEW: RecipientState = RecipientState {
        handling: Handling::Submitted,
        pending: None,
    };

    /// The recipient's system has taken the document (pull ack, or push answered 2xx).
    /// Only moves a submitted document forward; a later state already implies delivery.
    pub fn delivered(self) -> RecipientState {
        match self.handling {
            Handling::Submitted => RecipientState {
                handling: Handling::Delivered,
                ..self
            },
            _ => self,
        }
    }

    /// The sender sent an update (BussinessDocType 2) of the document: the recipient owes an answer.
    pub fn update_requested(self) -> RecipientState {
        RecipientState {
            pending: Some(PendingChange::Update),
            ..self
        }
    }

    /// Applies a status packet about this document from `actor`.
    pub fn apply(self, actor: Actor, code: StatusCode) -> Result<Transition, StateError> {
        match code {
            StatusCode::Cancellation => self.take_back(actor),
            StatusCode::ChangeAcceptance | StatusCode::ChangeRejection => {
                self.answer_change(actor, code)
            }
            _ => self.advance(actor, code),
        }
    }

    fn advance(self, actor: Actor, code: StatusCode) -> Result<Transition, StateError> {
        let name = code.as_str();
        if actor != Actor::Recipient {
            return Err(StateError::WrongActor {
                code: name,
                expected: "recipients",
            });
        }
        let target = Handling::of(code).ok_or(StateError::NothingToAnswer { code: name })?;
        if self.handling == target {
            return Ok(Transition::Repeated);
        }
        if self.handling.is_final() {
            return Err(StateError::Final {
                code: name,
                state: self.to_string(),
            });
        }
        if !self.handling.may_precede(target) {
            return Err(StateError::OutOfOrder {
                code: name,
                state: self.to_string(),
                reason: "statuses may not go backwards (a registered document cannot be refused)",
            });
        }
        Ok(Transition::Changed(RecipientState {
            handling: target,
            ..self
        }))
    }

    fn take_back(self, actor: Actor) -> Result<Transition, StateError> {
        let name = StatusCode::Cancellation.as_str();
        if actor != Actor::Sender {
            return Err(StateError::WrongActor {
                code: name,
                expected: "sender",
            });
        }
        match self.pending {
            Some(PendingChange::TakeBack) => Ok(Transition::Repeated),
            Some(PendingChange::Update) => Err(StateError::OutOfOrder {
                code: name,
                state: self.to_string(),
                reason: "the recipient has not answered the update yet",
            }),
            None if self.handling == Handling::Withdrawn => Ok(Transition::Repeated),
            None if self.handling.is_final() && self.handling != Handling::Done => {
                Err(StateError::Final {
                    code: name,
                    state: self.to_string(),
                })
            }
            None => Ok(Transition::Changed(RecipientState {
                pending: Some(PendingChange::TakeBack),
                ..self
            })),
        }
    }

    fn answer_change(self, actor: Actor, code: StatusCode) -> Result<Transition, StateError> {
        let name = code.as_str();
        if actor != Actor::Recipient {
            return Err(StateError::WrongActor {
                code: name,
                expected: "recipients",
            });
        }
        let pending = self
            .pending
            .ok_or(StateError::NothingToAnswer { code: name })?;
        let agreed_take_back =
            code == StatusCode::ChangeAcceptance && pending == PendingChange::TakeBack;
        Ok(Transition::Changed(RecipientState {
            handling: if agreed_take_back {
                Handling::Withdrawn
            } else {
                self.handling
            },
            pending: None,
        }))
    }

    /// Parses the stored form written by [`fmt::Display`] (`"03"`, `"04;take_back"`).
    pub fn parse(s: &str) -> Option<RecipientState> {
        let (handling, pending) = match s.split_once(';') {
            Some((h, "take_back")) => (h, Some(PendingChange::TakeBack)),
            Some((h, "update")) => (h, Some(PendingChange::Update)),
            Some(_) => return None,
            None => (s, None),
        };
        Some(RecipientState {
            handling: Handling::parse(handling)?,
            pending,
        })
    }
}

impl fmt::Display for RecipientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.handling.as_str())?;
        match self.pending {
            Some(PendingChange::TakeBack) => f.write_str(";take_back"),
            Some(PendingChange::Update) => f.write_str(";update"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatusCode::*;

    fn run(codes: &[StatusCode]) -> Result<RecipientState, StateError> {
        let mut state = RecipientState::NEW.delivered();
        for &code in codes {
            if let Transition::Changed(next) = state.apply(Actor::Recipient, code)? {
                state = next;
            }
        }
        Ok(state)
    }

    #[test]
    fn the_profile_order_is_accepted_with_optional_steps_skipped() {
        assert_eq!(
            run(&[Inbox, Acceptance, Assignment, Processing, Finish])
                .unwrap()
                .handling,
            Handling::Done
        );
        assert_eq!(
            run(&[Inbox, Acceptance, Finish]).unwrap().handling,
            Handling::Done
        );
        assert_eq!(
            run(&[Inbox, Acceptance, Processing, Finish])
                .unwrap()
                .handling,
            Handling::Done
        );
        assert_eq!(
            run(&[Inbox, Rejection]).unwrap().handling,
            Handling::Refused
        );
        // 01 may come before the recipient's system acknowledged the pull.
        let arrived = RecipientState::NEW.apply(Actor::Recipient, Inbox).unwrap();
        assert!(matches!(arrived, Transition::Changed(s) if s.handling == Handling::Arrived));
    }

    #[test]
    fn a_status_may_skip_forward_without_01() {
        // Many document systems never send 01: 02 or 03 straight after delivery imply it.
        assert_eq!(run(&[Acceptance]).unwrap().handling, Handling::Accepted);
        assert_eq!(run(&[Rejection]).unwrap().handling, Handling::Refused);
        // Some send only 06, or 04 without 03.
        assert_eq!(run(&[Finish]).unwrap().handling, Handling::Done);
        assert_eq!(
            run(&[Inbox, Assignment]).unwrap().handling,
            Handling::Assigned
        );
        // Before the pull was even acknowledged.
        let accepted = RecipientState::NEW
            .apply(Actor::Recipient, Acceptance)
            .unwrap();
        assert!(matches!(accepted, Transition::Changed(s) if s.handling == Handling::Accepted));
    }

    #[test]
    fn repeats_are_idempotent() {
        let state = run(&[Inbox, Acceptance]).unwrap();
        assert_eq!(
            state.apply(Actor::Recipient, Acceptance),
            Ok(Transition::Repeated)
        );
        let done = run(&[Inbox, Acceptance, Finish]).unwrap();
        assert_eq!(
            done.apply(Actor::Recipient, Finish),
            Ok(Transition::Repeated)
        );
    }

    #[test]
    fn backwards_and_final_are_refused_with_their_codes() {
        let code = |codes: &[StatusCode]| run(codes).unwrap_err().code();
        assert_eq!(
            code(&[Inbox, Acceptance, Processing, Assignment]),
            "exchange.status_order"
        );
        assert_eq!(code(&[Inbox, Acceptance, Inbox]), "exchange.status_order");
        assert_eq!(code(&[Acceptance, Inbox]), "exchange.status_order");
        assert_eq!(code(&[Assignment, Acceptance]), "exchange.status_order");
        assert_eq!(code(&[Assignment, Rejection]), "exchange.status_order");
        assert_eq!(
            code(&[Inbox, Acceptance, Rejection]),
            "exchange.status_order"
        );
        assert_eq!(
            code(&[Inbox, Rejection, Acceptance]),
            "exchange.status_final"
        );
        assert_eq!(
            code(&[Inbox, Acceptance, Finish, Processing]),
            "exchange.status_final"
        );
    }

    #[test]
    fn only_the_right_party_may_send_each_status() {
        let state = run(&[Inbox]).unwrap();
        assert_eq!(
            state.apply(Actor::Sender, Acceptance).unwrap_err().code(),
            "exchange.status_not_allowed"
        );
        assert_eq!(
            state
                .apply(Actor::Recipient, Cancellation)
                .unwrap_err()
                .code(),
            "exchange.status_not_allowed"
        );
    }

    #[test]
    fn take_back_is_asked_by_the_sender_and_answered_by_the_recipient() {
        let state = run(&[Inbox, Acceptance]).unwrap();
        let Ok(Transition::Changed(asked)) = state.apply(Actor::Sender, Cancellation) else {
            panic!()
        };
        assert_eq!(asked.pending, Some(PendingChange::TakeBack));
        assert_eq!(
            asked.apply(Actor::Sender, Cancellation),
            Ok(Transition::Repeated)
        );
        let Ok(Transition::Changed(agreed)) = asked.apply(Actor::Recipient, ChangeAcceptance)
        else {
            panic!()
        };
        assert_eq!(
            agreed,
            RecipientState {
                handling: Handling::Withdrawn,
                pending: None
            }
        );
        let Ok(Transition::Changed(refused)) = asked.apply(Actor::Recipient, ChangeRejection)
        else {
            panic!()
        };
        assert_eq!(
            refused,
            RecipientState {
                handling: Handling::Accepted,
                pending: None
            }
        );
        assert_eq!(
            state
                .apply(Actor::Recipient, ChangeAcceptance)
                .unwrap_err()
                .code(),
            "exchange.status_order"
        );
        assert_eq!(
            agreed
                .apply(Actor::Recipient, Processing)
                .unwrap_err()
                .code(),
            "exchange.status_final"
        );
    }

    #[test]
    fn an_update_waits_for_an_answer_that_keeps_the_handling() {
        let state = run(&[Inbox, Acceptance, Assignment])
            .unwrap()
            .update_requested();
        assert_eq!(
            state.apply(Actor::Sender, Cancellation).unwrap_err().code(),
            "exchange.status_order"
        );
        let Ok(Transition::Changed(answered)) = state.apply(Actor::Recipient, ChangeAcceptance)
        else {
            panic!()
        };
        assert_eq!(
            answered,
            RecipientState {
                handling: Handling::Assigned,
                pending: None
            }
        );
    }

    #[test]
    fn the_stored_form_round_trips() {
        for s in [
            "submitted",
            "delivered",
            "01",
            "02",
            "03",
            "04",
            "05",
            "06",
            "withdrawn",
            "03;take_back",
            "04;update",
        ] {
            assert_eq!(RecipientState::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(RecipientState::parse("07"), None);
        assert_eq!(RecipientState::parse("03;later"), None);
    }
}
