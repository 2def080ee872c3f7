//! A reconcile of everything split into shards, each an ordinary invocation on the
//! function's own SQS queue (`SHARDED_RECONCILE`, or `{"reconcile": "all", "sharded":
//! true}`): for a fleet whose reconcile outgrows one invocation's memory or 15 minutes.
//!
//! A run is a set of parts:
//! - one per account and region (`place/<account>/<region>/<prefix>`): the tagged instances
//!   there whose id starts (after `i-`) with the prefix, first the empty prefix. A part
//!   with more than `SHARD_SIZE` instances splits into 16, one more hex digit each, instead
//!   of reconciling them: the split depends only on the part, so a retried part splits the
//!   same way.
//! - one per segment of the lock table (`locks/<segment>/<of>`, DynamoDB's parallel scan):
//!   the owners its items name (holders, members, waiters, owner-index entries, hosts). These
//!   find what no tag names any more: a terminated instance that left EC2, a host whose
//!   lease ran out.
//!
//! Every part is a reconcile of its owners (`Scope::Owners`), under the same locks and
//! markers as any event: parts are independent, and a part retried or run twice changes
//! nothing more. Each reads Route53 for its names (the drift repair), by name or by
//! listing only the zones those names live in. A locks part takes only the owners no place
//! lists (tagged instances are their place's), and decides by name the items that name no
//! owner (a released name whose removal is unfinished).
//!
//! The run's item in the lock table (`run#<id>`) lists the parts sent, split and finished,
//! and adds up their counts; the part whose record completes the run logs the run's one
//! summary line. Records whose lock is gone altogether (a rebuilt table) are found only by
//! an unsharded reconcile of everything, which lists whole zones.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::lock::Loaded;
use crate::model::{Home, InstanceId, Owner};
use crate::report::Report;

/// Most parts a run starts with: one per place and one per lock-table segment; a part
/// splits into 16 at most 15 times (17 hex digits).
pub const MAX_PARTS: usize = 2_000;
/// Hex digits an instance id has after `i-` at most: a part of a longer prefix cannot split.
const ID_DIGITS: usize = 17;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// One shard of a run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The tagged instances of `home` whose id, after `i-`, starts with `prefix`.
    Place { home: Home, prefix: String },
    /// Segment `segment` of `of` of the lock table.
    Locks { segment: u32, of: u32 },
}

impl Part {
    /// Its id in messages and in the run's item.
    pub fn id(&self) -> String {
        match self {
            Part::Place { home, prefix } => {
                format!("place/{}/{}/{prefix}", home.account(), home.region())
            }
            Part::Locks { segment, of } => format!("locks/{segment}/{of}"),
        }
    }

    pub fn parse(id: &str) -> Result<Part, String> {
        let bad = |why: &str| format!("{id:?} is not a shard ({why})");
        match id.split('/').collect::<Vec<_>>().as_slice() {
            ["place", account, region, prefix] => {
                let home = Home::new(account, region).map_err(|e| bad(&e))?;
                let hex = prefix.bytes().all(|b| HEX.contains(&b));
                if !hex || prefix.len() > ID_DIGITS {
                    return Err(bad("the prefix must be at most 17 lowercase hex digits"));
                }
                Ok(Part::Place {
                    home,
                    prefix: prefix.to_string(),
                })
            }
            ["locks", segment, of] => {
                let segment: u32 = segment.parse().map_err(|_| bad("segment"))?;
                let of: u32 = of.parse().map_err(|_| bad("segments"))?;
                if of == 0 || segment >= of || of as usize > MAX_PARTS {
                    return Err(bad("the segment must be below the number of segments"));
                }
                Ok(Part::Locks { segment, of })
            }
            _ => Err(bad(
                "expected place/ACCOUNT/REGION/PREFIX or locks/SEGMENT/OF",
            )),
        }
    }

    /// Whether an instance of this part's place belongs to it.
    pub fn covers(&self, id: &InstanceId) -> bool {
        match self {
            Part::Place { prefix, .. } => id
                .as_str()
                .strip_prefix("i-")
                .is_some_and(|hex| hex.starts_with(prefix.as_str())),
            Part::Locks { .. } => false,
        }
    }

