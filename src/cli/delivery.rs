//! `lienthong delivery list|show|retry|park`: the operator's view of the push outbox, straight
//! on the database (docs/DELIVERY.md).

use std::io::{self, Write as _};

use lienthong::delivery::outbox::{self, Action, PushView, Viewer};
use lienthong::store::pushes::PushState;
use lienthong::store::{Store, StoreError};

use super::Failure;

fn fail(e: StoreError) -> Failure {
    Failure::new(e.code(), e.to_string())
}

/// Parses `--state`.
pub fn state(text: &str) -> Result<PushState, Failure> {
    PushState::parse(text).ok_or_else(|| {
        Failure::usage(format!(
            "--state {text}: must be one of {}",
            PushState::ALL.map(PushState::as_str).join(", ")
        ))
    })
}

/// Prints the pushes in `state` (of `agency`, sent or received, when given), every page.
pub async fn list(
    store: &Store,
    state: PushState,
    agency: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let viewer = agency.map_or(Viewer::Operator, Viewer::Agency);
    let mut after = 0;
    let mut all: Vec<PushView> = Vec::new();
    loop {
        let page = outbox::list(store, viewer, state, after, outbox::MAX_PAGE)
            .await
            .map_err(fail)?;
        let Some(last) = page.last() else { break };
        after = last.delivery;
        let full = page.len() == outbox::MAX_PAGE as usize;
        all.extend(page);
        if !full {
            break;
        }
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = if json {
        serde_json::to_writer_pretty(&mut out, &all)
            .map_err(io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        table(&mut out, &all, state)
    };
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure::new("cli.io", format!("cannot write: {e}")))
        }
        _ => Ok(()),
    }
}

fn table(out: &mut impl io::Write, pushes: &[PushView], state: PushState) -> io::Result<()> {
    writeln!(
        out,
        "{:>9}  {:15}  {:15}  {:>8}  {:27}  WHY",
        "DELIVERY", "SENDER", "RECIPIENT", "ATTEMPTS", "NEXT/DONE"
    )?;
    for p in pushes {
        let when = p
            .next_attempt_at
            .as_deref()
            .or(p.done_at.as_deref())
            .unwrap_or("-");
        writeln!(
            out,
            "{:>9}  {:15}  {:15}  {:>8}  {:27}  {}",
            p.delivery,
            p.sender,
            p.recipient,
            p.attempts,
            when,
            p.last_error.as_deref().unwrap_or("")
        )?;
    }
    writeln!(out, "{} {} pushes", pushes.len(), state.as_str())
}

/// Prints one delivery's push as JSON.
pub async fn show(store: &Store, delivery: i64) -> Result<(), Failure> {
    let push = outbox::show(store, delivery)
        .await
        .map_err(fail)?
        .ok_or_else(|| no_push(delivery, "any push"))?;
    let text =
        serde_json::to_string_pretty(&push).map_err(|e| Failure::new("cli.io", e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Sends a parked or retrying push again now.
pub async fn retry(store: &Store, delivery: i64) -> Result<(), Failure> {
    match outbox::retry(store, delivery).await.map_err(fail)? {
        Action::Done => {
            println!("delivery {delivery}: push queued again, with a fresh retry window");
            Ok(())
        }
        Action::NotApplicable => Err(no_push(delivery, "a parked or retrying push")),
    }
}

/// Parks a push still to be made.
pub async fn park(store: &Store, delivery: i64, reason: &str) -> Result<(), Failure> {
    match outbox::park(store, delivery, reason).await.map_err(fail)? {
        Action::Done => {
            println!("delivery {delivery}: push parked (the letter waits in the pull inbox)");
            Ok(())
        }
        Action::NotApplicable => Err(no_push(delivery, "a pending or retrying push")),
    }
}

fn no_push(delivery: i64, what: &str) -> Failure {
    Failure::new(
        "delivery.not_found",
        format!("delivery {delivery} has no {what} (`lienthong delivery show {delivery}` shows where it stands)"),
    )
}
