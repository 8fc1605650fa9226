//! `init`: a new Ed25519 key (from the OS RNG) and the operator or agent identity file.

use auth4agent_protocol::{Did, Domain, SigningKey, did_document};
use rand::TryRngCore;
use serde_json::json;
use zeroize::Zeroizing;

use super::Context;
use crate::cli::InitArgs;
use crate::error::{CliError, Result};
use crate::home::{AgentIdentity, OperatorIdentity, Role};
use crate::output::Report;

pub fn run(ctx: &Context, args: &InitArgs) -> Result<Report> {
    let role = if args.operator {
        Role::Operator
    } else {
        Role::Agent
    };
    let server = ctx.server_flag.clone().ok_or_else(|| {
        CliError::usage("missing_server", "init needs the server URL")
            .with_hint("pass --server URL, e.g. --server https://auth.example.com")
    })?;
    let domain = Domain::parse(&args.domain).map_err(|e| {
        CliError::usage(
            e.code(),
            format!("{:?} is not a usable domain: {e}", args.domain),
        )
        .with_hint("use a plain DNS name such as example.com (no scheme, port or path)")
    })?;
    if ctx.home.has_identity(role) && !args.force {
        return Err(CliError::home(
            "identity_exists",
            format!(
                "'{}' already holds an {} identity; refusing to overwrite it",
                ctx.home.root().display(),
                role.name()
            ),
        )
        .with_hint(
            "pass --force to replace it (the old key is destroyed), or use another --home",
        ));
    }
    let key = generate_key()?;
    let public = key.public_key();
    let thumbprint = public.thumbprint();
    ctx.home.save_key(role, &key)?;
    let home = ctx.home.root().display().to_string();
    match role {
        Role::Operator => {
            ctx.home.save_operator(&OperatorIdentity {
                domain: domain.as_str().to_string(),
                server: server.clone(),
                id: None,
                thumbprint: thumbprint.clone(),
                issuer: ctx.issuer_flag.clone(),
            })?;
            let doc = json!({
                "role": "operator",
                "domain": domain.as_str(),
                "server": server,
                "issuer": ctx.issuer_flag,
                "thumbprint": thumbprint,
                "public_key": public.to_jwk(),
                "home": home,
            });
            let human = format!(
                "Created the operator identity for {domain} in {home}\nkey thumbprint: {thumbprint}\nnext: auth4agent register operator"
            );
            Ok(Report::new(doc, human))
        }
        Role::Agent => {
            let did = Did::from_key(&domain, &public);
            let document = did_document(&did, &public);
            ctx.home.save_agent(&AgentIdentity {
                domain: domain.as_str().to_string(),
                server: server.clone(),
                did: did.to_string(),
                operator_id: None,
                thumbprint: thumbprint.clone(),
                issuer: ctx.issuer_flag.clone(),
            })?;
            let human = format!(
                "Created the agent identity in {home}\nDID: {did}\n{}\nnext: auth4agent register agent --operator-id ID",
                serde_json::to_string_pretty(&document).expect("JSON serializes")
            );
            let doc = json!({
                "role": "agent",
                "did": did.as_str(),
                "did_document": document,
                "domain": domain.as_str(),
                "server": server,
                "issuer": ctx.issuer_flag,
                "thumbprint": thumbprint,
                "public_key": public.to_jwk(),
                "home": home,
            });
            Ok(Report::new(doc, human))
        }
    }
}

/// 32 bytes from the operating system's RNG, as an RFC 8032 seed.
pub(crate) fn generate_key() -> Result<SigningKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng
        .try_fill_bytes(seed.as_mut())
        .map_err(|e| {
            CliError::home(
                "rng_unavailable",
                format!("the operating system's random number generator failed: {e}"),
            )
        })?;
    Ok(SigningKey::from_seed(&seed))
}
