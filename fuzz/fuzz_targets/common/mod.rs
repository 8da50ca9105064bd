//! Shared by the fuzz targets: fixed identities, and frames built from fuzzer input
//! (`arbitrary` on a small enum, mapped to real `Frame`s), biased towards values a host
//! accepts so that inputs get past the first check, with a way out to anything.

#![allow(dead_code)]

use arbitrary::Arbitrary;
use lanchat::files::{FileHash, FileOffer, PieceHashes};
use lanchat::net::identity::Identity;
use lanchat::net::password::{MemberExchange, RoomSecret};
use lanchat::protocol::{
    CancelCode, ChatMessage, CloseCode, DeviceId, Frame, Hello, MAX_TEXT_BYTES, Member, Refusal,
    RefuseCode, RejectCode, RoomId, Upload, WaitCode, Welcome,
};
use std::sync::LazyLock;

/// The room every fuzzed host runs.
pub const ROOM: &str = "f022000000c0ffee";
/// The locked room's password.
pub const PASSWORD: &str = "correct horse";

/// The hosts' key, and the keys fuzzed members may have: fixed bytes (made once), so a
/// crash reproduces with the same keys and no run pays for key generation.
pub const HOST_SECRET: [u8; 32] = [0x11; 32];
pub static HOST: LazyLock<Identity> = LazyLock::new(|| Identity::from_secret(HOST_SECRET));
pub const MEMBER_SECRETS: [[u8; 32]; 2] = [[0x22; 32], [0x33; 32]];
pub static MEMBERS: LazyLock<[Identity; 2]> = LazyLock::new(|| {
    [
        Identity::from_secret(MEMBER_SECRETS[0]),
        Identity::from_secret(MEMBER_SECRETS[1]),
    ]
});
/// The well-behaved member the session target keeps in each room.
pub static WATCHER: LazyLock<Identity> = LazyLock::new(|| Identity::from_secret([0x44; 32]));

pub fn room() -> RoomId {
    RoomId::parse(ROOM).unwrap()
}

pub fn secret() -> RoomSecret {
    RoomSecret::derive(&room(), PASSWORD)
}

fn wrong_secret() -> RoomSecret {
    RoomSecret::derive(&room(), "wrong")
}

/// Names and texts: mostly from a list of edge cases, sometimes anything.
#[derive(Arbitrary, Debug, Clone)]
pub enum Str {
    Pick(u8),
    Any(String),
    /// `len` bytes of one character, around the limits.
    Long {
        len: u32,
        wide: bool,
    },
}

const PICKS: &[&str] = &[
    "Ann",
    "Bo",
    "",
    " ",
    "\t\n",
    "a\u{7}b",
    "\u{202e}evil",
    "é",
    "ééééééééééééééééééééééééééééééééé", // 66 bytes
    "0123456789012345678901234567890123456789012345678901234567890123", // 64 bytes
    "01234567890123456789012345678901234567890123456789012345678901234", // 65 bytes
    "photo.jpg",
    "../../etc/passwd",
    "con",
    "hello\nworld",
];

