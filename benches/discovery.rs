//! Discovery benchmark: how fast rooms are seen, measured with the real binary in network
//! namespaces, so on Linux only (see `discovery/linux.rs` for what it measures and how).

#[cfg(target_os = "linux")]
#[path = "discovery/linux.rs"]
mod linux;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("discovery: SKIPPED: the discovery figures need Linux network namespaces");
}
