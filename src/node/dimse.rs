//! DIMSE command sets (PS3.7 chapter 9 and Annex E): the C-ECHO and C-STORE messages the
//! node receives and sends. Command sets are always Implicit VR Little Endian (PS3.7 6.3.1).

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use snafu::{OptionExt, ResultExt, Snafu};

/// Implicit VR Little Endian, the transfer syntax of every command set.
pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";

/// Command Field values (PS3.7 Table E.1-1 and 9.3.1).
pub mod command_field {
    pub const C_STORE_RQ: u16 = 0x0001;
    pub const C_STORE_RSP: u16 = 0x8001;
    pub const C_ECHO_RQ: u16 = 0x0030;
    pub const C_ECHO_RSP: u16 = 0x8030;
    pub const C_GET_RQ: u16 = 0x0010;
    pub const C_GET_RSP: u16 = 0x8010;
    pub const C_FIND_RQ: u16 = 0x0020;
    pub const C_FIND_RSP: u16 = 0x8020;
}

/// Command Data Set Type (0000,0800): this value says no data set follows (PS3.7 E.2).
pub const NO_DATA_SET: u16 = 0x0101;

/// Status codes (PS3.7 Annex C, PS3.4 Annex B.2.3).
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    /// Refused: Out of Resources.
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: Data Set does not match SOP Class.
    pub const DATA_SET_MISMATCH: u16 = 0xA900;
    /// Error: Cannot understand.
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// Refused: SOP Class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Unrecognized operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    /// Pending (C-FIND, C-GET: more responses follow; PS3.4 C.4.1.1.4, C.4.3.1.4).
    pub fn is_pending(s: u16) -> bool {
        s == 0xFF00 || s == 0xFF01
    }
    /// Warning statuses of C-STORE (B000, B007, B006) still store the instance.
    pub fn is_success_or_warning(s: u16) -> bool {
        s == SUCCESS || (0xB000..=0xBFFF).contains(&s) || s == 0x0001
    }
}

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("malformed command set: an element runs past its end"))]
    Truncated,
    #[snafu(display("command set lacks {name}"))]
    MissingField { name: &'static str },
    #[snafu(display("could not encode command set"))]
    WriteCommand {
        #[snafu(source(from(dicom_object::WriteError, Box::new)))]
        source: Box<dicom_object::WriteError>,
    },
}

/// A request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Echo {
        message_id: u16,
        sop_class: String,
    },
    Store {
        message_id: u16,
        sop_class: String,
        sop_instance: String,
    },
    /// Any other command: answered with "unrecognized operation".
    Other {
        message_id: u16,
        command_field: u16,
        sop_class: String,
        has_data_set: bool,
    },
}

impl Request {
    /// Whether a data set follows the command (all C-STORE-RQs do).
    pub fn has_data_set(&self) -> bool {
        match self {
            Request::Echo { .. } => false,
            Request::Store { .. } => true,
            Request::Other { has_data_set, .. } => *has_data_set,
        }
    }
}

fn implicit_le() -> &'static dicom_encoding::TransferSyntax {
    // Part of every build of the registry; its absence would be a build defect.
    TransferSyntaxRegistry
        .get(IMPLICIT_VR_LE)
        .expect("Implicit VR Little Endian is always registered")
}

/// A command set's elements, read by hand: a flat list of group 0000 elements in Implicit
/// VR Little Endian (PS3.7 6.3.1, E.1), each length checked against what is left.
/// dicom-parser is not used here: it reserves and zero-fills a declared length before
/// reading it, and the fuzz target `pdu` found command sets of under 100 bytes that made
/// it allocate gigabytes (a declared length past the end, and element boundaries it reads
/// differently from the standard's). The node parses every command it receives.
struct CommandSet<'a> {
    elements: Vec<(Tag, &'a [u8])>,
}

impl<'a> CommandSet<'a> {
    fn read(mut bytes: &'a [u8]) -> Result<CommandSet<'a>, Error> {
        let mut elements = Vec::new();
        while !bytes.is_empty() {
            let (head, rest) = bytes.split_at_checked(8).context(TruncatedSnafu)?;
            let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
            let tag = Tag(u16_at(0), u16_at(2));
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let (value, rest) = rest.split_at_checked(len).context(TruncatedSnafu)?;
            elements.push((tag, value));
            bytes = rest;
        }
        Ok(CommandSet { elements })
    }

    fn get(&self, tag: Tag) -> Option<&'a [u8]> {
        self.elements
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| *v)
    }

    fn u16(&self, tag: Tag) -> Option<u16> {
        match self.get(tag)? {
            [a, b] => Some(u16::from_le_bytes([*a, *b])),
            _ => None,
        }
    }

    fn str(&self, tag: Tag) -> Option<String> {
        let v = self.get(tag)?;
        Some(
            String::from_utf8_lossy(v)
                .trim_end_matches(['\0', ' '])
                .to_string(),
        )
    }
}

