//! A room's advert both ways: a room we host into an mDNS service with its TXT record, and a
//! resolved service back into a [`RoomAd`] (or why it is not one).

use super::{RoomAd, SERVICE_TYPE};
use crate::protocol::{MAX_MEMBERS, RoomId, check_name};
use mdns_sd::{ResolvedService, ScopedIp, ServiceInfo};
use std::net::{SocketAddr, SocketAddrV6};

/// A room we publish.
#[derive(Debug, Clone)]
/// Its fields are those of [`RoomAd`], with the port the room listens on.
pub struct Advert {
    pub id: RoomId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub members: u32,
    pub locked: bool,
    /// The fingerprint of this device's key.
    pub fingerprint: String,
}

pub(super) fn service_info(ad: &Advert) -> Result<ServiceInfo, mdns_sd::Error> {
    // The instance name is for other DNS-SD browsers' eyes; ours read the TXT. The id suffix
    // keeps two rooms with one name apart, so name conflicts never arise. It is lower case:
    // mdns-sd keeps its services under their lower-cased names but looks one up by its name
    // as given when it sends an announcement's second copy, so a name with a capital letter
    // is announced once only (a browser that missed that one copy may never get the TXT).
    let mut instance = String::new();
    let lower = ad.name.to_lowercase();
    for c in lower.chars().filter(|c| !c.is_control() && *c != '.') {
        if instance.len() + c.len_utf8() > 40 {
            break;
        }
        instance.push(c);
    }
    let instance = format!("{instance} [{}]", ad.id);
    let hostname = format!("lanchat-{}.local.", ad.id);
    let members = ad.members.to_string();
    let props = [
        ("id", ad.id.as_str()),
        ("name", ad.name.as_str()),
        ("host", ad.host.as_str()),
        ("v", &crate::protocol::PROTOCOL_VERSION.to_string()),
        ("n", members.as_str()),
        ("lock", if ad.locked { "1" } else { "0" }),
        ("fp", ad.fingerprint.as_str()),
    ];
    let info = ServiceInfo::new(SERVICE_TYPE, &instance, &hostname, (), ad.port, &props[..])?;
    Ok(info.enable_addr_auto())
}

/// Why a resolved advert is not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadAd {
    /// It came without its TXT record: mDNS resolves an advert from an answer that left the
    /// TXT out (a responder may leave out what it sent within the last second). Asked for again.
    NoTxt,
    /// Its TXT is not a lanchat room's: a missing, oversized or malformed field.
    Malformed,
}

/// Parses a resolved advert.
pub(super) fn parse_ad(svc: &ResolvedService) -> Result<RoomAd, BadAd> {
    // Every lanchat advert has properties; none at all is a TXT that has not arrived.
    if svc.get_properties().is_empty() {
        return Err(BadAd::NoTxt);
    }
    fields(svc).ok_or(BadAd::Malformed)
}

/// The room an advert's TXT, port and addresses describe; `None` for anything malformed.
fn fields(svc: &ResolvedService) -> Option<RoomAd> {
    let txt = |key: &str| svc.get_property_val_str(key);
    let id = RoomId::parse(txt("id")?)?;
    let name = txt("name")?.to_owned();
    let host = txt("host")?.to_owned();
    check_name("room name", &name).ok()?;
    check_name("host name", &host).ok()?;
    let protocol: u16 = txt("v")?.parse().ok()?;
    let members: u32 = txt("n")?
        .parse()
        .ok()
        .filter(|&n| n as usize <= MAX_MEMBERS)?;
    let locked = match txt("lock")? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let fingerprint = match txt("fp") {
        None => None,
        Some(fp) if is_fingerprint(fp) => Some(fp.to_owned()),
        Some(_) => return None,
    };
    if svc.get_port() == 0 {
        return None;
    }
    let mut addrs: Vec<SocketAddr> = svc
        .get_addresses()
        .iter()
        .map(|ip| socket_addr(ip, svc.get_port()))
        .collect();
    addrs.sort();
    Some(RoomAd {
        id,
        name,
        host,
        members,
        locked,
        protocol,
        addrs,
        fingerprint,
    })
}

/// Whether an advert's `fp` has the shape of a fingerprint (`XXXX-XXXX-XXXX-XXXX`).
fn is_fingerprint(fp: &str) -> bool {
    fp.len() == 19
        && fp.bytes().enumerate().all(|(i, b)| {
            if i % 5 == 4 {
                b == b'-'
            } else {
                b.is_ascii_digit() || b.is_ascii_uppercase()
            }
        })
}

/// A socket address for a resolved IP, with the interface scope for link-local IPv6.
fn socket_addr(ip: &ScopedIp, port: u16) -> SocketAddr {
    match ip {
        ScopedIp::V6(v6) => {
            let scope = if v6.addr().is_unicast_link_local() {
                v6.scope_id().index
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(*v6.addr(), port, 0, scope))
        }
        other => SocketAddr::new(other.to_ip_addr(), port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adverts_round_trip_through_txt_and_bad_txt_is_ignored() {
        let advert = Advert {
            id: RoomId::parse("abc123").unwrap(),
            name: "Ada's room".into(),
            host: "Ada".into(),
            port: 4242,
            members: 3,
            locked: true,
            fingerprint: "K7QF-M2XA-PL9D-3RTW".into(),
        };
        let info = service_info(&advert).unwrap();
        let mut svc = info.as_resolved_service();
        let parsed = parse_ad(&svc).unwrap();
        assert_eq!(
            (parsed.name.as_str(), parsed.members, parsed.locked),
            ("Ada's room", 3, true)
        );
        assert_eq!(parsed.protocol, crate::protocol::PROTOCOL_VERSION);
        assert_eq!(parsed.fingerprint.as_deref(), Some("K7QF-M2XA-PL9D-3RTW"));

        use mdns_sd::IntoTxtProperties;
        let absurd = [
            ("id", "abc123"),
            ("name", "x"),
            ("host", "y"),
            ("v", "1"),
            ("n", "9999999"),
            ("lock", "0"),
        ];
        svc.txt_properties = (&absurd[..]).into_txt_properties();
        assert_eq!(parse_ad(&svc), Err(BadAd::Malformed), "absurd member count");
        svc.txt_properties = mdns_sd::TxtProperties::new();
        assert_eq!(parse_ad(&svc), Err(BadAd::NoTxt), "no TXT at all");
    }

    #[test]
    fn a_room_name_with_capitals_is_published_under_a_lower_case_instance() {
        // mdns-sd sends an announcement's second copy only for names already in lower case.
        let advert = Advert {
            id: RoomId::parse("abc123").unwrap(),
            name: "Büro LAB".into(),
            host: "Ada".into(),
            port: 4242,
            members: 1,
            locked: false,
            fingerprint: "K7QF-M2XA-PL9D-3RTW".into(),
        };
        let info = service_info(&advert).unwrap();
        assert_eq!(info.get_fullname(), info.get_fullname().to_lowercase());
        assert!(info.get_fullname().starts_with("büro lab [abc123]"));
        let parsed = parse_ad(&info.as_resolved_service()).unwrap();
        assert_eq!(parsed.name, "Büro LAB", "the TXT keeps the name as written");
    }
}
