//! Command implementations, one module per command group, sharing a [`Context`] (home, server override, output).

pub mod agent_scopes;
pub mod agents;
pub mod approvals;
pub mod console;
pub mod generate;
pub mod info;
pub mod init;
pub mod issue;
pub mod login;
pub mod logout;
pub mod operator_key;
pub mod profiles;
pub mod register;
pub mod request;
pub mod revoke;
pub mod status;
pub mod status_list;
pub mod verify;
mod verify_keys;
pub mod verify_operator;

use std::io::Read;
use std::path::Path;

use auth4agent_api::routes::Method;
use auth4agent_protocol::SigningKey;

use crate::cli::{Command, PageArgs};
use crate::client::{Client, Signer};
use crate::error::{CliError, Result};
use crate::home::{AgentIdentity, Home, OperatorIdentity, Role};
use crate::output::{Output, Report};

/// Everything a command needs besides its own arguments, fixed once from the global flags.
pub struct Context {
    pub home: Home,
    pub server_flag: Option<String>,
    /// `--issuer`: the issuer this run expects, over any pin in the home.
    pub issuer_flag: Option<String>,
    pub out: Output,
}

/// The server an identity was saved with, and the issuer pinned for it.
pub struct Saved<'a> {
    pub server: &'a str,
    pub issuer: Option<&'a str>,
}

impl<'a> Saved<'a> {
    pub fn new(server: &'a str, issuer: Option<&'a str>) -> Saved<'a> {
        Saved { server, issuer }
    }
}

/// Two URLs name the same issuer: equal after the normalization `--server` gets (lower-case scheme and host,
/// no trailing slash).
fn same_url(a: &str, b: &str) -> bool {
    let normal = |url: &str| crate::cli::parse_url(url).unwrap_or_else(|_| url.to_owned());
    normal(a) == normal(b)
}

/// Runs one command.
pub fn run(ctx: &Context, command: Command) -> Result<Report> {
    match command {
        Command::Init(args) => init::run(ctx, &args),
        Command::Register(cmd) => register::run(ctx, cmd),
        Command::VerifyOperator(cmd) => verify_operator::run(ctx, cmd),
        Command::OperatorKey(cmd) => operator_key::run(ctx, cmd),
        Command::AgentScopes(cmd) => agent_scopes::run(ctx, cmd),
        Command::Agents(cmd) => agents::run(ctx, cmd),
        Command::Issue(args) => issue::run(ctx, &args),
        Command::Approvals(cmd) => approvals::run(ctx, cmd),
        Command::Console(args) => console::run(ctx, &args),
        Command::Verify(args) => verify::run(ctx, &args),
        Command::Request(args) => request::run(ctx, &args),
        Command::Revoke(cmd) => revoke::run(ctx, cmd),
        Command::Login(args) => login::run(ctx, &args),
        Command::Status => status::run(ctx),
        Command::Whoami => info::whoami(ctx),
        Command::Logout(args) => logout::run(ctx, args.revoke),
        Command::Profiles(_) => profiles::list(ctx.home.root()),
        Command::Health => info::health(ctx),
        Command::SetServer(args) => info::set_server(ctx, &args.url),
        Command::Jwks => info::jwks(ctx),
        Command::StatusList(cmd) => status_list::run(ctx, cmd),
        Command::Completions(args) => generate::completions(args.shell),
        Command::Man => generate::man(),
    }
}

/// An identity loaded with its key, connected to its server, with the server's issuer (for signing requests).
pub struct Session<I> {
    pub identity: I,
    pub key: SigningKey,
    pub client: Client,
    pub issuer: String,
}

impl<I> Session<I> {
    pub fn signer(&self) -> Signer<'_> {
        Signer {
            key: &self.key,
            issuer: &self.issuer,
        }
    }
}

impl Context {
    /// `--server`, else the server saved with the identity in use.
    pub fn server(&self, saved: Option<&str>) -> Result<String> {
        if let Some(server) = &self.server_flag {
            return Ok(server.clone());
        }
        match saved {
            Some(server) => Ok(server.to_string()),
            None => Err(CliError::home(
                "no_server",
                format!(
                    "no server URL: '{}' holds no identity and --server was not given",
                    self.home.root().display()
                ),
            )
            .with_hint("pass --server URL, or use a home created by `auth4agent init`")),
        }
    }

