//! The codec on plain bytes, no sockets: every frame round-trips; short input is "not yet",
//! bad input is an error of its own kind, and nothing is allocated for a lying header.

use bytes::{BufMut, BytesMut};
use lanchat::protocol::*;
use tokio_util::codec::{Decoder, Encoder};

fn device() -> DeviceId {
    DeviceId::parse("dev1").unwrap()
}

fn room() -> RoomId {
    RoomId::parse("0123456789abcdef").unwrap()
}

fn member(id: MemberId) -> Member {
    Member {
        id,
        name: format!("m{id}"),
        device: device(),
        host: id == 1,
        away: false,
        key: None,
    }
}

fn hash() -> FileHash {
    FileHash::from_bytes(blake3::hash(b"photo").as_bytes())
}

fn offer() -> FileOffer {
    FileOffer {
        name: "photo.jpg".into(),
        size: 600_000,
        hash: hash(),
        piece_len: 262144,
        cvs: vec![1; 3 * 32],
    }
}

fn every_frame() -> Vec<Frame> {
    let message = ChatMessage {
        id: 7,
        ts: 1_700_000_000_000,
        from: "Ada".into(),
        device: device(),
        text: "hi\nthere ✓".into(),
        file: None,
    };
    vec![
        Frame::Hello(Hello {
            passing: false,
            app: APP_VERSION.into(),
            name: "Ada".into(),
            room: room(),
            since: Some(3),
            epoch: None,
            resume: 42,
            password: Some(vec![9; 33]),
        }),
        Frame::Spake {
            msg: vec![1; 33],
            proof: vec![2; 32],
        },
        Frame::Proof { proof: vec![3; 32] },
        Frame::TryLater {
            after_ms: 1500,
            code: WaitCode::WrongPasswords,
        },
        Frame::Welcome(Welcome {
            room: room(),
            room_name: "Lab".into(),
            host_name: "Ada".into(),
            you: 2,
            members: vec![member(1), member(2)],
            epoch: 1 << 52,
            history: 1,
            more: true,
        }),
        Frame::History { after: Some(41) },
        Frame::Page {
            count: 500,
            more: false,
        },
        Frame::Before { before: 700 },
        Frame::Earlier {
            before: 700,
            count: 2,
            more: true,
        },
        Frame::Presence { away: true },
        Frame::MemberAway {
            member: 3,
            away: true,
        },
        Frame::Typing,
        Frame::MemberTyping { member: 3 },
        Frame::Direct {
            to: 3,
            seq: 9,
            sealed: vec![7; 120],
        },
        Frame::DirectFrom {
            from: 2,
            sealed: vec![7; 120],
        },
        Frame::DirectSent { seq: 9 },
        Frame::Refused(RefuseCode::Version.into()),
        Frame::Refused(Refusal {
            code: RefuseCode::NoSpace,
            limit: Some(1000),
            need: Some(2000),
        }),
        Frame::Post {
            seq: 1,
            text: "hello".into(),
        },
        Frame::Accepted { seq: 1, id: 7 },
        Frame::Rejected {
            seq: 2,
            code: RejectCode::TooFast,
        },
        Frame::Message(message),
        Frame::MemberJoined(member(3)),
        Frame::MemberLeft(member(3)),
        Frame::Rename {
            name: "Ada L.".into(),
        },
        Frame::MemberRenamed(member(2)),
        Frame::Ping,
        Frame::Pong,
        Frame::Bye,
        Frame::Closing {
            code: CloseCode::Closed,
        },
        Frame::Who,
        Frame::Upload(Upload {
            share: None,
            room: room(),
            offer: offer(),
        }),
        Frame::UploadFrom { offset: 262144 },
        Frame::Download {
            room: room(),
            hash: hash(),
            offset: 0,
        },
        Frame::FileHeader {
            offer: offer(),
            offset: 0,
        },
        Frame::Data {
            offset: 65536,
            bytes: vec![7; DATA_LEN].into(),
        },
        Frame::Received { offset: 1 << 20 },
        Frame::Stored { id: 9 },
        Frame::Cancel {
            code: CancelCode::Cancelled,
        },
        Frame::Message(ChatMessage {
            id: 8,
            ts: 1,
            from: "Ada".into(),
            device: device(),
            text: String::new(),
            file: Some(FileRef {
                hash: hash(),
                name: "photo.jpg".into(),
                size: 1234,
            }),
        }),
        Frame::About {
            room: room(),
            room_name: "Lab".into(),
            host_name: "Ada".into(),
            members: 2,
            locked: true,
        },
    ]
}

