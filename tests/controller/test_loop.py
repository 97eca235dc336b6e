"""What aborts a running transition."""
from __future__ import annotations

from corral.cluster import keys

from .test_joining import store_with


def test_only_changes_the_transition_was_not_planned_with_abort_it(controller):
    """A late watch event of a change the plan already saw, or the fail count of one of the
    transition's own actions (the executor blocks its dependents), does not abort; anything
    else under the abort prefixes does."""
    store = store_with()
    c = controller(store)
    c._planned_revision = 100
    own = keys.attr("n1", keys.fail_count_attr("web", "start", 0))
    c._own_failure_keys = {own}
    c._on_change(keys.attr("n1", "standby"), "on", 99, False)
    assert not c.abort.is_set()
    c._on_change(own, "1", 101, False)
    assert not c.abort.is_set() and c.dirty.is_set()  # still planned again afterwards
    c._on_change(keys.attr("n2", keys.fail_count_attr("db", "monitor", 10000)), "1", 102, False)
    assert c.abort.is_set()