    /// Connects to `server` and checks the issuer its discovery document names (spec §15.1): it must be
    /// `--issuer`, else the issuer pinned with the identity when `server` is the identity's saved server,
    /// else `server` itself. A server at another URL that names a real issuer is refused, so a proof or a
    /// client assertion made for that issuer never reaches it.
    pub fn connect(&self, server: &str, saved: &Saved<'_>) -> Result<(Client, String)> {
        let client = Client::new(server)?;
        let named = client.issuer()?;
        let pinned = saved.issuer.filter(|_| same_url(saved.server, server));
        let expected = self.issuer_flag.as_deref().or(pinned).unwrap_or(server);
        if !same_url(&named, expected) {
            return Err(CliError::network(
                "issuer_mismatch",
                format!(
                    "the server at {server} names the issuer {named:?}, but this command expects {expected:?}"
                ),
            )
            .with_hint(
                "do not use a server whose issuer differs from its URL unless you know why: it may be impersonating another; \
                 if it is a replica or proxy of that issuer, pass --issuer ISSUER (or pin it with `auth4agent set-server --url URL --issuer ISSUER`)",
            ));
        }
        self.home.remember_issuer(server, &named)?;
        Ok((client, named))
    }

    pub fn operator_session(&self, action: &str) -> Result<Session<OperatorIdentity>> {
        let identity = match self.home.try_operator()? {
            Some(identity) => identity,
            None => return Err(self.no_operator(action)),
        };
        let key = self.home.load_key(Role::Operator, &identity.thumbprint)?;
        let saved = Saved::new(&identity.server, identity.issuer.as_deref());
        let (client, issuer) = self.connect(&self.server(Some(&identity.server))?, &saved)?;
        Ok(Session {
            identity,
            key,
            client,
            issuer,
        })
    }

    pub fn agent_session(&self) -> Result<Session<AgentIdentity>> {
        let identity = self.home.agent()?;
        let key = self.home.load_key(Role::Agent, &identity.thumbprint)?;
        let saved = Saved::new(&identity.server, identity.issuer.as_deref());
        let (client, issuer) = self.connect(&self.server(Some(&identity.server))?, &saved)?;
        Ok(Session {
            identity,
            key,
            client,
            issuer,
        })
    }

    /// The refusal for an operator action in a home without an operator key (e.g. an agent's home).
    pub fn no_operator(&self, action: &str) -> CliError {
        let agent_only = self.home.has_identity(Role::Agent);
        let message = if agent_only {
            format!(
                "`{action}` must be signed by the operator key, and '{}' holds only an agent identity (an agent can never do this for itself)",
                self.home.root().display()
            )
        } else {
            format!(
                "`{action}` must be signed by the operator key, and '{}' has no operator identity",
                self.home.root().display()
            )
        };
        CliError::home("no_operator_key", message)
            .with_hint("run this in the operator's home (--home DIR), or create one with `auth4agent init --operator`")
    }
}

/// A page of a paged list endpoint (`?limit=&cursor=`, answered with `next_cursor`).
pub trait Page: serde::de::DeserializeOwned + Default {
    fn next_cursor(&self) -> Option<&str>;
    /// Appends `next`'s entries and takes its cursor.
    fn extend(&mut self, next: Self);
}

impl Session<OperatorIdentity> {
    /// The operator-signed list at `base`, one page (the `--limit` and `--cursor` of `args`), or with `--all`
    /// every page from there.
    pub fn pages<P: Page>(&self, base: &str, args: &PageArgs) -> Result<P> {
        let mut cursor = args.cursor.clone();
        let mut listed = P::default();
        loop {
            let mut query = Vec::new();
            if let Some(limit) = args.limit {
                query.push(format!("limit={limit}"));
            }
            if let Some(cursor) = &cursor {
                query.push(format!("cursor={cursor}"));
            }
            let path = if query.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", query.join("&"))
            };
            let page: P = self.client.signed(Method::Get, &path, &self.signer())?;
            listed.extend(page);
            match (listed.next_cursor(), args.all) {
                (Some(next), true) => cursor = Some(next.to_owned()),
                _ => return Ok(listed),
            }
        }
    }

    /// The operator id saved by `register operator`.
    pub fn operator_id(&self) -> Result<String> {
        self.identity.id.clone().ok_or_else(|| {
            CliError::home(
                "operator_not_registered",
                "the operator in this home has not been registered yet",
            )
            .with_hint("run `auth4agent register operator`")
        })
    }
}