    /// The parts a place part of these instances splits into: 16, one more hex digit each,
    /// after the digits every one of `ids` shares beyond the prefix (EC2's ids of today
    /// all start `i-0`: splitting there would give 15 empty parts, each listing the place).
    /// `None` for a lock segment, or a prefix as long as an id.
    pub fn split_among<'a>(&self, ids: impl Iterator<Item = &'a InstanceId>) -> Option<Vec<Part>> {
        let Part::Place { home, prefix } = self else {
            return None;
        };
        let mut shared: Option<&str> = None;
        for id in ids {
            let hex = id.as_str().strip_prefix("i-").unwrap_or_default();
            shared = Some(match shared {
                None => hex,
                Some(s) => {
                    let n = s
                        .bytes()
                        .zip(hex.bytes())
                        .take_while(|(a, b)| a == b)
                        .count();
                    &s[..n]
                }
            });
        }
        let common = shared
            .filter(|s| s.starts_with(prefix.as_str()))
            .map_or(prefix.as_str(), |s| &s[..s.len().min(ID_DIGITS - 1)]);
        Part::Place {
            home: home.clone(),
            prefix: common.to_string(),
        }
        .split()
    }

    /// The 16 parts a place part splits into (one more hex digit); `None` for a lock
    /// segment, or a prefix as long as an id.
    pub fn split(&self) -> Option<Vec<Part>> {
        match self {
            Part::Place { home, prefix } if prefix.len() < ID_DIGITS => Some(
                HEX.iter()
                    .map(|d| Part::Place {
                        home: home.clone(),
                        prefix: format!("{prefix}{}", *d as char),
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// The parts a run starts with: every managed place whole, and the lock table in segments
/// of about `size` items (`items`: the table's approximate item count, `None` when unknown).
pub fn plan(homes: &[Home], items: Option<u64>, size: usize) -> Vec<Part> {
    let room = MAX_PARTS.saturating_sub(homes.len()).max(1) as u64;
    let segments = items
        .unwrap_or(0)
        .div_ceil(size.max(1) as u64)
        .clamp(1, room) as u32;
    homes
        .iter()
        .map(|h| Part::Place {
            home: h.clone(),
            prefix: String::new(),
        })
        .chain((0..segments).map(|segment| Part::Locks {
            segment,
            of: segments,
        }))
        .collect()
}

/// The owners a segment of the lock table names: holders, members and waiters of its
/// locks, owners with an owner-index item, and its hosts (of the deployment at `home`).
pub fn owners_named(loaded: &Loaded, home: &Home) -> BTreeSet<Owner> {
    let mut owners: BTreeSet<Owner> = BTreeSet::new();
    for lock in &loaded.locks {
        owners.extend(lock.participants().into_iter().cloned());
        owners.extend(lock.waiting.iter().cloned());
    }
    owners.extend(loaded.index.keys().cloned());
    owners.extend(loaded.hosts.iter().map(|h| Owner::Host {
        home: home.clone(),
        name: h.name.clone(),
    }));
    owners
}

/// What a shard message asks: one part of run `run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub run: String,
    pub part: String,
    #[serde(default)]
    pub dry_run: bool,
}

impl Task {
    /// The SQS message body: `{"shard": {"run": …, "part": …, "dry_run": …}}`.
    pub fn body(&self) -> String {
        json!({ "shard": self }).to_string()
    }

    /// A message body's task, when it is one (`None`: not a shard message).
    pub fn from_body(body: &Value) -> Option<Result<Task, String>> {
        let map = body.as_object()?;
        let shard = map.get("shard")?;
        if map.len() != 1 {
            return Some(Err(
                "a shard message has exactly one field, \"shard\"".into()
            ));
        }
        Some(
            serde_json::from_value::<Task>(shard.clone())
                .map_err(|e| format!("not a shard message: {e}"))
                .and_then(|t| {
                    valid_run_id(&t.run)?;
                    Part::parse(&t.part)?;
                    Ok(t)
                }),
        )
    }

    pub fn part(&self) -> Result<Part, String> {
        Part::parse(&self.part)
    }
}

/// A run id: what `ec2-dns-ctl status --run` takes (letters, digits, `-`, at most 80).
pub fn valid_run_id(id: &str) -> Result<(), String> {
    let ok =
        (1..=80).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{id:?} is not a run id (letters, digits and '-', at most 80)"
        )),
    }
}

/// What a run's parts added up to so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Owners the parts looked at (an owner of two parts counts twice).
    pub owners: u64,
    pub changes: u64,
    pub conflicts: u64,
    pub skipped: u64,
    pub frozen: u64,
    pub failed: u64,
}

