//! Hand-made malformed input against a running node (issue 8): broken PDUs as raw bytes on
//! a TcpStream, broken or oversized data sets over a proper association. Each case must be
//! answered with a clear status, a rejection or an abort, and after each one the node must
//! still answer a C-ECHO (DCMTK echoscu) and store a good image on a new association.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::CrImage;
use common::node::{NodeProc, free_port, raw_store as store};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicom_ul::Pdu;
use dicom_ul::pdu::{AssociationRJ, PresentationContextResultReason, read_pdu};

const CR: &str = uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE;
const EXPLICIT_LE: &str = uids::EXPLICIT_VR_LITTLE_ENDIAN;

/// How long the node may take to answer a broken PDU: far less than its read timeout
/// (60 s), so an answer within it is the node reacting, not the connection timing out.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// The node still runs, answers C-ECHO and stores a good film with Success on new
/// associations after `case`.
fn assert_serving(node: &mut NodeProc, dir: &Path, case: &str) {
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "node exited after {case}:\n{}",
        node.log()
    );
    let echo = Command::new("echoscu")
        .args(["-aec", "RAJOINTS", "127.0.0.1", &node.port.to_string()])
        .output()
        .expect("echoscu (DCMTK) not runnable: run `make test`");
    assert!(
        echo.status.success(),
        "C-ECHO failed after {case}: {}",
        String::from_utf8_lossy(&echo.stderr)
    );
    let uid = format!("2.25.{}", 880_000 + u32::from(free_port()));
    let good = dir.join(format!("good-{uid}.dcm"));
    CrImage::from_display(64, 64, &[0.25; 4096]).write(&good, &uid);
    let out = Command::new("storescu")
        .args([
            "-v",
            "-aec",
            "RAJOINTS",
            "127.0.0.1",
            &node.port.to_string(),
        ])
        .arg(&good)
        .output()
        .expect("storescu (DCMTK) not runnable: run `make test`");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("(Success)"),
        "good C-STORE failed after {case}: {text}"
    );
}

// --- PDUs by hand (PS3.8 9.3) ---

fn item(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0];
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn pdu(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// An A-ASSOCIATE-RQ to RAJOINTS with one presentation context per (abstract syntax,
/// transfer syntaxes), ids 1, 3, 5...
fn associate_rq(contexts: &[(&str, &[&str])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_be_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(format!("{:<16}", "RAJOINTS").as_bytes());
    body.extend_from_slice(format!("{:<16}", "MALFORMED").as_bytes());
    body.extend_from_slice(&[0; 32]);
    body.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
    for (i, (abs, tss)) in contexts.iter().enumerate() {
        let mut pc = vec![(2 * i + 1) as u8, 0, 0, 0];
        pc.extend(item(0x30, abs.as_bytes()));
        for ts in *tss {
            pc.extend(item(0x40, ts.as_bytes()));
        }
        body.extend(item(0x20, &pc));
    }
    let mut user = item(0x51, &16384u32.to_be_bytes());
    user.extend(item(0x52, b"1.2.826.0.1.3680043.9.7433.1"));
    body.extend(item(0x50, &user));
    pdu(0x01, &body)
}

/// What the node does next on a raw connection.
#[derive(Debug)]
enum Reply {
    /// It closed the connection without a PDU.
    Closed,
    Pdu(Pdu),
}

/// Reads one PDU (or the close) within [`ANSWER_WITHIN`].
fn reply(s: &mut TcpStream) -> Reply {
    s.set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if let Ok(Some(p)) = read_pdu(&buf[..], 1 << 24, false) {
            return Reply::Pdu(p);
        }
        match s.read(&mut chunk) {
            Ok(0) => return Reply::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset is the node dropping the connection.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Reply::Closed,
            Err(e) => panic!("no answer within {:?}: {e}", t.elapsed()),
        }
    }
}

/// The connection is refused: an A-ABORT, an A-ASSOCIATE-RJ, or closed; never accepted.
fn assert_refused(r: &Reply, case: &str) -> String {
    match r {
        Reply::Closed => "connection closed".into(),
        Reply::Pdu(Pdu::AbortRQ { source }) => format!("A-ABORT ({source:?})"),
        Reply::Pdu(Pdu::AssociationRJ(AssociationRJ { result, source })) => {
            format!("A-ASSOCIATE-RJ ({result:?}, {source:?})")
        }
        other => panic!("{case}: expected an abort, a rejection or a close, got {other:?}"),
    }
}

fn raw(node: &NodeProc, bytes: &[u8], then_close: bool) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    s.write_all(bytes).unwrap();
    if then_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    reply(&mut s)
}

