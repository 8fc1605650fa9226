//! `approvals list | approve | deny | grants | revoke-grant`: the operator decides on its agents' device
//! authorization requests (RFC 8628) and on registrations that asked for scopes (`login`), every request signed
//! by the operator key. Everything the agent wrote (its binding message, its name) is printed through
//! `terminal_safe`; times are shown with `format_instant` (`--json` keeps Unix seconds).

use std::time::{Duration, Instant};

use auth4agent_api::routes::{self, Method};
use auth4agent_api::{
    ApprovalDecision, ApprovalKind, ApprovalList, ApproveRequest, DenyRequest, GrantList,
    RememberedGrant, RevokeGrantRequest,
};

use super::{Context, Page};
use crate::cli::{
    ApprovalsCommand, ApprovalsListArgs, ApproveArgs, GrantIdArg, PageArgs, UserCodeArg,
};
use crate::clock;
use crate::duration::format_instant;
use crate::error::Result;
use crate::output::{Report, terminal_safe};

pub fn run(ctx: &Context, cmd: ApprovalsCommand) -> Result<Report> {
    match cmd {
        ApprovalsCommand::List(args) => list(ctx, &args),
        ApprovalsCommand::Approve(args) => approve(ctx, &args),
        ApprovalsCommand::Deny(args) => deny(ctx, &args),
        ApprovalsCommand::Grants(args) => grants(ctx, &args),
        ApprovalsCommand::RevokeGrant(args) => revoke_grant(ctx, &args),
    }
}

fn list(ctx: &Context, args: &ApprovalsListArgs) -> Result<Report> {
    let session = ctx.operator_session("approvals list")?;
    let path = routes::for_operator(routes::OPERATOR_APPROVALS, &session.operator_id()?);
    let deadline = args.wait.map(|w| Instant::now() + Duration::from_secs(w));
    // The server holds each request at most a little under its request timeout; ask again until
    // something arrives or `--wait` is spent.
    if args.page.all && args.wait.is_none() {
        let answer: ApprovalList = session.pages(&path, &args.page)?;
        return Ok(approvals_report(&answer));
    }
    let answer: ApprovalList = loop {
        let remaining =
            deadline.map_or(0, |d| d.saturating_duration_since(Instant::now()).as_secs());
        let mut query = Vec::new();
        if remaining > 0 {
            query.push(format!("wait={remaining}"));
        }
        if let Some(limit) = args.page.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(cursor) = &args.page.cursor {
            query.push(format!("cursor={cursor}"));
        }
        let query = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let asked = Instant::now();
        let answer: ApprovalList = session
            .client
            .signed(Method::Get, &query, &session.signer())?;
        if !answer.approvals.is_empty() || remaining == 0 {
            break answer;
        }
        // A server that holds requests briefly (or not at all) is not asked more than once a second.
        std::thread::sleep(Duration::from_secs(1).saturating_sub(asked.elapsed()));
    };
    Ok(approvals_report(&answer))
}

impl Page for ApprovalList {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }

    fn extend(&mut self, next: ApprovalList) {
        self.approvals.extend(next.approvals);
        self.next_cursor = next.next_cursor;
    }
}

impl Page for GrantList {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }

    fn extend(&mut self, next: GrantList) {
        self.grants.extend(next.grants);
        self.next_cursor = next.next_cursor;
    }
}

/// `more: …` for a page that has a next one.
fn more(command: &str, next: Option<&str>) -> String {
    next.map(|c| format!("\nmore: auth4agent {command} --cursor {}", terminal_safe(c)))
        .unwrap_or_default()
}

