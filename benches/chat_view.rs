//! Chat view frame-time benchmark: the time to build one frame of lanchat's window with an
//! open room of 0, 1,000 and 100,000 messages (varied lengths, some multi-line, some ours).
//!
//! Run it with `cargo bench --bench chat_view` (`-- --frames 600` for longer runs, `-- --all-day`
//! for the ten-room part alone). No timing
//! is asserted; the goal is under 16 ms per frame at 100,000 messages.
//!
//! The real `lanchat::app::LanchatApp` is built the way the window builds it (a bridge whose
//! runtime half is kept but never run, state from `AppState::new`), the room is filled by
//! applying `Event::Hosting`, `Event::Joined` and one `Event::Message` per message, and then
//! each scenario times frame after frame:
//! - idle: at the bottom, nothing happens;
//! - arriving: at the bottom, one new message arrives (through the bridge) before each frame;
//! - wheel: the mouse wheel scrolls up 50 points each frame (smoothed by egui, as for a user);
//! - fling: the wheel scrolls up 2,000 points each frame, so most rows drawn are new;
//! - resize: the window is one point narrower or wider each frame, as while a user drags its
//!   edge (the list's wrap width changes every frame).
//!
//! Two ways of running a frame are timed, in the same run:
//! - `kittest`: `egui_kittest::Harness::step()`, as the UI tests run it; this includes building
//!   and diffing the AccessKit tree every frame, which a real window only does while a screen
//!   reader is active;
//! - `bare`: `egui::Context::run_ui` with the app's `ui` plus `Context::tessellate`, the CPU part
//!   of a real frame short of uploading and painting on the GPU, without AccessKit.
//!
//! Then a window kept open all day: ten rooms joined with 10,000 messages each — the frame
//! time in one of them and while switching rooms every frame (Ctrl+Tab), and what the
//! messages add to this process's memory — and how soon an idle window, and one showing
//! "… is typing", ask to be drawn again (an idle window must not draw at all).
//!
//! The first frame after opening the room (when the view estimates every row's height) is
//! reported apart from the scenarios. After the table come two checks of what is on screen
//! (from the AccessKit tree, where each message's text starts with `#number`): whether a new
//! message at the bottom shows in the frame that takes it in, and where the list is after a
//! resize.

