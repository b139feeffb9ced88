//! [`Readiness`]: problems that make a running process not ready although NATS is up, reported
//! by the component that has them (a projection stopped at an event it cannot read, a cursor
//! that no longer matches its stream) and shown by `/readyz` until that component clears them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The process's open readiness problems, by component; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    problems: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Readiness {
    /// Records (or replaces) `component`'s problem: `/readyz` answers 503 with it.
    pub fn set(&self, component: &str, problem: impl Into<String>) {
        self.lock().insert(component.to_owned(), problem.into());
    }

    /// `component` has no problem any more.
    pub fn clear(&self, component: &str) {
        self.lock().remove(component);
    }

    /// Every open problem, by component.
    pub fn problems(&self) -> BTreeMap<String, String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.problems.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_shown_until_its_component_clears_it() {
        let r = Readiness::default();
        let seen_by_health = r.clone();
        r.set("projection VID", "stopped at 7");
        r.set("projection VID", "stopped at 8");
        r.set("other", "x");
        assert_eq!(seen_by_health.problems().get("projection VID").unwrap(), "stopped at 8");
        r.clear("projection VID");
        assert_eq!(seen_by_health.problems().len(), 1);
    }
}
