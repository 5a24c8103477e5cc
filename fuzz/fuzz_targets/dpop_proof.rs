#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| samtykke::fuzzing::dpop_proof(data));
