//! The association path of the node: PDUs as dicom-ul reads them off the wire (strict, at
//! the node's max PDU length, as `scp::options` sets up the association), written back,
//! and the DIMSE command sets the node parses from P-DATA (`dimse::parse_request`) or
//! reads from a response (`dimse::response_status`, the sender). Nothing here may panic,
//! abort or allocate more than libFuzzer's -malloc_limit_mb.
#![no_main]

use std::sync::LazyLock;

use dicom_ul::pdu::{PDataValueType, Pdu, read_pdu, write_pdu};
use libfuzzer_sys::fuzz_target;
use rajoints::config::Config;
use rajoints::node::dimse;

/// The node's embedded defaults (rajoints.toml): node.max_pdu_length.
static CONFIG: LazyLock<Config> =
    LazyLock::new(|| Config::load(None, &[]).expect("embedded defaults load"));

/// PDUs read from one input: an association's worth, without looping on garbage.
const MAX_PDUS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        // A stream of PDUs, as the association's reader buffers them.
        0 | 1 => {
            let mut buf = rest;
            for _ in 0..MAX_PDUS {
                let pdu = match read_pdu(&mut buf, CONFIG.node.max_pdu_length, true) {
                    Ok(Some(p)) => p,
                    Ok(None) | Err(_) => return,
                };
                let mut out = Vec::new();
                let _ = write_pdu(&mut out, &pdu);
                if let Pdu::PData { data } = &pdu {
                    for pv in data {
                        if pv.value_type == PDataValueType::Command {
                            let _ = dimse::parse_request(&pv.data);
                        }
                    }
                }
            }
        }
        // A command set alone (the node joins a command's fragments before parsing).
        2 => {
            let _ = dimse::parse_request(rest);
        }
        _ => {
            let _ = dimse::response_status(rest);
        }
    }
});