use eframe::App;
use egui::{Event, MouseWheelUnit, Pos2, Rect, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::NodeT;
use lanchat::app::LanchatApp;
use lanchat::app::state::AppState;
use lanchat::bridge::{self, Backend, Event as BridgeEvent};
use lanchat::protocol::{ChatMessage, DeviceId, Member, RoomId};
use lanchat::store::Settings;
use std::time::{Duration, Instant};

const SIZE: Vec2 = Vec2::new(980.0, 640.0);
/// Over the message list: right of the 250-point room panel, left of the members panel.
const OVER_LIST: Pos2 = Pos2::new(540.0, 300.0);
const SENDERS: [&str; 6] = ["Ada", "Bob", "Chidi", "Dagny", "Eun-ji", "Farouk"];
const WORDS: [&str; 16] = [
    "the", "room", "is", "open", "lunch", "deploy", "tomorrow", "meeting", "coffee", "build",
    "failed", "again", "network", "printer", "fixed", "anyone",
];

/// A small deterministic generator, so every run draws the same room.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn words(rng: &mut Rng, chars: usize) -> String {
    let mut s = String::new();
    while s.len() < chars {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s
}

/// A message text: mostly short lines, some paragraphs, some multi-line, a few long ones.
/// Each starts with `#i ` so the bench can tell which messages are on screen.
fn text(rng: &mut Rng, i: usize) -> String {
    let body = match rng.below(100) {
        0..=64 => {
            let len = 5 + rng.below(55) as usize;
            words(rng, len)
        }
        65..=86 => {
            let len = 60 + rng.below(300) as usize;
            words(rng, len)
        }
        87..=97 => {
            let lines = 2 + rng.below(5);
            (0..lines)
                .map(|_| {
                    let len = 5 + rng.below(70) as usize;
                    words(rng, len)
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => {
            let len = 1000 + rng.below(3000) as usize;
            words(rng, len)
        }
    };
    format!("#{i} {body}")
}

struct Room {
    id: RoomId,
    me: DeviceId,
    others: Vec<DeviceId>,
    rng: Rng,
    next: usize,
    now_ms: i64,
}

impl Room {
    fn message(&mut self, i: usize) -> ChatMessage {
        let who = self.rng.below(SENDERS.len() as u64) as usize;
        let device = if who == 0 {
            self.me.clone()
        } else {
            self.others[who].clone()
        };
        ChatMessage {
            id: i as u64,
            // Spread over the last few days, so both "14:05" and "3 Mar 14:05" are drawn.
            ts: self.now_ms - (self.next.saturating_sub(i) as i64) * 7_000,
            from: SENDERS[who].to_owned(),
            device,
            text: text(&mut self.rng, i),
            file: None,
        }
    }
}

/// The app's state with one open, hosted room holding `n` messages.
fn filled_state(n: usize) -> (AppState, Room) {
    let settings = Settings {
        name: Some("Ada".into()),
        ..Default::default()
    };
    let me = lanchat::net::identity::Identity::generate();
    let mut state = AppState::new(&settings, me.device(), None);
    let mut room = Room {
        id: RoomId::random(),
        me: me.device(),
        others: (0..SENDERS.len())
            .map(|_| lanchat::net::identity::Identity::generate().device())
            .collect(),
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        next: n,
        now_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    };
    state.apply(BridgeEvent::Hosting {
        room: room.id.clone(),
        name: "Bench room".into(),
        port: 40000,
        locked: false,
    });
    let members = (0..SENDERS.len())
        .map(|i| Member {
            id: i as u32 + 1,
            name: SENDERS[i].into(),
            device: if i == 0 {
                room.me.clone()
            } else {
                room.others[i].clone()
            },
            host: i == 0,
            away: false,
            key: None,
        })
        .collect();
    state.apply(BridgeEvent::Joined {
        room: room.id.clone(),
        room_name: "Bench room".into(),
        host_name: "Ada".into(),
        you: 1,
        members,
        history: 0,
        host_key: me.public(),
    });
    state.apply(BridgeEvent::Session {
        room: room.id.clone(),
        state: bridge::SessionState::Connected,
    });
    for i in 0..n {
        let message = room.message(i);
        state.apply(BridgeEvent::Message {
            live: true,
            room: room.id.clone(),
            message,
        });
    }
    (state, room)
}

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    Idle,
    Arriving,
    Wheel,
    Fling,
    Resize,
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Scenario::Idle,
        Scenario::Arriving,
        Scenario::Wheel,
        Scenario::Fling,
        Scenario::Resize,
    ];
    fn name(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Arriving => "arriving",
            Scenario::Wheel => "wheel",
            Scenario::Fling => "fling",
            Scenario::Resize => "resize",
        }
    }
    /// The window size for frame `k`: the resize scenario narrows and widens the window one
    /// point per frame, as a user dragging its edge.
    fn size(self, k: usize) -> Vec2 {
        match self {
            Scenario::Resize => Vec2::new(SIZE.x - (k % 100).abs_diff(50) as f32, SIZE.y),
            _ => SIZE,
        }
    }

    /// The input for one frame, if any.
    fn input(self) -> Option<Event> {
        let wheel = |dy: f32| Event::MouseWheel {
            unit: MouseWheelUnit::Point,
            delta: Vec2::new(0.0, dy),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::NONE,
        };
        match self {
            Scenario::Idle | Scenario::Arriving | Scenario::Resize => None,
            Scenario::Wheel => Some(wheel(50.0)),
            Scenario::Fling => Some(wheel(2000.0)),
        }
    }
}

struct Stats {
    first: Duration,
    /// Observations printed after the table.
    notes: Vec<String>,
    /// Per scenario: frame times, and what was on screen at the end.
    runs: Vec<(Scenario, Vec<Duration>, String)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Lists the range of message numbers (`#i`) visible in the kittest tree.
fn visible(harness: &Harness<'_, LanchatApp>) -> String {
    let mut ids: Vec<usize> = harness
        .root()
        .children_recursive()
        .filter_map(|n| {
            // A label's text is its AccessKit value.
            let text = n.accesskit_node().value()?;
            text.strip_prefix('#')?.split(' ').next()?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    match (ids.first(), ids.last()) {
        (Some(a), Some(b)) => format!("#{a}..#{b}"),
        _ => "none".into(),
    }
}

/// At the bottom, one more message arrives: is it on screen after the frame that took it in,
/// and if not, did that frame ask for another (a real window draws nothing more until asked)?
fn newest_check(harness: &mut Harness<'_, LanchatApp>, back: &Backend, room: &mut Room) -> String {
    let repaint_delay = |h: &Harness<'_, LanchatApp>| {
        h.output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map(|v| v.repaint_delay)
    };
    // Let everything settle first, as an idle window would.
    for _ in 0..30 {
        harness.step();
    }
    let idle = repaint_delay(harness);
    // Control: an event that changes nothing; does the waker's wake-up alone show as a
    // repaint request in the frame's output?
    back.events
        .send(BridgeEvent::Network(harness.state().state.network.clone()));
    harness.step();
    let control = repaint_delay(harness);
    // The message is applied to the state directly, without the waker: so the frame's
    // repaint request is the view's own.
    let i = room.next;
    room.next += 1;
    let message = room.message(i);
    harness.state_mut().state.apply(BridgeEvent::Message {
        live: true,
        room: room.id.clone(),
        message,
    });
    harness.step();
    let on_screen = |h: &Harness<'_, LanchatApp>| visible(h).ends_with(&format!("#{i}"));
    let first = on_screen(harness);
    let repaint = repaint_delay(harness);
    let asked = repaint.is_some_and(|d| d < Duration::from_secs(1));
    let woken = control.is_some_and(|d| d < Duration::from_secs(1));
    let _ = idle;
    harness.step();
    let second = on_screen(harness);
    format!(
        "a new message at the bottom is on screen in the frame that takes it in: {}; \
         that frame asks for another: {}; on screen one frame later: {}; \
         (a bridge wake-up alone gets one more frame from egui: {})",
        yes(first),
        yes(asked),
        yes(second),
        yes(woken)
    )
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn run_kittest(n: usize, frames: usize) -> Stats {
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    let mut first = Duration::ZERO;
    for scenario in Scenario::ALL {
        let (state, mut room) = filled_state(n);
        let (front, back): (_, Backend) = bridge::channel();
        let started = Instant::now();
        let mut harness = Harness::builder()
            .with_size(SIZE)
            .build_eframe(|cc| LanchatApp::new(&cc.egui_ctx, front, state));
        if scenario == Scenario::Idle {
            first = started.elapsed();
        }
        harness.hover_at(OVER_LIST);
        // Settle: measured row heights replace estimates, the view sticks to the bottom.
        for _ in 0..10 {
            harness.step();
        }
        let mut times = Vec::with_capacity(frames);
        for k in 0..frames {
            if scenario == Scenario::Arriving {
                let i = room.next;
                room.next += 1;
                let message = room.message(i);
                back.events.send(BridgeEvent::Message {
                    live: true,
                    room: room.id.clone(),
                    message,
                });
            }
            if let Some(event) = scenario.input() {
                harness.event(event);
            }
            if scenario == Scenario::Resize {
                harness.set_size(scenario.size(k));
            }
            let t = Instant::now();
            harness.step();
            times.push(t.elapsed());
        }
        let shown = visible(&harness);
        if scenario == Scenario::Resize && n > 0 {
            for _ in 0..30 {
                harness.step();
            }
            notes.push(format!(
                "{n:>6} messages: after resizing, then 30 still frames, the list shows {} (the newest is #{})",
                visible(&harness),
                n - 1
            ));
        }
        if scenario == Scenario::Arriving {
            let check = newest_check(&mut harness, &back, &mut room);
            notes.push(format!("{n:>6} messages: {check}"));
        }

        runs.push((scenario, times, shown));
        drop(harness);
        drop(back);
    }
    Stats { first, notes, runs }
}

fn run_bare(n: usize, frames: usize) -> Stats {
    let mut runs = Vec::new();
    let mut first = Duration::ZERO;
    for scenario in Scenario::ALL {
        let (state, mut room) = filled_state(n);
        let (front, back): (_, Backend) = bridge::channel();
        let ctx = egui::Context::default();
        let mut app = LanchatApp::new(&ctx, front, state);
        let mut frame = eframe::Frame::_new_kittest();
        let mut time = 0.0;
        let mut step = |app: &mut LanchatApp, events: Vec<Event>, size: Vec2| {
            time += 1.0 / 60.0;
            let input = egui::RawInput {
                screen_rect: Some(Rect::from_min_size(Pos2::ZERO, size)),
                time: Some(time),
                predicted_dt: 1.0 / 60.0,
                events,
                ..Default::default()
            };
            let t = Instant::now();
            let out = ctx.run_ui(input, |ui| app.ui(ui, &mut frame));
            let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
            let took = t.elapsed();
            std::hint::black_box(prims);
            took
        };
        let took = step(&mut app, vec![Event::PointerMoved(OVER_LIST)], SIZE);
        if scenario == Scenario::Idle {
            first = took;
        }
        for _ in 0..10 {
            step(&mut app, Vec::new(), SIZE);
        }
        let mut times = Vec::with_capacity(frames);
        for k in 0..frames {
            if scenario == Scenario::Arriving {
                let i = room.next;
                room.next += 1;
                let message = room.message(i);
                back.events.send(BridgeEvent::Message {
                    live: true,
                    room: room.id.clone(),
                    message,
                });
            }
            let events = scenario.input().into_iter().collect();
            times.push(step(&mut app, events, scenario.size(k)));
        }
        runs.push((scenario, times, String::new()));
        drop(back);
    }
    Stats {
        first,
        notes: Vec::new(),
        runs,
    }
}

/// This process's resident memory, in MB (Linux; 0 elsewhere).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / 1e6)
}

/// Ten rooms of 10,000 messages each, switched through; and the repaint requests of an idle
/// window and of one showing someone typing.
fn all_day(frames: usize) {
    const ROOMS: usize = 10;
    const EACH: usize = 10_000;
    let before = rss_mb();
    let t = Instant::now();
    let (mut state, first_room) = filled_state(EACH);
    let mut rooms = vec![first_room];
    for _ in 1..ROOMS {
        let (other, mut room) = filled_state(0);
        let chat = other.chats[&room.id].clone();
        state.chats.rooms.insert(room.id.clone(), chat);
        for i in 0..EACH {
            let message = room.message(i);
            state.apply(BridgeEvent::Message {
                live: true,
                room: room.id.clone(),
                message,
            });
        }
        rooms.push(room);
    }
    let filled = t.elapsed();
    let after = rss_mb();
    let (front, back): (_, Backend) = bridge::channel();
    let mut harness = Harness::builder()
        .with_size(SIZE)
        .build_eframe(|cc| LanchatApp::new(&cc.egui_ctx, front, state));
    for _ in 0..10 {
        harness.step();
    }
    let time = |harness: &mut Harness<'_, LanchatApp>, switch: bool| {
        let mut times = Vec::with_capacity(frames);
        for _ in 0..frames {
            if switch {
                harness.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::Tab);
            }
            let t = Instant::now();
            harness.step();
            times.push(t.elapsed());
        }
        times.sort_unstable();
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99)),
            ms(pct(&times, 1.0))
        )
    };
    let idle = time(&mut harness, false);
    let switching = time(&mut harness, true);
    let drawn = rss_mb();
    println!(
        "{ROOMS} rooms x {EACH} messages (kittest): filled in {:.0} ms; in one room, idle: {idle}; \
         switching rooms every frame: {switching}",
        ms(filled)
    );
    println!(
        "memory of this process: {before:.0} MB before, {after:.0} MB with the messages in the \
         state (+{:.0} MB), {drawn:.0} MB after drawing every room",
        after - before
    );

    // How soon the window asks to be drawn again, with nothing happening and with a member
    // typing (said once: it shows until it runs out).
    let delay = |h: &Harness<'_, LanchatApp>| {
        h.output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map(|v| v.repaint_delay)
            .unwrap_or(Duration::MAX)
    };
    for _ in 0..30 {
        harness.step();
    }
    let quiet = delay(&harness);
    let open = harness.state().state.open.clone().expect("a room is open");
    harness.state_mut().state.apply(BridgeEvent::Typing {
        room: open,
        member: 2,
    });
    harness.step();
    harness.step();
    let typing = delay(&harness);
    println!(
        "an idle window asks to be drawn again in {:.0} s (when its user would count as away); \
         showing someone typing, in {:.1} s (when that runs out): no frame in between",
        quiet.as_secs_f64(),
        typing.as_secs_f64()
    );
    drop(back);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let frames: usize = args
        .iter()
        .position(|a| a == "--frames")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);
    if args.iter().any(|a| a == "--all-day") {
        return all_day(frames);
    }
    println!(
        "chat_view: window {}x{} points, {frames} timed frames per scenario after 10 settling frames",
        SIZE.x, SIZE.y
    );
    let t = Instant::now();
    let (state, _) = filled_state(100_000);
    println!(
        "(filling AppState with 100,000 Message events: {:.1} ms)",
        ms(t.elapsed())
    );
    drop(state);
    println!();
    println!(
        "{:>8} | {:<7} | {:<8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>11} | on screen at end",
        "messages", "runner", "scenario", "mean ms", "p50 ms", "p99 ms", "max ms", "first ms",
    );
    println!("{}", "-".repeat(110));
    let mut notes = Vec::new();
    for n in [0, 1_000, 100_000] {
        for (runner, stats) in [
            ("bare", run_bare(n, frames)),
            ("kittest", run_kittest(n, frames)),
        ] {
            notes.extend(stats.notes);
            for (scenario, mut times, shown) in stats.runs {
                let mean = times.iter().sum::<Duration>() / times.len() as u32;
                times.sort_unstable();
                println!(
                    "{:>8} | {:<7} | {:<8} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8.2} | {:>11} | {}",
                    n,
                    runner,
                    scenario.name(),
                    ms(mean),
                    ms(pct(&times, 0.5)),
                    ms(pct(&times, 0.99)),
                    ms(pct(&times, 1.0)),
                    if scenario == Scenario::Idle {
                        format!("{:.1}", ms(stats.first))
                    } else {
                        String::new()
                    },
                    shown
                );
            }
        }
    }
    println!();
    println!(
        "first ms: the frame that opens the room (kittest: Harness build, incl. its first frame)"
    );
    println!("goal: p99 under 16 ms at 100,000 messages");
    println!();
    for note in notes {
        println!("{note}");
    }
    println!();
    all_day(frames);
}