fn encoded(frames: &[Frame]) -> BytesMut {
    let mut buf = BytesMut::new();
    for frame in frames {
        FrameCodec::default()
            .encode(frame.clone(), &mut buf)
            .unwrap();
    }
    buf
}

/// A frame body written by hand, with its length prefix.
fn raw(body: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_u32(body.len() as u32);
    buf.put_slice(body);
    buf
}

#[test]
fn every_frame_round_trips() {
    let frames = every_frame();
    let mut buf = encoded(&frames);
    let mut codec = FrameCodec::default();
    for frame in &frames {
        assert_eq!(codec.decode(&mut buf).unwrap().as_ref(), Some(frame));
    }
    assert!(buf.is_empty());
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn every_kind_is_known_by_its_wire_tag() {
    for frame in every_frame() {
        assert!(Frame::KINDS.contains(&frame.kind()), "{}", frame.kind());
        let body = rmp_serde::to_vec_named(&frame).unwrap();
        #[derive(serde::Deserialize)]
        struct Tag {
            t: String,
        }
        let tag: Tag = rmp_serde::from_slice(&body).unwrap();
        assert_eq!(tag.t, frame.kind());
    }
    let kinds: std::collections::BTreeSet<&str> = every_frame().iter().map(Frame::kind).collect();
    assert_eq!(
        Frame::KINDS.len(),
        kinds.len(),
        "every kind is in the table"
    );
}

/// A frame of kind `t` whose body is `c`, as a newer peer might encode it.
fn newer<C: serde::Serialize>(t: &'static str, c: C) -> Option<Frame> {
    #[derive(serde::Serialize)]
    struct Tagged<C> {
        t: &'static str,
        c: C,
    }
    let body = rmp_serde::to_vec_named(&Tagged { t, c }).unwrap();
    FrameCodec::default().decode(&mut raw(&body)).unwrap()
}

#[test]
fn an_unknown_refusal_code_reads_as_other() {
    #[derive(serde::Serialize)]
    struct Refused {
        code: &'static str,
        /// A field a newer host may add: ignored.
        reason: &'static str,
    }
    let refused = Refused {
        code: "banned",
        reason: "no",
    };
    assert_eq!(
        newer("refused", refused),
        Some(Frame::Refused(RefuseCode::Other.into()))
    );
}

/// A cause a newer peer adds is a readable rejection, closing, wait or cancel of ours (its
/// `Other`), not a protocol error that ends the session.
#[test]
fn unknown_reason_codes_read_as_other() {
    #[derive(serde::Serialize)]
    struct Rejected {
        seq: u64,
        code: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Code {
        code: &'static str,
    }
    #[derive(serde::Serialize)]
    struct TryLater {
        after_ms: u64,
        code: &'static str,
    }
    let future = "from_the_future";
    assert_eq!(
        newer(
            "rejected",
            Rejected {
                seq: 3,
                code: future
            }
        ),
        Some(Frame::Rejected {
            seq: 3,
            code: RejectCode::Other
        })
    );
    assert_eq!(
        newer("closing", Code { code: future }),
        Some(Frame::Closing {
            code: CloseCode::Other
        })
    );
    assert_eq!(
        newer("cancel", Code { code: future }),
        Some(Frame::Cancel {
            code: CancelCode::Other
        })
    );
    assert_eq!(
        newer(
            "try_later",
            TryLater {
                after_ms: 5,
                code: future
            }
        ),
        Some(Frame::TryLater {
            after_ms: 5,
            code: WaitCode::Other
        })
    );
}

#[test]
fn encode_frame_matches_the_codec() {
    for frame in every_frame() {
        assert_eq!(
            encode_frame(&frame).unwrap()[..],
            encoded(std::slice::from_ref(&frame))[..]
        );
    }
}

#[test]
fn a_frame_split_anywhere_is_not_yet_complete_then_decodes() {
    let frame = Frame::Post {
        seq: 9,
        text: "split me".into(),
    };
    let whole = encoded(std::slice::from_ref(&frame));
    for cut in 0..whole.len() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&whole[..cut]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None, "cut at {cut}");
        buf.extend_from_slice(&whole[cut..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(frame.clone()),
            "cut at {cut}"
        );
    }
}

#[test]
fn truncated_input_at_end_of_stream_is_an_error() {
    let whole = encoded(&[Frame::Ping]);
    let mut buf = BytesMut::from(&whole[..whole.len() - 1]);
    assert!(matches!(
        FrameCodec::default().decode_eof(&mut buf),
        Err(ProtocolError::Truncated)
    ));
}

#[test]
fn a_header_claiming_4_gib_is_refused_before_allocating() {
    let mut buf = BytesMut::new();
    buf.put_u32(u32::MAX);
    buf.put_slice(b"abc");
    let err = FrameCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(err, ProtocolError::TooLarge { .. }), "{err}");
    assert!(
        buf.capacity() < 1 << 20,
        "reserved {} bytes",
        buf.capacity()
    );
}

