//! A device's identity: the static X25519 key its links present in every Noise handshake.
//! The device id and the fingerprint people compare aloud both come from the public key, so
//! neither can be claimed without the private key behind it.
//!
//! The key is made at first start and kept in the data dir, readable by its owner only.

use crate::protocol::DeviceId;
pub use crate::protocol::keys::PublicKey;
use crate::protocol::keys::{hex, hex32};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// This device's key pair. Cheap to clone; the private half never leaves this module but
/// for the Noise handshake.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Keys>,
}

struct Keys {
    private: [u8; 32],
    public: PublicKey,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read or write the device key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Identity {
    /// A new random identity (for tests, and the first start).
    pub fn generate() -> Self {
        let mut private = [0u8; 32];
        rand::fill(&mut private);
        Self::from_private(private)
    }

    /// The identity whose private key is these bytes (as a key file holds them; tests make
    /// stable identities this way).
    pub fn from_secret(private: [u8; 32]) -> Self {
        Self::from_private(private)
    }

    fn from_private(private: [u8; 32]) -> Self {
        let public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(private).to_bytes();
        Self {
            inner: Arc::new(Keys {
                private,
                public: PublicKey::from_bytes(public),
            }),
        }
    }

    /// Reads the device key at `path`, or makes one there at first start (owner-only on
    /// Unix). A damaged key file is set aside and replaced, with a warning to show: the old
    /// identity is lost, and members of rooms this device hosts will be told its key changed.
    pub fn load_or_create(path: &Path) -> Result<(Identity, Option<String>), IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if let Some(private) = hex32(text.trim()) {
                    tighten_permissions(path).map_err(io)?;
                    return Ok((Self::from_private(private), None));
                }
                let aside = path.with_extension("key.broken");
                std::fs::rename(path, &aside).map_err(io)?;
                let identity = Self::generate();
                identity.save(path).map_err(io)?;
                let warning = format!(
                    "The device key {} was damaged and was replaced (the old file is {}). Rooms you host will show members a new key.",
                    path.display(),
                    aside.display()
                );
                Ok((identity, Some(warning)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let identity = Self::generate();
                identity.save(path).map_err(io)?;
                Ok((identity, None))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Writes the private key to a new owner-only file, durably.
    fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = owner_only_new(path)?;
        file.write_all(hex(&self.inner.private).as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    }

    /// The public half: what others see.
    pub fn public(&self) -> PublicKey {
        self.inner.public
    }

    /// This device's id, derived from its key.
    pub fn device(&self) -> DeviceId {
        self.inner.public.device()
    }

    /// This device's fingerprint, to compare aloud.
    pub fn fingerprint(&self) -> String {
        self.inner.public.fingerprint()
    }

    /// The private key, for the Noise handshake only.
    pub(crate) fn private(&self) -> &[u8; 32] {
        &self.inner.private
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.fingerprint())
    }
}

/// Creates a new file only its owner can read, failing if something (a file, a symlink) is
/// already there.
pub(crate) fn owner_only_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Replaces `path` with `bytes` in a file only its owner can read, all at once: written and
/// synced under a temporary name, then renamed over it, so a crash leaves the old file or
/// the new one, never none or half of one.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    tighten_permissions(&tmp)?; // a leftover from before may have looser rights
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Makes an existing secret file owner-only again, in case it was copied with looser rights.
pub(crate) fn tighten_permissions(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path; // the profile folder's own access rights protect it
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_kept_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("identity.key");
        let (made, warning) = Identity::load_or_create(&path).unwrap();
        assert!(warning.is_none());
        let (read, _) = Identity::load_or_create(&path).unwrap();
        assert_eq!(made.public(), read.public());
        assert_eq!(made.device(), read.device());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let fp = made.fingerprint();
        assert_eq!(fp.len(), 19, "{fp}");
        assert_ne!(Identity::generate().fingerprint(), fp);

        std::fs::write(&path, "not a key").unwrap();
        let (fresh, warning) = Identity::load_or_create(&path).unwrap();
        assert!(warning.unwrap().contains("damaged"));
        assert_ne!(fresh.public(), made.public());
    }

    #[test]
    fn the_public_key_is_the_one_noise_presents() {
        let identity = Identity::generate();
        let builder = snow::Builder::new(crate::net::link::NOISE_PARAMS.parse().unwrap());
        let keys = builder.generate_keypair().unwrap();
        let again = Identity::from_private(keys.private.as_slice().try_into().unwrap());
        assert_eq!(again.public().as_bytes().as_slice(), keys.public.as_slice());
        assert_ne!(identity.public(), again.public());
    }
}