/// Parses a command set.
pub fn parse_request(bytes: &[u8]) -> Result<Request, Error> {
    let obj = CommandSet::read(bytes)?;
    let command_field = obj.u16(tags::COMMAND_FIELD).context(MissingFieldSnafu {
        name: "Command Field",
    })?;
    let message_id = obj
        .u16(tags::MESSAGE_ID)
        .context(MissingFieldSnafu { name: "Message ID" })?;
    let sop_class = obj.str(tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
    let has_data_set = obj
        .u16(tags::COMMAND_DATA_SET_TYPE)
        .is_some_and(|t| t != NO_DATA_SET);
    Ok(match command_field {
        command_field::C_ECHO_RQ => Request::Echo {
            message_id,
            sop_class,
        },
        command_field::C_STORE_RQ => Request::Store {
            message_id,
            sop_instance: obj
                .str(tags::AFFECTED_SOP_INSTANCE_UID)
                .context(MissingFieldSnafu {
                    name: "Affected SOP Instance UID",
                })?,
            sop_class,
        },
        other => Request::Other {
            message_id,
            command_field: other,
            sop_class,
            has_data_set,
        },
    })
}

fn encode(obj: &InMemDicomObject) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, implicit_le())
        .context(WriteCommandSnafu)?;
    Ok(out)
}

/// Builds a command set; Command Group Length (0000,0000) is computed over the rest.
fn command(elements: Vec<DataElement<InMemDicomObject>>) -> Result<Vec<u8>, Error> {
    let body = encode(&InMemDicomObject::from_element_iter(elements.clone()))?;
    let mut all = vec![DataElement::new(
        tags::COMMAND_GROUP_LENGTH,
        VR::UL,
        dicom_value!(U32, [body.len() as u32]),
    )];
    all.extend(elements);
    encode(&InMemDicomObject::from_element_iter(all))
}

fn ui(tag: Tag, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(v))
}

fn us(tag: Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, dicom_value!(U16, [v]))
}

/// A response (C-ECHO-RSP, C-STORE-RSP or the response to an unknown command), with an
/// optional Error Comment (0000,0902) for failure statuses.
pub fn response(
    command_field: u16,
    message_id: u16,
    sop_class: &str,
    sop_instance: Option<&str>,
    status: u16,
    comment: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let mut e = vec![];
    if !sop_class.is_empty() {
        e.push(ui(tags::AFFECTED_SOP_CLASS_UID, sop_class));
    }
    e.push(us(tags::COMMAND_FIELD, command_field));
    e.push(us(tags::MESSAGE_ID_BEING_RESPONDED_TO, message_id));
    e.push(us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET));
    e.push(us(tags::STATUS, status));
    if let Some(i) = sop_instance {
        e.push(ui(tags::AFFECTED_SOP_INSTANCE_UID, i));
    }
    if let Some(c) = comment {
        // LO: at most 64 characters.
        let c: String = c.chars().take(64).collect();
        e.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(c),
        ));
    }
    // Elements must be in tag order.
    e.sort_by_key(|el| el.header().tag);
    command(e)
}

/// A C-STORE-RQ command set (PS3.7 9.3.1.1), priority medium.
pub fn store_request(
    message_id: u16,
    sop_class: &str,
    sop_instance: &str,
) -> Result<Vec<u8>, Error> {
    command(vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        us(tags::COMMAND_FIELD, command_field::C_STORE_RQ),
        us(tags::MESSAGE_ID, message_id),
        us(tags::PRIORITY, 0),
        us(tags::COMMAND_DATA_SET_TYPE, 0x0000),
        ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance),
    ])
}

/// A C-FIND-RQ (PS3.7 9.3.2.1) or C-GET-RQ (9.3.3.1) command set, priority medium; the
/// identifier follows as a data set.
pub fn query_request(
    command_field: u16,
    message_id: u16,
    sop_class: &str,
) -> Result<Vec<u8>, Error> {
    command(vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        us(tags::COMMAND_FIELD, command_field),
        us(tags::MESSAGE_ID, message_id),
        us(tags::PRIORITY, 0),
        us(tags::COMMAND_DATA_SET_TYPE, 0x0000),
    ])
}

/// Any command set as the requestor of C-FIND and C-GET receives it: the responses, and
/// the C-STORE-RQs of C-GET's sub-operations (PS3.7 9.1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub command_field: u16,
    /// Message ID of a request; Message ID Being Responded To of a response.
    pub message_id: u16,
    pub sop_class: String,
    pub sop_instance: Option<String>,
    pub status: Option<u16>,
    pub comment: Option<String>,
    pub has_data_set: bool,
    /// Number of Completed and Failed Sub-operations (C-GET-RSP).
    pub completed: Option<u16>,
    pub failed: Option<u16>,
}