#[test]
fn one_byte_over_the_limit_is_refused() {
    let mut buf = BytesMut::new();
    buf.put_u32(MAX_FRAME_LEN as u32 + 1);
    assert!(matches!(
        FrameCodec::default().decode(&mut buf),
        Err(ProtocolError::TooLarge { .. })
    ));
}

#[test]
fn garbage_is_malformed() {
    for body in [
        &b"\xc1\xc1\xc1"[..],
        b"not msgpack at all",
        b"",
        b"\x93\x01\x02\x03",
    ] {
        let mut buf = raw(body);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Malformed(_)),
            "{body:?}: {err}"
        );
    }
}

#[test]
fn a_frame_kind_from_a_newer_version_decodes_as_unknown() {
    #[derive(serde::Serialize)]
    struct Future {
        t: &'static str,
        c: u32,
    }
    let body = rmp_serde::to_vec_named(&Future {
        t: "reaction",
        c: 5,
    })
    .unwrap();
    let mut buf = raw(&body);
    assert_eq!(
        FrameCodec::default().decode(&mut buf).unwrap(),
        Some(Frame::Unknown)
    );
}

#[test]
fn new_fields_from_a_newer_version_are_ignored() {
    #[derive(serde::Serialize)]
    struct PostV2 {
        seq: u64,
        text: &'static str,
        reply_to: u64,
    }
    #[derive(serde::Serialize)]
    struct Tagged {
        t: &'static str,
        c: PostV2,
    }
    let body = rmp_serde::to_vec_named(&Tagged {
        t: "post",
        c: PostV2 {
            seq: 1,
            text: "hi",
            reply_to: 4,
        },
    })
    .unwrap();
    let mut buf = raw(&body);
    assert_eq!(
        FrameCodec::default().decode(&mut buf).unwrap(),
        Some(Frame::Post {
            seq: 1,
            text: "hi".into()
        })
    );
}

#[test]
fn frames_breaking_limits_are_invalid() {
    let too_long = Frame::Post {
        seq: 1,
        text: "x".repeat(MAX_TEXT_BYTES + 1),
    };
    let empty_name = Frame::Hello(Hello {
        passing: false,
        app: "x".into(),
        name: "  ".into(),
        room: room(),
        since: None,
        epoch: None,
        resume: 0,
        password: None,
    });
    let control = Frame::MemberJoined(Member {
        id: 1,
        name: "evil\u{1b}[2J".into(),
        device: device(),
        host: false,
        key: None,
        away: false,
    });
    for frame in [too_long, empty_name, control] {
        // Encode the body by hand: the codec's encoder would write it, a peer could too.
        let body = rmp_serde::to_vec_named(&frame).unwrap();
        let mut buf = raw(&body);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Invalid { .. }),
            "{}: {err}",
            frame.kind()
        );
    }
}

