# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_key_ids.py: one access key id rule for modules, the audit and the escrow."""

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _key_ids


@pytest.mark.parametrize("key_id", ["AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE", "AKIA0000000000000001"])
def test_well_formed(key_id):
    assert _key_ids.is_key_id(key_id)
    assert _key_ids.key_id_problem(key_id) is None
    assert _key_ids.mask_key_id(key_id) == key_id


@pytest.mark.parametrize("key_id", [
    "AKIA123",                  # too short
    "AKIAIOSFODNN7EXAMPLEX",    # too long
    "AIDAIOSFODNN7EXAMPLE",     # a user id, not a key id
    "AKIAiosfodnn7example",     # lower case
    # _iam used to accept any 16-128 of [A-Z0-9] (ids the escrow then refused); the one rule refuses them:
    "ABCDEFGHIJKLMNOP",
    "AKIA" + "A" * 60,
])
def test_malformed(key_id):
    assert not _key_ids.is_key_id(key_id)
    problem = _key_ids.key_id_problem(key_id)
    assert problem.startswith("the access key id is malformed") and key_id not in problem
    assert _key_ids.mask_key_id(key_id) in (key_id[:4] + "...", "...")


def test_empty_and_not_text():
    assert _key_ids.key_id_problem("") == "the access key id is empty"
    assert _key_ids.key_id_problem(None) == "the access key id is empty"
    assert _key_ids.mask_key_id(None) is None
    assert not _key_ids.is_key_id(None)


def test_every_user_shares_the_rule():
    from ansible_collections.keyops.aws.plugins.module_utils import _audit, _credentials_file
    from ansible_collections.keyops.aws.plugins.plugin_utils import _escrow
    for module in (_audit, _escrow):
        assert module.KEY_ID_RE is _key_ids.KEY_ID_RE
    assert _credentials_file.key_id_problem is _key_ids.key_id_problem
    pytest.importorskip("ansible_collections.amazon.aws.plugins.module_utils.retries")
    from ansible_collections.keyops.aws.plugins.module_utils import _durable_state, _iam, _rotation_state
    for module in (_iam, _rotation_state):
        assert module.KEY_ID_RE is _key_ids.KEY_ID_RE
    assert _durable_state.LOCAL_KEY_ID_RE is _key_ids.KEY_ID_RE
