# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_booleans.py: one boolean rule (ansible-core's) for modules, role variables and action plugins."""

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _booleans
from ansible_collections.keyops.aws.plugins.module_utils import _iam
from ansible_collections.keyops.aws.plugins.plugin_utils import _access_key_rotation_role as access_role
from ansible_collections.keyops.aws.plugins.plugin_utils import _key_pair_rotation_role as key_pair_role


@pytest.mark.parametrize("value", [True, 1, "yes", "YES", " true ", "on", "y", "t", "1"])
def test_true(value):
    assert _booleans.parse_bool(value) is True


@pytest.mark.parametrize("value", [False, 0, "no", "False", "off", "n", "f", "0"])
def test_false(value):
    assert _booleans.parse_bool(value) is False


@pytest.mark.parametrize("value", [None, 2, "", "maybe", [], {}, ["yes"]])
def test_refused_without_the_value_in_the_message(value):
    with pytest.raises(ValueError) as caught:
        _booleans.parse_bool(value)
    assert "maybe" not in str(caught.value)


@pytest.mark.parametrize("value, expected", [("on", True), ("off", False), (1, True), ("y", True)])
def test_every_caller_reads_the_same_rule(value, expected):
    assert _iam._bool(value, 0, "force") is expected
    assert access_role._bool(value, "access_key_rotation_force", "play") is expected
    assert key_pair_role._bool_var(value, "key_pair_rotation_force") is expected


@pytest.mark.parametrize("value", [2, "maybe", None])
def test_every_caller_refuses_naming_the_option(value):
    with pytest.raises(_iam.KeyopsIamError, match=r"users\[0\]\.force"):
        _iam._bool(value, 0, "force")
    with pytest.raises(access_role.RoleError, match="access_key_rotation_force"):
        access_role._bool(value, "access_key_rotation_force", "play")
    with pytest.raises(key_pair_role.RoleError, match="key_pair_rotation_force"):
        key_pair_role._bool_var(value, "key_pair_rotation_force")
