//! File transfers over loopback with a real room host: a file arrives identical, a transfer
//! cut half-way resumes, a sender that sends too much is cut off at the announced size, a bad
//! piece is refused, a late joiner fetches an earlier file, old files go past the size limit,
//! and (as root, in a small tmpfs; ignored otherwise) a disk that fills up costs only the
//! partial file.

use lanchat::files::TransferError;
use lanchat::files::fetch::{self as transfer, Peer};
use lanchat::files::{FileService, FileStore, PieceHashes};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::link::Timeouts;
use lanchat::protocol::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[path = "support/proxy.rs"]
mod proxy;
use proxy::{cutting_proxy, slow_proxy};

#[path = "support/client.rs"]
mod client;
use client::{Client, identity};

const DEADLINE: Duration = Duration::from_secs(20);

fn room() -> RoomId {
    RoomId::parse("f11e5").unwrap()
}

/// Ada's room keeping up to `limit` bytes of files, with Bob, Cat and Raw in it (files are
/// for members only).
async fn start_host(dir: &Path, limit: u64) -> RoomHost {
    start_host_with(dir, limit, Timeouts::default()).await
}

async fn start_host_with(dir: &Path, limit: u64, timeouts: Timeouts) -> RoomHost {
    let config = HostConfig {
        timeouts,
        ..host_config(dir)
    };
    start_host_config(config, limit).await
}

/// Ada's room in `dir`, on loopback.
fn host_config(dir: &Path) -> HostConfig {
    HostConfig {
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        ..HostConfig::new(
            room(),
            "Files".into(),
            "Ada".into(),
            identity("Ada"),
            dir.to_path_buf(),
        )
    }
}

/// Starts a room keeping up to `limit` bytes of files, with Bob, Cat and Raw in it.
async fn start_host_config(config: HostConfig, limit: u64) -> RoomHost {
    start_host_telling(config, limit, None).await
}

/// The next arrival told that `is` holds for.
async fn next_arrival(
    arrivals: &mut tokio::sync::mpsc::UnboundedReceiver<lanchat::files::Arrival>,
    is: impl Fn(&lanchat::files::Arrival) -> bool,
) -> lanchat::files::Arrival {
    loop {
        let told = tokio::time::timeout(DEADLINE, arrivals.recv()).await;
        let arrival = told.expect("an arrival told in time").expect("told");
        if is(&arrival) {
            return arrival;
        }
    }
}

/// The same, telling how uploads arrive to `arrivals`, as the host's own window hears it.
async fn start_host_telling(
    mut config: HostConfig,
    limit: u64,
    arrivals: Option<tokio::sync::mpsc::UnboundedSender<lanchat::files::Arrival>>,
) -> RoomHost {
    let store = FileStore::new(config.dir.join("files"), limit);
    let service = FileService::register(&mut config, store);
    if let Some(arrivals) = arrivals {
        service.tell_arrivals(lanchat::files::Reporter::new(move |told| {
            if let lanchat::files::TransferEvent::Arriving(a) = told {
                let _ = arrivals.send(a);
            }
        }));
    }
    let host = RoomHost::start(config).await.expect("host starts");
    for name in ["Bob", "Cat", "Raw"] {
        stay_in(&host, name).await;
    }
    host
}

fn addr(host: &RoomHost) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], host.port))
}

fn hello(name: &str) -> Hello {
    Hello {
        passing: false,
        app: "test".into(),
        name: name.into(),
        room: room(),
        since: None,
        epoch: None,
        resume: 1,
        password: None,
    }
}

/// Joins as `name` and returns the connection, its welcome, and the history after it.
async fn join(host: &RoomHost, name: &str) -> (Client, Welcome, Vec<ChatMessage>) {
    let mut conn = Client::connect(addr(host), &identity(name)).await;
    conn.send(Frame::Hello(hello(name))).await.unwrap();
    let Ok(Some(Ok(Frame::Welcome(welcome)))) = tokio::time::timeout(DEADLINE, conn.next()).await
    else {
        panic!("no welcome")
    };
    let mut messages = Vec::new();
    for _ in 0..welcome.history {
        if let Ok(Some(Ok(Frame::Message(m)))) = tokio::time::timeout(DEADLINE, conn.next()).await {
            messages.push(m);
        }
    }
    (conn, welcome, messages)
}

/// Joins as `name` and stays in the room (pinging) until the room closes.
async fn stay_in(host: &RoomHost, name: &str) {
    let (mut conn, _, _) = join(host, name).await;
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                frame = conn.next() => if !matches!(frame, Some(Ok(_))) { return },
                _ = ping.tick() => if conn.send(Frame::Ping).await.is_err() { return },
            }
        }
    });
}

/// A member's file connections to Ada's room, as `name`.
fn peer(host: &RoomHost, name: &str) -> Peer {
    Peer {
        addrs: vec![addr(host)],
        room: room(),
        host: identity("Ada").public(),
        identity: identity(name),
        timeouts: Timeouts::default(),
    }
}