impl Str {
    pub fn get(&self) -> String {
        match self {
            Str::Pick(i) => PICKS[*i as usize % PICKS.len()].to_owned(),
            Str::Any(s) => s.clone(),
            Str::Long { len, wide } => {
                let len = *len as usize % (MAX_TEXT_BYTES + 3);
                if *wide {
                    "é".repeat(len / 2)
                } else {
                    "a".repeat(len)
                }
            }
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum RoomChoice {
    Right,
    Other,
    Any(String),
}

impl RoomChoice {
    pub fn get(&self) -> RoomId {
        match self {
            RoomChoice::Right => room(),
            RoomChoice::Other => RoomId::parse("0ther").unwrap(),
            RoomChoice::Any(s) => RoomId::parse(s).unwrap_or_else(room),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum EpochChoice {
    None,
    /// The room's history epoch, as a member that was there knows it.
    Known,
    Other(u64),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum PasswordChoice {
    None,
    /// A real SPAKE2 start with the room's password (the harness finishes it on `Proof`).
    Right,
    /// A real SPAKE2 start with another password.
    Wrong,
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum HashChoice {
    /// The hash of the last file this input offered for real.
    Last,
    Fixed(u8),
    Any(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum ProofChoice {
    /// The proof a member with the right password computes from the host's `Spake`.
    Right,
    Bytes(Vec<u8>),
}

/// One frame a fuzzed peer sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzFrame {
    Hello {
        passing: bool,
        app: Option<String>,
        name: Str,
        room: RoomChoice,
        since: Option<u64>,
        epoch: EpochChoice,
        resume: u8,
        password: PasswordChoice,
    },
    Post {
        seq: u64,
        text: Str,
    },
    History {
        after: Option<u64>,
    },
    Before {
        before: u64,
    },
    Direct {
        to: u32,
        seq: u64,
        sealed: Vec<u8>,
    },
    Presence {
        away: bool,
    },
    Typing,
    Rename {
        name: Str,
    },
    Ping,
    Bye,
    Who,
    Proof(ProofChoice),
    /// An offer made up of fuzzer values.
    Upload {
        room: RoomChoice,
        name: Str,
        size: u64,
        piece_len_log2: u8,
        cvs: Vec<u8>,
        hash: HashChoice,
    },
    /// A real file (a pattern repeated to `size`, capped at 600 KiB: up to three pieces),
    /// with its real hashes; `Data` and `FileData` then send its bytes.
    UploadReal {
        room: RoomChoice,
        name: Str,
        pattern: Vec<u8>,
        size: u32,
    },
    Download {
        room: RoomChoice,
        hash: HashChoice,
        offset: u64,
    },
    Data {
        offset: u64,
        bytes: Vec<u8>,
    },
    /// `len` bytes of the last real file from `start`.
    FileData {
        start: u32,
        len: u16,
    },
    /// The whole of the last real file from `start`, in data frames.
    FileRest {
        start: u32,
    },
    Cancel {
        code: u8,
    },
    /// A frame only the other side may send.
    Wrong(WrongFrame),
}

/// Frames a member never sends (and a host never sends to a member, for the other way).
#[derive(Arbitrary, Debug, Clone)]
pub enum WrongFrame {
    Welcome {
        members: u16,
        history: u32,
        name: Str,
    },
    Refused {
        code: u8,
        limit: Option<u64>,
        need: Option<u64>,
    },
    Accepted {
        seq: u64,
        id: u64,
    },
    Rejected {
        seq: u64,
        code: u8,
    },
    Message {
        id: u64,
        text: Str,
        name: Str,
    },
    Page {
        count: u32,
        more: bool,
    },
    MemberJoined {
        id: u32,
        name: Str,
    },
    MemberLeft {
        id: u32,
        name: Str,
    },
    MemberRenamed {
        id: u32,
        name: Str,
    },
    Pong,
    Closing {
        code: u8,
    },
    Spake {
        msg: Vec<u8>,
        proof: Vec<u8>,
    },
    TryLater {
        after_ms: u64,
        code: u8,
    },
    About {
        members: u32,
        locked: bool,
        name: Str,
    },
    UploadFrom {
        offset: u64,
    },
    Received {
        offset: u64,
    },
    Stored {
        id: u64,
    },
}

/// A real file offered in this input.
pub struct RealFile {
    pub bytes: Vec<u8>,
    pub offer: FileOffer,
}

/// What turning fuzzer frames into real ones needs to know about the connection.
#[derive(Default)]
pub struct Ctx {
    /// The room history's epoch, if known.
    pub epoch: Option<u64>,
    /// This link's handshake hash, for a real password exchange.
    pub handshake_hash: [u8; 32],
    /// A password exchange started by a `Hello`.
    pub exchange: Option<MemberExchange>,
    /// The host's `Spake`, once it has come.
    pub spake: Option<(Vec<u8>, Vec<u8>)>,
    pub file: Option<RealFile>,
    /// Bytes of the real file sent so far: capped, so one input cannot send without end.
    pub data_sent: usize,
}

/// The most real file bytes one input sends.
const DATA_BUDGET: usize = 2 << 20;

fn member(id: u32, name: &Str) -> Member {
    Member {
        id,
        name: name.get(),
        device: DeviceId::parse("d3v1ce").unwrap(),
        host: id == 1,
        away: id == 2,
        key: None,
    }
}

/// One of `codes`, picked by the fuzzer's byte.
fn pick<T: Copy>(codes: &[T], code: u8) -> T {
    codes[code as usize % codes.len()]
}

fn refuse_code(code: u8) -> RefuseCode {
    use RefuseCode::*;
    let codes = [
        Version,
        Full,
        WrongRoom,
        BadHello,
        NoSpace,
        Gone,
        BadOffer,
        Password,
        WrongPassword,
        PasswordUnfinished,
        Sessions,
        Passing,
        Receiving,
        TooLarge,
        HashTaken,
        NotMember,
        Busy,
        Other,
    ];
    pick(&codes, code)
}

fn reject_code(code: u8) -> RejectCode {
    use RejectCode::*;
    pick(
        &[TooFast, NotSaved, NotInRoom, LeftAsItArrived, Other],
        code,
    )
}

fn close_code(code: u8) -> CloseCode {
    use CloseCode::*;
    pick(&[Closed, Quit, Stopped, Other], code)
}

fn wait_code(code: u8) -> WaitCode {
    use WaitCode::*;
    pick(
        &[JoinsTooOften, HostBusy, TryUnderway, WrongPasswords, Other],
        code,
    )
}

fn cancel_code(code: u8) -> CancelCode {
    use CancelCode::*;
    let codes = [
        Cancelled,
        SenderStopped,
        DiskFull,
        Mismatch,
        Overrun,
        TooSlow,
        Failed,
        TooFast,
        NotSaved,
        Other,
    ];
    pick(&codes, code)
}

impl WrongFrame {
    pub fn get(&self) -> Frame {
        match self {
            WrongFrame::Welcome {
                members,
                history,
                name,
            } => Frame::Welcome(Welcome {
                room: room(),
                room_name: "Lab".into(),
                host_name: name.get(),
                you: 7,
                members: (0..u32::from(*members) % 300)
                    .map(|i| member(i, name))
                    .collect(),
                epoch: 1,
                history: *history,
                more: false,
            }),
            WrongFrame::Refused { code, limit, need } => Frame::Refused(Refusal {
                code: refuse_code(*code),
                limit: *limit,
                need: *need,
            }),
            WrongFrame::Accepted { seq, id } => Frame::Accepted { seq: *seq, id: *id },
            WrongFrame::Rejected { seq, code } => Frame::Rejected {
                seq: *seq,
                code: reject_code(*code),
            },
            WrongFrame::Message { id, text, name } => Frame::Message(ChatMessage {
                id: *id,
                ts: 0,
                from: name.get(),
                device: DeviceId::parse("d3v1ce").unwrap(),
                text: text.get(),
                file: None,
            }),
            WrongFrame::Page { count, more } => Frame::Page {
                count: *count,
                more: *more,
            },
            WrongFrame::MemberJoined { id, name } => Frame::MemberJoined(member(*id, name)),
            WrongFrame::MemberLeft { id, name } => Frame::MemberLeft(member(*id, name)),
            WrongFrame::MemberRenamed { id, name } => Frame::MemberRenamed(member(*id, name)),
            WrongFrame::Pong => Frame::Pong,
            WrongFrame::Closing { code } => Frame::Closing {
                code: close_code(*code),
            },
            WrongFrame::Spake { msg, proof } => Frame::Spake {
                msg: msg.clone(),
                proof: proof.clone(),
            },
            WrongFrame::TryLater { after_ms, code } => Frame::TryLater {
                after_ms: *after_ms,
                code: wait_code(*code),
            },
            WrongFrame::About {
                members,
                locked,
                name,
            } => Frame::About {
                room: room(),
                room_name: name.get(),
                host_name: "Ada".into(),
                members: *members,
                locked: *locked,
            },
            WrongFrame::UploadFrom { offset } => Frame::UploadFrom { offset: *offset },
            WrongFrame::Received { offset } => Frame::Received { offset: *offset },
            WrongFrame::Stored { id } => Frame::Stored { id: *id },
        }
    }
}

impl HashChoice {
    fn get(&self, ctx: &Ctx) -> FileHash {
        match self {
            HashChoice::Last => match &ctx.file {
                Some(file) => file.offer.hash.clone(),
                None => FileHash::from_bytes(&[0; 32]),
            },
            HashChoice::Fixed(b) => FileHash::from_bytes(&[*b; 32]),
            HashChoice::Any(s) => {
                FileHash::parse(s).unwrap_or_else(|| FileHash::from_bytes(&[1; 32]))
            }
        }
    }
}

/// The most file bytes a real upload has.
const REAL_FILE_MAX: u32 = 600 * 1024;

impl FuzzFrame {
    /// The frames this stands for (file data may take several), given what the connection
    /// knows so far.
    pub fn frames(&self, ctx: &mut Ctx) -> Vec<Frame> {
        let frame = match self {
            FuzzFrame::Hello {
                app,
                name,
                room,
                since,
                epoch,
                resume,
                password,
                passing,
            } => {
                let password = match password {
                    PasswordChoice::None => None,
                    PasswordChoice::Right | PasswordChoice::Wrong => {
                        let secret = match password {
                            PasswordChoice::Right => secret(),
                            _ => wrong_secret(),
                        };
                        let (exchange, message) =
                            MemberExchange::start(&secret, ctx.handshake_hash);
                        ctx.exchange = Some(exchange);
                        Some(message)
                    }
                    PasswordChoice::Bytes(bytes) => Some(bytes.clone()),
                };
                Frame::Hello(Hello {
                    passing: *passing,
                    app: app
                        .clone()
                        .unwrap_or_else(|| lanchat::protocol::APP_VERSION.into()),
                    name: name.get(),
                    room: room.get(),
                    since: *since,
                    epoch: match epoch {
                        EpochChoice::None => None,
                        EpochChoice::Known => ctx.epoch,
                        EpochChoice::Other(e) => Some(*e),
                    },
                    resume: u64::from(*resume % 4),
                    password,
                })
            }
            FuzzFrame::Post { seq, text } => Frame::Post {
                seq: *seq,
                text: text.get(),
            },
            FuzzFrame::History { after } => Frame::History { after: *after },
            FuzzFrame::Before { before } => Frame::Before { before: *before },
            FuzzFrame::Direct { to, seq, sealed } => Frame::Direct {
                to: *to,
                seq: *seq,
                sealed: sealed.clone(),
            },
            FuzzFrame::Presence { away } => Frame::Presence { away: *away },
            FuzzFrame::Typing => Frame::Typing,
            FuzzFrame::Rename { name } => Frame::Rename { name: name.get() },
            FuzzFrame::Ping => Frame::Ping,
            FuzzFrame::Bye => Frame::Bye,
            FuzzFrame::Who => Frame::Who,
            FuzzFrame::Proof(ProofChoice::Bytes(proof)) => Frame::Proof {
                proof: proof.clone(),
            },
            FuzzFrame::Proof(ProofChoice::Right) => {
                let proof = match (ctx.exchange.take(), &ctx.spake) {
                    (Some(exchange), Some((msg, proof))) => {
                        exchange.finish(msg, proof).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                Frame::Proof { proof }
            }
            FuzzFrame::Upload {
                room,
                name,
                size,
                piece_len_log2,
                cvs,
                hash,
            } => Frame::Upload(Upload {
                room: room.get(),
                offer: FileOffer {
                    name: name.get(),
                    size: *size,
                    hash: hash.get(ctx),
                    piece_len: 1u64 << (piece_len_log2 % 64),
                    cvs: cvs.clone(),
                },
                share: None,
            }),
            FuzzFrame::UploadReal {
                room,
                name,
                pattern,
                size,
            } => {
                let size = *size % (REAL_FILE_MAX + 1);
                let pattern: &[u8] = if pattern.is_empty() { b"x" } else { pattern };
                let bytes: Vec<u8> = pattern
                    .iter()
                    .copied()
                    .cycle()
                    .take(size as usize)
                    .collect();
                let hashes = PieceHashes::compute(&bytes[..], u64::from(size))
                    .expect("hashes of bytes in memory");
                let offer = FileOffer {
                    name: name.get(),
                    size: u64::from(size),
                    hash: FileHash::from_bytes(&hashes.root()),
                    piece_len: hashes.piece_len(),
                    cvs: hashes.cvs().concat(),
                };
                ctx.file = Some(RealFile {
                    bytes,
                    offer: offer.clone(),
                });
                Frame::Upload(Upload {
                    room: room.get(),
                    offer,
                    share: None,
                })
            }
            FuzzFrame::Download { room, hash, offset } => Frame::Download {
                room: room.get(),
                hash: hash.get(ctx),
                offset: *offset,
            },
            FuzzFrame::Data { offset, bytes } => Frame::Data {
                offset: *offset,
                bytes: bytes.clone().into(),
            },
            FuzzFrame::FileData { start, len } => {
                let Some(file) = ctx.file.as_ref().filter(|_| ctx.data_sent < DATA_BUDGET) else {
                    return Vec::new();
                };
                ctx.data_sent += *len as usize;
                let start = (*start as usize).min(file.bytes.len());
                let end = (start + *len as usize).min(file.bytes.len());
                Frame::Data {
                    offset: start as u64,
                    bytes: file.bytes[start..end].to_vec().into(),
                }
            }
            FuzzFrame::FileRest { start } => {
                let Some(file) = ctx.file.as_ref().filter(|_| ctx.data_sent < DATA_BUDGET) else {
                    return Vec::new();
                };
                let start = (*start as usize).min(file.bytes.len());
                ctx.data_sent += file.bytes.len() - start;
                return file.bytes[start..]
                    .chunks(lanchat::protocol::DATA_LEN)
                    .enumerate()
                    .map(|(i, chunk)| Frame::Data {
                        offset: (start + i * lanchat::protocol::DATA_LEN) as u64,
                        bytes: chunk.to_vec().into(),
                    })
                    .collect();
            }
            FuzzFrame::Cancel { code } => Frame::Cancel {
                code: cancel_code(*code),
            },
            FuzzFrame::Wrong(wrong) => wrong.get(),
        };
        vec![frame]
    }
}
