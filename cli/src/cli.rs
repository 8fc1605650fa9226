//! Command-line definitions (clap derive). Help, completions and the man page are all generated from these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::duration;

/// Exit codes, shown at the end of `--help` and in the man page.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (for `verify`: the token is valid)
  1  failure or refusal: the server refused, the token is invalid, the domain is not verified
  2  usage error: bad flags or arguments
  3  network: the server could not be reached or did not answer like an auth4agent server
  4  local problem: missing identity, key file with loose permissions, unreadable home directory

Environment:
  AUTH4AGENT_HOME     home directory when --home is not given (default ~/.auth4agent)
  AUTH4AGENT_PROFILE  profile when --profile is not given (its home is <home>/profiles/NAME)
  NO_COLOR         disables colored output";

/// Cryptographic identity and scoped, short-lived tokens for autonomous agents.
///
/// Quick start: init --operator → register operator → verify-operator instructions / confirm →
/// init → register agent → agent-scopes set → issue → verify.
#[derive(Parser, Debug)]
#[command(name = "auth4agent", version, about, long_about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Home directory holding identities and keys [default: $AUTH4AGENT_HOME, else ~/.auth4agent]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Use the profile NAME: a home of its own at <home root>/profiles/NAME/ [default: $AUTH4AGENT_PROFILE]
    #[arg(long, global = true, value_name = "NAME", value_parser = parse_profile)]
    pub profile: Option<String>,

    /// Print exactly one JSON document on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Server base URL; overrides the server saved in the home directory
    #[arg(long, global = true, value_name = "URL", value_parser = parse_url)]
    pub server: Option<String>,

    /// The issuer the server must name in its discovery document [default: the issuer pinned in the home
    /// for its saved server, else the server URL]; `init` and `set-server` pin it in the home
    #[arg(long, global = true, value_name = "URL", value_parser = parse_url)]
    pub issuer: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create an operator (--operator) or agent identity: a new Ed25519 key and its JSON file
    Init(InitArgs),
    /// Register the home's operator or agent with the server
    #[command(subcommand)]
    Register(RegisterCommand),
    /// Prove the operator's domain with a DNS TXT record
    #[command(subcommand)]
    VerifyOperator(VerifyOperatorCommand),
    /// Replace the operator's root key (signed by the current key and by the new one)
    #[command(subcommand)]
    OperatorKey(OperatorKeyCommand),
    /// Set or list the scopes an agent may request (set is signed by the operator key)
    #[command(subcommand)]
    AgentScopes(AgentScopesCommand),
    /// List the operator's agents, a page at a time (signed by the operator key)
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Get an access token: challenge, proof of possession, token (the token goes to stdout); a scope that
    /// needs an operator's approval goes through the device authorization grant
    Issue(IssueArgs),
    /// The operator's approvals of device authorizations: list, approve, deny; remembered grants
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Open the browser operator console: a one-time login link (valid 60 s, signed request), printed with a
    /// QR code and opened in a browser if one is at hand
    Console(ConsoleArgs),
    /// Verify an access token, offline by default (exit 0 only for a valid token)
    Verify(VerifyArgs),
    /// Call a protected service as an agent: a DPoP-bound token for the URL's origin (cached), sent with a fresh
    /// DPoP proof; prints the response (exit 0 only for a 2xx status)
    Request(RequestArgs),
    /// Revoke tokens and agents, suspend and reactivate agents, list revocations
    #[command(subcommand)]
    Revoke(RevokeCommand),
    /// Onboard this machine's agent in one command: a new key, a registration asking for --scopes that enters
    /// the operator's approval queue, then wait (--wait) until the operator approves (possibly fewer scopes),
    /// denies, or the request expires
    Login(LoginArgs),
    /// Where this home stands: its identities, whether the server answers, the agent's status and scopes (or
    /// the operator's verification) as the server sees them, and the cached tokens with their expiry
    Status,
    /// Show the identities in the home directory (no network)
    Whoami,
    /// Remove the home's (or profile's) identities, keys and cached tokens and JWKS; --revoke first revokes
    /// the agent at the server (operator-signed) and removes nothing if that fails
    Logout(LogoutArgs),
    /// The profiles under the home root (no network)
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Check that the server is alive and ready
    Health,
    /// Save a new server URL into the identity files of the home directory
    SetServer(SetServerArgs),
    /// Fetch the server's JWKS, cache it in the home directory and print it
    Jwks,
    /// Token Status Lists: fetch one to a file, for offline verification
    #[command(subcommand)]
    StatusList(StatusListCommand),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    #[command(hide = true)]
    Man,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Create the operator identity (otherwise an agent identity)
    #[arg(long)]
    pub operator: bool,
    /// The operator's DNS domain (for an agent: its operator's domain)
    #[arg(long, value_name = "DOMAIN")]
    pub domain: String,
    /// Overwrite an existing identity and its key
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The operator's proven DNS domain: the agent registers under the operator holding it
    #[arg(long, value_name = "DOMAIN")]
    pub domain: String,
    /// The scopes the agent needs, comma separated: the operator approves them (or fewer) or denies.
    /// Without it the agent asks for none and the operator names the scopes when approving
    #[arg(long, value_name = "S[,S...]", value_parser = parse_scope_list)]
    pub scopes: Option<ScopeList>,
    /// A name shown to the approver (at most 64 printable characters)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// How long to wait for the operator's decision (e.g. 10m)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration::parse_positive)]
    pub wait: u64,
    /// Replace an existing agent identity and its key in this home (the old key is destroyed)
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum RegisterCommand {
    /// Register the operator (signed by the operator key); saves the id to operator.json
    Operator,
    /// Register the agent under an operator (signed by the agent key)
    Agent(RegisterAgentArgs),
}

