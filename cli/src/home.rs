//! The home directory: where it is, the identity JSON files, the private key files (PKCS#8 PEM, 0600, in a 0700
//! directory, written atomically), the permission check on keys (as ssh does), the cached JWKS, and the access
//! tokens `request` caches (0600, checked like a key).
//!
//! Layout: `operator.json`, `agent.json`, `keys/operator.key`, `keys/agent.key`, `jwks.json`, `tokens.json`.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use auth4agent_protocol::SigningKey;
use auth4agent_verifier::KeySetSnapshot;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use zeroize::Zeroizing;

use crate::error::{CliError, Result};

/// Which identity of a home: one home may hold both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Operator,
    Agent,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Agent => "agent",
        }
    }

    fn init_hint(self) -> &'static str {
        match self {
            Role::Operator => {
                "run `auth4agent init --operator --domain DOMAIN --server URL`, or pass --home DIR"
            }
            Role::Agent => "run `auth4agent init --domain DOMAIN --server URL`, or pass --home DIR",
        }
    }
}

/// `operator.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OperatorIdentity {
    pub domain: String,
    pub server: String,
    /// Server-assigned operator id (`op_...`), saved by `register operator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// RFC 7638 thumbprint of the operator key.
    pub thumbprint: String,
    /// Issuer URL from the server's discovery document (cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// `agent.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AgentIdentity {
    pub domain: String,
    pub server: String,
    pub did: String,
    /// The operator that approved the agent, saved by `register agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
    /// RFC 7638 thumbprint of the agent key.
    pub thumbprint: String,
    /// Issuer URL from the server's discovery document (cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// Resolves the home directory: `--home DIR`, else `$AUTH4AGENT_HOME` (if non-empty), else `<user home>/.auth4agent`.
pub fn resolve(
    flag: Option<PathBuf>,
    env_home: Option<OsString>,
    user_home: Option<OsString>,
) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(dir) = env_home.filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match user_home.filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir).join(".auth4agent")),
        None => Err(CliError::home(
            "no_home_directory",
            "cannot find a home directory: $HOME is not set",
        )
        .with_hint("pass --home DIR or set AUTH4AGENT_HOME")),
    }
}

/// Refuses a key directory that its group or others may use: whoever can write to it can replace the key.
pub fn check_key_dir_permissions(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).map_err(|e| CliError::io("read", dir, &e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::home(
            "key_permissions_too_open",
            format!(
                "permissions {mode:04o} for the key directory '{}' are too open: others could replace the key",
                dir.display()
            ),
        )
        .with_hint(format!("run chmod 700 '{}'", dir.display())));
    }
    Ok(())
}

/// Refuses a private key file that its group or others may read or write (the ssh rule).
pub fn check_key_permissions(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| CliError::io("read", path, &e))?;
    if !meta.is_file() {
        return Err(CliError::home(
            "invalid_key_file",
            format!("'{}' is not a regular file", path.display()),
        )
        .with_hint("point --home at a directory created by `auth4agent init`"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::home(
            "key_permissions_too_open",
            format!(
                "permissions {mode:04o} for '{}' are too open: a private key must not be accessible by others",
                path.display()
            ),
        )
        .with_hint(format!("run chmod 600 '{}'", path.display())));
    }
    Ok(())
}

/// An access token kept by `request` for reuse, keyed by server, agent, audience and scope set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CachedToken {
    pub server: String,
    pub did: String,
    pub aud: String,
    /// The scopes asked for, canonical (sorted, space-separated); empty: every scope the agent is allowed.
    pub requested_scope: String,
    /// The scopes granted.
    pub scope: String,
    pub token: String,
    /// `DPoP` or `Bearer`.
    pub token_type: String,
    pub expires_at: u64,
}

/// The freshness record of the cached JWKS (`jwks.cache.json`), for the verifier crate's key-set cache.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct JwksCacheRecord {
    jwks_uri: String,
    etag: Option<String>,
    fetched_at: u64,
    fresh_until: u64,
}