/// Where a `--token` value says the token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource<'a> {
    Stdin,
    /// The value is shaped like a compact JWS: it is the token, whatever files exist.
    Literal(&'a str),
    File(&'a Path),
}

/// Decides from the value alone, never from the file system: a service passing a caller's string
/// must not be made to read a file of its own host that happens to bear that name.
fn token_source(arg: &str) -> TokenSource<'_> {
    if arg == "-" {
        TokenSource::Stdin
    } else if looks_like_jws(arg.trim()) {
        TokenSource::Literal(arg)
    } else {
        TokenSource::File(Path::new(arg))
    }
}

/// Reads a token given as `-` (stdin), as the token itself (a compact JWS), or as a path to a file
/// holding it.
pub fn read_token(arg: &str) -> Result<String> {
    let text = match token_source(arg) {
        TokenSource::Stdin => {
            let mut buf = String::new();
            std::io::stdin().read_to_string(&mut buf).map_err(|e| {
                CliError::usage(
                    "invalid_token_input",
                    format!("cannot read the token from stdin: {e}"),
                )
            })?;
            buf
        }
        TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(
                "invalid_token_input",
                format!("cannot read the token file '{arg}': {e}"),
            )
            .with_hint("pass the token, a file holding it, or - to read it from stdin")
        })?,
        TokenSource::Literal(token) => token.to_string(),
    };
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(CliError::usage("invalid_token_input", "the token is empty")
            .with_hint("pass the token, a file holding it, or - to read it from stdin"));
    }
    Ok(token)
}

/// Three segments of base64url characters: a compact JWS rather than a file name.
fn looks_like_jws(s: &str) -> bool {
    s.split('.').count() == 3
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Validates a DID given on the command line.
pub fn parse_did(s: &str) -> Result<auth4agent_protocol::Did> {
    auth4agent_protocol::Did::parse(s).map_err(|e| {
        CliError::usage(e.code(), format!("{s:?} is not a valid agent DID: {e}")).with_hint(
            "a DID looks like did:agent:example.com:<32 hex chars> (see `auth4agent whoami`)",
        )
    })
}

/// The agent DID from `--did`, else the home's agent.
pub fn did_or_home(ctx: &Context, did: Option<&str>) -> Result<String> {
    match did {
        Some(did) => Ok(parse_did(did)?.to_string()),
        None => match ctx.home.try_agent()? {
            Some(agent) => Ok(agent.did),
            None => Err(CliError::usage(
                "missing_did",
                "no --did given and this home has no agent identity",
            )
            .with_hint("pass --did DID")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_argument_or_a_file() {
        assert_eq!(read_token(" a.b.c \n").unwrap(), "a.b.c");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "x.y.z\n").unwrap();
        assert_eq!(read_token(file.to_str().unwrap()).unwrap(), "x.y.z");
        let dotted = dir.path().join("token.txt");
        std::fs::write(&dotted, "p.q.r").unwrap();
        assert_eq!(read_token(dotted.to_str().unwrap()).unwrap(), "p.q.r");
        std::fs::write(&file, "  \n").unwrap();
        assert_eq!(
            read_token(file.to_str().unwrap()).unwrap_err().code,
            "invalid_token_input"
        );
        // A JWS-shaped value is the token even when a file of that name exists; anything else
        // (here an absolute path) names a file.
        assert_eq!(
            token_source("eyJh.eyJp.c2ln"),
            TokenSource::Literal("eyJh.eyJp.c2ln")
        );
        assert_eq!(token_source("-"), TokenSource::Stdin);
        assert_eq!(
            token_source("token.txt"),
            TokenSource::File(Path::new("token.txt"))
        );
        let shaped = dir.path().join("aa.bb.cc");
        std::fs::write(&shaped, "from.the.file").unwrap();
        let relative = shaped.file_name().unwrap().to_str().unwrap();
        assert_eq!(read_token(relative).unwrap(), "aa.bb.cc");
        let missing = dir.path().join("missing");
        assert_eq!(
            read_token(missing.to_str().unwrap()).unwrap_err().exit,
            crate::error::Exit::Usage
        );
    }
}