fn approvals_report(answer: &ApprovalList) -> Report {
    let now = clock::now();
    let human = if answer.approvals.is_empty() {
        "no pending requests".to_owned()
    } else {
        answer
            .approvals
            .iter()
            .map(|a| {
                let message = a
                    .binding_message
                    .as_deref()
                    .map(|m| format!("\n  message: {}", terminal_safe(m)))
                    .unwrap_or_default();
                let what = match a.kind {
                    ApprovalKind::Registration => format!(
                        "\n  registration of a new agent{}: approving makes it active with these scopes",
                        a.name
                            .as_deref()
                            .map(|n| format!(" named \"{}\"", terminal_safe(n)))
                            .unwrap_or_default()
                    ),
                    ApprovalKind::DeviceAuthorization => format!("\n  resource: {}", a.resource),
                };
                format!(
                    "{}  {} (asked {}s ago, expires {})\n  scopes: {}{what}{message}",
                    a.user_code,
                    a.did,
                    a.age,
                    format_instant(a.expires_at, now),
                    a.scopes.join(" "),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let human = human + &more("approvals list", answer.next_cursor.as_deref());
    Report::body(answer, human)
}

fn describe(decision: &ApprovalDecision) -> String {
    let mut text = match &decision.agent_status {
        Some(agent_status) => format!(
            "{} the registration {} of {}: scopes \"{}\"; the agent is {agent_status}",
            decision.status,
            decision.user_code,
            decision.did,
            decision.scopes.join(" "),
        ),
        None => format!(
            "{} {} for {}: scopes \"{}\" for {}",
            decision.status,
            decision.user_code,
            decision.did,
            decision.scopes.join(" "),
            decision.resource
        ),
    };
    if let Some(grant) = &decision.remembered_grant {
        text.push_str(&format!(
            "\nremembered as {} until {}",
            grant.id,
            format_instant(grant.expires_at, clock::now())
        ));
    }
    text
}

fn approve(ctx: &Context, args: &ApproveArgs) -> Result<Report> {
    let session = ctx.operator_session("approvals approve")?;
    let path = routes::for_operator(routes::OPERATOR_APPROVE, &session.operator_id()?);
    let body = ApproveRequest {
        remember_seconds: args.remember,
        scopes: args.scopes.as_ref().map(|s| s.0.clone()),
        user_code: args.code.clone(),
    };
    let answer: ApprovalDecision =
        session
            .client
            .signed_json(Method::Post, &path, &body, &session.signer())?;
    Ok(Report::body(&answer, describe(&answer)))
}

fn deny(ctx: &Context, args: &UserCodeArg) -> Result<Report> {
    let session = ctx.operator_session("approvals deny")?;
    let path = routes::for_operator(routes::OPERATOR_DENY, &session.operator_id()?);
    let body = DenyRequest {
        user_code: args.code.clone(),
    };
    let answer: ApprovalDecision =
        session
            .client
            .signed_json(Method::Post, &path, &body, &session.signer())?;
    Ok(Report::body(&answer, describe(&answer)))
}

fn describe_grant(g: &RememberedGrant) -> String {
    let now = clock::now();
    format!(
        "{}  {} scopes \"{}\" for {} until {}{}",
        g.id,
        g.did,
        g.scopes.join(" "),
        g.resource,
        format_instant(g.expires_at, now),
        g.revoked_at
            .map(|at| format!(" (revoked {})", format_instant(at, now)))
            .unwrap_or_default()
    )
}

fn grants(ctx: &Context, args: &PageArgs) -> Result<Report> {
    let session = ctx.operator_session("approvals grants")?;
    let path = routes::for_operator(routes::OPERATOR_GRANTS, &session.operator_id()?);
    let answer: GrantList = session.pages(&path, args)?;
    let human = if answer.grants.is_empty() {
        "no remembered grants".to_owned()
    } else {
        answer
            .grants
            .iter()
            .map(describe_grant)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let human = human + &more("approvals grants", answer.next_cursor.as_deref());
    Ok(Report::body(&answer, human))
}

fn revoke_grant(ctx: &Context, args: &GrantIdArg) -> Result<Report> {
    let session = ctx.operator_session("approvals revoke-grant")?;
    let path = routes::for_operator(routes::OPERATOR_GRANT_REVOKE, &session.operator_id()?);
    let body = RevokeGrantRequest {
        grant_id: args.id.clone(),
    };
    let answer: RememberedGrant =
        session
            .client
            .signed_json(Method::Post, &path, &body, &session.signer())?;
    Ok(Report::body(&answer, describe_grant(&answer)))
}
