#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| samtykke::fuzzing::page_form(data));
