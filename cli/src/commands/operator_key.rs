//! `operator-key rotate`: replacing the operator's root key (the ACME key change, RFC 8555 §7.3.5). The
//! request is signed by the current key and carries a key-change message signed by the new one; the new
//! key is kept in `keys/operator.key.new` (0600) until the server has accepted it, then replaces
//! `keys/operator.key` by one rename, and `operator.json` gets its thumbprint.
//!
//! `operator-key recover start | confirm`: an operator that lost its key proves its domain again over
//! DNS with a new key (spec §10.6), kept in `keys/operator.key.new` until the proof passes.

use auth4agent_api::operators::{
    ChangeOperatorKey, Operator, RecoverOperator, RecoveryInstructions,
};
use auth4agent_api::routes::{self, Method};
use auth4agent_protocol::{KeyChangeClaims, UnixTime, sign_key_change};
use serde::Serialize;

use super::init::generate_key;
use super::{Context, Saved};
use crate::cli::{OperatorKeyCommand, RecoverArgs, RecoverCommand};
use crate::client::Signer;
use crate::error::{CliError, Exit, Result};
use crate::home::OperatorIdentity;
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
        OperatorKeyCommand::Recover(RecoverCommand::Start(args)) => recover_start(ctx, &args),
        OperatorKeyCommand::Recover(RecoverCommand::Confirm(args)) => recover_confirm(ctx, &args),
    }
}

/// The operator id (flag, else operator.json), the server (flag, else operator.json) and the pinned issuer.
fn recovery_target(ctx: &Context, args: &RecoverArgs) -> Result<(String, String, Option<String>)> {
    let saved = ctx.home.try_operator()?;
    let id = match (
        args.operator_id.clone(),
        saved.as_ref().and_then(|s| s.id.clone()),
    ) {
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => {
            return Err(CliError::usage(
                "operator_id_required",
                "this home holds no registered operator; name the operator to recover",
            )
            .with_hint("pass --operator-id op_... (and --server URL)"));
        }
    };
    let server = ctx.server(saved.as_ref().map(|s| s.server.as_str()))?;
    let issuer = saved.and_then(|s| s.issuer);
    Ok((id, server, issuer))
}

fn recover_start(ctx: &Context, args: &RecoverArgs) -> Result<Report> {
    let (id, server, pinned) = recovery_target(ctx, args)?;
    let (client, issuer) = ctx.connect(&server, &Saved::new(&server, pinned.as_deref()))?;
    // Reused if present, so a started recovery survives a second `start` (its TXT value stays).
    let key = match ctx.home.load_pending_key(Role::Operator)? {
        Some(key) => key,
        None => {
            let key = generate_key()?;
            ctx.home.save_pending_key(Role::Operator, &key)?;
            key
        }
    };
    let body = RecoverOperator {
        public_key: key.public_key().to_jwk(),
    };
    let signer = Signer {
        key: &key,
        issuer: &issuer,
    };
    let answer: RecoveryInstructions = client.signed_json(
        Method::Post,
        &routes::for_operator(routes::OPERATOR_RECOVERY, &id),
        &body,
        &signer,
    )?;
    let human = format!(
        "Recovery of {id} with the new key {} started. Publish this DNS TXT record for {}:\n\n  {}  TXT  \"{}\"\n\nthen run: auth4agent operator-key recover confirm --operator-id {id} (before {}).",
        key.public_key().thumbprint(),
        answer.domain,
        answer.txt_record_name,
        answer.txt_record_value,
        crate::duration::format_instant(answer.expires_at, crate::clock::now()),
    );
    Ok(Report::body(&answer, human))
}

fn recover_confirm(ctx: &Context, args: &RecoverArgs) -> Result<Report> {
    let (id, server, pinned) = recovery_target(ctx, args)?;
    let Some(key) = ctx.home.load_pending_key(Role::Operator)? else {
        return Err(CliError::home(
            "no_recovery_key",
            format!(
                "no recovery key at '{}'",
                ctx.home.pending_key_path(Role::Operator).display()
            ),
        )
        .with_hint("start with `auth4agent operator-key recover start`"));
    };
    let (client, issuer) = ctx.connect(&server, &Saved::new(&server, pinned.as_deref()))?;
    let body = RecoverOperator {
        public_key: key.public_key().to_jwk(),
    };
    let signer = Signer {
        key: &key,
        issuer: &issuer,
    };
    let answer: Operator = client.signed_json(
        Method::Post,
        &routes::for_operator(routes::OPERATOR_RECOVERY_CONFIRM, &id),
        &body,
        &signer,
    )?;
    let thumbprint = key.public_key().thumbprint();
    ctx.home.commit_pending_key(Role::Operator)?;
    ctx.home.save_operator(&OperatorIdentity {
        domain: answer.domain.clone(),
        server,
        id: Some(id.clone()),
        thumbprint: thumbprint.clone(),
        issuer: Some(issuer),
    })?;
    let human = format!(
        "Operator {id} ({}) recovered: its root key is now {thumbprint}; the old key is refused from now on.",
        answer.domain
    );
    Ok(Report::body(&answer, human))
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
