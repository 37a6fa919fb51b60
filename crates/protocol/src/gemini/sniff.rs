//! Usage sniffing for relayed gemini bodies.

use crate::canonical::Usage;
use crate::sse::sniff::SniffCore;

#[derive(Debug)]
pub struct Sniffer(SniffCore);

impl Sniffer {
    pub fn new(stream: bool) -> Sniffer {
        Sniffer(SniffCore::new(stream, b"usage", extract))
    }
    pub fn push(&mut self, chunk: &[u8]) {
        self.0.push(chunk)
    }
    pub fn finish(&mut self) {
        self.0.finish()
    }
    pub fn usage(&self) -> Usage {
        self.0.usage()
    }
}

fn extract(_data: &[u8]) -> Option<Usage> {
    None
}
