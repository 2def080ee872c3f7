//! The design's invariants, proven on the fakes through the real reconciler. Each test
//! asserts the final state of Route53, the lock table and the status tags, not the calls
//! made (except where the calls are the point: costs, dry runs).

mod chunks;
mod config_changes;
mod costs;
mod critical_path;
mod deployments;
mod faults;
mod fencing;
mod fleets;
mod handler;
mod ipv6_events;
mod lifecycle;
mod memory;
mod no_dangling;
mod operator;
mod organisations;
mod ownership;
mod reverse;
mod route53_limits;
mod scale;
mod sharding;
mod shared;
mod slots;
mod threat_model;
mod time_fencing;
mod upgrade;

use crate::testing::World;

/// Writes the fakes saw since the last reset.
pub(crate) fn writes(w: &World) -> usize {
    w.faults.writes()
}

/// Hostile and malformed name tags: each is refused with a reason and an `invalid:` status
/// tag, and nothing is written to Route53 or the lock table.
pub(crate) const HOSTILE_TAGS: &[&str] = &[
    "*",
    "*.dyn.example.com",
    "*.web.dyn.example.com",
    "web*.dyn.example.com",
    "dyn.example.com",
    "example.com",
    "com",
    "evil.com",
    "dyn.example.com.evil.com",
    "web.dyn.example.com.evil.com",
    "xdyn.example.com",
    "web.xdyn.example.com",
    "web.dyn-example.com",
    "web.dynexample.com",
    "web.dyn.example.co",
    "203.0.113.7",
    "a..b.dyn.example.com",
    ".web.dyn.example.com",
    "web.dyn.example.com..",
    "..",
    "-web.dyn.example.com",
    "web-.dyn.example.com",
    "web.-.dyn.example.com",
    "_acme-challenge.dyn.example.com",
    "_ec2-dns.web.dyn.example.com",
    "we_b.dyn.example.com",
    "web dyn.dyn.example.com",
    "web\tx.dyn.example.com",
    "web\n.dyn.example.com",
    "web.dyn.example.com\r\nX-Injected: 1",
    "web\u{0}.dyn.example.com",
    "wéb.dyn.example.com",
    "w\u{435}b.dyn.example.com",
    "web.dyn.ex\u{430}mple.com",
    "web\u{200b}.dyn.example.com",
    "\u{202e}moc.elpmaxe.nyd.bew",
    "web.dyn.example.com;rm -rf /",
    "web.dyn.example.com' OR '1'='1",
    "<script>.dyn.example.com",
    "$(id).dyn.example.com",
    "`id`.dyn.example.com",
    "web.dyn.example.com/32",
    "web.dyn.example.com:80",
    "http://web.dyn.example.com",
    "web@dyn.example.com",
    "web%2edyn.example.com",
];
