//! Everything on the network but discovery: the one seam every connection goes through
//! ([`link`]: dialling, accepting, the version check, the Noise handshake, deadlines and the
//! encrypted codec), the device identity it proves ([`identity`]) and the host keys members
//! pin ([`trust`]), the password exchange of locked rooms ([`password`]), the host's limits
//! on what one address or one member may take ([`limits`]), and the two sides of a room: its
//! host ([`host`], which other features such as files plug into as services) and a member's
//! session ([`session`]); and direct messages sealed between
//! two devices so that the host relaying them cannot read them ([`sealed`]).

pub mod host;
pub mod identity;
pub mod limits;
pub mod link;
pub mod password;
pub mod sealed;
pub mod session;
pub mod trust;
