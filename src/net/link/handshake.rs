//! The handshake, both sides: the version preamble (with a readable refusal for protocol
//! 1), then Noise XX, which proves both devices' keys.

use super::{Expect, Link, LinkError, NOISE_MAX, Timeouts, Transport, finish};
use crate::net::identity::{Identity, PublicKey};
use crate::protocol::{MAX_FRAME_LEN, PROTOCOL_VERSION};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The Noise protocol every link runs.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_AESGCM_SHA256";
/// The first bytes of every connection, before the version.
const MAGIC: [u8; 4] = *b"LCHT";

fn noise_err(e: snow::Error) -> LinkError {
    LinkError::Noise(e.to_string())
}

fn preamble(version: u16) -> [u8; 6] {
    let v = version.to_be_bytes();
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], v[0], v[1]]
}

pub(super) fn builder(prologue: &[u8]) -> snow::Builder<'_> {
    // With snow's `ring-accelerated` feature, ring runs AES-GCM (in hardware) and SHA-256,
    // and the default resolver the X25519.
    let params = NOISE_PARAMS.parse().expect("valid Noise parameters");
    snow::Builder::new(params)
        .prologue(prologue)
        .expect("a prologue is accepted once")
}

/// The member's side of the handshake on an open stream.
pub async fn connect<T: Transport>(
    mut stream: T,
    identity: &Identity,
    expect: Expect,
    timeouts: &Timeouts,
) -> Result<Link, LinkError> {
    let peer = stream.peer();
    let handshake = async {
        let ours = preamble(PROTOCOL_VERSION);
        stream.write_all(&ours).await?;
        let mut theirs = [0u8; 6];
        stream.read_exact(&mut theirs).await.map_err(ended)?;
        if theirs[..4] != MAGIC {
            return Err(LinkError::NotLanchat);
        }
        let version = u16::from_be_bytes([theirs[4], theirs[5]]);
        if version != PROTOCOL_VERSION {
            return Err(LinkError::Version { theirs: version });
        }
        let prologue = [ours, theirs].concat();
        let mut noise = builder(&prologue)
            .local_private_key(identity.private())
            .map_err(noise_err)?
            .build_initiator()
            .map_err(noise_err)?;
        let mut buf = vec![0u8; NOISE_MAX];
        let n = noise.write_message(&[], &mut buf).map_err(noise_err)?;
        write_message(&mut stream, &buf[..n]).await?;
        let message = read_message(&mut stream).await?;
        noise.read_message(&message, &mut buf).map_err(noise_err)?;
        let presented = noise
            .get_remote_static()
            .and_then(PublicKey::from_slice)
            .ok_or_else(|| LinkError::Noise("the host sent no key".into()))?;
        // Checked before our key and anything else of ours goes out.
        if let Expect::Key(pinned) = expect
            && pinned != presented
        {
            return Err(LinkError::KeyChanged { pinned, presented });
        }
        let n = noise.write_message(&[], &mut buf).map_err(noise_err)?;
        write_message(&mut stream, &buf[..n]).await?;
        stream.flush().await?;
        Ok((noise, presented))
    };
    let (noise, remote) = tokio::time::timeout(timeouts.handshake, handshake)
        .await
        .map_err(|_| LinkError::TimedOut("the host did not finish the handshake"))??;
    Ok(finish(stream, noise, remote, peer, timeouts))
}

