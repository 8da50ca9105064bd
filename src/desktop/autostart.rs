//! "Start lanchat when I log in", through `auto-launch`: an XDG autostart entry on Linux and
//! the BSDs (`~/.config/autostart/lanchat.desktop`), a LaunchAgent on macOS
//! (`~/Library/LaunchAgents`), the current user's Run key in the registry on Windows (no
//! administrator needed). What starts is this very program, with no arguments: the window.

/// Starts lanchat at login (`on`), or no longer. Blocking (it writes a file or the
/// registry); the error is said in words.
pub fn set(on: bool) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find lanchat itself: {e}"))?;
    let exe = exe.to_string_lossy();
    let launch = auto_launch::AutoLaunchBuilder::new()
        .set_app_name("lanchat")
        .set_app_path(&exe)
        // macOS: a LaunchAgent works for an unsigned app; Windows: no administrator.
        .set_macos_launch_mode(auto_launch::MacOSLaunchMode::LaunchAgent)
        .set_windows_enable_mode(auto_launch::WindowsEnableMode::CurrentUser)
        .build()
        .map_err(|e| e.to_string())?;
    let done = match (on, launch.is_enabled().unwrap_or(!on)) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => launch.enable(),
        (false, true) => launch.disable(),
    };
    done.map_err(|e| format!("cannot change what starts at login: {e}"))
}