impl Counts {
    pub fn of(report: &Report, owners: usize) -> Counts {
        Counts {
            owners: owners as u64,
            changes: report.changes.len() as u64,
            conflicts: report.conflicts.len() as u64,
            skipped: report.skipped.len() as u64,
            frozen: report.frozen.len() as u64,
            failed: report.failed.len() as u64,
        }
    }

    /// `(attribute, value)` pairs, as the run's item stores them.
    pub fn fields(&self) -> [(&'static str, u64); 6] {
        [
            ("owners", self.owners),
            ("changes", self.changes),
            ("conflicts", self.conflicts),
            ("skipped", self.skipped),
            ("frozen", self.frozen),
            ("failed", self.failed),
        ]
    }

    /// The counts of `fields` (missing ones are 0).
    pub fn from_fields(get: impl Fn(&str) -> Option<u64>) -> Counts {
        Counts {
            owners: get("owners").unwrap_or(0),
            changes: get("changes").unwrap_or(0),
            conflicts: get("conflicts").unwrap_or(0),
            skipped: get("skipped").unwrap_or(0),
            frozen: get("frozen").unwrap_or(0),
            failed: get("failed").unwrap_or(0),
        }
    }
}

/// One part's result, recorded once in the run's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartDone {
    pub part: String,
    /// `false`: an attempt that will be retried; only its note is recorded.
    pub finished: bool,
    pub counts: Counts,
    /// What an operator should know of it (its failures and where its rows were logged).
    pub note: Option<String>,
}

/// A run as its item in the lock table has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Run {
    pub id: String,
    /// When it was started (epoch seconds, the function's clock).
    pub started: i64,
    /// `schedule` or `manual`.
    pub trigger: String,
    pub dry_run: bool,
    /// Every part sent, those added by splits included.
    pub parts: BTreeSet<String>,
    /// Parts that reconciled their owners (recorded once each).
    pub finished: BTreeSet<String>,
    /// Parts that split instead (their 16 parts are in `parts`).
    pub split: BTreeSet<String>,
    pub counts: Counts,
    /// Per part, what an operator should know of it.
    pub notes: BTreeMap<String, String>,
}

impl Run {
    /// Parts sent that neither finished nor split: still queued, running, being retried,
    /// or (after the queue's receive limit) in the dead-letter queue.
    pub fn pending(&self) -> Vec<&String> {
        self.parts
            .iter()
            .filter(|p| !self.finished.contains(*p) && !self.split.contains(*p))
            .collect()
    }

    pub fn complete(&self) -> bool {
        self.pending().is_empty()
    }