#[derive(Args, Debug)]
pub struct RegisterAgentArgs {
    /// Operator id (op_...) [default: the id in this home's operator.json]
    #[arg(long, value_name = "ID")]
    pub operator_id: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum VerifyOperatorCommand {
    /// Print the DNS TXT record to publish
    Instructions,
    /// Ask the server to check the TXT record (exit 0 only once the domain is verified)
    Confirm(ConfirmArgs),
    /// Show the operator's verification status
    Status,
}

#[derive(Args, Debug)]
pub struct ConfirmArgs {
    /// Keep retrying until verified or this much time has passed (e.g. 30s, 5m)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub wait: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum OperatorKeyCommand {
    /// Generate a new operator key and make it the operator's root key at the server (the request is
    /// signed by the current key, and carries a key-change message signed by the new one); the new key
    /// waits in keys/operator.key.new (0600) until the server confirms, then replaces keys/operator.key
    Rotate,
    /// Recover an operator whose key is lost: prove its domain again over DNS with a new key
    #[command(subcommand)]
    Recover(RecoverCommand),
}

#[derive(Subcommand, Debug)]
pub enum RecoverCommand {
    /// Start a recovery with a new key (keys/operator.key.new, created or reused) and print the TXT
    /// record to publish; the new key can do nothing else until `confirm` passes
    Start(RecoverArgs),
    /// Ask the server to check the recovery's TXT record; once it passes, the new key is the operator's
    /// root key (it replaces keys/operator.key, operator.json is written) and the old key is refused
    Confirm(RecoverArgs),
}

#[derive(Args, Debug)]
pub struct RecoverArgs {
    /// Operator id (op_...) [default: the id in this home's operator.json]
    #[arg(long)]
    pub operator_id: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AgentScopesCommand {
    /// Replace the agent's allowed scopes (signed by the operator key)
    Set(ScopesSetArgs),
    /// Show the agent's allowed scopes
    List(DidArg),
}

#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// The operator's agents in registration order, with status and allowed scopes
    List(PageArgs),
}

/// The paging flags of every list command.
#[derive(Args, Debug)]
pub struct PageArgs {
    /// Entries per page (1 to 1000; the server's default is 100)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: Option<u32>,
    /// Start after this cursor (the `next_cursor` of a previous page)
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Follow every next page and print all entries
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct ScopesSetArgs {
    /// Allowed scopes, comma separated (e.g. read,write)
    #[arg(long, value_name = "SCOPES", value_parser = parse_scope_list)]
    pub scopes: ScopeList,
    /// Scopes issued only after the operator approves each request, comma separated (e.g.
    /// payments:write,admin) [default: unchanged]
    #[arg(long, value_name = "SCOPES", value_parser = parse_scope_list)]
    pub approval_scopes: Option<ScopeList>,
    /// Agent DID [default: the agent in this home]
    #[arg(long, value_name = "DID")]
    pub did: Option<String>,
}

#[derive(Args, Debug)]
pub struct DidArg {
    /// Agent DID [default: the agent in this home]
    #[arg(long, value_name = "DID")]
    pub did: Option<String>,
}

#[derive(Args, Debug)]
pub struct RequiredDidArg {
    /// Agent DID
    #[arg(long, value_name = "DID")]
    pub did: String,
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// Requested scopes, comma separated (each must be allowed for the agent)
    #[arg(long, value_name = "S[,S...]", value_parser = parse_scope_list)]
    pub scope: ScopeList,
    /// Audience of the token: the service that will accept it
    #[arg(long, value_name = "AUDIENCE")]
    pub aud: String,
    /// Token lifetime (e.g. 30s, 15m, 1h) [default: the server's default, 15m]; challenge flow only
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub ttl: Option<u64>,
    /// How to obtain the token: `challenge` (challenge, then a signed proof) or `client-credentials` (one
    /// OAuth request with a private_key_jwt client assertion, RFC 7523)
    #[arg(long, value_enum, default_value_t = Flow::Challenge)]
    pub flow: Flow,
    /// For a scope that needs approval: how long to wait for the operator's decision (e.g. 10m)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration::parse_positive)]
    pub wait: u64,
    /// For a scope that needs approval: a message shown to the approver (at most 64 characters)
    #[arg(long, value_name = "TEXT")]
    pub binding_message: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// List the pending requests of the operator's agents
    List(ApprovalsListArgs),
    /// Approve a pending request (signed by the operator key)
    Approve(ApproveArgs),
    /// Deny a pending request (signed by the operator key)
    Deny(UserCodeArg),
    /// List the remembered grants in force, a page at a time
    Grants(PageArgs),
    /// Revoke a remembered grant
    RevokeGrant(GrantIdArg),
}

#[derive(Args, Debug)]
pub struct ApprovalsListArgs {
    /// Wait until a request arrives or this much time has passed (e.g. 5m)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub wait: Option<u64>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// The user code the agent shows (XXXX-XXXX; case and dashes do not matter)
    #[arg(value_name = "CODE")]
    pub code: String,
    /// Grant only these of the requested scopes, comma separated [default: all requested]
    #[arg(long, value_name = "SCOPES", value_parser = parse_scope_list)]
    pub scopes: Option<ScopeList>,
    /// Remember the approval this long (e.g. 8h): the agent then gets these scopes for this resource
    /// without asking again
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub remember: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// Print the link only: do not try to open a browser
    #[arg(long)]
    pub no_open: bool,
}

#[derive(Args, Debug)]
pub struct UserCodeArg {
    /// The user code the agent shows (XXXX-XXXX)
    #[arg(value_name = "CODE")]
    pub code: String,
}

#[derive(Args, Debug)]
pub struct GrantIdArg {
    /// The grant id (gr_…), from `approvals grants`
    #[arg(value_name = "ID")]
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RequestArgs {
    /// HTTP method (GET, POST, PUT, PATCH, DELETE, ...)
    #[arg(value_name = "METHOD", value_parser = parse_method)]
    pub method: String,
    /// The service URL; its origin is the token's audience
    #[arg(value_name = "URL", value_parser = parse_service_url)]
    pub url: String,
    /// Requested scopes, comma separated [default: every scope the agent is allowed]
    #[arg(long, value_name = "S[,S...]", value_parser = parse_scope_list)]
    pub scope: Option<ScopeList>,
    /// Request body: the text itself, or @FILE to read it from a file (@- for stdin)
    #[arg(long, value_name = "BODY|@FILE")]
    pub data: Option<String>,
    /// An extra request header `Name: value` (repeatable; not Authorization or DPoP)
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
}

/// clap value parser for an HTTP method: an RFC 9110 token, uppercased.
pub fn parse_method(input: &str) -> Result<String, String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if input.is_empty() || !input.bytes().all(token) {
        return Err(format!("{input:?} is not an HTTP method"));
    }
    Ok(input.to_ascii_uppercase())
}

/// clap value parser for the URL of `request`: http(s) with a host; query allowed, fragment dropped.
pub fn parse_service_url(input: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(input).map_err(|e| format!("invalid URL {input:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("URL {input:?} must start with http:// or https://"));
    }
    if url.host_str().is_none() {
        return Err(format!("URL {input:?} has no host"));
    }
    url.set_fragment(None);
    Ok(url.to_string())
}

/// clap value parser for `--header Name: value`.
pub fn parse_header(input: &str) -> Result<(String, String), String> {
    let (name, value) = input
        .split_once(':')
        .ok_or_else(|| format!("{input:?} is not `Name: value`"))?;
    let name = name.trim();
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a header name"))?;
    if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("dpop") {
        return Err(format!(
            "{name} is set by the command itself (a DPoP-bound token and a fresh proof)"
        ));
    }
    let value = value.trim();
    reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| format!("the value of {name} is not a valid header value"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// The token flows of `issue`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// `POST /v1/challenge`, then `POST /v1/token` with a proof answering it
    Challenge,
    /// `POST /oauth/token`: client credentials with a private_key_jwt client assertion
    ClientCredentials,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The token (a compact JWS: always taken as the token itself), else a path to a file holding
    /// it, or - to read it from stdin
    #[arg(long, value_name = "T|-")]
    pub token: String,
    /// JWKS file or http(s) URL [default: the home's cached jwks.json, else fetched from the server]
    #[arg(long, value_name = "FILE|URL")]
    pub jwks: Option<String>,
    /// Expected issuer [default: the home's server]
    #[arg(long, value_name = "ISSUER")]
    pub iss: Option<String>,
    /// Expected audience (checked only when given)
    #[arg(long, value_name = "AUDIENCE")]
    pub aud: Option<String>,
    /// Clock skew tolerance in seconds (or a duration like 1m) [default: 60]
    #[arg(long, value_name = "SECONDS", value_parser = duration::parse_seconds)]
    pub leeway: Option<u64>,
    /// Also ask the server (introspection): revocation, agent and operator status
    #[arg(long)]
    pub online: bool,
    /// Check the token's status against this saved status list (statuslist+jwt) instead of fetching one
    #[arg(long, value_name = "FILE", conflicts_with = "no_status")]
    pub status_list: Option<std::path::PathBuf>,
    /// Do not check the token's status list entry (the output says it was not checked)
    #[arg(long)]
    pub no_status: bool,
}

#[derive(Subcommand, Debug)]
pub enum StatusListCommand {
    /// Fetch a Token Status List (statuslist+jwt) and save it, for `verify --status-list FILE`
    Fetch(StatusListFetchArgs),
}

#[derive(Args, Debug)]
pub struct StatusListFetchArgs {
    /// The list's URI (a token's status.status_list.uri) [default: list --list of the server]
    #[arg(long, value_name = "URI", conflicts_with = "list")]
    pub uri: Option<String>,
    /// The list's number on the server [default: 1]
    #[arg(long, value_name = "N")]
    pub list: Option<u64>,
    /// Where to save it [default: stdout]
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum RevokeCommand {
    /// Revoke one token (signed by the operator key, or by the agent key for its own token)
    Token(TokenArg),
    /// Revoke an agent permanently (operator-signed)
    Agent(RequiredDidArg),
    /// Suspend an agent (operator-signed)
    Suspend(RequiredDidArg),
    /// Reactivate a suspended agent (operator-signed)
    Reactivate(RequiredDidArg),
    /// List revoked tokens and agents, a page at a time (operator-signed)
    List(PageArgs),
}

#[derive(Args, Debug)]
pub struct TokenArg {
    /// The token (a compact JWS: always taken as the token itself), else a path to a file holding
    /// it, or - to read it from stdin
    #[arg(long, value_name = "T|-")]
    pub token: String,
}

#[derive(Subcommand, Debug)]
pub enum ProfilesCommand {
    /// Each profile (and the default home if it holds an identity) with its identities and server
    List,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// First revoke the home's agent at the server (needs the operator key in this home)
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Args, Debug)]
pub struct SetServerArgs {
    /// New server base URL
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub url: String,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// Shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// A validated, de-duplicated list of scope tokens from `a,b` (commas and/or spaces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeList(pub Vec<String>);

/// clap value parser for `--scope` / `--scopes`.
pub fn parse_scope_list(input: &str) -> Result<ScopeList, String> {
    let mut scopes: Vec<String> = Vec::new();
    for part in input.split(|c: char| c == ',' || c.is_ascii_whitespace()) {
        if part.is_empty() {
            continue;
        }
        // RFC 6749 §3.3 scope-token characters.
        if let Some(bad) = part
            .chars()
            .find(|&c| !(c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c)))
        {
            return Err(format!("scope {part:?} contains the character {bad:?}"));
        }
        if !scopes.iter().any(|s| s == part) {
            scopes.push(part.to_string());
        }
    }
    if scopes.is_empty() {
        return Err("at least one scope is required (e.g. read,write)".into());
    }
    Ok(ScopeList(scopes))
}

/// clap value parser for a profile name: letters, digits, `-`, `_`, `.`, not starting with `.` (so it is
/// always one plain directory name under `profiles/`).
pub fn parse_profile(input: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if input.is_empty() || input.starts_with('.') || !input.chars().all(ok) || input.len() > 64 {
        return Err(format!(
            "invalid profile name {input:?}: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'"
        ));
    }
    Ok(input.to_owned())
}

/// clap value parser for server URLs: http(s), no query or fragment; the trailing slash is dropped.
pub fn parse_url(input: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(input).map_err(|e| format!("invalid URL {input:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("URL {input:?} must start with http:// or https://"));
    }
    if url.host_str().is_none() {
        return Err(format!("URL {input:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("URL {input:?} must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scope_lists() {
        assert_eq!(
            parse_scope_list("read,write, read").unwrap().0,
            ["read", "write"]
        );
        assert!(parse_scope_list(",").is_err());
        assert!(parse_scope_list("a\"b").is_err());
    }

    #[test]
    fn request_arguments() {
        assert_eq!(parse_method("get").unwrap(), "GET");
        assert!(parse_method("GE T").is_err());
        assert_eq!(
            parse_service_url("http://127.0.0.1:8080/files?x=1#top").unwrap(),
            "http://127.0.0.1:8080/files?x=1"
        );
        assert!(parse_service_url("file:///etc/passwd").is_err());
        assert_eq!(
            parse_header("X-Trace:  abc ").unwrap(),
            ("X-Trace".to_owned(), "abc".to_owned())
        );
        assert!(parse_header("Authorization: Bearer x").is_err());
        assert!(parse_header("dpop: x").is_err());
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("Bad Name: x").is_err());
    }

    #[test]
    fn profile_names() {
        assert_eq!(parse_profile("work-1.dev_x").unwrap(), "work-1.dev_x");
        for bad in ["", ".hidden", "..", "a/b", "a b", "é"] {
            assert!(parse_profile(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_are_normalized() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://x/?q=1").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn command_names_match_the_interface() {
        let cmd = Cli::command();
        for name in [
            "init",
            "register",
            "verify-operator",
            "agent-scopes",
            "issue",
            "verify",
            "request",
            "revoke",
            "whoami",
            "health",
            "set-server",
            "jwks",
            "completions",
            "man",
        ] {
            assert!(
                cmd.find_subcommand(name).is_some(),
                "missing subcommand {name}"
            );
        }
    }
}
