//! auth4agent benchmarks: the token fixture shared by the criterion benches ([`fixture`]) and the pieces of the
//! `auth4agent-loadgen` load generator.

pub mod fixture;
