//! CLI profiles and logout: `--profile` / `AUTH4AGENT_PROFILE` homes side by side under one home root, name
//! validation, and `logout` removing a profile's identity (and refusing `--revoke` without the operator key,
//! removing nothing; with it, revoking the agent at the server first).

use crate::support::{World, str_field};

#[test]
fn two_profiles_hold_different_agents_and_logout_removes_one() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let root = world.cli("root");
    let mut dids = Vec::new();
    for name in ["work", "play"] {
        let cli = root.with_env("AUTH4AGENT_PROFILE", name);
        let did = str_field(&cli.init_agent("example.com"), "did");
        cli.ok_json(["register", "agent", "--operator-id", &operator.id]);
        assert_eq!(operator.set_scopes(&did, "read")["status"], "active");
        assert!(
            root.home()
                .join("profiles")
                .join(name)
                .join("agent.json")
                .is_file()
        );
        let whoami = cli.ok_json(["whoami"]);
        assert_eq!(whoami["agent"]["did"], did.as_str(), "{whoami}");
        dids.push(did);
    }
    assert_ne!(dids[0], dids[1]);
    assert!(
        !root.home().join("agent.json").exists(),
        "no profile: default home untouched"
    );
    // The flag wins over the environment.
    let flagged =
        root.with_env("AUTH4AGENT_PROFILE", "play")
            .ok_json(["--profile", "work", "whoami"]);
    assert_eq!(flagged["agent"]["did"], dids[0].as_str(), "{flagged}");

    // `profiles` lists both (sorted), not the empty default home.
    let listed = root.ok_json(["profiles", "list"]);
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["profile"], "play");
    assert_eq!(listed[0]["agent"]["did"], dids[1].as_str());
    assert_eq!(listed[1]["profile"], "work");
    assert_eq!(listed[1]["agent"]["server"], root.server_url());

    let work = root.with_env("AUTH4AGENT_PROFILE", "work");
    // --revoke needs the operator key: refused, and nothing removed.
    work.fail_with(["logout", "--revoke"], "no_operator_key");
    assert!(root.home().join("profiles/work/agent.json").is_file());
    let out = work.ok_json(["logout"]);
    assert_eq!(out["removed"].as_array().map(Vec::len), Some(2), "{out}");
    assert!(!root.home().join("profiles/work/agent.json").exists());
    assert!(!root.home().join("profiles/work/keys/agent.key").exists());
    work.fail_with(["whoami"], "no_identity");
    // The other profile is intact.
    let play = root
        .with_env("AUTH4AGENT_PROFILE", "play")
        .ok_json(["whoami"]);
    assert_eq!(play["agent"]["did"], dids[1].as_str(), "{play}");
}

#[test]
fn invalid_profile_names_are_refused() {
    let world = World::new();
    let root = world.cli("root");
    for bad in [".hidden", "a/b", "../x", "a b"] {
        let out = root.run(["--profile", bad, "whoami"]);
        assert_eq!(out.code(), Some(2), "{bad}: {}", out.text());
        let out = root.with_env("AUTH4AGENT_PROFILE", bad).run(["whoami"]);
        assert_eq!(out.code(), Some(2), "{bad}: {}", out.text());
    }
    assert!(!root.home().join("profiles").exists());
}

/// `logout --revoke` in a home holding the operator key too: the agent is revoked at the server (seen through a
/// copy of the operator's identity kept elsewhere), then every identity, key and cache of the home is removed.
#[test]
fn logout_revoke_with_the_operator_key_revokes_the_agent_then_removes_the_home() {
    use std::os::unix::fs::PermissionsExt as _;

    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let home = operator.cli.home().to_owned();
    let did = str_field(&operator.cli.init_agent("example.com"), "did");
    // The operator id comes from the operator identity in the same home.
    let registered = operator.cli.ok_json(["register", "agent"]);
    assert_eq!(registered["did"], did.as_str(), "{registered}");
    assert_eq!(operator.set_scopes(&did, "read")["status"], "active");
    assert_eq!(
        operator
            .cli
            .ok_json(["issue", "--scope", "read", "--aud", crate::support::AUD])["scope"],
        "read"
    );

    // A witness home with a copy of the operator identity, to look at the server afterwards.
    let witness = world.cli("witness");
    std::fs::create_dir_all(witness.home().join("keys")).unwrap();
    for dir in [witness.home().to_owned(), witness.home().join("keys")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    for file in ["operator.json", "keys/operator.key"] {
        std::fs::copy(home.join(file), witness.home().join(file)).unwrap();
    }

    let out = operator.cli.ok_json(["logout", "--revoke"]);
    assert_eq!(out["revoked"], did.as_str(), "{out}");
    let removed = out["removed"].as_array().expect("removed");
    assert!(
        removed.len() >= 4,
        "agent and operator identities and keys: {out}"
    );
    for file in [
        "agent.json",
        "keys/agent.key",
        "operator.json",
        "keys/operator.key",
        "jwks.json",
    ] {
        assert!(!home.join(file).exists(), "{file} removed");
    }
    operator.cli.fail_with(["whoami"], "no_identity");

    let seen = witness.ok_json(["agent-scopes", "list", "--did", &did]);
    assert_eq!(seen["status"], "revoked", "{seen}");
    let revocations = witness.ok_json(["revoke", "list"]);
    let agents = revocations["agents"].as_array().expect("agents");
    assert!(
        agents.iter().any(|a| a["did"] == did.as_str()),
        "{revocations}"
    );
    // The human listing shows the time for a person.
    let human = witness.human().run(["revoke", "list"]);
    assert!(
        human.stdout.contains(&format!("agent {did} revoked ")) && human.stdout.contains("Z, "),
        "{}",
        human.stdout
    );
}
