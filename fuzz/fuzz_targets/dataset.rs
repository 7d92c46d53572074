//! The dataset-reading path of the node: a received instance as the node spools it (its
//! own file meta, then the data set in a transfer syntax it accepts) or any Part 10 file
//! (`rajoints analyze`), checked as the node checks it before acknowledging a C-STORE
//! (`scp::check_received`: declared lengths, parse, UIDs, Image Pixel module), filtered,
//! then decoded to pixels as the analysis workers do. Nothing here may panic, abort or
//! allocate more than libFuzzer's -malloc_limit_mb.
#![no_main]

use std::sync::LazyLock;

use dicom_dictionary_std::uids;
use dicom_object::OpenFileOptions;
use libfuzzer_sys::fuzz_target;
use rajoints::config::Config;
use rajoints::dicom::{decode, guard};
use rajoints::node::{filter, scp};

/// Small enough that decoding stays far below the memory limit (the node's default is
/// 120 megapixels; what the limit guards is the same code).
const MAX_PIXELS: u64 = 1 << 20;
/// Bounds a Deflated data set inflated, as node.max_instance_mb does in the node.
const MAX_BYTES: u64 = 64 << 20;
/// The SOP Instance UID the seed corpus uses; the command carries it in the node.
const UID: &str = "2.25.1";

/// The node's embedded defaults (rajoints.toml): its filter.
static CONFIG: LazyLock<Config> =
    LazyLock::new(|| Config::load(None, &[]).expect("embedded defaults load"));

/// libfuzzer-sys aborts on every panic from its panic hook, before unwinding. The node
/// catches panics of the pixel decoders (`decode::decode`: dicom-transfer-syntax-registry
/// 0.10 panics on some corrupt RLE data), so a panic raised in a dependency is let unwind:
/// caught there, it is the error it becomes in the node; not caught, it reaches
/// libfuzzer-sys's catch_unwind around this target, which aborts. A panic in our own code
/// aborts at once.
fn let_dependency_panics_unwind() {
    let abort_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_dependency = info
            .location()
            .is_some_and(|l| l.file().contains("/.cargo/registry/"));
        if !in_dependency {
            abort_hook(info);
        }
    }));
}

static HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(let_dependency_panics_unwind);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Mode 0: `rest` is a whole Part 10 file. Else: `rest` is a data set received in the
    // mode's transfer syntax, behind the file meta the node writes.
    let n = scp::TRANSFER_SYNTAXES.len() + 1;
    let file: Vec<u8> = match usize::from(mode) % n {
        0 => rest.to_vec(),
        i => {
            let Ok(mut h) = scp::part10_header(
                uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
                UID,
                scp::TRANSFER_SYNTAXES[i - 1],
            ) else {
                return;
            };
            h.extend_from_slice(rest);
            h
        }
    };
    let checked = scp::check_received(
        scp::Received::Bytes(&file),
        UID,
        uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
        MAX_BYTES,
    );
    let obj = match checked {
        Ok(obj) => obj,
        // Refused by the node, but `rajoints analyze` decodes any file that parses.
        Err(_) => {
            if guard::check_part10(&file, MAX_BYTES).is_err() {
                return;
            }
            match OpenFileOptions::new().from_reader(&file[..]) {
                Ok(obj) => obj,
                Err(_) => return,
            }
        }
    };
    let _ = filter::selects(&CONFIG.node.filter, &obj);
    let _ = decode::sop_instance_uid(&obj);
    let _ = decode::decode(&obj, MAX_PIXELS);
});
