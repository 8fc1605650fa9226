//! `login`: onboarding an agent in one command on its own machine. It checks the server's issuer (as every
//! command does), generates the agent key, registers the agent under the operator of `--domain` asking for
//! `--scopes`, then saves the key (0600, as `init` does) and the identity (the registration enters the operator's approval
//! queue, spec §11.5), shows the user code, the approval URL and its QR code on stderr, and follows the
//! registration with the agent's own signed `GET /v1/agents/{did}` at the server's interval until the
//! operator approves (possibly fewer scopes) or denies, the request expires, or `--wait` is spent.

use std::time::{Duration, Instant};

use auth4agent_api::agents::{Agent, AgentRegistration, RegisterAgent};
use auth4agent_api::routes::{self, Method};
use auth4agent_protocol::{Did, Domain};

use super::{Context, Saved, init, issue};
use crate::cli::LoginArgs;
use crate::client::Signer;
use crate::clock;
use crate::error::{CliError, Result};
use crate::home::{AgentIdentity, Role};
use crate::output::{Report, terminal_safe};

pub fn run(ctx: &Context, args: &LoginArgs) -> Result<Report> {
    let server = ctx.server_flag.clone().ok_or_else(|| {
        CliError::usage("missing_server", "login needs the server URL")
            .with_hint("pass --server URL, e.g. --server https://auth.example.com")
    })?;
    let domain = Domain::parse(&args.domain).map_err(|e| {
        CliError::usage(
            e.code(),
            format!("{:?} is not a usable domain: {e}", args.domain),
        )
        .with_hint("use the operator's domain, a plain DNS name such as example.com")
    })?;
    init::refuse_overwrite(ctx, Role::Agent, args.force)?;
    let (client, issuer) = ctx.connect(&server, &Saved::new(&server, None))?;

    let key = init::generate_key()?;
    let public = key.public_key();
    let did = Did::from_key(&domain, &public);

    let signer = Signer {
        key: &key,
        issuer: &issuer,
    };
    let body = RegisterAgent {
        domain: Some(domain.as_str().to_owned()),
        name: args.name.clone(),
        operator_id: None,
        public_key: public.to_jwk(),
        requested_scopes: Some(args.scopes.as_ref().map_or_else(Vec::new, |s| s.0.clone())),
    };
    let registered: Agent = client.signed_json(Method::Post, routes::AGENTS, &body, &signer)?;
    if registered.did != did.as_str() {
        return Err(CliError::network(
            "did_mismatch",
            format!(
                "the server registered {:?}, not the DID of this key, {did}",
                registered.did
            ),
        ));
    }
    // Saved once the server took the registration, so a refused login leaves the home as it was. (A key
    // lost between the two leaves a pending agent whose request expires, which revokes it.)
    ctx.home.save_key(Role::Agent, &key)?;
    ctx.home.save_agent(&AgentIdentity {
        domain: domain.as_str().to_owned(),
        server: server.clone(),
        did: did.to_string(),
        operator_id: Some(registered.operator_id.clone()),
        thumbprint: public.thumbprint(),
        issuer: ctx.issuer_flag.clone(),
    })?;
    let request = registration_of(&registered)?;
    let expires_in = request
        .expires_at
        .saturating_sub(clock::unix_time().as_secs());
    let asked = if request.requested_scopes.is_empty() {
        "no scopes (the operator names them when approving)".to_owned()
    } else {
        format!("scopes \"{}\"", request.requested_scopes.join(" "))
    };
    eprintln!(
        "registered {did} with operator {}, asking for {asked}",
        registered.operator_id
    );
    issue::show_approval(
        &request.user_code,
        &request.verification_uri_complete,
        expires_in,
        args.wait,
    );

    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let path = routes::agent(did.as_str());
    let mut interval = request.interval.max(1);
    let mut agent = registered;
    loop {
        let request = registration_of(&agent)?;
        match request.status.as_str() {
            "pending" => {}
            "approved" => return Ok(approved(&agent, request)),
            "denied" => {
                return Err(CliError::failure(
                    "registration_denied",
                    format!(
                        "the operator denied the registration {} of {did}; the agent is {}",
                        terminal_safe(&request.user_code),
                        agent.status
                    ),
                )
                .with_hint("the DID is revoked for good: ask the operator, then run login again (a new key)"));
            }
            "expired" => {
                return Err(CliError::failure(
                    "registration_expired",
                    format!(
                        "the registration {} of {did} expired before the operator decided; the agent is {}",
                        terminal_safe(&request.user_code),
                        agent.status
                    ),
                )
                .with_hint("run login again (a new key), and ask the operator to approve in time"));
            }
            other => {
                return Err(CliError::network(
                    "unexpected_response",
                    format!(
                        "the registration has the unknown status {:?}",
                        terminal_safe(other)
                    ),
                ));
            }
        }
        let pause = Duration::from_secs(interval);
        if Instant::now() + pause > deadline {
            return Err(CliError::failure(
                "approval_timeout",
                format!(
                    "no decision on {} within --wait {}s; {did} stays pending until the request expires",
                    terminal_safe(&request.user_code),
                    args.wait
                ),
            )
            .with_hint("ask the operator to run `auth4agent approvals list`, or run login again with a longer --wait"));
        }
        std::thread::sleep(pause);
        agent = client.signed(Method::Get, &path, &signer)?;
        interval = registration_of(&agent)?.interval.max(interval);
    }
}

/// The agent's registration request, which a server that took `requested_scopes` always reports.
fn registration_of(agent: &Agent) -> Result<&AgentRegistration> {
    agent.registration.as_ref().ok_or_else(|| {
        CliError::network(
            "unexpected_response",
            format!(
                "the server reports no registration request for {}",
                agent.did
            ),
        )
        .with_hint("the server may predate `login`; use `register agent` and ask the operator for `agent-scopes set`")
    })
}

fn approved(agent: &Agent, request: &AgentRegistration) -> Report {
    let narrowed = if request.granted_scopes == request.requested_scopes {
        String::new()
    } else if request.requested_scopes.is_empty() {
        " (asked for none: chosen by the operator)".to_owned()
    } else {
        format!(" (asked for \"{}\")", request.requested_scopes.join(" "))
    };
    let human = format!(
        "Logged in as agent {}\nstatus: {}\nscopes: {}{narrowed}\noperator: {}",
        agent.did,
        agent.status,
        agent.allowed_scopes.join(" "),
        agent.operator_id,
    );
    Report::body(agent, human)
}
