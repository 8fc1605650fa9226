//! The rules of auth4agent, with no HTTP in them: every handler adapts a request to one function
//! here and maps its result. Each function takes typed inputs and `now` and returns a typed result
//! or a [`ServiceError`].
//!
//! - [`signatures`]: signed administrative requests (verification, single-use `jti`);
//! - [`operators`]: registration, DNS verification and re-verification, what an operator may see;
//! - [`agents`]: registration and the lifecycle ([`lifecycle`], one pure transition function);
//! - [`issuance`]: challenge → proof → token, and [`issuance::grant`], the rules every token path shares;
//! - [`client_credentials`]: the OAuth client credentials grant with `private_key_jwt` (one round trip);
//! - [`dpop`]: DPoP proofs on token requests (RFC 9449 §5), which make the token's type `DPoP`;
//! - [`device`]: the device authorization grant (RFC 8628), its approvals and remembered grants;
//! - [`registrations`]: registrations that ask for scopes, decided in the same approval queue;
//! - [`console`]: the browser operator console: one-time login links, sessions, CSRF, browser approvals;
//! - [`passkeys`]: the console's passkeys (WebAuthn): registration, passkey login, approval assertions;
//! - [`refusals`]: refusals more than one token path gives (replayed assertions, spent device codes);
//! - [`revocation`]: introspection, token revocation and the operator's revocations list;
//! - [`pages`]: the page size and opaque cursors of every paged list;
//! - [`status_lists`]: each agent's Token Status List entry and the signed lists;
//! - [`audit`]: the audit log.

pub mod agents;
pub mod audit;
pub mod client_credentials;
pub mod console;
pub mod device;
pub mod dpop;
pub mod error;
pub mod issuance;
pub mod lifecycle;
pub mod operators;
pub mod pages;
pub mod passkeys;
pub mod refusals;
pub mod registrations;
pub mod revocation;
pub mod signatures;
pub mod status_lists;

pub use error::{ServiceError, ServiceResult};
