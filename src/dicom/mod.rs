//! DICOM: reading radiographs and writing the result objects.

pub mod codes;
pub mod codestream;
pub mod decode;
pub mod gsps;
pub mod guard;
pub mod sc;
pub mod sr;
pub mod uid;

/// A `dataset` fuzz input as the target (fuzz/fuzz_targets/dataset.rs) turns it into a file:
/// the first byte is the mode, n > 0 meaning the node's transfer syntax n
/// (`scp::TRANSFER_SYNTAXES[n - 1]`), and the rest the data set behind the file meta the
/// node writes. For the regression tests of the fuzzer's findings.
#[cfg(test)]
pub(crate) fn fuzz_dataset_file(input: &[u8]) -> Vec<u8> {
    use crate::node::scp;
    let mode = usize::from(input[0]) % (scp::TRANSFER_SYNTAXES.len() + 1);
    assert!(mode > 0, "mode 0 is a whole Part 10 file");
    let ts = scp::TRANSFER_SYNTAXES[mode - 1];
    let mut file = scp::part10_header("1.2.840.10008.5.1.4.1.1.1", "2.25.1", ts).unwrap();
    file.extend_from_slice(&input[1..]);
    file
}
