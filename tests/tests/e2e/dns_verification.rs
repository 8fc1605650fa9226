//! Domain verification against the real DNS server on loopback: wrong, split, late, withdrawn
//! and unreachable records, and who owns a domain.

use std::time::Duration;

use auth4agent_testkit::TxtRecord;
use auth4agent_testkit::dns::Behavior;
use hickory_proto::op::ResponseCode;

use crate::support::{AUD, World, str_field};

const CONFIRM: [&str; 2] = ["verify-operator", "confirm"];

#[test]
fn wrong_record_is_a_mismatch() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    world.dns.add_txt(
        &operator.txt_name,
        "auth4agent-verification=00000000000000000000000000000000",
    );
    operator.cli.fail_with(CONFIRM, "dns_record_mismatch");
    assert_eq!(operator.status()["status"], "unverified");

    // The value is compared byte for byte: no case folding, no trimming.
    let upper = operator
        .txt_value
        .replace("auth4agent-verification=", "")
        .to_uppercase();
    world.dns.set_txt(
        &operator.txt_name,
        vec![TxtRecord::from(format!("auth4agent-verification={upper}"))],
    );
    operator.cli.fail_with(CONFIRM, "dns_record_mismatch");
    world.dns.set_txt(
        &operator.txt_name,
        vec![TxtRecord::from(format!("{} ", operator.txt_value))],
    );
    operator.cli.fail_with(CONFIRM, "dns_record_mismatch");
    assert_eq!(operator.status()["status"], "unverified");
}

#[test]
fn record_at_another_name_is_not_found() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    // Without the underscore label, and at the apex: neither is the verification name.
    world
        .dns
        .add_txt("auth4agent.example.com", operator.txt_value.as_str());
    world
        .dns
        .add_txt("example.com", operator.txt_value.as_str());
    operator.cli.fail_with(CONFIRM, "dns_record_not_found");
    // The name exists but holds no TXT record: also "not found".
    world.dns.set_txt(&operator.txt_name, Vec::new());
    operator.cli.fail_with(CONFIRM, "dns_record_not_found");
    assert_eq!(operator.status()["status"], "unverified");
}

#[test]
fn split_record_is_concatenated() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    let (head, tail) = operator.txt_value.split_at(20);
    world
        .dns
        .set_txt(&operator.txt_name, vec![TxtRecord::strings([head, tail])]);
    assert_eq!(operator.cli.ok_json(CONFIRM)["status"], "verified");
}

#[test]
fn record_split_into_many_strings_is_concatenated() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    world.dns.set_txt(
        &operator.txt_name,
        vec![TxtRecord::chunked(&operator.txt_value, 7)],
    );
    assert_eq!(operator.cli.ok_json(CONFIRM)["status"], "verified");
}

#[test]
fn one_matching_record_among_several_passes() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    world.dns.add_txt(&operator.txt_name, "v=spf1 -all");
    world.dns.add_txt(
        &operator.txt_name,
        "auth4agent-verification=ffffffffffffffffffffffffffffffff",
    );
    world
        .dns
        .add_txt(&operator.txt_name, operator.txt_value.as_str());
    assert_eq!(operator.cli.ok_json(CONFIRM)["status"], "verified");
}

#[test]
fn record_added_after_a_failure_is_seen_at_once() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    // The negative answer carries a 300 s negative TTL: a caching resolver would keep it.
    operator.cli.fail_with(CONFIRM, "dns_record_not_found");
    world.publish(&operator);
    assert_eq!(operator.cli.ok_json(CONFIRM)["status"], "verified");
    assert_eq!(
        world.dns.query_count(&operator.txt_name),
        2,
        "each confirm asks the DNS"
    );
}

#[test]
fn record_fixed_after_a_mismatch_is_seen_at_once() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    world
        .dns
        .add_txt(&operator.txt_name, "auth4agent-verification=0123");
    operator.cli.fail_with(CONFIRM, "dns_record_mismatch");
    // The wrong answer had a 300 s TTL: positive answers must not be reused either.
    world.publish(&operator);
    assert_eq!(operator.cli.ok_json(CONFIRM)["status"], "verified");
}