/// A home directory (it may not exist yet).
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: PathBuf) -> Home {
        Home { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn identity_path(&self, role: Role) -> PathBuf {
        self.root.join(format!("{}.json", role.name()))
    }

    pub fn key_path(&self, role: Role) -> PathBuf {
        self.root.join("keys").join(format!("{}.key", role.name()))
    }

    pub fn jwks_path(&self) -> PathBuf {
        self.root.join("jwks.json")
    }

    pub fn tokens_path(&self) -> PathBuf {
        self.root.join("tokens.json")
    }

    /// The cached access tokens (none if there is no cache). The file holds secrets: it is refused, like a key,
    /// when others may read it.
    pub fn cached_tokens(&self) -> Result<Vec<CachedToken>> {
        let path = self.tokens_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        check_key_permissions(&path)?;
        let text = fs::read_to_string(&path).map_err(|e| CliError::io("read", &path, &e))?;
        // A cache that does not parse is only a cache: start again.
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// Replaces the token cache (written 0600, atomically).
    pub fn save_tokens(&self, tokens: &[CachedToken]) -> Result<()> {
        self.write_json(&self.tokens_path(), &tokens)
    }

    pub fn has_identity(&self, role: Role) -> bool {
        self.identity_path(role).exists() || self.key_path(role).exists()
    }

    /// `operator.json`, or `None` if the home has no operator.
    pub fn try_operator(&self) -> Result<Option<OperatorIdentity>> {
        self.read_json(&self.identity_path(Role::Operator))
    }

    /// `agent.json`, or `None` if the home has no agent.
    pub fn try_agent(&self) -> Result<Option<AgentIdentity>> {
        self.read_json(&self.identity_path(Role::Agent))
    }

    pub fn agent(&self) -> Result<AgentIdentity> {
        self.try_agent()?.ok_or_else(|| self.missing(Role::Agent))
    }

    pub fn missing(&self, role: Role) -> CliError {
        CliError::home(
            format!("no_{}_identity", role.name()),
            format!("no {} identity in '{}'", role.name(), self.root.display()),
        )
        .with_hint(role.init_hint())
    }

    pub fn save_operator(&self, identity: &OperatorIdentity) -> Result<()> {
        self.write_json(&self.identity_path(Role::Operator), identity)
    }

    pub fn save_agent(&self, identity: &AgentIdentity) -> Result<()> {
        self.write_json(&self.identity_path(Role::Agent), identity)
    }

    /// Loads a private key after checking its permissions, and checks it matches the identity's thumbprint.
    pub fn load_key(&self, role: Role, expected_thumbprint: &str) -> Result<SigningKey> {
        let path = self.key_path(role);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(CliError::home(
                    format!("no_{}_key", role.name()),
                    format!("no {} key at '{}'", role.name(), path.display()),
                )
                .with_hint(role.init_hint()));
            }
            Err(e) => return Err(CliError::io("read", &path, &e)),
            Ok(_) => {}
        }
        check_key_dir_permissions(path.parent().expect("key paths have a parent"))?;
        check_key_permissions(&path)?;
        let pem =
            Zeroizing::new(fs::read_to_string(&path).map_err(|e| CliError::io("read", &path, &e))?);
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
            CliError::home("invalid_key_file", format!("'{}': {e}", path.display()))
                .with_hint("the file must be a PKCS#8 PEM Ed25519 private key; re-create it with `auth4agent init --force`")
        })?;
        let thumbprint = key.public_key().thumbprint();
        if thumbprint != expected_thumbprint {
            return Err(CliError::home(
                "key_mismatch",
                format!(
                    "the key in '{}' (thumbprint {thumbprint}) is not the one in {}.json ({expected_thumbprint})",
                    path.display(),
                    role.name()
                ),
            )
            .with_hint("restore the matching key file, or start over with `auth4agent init --force`"));
        }
        Ok(key)
    }

    /// Writes a private key as PKCS#8 PEM, mode 0600 from creation, atomically.
    pub fn save_key(&self, role: Role, key: &SigningKey) -> Result<()> {
        let path = self.key_path(role);
        let pem = key.to_pkcs8_pem().map_err(|e| CliError::protocol(&e))?;
        self.write_private(&path, pem.as_bytes())?;
        // `keys/` is ours alone even if it pre-existed with a looser mode (the home itself may be any directory
        // the user chose, so it is left as it is unless we created it).
        let keys = path.parent().expect("key paths have a parent");
        fs::set_permissions(keys, fs::Permissions::from_mode(0o700))
            .map_err(|e| CliError::io("restrict the permissions of", keys, &e))
    }

    /// Where a new key waits, 0600, while the server has not yet accepted it: `keys/<role>.key.new`.
    pub fn pending_key_path(&self, role: Role) -> PathBuf {
        let mut path = self.key_path(role).into_os_string();
        path.push(".new");
        PathBuf::from(path)
    }

    /// Writes a new key to [`Self::pending_key_path`] (PKCS#8 PEM, 0600 from creation, atomically).
    pub fn save_pending_key(&self, role: Role, key: &SigningKey) -> Result<()> {
        let pem = key.to_pkcs8_pem().map_err(|e| CliError::protocol(&e))?;
        self.write_private(&self.pending_key_path(role), pem.as_bytes())
    }

    /// The pending key, if there is one (its file and `keys/` checked as for a key).
    pub fn load_pending_key(&self, role: Role) -> Result<Option<SigningKey>> {
        let path = self.pending_key_path(role);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CliError::io("read", &path, &e)),
            Ok(_) => {}
        }
        check_key_dir_permissions(path.parent().expect("key paths have a parent"))?;
        check_key_permissions(&path)?;
        let pem =
            Zeroizing::new(fs::read_to_string(&path).map_err(|e| CliError::io("read", &path, &e))?);
        SigningKey::from_pkcs8_pem(&pem)
            .map(Some)
            .map_err(|e| CliError::home("invalid_key_file", format!("'{}': {e}", path.display())))
    }

    /// Moves the pending key over the key file: one rename, so the key file is always either the old
    /// key or the new one, never a partial file.
    pub fn commit_pending_key(&self, role: Role) -> Result<()> {
        let (pending, path) = (self.pending_key_path(role), self.key_path(role));
        fs::rename(&pending, &path).map_err(|e| CliError::io("replace", &path, &e))?;
        let dir = path.parent().expect("key paths have a parent");
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| CliError::io("sync", dir, &e))
    }

    /// Removes a pending key the server refused (best effort: it was never in use).
    pub fn discard_pending_key(&self, role: Role) {
        let _ = fs::remove_file(self.pending_key_path(role));
    }

    /// The cached JWKS text, if any.
    pub fn cached_jwks(&self) -> Result<Option<String>> {
        let path = self.jwks_path();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::io("read", &path, &e)),
        }
    }

    /// Saves the server's JWKS just fetched by `uri` (fresh for the default `max-age` from now).
    pub fn save_jwks(&self, text: &str) -> Result<()> {
        self.write_private(&self.jwks_path(), text.as_bytes())?;
        // Without its freshness record a saved JWKS counts from the file's modification time.
        match fs::remove_file(self.jwks_cache_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CliError::io("remove", &self.jwks_cache_path(), &e)),
        }
    }

    /// When the cached JWKS was fetched, from where, its `ETag` and until when it is fresh.
    pub fn jwks_cache_path(&self) -> PathBuf {
        self.root.join("jwks.cache.json")
    }

    /// The verifier crate's key-set cache as the last run left it: the JWKS of `jwks_uri` with its freshness
    /// record; a JWKS saved without one (by `issue` or `jwks`) counts as fetched at its modification time, fresh
    /// for `default_max_age`. `None` when nothing is cached, or the cache is of another URL.
    pub fn key_set_snapshot(
        &self,
        jwks_uri: &str,
        default_max_age: u64,
    ) -> Result<Option<KeySetSnapshot>> {
        let Some(jwks) = self.cached_jwks()? else {
            return Ok(None);
        };
        let path = self.jwks_cache_path();
        let record = match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<JwksCacheRecord>(&text).ok(),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(CliError::io("read", &path, &e)),
        };
        if let Some(record) = record {
            return Ok((record.jwks_uri == jwks_uri).then_some(KeySetSnapshot {
                jwks,
                etag: record.etag,
                fetched_at: record.fetched_at,
                fresh_until: record.fresh_until,
            }));
        }
        let modified = fs::metadata(self.jwks_path())
            .and_then(|m| m.modified())
            .map_err(|e| CliError::io("read", &self.jwks_path(), &e))?;
        let fetched_at = modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Some(KeySetSnapshot {
            jwks,
            etag: None,
            fetched_at,
            fresh_until: fetched_at.saturating_add(default_max_age),
        }))
    }

    /// Saves the key-set cache of `jwks_uri` for the next run: the JWKS, then its freshness record.
    pub fn save_key_set_snapshot(&self, jwks_uri: &str, snapshot: &KeySetSnapshot) -> Result<()> {
        self.write_private(&self.jwks_path(), snapshot.jwks.as_bytes())?;
        let record = JwksCacheRecord {
            jwks_uri: jwks_uri.to_owned(),
            etag: snapshot.etag.clone(),
            fetched_at: snapshot.fetched_at,
            fresh_until: snapshot.fresh_until,
        };
        let text = serde_json::to_string_pretty(&record).expect("the record serializes");
        self.write_private(&self.jwks_cache_path(), text.as_bytes())
    }

    /// Where the status list at `uri` is cached: `status-lists/<first 16 bytes of SHA-256(uri), hex>.jwt`.
    pub fn status_list_path(&self, uri: &str) -> PathBuf {
        let digest = auth4agent_protocol::hex(&auth4agent_protocol::sha256(uri.as_bytes())[..16]);
        self.root.join("status-lists").join(format!("{digest}.jwt"))
    }

    /// The cached status list token of `uri`, if any.
    pub fn cached_status_list(&self, uri: &str) -> Result<Option<String>> {
        let path = self.status_list_path(uri);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::io("read", &path, &e)),
        }
    }

    pub fn save_status_list(&self, uri: &str, text: &str) -> Result<()> {
        self.write_private(&self.status_list_path(uri), text.as_bytes())
    }

    /// The server saved in the home: the agent's, else the operator's.
    pub fn saved_server(&self) -> Result<Option<String>> {
        if let Some(agent) = self.try_agent()? {
            return Ok(Some(agent.server));
        }
        Ok(self.try_operator()?.map(|op| op.server))
    }

    /// The cached issuer for `server`, if an identity saved one for that same server.
    pub fn cached_issuer(&self, server: &str) -> Result<Option<String>> {
        if let Some(agent) = self.try_agent()?
            && agent.server == server
            && agent.issuer.is_some()
        {
            return Ok(agent.issuer);
        }
        if let Some(op) = self.try_operator()?
            && op.server == server
        {
            return Ok(op.issuer);
        }
        Ok(None)
    }

    /// Remembers the issuer of `server` in every identity saved with that server.
    pub fn remember_issuer(&self, server: &str, issuer: &str) -> Result<()> {
        if let Some(mut agent) = self.try_agent()?
            && agent.server == server
            && agent.issuer.as_deref() != Some(issuer)
        {
            agent.issuer = Some(issuer.to_string());
            self.save_agent(&agent)?;
        }
        if let Some(mut op) = self.try_operator()?
            && op.server == server
            && op.issuer.as_deref() != Some(issuer)
        {
            op.issuer = Some(issuer.to_string());
            self.save_operator(&op)?;
        }
        Ok(())
    }

    fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CliError::io("read", path, &e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            CliError::home(
                "corrupt_identity",
                format!("'{}' is not a valid identity file: {e}", path.display()),
            )
            .with_hint("fix or remove the file, then run `auth4agent init --force`")
        })
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let mut text = serde_json::to_string_pretty(value).expect("identity serializes");
        text.push('\n');
        self.write_private(path, text.as_bytes())
    }

    /// Creates the parent directories (0700), then writes `bytes` to a fresh 0600 temporary file, fsyncs it and
    /// renames it over `path`, so a reader never sees a partial file and the mode is never looser than 0600.
    fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().expect("home paths have a parent");
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| CliError::io("create directory", dir, &e))?;
        let name = path
            .file_name()
            .expect("home paths have a file name")
            .to_string_lossy();
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let written = (|| -> std::io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            fs::File::open(dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(CliError::io("write", path, &e));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn flag_beats_env_beats_user_home() {
        let flag = Some(PathBuf::from("/flag"));
        assert_eq!(
            resolve(flag, os("/env"), os("/u")).unwrap(),
            PathBuf::from("/flag")
        );
        assert_eq!(
            resolve(None, os("/env"), os("/u")).unwrap(),
            PathBuf::from("/env")
        );
        assert_eq!(
            resolve(None, None, os("/u")).unwrap(),
            PathBuf::from("/u/.auth4agent")
        );
        assert_eq!(
            resolve(None, os(""), os("/u")).unwrap(),
            PathBuf::from("/u/.auth4agent")
        );
        assert_eq!(
            resolve(None, None, None).unwrap_err().exit,
            crate::error::Exit::Home
        );
    }

    #[test]
    fn keys_are_written_0600_in_a_0700_dir_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().join("h"));
        let key = SigningKey::from_seed(&[7u8; 32]);
        fs::create_dir_all(tmp.path().join("h/keys")).unwrap();
        fs::set_permissions(tmp.path().join("h/keys"), fs::Permissions::from_mode(0o755)).unwrap();
        home.save_key(Role::Agent, &key).unwrap();
        let path = home.key_path(Role::Agent);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let pem = fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let thumb = key.public_key().thumbprint();
        let loaded = home.load_key(Role::Agent, &thumb).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn loose_key_permissions_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().to_path_buf());
        let key = SigningKey::from_seed(&[9u8; 32]);
        home.save_key(Role::Operator, &key).unwrap();
        let path = home.key_path(Role::Operator);
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = home
                .load_key(Role::Operator, &key.public_key().thumbprint())
                .unwrap_err();
            assert_eq!(err.code, "key_permissions_too_open");
            assert!(
                err.message.contains(&format!("{mode:04o}")),
                "{}",
                err.message
            );
            assert!(err.hint.unwrap().contains("chmod 600"));
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(
            home.load_key(Role::Operator, &key.public_key().thumbprint())
                .is_ok()
        );
        let dir = path.parent().unwrap();
        for mode in [0o755, 0o770, 0o703] {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
            let err = home
                .load_key(Role::Operator, &key.public_key().thumbprint())
                .unwrap_err();
            assert_eq!(err.code, "key_permissions_too_open");
            assert!(err.message.contains("key directory"), "{}", err.message);
            assert!(err.hint.unwrap().contains("chmod 700"));
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(
            home.load_key(Role::Operator, &key.public_key().thumbprint())
                .is_ok()
        );
    }

    #[test]
    fn wrong_thumbprint_and_missing_key_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().to_path_buf());
        assert_eq!(
            home.load_key(Role::Agent, "x").unwrap_err().code,
            "no_agent_key"
        );
        home.save_key(Role::Agent, &SigningKey::from_seed(&[1u8; 32]))
            .unwrap();
        assert_eq!(
            home.load_key(Role::Agent, "x").unwrap_err().code,
            "key_mismatch"
        );
    }

    #[test]
    fn identities_round_trip_and_issuer_is_cached_per_server() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().to_path_buf());
        assert!(home.try_agent().unwrap().is_none());
        assert_eq!(home.missing(Role::Operator).code, "no_operator_identity");
        let op = OperatorIdentity {
            domain: "example.com".into(),
            server: "http://127.0.0.1:1".into(),
            id: None,
            thumbprint: "t".into(),
            issuer: None,
        };
        home.save_operator(&op).unwrap();
        assert_eq!(home.try_operator().unwrap(), Some(op));
        assert_eq!(
            home.saved_server().unwrap().as_deref(),
            Some("http://127.0.0.1:1")
        );
        home.remember_issuer("http://other", "http://iss").unwrap();
        assert_eq!(home.cached_issuer("http://127.0.0.1:1").unwrap(), None);
        home.remember_issuer("http://127.0.0.1:1", "http://iss")
            .unwrap();
        assert_eq!(
            home.cached_issuer("http://127.0.0.1:1").unwrap().as_deref(),
            Some("http://iss")
        );
    }
}