// --- Data sets over a proper association (dicom-ul's SCU) ---

/// C-STORE of `data` (a CR data set in `ts`) that the node must answer with `status`
/// and, where given, an Error Comment containing `comment_has`; the answer, for the log.
fn expect_status(
    port: u16,
    ts: &str,
    uid: &str,
    data: &[u8],
    status: u16,
    comment_has: Option<&str>,
) -> String {
    let (st, comment) = store(port, CR, ts, CR, uid, data);
    assert_eq!(st, status, "{comment:?}");
    if let Some(needle) = comment_has {
        assert!(
            comment.as_deref().unwrap_or("").contains(needle),
            "{comment:?}"
        );
    }
    format!("{st:04X} {comment:?}")
}

/// A CR data set (what follows the file meta) in Explicit VR Little Endian.
fn data_set(obj: &InMemDicomObject) -> Vec<u8> {
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    let ts = dicom_encoding::TransferSyntaxIndex::get(&ts, EXPLICIT_LE).unwrap();
    let mut v = Vec::new();
    obj.write_dataset_with_ts(&mut v, ts).unwrap();
    v
}

fn hand(uid: &str, columns: u32, rows: u32) -> InMemDicomObject {
    let n = (columns * rows) as usize;
    CrImage::from_display(columns, rows, &vec![0.5; n]).dataset(uid)
}