/// A file of pseudo-random bytes (seeded, so runs repeat).
fn make_file(dir: &Path, name: &str, size: usize, seed: u64) -> PathBuf {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn hashes(path: &Path) -> PieceHashes {
    let size = std::fs::metadata(path).unwrap().len();
    PieceHashes::compute(std::fs::File::open(path).unwrap(), size).unwrap()
}

async fn upload(host: &RoomHost, path: &Path) -> Result<(FileRef, u64), TransferError> {
    let (progress, _) = watch::channel(0);
    let hashes = hashes(path);
    tokio::time::timeout(
        DEADLINE,
        transfer::upload(
            &peer(host, "Bob"),
            path,
            &hashes,
            &progress,
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("the upload ends")
}

async fn download(host: &RoomHost, file: &FileRef, dir: &Path) -> Result<PathBuf, TransferError> {
    let (progress, _) = watch::channel(0);
    tokio::time::timeout(
        DEADLINE,
        transfer::download(
            &peer(host, "Cat"),
            file,
            dir,
            &progress,
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("the download ends")
}

fn same_content(a: &Path, b: &Path) {
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(a.len(), b.len());
    assert!(a == b, "contents differ");
}

/// Joins the room as a chat member and returns the history it is welcomed with.
async fn history(host: &RoomHost) -> Vec<ChatMessage> {
    join(host, "Late").await.2
}

/// The history once it holds a message `says` (a host's notice is stored a moment after
/// what it is about): fails after the deadline.
async fn history_saying(host: &RoomHost, says: impl Fn(&ChatMessage) -> bool) -> Vec<ChatMessage> {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let history = history(host).await;
        if history.iter().any(&says) || tokio::time::Instant::now() > until {
            return history;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_file_arrives_identical_and_a_late_joiner_can_still_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    // Several pieces and a short last one.
    let sent = make_file(dir.path(), "holiday video.mp4", 3 * 256 * 1024 + 12345, 1);
    let (file, id) = upload(&host, &sent).await.unwrap();
    assert_eq!(file.name, "holiday video.mp4");
    assert_eq!(
        file.hash.as_str(),
        blake3::hash(&std::fs::read(&sent).unwrap())
            .to_hex()
            .as_str()
    );

    let late = history(&host).await;
    let posted = late
        .iter()
        .find(|m| m.id == id)
        .expect("the file is in the history");
    assert_eq!(posted.file.as_ref(), Some(&file));
    assert_eq!(posted.from, "Bob");

    let downloads = dir.path().join("downloads");
    let saved = download(&host, &file, &downloads).await.unwrap();
    assert_eq!(saved, downloads.join("holiday video.mp4"));
    same_content(&sent, &saved);
    // A second copy never overwrites the first.
    let again = download(&host, &file, &downloads).await.unwrap();
    assert_eq!(again, downloads.join("holiday video (1).mp4"));
    same_content(&sent, &again);
    let mut left: Vec<String> = std::fs::read_dir(&downloads)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["holiday video (1).mp4", "holiday video.mp4"],
        "no partial file or folder is left behind"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A folder sent: each file goes under its path inside the folder and is saved there, in
/// folders made inside the downloads; a path from a dishonest sender that tries to climb
/// out is saved inside all the same.
#[tokio::test]
async fn a_folders_files_are_saved_in_that_folder_and_never_outside_the_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let downloads = dir.path().join("downloads");
    let (progress, _) = watch::channel(0);
    let never = CancellationToken::new();
    let mut saved = Vec::new();
    // The two last as a dishonest sender's message would name them (the name a member
    // saves under is the one in the room's message).
    for (n, name) in [
        "Photos/2026/summer/beach.jpg",
        "Photos/cover.png",
        "../../outside.txt",
        "Photos/../../../../etc/cron.d/x",
    ]
    .into_iter()
    .enumerate()
    {
        let sent = make_file(dir.path(), &format!("f{n}"), 70_000, 20 + n as u64);
        let hashes = hashes(&sent);
        let what = (sent.as_path(), name, n as u64);
        let bob = peer(&host, "Bob");
        let (file, _) = transfer::upload_shared(&bob, what, &hashes, &progress, &never)
            .await
            .unwrap();
        if n < 2 {
            assert_eq!(file.name, name, "sent under its path");
        }
        let named = FileRef {
            name: name.into(),
            ..file
        };
        let path = download(&host, &named, &downloads).await.unwrap();
        same_content(&sent, &path);
        saved.push(path.strip_prefix(&downloads).unwrap().to_path_buf());
    }
    let want: Vec<PathBuf> = [
        "Photos/2026/summer/beach.jpg",
        "Photos/cover.png",
        "outside.txt",
        "Photos/etc/cron.d/x",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(saved, want);
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!outside.iter().any(|n| n == "outside.txt" || n == "etc"));
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn empty_and_tiny_files_go_too() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    for (name, size) in [("empty.txt", 0), ("one.bin", 1), ("note.txt", 1000)] {
        let sent = make_file(dir.path(), name, size, 2);
        let (file, _) = upload(&host, &sent).await.unwrap();
        let saved = download(&host, &file, &dir.path().join("downloads"))
            .await
            .unwrap();
        same_content(&sent, &saved);
    }
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn a_download_cut_half_way_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let sent = make_file(dir.path(), "big.bin", 8 * 256 * 1024, 3);
    let (file, _) = upload(&host, &sent).await.unwrap();
    let downloads = dir.path().join("downloads");

    // The connection breaks after about half the file.
    let proxy = cutting_proxy(
        SocketAddr::from(([127, 0, 0, 1], host.port)),
        file.size as usize / 2,
        false,
    )
    .await;
    let cat = Peer {
        addrs: vec![proxy],
        ..peer(&host, "Cat")
    };
    let (progress, _) = watch::channel(0);
    let cut = transfer::download(
        &cat,
        &file,
        &downloads,
        &progress,
        &CancellationToken::new(),
    )
    .await;
    assert!(cut.is_err(), "the cut download fails");
    let partial = lanchat::files::disk::partial_path(&downloads, &file.hash);
    assert!(partial.exists(), "the partial file stays for a resume");

    // Resumed, it needs well under the whole file: through a link cut at three quarters it
    // still completes, which a download starting over could not.
    let proxy = cutting_proxy(
        SocketAddr::from(([127, 0, 0, 1], host.port)),
        file.size as usize * 3 / 4,
        false,
    )
    .await;
    let (progress, _) = watch::channel(0);
    let saved = transfer::download(
        &Peer {
            addrs: vec![proxy],
            ..peer(&host, "Cat")
        },
        &file,
        &downloads,
        &progress,
        &CancellationToken::new(),
    )
    .await
    .expect("the resumed download completes");
    same_content(&sent, &saved);
    assert!(!partial.exists());
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn an_upload_cut_half_way_resumes_and_a_cancelled_download_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (told, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let host = start_host_telling(host_config(&dir.path().join("host")), 1 << 30, Some(told)).await;
    let sent = make_file(dir.path(), "upload.bin", 8 * 256 * 1024, 4);
    let hashes = hashes(&sent);
    // The connection breaks after about half the file.
    let proxy = cutting_proxy(SocketAddr::from(([127, 0, 0, 1], host.port)), 1 << 20, true).await;
    let bob = Peer {
        addrs: vec![proxy],
        ..peer(&host, "Bob")
    };
    let (progress, _) = watch::channel(0);
    let cut = transfer::upload(&bob, &sent, &hashes, &progress, &CancellationToken::new()).await;
    assert!(cut.is_err(), "the cut upload fails");
    // The host's window saw it arriving, then stop arriving part way.
    let paused = next_arrival(&mut arrivals, |a| a.over).await;
    assert!(
        paused.done < paused.size,
        "broken off, not kept: {paused:?}"
    );

    // Sent again, it starts where the host's verified copy ends: through a link cut at
    // three quarters it still completes, which an upload starting over could not.
    let proxy = cutting_proxy(
        SocketAddr::from(([127, 0, 0, 1], host.port)),
        hashes.size() as usize * 3 / 4,
        true,
    )
    .await;
    let bob = Peer {
        addrs: vec![proxy],
        ..peer(&host, "Bob")
    };
    let (progress, _) = watch::channel(0);
    let (file, _) = transfer::upload(&bob, &sent, &hashes, &progress, &CancellationToken::new())
        .await
        .expect("the resumed upload completes");
    // Resumed, it arrives to the end, and the window hears it kept (told a few times a
    // second, so on loopback the arriving in between may be folded into it).
    let end = next_arrival(&mut arrivals, |a| a.over).await;
    assert_eq!(end.done, end.size, "kept whole");

    // A download the user cancels removes its partial file.
    let downloads = dir.path().join("downloads");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let (progress, _) = watch::channel(0);
    let cancelled =
        transfer::download(&peer(&host, "Cat"), &file, &downloads, &progress, &cancel).await;
    assert!(matches!(cancelled, Err(TransferError::Cancelled)));
    assert!(!lanchat::files::disk::partial_path(&downloads, &file.hash).exists());
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A raw uploader that sends the offer for `content`, then `data`, and hangs up without a word
/// (once the host has written what it got).
async fn raw_upload_cut(host: &RoomHost, content: &[u8], data: &[u8]) {
    let hashes = PieceHashes::compute(content, content.len() as u64).unwrap();
    let offer = FileOffer {
        name: "cut.bin".into(),
        size: content.len() as u64,
        hash: FileHash::from_bytes(&hashes.root()),
        piece_len: hashes.piece_len(),
        cvs: hashes.cvs().concat(),
    };
    let mut conn = Client::connect(addr(host), &identity("Raw")).await;
    let upload = Upload {
        share: None,
        room: room(),
        offer,
    };
    conn.send(Frame::Upload(upload)).await.unwrap();
    let Some(Ok(Frame::UploadFrom { .. })) = conn.next().await else {
        panic!("no upload_from")
    };
    for (i, chunk) in data.chunks(DATA_LEN).enumerate() {
        let frame = Frame::Data {
            offset: (i * DATA_LEN) as u64,
            bytes: chunk.to_vec().into(),
        };
        conn.send(frame).await.unwrap();
    }
    // A moment for the host to write the whole pieces, then the sender vanishes, and a
    // moment for the host to see it gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(conn);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A raw uploader: sends the offer for `content`, then `data` as it likes.
async fn raw_upload(host: &RoomHost, content: &[u8], data: &[u8]) -> Vec<Frame> {
    let hashes = PieceHashes::compute(content, content.len() as u64).unwrap();
    let offer = FileOffer {
        name: "raw.bin".into(),
        size: content.len() as u64,
        hash: FileHash::from_bytes(&hashes.root()),
        piece_len: hashes.piece_len(),
        cvs: hashes.cvs().concat(),
    };
    let mut conn = Client::connect(addr(host), &identity("Raw")).await;
    let upload = Upload {
        share: None,
        room: room(),
        offer,
    };
    conn.send(Frame::Upload(upload)).await.unwrap();
    let Some(Ok(Frame::UploadFrom { offset: 0 })) = conn.next().await else {
        panic!("no upload_from")
    };
    for (i, chunk) in data.chunks(DATA_LEN).enumerate() {
        let frame = Frame::Data {
            offset: (i * DATA_LEN) as u64,
            bytes: chunk.to_vec().into(),
        };
        if conn.send(frame).await.is_err() {
            break; // cut off
        }
    }
    let mut answers = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(DEADLINE, conn.next()).await {
        answers.push(frame);
    }
    answers
}

/// Uploads broken off half way leave partial files, and those count toward the room's files
/// limit: broken ones go, oldest first, to make room for the next upload (ten broken-off
/// uploads once kept 10.5 MB of partial files, for a week, in a room keeping 2 MB).
#[tokio::test]
async fn broken_off_uploads_count_toward_the_files_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 1_000_000;
    let host_dir = dir.path().join("host");
    let host = start_host(&host_dir, limit).await;
    let partials = || -> u64 {
        let files = host_dir.join("files");
        std::fs::read_dir(&files)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
                    .map(|e| e.metadata().map_or(0, |m| m.len()))
                    .sum()
            })
            .unwrap_or(0)
    };
    let mut most = 0;
    for n in 0..10u64 {
        let content = std::fs::read(make_file(dir.path(), "cut.bin", 900_000, n)).unwrap();
        // Most of it (three whole pieces), then the connection drops.
        raw_upload_cut(&host, &content, &content[..800_000]).await;
        most = most.max(partials());
    }
    assert!(most > 0, "the broken uploads left partial files");
    assert!(
        most <= limit + 900_000,
        "{most} bytes of partial uploads in a room keeping {limit}"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn a_sender_that_overruns_is_cut_off_at_the_announced_size() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let content = std::fs::read(make_file(dir.path(), "c.bin", 300_000, 5)).unwrap();
    let mut data = content.clone();
    data.extend_from_slice(&[0xAB; 200_000]);
    let answers = raw_upload(&host, &content, &data).await;
    let Some(Frame::Stored { id }) = answers.first() else {
        panic!("expected stored, got {answers:?}")
    };
    let late = history(&host).await;
    let file = late
        .iter()
        .find(|m| m.id == *id)
        .and_then(|m| m.file.clone())
        .unwrap();
    let saved = download(&host, &file, &dir.path().join("downloads"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(saved).unwrap(),
        content,
        "exactly the announced bytes"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn a_piece_that_does_not_match_is_refused_and_the_room_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let content = std::fs::read(make_file(dir.path(), "d.bin", 700_000, 6)).unwrap();
    let mut data = content.clone();
    data[300_000] ^= 1; // in the second piece
    let answers = raw_upload(&host, &content, &data).await;
    assert!(
        matches!(
            answers.first(),
            Some(Frame::Cancel {
                code: CancelCode::Mismatch
            })
        ),
        "{answers:?}"
    );
    // The file was posted when it started coming; the room is told it did not make it.
    let said = history_saying(&host, |m| {
        m.from == "Ada" && m.text.contains("raw.bin from Raw could not be kept")
    })
    .await;
    assert!(
        said.iter()
            .any(|m| m.from == "Ada" && m.text.contains("raw.bin from Raw could not be kept")),
        "{said:?}"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn past_the_size_limit_the_oldest_files_go_and_a_download_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1_000_000).await;
    let first = make_file(dir.path(), "first.bin", 600_000, 7);
    let second = make_file(dir.path(), "second.bin", 600_000, 8);
    let (old, _) = upload(&host, &first).await.unwrap();
    let (new, _) = upload(&host, &second).await.unwrap();
    // The room says which files went.
    let said = history_saying(&host, |m| {
        m.from == "Ada" && m.text.contains("no longer keeps: first.bin")
    })
    .await;
    assert!(
        said.iter()
            .any(|m| m.from == "Ada" && m.text.contains("no longer keeps: first.bin")),
        "{said:?}"
    );
    let gone = download(&host, &old, &dir.path().join("downloads")).await;
    assert!(
        matches!(&gone, Err(TransferError::Refused(why)) if why.to_string().contains("no longer keeps")),
        "{gone:?}"
    );
    let saved = download(&host, &new, &dir.path().join("downloads"))
        .await
        .unwrap();
    same_content(&second, &saved);
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A small tmpfs mounted for one test (root only), unmounted when dropped.
#[cfg(target_os = "linux")]
struct SmallDisk {
    dir: tempfile::TempDir,
}

#[cfg(target_os = "linux")]
impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        // SAFETY: geteuid has no preconditions.
        if unsafe { geteuid() } != 0 {
            panic!("mounting a small tmpfs needs root");
        }
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match mounted {
            Ok(status) if status.success() => SmallDisk { dir },
            other => panic!("cannot mount a tmpfs: {other:?}"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes the disk read-only, as a write-protected or wrongly mounted folder is.
    fn make_read_only(&self) {
        let remounted = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status();
        assert!(matches!(remounted, Ok(s) if s.success()), "{remounted:?}");
    }

    /// Fills the disk up with a file.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
    }
}

#[cfg(target_os = "linux")]
impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[cfg(target_os = "linux")]
unsafe extern "C" {
    fn geteuid() -> u32;
}

#[cfg(target_os = "linux")]
#[tokio::test]
#[ignore = "needs root: mounts a small tmpfs"]
async fn a_download_bigger_than_the_free_space_is_refused_up_front() {
    let disk = SmallDisk::new("1m");
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let (file, _) = upload(&host, &make_file(dir.path(), "huge.bin", 3 << 20, 9))
        .await
        .unwrap();
    let refused = download(&host, &file, disk.path()).await;
    assert!(
        matches!(&refused, Err(TransferError::NoSpace { .. })),
        "{refused:?}"
    );
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("not enough disk space")
    );
    assert!(!lanchat::files::disk::partial_path(disk.path(), &file.hash).exists());
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
#[ignore = "needs root: mounts a small tmpfs"]
async fn a_host_disk_that_fills_up_mid_upload_loses_only_the_partial_file() {
    let disk = SmallDisk::new("4m");
    // What the hosting user is told.
    let told = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = told.clone();
    let config = HostConfig {
        problems: Some(Arc::new(move |text| sink.lock().unwrap().push(text))),
        ..host_config(disk.path())
    };
    let host = start_host_config(config, 1 << 30).await;
    let dir = tempfile::tempdir().unwrap();
    let content = std::fs::read(make_file(dir.path(), "e.bin", 2 << 20, 10)).unwrap();
    let hashes = PieceHashes::compute(&content[..], content.len() as u64).unwrap();
    let offer = FileOffer {
        name: "e.bin".into(),
        size: content.len() as u64,
        hash: FileHash::from_bytes(&hashes.root()),
        piece_len: hashes.piece_len(),
        cvs: hashes.cvs().concat(),
    };
    let mut conn = Client::connect(addr(&host), &identity("Raw")).await;
    let upload = Upload {
        share: None,
        room: room(),
        offer: offer.clone(),
    };
    conn.send(Frame::Upload(upload)).await.unwrap();
    let Some(Ok(Frame::UploadFrom { offset: 0 })) = conn.next().await else {
        panic!("no upload_from")
    };
    // Half, then the disk fills, then the rest.
    let half = content.len() / 2;
    for (i, chunk) in content[..half].chunks(DATA_LEN).enumerate() {
        conn.send(Frame::Data {
            offset: (i * DATA_LEN) as u64,
            bytes: chunk.to_vec().into(),
        })
        .await
        .unwrap();
    }
    // The file's message is stored (on the same disk) before the disk fills.
    let posted = async {
        while !history(&host).await.iter().any(|m| m.file.is_some()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(DEADLINE, posted).await.unwrap();
    // Someone in the room hears what happens next.
    let (mut watcher, _, _) = join(&host, "Watcher").await;
    disk.fill();
    for (i, chunk) in content[half..].chunks(DATA_LEN).enumerate() {
        if conn
            .send(Frame::Data {
                offset: (half + i * DATA_LEN) as u64,
                bytes: chunk.to_vec().into(),
            })
            .await
            .is_err()
        {
            break;
        }
    }
    let answer = tokio::time::timeout(DEADLINE, conn.next()).await.unwrap();
    assert!(
        matches!(
            &answer,
            Some(Ok(Frame::Cancel {
                code: CancelCode::DiskFull
            }))
        ),
        "{answer:?}"
    );
    let store = FileStore::new(disk.path().join("files"), 1 << 30);
    assert!(
        !store.partial(&offer.hash).exists(),
        "the partial file is removed"
    );
    // The room itself carries on and says what happened; where the full disk keeps it
    // from saving that (members only see what is saved), the hosting user is told instead.
    let in_room = async {
        loop {
            match watcher.next().await {
                Some(Ok(Frame::Message(m))) if m.text.contains("the host's disk is full") => {
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("the watcher lost the room: {other:?}"),
            }
        }
    };
    let to_host = async {
        while !told
            .lock()
            .unwrap()
            .iter()
            .any(|t| t.contains("the host's disk is full") && t.contains("not saved"))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let said = async {
        tokio::select! {
            () = in_room => {}
            () = to_host => {}
        }
    };
    tokio::time::timeout(DEADLINE, said).await.unwrap();
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A try of the same sharing after its confirmation was lost is posted once; sharing the
/// file again is a new post (nothing crosses twice: the host has it).
#[tokio::test]
async fn an_upload_tried_again_is_posted_once_and_shared_again_posted_again() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let sent = make_file(dir.path(), "twice.bin", 300_000, 11);
    let (progress, _) = watch::channel(0);
    let hashes = hashes(&sent);
    let bob = peer(&host, "Bob");
    let never = CancellationToken::new();
    let share = |n: u64| {
        transfer::upload_shared(
            &bob,
            (sent.as_path(), "twice.bin", n),
            &hashes,
            &progress,
            &never,
        )
    };
    // As when the first confirmation was lost and the sender tries again.
    let (_, first) = share(7).await.unwrap();
    let (_, again) = share(7).await.unwrap();
    assert_eq!(first, again);
    let files = |history: Vec<ChatMessage>| history.iter().filter(|m| m.file.is_some()).count();
    assert_eq!(files(history(&host).await), 1);
    // Shared again, by choice.
    let (_, later) = share(8).await.unwrap();
    assert_ne!(first, later);
    assert_eq!(files(history(&host).await), 2);
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// The next report of the app's transfers.
async fn next_transfer(front: &mut lanchat::bridge::FrontEnd) -> lanchat::bridge::Transfer {
    loop {
        let event = tokio::time::timeout(DEADLINE, front.events.recv())
            .await
            .expect("a transfer report in time")
            .expect("the transfers are alive");
        if let lanchat::bridge::Event::Transfer(t) = event {
            return t;
        }
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
#[ignore = "needs root: mounts a small tmpfs"]
async fn a_read_only_downloads_folder_is_reported_at_once_without_retrying() {
    let disk = SmallDisk::new("1m");
    disk.make_read_only();
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let (file, _) = upload(&host, &make_file(dir.path(), "a.bin", 100_000, 29))
        .await
        .unwrap();
    let (mut front, back) = lanchat::bridge::channel();
    let mut transfers = lanchat::files::Transfers::new(
        back.events,
        disk.path().to_path_buf(),
        dir.path().join("saved.json"),
    )
    .await;
    transfers.download(peer(&host, "Cat"), file);
    let why = loop {
        let t = next_transfer(&mut front).await;
        assert!(
            t.retrying.is_none(),
            "a read-only folder was retried: {t:?}"
        );
        if let lanchat::bridge::TransferState::Failed(why) = t.state {
            break why;
        }
    };
    assert!(
        why.to_string().to_lowercase().contains("read-only"),
        "{why}"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Two members share one file at the same time; the first is slow, so the second is told
/// to wait, tries again, and finds the file there: both succeed, nothing is sent twice.
#[tokio::test]
async fn two_members_sending_the_same_file_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let path = make_file(dir.path(), "shared.bin", 600_000, 23);
    let content = std::fs::read(&path).unwrap();
    let hashes = PieceHashes::compute(&content[..], content.len() as u64).unwrap();
    let offer = FileOffer {
        name: "shared.bin".into(),
        size: content.len() as u64,
        hash: FileHash::from_bytes(&hashes.root()),
        piece_len: hashes.piece_len(),
        cvs: hashes.cvs().concat(),
    };
    // Raw starts and stalls half-way, holding the file's turn.
    let mut raw = Client::connect(addr(&host), &identity("Raw")).await;
    raw.send(Frame::Upload(Upload {
        share: None,
        room: room(),
        offer,
    }))
    .await
    .unwrap();
    let Some(Ok(Frame::UploadFrom { offset: 0 })) = raw.next().await else {
        panic!("no upload_from")
    };
    let chunks: Vec<&[u8]> = content.chunks(DATA_LEN).collect();
    let half = chunks.len() / 2;
    for (i, chunk) in chunks[..half].iter().enumerate() {
        let offset = (i * DATA_LEN) as u64;
        let bytes = chunk.to_vec().into();
        raw.send(Frame::Data { offset, bytes }).await.unwrap();
    }

    // Bob sends the same file through the app's transfers, which retry.
    let (mut front, back) = lanchat::bridge::channel();
    let mut transfers = lanchat::files::Transfers::new(
        back.events,
        dir.path().join("bob-downloads"),
        dir.path().join("bob-saved.json"),
    )
    .await;
    transfers.upload(peer(&host, "Bob"), path.clone());
    let waiting = loop {
        let t = next_transfer(&mut front).await;
        assert!(
            !matches!(t.state, lanchat::bridge::TransferState::Failed(_)),
            "{t:?}"
        );
        if let Some(why) = t.retrying {
            break why;
        }
    };
    assert!(waiting.contains("someone else"), "{waiting}");

    // Raw finishes; Bob's next try finds the file kept.
    for (i, chunk) in chunks.iter().enumerate().skip(half) {
        let offset = (i * DATA_LEN) as u64;
        let bytes = chunk.to_vec().into();
        raw.send(Frame::Data { offset, bytes }).await.unwrap();
    }
    let stored = tokio::time::timeout(DEADLINE, async {
        loop {
            match raw.next().await {
                Some(Ok(Frame::Stored { id })) => return id,
                Some(Ok(_)) => {}
                other => panic!("Raw's upload did not end well: {other:?}"),
            }
        }
    })
    .await
    .expect("Raw's upload is stored");
    let bob = loop {
        let t = next_transfer(&mut front).await;
        match t.state {
            lanchat::bridge::TransferState::Done {
                message: Some(id), ..
            } => break id,
            lanchat::bridge::TransferState::Failed(why) => panic!("Bob's upload failed: {why}"),
            _ => {}
        }
    };
    assert_ne!(stored, bob, "each sender's share is posted");
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A healthy upload may take longer than the idle limit: the host says nothing meanwhile.
#[tokio::test]
async fn a_slow_upload_outlasts_the_idle_limit() {
    let dir = tempfile::tempdir().unwrap();
    let timeouts = Timeouts {
        idle: Duration::from_secs(2),
        ..Timeouts::default()
    };
    let host = start_host_with(&dir.path().join("host"), 1 << 30, timeouts).await;
    let rate = 1 << 20;
    let size = (timeouts.idle.as_secs() as usize + 3) * rate;
    let sent = make_file(dir.path(), "slow.bin", size, 12);
    let proxy = slow_proxy(SocketAddr::from(([127, 0, 0, 1], host.port)), rate).await;
    let peer = Peer {
        addrs: vec![proxy],
        timeouts,
        ..peer(&host, "Bob")
    };
    let (progress, _) = watch::channel(0);
    let hashes = hashes(&sent);
    let limit = DEADLINE;
    let uploaded = tokio::time::timeout(
        limit,
        transfer::upload(&peer, &sent, &hashes, &progress, &CancellationToken::new()),
    )
    .await
    .expect("the upload ends");
    let (file, _) = uploaded.expect("a slow but steady upload succeeds");
    assert_eq!(file.size as usize, size);
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn a_file_larger_than_the_room_keeps_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1_000_000).await;
    let big = make_file(dir.path(), "big.bin", 1_500_000, 13);
    let refused = upload(&host, &big).await;
    assert!(
        matches!(&refused, Err(TransferError::Refused(why)) if why.to_string().contains("at most 1.0 MB")),
        "{refused:?}"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn an_empty_file_must_hash_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let offer = FileOffer {
        name: "empty.txt".into(),
        size: 0,
        hash: FileHash::from_bytes(blake3::hash(b"not empty").as_bytes()),
        piece_len: PieceHashes::piece_len_for(0),
        cvs: Vec::new(),
    };
    let mut conn = Client::connect(addr(&host), &identity("Raw")).await;
    let upload = Upload {
        share: None,
        room: room(),
        offer,
    };
    conn.send(Frame::Upload(upload)).await.unwrap();
    let answer = tokio::time::timeout(DEADLINE, conn.next()).await.unwrap();
    assert!(
        matches!(
            &answer,
            Some(Ok(Frame::Refused(Refusal {
                code: RefuseCode::BadOffer,
                ..
            })))
        ),
        "{answer:?}"
    );
    assert!(history(&host).await.is_empty());
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn the_same_content_shared_under_another_name_is_saved_under_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let first = make_file(dir.path(), "draft.pdf", 400_000, 14);
    let second = dir.path().join("report.pdf");
    std::fs::copy(&first, &second).unwrap();
    upload(&host, &first).await.unwrap();
    let (file, _) = upload(&host, &second).await.unwrap();
    assert_eq!(file.name, "report.pdf");
    let saved = download(&host, &file, &dir.path().join("downloads"))
        .await
        .unwrap();
    assert_eq!(saved.file_name().unwrap(), "report.pdf");
    same_content(&first, &saved);
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A chat member that waits for the next file posted to the room.
async fn member(host: &RoomHost) -> Client {
    join(host, "Eve").await.0
}

async fn next_file(conn: &mut Client) -> FileRef {
    loop {
        let frame = tokio::time::timeout(DEADLINE, conn.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Frame::Message(ChatMessage {
            file: Some(file), ..
        }) = frame
        {
            return file;
        }
    }
}

#[tokio::test]
async fn a_download_follows_an_upload_still_on_its_way() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let mut cat = member(&host).await;
    let sent = make_file(dir.path(), "live.bin", 3 << 20, 15);
    // The sender's link is slow: the file takes about three seconds to arrive.
    let link = slow_proxy(SocketAddr::from(([127, 0, 0, 1], host.port)), 1 << 20).await;
    let bob = Peer {
        addrs: vec![link],
        ..peer(&host, "Bob")
    };
    let (path, h) = (sent.clone(), hashes(&sent));
    let uploading = tokio::spawn(async move {
        let (progress, _) = watch::channel(0);
        transfer::upload(&bob, &path, &h, &progress, &CancellationToken::new()).await
    });

    // The file is in the room as soon as it starts coming, and can be followed in.
    let file = next_file(&mut cat).await;
    let (progress, mut seen) = watch::channel(0);
    let downloads = dir.path().join("downloads");
    let (cat_peer, f, d) = (peer(&host, "Cat"), file.clone(), downloads.clone());
    let following = tokio::spawn(async move {
        transfer::download(&cat_peer, &f, &d, &progress, &CancellationToken::new()).await
    });
    tokio::time::timeout(DEADLINE, seen.wait_for(|&done| done > 0))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !uploading.is_finished(),
        "part of the file arrived before the upload ended"
    );
    uploading.await.unwrap().unwrap();
    let saved = following.await.unwrap().unwrap();
    same_content(&sent, &saved);
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn a_senders_cancel_reaches_those_following_the_file() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("lanchat=debug")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let mut cat = member(&host).await;
    // Far bigger than what socket buffers hold, so a cancel comes before the end.
    let sent = make_file(dir.path(), "stopped.bin", 40 << 20, 16);
    let link = slow_proxy(SocketAddr::from(([127, 0, 0, 1], host.port)), 4 << 20).await;
    let bob = Peer {
        addrs: vec![link],
        ..peer(&host, "Bob")
    };
    let cancel = CancellationToken::new();
    let (path, h, c) = (sent.clone(), hashes(&sent), cancel.clone());
    let uploading = tokio::spawn(async move {
        let (progress, _) = watch::channel(0);
        transfer::upload(&bob, &path, &h, &progress, &c).await
    });
    let file = next_file(&mut cat).await;
    let (progress, mut seen) = watch::channel(0);
    let downloads = dir.path().join("downloads");
    let (cat_peer, f, d) = (peer(&host, "Cat"), file.clone(), downloads.clone());
    let following = tokio::spawn(async move {
        transfer::download(&cat_peer, &f, &d, &progress, &CancellationToken::new()).await
    });
    let started = tokio::time::timeout(DEADLINE, seen.wait_for(|&done| done > 0))
        .await
        .unwrap()
        .is_ok();
    if !started {
        panic!("the download ended first: {:?}", following.await);
    }
    cancel.cancel();
    assert!(matches!(
        uploading.await.unwrap(),
        Err(TransferError::Cancelled)
    ));
    let stopped = tokio::time::timeout(DEADLINE, following)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            &stopped,
            Err(TransferError::Stopped(CancelCode::SenderStopped))
        ),
        "{stopped:?}"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Files are for members: a device that has not joined can neither upload, nor download a
/// kept file, nor re-post one the host already keeps; a member re-posting a kept file posts
/// it under its own key and name.
#[tokio::test]
async fn file_connections_are_for_members_only() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let sent = make_file(dir.path(), "kept.bin", 300_000, 17);
    let (file, _) = upload(&host, &sent).await.unwrap();
    let hashes = hashes(&sent);
    let (progress, _) = watch::channel(0);
    let never = CancellationToken::new();

    // Mallory never joined.
    let mallory = peer(&host, "Mallory");
    let refused = transfer::upload(&mallory, &sent, &hashes, &progress, &never).await;
    assert!(
        matches!(&refused, Err(TransferError::Later(why)) if why.to_string().contains("join the room")),
        "{refused:?}"
    );
    let downloads = dir.path().join("mallory");
    let refused = transfer::download(&mallory, &file, &downloads, &progress, &never).await;
    assert!(
        matches!(&refused, Err(TransferError::Later(_))),
        "{refused:?}"
    );
    assert!(!downloads.join("kept.bin").exists());
    assert_eq!(
        history(&host)
            .await
            .iter()
            .filter(|m| m.file.is_some())
            .count(),
        1,
        "nothing was posted for her"
    );

    // Cat, a member, re-posts the kept file without sending it: it is hers now.
    let (_, id) = transfer::upload(&peer(&host, "Cat"), &sent, &hashes, &progress, &never)
        .await
        .unwrap();
    let late = history(&host).await;
    let repost = late.iter().find(|m| m.id == id).unwrap();
    assert_eq!(repost.from, "Cat");
    assert_eq!(repost.device, identity("Cat").device());
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Someone who can write to the downloads folder plants a link where the hidden partial file
/// of a download will be, or in place of the hidden folder itself: the download goes ahead,
/// and nothing outside the folder changes.
#[cfg(unix)]
#[tokio::test]
async fn a_link_planted_where_a_partial_file_goes_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let sent = make_file(dir.path(), "doc.bin", 700_000, 18);
    let (file, _) = upload(&host, &sent).await.unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let precious = outside.join("precious.txt");
    for plant in ["symlink", "hard link"] {
        std::fs::write(&precious, b"keep me").unwrap();
        let downloads = dir.path().join(format!("downloads {plant}"));
        std::fs::create_dir(&downloads).unwrap();
        let partial = lanchat::files::disk::partial_path(&downloads, &file.hash);
        std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
        match plant {
            "symlink" => std::os::unix::fs::symlink(&precious, &partial).unwrap(),
            _ => std::fs::hard_link(&precious, &partial).unwrap(),
        }
        let saved = download(&host, &file, &downloads).await.unwrap();
        same_content(&sent, &saved);
        assert_eq!(std::fs::read(&precious).unwrap(), b"keep me", "{plant}");
        assert!(saved.starts_with(&downloads));
    }
    // The hidden folder replaced by a link to a folder elsewhere.
    let downloads = dir.path().join("downloads folder link");
    std::fs::create_dir(&downloads).unwrap();
    let partial = lanchat::files::disk::partial_path(&downloads, &file.hash);
    std::os::unix::fs::symlink(&outside, partial.parent().unwrap()).unwrap();
    let saved = download(&host, &file, &downloads).await.unwrap();
    same_content(&sent, &saved);
    let mut elsewhere: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    elsewhere.sort();
    assert_eq!(
        elsewhere,
        ["precious.txt"],
        "nothing was written in the folder the link named"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// An upload that trickles in (a member holding a transfer place with a byte now and then)
/// is dropped, and its place freed.
#[tokio::test]
async fn a_trickling_upload_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let timeouts = Timeouts {
        idle: Duration::from_secs(1),
        ..Timeouts::default()
    };
    let host = start_host_with(&dir.path().join("host"), 1 << 30, timeouts).await;
    let content = std::fs::read(make_file(dir.path(), "t.bin", 300_000, 19)).unwrap();
    let hashes = PieceHashes::compute(&content[..], content.len() as u64).unwrap();
    let offer = FileOffer {
        name: "t.bin".into(),
        size: content.len() as u64,
        hash: FileHash::from_bytes(&hashes.root()),
        piece_len: hashes.piece_len(),
        cvs: hashes.cvs().concat(),
    };
    let mut conn = Client::connect(addr(&host), &identity("Raw")).await;
    conn.send(Frame::Upload(Upload {
        share: None,
        room: room(),
        offer,
    }))
    .await
    .unwrap();
    let Some(Ok(Frame::UploadFrom { offset: 0 })) = conn.next().await else {
        panic!("no upload_from")
    };
    let started = std::time::Instant::now();
    for (i, byte) in content.iter().enumerate().take(20) {
        let data = Frame::Data {
            offset: i as u64,
            bytes: vec![*byte].into(),
        };
        if conn.send(data).await.is_err() {
            break;
        }
        // Each byte well within the idle limit, so only the pace gives it away.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let answer = tokio::time::timeout(DEADLINE, async {
        loop {
            match conn.next().await {
                Some(Ok(Frame::Cancel { code })) => return Some(code),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .unwrap();
    assert!(answer == Some(CancelCode::TooSlow), "{answer:?}");
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Re-posting a file the host keeps costs no data, but it is a post like any other: a member
/// re-posting under name after name is stopped with the room's reason.
#[tokio::test]
async fn re_posting_a_kept_file_counts_against_the_posting_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(&dir.path().join("host"), 1 << 30).await;
    let first = make_file(dir.path(), "copy 0.bin", 20_000, 20);
    upload(&host, &first).await.unwrap();
    let (mut posted, mut refused) = (0, 0);
    for i in 1..60 {
        let copy = dir.path().join(format!("copy {i}.bin"));
        std::fs::copy(&first, &copy).unwrap();
        match upload(&host, &copy).await {
            Ok(_) => posted += 1,
            Err(TransferError::Stopped(CancelCode::TooFast)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused > 0, "posted {posted} copies without a limit");
    assert!(posted >= 25, "the burst allowance was honoured ({posted})");
    host.close(CloseCode::Closed, DEADLINE).await;
}
