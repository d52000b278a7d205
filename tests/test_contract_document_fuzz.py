"""Property-based: any valid contract document round-trips, and answers in its shape read back.

(Outside ``tests/client``: that directory also runs in a venv with the client alone, without Hypothesis.)
"""

from __future__ import annotations

import dataclasses
import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from amt_client.contract import FieldNames
from amt_client.contract_document import contract_document, load_contract

_NAME = st.from_regex(r"[A-Za-z_$@-][A-Za-z0-9_$@-]{0,12}", fullmatch=True)
_PATH = st.lists(_NAME, min_size=1, max_size=3).map(".".join)


@settings(max_examples=100, deadline=None)
@given(
    names=st.fixed_dictionaries({}, optional={f.name: _PATH for f in dataclasses.fields(FieldNames)}),
    envelope=st.none() | _PATH,
    transport=st.sampled_from(["header", "bearer", "cookie"]),
    lifetime=st.none() | st.floats(min_value=1, max_value=86_400),
)
def test_any_valid_document_round_trips_and_its_answers_read_back(names, envelope, transport, lifetime):
    document = {
        "version": 1,
        "fields": names,
        "answer_envelope": envelope,
        "token": {"transport": transport, "lifetime": lifetime},
    }
    contract = load_contract(document)
    assert load_contract(json.loads(json.dumps(contract_document(contract)))) == contract
    request_id, code = contract.fields.batch_request_id, contract.fields.completion_code
    assume(request_id != code and not request_id.startswith(code + ".") and not code.startswith(request_id + "."))
    status = contract.parse_status(contract.answer({request_id: 7, code: 2}), "MonitorJob 7", expected=7)
    assert (status.batch_request_id, int(status.code)) == (7, 2)
