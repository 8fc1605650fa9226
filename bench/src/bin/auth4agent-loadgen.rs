//! `auth4agent-loadgen`: drives challenge + token issuance (or introspection) against a real server.

fn main() {
    eprintln!("auth4agent-loadgen: not implemented yet");
    std::process::exit(2);
}