#[test]
fn malformed_input_is_answered_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(&dir.path().join("data"), &[], &[]);
    let d = dir.path();
    let mut seen: Vec<String> = Vec::new();
    let echo_rq = associate_rq(&[(uids::VERIFICATION, &[EXPLICIT_LE])]);

    // 1. A truncated A-ASSOCIATE-RQ, then the client closes its side.
    let r = raw(&node, &echo_rq[..20], true);
    seen.push(format!(
        "truncated PDU: {}",
        assert_refused(&r, "truncated")
    ));
    assert_serving(&mut node, d, "truncated PDU");

    // 2. A-ASSOCIATE-RQ whose length field is shorter than its body: the node reads a
    // PDU too short to hold the fixed fields.
    let mut wrong = echo_rq.clone();
    wrong[2..6].copy_from_slice(&10u32.to_be_bytes());
    let r = raw(&node, &wrong, false);
    seen.push(format!(
        "wrong PDU length: {}",
        assert_refused(&r, "wrong length")
    ));
    assert_serving(&mut node, d, "wrong PDU length");

    // 3. A PDU declaring 0xFFFFFFF0 bytes: refused at once (strict max PDU length), not
    // waited for or buffered.
    let t = Instant::now();
    let mut huge = vec![0x01, 0];
    huge.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    huge.extend_from_slice(&echo_rq[6..]);
    let r = raw(&node, &huge, false);
    seen.push(format!(
        "huge PDU length: {}",
        assert_refused(&r, "huge length")
    ));
    assert!(t.elapsed() < ANSWER_WITHIN);
    assert_serving(&mut node, d, "huge PDU length");

    // 4. The same huge length on a P-DATA-TF inside an accepted association.
    let mut s = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    s.write_all(&echo_rq).unwrap();
    assert!(
        matches!(reply(&mut s), Reply::Pdu(Pdu::AssociationAC(_))),
        "C-ECHO association not accepted"
    );
    s.write_all(&[0x04, 0, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 0])
        .unwrap();
    let r = reply(&mut s);
    seen.push(format!(
        "huge P-DATA length in association: {}",
        assert_refused(&r, "huge P-DATA")
    ));
    assert_serving(&mut node, d, "huge P-DATA length");

    // 5. A P-DATA-TF before any association.
    let pdata = pdu(0x04, &[0, 0, 0, 4, 1, 0x03, 0, 0]);
    let r = raw(&node, &pdata, false);
    seen.push(format!(
        "P-DATA before association: {}",
        assert_refused(&r, "P-DATA first")
    ));
    assert_serving(&mut node, d, "P-DATA before association");

    // 6. Only a bogus transfer syntax, and a non-image SOP class (Basic Text SR,
    // Encapsulated PDF): the association is accepted with every context rejected, 4
    // (transfer syntaxes not supported) and 3 (abstract syntax not supported).
    let rq = associate_rq(&[
        (CR, &["1.2.3.4.5.6.7.8.9"]),
        (uids::BASIC_TEXT_SR_STORAGE, &[EXPLICIT_LE]),
        (uids::ENCAPSULATED_PDF_STORAGE, &[EXPLICIT_LE]),
    ]);
    let mut s = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    s.write_all(&rq).unwrap();
    match reply(&mut s) {
        Reply::Pdu(Pdu::AssociationAC(ac)) => {
            let reasons: Vec<_> = ac
                .presentation_contexts
                .iter()
                .map(|pc| (pc.id, pc.reason.clone()))
                .collect();
            assert_eq!(
                reasons,
                vec![
                    (
                        1,
                        PresentationContextResultReason::TransferSyntaxesNotSupported
                    ),
                    (
                        3,
                        PresentationContextResultReason::AbstractSyntaxNotSupported
                    ),
                    (
                        5,
                        PresentationContextResultReason::AbstractSyntaxNotSupported
                    ),
                ]
            );
            seen.push(format!(
                "bogus transfer syntax, SR, PDF: contexts {reasons:?}"
            ));
        }
        other => panic!("expected A-ASSOCIATE-AC, got {other:?}"),
    }
    drop(s);
    assert_serving(&mut node, d, "bogus transfer syntax");

    // 7. A C-STORE whose Pixel Data is shorter than Rows x Columns: refused with A900,
    // not acknowledged and failed later by the worker.
    let mut short = hand("2.25.8801", 64, 64);
    short.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(vec![7u16; 64 * 10].into()),
    ));
    let answer = expect_status(
        node.port,
        EXPLICIT_LE,
        "2.25.8801",
        &data_set(&short),
        0xA900,
        Some("Pixel Data"),
    );
    seen.push(format!("short Pixel Data: {answer}"));
    assert_serving(&mut node, d, "short Pixel Data");

    // 8. A data set declaring a 4 GiB element in a few bytes: refused before parsing
    // (dicom-parser would reserve and zero-fill the declared length).
    let mut bomb = data_set(&hand("2.25.8802", 8, 8));
    let at = bomb.len() - (8 * 8 * 2 + 12);
    bomb.truncate(at);
    bomb.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0]);
    bomb.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    bomb.extend_from_slice(&[0; 16]);
    let answer = expect_status(
        node.port,
        EXPLICIT_LE,
        "2.25.8802",
        &bomb,
        0xC000,
        Some("declares"),
    );
    seen.push(format!("4 GiB declared element: {answer}"));
    assert_serving(&mut node, d, "4 GiB declared element");

    // 9. A non-image instance (Basic Text SR) sent on the CR context: the command names
    // SR → 0122; the command names CR but the data set is SR → A900.
    let mut sr = InMemDicomObject::new_empty();
    sr.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::BASIC_TEXT_SR_STORAGE),
    ));
    sr.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.8803"),
    ));
    sr.put(DataElement::new(
        tags::MODALITY,
        VR::CS,
        PrimitiveValue::from("SR"),
    ));
    let sr = data_set(&sr);
    let (st, comment) = store(
        node.port,
        CR,
        EXPLICIT_LE,
        uids::BASIC_TEXT_SR_STORAGE,
        "2.25.8803",
        &sr,
    );
    assert_eq!(st, 0x0122, "{comment:?}");
    seen.push(format!("SR in the command: {st:04X} {comment:?}"));
    let (st, comment) = store(node.port, CR, EXPLICIT_LE, CR, "2.25.8803", &sr);
    assert_eq!(st, 0xA900, "{comment:?}");
    seen.push(format!("SR data set as CR: {st:04X} {comment:?}"));
    assert_serving(&mut node, d, "non-image SOP class");

    // 10. A Deflated data set that inflates past max_instance_mb (512 MB): 520 MB of
    // zeros sent as about 2.5 MB. Refused A700, by its inflated size.
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let n: u32 = 520 << 20;
    let mut head = Vec::new();
    head.extend_from_slice(&[0x08, 0x00, 0x16, 0x00, b'U', b'I']);
    head.extend_from_slice(&(CR.len() as u16 + 1).to_le_bytes());
    head.extend_from_slice(CR.as_bytes());
    head.push(0);
    head.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
    head.extend_from_slice(&n.to_le_bytes());
    z.write_all(&head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..520 {
        z.write_all(&zeros).unwrap();
    }
    let z = z.finish().unwrap();
    assert!(z.len() < 4 << 20, "{} bytes deflated", z.len());
    let answer = expect_status(
        node.port,
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
        "2.25.8804",
        &z,
        0xA700,
        None,
    );
    seen.push(format!("deflate bomb: {answer}"));
    assert_serving(&mut node, d, "deflate bomb");

    // 11. A JPEG Baseline data set whose frame header declares 65383 x 64979 where Rows
    // and Columns say 8 x 8 (fuzz/ finding 8): refused A900 before anything is decoded.
    let mut jpeg = data_set(&hand("2.25.8806", 8, 8));
    jpeg.truncate(jpeg.len() - (8 * 8 * 2 + 12));
    jpeg.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
    jpeg.extend_from_slice(&u32::MAX.to_le_bytes());
    jpeg.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]); // empty offset table
    let frame: [u8; 24] = [
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0xFD, 0xD3, 0xFF, 0x67, 0x01, 0x01, 0x11, 0x00,
        0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0xFF, 0xD9,
    ];
    jpeg.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    jpeg.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    jpeg.extend_from_slice(&frame);
    jpeg.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    let answer = expect_status(
        node.port,
        uids::JPEG_BASELINE8_BIT,
        "2.25.8806",
        &jpeg,
        0xA900,
        Some("compressed frame"),
    );
    seen.push(format!("JPEG frame larger than the image: {answer}"));
    assert_serving(&mut node, d, "JPEG frame larger than the image");

    // 12. A Deflated data set whose stream is cut short (fuzz/ finding 7: what a parser
    // sees of a corrupt stream depends on how it reads): refused C000.
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&data_set(&hand("2.25.8807", 8, 8))).unwrap();
    let z = z.finish().unwrap();
    let answer = expect_status(
        node.port,
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
        "2.25.8807",
        &z[..z.len() / 2],
        0xC000,
        Some("deflate"),
    );
    seen.push(format!("corrupt deflate stream: {answer}"));
    assert_serving(&mut node, d, "corrupt deflate stream");

    // 13. A 100-megapixel image (10000 x 10000, 16 bits: 200 MB): within max_instance_mb
    // and pipeline.max_pixels (120 M), so it is stored; the node stays responsive while
    // the worker analyses it.
    let big = {
        let mut o = hand("2.25.8805", 8, 8);
        o.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(10000u16),
        ));
        o.put(DataElement::new(
            tags::COLUMNS,
            VR::US,
            PrimitiveValue::from(10000u16),
        ));
        let mut px = vec![100u16; 10000 * 10000];
        // A bright block, so the film is not blank.
        for y in 4000..6000 {
            px[y * 10000 + 4000..y * 10000 + 6000].fill(900);
        }
        o.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(px.into()),
        ));
        data_set(&o)
    };
    let t = Instant::now();
    let (st, comment) = store(node.port, CR, EXPLICIT_LE, CR, "2.25.8805", &big);
    drop(big);
    assert_eq!(st, 0x0000, "{comment:?}");
    seen.push(format!(
        "100-megapixel image: {st:04X} in {} ms",
        t.elapsed().as_millis()
    ));
    assert_serving(&mut node, d, "100-megapixel image");

    // The refused instances were counted, none of them reached the inbox, and every
    // good image was received.
    assert_eq!(node.counter("refused"), 7, "{}", node.log());
    assert_eq!(node.counter("received"), 13 + 1, "{}", node.log());
    // The worker gets through the big film (analysed or failed), and the node survives.
    let t = Instant::now();
    while node.counter("analysed") + node.counter("failed") < 14 {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "worker did not finish the 100-megapixel image\n{}",
            node.log()
        );
        assert!(node.child.try_wait().unwrap().is_none(), "node exited");
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "100-megapixel image done {} s after the last store (analysed {}, failed {})",
        t.elapsed().as_secs(),
        node.counter("analysed"),
        node.counter("failed")
    );
    assert_serving(&mut node, d, "analysis of the 100-megapixel image");
    for s in &seen {
        eprintln!("{s}");
    }
}

/// A PDU with the P-DATA type inside an item is not a PDU: read_pdu is used here only to
/// check that these helpers write what they mean.
#[test]
fn hand_made_pdus_are_well_formed() {
    let rq = associate_rq(&[(uids::VERIFICATION, &[EXPLICIT_LE])]);
    match read_pdu(&rq[..], 1 << 16, true) {
        Ok(Some(Pdu::AssociationRQ(a))) => {
            assert_eq!(a.called_ae_title, "RAJOINTS");
            assert_eq!(a.presentation_contexts.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        tags::MODALITY,
        VR::CS,
        PrimitiveValue::from("CR"),
    ));
    let v = data_set(&obj);
    let _ = FileMetaTableBuilder::new();
    assert_eq!(&v[..6], &[0x08, 0x00, 0x60, 0x00, b'C', b'S']);
}
