# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which results the secret-hiding action treats as carrying a secret."""

from ansible_collections.keyops.aws.plugins.plugin_utils._secret_result import contains_secret


def test_nested_secret_is_found():
    assert contains_secret({"users": [{"new_key": {"access_key_id": "AKIA", "secret_access_key": "s"}}]})
    assert contains_secret({"profiles": [{"session_token": "t"}]})


def test_empty_or_absent_secret_is_not_a_secret():
    assert not contains_secret({"users": [{"new_key": None}], "changed": False})
    assert not contains_secret({"secret_access_key": ""})
    assert not contains_secret({"has_secret_access_key": True})