/// Parses any command set into a [`Message`].
pub fn parse_message(bytes: &[u8]) -> Result<Message, Error> {
    let obj = CommandSet::read(bytes)?;
    let command_field = obj.u16(tags::COMMAND_FIELD).context(MissingFieldSnafu {
        name: "Command Field",
    })?;
    let message_id = obj
        .u16(tags::MESSAGE_ID)
        .or_else(|| obj.u16(tags::MESSAGE_ID_BEING_RESPONDED_TO))
        .context(MissingFieldSnafu { name: "Message ID" })?;
    Ok(Message {
        command_field,
        message_id,
        sop_class: obj.str(tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
        sop_instance: obj.str(tags::AFFECTED_SOP_INSTANCE_UID),
        status: obj.u16(tags::STATUS),
        comment: obj.str(tags::ERROR_COMMENT),
        has_data_set: obj
            .u16(tags::COMMAND_DATA_SET_TYPE)
            .is_some_and(|t| t != NO_DATA_SET),
        completed: obj.u16(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS),
        failed: obj.u16(tags::NUMBER_OF_FAILED_SUBOPERATIONS),
    })
}

/// The Status of a response command set.
pub fn response_status(bytes: &[u8]) -> Result<(u16, Option<String>), Error> {
    let obj = CommandSet::read(bytes)?;
    let status = obj
        .u16(tags::STATUS)
        .context(MissingFieldSnafu { name: "Status" })?;
    Ok((status, obj.str(tags::ERROR_COMMENT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_request_round_trips_and_has_group_length() {
        let bytes = store_request(7, "1.2.840.10008.5.1.4.1.1.88.33", "2.25.1").unwrap();
        // First element: (0000,0000) UL, length 4, value = bytes after it (8 + 4 = 12 bytes).
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 4, 0, 0, 0]);
        let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        assert_eq!(len, bytes.len() - 12);
        assert_eq!(
            parse_request(&bytes).unwrap(),
            Request::Store {
                message_id: 7,
                sop_class: "1.2.840.10008.5.1.4.1.1.88.33".into(),
                sop_instance: "2.25.1".into()
            }
        );
    }

    #[test]
    fn response_carries_status_and_comment() {
        let bytes = response(
            command_field::C_STORE_RSP,
            7,
            "1.2.3",
            Some("2.25.1"),
            status::CANNOT_UNDERSTAND,
            Some("bad"),
        )
        .unwrap();
        assert_eq!(
            response_status(&bytes).unwrap(),
            (0xC000, Some("bad".into()))
        );
    }

    #[test]
    fn echo_request_has_no_data_set_and_garbage_is_an_error() {
        let echo = command(vec![
            ui(tags::AFFECTED_SOP_CLASS_UID, "1.2.840.10008.1.1"),
            us(tags::COMMAND_FIELD, command_field::C_ECHO_RQ),
            us(tags::MESSAGE_ID, 1),
            us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        ])
        .unwrap();
        let r = parse_request(&echo).unwrap();
        assert!(matches!(r, Request::Echo { message_id: 1, .. }) && !r.has_data_set());
        assert!(parse_request(&[1, 2, 3]).is_err());
    }

    /// fuzz/ target `pdu`, first crash: a C-ECHO-RSP whose third element, (9C9C,9C9C),
    /// declares 0x9C9C9C9C bytes. dicom-parser would allocate 2.6 GB before reading it.
    #[test]
    fn command_declaring_a_huge_element_is_refused_before_parsing() {
        let mut bytes = vec![0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[2, 0, 0, 0, 0x12, 0, 0, 0]);
        bytes.extend_from_slice(b"1.2.840.10008.1.1\0");
        bytes.extend_from_slice(&[0x9C; 8]);
        bytes.extend_from_slice(&[0; 16]);
        for parsed in [
            parse_request(&bytes).map(|_| ()),
            response_status(&bytes).map(|_| ()),
        ] {
            assert!(matches!(parsed, Err(Error::Truncated)), "{parsed:?}");
        }
    }

    /// fuzz/ target `pdu`: a P-DATA whose command starts with a group length of odd
    /// length 11; dicom-parser then reads a (0012,0000) declaring 0xFFFFFF31 bytes.
    #[test]
    fn fuzz_regression_odd_length_command_is_refused() {
        let input = include_bytes!("../../fuzz/regressions/pdu-odd-length-oom");
        // Mode byte, PDU header (6), PDV length (4), context id, control header.
        let parsed = parse_request(&input[13..]);
        assert!(matches!(parsed, Err(Error::Truncated)), "{parsed:?}");
    }

    #[test]
    fn find_request_parses_back_as_a_message() {
        let bytes =
            query_request(command_field::C_FIND_RQ, 3, "1.2.840.10008.5.1.4.1.2.2.1").unwrap();
        let m = parse_message(&bytes).unwrap();
        assert_eq!(
            (m.command_field, m.message_id, m.has_data_set),
            (command_field::C_FIND_RQ, 3, true)
        );
        let rsp = response(command_field::C_FIND_RSP, 3, "1.2", None, 0xFF00, None).unwrap();
        let m = parse_message(&rsp).unwrap();
        assert_eq!(
            (m.message_id, m.status, m.has_data_set),
            (3, Some(0xFF00), false)
        );
        assert!(status::is_pending(0xFF01) && !status::is_pending(0));
    }

    #[test]
    fn warning_statuses_count_as_stored() {
        assert!(status::is_success_or_warning(0x0000));
        assert!(status::is_success_or_warning(0xB000));
        assert!(!status::is_success_or_warning(0xA700));
        assert!(!status::is_success_or_warning(0xC000));
    }
}
