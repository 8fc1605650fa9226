//! `operator-key rotate`: replacing the operator's root key (the ACME key change, RFC 8555 §7.3.5). The
//! request is signed by the current key and carries a key-change message signed by the new one; the new
//! key is kept in `keys/operator.key.new` (0600) until the server has accepted it, then replaces
//! `keys/operator.key` by one rename, and `operator.json` gets its thumbprint.

use auth4agent_api::operators::{ChangeOperatorKey, Operator};
use auth4agent_api::routes::{self, Method};
use auth4agent_protocol::{KeyChangeClaims, UnixTime, sign_key_change};
use serde::Serialize;

use super::Context;
use super::init::generate_key;
use crate::cli::OperatorKeyCommand;
use crate::error::{CliError, Exit, Result};
use crate::home::Role;
use crate::output::Report;

/// What `operator-key rotate --json` prints.
#[derive(Serialize)]
struct Rotated {
    operator: Operator,
    /// Thumbprint of the operator's key from now on.
    thumbprint: String,
    previous_thumbprint: String,
}

pub fn run(ctx: &Context, cmd: OperatorKeyCommand) -> Result<Report> {
    match cmd {
        OperatorKeyCommand::Rotate => rotate(ctx),
    }
}

fn rotate(ctx: &Context) -> Result<Report> {
    let session = ctx.operator_session("operator-key rotate")?;
    let operator_id = session.operator_id()?;
    let new_key = generate_key()?;
    let now = UnixTime::from_secs(crate::clock::now());
    let claims = KeyChangeClaims::new(
        &operator_id,
        &session.key.public_key(),
        &session.issuer,
        now,
    );
    let body = ChangeOperatorKey {
        public_key: new_key.public_key().to_jwk(),
        key_change: sign_key_change(&new_key, &claims).map_err(|e| CliError::protocol(&e))?,
    };
    // Saved before it is sent: should the answer be lost after the server switched, the key survives.
    ctx.home.save_pending_key(Role::Operator, &new_key)?;
    let answer: Operator = match session.client.signed_json(
        Method::Post,
        &routes::operator_key(&operator_id),
        &body,
        &session.signer(),
    ) {
        Ok(answer) => answer,
        // No answer: the outcome is unknown, so the new key stays where it is.
        Err(err) if err.exit == Exit::Network => {
            return Err(err.with_hint(format!(
                "the server may or may not have switched; the new key is kept in '{}': if the old key is refused, move it over '{}' and set its thumbprint in operator.json",
                ctx.home.pending_key_path(Role::Operator).display(),
                ctx.home.key_path(Role::Operator).display()
            )));
        }
        Err(err) => {
            ctx.home.discard_pending_key(Role::Operator);
            return Err(err);
        }
    };
    let previous_thumbprint = session.identity.thumbprint.clone();
    let thumbprint = new_key.public_key().thumbprint();
    ctx.home.commit_pending_key(Role::Operator)?;
    let mut identity = session.identity.clone();
    identity.thumbprint = thumbprint.clone();
    ctx.home.save_operator(&identity)?;
    let human = format!(
        "Operator {operator_id}: the root key is now {thumbprint} (was {previous_thumbprint}); the old key is refused from now on."
    );
    Ok(Report::body(
        &Rotated {
            operator: answer,
            thumbprint,
            previous_thumbprint,
        },
        human,
    ))
}
