//! Groups: one exported name whose series come from several families, one
//! per set of label names.
//!
//! Text 0.0.4 lets the series of one family carry different label names
//! (`requests_total{method="GET"}` beside `requests_total{route="/"}`), and
//! the `metrics` facade sends such keys: every call site picks its own
//! labels. A telemeter family has fixed label names (its lookups, label
//! map and rendered text rely on them), so a group keeps one family per
//! label-name set, its *members*, and is scraped as one family: one HELP
//! and TYPE header, then every member's series. Its HELP can be replaced
//! after registration (the facade's `describe_*` may come after the first
//! `register_*`).
//!
//! Members are only added, never removed (the group goes as a whole with
//! [`Registry::unregister`](crate::Registry::unregister)); a scrape reads
//! the published member list and header without a lock.
#![forbid(unsafe_code)]

use std::fmt;

use super::FamilyCore;
use crate::encode::layout::Variant;
use crate::sync::{lock, Arc, AtomicBool, Mutex, Published};

/// One exported name over several label-name sets (see the module docs).
#[cfg_attr(not(feature = "metrics-rs"), allow(dead_code))] // used by `facade` alone
pub(crate) struct Group {
    /// The exported name, as registered (the registry's prefix included).
    name: String,
    type_name: &'static str,
    /// The rendered HELP/TYPE header, replaced by [`Group::set_help`].
    header: Published<Variant>,
    /// Members in the order they were added; a scrape writes them so.
    members: Published<Vec<Arc<FamilyCore>>>,
    /// Serialises additions (and HELP changes), never a scrape.
    writing: Mutex<()>,
    /// Set by `Registry::unregister` under the registry's mutex: members
    /// added afterwards do not count toward its family limit.
    pub(crate) unregistered: AtomicBool,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .field("type", &self.type_name)
            .field("members", &self.members.load().len())
            .finish_non_exhaustive()
    }
}

#[cfg_attr(not(feature = "metrics-rs"), allow(dead_code))]
impl Group {
    pub(crate) fn new(name: &str, help: &str, type_name: &'static str) -> Group {
        Group {
            name: name.to_string(),
            type_name,
            header: Published::new(Variant::new(name, name, help, type_name)),
            members: Published::new(Vec::new()),
            writing: Mutex::new(()),
            unregistered: AtomicBool::new(false),
        }
    }

    /// The exported name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The metric type every member has.
    pub(crate) fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The header as a scrape writes it now.
    pub(crate) fn header(&self) -> Arc<Variant> {
        self.header.load()
    }

    /// Replaces the HELP text: scrapes that start afterwards write it.
    pub(crate) fn set_help(&self, help: &str) {
        let _w = lock(&self.writing);
        self.header
            .store(Variant::new(&self.name, &self.name, help, self.type_name));
    }

    /// The members, in the order they were added.
    pub(crate) fn members(&self) -> Arc<Vec<Arc<FamilyCore>>> {
        self.members.load()
    }

    /// Adds a member, built by `make` while additions are serialised:
    /// `find` is asked first, so two threads adding the same label names
    /// get one member.
    pub(crate) fn add<E>(
        &self,
        find: impl Fn(&FamilyCore) -> bool,
        make: impl FnOnce() -> Result<Arc<FamilyCore>, E>,
    ) -> Result<Arc<FamilyCore>, E> {
        let _w = lock(&self.writing);
        let now = self.members.load();
        if let Some(core) = now.iter().find(|c| find(c)) {
            return Ok(Arc::clone(core));
        }
        let core = make()?;
        let mut next = Vec::with_capacity(now.len() + 1);
        next.extend(now.iter().cloned());
        next.push(Arc::clone(&core));
        self.members.store(next);
        Ok(core)
    }
}