/// The host's side of the handshake on an accepted stream.
pub async fn accept<T: Transport>(
    mut stream: T,
    identity: &Identity,
    timeouts: &Timeouts,
) -> Result<Link, LinkError> {
    let peer = stream.peer();
    let first_message = tokio::time::Instant::now() + timeouts.first_message;
    let handshake = async {
        let mut theirs = [0u8; 6];
        let silent = |_| LinkError::TimedOut("nothing said in time");
        tokio::time::timeout_at(first_message, stream.read_exact(&mut theirs[..4]))
            .await
            .map_err(silent)?
            .map_err(ended)?;
        if theirs[..4] != MAGIC {
            refuse_version_1(
                &mut stream,
                u32::from_be_bytes(theirs[..4].try_into().unwrap()),
            )
            .await;
            return Err(LinkError::OldPeer);
        }
        tokio::time::timeout_at(first_message, stream.read_exact(&mut theirs[4..]))
            .await
            .map_err(silent)?
            .map_err(ended)?;
        let ours = preamble(PROTOCOL_VERSION);
        stream.write_all(&ours).await?;
        let version = u16::from_be_bytes([theirs[4], theirs[5]]);
        if version != PROTOCOL_VERSION {
            let _ = stream.shutdown().await;
            return Err(LinkError::Version { theirs: version });
        }
        let prologue = [theirs, ours].concat();
        let mut noise = builder(&prologue)
            .local_private_key(identity.private())
            .map_err(noise_err)?
            .build_responder()
            .map_err(noise_err)?;
        let mut buf = vec![0u8; NOISE_MAX];
        let message = tokio::time::timeout_at(first_message, read_message(&mut stream))
            .await
            .map_err(|_| LinkError::TimedOut("no handshake begun in time"))??;
        noise.read_message(&message, &mut buf).map_err(noise_err)?;
        let n = noise.write_message(&[], &mut buf).map_err(noise_err)?;
        write_message(&mut stream, &buf[..n]).await?;
        let message = read_message(&mut stream).await?;
        noise.read_message(&message, &mut buf).map_err(noise_err)?;
        let remote = noise
            .get_remote_static()
            .and_then(PublicKey::from_slice)
            .ok_or_else(|| LinkError::Noise("the member sent no key".into()))?;
        Ok((noise, remote))
    };
    let (noise, remote) = tokio::time::timeout(timeouts.handshake, handshake)
        .await
        .map_err(|_| LinkError::TimedOut("no handshake in time"))??;
    Ok(finish(stream, noise, remote, peer, timeouts))
}

/// A lanchat of protocol 1 opened with a frame (`len` is its length): read it, answer with
/// a version 1 refusal its user can read, and close.
async fn refuse_version_1<T: AsyncRead + AsyncWrite + Unpin>(stream: &mut T, len: u32) {
    if len as usize > MAX_FRAME_LEN {
        return; // not lanchat at all
    }
    let mut frame = vec![0u8; len as usize];
    if stream.read_exact(&mut frame).await.is_err() {
        return;
    }
    /// A version 1 `Refused` frame, as version 1 encodes it.
    #[derive(serde::Serialize)]
    struct Refused<'a> {
        t: &'a str,
        c: Body<'a>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        code: &'a str,
        reason: &'a str,
    }
    let reason = format!(
        "this room runs a newer lanchat (protocol {PROTOCOL_VERSION}); update lanchat to join"
    );
    let refused = Refused {
        t: "refused",
        c: Body {
            code: "version",
            reason: &reason,
        },
    };
    let body = rmp_serde::to_vec_named(&refused).expect("a refusal encodes");
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// A clean end while reading the handshake is the other side hanging up, not an I/O fault.
fn ended(e: std::io::Error) -> LinkError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        LinkError::Ended
    } else {
        LinkError::Io(e)
    }
}

async fn write_message<T: AsyncWrite + Unpin>(
    stream: &mut T,
    message: &[u8],
) -> Result<(), LinkError> {
    let mut out = Vec::with_capacity(2 + message.len());
    out.extend_from_slice(&(message.len() as u16).to_be_bytes());
    out.extend_from_slice(message);
    stream.write_all(&out).await?;
    Ok(())
}