#[test]
fn confirm_wait_polls_until_the_record_appears() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    let confirmed = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(2500));
            world.publish(&operator);
        });
        operator
            .cli
            .run(["verify-operator", "confirm", "--wait", "30s"])
    });
    assert!(confirmed.success(), "{confirmed}");
    assert_eq!(confirmed.json()["status"], "verified");
    assert!(world.dns.query_count(&operator.txt_name) >= 2, "it retried");
}

#[test]
fn confirm_wait_gives_up() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    let started = std::time::Instant::now();
    operator.cli.fail_with(
        ["verify-operator", "confirm", "--wait", "3s"],
        "dns_record_not_found",
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it stops after about --wait"
    );
}

#[test]
fn withdrawn_record_unverifies_the_operator() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    agent.token("read");

    world.dns.remove(&operator.txt_name);
    operator.cli.fail_with(CONFIRM, "dns_record_not_found");
    let status = operator.status();
    assert_eq!(status["status"], "unverified", "{status}");
    assert!(status["domain_verified_at"].is_null(), "{status}");
    assert!(status["verification_expires_at"].is_null(), "{status}");
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "operator_not_verified",
    );

    // Publishing again restores everything.
    world.publish(&operator);
    assert_eq!(operator.cli.ok_json(CONFIRM)["status"], "verified");
    agent.token("read");
}

#[test]
fn replaced_record_unverifies_the_operator() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    world.dns.set_txt(
        &operator.txt_name,
        vec![TxtRecord::from("auth4agent-verification=0000")],
    );
    operator.cli.fail_with(CONFIRM, "dns_record_mismatch");
    assert_eq!(operator.status()["status"], "unverified");
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "operator_not_verified",
    );
}

#[test]
fn lookup_failure_is_reported_and_changes_nothing() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    world.publish(&operator);
    for code in [ResponseCode::ServFail, ResponseCode::Refused] {
        world.dns.set_behavior(Behavior::Fail(code));
        operator.cli.fail_with(CONFIRM, "dns_lookup_failed");
        assert_eq!(operator.status()["status"], "unverified", "{code}");
    }

    world.dns.set_behavior(Behavior::Answer);
    assert_eq!(operator.cli.ok_json(CONFIRM)["status"], "verified");

    // A failed re-verification keeps the verified state (the proof was not withdrawn).
    world
        .dns
        .set_behavior(Behavior::Fail(ResponseCode::ServFail));
    operator.cli.fail_with(CONFIRM, "dns_lookup_failed");
    assert_eq!(operator.status()["status"], "verified");
}

#[test]
fn first_operator_to_verify_owns_the_domain() {
    let world = World::new();
    let first = world.registered_operator("first", "example.com");
    let second = world.registered_operator("second", "example.com");
    assert_ne!(
        first.id, second.id,
        "unverified claims on one domain coexist"
    );
    assert_ne!(
        first.txt_value, second.txt_value,
        "each operator has its own token"
    );
    world.dns.set_txt(
        &first.txt_name,
        vec![
            TxtRecord::from(first.txt_value.as_str()),
            TxtRecord::from(second.txt_value.as_str()),
        ],
    );
    assert_eq!(second.cli.ok_json(CONFIRM)["status"], "verified");
    first.cli.fail_with(CONFIRM, "operator_exists");
    assert_eq!(first.status()["status"], "unverified");

    // Nobody can register the verified domain again.
    let third = world.cli("third");
    third.init_operator("example.com");
    third.fail_with(["register", "operator"], "operator_exists");
}

#[test]
fn internationalized_domain_is_verified_under_its_ascii_name() {
    let world = World::new();
    let operator = world.cli("operator");
    operator.init_operator("Bücher.Example.ORG");
    let registered = operator.ok_json(["register", "operator"]);
    assert_eq!(registered["domain"], "xn--bcher-kva.example.org");
    let instructions = operator.ok_json(["verify-operator", "instructions"]);
    assert_eq!(
        instructions["txt_record_name"],
        "_auth4agent.xn--bcher-kva.example.org"
    );
    world.dns.add_txt(
        &str_field(&instructions, "txt_record_name"),
        str_field(&instructions, "txt_record_value"),
    );
    assert_eq!(operator.ok_json(CONFIRM)["status"], "verified");
}
