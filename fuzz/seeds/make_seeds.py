#!/usr/bin/env python3
"""Writes the seed inputs in fuzz/seeds/<target>/ (run from anywhere: `python3 make_seeds.py`).

frame_decoder: one length-prefixed MessagePack frame of each kind (named fields, adjacently
tagged, as lanchat encodes them), behind the two bytes that choose how the input is cut.

session: a few step sequences that reach states short random inputs take long to find (a
join then posts, an upload of a real file by a joined device, its download, the locked
room's password exchange). These follow the byte layout `arbitrary` 1.5 derives for the
types in fuzz_targets/session.rs and common/mod.rs: an enum variant is a little-endian u32
scaled to the variant count, a bool is a byte's low bit, and each element of a list
follows a 1 byte (a 0 ends it). After a
change to those types, check what a seed means with
`cargo +nightly fuzz fmt session fuzz/seeds/session/<seed>` and update this script.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    path = os.path.join(HERE, target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(bytes(data))


# ---- MessagePack, as rmp_serde writes named structs ----

def mp(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v < 256:
            return b"\xcc" + bytes([v])
        if 0 <= v < 65536:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        return b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, (bytes, bytearray)):
        return b"\xc4" + bytes([len(v)]) + bytes(v)
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def frame(t, c=None):
    d = {"t": t}
    if c is not None:
        d["c"] = c
    body = mp(d)
    return struct.pack(">I", len(body)) + body


def frame_decoder():
    room, dev, h = "0123456789abcdef", "d3v1ce", "ab" * 32
    member = {"id": 1, "name": "Ann", "device": dev, "host": True}
    msg = {"id": 7, "ts": 1700000000000, "from": "Ada", "device": dev, "text": "hi"}
    offer = {"name": "photo.jpg", "size": 600000, "hash": h, "piece_len": 262144, "cvs": bytes(96)}
    frames = {
        "hello": frame("hello", {"app": "0.1.0", "name": "Ann", "room": room, "since": 3,
                                 "epoch": None, "resume": 42, "password": bytes(33)}),
        "welcome": frame("welcome", {"room": room, "room_name": "Lab", "host_name": "Ada", "you": 1,
                                     "members": [member], "epoch": 9, "history": 1, "more": False}),
        "refused": frame("refused", {"code": "no_space", "limit": 1000, "need": 2000}),
        "post": frame("post", {"seq": 5, "text": "hello there"}),
        "accepted": frame("accepted", {"seq": 5, "id": 8}),
        "message": frame("message", msg),
        "message_file": frame("message", dict(msg, file={"hash": h, "name": "a.txt", "size": 3})),
        "history": frame("history", {"after": None}),
        "page": frame("page", {"count": 2, "more": True}),
        "member_joined": frame("member_joined", member),
        "rename": frame("rename", {"name": "Bo"}),
        "ping": frame("ping"),
        "bye": frame("bye"),
        "closing": frame("closing", {"code": "closed"}),
        "spake": frame("spake", {"msg": bytes(33), "proof": bytes(32)}),
        "proof": frame("proof", {"proof": bytes(32)}),
        "try_later": frame("try_later", {"after_ms": 1000, "code": "joins_too_often"}),
        "who": frame("who"),
        "about": frame("about", {"room": room, "room_name": "Lab", "host_name": "Ada",
                                 "members": 3, "locked": True}),
        "upload": frame("upload", {"room": room, "offer": offer}),
        "upload_from": frame("upload_from", {"offset": 0}),
        "download": frame("download", {"room": room, "hash": h, "offset": 0}),
        "file_header": frame("file_header", {"offer": offer, "offset": 0}),
        "data": frame("data", {"offset": 0, "bytes": b"abcdef"}),
        "cancel": frame("cancel", {"code": "cancelled"}),
        "unknown_kind": frame("future_kind", {"x": 1}),
        "new_field": frame("ping", {"extra": [1, 2]}),
    }
    for i, (name, data) in enumerate(frames.items()):
        write("frame_decoder", name, bytes([i % 8, 0]) + data)
    several = frames["hello"] + frames["post"] + frames["ping"] + frames["data"]
    write("frame_decoder", "several", b"\x05\x00" + several)


# ---- `arbitrary` layouts for the session target ----

def u32(x):
    return struct.pack("<I", x)


def u64(x):
    return struct.pack("<Q", x)


def variant(i, count):
    """The smallest u32 that `arbitrary` maps to variant i of count."""
    x = (i << 32) // count
    while (x * count) >> 32 < i:
        x += 1
    return u32(x)


ACTIONS = 6  # Join, Frame, Plain, Body, Await, Close
FRAMES = 16  # FuzzFrame's variants, in order
JOIN, FRAME, PLAIN, BODY, AWAIT, CLOSE = range(ACTIONS)
(HELLO, POST, HISTORY, RENAME, PING, BYE, WHO, PROOF, UPLOAD, UPLOAD_REAL, DOWNLOAD, DATA,
 FILE_DATA, FILE_REST, CANCEL, WRONG) = range(FRAMES)


def pick(i):  # Str::Pick(i)
    return variant(0, 3) + bytes([i])


RIGHT_ROOM = variant(0, 3)  # RoomChoice::Right
LAST_HASH = variant(0, 3)   # HashChoice::Last


def step(conn, action):
    return bytes([1, conn]) + action


def join(resume=1, known=True):
    return variant(JOIN, ACTIONS) + bytes([resume, int(known), 0])


def send(frame_variant, body=b""):
    return variant(FRAME, ACTIONS) + variant(frame_variant, FRAMES) + body


def wait():
    return variant(AWAIT, ACTIONS)


def close():
    return variant(CLOSE, ACTIONS)


def post(seq, text_pick):
    return send(POST, u64(seq) + pick(text_pick))


def byte_vec(data):
    """A Vec<u8> that is not the last field: each element follows a 1 byte, a 0 ends it."""
    return b"".join(bytes([1, x]) for x in data) + b"\x00"


def upload_real(size, pattern=b"lanchat"):
    # room, name, pattern, size
    return send(UPLOAD_REAL, RIGHT_ROOM + pick(11) + byte_vec(pattern) + u32(size))


def file_rest(start=0):
    return send(FILE_REST, u32(start))


def download():
    return send(DOWNLOAD, RIGHT_ROOM + LAST_HASH + u64(0))


def seed(locked, steps, third=False):
    return bytes([int(locked), int(third)]) + b"".join(steps) + b"\x00"


def session():
    for locked in (False, True):
        tag = "locked" if locked else "open"
        write("session", f"join_post_{tag}", seed(locked, [
            step(0, join()), step(0, post(1, 0)), step(0, post(2, 1)), step(0, wait()),
            step(0, send(HISTORY, b"\x00")), step(0, wait()),
            step(0, send(RENAME, pick(1))), step(0, send(PING)), step(0, wait()),
            step(0, send(BYE)),
        ]))
        write("session", f"upload_{tag}", seed(locked, [
            step(0, join()), step(1, upload_real(300_000)), step(1, wait()),
            step(1, file_rest()), step(1, wait()), step(1, wait()), step(1, wait()),
        ]))
        write("session", f"upload_download_{tag}", seed(locked, [
            step(0, join()), step(1, upload_real(3000)), step(1, file_rest()), step(1, wait()),
            step(1, wait()), step(1, close()), step(1, download()), step(1, wait()),
            step(1, wait()),
        ]))
    write("session", "who", seed(False, [step(0, send(WHO)), step(0, wait())]))
    write("session", "two_joins_host_key", seed(False, [
        step(0, join(1)), step(1, join(1)), step(2, join(2)), step(2, post(9, 0)),
        step(0, wait()), step(2, send(RENAME, pick(0))), step(0, wait()),
    ], third=True))
    # The locked room: a hello with a real SPAKE2 start, then the right proof.
    hello_right = send(HELLO, b"\x00" + pick(0) + RIGHT_ROOM + b"\x00" + variant(1, 3)
                       + bytes([1]) + variant(1, 4))
    write("session", "password_locked", seed(True, [
        step(0, hello_right), step(0, wait()), step(0, send(PROOF, variant(0, 2))),
        step(0, wait()), step(0, post(3, 0)), step(0, wait()),
    ]))


if __name__ == "__main__":
    frame_decoder()
    session()
