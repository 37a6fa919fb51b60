#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    crossbar_protocol_fuzz::fuzz_protocol(crossbar_protocol::canonical::Protocol::Anthropic, data);
});
