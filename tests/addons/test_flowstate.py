"""flowstate: the one per-flow side table, freed with its flow."""

from __future__ import annotations

import gc
import weakref

from mitmproxy.test import tflow

from warden.addons.evidence import SentBody
from warden.addons.flowstate import state, state_of
from warden.addons.uploads import uploaded_files


def test_nothing_is_made_for_a_flow_no_stage_kept_anything_about() -> None:
    flow = tflow.tflow()
    assert state_of(flow) is None and uploaded_files(flow) is None


def test_a_flows_state_is_its_own_and_goes_with_the_flow() -> None:
    one, other = tflow.tflow(), tflow.tflow()
    state(one).files = ({"kind": "pdf"},)
    state(one).evidence_request = SentBody(b"secret prompt", "application/json", None)
    assert uploaded_files(one) == ({"kind": "pdf"},) and uploaded_files(other) is None
    kept = weakref.ref(state(one))
    del one
    gc.collect()
    assert kept() is None  # the held request bytes go with the flow: nothing to clean up