    /// The run's one summary line's fields, and the answer of `status --run`.
    pub fn summary(&self) -> Value {
        json!({
            "run": self.id,
            "started": self.started,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "complete": self.complete(),
            "shards": self.parts.len() - self.split.len(),
            "finished": self.finished.len(),
            "pending": self.pending(),
            "counts": self.counts,
            "notes": self.notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Home {
        Home::new("123456789012", "eu-west-1").unwrap()
    }

    #[test]
    fn a_part_reads_back_from_its_id() {
        for part in [
            Part::Place {
                home: home(),
                prefix: String::new(),
            },
            Part::Place {
                home: home(),
                prefix: "0af".into(),
            },
            Part::Locks { segment: 3, of: 8 },
        ] {
            assert_eq!(Part::parse(&part.id()).unwrap(), part);
        }
        for bad in [
            "place/123/eu-west-1/",
            "place/123456789012/eu-west-1/G",
            "place/123456789012/eu-west-1/0123456789abcdef01",
            "locks/8/8",
            "locks/0/0",
            "locks/x/2",
            "zone/Z1",
        ] {
            assert!(Part::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn a_split_covers_every_id_of_its_part_exactly_once() {
        let part = Part::Place {
            home: home(),
            prefix: "a".into(),
        };
        let children = part.split().unwrap();
        assert_eq!(children.len(), 16);
        for raw in [
            "i-a0123456789abcdef",
            "i-af000000",
            "i-a",
            "i-b0123456789abcdef",
        ] {
            let Ok(id) = InstanceId::parse(raw) else {
                continue;
            };
            let n = children.iter().filter(|c| c.covers(&id)).count();
            assert_eq!(n, usize::from(part.covers(&id)), "{raw}");
        }
        let last = Part::Place {
            home: home(),
            prefix: "0".repeat(17),
        };
        assert_eq!(last.split(), None);
        assert_eq!(Part::Locks { segment: 0, of: 1 }.split(), None);
    }

    #[test]
    fn a_split_skips_the_digits_every_instance_shares() {
        let part = Part::Place {
            home: home(),
            prefix: String::new(),
        };
        let ids: Vec<InstanceId> = ["i-0a1000000000000ff", "i-0a2000000000000ff", "i-0a2f"]
            .iter()
            .filter_map(|r| InstanceId::parse(r).ok())
            .collect();
        assert_eq!(ids.len(), 2);
        let children = part.split_among(ids.iter()).unwrap();
        assert_eq!(children[0].id(), "place/123456789012/eu-west-1/0a0");
        assert!(ids
            .iter()
            .all(|id| children.iter().filter(|c| c.covers(id)).count() == 1));
        // Without instances (or sharing nothing), one more digit of its own prefix.
        assert_eq!(
            part.split_among([].iter()).unwrap()[3].id(),
            "place/123456789012/eu-west-1/3"
        );
        let one = [InstanceId::parse("i-0a1000000000000ff").unwrap()];
        assert_eq!(
            part.split_among(one.iter()).unwrap()[0].id(),
            "place/123456789012/eu-west-1/0a1000000000000f0"
        );
    }

    #[test]
    fn a_plan_has_every_place_and_segments_of_the_table_by_size() {
        let other = Home::new("210987654321", "us-east-1").unwrap();
        let homes = [home(), other];
        let ids = |p: Vec<Part>| p.iter().map(Part::id).collect::<Vec<_>>();
        assert_eq!(
            ids(plan(&homes, None, 2000)),
            [
                "place/123456789012/eu-west-1/",
                "place/210987654321/us-east-1/",
                "locks/0/1"
            ]
        );
        let parts = plan(&homes, Some(4001), 2000);
        assert_eq!(parts.len(), 2 + 3);
        assert!(parts.contains(&Part::Locks { segment: 2, of: 3 }));
        assert_eq!(plan(&homes, Some(u64::MAX), 1).len(), MAX_PARTS);
    }

    #[test]
    fn a_task_body_reads_back_and_bad_ones_say_why() {
        let task = Task {
            run: "r-1".into(),
            part: "locks/0/1".into(),
            dry_run: true,
        };
        let body: Value = serde_json::from_str(&task.body()).unwrap();
        assert_eq!(Task::from_body(&body), Some(Ok(task)));
        assert_eq!(Task::from_body(&json!({"detail-type": "x"})), None);
        for (bad, says) in [
            (
                json!({"shard": {"run": "r", "part": "locks/1/1"}}),
                "segment",
            ),
            (
                json!({"shard": {"run": "r/1", "part": "locks/0/1"}}),
                "run id",
            ),
            (
                json!({"shard": {"run": "r", "part": "locks/0/1", "x": 1}}),
                "unknown field",
            ),
            (
                json!({"shard": {"run": "r", "part": "locks/0/1"}, "y": 2}),
                "exactly one",
            ),
        ] {
            let e = Task::from_body(&bad).unwrap().unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn a_run_is_complete_when_every_part_finished_or_split() {
        let mut run = Run {
            parts: ["a", "b", "a0"].map(String::from).into(),
            ..Run::default()
        };
        run.split.insert("a".into());
        run.finished.insert("b".into());
        assert_eq!(run.pending(), ["a0"]);
        assert!(!run.complete());
        run.finished.insert("a0".into());
        assert!(run.complete());
        assert_eq!(run.summary()["shards"], 2);
    }
}
