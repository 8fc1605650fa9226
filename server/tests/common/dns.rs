//! A tiny authoritative DNS server on 127.0.0.1 (UDP) for router tests: answers TXT queries from a
//! mutable in-memory zone, NXDOMAIN for unknown names, SERVFAIL where told to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

#[derive(Clone, Debug)]
pub enum Answer {
    /// TXT records, each given as its character-strings.
    Txt(Vec<Vec<String>>),
    ServFail,
}

#[derive(Clone, Debug)]
pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<Mutex<HashMap<String, Answer>>>,
}

impl TestDns {
    pub async fn start() -> TestDns {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind DNS socket");
        let addr = socket.local_addr().unwrap();
        let zone: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let served = Arc::clone(&zone);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                if let Ok(query) = Message::from_vec(&buf[..len]) {
                    let reply = respond(&query, &served);
                    let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
                }
            }
        });
        TestDns { addr, zone }
    }

    /// Publishes one TXT record (a single string) at `name`, replacing what was there.
    pub fn set_txt(&self, name: &str, value: &str) {
        self.set(name, Answer::Txt(vec![vec![value.to_owned()]]));
    }

    pub fn set(&self, name: &str, answer: Answer) {
        self.zone
            .lock()
            .unwrap()
            .insert(name.trim_end_matches('.').to_ascii_lowercase(), answer);
    }

    pub fn remove(&self, name: &str) {
        self.zone.lock().unwrap().remove(name.trim_end_matches('.'));
    }
}

fn respond(query: &Message, zone: &Mutex<HashMap<String, Answer>>) -> Message {
    let mut reply = Message::response(query.id, query.op_code);
    reply.metadata.recursion_desired = query.recursion_desired;
    reply.metadata.authoritative = true;
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    reply.add_query(q.clone());
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let answer = zone.lock().unwrap().get(&name).cloned();
    match answer {
        Some(Answer::ServFail) => reply.metadata.response_code = ResponseCode::ServFail,
        Some(Answer::Txt(records)) if q.query_type() == RecordType::TXT => {
            for strings in records {
                let txt = TXT::from_bytes(strings.iter().map(|s| s.as_bytes()).collect());
                reply.add_answer(Record::from_rdata(q.name().clone(), 60, RData::TXT(txt)));
            }
        }
        Some(Answer::Txt(_)) => {}
        None => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    reply
}
