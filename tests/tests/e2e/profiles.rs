//! CLI profiles and logout: `--profile` / `AUTH4AGENT_PROFILE` homes side by side under one home root, name
//! validation, and `logout` removing a profile's identity (and refusing `--revoke` without the operator key,
//! removing nothing).

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
