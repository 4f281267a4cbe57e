//! The common shape every compared library is driven through, and the registry of them.

pub mod automerge;
#[cfg(feature = "collab")]
pub mod collab;
pub mod dt;
pub mod jumprope;
pub mod yrs;

use crate::measure::{Factory, bench};
use crate::trace::Trace;

/// One library under test. Associated types keep the hot loops monomorphic,
/// so no dynamic dispatch is timed.
pub trait Subject {
    const NAME: &'static str;
    /// The document a local replay produces.
    type Doc;
    /// What a remote replica receives to catch up, built outside the timing.
    type Remote;
    /// A replica built by merging or loading; returned so dropping it is not timed.
    type Replica;

    fn replay(trace: &Trace) -> Result<Self::Doc, String>;
    fn text(doc: &mut Self::Doc) -> Result<String, String>;
    /// `None` when the library has no notion of replication (the plain rope).
    fn remote(doc: &mut Self::Doc) -> Result<Option<Self::Remote>, String>;
    fn merge(remote: Self::Remote) -> Result<(Self::Replica, String), String>;
    /// The full saved form, `None` when the library has none.
    fn save(doc: &mut Self::Doc) -> Result<Option<Vec<u8>>, String>;
    fn load(bytes: &[u8]) -> Result<(Self::Replica, String), String>;
    /// A library-specific remark printed under the table.
    fn note(_doc: &mut Self::Doc) -> Option<String> {
        None
    }
}

/// Every library, in table order; diamond-types first as the ratio baseline.
pub fn all() -> Vec<(&'static str, Factory)> {
    let mut libs: Vec<(&'static str, Factory)> = vec![
        (dt::Dt::NAME, bench::<dt::Dt>),
        (yrs::Yrs::NAME, bench::<yrs::Yrs>),
        (automerge::Automerge::NAME, bench::<automerge::Automerge>),
    ];
    #[cfg(feature = "collab")]
    libs.push((collab::Collab::NAME, bench::<collab::Collab>));
    libs.push((jumprope::Rope::NAME, bench::<jumprope::Rope>));
    libs
}

/// Whether the library is driven through concurrent histories here
/// (diamond-types at past versions, collab-crdt with the data set's recipe).
pub fn replays_histories(name: &str) -> bool {
    name == dt::Dt::NAME || name == "collab-crdt"
}

/// Maps the short names people type to the canonical ones.
pub fn canonical(name: &str) -> &str {
    match name {
        "dt" => dt::Dt::NAME,
        "am" => automerge::Automerge::NAME,
        "collab" | "ours" => "collab-crdt",
        "rope" => jumprope::Rope::NAME,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::all;
    use crate::measure::{Config, compare};
    use crate::trace::{Loaded, parse};

    /// Non-ASCII and astral chars catch any library counting bytes or
    /// UTF-16 units where the trace counts chars.
    #[test]
    fn every_library_reproduces_end_content() {
        let value = json!({
            "startContent": "",
            "endContent": "«heo 🎉🎉 wd!",
            "txns": [
                {"time": "", "patches": [[0, 0, "héllo 😀 wörld"], [6, 1, "🎉🎉"]]},
                {"time": "", "patches": [[10, 3, ""], [1, 1, "e"], [11, 0, "!"]]},
                {"time": "", "patches": [[0, 0, "«"], [3, 2, ""]]}
            ]
        });
        let Ok(Loaded::Sequential(trace)) = parse(&value) else {
            panic!("tiny trace did not parse");
        };
        let config = Config {
            iters: 2,
            slow_iters: 1,
        };
        let libs = all();
        let rows = compare(&trace, &libs, &config);
        assert_eq!(rows.len(), libs.len());
        for row in rows {
            assert!(row.ok, "{}: {:?}", row.library, row.problems);
            assert_eq!(row.runs, 2, "{}", row.library);
            let local = row.local.expect("timed");
            assert!(local.min <= local.median && local.median <= local.max);
            assert!(row.peak_mem.is_some(), "{}", row.library);
        }
    }

    /// The synthetic many-agent trace reaches the same text through
    /// diamond-types and collab-crdt: no two concurrent inserts share a left
    /// neighbour, so the CRDTs' different sibling orders cannot show.
    #[cfg(feature = "collab")]
    #[test]
    fn the_synthetic_trace_converges_in_both_libraries() {
        let trace = crate::synth::generate(4, 600, 7).expect("generates");
        let history = trace.history.as_ref().expect("concurrent");
        assert_eq!(
            history.txns.iter().map(|t| t.patches.len()).sum::<usize>(),
            600
        );
        assert!(
            history.txns.iter().any(|t| t.parents.len() > 1),
            "agents merge"
        );
        let libs: Vec<_> = all()
            .into_iter()
            .filter(|(n, _)| super::replays_histories(n))
            .collect();
        assert_eq!(libs.len(), 2);
        let config = Config {
            iters: 1,
            slow_iters: 1,
        };
        for row in compare(&trace, &libs, &config) {
            assert!(row.ok, "{}: {:?}", row.library, row.problems);
        }
    }
}
