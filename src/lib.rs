//! lanchat: chat with the people on your local network. Rooms are found with mDNS/DNS-SD;
//! members talk to a room's host over TCP in length-prefixed MessagePack frames, encrypted
//! with Noise between devices that prove their keys.
//!
//! # Layout
//! - [`protocol`]: every frame and its payloads (`frame`; files' in [`protocol::files`], the
//!   device key in [`protocol::keys`]), the ids, their limits and the checks every frame
//!   passes (`limits`, `validate`), the version and refusal codes (`version`), the other codes
//!   that say why (`reasons`: rejected, closing, try later, cancel) and the codec; the
//!   protocol spec is its doc. It imports nothing else from the crate, and carries codes,
//!   never sentences.
//! - [`bridge`]: the two message types between a front end and the runtime; the words each
//!   code is said in, for every front end ([`bridge::words`]).
//! - [`runtime`]: the tokio side; routes commands to hosts and sessions, passes what the
//!   sessions report on to the front end (`reports`), saves received files by itself as the
//!   settings say (`auto_save`), shuts down in bounded time.
//! - [`discovery`]: the only module that touches mDNS: adverts in, room found / lost out
//!   (`interfaces` chosen and skipped, `advert` TXT both ways, `rooms` the list, `browse` the
//!   task that keeps it true, `mdns` what it asks of mdns-sd).
//! - [`net`]: everything on the network but discovery: the one connection seam ([`net::link`]:
//!   the link and its deadlines, `dial` racing a room's addresses, `handshake` the version
//!   check and Noise, `record` the encrypted codec), device keys
//!   ([`net::identity`]), pinned host keys ([`net::trust`]), password rooms
//!   ([`net::password`]), the host's limits ([`net::limits`]), a room's host ([`net::host`]:
//!   `accept` routes each connection by its first frame, `room/` is the room task — joins,
//!   what members say, pages of history —, `member` one member's connection) and a member's
//!   session ([`net::session`]: `rejoin` the loop that joins, waits and rejoins with its
//!   retry policy, `join` the greeting up to the welcome, `connected` a joined spell,
//!   `outbox` posts until answered, `history`, `directs`, `who` a probe of an address; it
//!   tells the runtime what happens through a `report::Report`, its `state` how it stands).
//!   `net` never imports `files`, nor anything above it.
//! - [`files`]: the file feature in one place: the host's side ([`files::serve`], a service
//!   registered with the room's host), a member's side ([`files::fetch`]), piece hashes,
//!   transfers' retries ([`files::jobs`], telling how they stand through a
//!   [`files::Reporter`] the runtime makes), the host's kept files, where downloads are
//!   saved and how names are cleaned.
//! - [`store`]: paths, settings, and the profile's database ([`store::Database`], in
//!   `store/database/`: the handle, the writer threads with their group commits, the
//!   schema, opening and salvaging the file) with the hosted rooms' histories in it, and
//!   searching them ([`store::search`]).
//! - [`units`]: sizes and durations in words, for any layer.
//! - [`desktop`]: handing files to the system (open, show in folder), image thumbnails, and
//!   desktop notifications (`notify`, with the types the window fills in).
//! - [`app`]: the window: state that applies events (no egui, `app/state/`: rooms, chats,
//!   history, unread, directs, files, preferences, search) and one file per view; the open
//!   room's view is a folder ([`app::chat`]: the message list, one message, the header and
//!   member list, the composer), and so are the dialogs ([`app::dialogs`]: one file per
//!   dialog). Each frame's input passes [`app::clipboard`] (Ctrl+C/X/V, files pasted) and
//!   [`app::keys`] (keys kept in order across a change of focus) before egui sees it.
//! - [`headless`]: the same runtime with JSON lines on stdout instead of a window (`commands`,
//!   `join`, `json` lines, stdin `input`, and `saving`: the downloads `join` waits for).
//! - [`instance`]: one running lanchat per profile (its data folder's lock), and bringing the
//!   running window forward when lanchat is started again.
//!
//! One chat message travels one way: the composer returns text, the app sends
//! [`bridge::Command::Send`], the runtime hands it to the room's session, which writes a
//! `Post` frame on its encrypted link; the host's `member` task hands it to the room task
//! (`net/host/room/said.rs`), which spends the sender's allowance, has the database's
//! writer thread commit it, then fans a `Message` frame out to every member (encoded once,
//! encrypted per member) and, once the commit is synced to the disk, acknowledges it to its
//! sender. Each
//! member's session reports the message to its runtime, which turns it into
//! [`bridge::Event::Message`] (starting its file's download if it saves itself) and wakes the
//! window.

pub mod app;
pub mod bridge;
pub mod desktop;
pub mod discovery;
pub mod files;
pub mod headless;
pub mod instance;
pub mod net;
pub mod protocol;
pub mod runtime;
pub mod store;
pub mod units;