#[test]
fn ids_from_the_network_are_checked() {
    assert!(RoomId::parse("abc-DEF_123").is_some());
    for bad in ["", "../etc", "a b", "x".repeat(33).as_str(), "ü"] {
        assert!(RoomId::parse(bad).is_none(), "{bad:?}");
    }
    #[derive(serde::Serialize)]
    struct Bad {
        t: &'static str,
        c: BadAccepted,
    }
    #[derive(serde::Serialize)]
    struct BadAccepted {
        room: &'static str,
        room_name: &'static str,
        host_name: &'static str,
        members: u32,
    }
    let body = rmp_serde::to_vec_named(&Bad {
        t: "about",
        c: BadAccepted {
            room: "../../x",
            room_name: "Lab",
            host_name: "Ada",
            members: 1,
        },
    })
    .unwrap();
    assert!(matches!(
        FrameCodec::default().decode(&mut raw(&body)),
        Err(ProtocolError::Malformed(_))
    ));
}

#[test]
fn the_text_limit_is_exact() {
    assert!(check_text(&"x".repeat(MAX_TEXT_BYTES)).is_ok());
    let err = check_text(&"x".repeat(MAX_TEXT_BYTES + 1)).unwrap_err();
    assert!(err.to_string().contains("64 KiB"), "{err}");
    // The largest text still fits in a frame with room to spare.
    let frame = Frame::Message(ChatMessage {
        id: u64::MAX,
        ts: i64::MAX,
        from: "n".repeat(MAX_NAME_BYTES),
        device: device(),
        text: "€".repeat(MAX_TEXT_BYTES / 3),
        file: None,
    });
    assert!(encode_frame(&frame).is_ok());
}

#[test]
fn file_frames_breaking_limits_are_invalid() {
    let too_much = Frame::Data {
        offset: 0,
        bytes: vec![0; DATA_LEN + 1].into(),
    };
    let bad_piece = Frame::FileHeader {
        offer: FileOffer {
            piece_len: 1000,
            ..offer()
        },
        offset: 0,
    };
    let ragged = Frame::FileHeader {
        offer: FileOffer {
            cvs: vec![0; 33],
            ..offer()
        },
        offset: 0,
    };
    let nameless = Frame::Upload(Upload {
        share: None,
        room: room(),
        offer: FileOffer {
            name: String::new(),
            ..offer()
        },
    });
    let textless = Frame::Message(ChatMessage {
        id: 1,
        ts: 0,
        from: "Ada".into(),
        device: device(),
        text: String::new(),
        file: None,
    });
    for frame in [too_much, bad_piece, ragged, nameless, textless] {
        let body = rmp_serde::to_vec_named(&frame).unwrap();
        let err = FrameCodec::default().decode(&mut raw(&body)).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Invalid { .. }),
            "{}: {err}",
            frame.kind()
        );
    }
}

#[test]
fn file_hashes_are_checked() {
    let good = hash();
    assert_eq!(FileHash::parse(good.as_str()), Some(good.clone()));
    assert_eq!(FileHash::from_bytes(&good.bytes()), good);
    for bad in [
        "",
        "abc",
        &"A".repeat(64),
        &"g".repeat(64),
        &"0".repeat(63),
        "../../etc/passwd",
    ] {
        assert!(FileHash::parse(bad).is_none(), "{bad:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Posts and messages with any text, names, numbers and ids round-trip, whole or fed to
    /// the decoder a few bytes at a time ("not enough bytes yet" is never an error).
    #[test]
    fn any_post_and_message_round_trips_in_any_pieces(
        seq in proptest::prelude::any::<u64>(),
        id in proptest::prelude::any::<u64>(),
        ts in proptest::prelude::any::<i64>(),
        text in "[^\u{0}]{0,40}[a-zA-Z0-9é漢😀][^\u{0}]{0,200}",
        from in "[a-zA-Zé漢 ]{0,10}[a-zA-Z]",
        cut in 1usize..64,
    ) {
        let frames = vec![
            Frame::Post { seq, text: text.clone() },
            Frame::Message(ChatMessage {
                id,
                ts,
                from,
                device: device(),
                text,
                file: None,
            }),
            Frame::History { after: Some(id) },
            Frame::Page { count: (seq % 500) as u32, more: id % 2 == 0 },
        ];
        let whole = encoded(&frames);
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for piece in whole.chunks(cut) {
            buf.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                decoded.push(frame);
            }
        }
        proptest::prop_assert_eq!(decoded, frames);
        proptest::prop_assert!(buf.is_empty());
    }
}