async fn read_message<T: AsyncRead + Unpin>(stream: &mut T) -> Result<Vec<u8>, LinkError> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(ended)?;
    let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut message).await.map_err(ended)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::super::record::MAX_PLAIN;
    use super::*;
    use crate::protocol::Frame;

    /// Two ends of an in-memory link.
    async fn pair(host: &Identity, member: &Identity, expect: Expect) -> (Link, Link) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let timeouts = Timeouts::default();
        let (h, m) = tokio::join!(
            accept(a, host, &timeouts),
            connect(b, member, expect, &timeouts)
        );
        (h.unwrap(), m.unwrap())
    }

    #[tokio::test]
    async fn both_sides_learn_the_other_key_and_frames_cross() {
        let (host, member) = (Identity::generate(), Identity::generate());
        let (mut h, mut m) = pair(&host, &member, Expect::Key(host.public())).await;
        assert_eq!(h.remote, member.public());
        assert_eq!(m.remote, host.public());
        assert_eq!(h.handshake_hash, m.handshake_hash);
        m.writer.send(Frame::Ping).await.unwrap();
        assert_eq!(h.reader.next().await.unwrap(), Frame::Ping);
        h.writer.send(Frame::Pong).await.unwrap();
        assert_eq!(m.reader.next().await.unwrap(), Frame::Pong);
    }

    #[tokio::test]
    async fn a_host_with_another_key_is_left_before_the_member_says_anything() {
        let (host, member) = (Identity::generate(), Identity::generate());
        let pinned = Identity::generate().public();
        let (a, b) = tokio::io::duplex(1 << 20);
        let timeouts = Timeouts::default();
        let (h, m) = tokio::join!(
            accept(a, &host, &timeouts),
            connect(b, &member, Expect::Key(pinned), &timeouts)
        );
        assert!(
            matches!(m, Err(LinkError::KeyChanged { pinned: p, presented }) if p == pinned && presented == host.public())
        );
        // The host never got the member's key: its handshake did not finish.
        assert!(h.is_err());
    }

    /// Whole frames of many sizes, up to the largest file data frame, through a real link.
    #[tokio::test]
    async fn frames_of_many_sizes_cross_a_link_intact() {
        let (host, member) = (Identity::generate(), Identity::generate());
        let (mut h, mut m) = pair(&host, &member, Expect::Anyone).await;
        let sizes = [0, 1, 100, MAX_PLAIN - 30, MAX_PLAIN, MAX_PLAIN + 1, 65_536];
        let sending = async {
            for (i, &len) in sizes.iter().enumerate() {
                let bytes = (0..len).map(|b| (b * 7 + i) as u8).collect();
                m.writer
                    .feed(Frame::Data {
                        offset: i as u64,
                        bytes,
                    })
                    .await
                    .unwrap();
            }
            m.writer.flush().await.unwrap();
        };
        let receiving = async {
            for (i, &len) in sizes.iter().enumerate() {
                let Frame::Data { offset, bytes } = h.reader.next().await.unwrap() else {
                    panic!("expected data")
                };
                assert_eq!(offset, i as u64);
                assert!(
                    bytes
                        .iter()
                        .enumerate()
                        .all(|(b, &v)| v == (b * 7 + i) as u8)
                );
                assert_eq!(bytes.len(), len);
            }
        };
        tokio::join!(sending, receiving);
    }

    #[tokio::test]
    async fn another_version_is_told_apart() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let host =
            tokio::spawn(
                async move { accept(a, &Identity::generate(), &Timeouts::default()).await },
            );
        b.write_all(&preamble(PROTOCOL_VERSION + 1)).await.unwrap();
        let mut answer = [0u8; 6];
        b.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, preamble(PROTOCOL_VERSION));
        assert!(matches!(
            host.await.unwrap(),
            Err(LinkError::Version { theirs }) if theirs == PROTOCOL_VERSION + 1
        ));
        let words = LinkError::Version {
            theirs: PROTOCOL_VERSION + 1,
        }
        .to_string();
        assert!(words.contains("newer lanchat"), "{words}");
    }
}
