//! `verify-operator instructions | confirm [--wait] | status`: proving the operator's domain with a DNS TXT record.

use std::time::{Duration, Instant};

use auth4agent_api::operators::{Operator, OperatorStatus, VerificationInstructions};
use auth4agent_api::routes::{self, Method};

use super::Context;
use crate::cli::{ConfirmArgs, VerifyOperatorCommand};
use crate::duration::format_instant;
use crate::error::{CliError, Result};
use crate::output::Report;

/// Pause between two checks with `--wait`.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

pub fn run(ctx: &Context, cmd: VerifyOperatorCommand) -> Result<Report> {
    match cmd {
        VerifyOperatorCommand::Instructions => instructions(ctx),
        VerifyOperatorCommand::Confirm(args) => confirm(ctx, &args),
        VerifyOperatorCommand::Status => status(ctx),
    }
}

fn instructions(ctx: &Context) -> Result<Report> {
    let session = ctx.operator_session("verify-operator instructions")?;
    let path = routes::operator_verification(&session.operator_id()?);
    let answer: VerificationInstructions =
        session
            .client
            .signed(Method::Get, &path, &session.signer())?;
    let human = format!(
        "Publish this DNS TXT record for {}:\n\n  {}  TXT  \"{}\"\n\nthen run: auth4agent verify-operator confirm --wait 5m",
        answer.domain, answer.txt_record_name, answer.txt_record_value,
    );
    Ok(Report::body(&answer, human))
}

fn confirm(ctx: &Context, args: &ConfirmArgs) -> Result<Report> {
    let session = ctx.operator_session("verify-operator confirm")?;
    let path = routes::operator_verification(&session.operator_id()?);
    let started = Instant::now();
    let deadline = args.wait.map(|secs| started + Duration::from_secs(secs));
    let mut attempt = 1u32;
    loop {
        match session
            .client
            .signed::<Operator>(Method::Post, &path, &session.signer())
        {
            Ok(answer) => {
                ctx.out.progress_done();
                return verified(answer);
            }
            Err(err) if is_retryable(&err.code) && deadline.is_some_and(|d| Instant::now() < d) => {
                ctx.out.progress(&format!(
                    "waiting for the TXT record: attempt {attempt}, {} ({}s elapsed)",
                    err.code,
                    started.elapsed().as_secs()
                ));
                attempt += 1;
                let remaining = deadline.map_or(Duration::ZERO, |d| {
                    d.saturating_duration_since(Instant::now())
                });
                std::thread::sleep(POLL_INTERVAL.min(remaining));
            }
            Err(err) => {
                ctx.out.progress_done();
                return Err(err);
            }
        }
    }
}

/// DNS answers that may change while we wait (propagation).
fn is_retryable(code: &str) -> bool {
    matches!(
        code,
        "dns_record_not_found" | "dns_record_mismatch" | "dns_lookup_failed" | "rate_limited"
    )
}

fn verified(answer: Operator) -> Result<Report> {
    if answer.status != OperatorStatus::Verified {
        return Err(CliError::failure(
            "operator_not_verified",
            format!(
                "the server answered with status {:?}",
                answer.status.as_str()
            ),
        )
        .with_hint("run `auth4agent verify-operator confirm --wait 5m`"));
    }
    let human = format!(
        "Domain {} is verified for operator {}\nnext: register agents and set their scopes",
        answer.domain, answer.id,
    );
    Ok(Report::body(&answer, human))
}

fn status(ctx: &Context) -> Result<Report> {
    let session = ctx.operator_session("verify-operator status")?;
    let path = routes::operator(&session.operator_id()?);
    let answer: Operator = session
        .client
        .signed(Method::Get, &path, &session.signer())?;
    let mut human = format!(
        "operator {} ({}): {}",
        answer.id, answer.domain, answer.status
    );
    let now = crate::clock::now();
    if let Some(at) = answer.domain_verified_at {
        human.push_str(&format!("\nverified {}", format_instant(at, now)));
    }
    if let Some(at) = answer.verification_expires_at {
        human.push_str(&format!(
            "\nverification expires {}",
            format_instant(at, now)
        ));
    }
    Ok(Report::body(&answer, human))
}
