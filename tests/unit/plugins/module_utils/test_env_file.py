# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the env file editor behind keyops.aws.env_file_credentials."""

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _env_file
from ansible_collections.keyops.aws.plugins.module_utils._env_file import EnvFile, EnvFileError, plan, wanted_entries

OLD_ID = "AKIAOLDOLDOLDOLDOLD1"
OLD_SECRET = "OldSecret/" + "o" * 30
NEW_ID = "AKIANEWNEWNEWNEWNEW1"
NEW_SECRET = "NewSecret+" + "n" * 30
DB_PASSWORD = "hunter2 with spaces"

REALISTIC = (
    "# /etc/app/app.env - read by systemd (EnvironmentFile=) and docker --env-file\n"
    "\n"
    "; legacy comment style\n"
    "APP_NAME=\"billing service\"\n"
    "export AWS_ACCESS_KEY_ID=%s\n"
    "AWS_SECRET_ACCESS_KEY = '%s'\n"
    "AWS_ACCESS_KEY_ID_OLD=AKIALOOKALIKELOOKALI\n"
    "DB_PASSWORD=\"%s\"\n"
    "  # indented comment\n"
    "EMPTY=\n"
    "LAST=1"
) % (OLD_ID, OLD_SECRET, DB_PASSWORD)


def _entries(**extra):
    params = {"access_key_id": NEW_ID, "secret_access_key": NEW_SECRET}
    params.update(extra)
    return wanted_entries(params)


def test_only_the_two_values_change_quoting_and_missing_newline_kept():
    data = REALISTIC.encode()
    result = plan(data, {"mode": 0o100600, "uid": 0, "gid": 0}, _entries())
    expected = data.replace(OLD_ID.encode(), NEW_ID.encode()).replace(OLD_SECRET.encode(), NEW_SECRET.encode())
    assert result["new_data"] == expected
    assert b"AWS_SECRET_ACCESS_KEY = '%s'\n" % NEW_SECRET.encode() in result["new_data"]
    assert not result["new_data"].endswith(b"\n")
    assert result["entries"][0]["changed"] is True
    assert [a["action"] for a in result["actions"]] == ["update_entry"]


def test_unchanged_file_is_not_rewritten():
    data = REALISTIC.replace(OLD_ID, NEW_ID).replace(OLD_SECRET, NEW_SECRET).encode()
    result = plan(data, {"mode": 0o100600, "uid": 0, "gid": 0}, _entries())
    assert result["new_data"] is None and result["actions"] == []


def test_mode_is_fixed_without_rewrite():
    data = REALISTIC.replace(OLD_ID, NEW_ID).replace(OLD_SECRET, NEW_SECRET).encode()
    result = plan(data, {"mode": 0o100644, "uid": 0, "gid": 0}, _entries())
    assert result["new_data"] is None and [a["action"] for a in result["actions"]] == ["set_mode"]


def test_double_quotes_and_crlf_kept():
    data = b"AWS_ACCESS_KEY_ID=\"%s\"\r\nAWS_SECRET_ACCESS_KEY=\"%s\"\r\n" % (OLD_ID.encode(), OLD_SECRET.encode())
    result = plan(data, None, _entries())
    assert result["new_data"] == b"AWS_ACCESS_KEY_ID=\"%s\"\r\nAWS_SECRET_ACCESS_KEY=\"%s\"\r\n" % (NEW_ID.encode(), NEW_SECRET.encode())


def test_missing_variables_appended_keeping_missing_newline():
    result = plan(b"A=1", None, _entries())
    assert result["new_data"] == ("A=1\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s" % (NEW_ID, NEW_SECRET)).encode()
    result = plan(b"A=1\n", None, _entries())
    assert result["new_data"] == ("A=1\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (NEW_ID, NEW_SECRET)).encode()


def test_new_file():
    result = plan(None, None, _entries())
    assert result["new_data"] == ("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (NEW_ID, NEW_SECRET)).encode()
    assert result["actions"][0]["action"] == "create_file"


def test_look_alike_and_comment_not_touched():
    data = ("# AWS_ACCESS_KEY_ID=%s\nAWS_ACCESS_KEY_ID_OLD=%s\nXAWS_ACCESS_KEY_ID=%s\n" % (OLD_ID, OLD_ID, OLD_ID)).encode()
    result = plan(data, None, _entries())
    assert result["new_data"].startswith(data)
    assert EnvFile.parse(data).value("AWS_ACCESS_KEY_ID") is None


def test_several_entries_in_one_call():
    data = b"AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nB_ID=%s\nB_SECRET=%s\n" % (
        OLD_ID.encode(), OLD_SECRET.encode(), NEW_ID.encode(), NEW_SECRET.encode())
    entries = wanted_entries({"entries": [
        {"access_key_id": NEW_ID, "secret_access_key": NEW_SECRET},
        {"id_var": "B_ID", "secret_var": "B_SECRET", "access_key_id": NEW_ID, "secret_access_key": NEW_SECRET},
        {"id_var": "C_ID", "secret_var": "C_SECRET"},
    ]})
    result = plan(data, None, entries)
    assert [e["changed"] for e in result["entries"]] == [True, False, False]
    assert result["entries"][2]["access_key_id"] is None
    assert result["new_data"].count(NEW_ID.encode()) == 2


def test_read_only_entry():
    result = plan(REALISTIC.encode(), None, wanted_entries({}))
    assert result["new_data"] is None
    assert result["entries"][0]["access_key_id"] == OLD_ID and result["entries"][0]["has_secret"]


def test_duplicate_managed_variable_refused():
    data = b"AWS_ACCESS_KEY_ID=%s\nAWS_ACCESS_KEY_ID=%s\n" % (OLD_ID.encode(), OLD_ID.encode())
    with pytest.raises(EnvFileError, match=r"lines 1, 2"):
        plan(data, None, _entries())


@pytest.mark.parametrize("params, message", [
    ({"access_key_id": "akia", "secret_access_key": "x"}, "malformed"),
    ({"access_key_id": NEW_ID}, "secret_access_key is required"),
    ({"access_key_id": NEW_ID, "secret_access_key": "a b"}, "cannot have"),
    ({"id_var": "1BAD"}, "id_var"),
    ({"id_var": "SAME", "secret_var": "SAME"}, "must differ"),
])
def test_bad_input(params, message):
    with pytest.raises(EnvFileError, match=message) as info:
        wanted_entries(params)
    assert "a b" not in str(info.value)


def test_masked_diff_hides_every_secret():
    data = REALISTIC.encode()
    entries = _entries()
    result = plan(data, None, entries)
    diff = _env_file.masked_diff("/x", result, entries)
    text = diff["before"] + diff["after"]
    for secret in (OLD_SECRET, NEW_SECRET, DB_PASSWORD):
        assert secret not in text
    assert NEW_ID in diff["after"] and OLD_ID in diff["before"]
    assert "APP_NAME=\"billing service\"" in diff["after"]
    assert diff["before"].count("********(secret") == 2


def test_secret_looking_names():
    for name in ("DB_PASSWORD", "API_TOKEN", "STRIPE_KEY", "AWS_SECRET_ACCESS_KEY", "PRIVATE_KEY_PEM", "SMTP_PASS"):
        assert _env_file.is_secret_var(name, ("AWS_ACCESS_KEY_ID",)), name
    for name in ("AWS_ACCESS_KEY_ID", "APP_NAME", "REGION", "KEYBOARD"):
        assert not _env_file.is_secret_var(name, ("AWS_ACCESS_KEY_ID",)), name
