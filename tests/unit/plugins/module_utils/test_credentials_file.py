# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credentials file parser/editor keeps every byte it does not have to change; diffs mask secrets."""

import configparser

import pytest

from ansible_collections.keyops.aws.plugins.module_utils._credentials_file import (
    CONFIG,
    CredentialsFile,
    CredentialsFileError,
)
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import key_id_problem, mask_key_id
from ansible_collections.keyops.aws.plugins.module_utils._credentials_profile import (
    ProfileError,
    describe_profiles,
    masked_diff,
    parse_mode,
    plan,
)

KEY1 = "AKIAAAAAAAAAAAAAAAA1"
KEY2 = "AKIABBBBBBBBBBBBBBB2"
SECRET1 = "s1/" + "a" * 37
SECRET2 = "s2+" + "b" * 37
OTHER_SECRET = "oth" + "c" * 37

SAMPLE = (
    "# managed partly by hand\n"
    "[default]\n"
    "aws_access_key_id=%s\n"
    "aws_secret_access_key=%s\n"
    "\n"
    "; the production account\n"
    "[prod]\n"
    "aws_access_key_id = %s\n"
    "aws_secret_access_key = %s\n"
    "region: eu-west-1\n"
    "\n"
    "\n"
    "[tools]\n"
    "  output = json\n"
    "s3 =\n"
    "    max_concurrent_requests = 20\n"
    "    # a comment inside the block\n"
    "    addressing_style = path\n"
    "cli_pager=\n"
) % (KEY2, OTHER_SECRET, KEY1, SECRET1)


def edit(data, profile, values, file_type="credentials"):
    parsed = CredentialsFile.parse(data, file_type)
    parsed.set_profile(profile, values)
    return parsed.render()


def configparser_view(data):
    parser = configparser.RawConfigParser()
    parser.read_string(data.decode("utf-8"))
    return {section: dict(parser.items(section)) for section in parser.sections()}


@pytest.mark.parametrize("text", [
    SAMPLE,
    SAMPLE.replace("\n", "\r\n"),
    SAMPLE.rstrip("\n"),
    "\ufeff" + SAMPLE,
    "",
    "\n\n# only comments\n",
    "[x]",
    "[x]\r\nk=v",
])
def test_round_trip_is_byte_exact(text):
    data = text.encode("utf-8")
    assert CredentialsFile.parse(data).render() == data


def test_reads_like_configparser():
    parsed = CredentialsFile.parse(SAMPLE.encode())
    profiles = dict(parsed.profiles())
    assert profiles["prod"] == {"aws_access_key_id": KEY1, "aws_secret_access_key": SECRET1, "region": "eu-west-1"}
    assert profiles["tools"]["s3"] == {"max_concurrent_requests": "20", "addressing_style": "path"}
    assert profiles["tools"]["output"] == "json"
    assert profiles["tools"]["cli_pager"] == ""
    view = configparser_view(SAMPLE.encode())
    assert view["prod"] == profiles["prod"]


def test_update_changes_only_the_option_lines():
    after = edit(SAMPLE.encode(), "prod", {"aws_access_key_id": KEY2, "aws_secret_access_key": SECRET2})
    expected = SAMPLE.replace("aws_access_key_id = %s" % KEY1, "aws_access_key_id = %s" % KEY2).replace(SECRET1, SECRET2)
    assert after == expected.encode()


def test_update_keeps_crlf_and_missing_final_newline():
    data = SAMPLE.replace("\n", "\r\n").rstrip("\r\n").encode()
    after = edit(data, "tools", {"cli_pager": "less"})
    assert after == data[: -len("cli_pager=")] + b"cli_pager=less"
    added = edit(data, "tools", {"region": "us-east-2"})
    assert added == data + b"\r\n  region = us-east-2"
    new = edit(data, "new", {"aws_access_key_id": KEY1, "aws_secret_access_key": SECRET1})
    assert new == data + ("\r\n\r\n[new]\r\naws_access_key_id = %s\r\naws_secret_access_key = %s\r\n" % (KEY1, SECRET1)).encode()


def test_new_option_follows_the_section_style_and_goes_after_the_last_option():
    after = edit(SAMPLE.encode(), "default", {"region": "us-west-2"}).decode()
    assert "aws_secret_access_key=%s\nregion=us-west-2\n\n; the production" % OTHER_SECRET in after
    after = edit(SAMPLE.encode(), "tools", {"region": "us-west-2"}).decode()
    # after the nested block and the last option, indented like the section's first option
    assert after.endswith("cli_pager=\n  region = us-west-2\n")


def test_replacing_a_nested_block_and_removing_an_option():
    after = edit(SAMPLE.encode(), "tools", {"s3": {"addressing_style": "virtual"}, "cli_pager": None}).decode()
    assert "s3 =\n    addressing_style = virtual\n" in after
    assert "max_concurrent_requests" not in after and "cli_pager" not in after
    assert after.startswith(SAMPLE[: SAMPLE.index("[tools]")])
    assert dict(CredentialsFile.parse(after.encode()).profiles())["tools"]["s3"] == {"addressing_style": "virtual"}


def test_unchanged_values_change_nothing():
    parsed = CredentialsFile.parse(SAMPLE.encode())
    assert parsed.set_profile("prod", {"aws_access_key_id": KEY1, "aws_secret_access_key": SECRET1, "REGION": "eu-west-1"}) is False
    assert parsed.render() == SAMPLE.encode()


def test_new_profile_in_an_empty_file():
    assert edit(b"", "default", {"aws_access_key_id": KEY1, "aws_secret_access_key": SECRET1}) == (
        "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (KEY1, SECRET1)).encode()


def test_config_file_sections():
    data = b"[default]\nregion = us-east-1\n\n[profile prod]\nregion = eu-west-1\n[prod]\nx = 1\n"
    parsed = CredentialsFile.parse(data, CONFIG)
    assert [item[0] for item in parsed.profiles()] == ["default", "prod"]
    after = edit(data, "prod", {"output": "json"}, CONFIG)
    assert after == b"[default]\nregion = us-east-1\n\n[profile prod]\nregion = eu-west-1\noutput = json\n[prod]\nx = 1\n"
    after = edit(data, "dev", {"region": "us-west-1"}, CONFIG)
    assert after.endswith(b"x = 1\n\n[profile dev]\nregion = us-west-1\n")
    assert edit(b"", "default", {"region": "a"}, CONFIG) == b"[default]\nregion = a\n"
    # an existing [profile default] is used as is
    assert edit(b"[profile default]\nregion = a\n", "default", {"region": "b"}, CONFIG) == b"[profile default]\nregion = b\n"


def test_remove_profile_keeps_the_others():
    parsed = CredentialsFile.parse(SAMPLE.encode())
    assert parsed.remove_profile("prod") is True
    text = parsed.render().decode()
    assert text == SAMPLE.replace(
        "; the production account\n[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion: eu-west-1\n\n\n" % (KEY1, SECRET1), ""
    )
    assert parsed.remove_profile("prod") is False
    last = CredentialsFile.parse(SAMPLE.encode())
    last.remove_profile("tools")
    assert last.render().decode() == SAMPLE[: SAMPLE.index("\n\n\n[tools]")] + "\n"


@pytest.mark.parametrize("text, message", [
    ("[a]\nk=1\n[b]\n[a]\n", "section [a] appears twice (lines 1 and 4)"),
    ("[a]\nk=1\nK = 2\n", "line 3: k appears twice in section [a]"),
    ("[a]\njust words\n", "line 2: expected [section]"),
    ("[a\nk=1\n", "line 1: a section header"),
    ("[a]\n= value\n", "line 2"),
])
def test_corrupt_files_are_refused_with_a_line_number(text, message):
    with pytest.raises(CredentialsFileError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        CredentialsFile.parse(text.encode())


def test_same_profile_twice_in_a_config_file():
    with pytest.raises(CredentialsFileError, match="profile default is defined twice"):
        CredentialsFile.parse(b"[default]\n[profile default]\n", CONFIG)


def test_not_utf8_names_the_line():
    with pytest.raises(CredentialsFileError, match="line 2 is not UTF-8"):
        CredentialsFile.parse(b"[a]\nk=\xff\n")


@pytest.mark.parametrize("text, line", [
    ("region = x\n[a]\nk = v\n", 1),
    ("# c\n\nregion = x\n[a]\nk = v\n", 3),
    ("  indented = x\n[a]\n", 1),
])
def test_a_setting_before_the_first_section_is_refused_naming_the_line(text, line):
    with pytest.raises(CredentialsFileError, match="line %d: a setting before the first" % line):
        CredentialsFile.parse(text.encode())


@pytest.mark.parametrize("text, line", [
    ("[profile foo]\ns3 =\n invalid\n", 3),
    ("[a]\ns3 =\n  a = 1\n\n  # c\n  b: 2\n", 6),
])
def test_a_nested_line_without_equals_is_refused_naming_the_line(text, line):
    with pytest.raises(CredentialsFileError, match="line %d: a line of the nested block of s3 has no '='" % line):
        CredentialsFile.parse(text.encode(), CONFIG)


@pytest.mark.parametrize("header, profile", [
    ("[profile foo] # Comment", "foo"),
    ("[profile foo];", "foo"),
    ("[profile foo] ; Comment", "foo"),
    ("[profile bar]# Adjacent pound signs", "bar"),
    ("  [profile baz]   ", "baz"),
])
def test_section_headers_with_trailing_text_read_as_botocore(header, profile):
    text = "%s\nregion = x\n" % header
    parsed = CredentialsFile.parse(text.encode(), CONFIG)
    assert dict(parsed.profiles()) == {profile: {"region": "x"}}
    assert parsed.set_profile(profile, {"aws_access_key_id": KEY1})
    assert parsed.render() == ("%s\nregion = x\naws_access_key_id = %s\n" % (header, KEY1)).encode()


def test_nested_values_split_at_equals_like_botocore():
    parsed = CredentialsFile.parse(b"[default]\ns3 =\n  Addressing_Style = a:b=c\n", CONFIG)
    assert dict(parsed.profiles())["default"]["s3"] == {"Addressing_Style": "a:b=c"}


@pytest.mark.parametrize("values", [
    {"region": "a\n[evil]"},
    {"region": " padded"},
    {"bad name": "x"},
    {"s3": {"a\nb": "x"}},
])
def test_values_that_would_corrupt_the_file_are_refused(values):
    parsed = CredentialsFile.parse(SAMPLE.encode())
    with pytest.raises(CredentialsFileError):
        parsed.set_profile("prod", values)
    assert parsed.render() == SAMPLE.encode()


@pytest.mark.parametrize("name", ["", " a", "a]", "a b", "x\ny"])
def test_bad_profile_names(name):
    with pytest.raises(CredentialsFileError):
        CredentialsFile.parse(b"").set_profile(name, {"region": "a"})


@pytest.mark.parametrize("key_id, ok", [
    ("AKIAIOSFODNN7EXAMPLE", True),
    ("ASIAIOSFODNN7EXAMPLE", True),
    ("AKIAIOSFODNN7EXAMPL", False),
    ("AKIAIOSFODNN7EXAMPLEX", False),
    ("AKIAiosfodnn7example", False),
    ("AIDAIOSFODNN7EXAMPLE", False),
    ("AKIAIOSFODNN7EXAMP-E", False),
    ("", False),
    (None, False),
])
def test_key_id_validation(key_id, ok):
    assert (key_id_problem(key_id) is None) is ok


def test_a_malformed_key_id_is_never_repeated():
    secret_by_mistake = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert secret_by_mistake not in key_id_problem(secret_by_mistake)
    assert mask_key_id(secret_by_mistake) == "wJal..."
    assert mask_key_id("AKIAIOSFODNN7EXAMPLE") == "AKIAIOSFODNN7EXAMPLE"


# ---------------------------------------------------------------- masked diff and plan
PARAMS = {"path": "/x/credentials", "profile": "prod", "state": "present", "mode": "0600",
          "access_key_id": KEY2, "secret_access_key": SECRET2, "session_token": None, "settings": None}


def test_masked_diff_hides_every_secret_and_still_shows_the_change():
    data = (SAMPLE + "# old: aws_secret_access_key = %s\n" % ("z" * 40)).encode()
    result = plan(data, {"mode": 0o100600, "uid": 0, "gid": 0}, PARAMS)
    diff = masked_diff("/x/credentials", result["before"], result["after"])
    text = diff["before"] + diff["after"]
    for secret in (SECRET1, SECRET2, OTHER_SECRET, "z" * 40):
        assert secret not in text
    assert KEY1 in diff["before"] and KEY2 in diff["after"]
    before_lines = set(diff["before"].splitlines())
    after_lines = set(diff["after"].splitlines())
    changed = sorted(after_lines - before_lines)
    assert changed == sorted(["aws_access_key_id = %s" % KEY2, "aws_secret_access_key = ********(secret 4)"]) or \
        all("aws_" in line for line in changed)
    assert len(after_lines - before_lines) == 2
    # the unchanged secret of another profile has the same label on both sides
    assert [line for line in diff["before"].splitlines() if line.startswith("aws_secret_access_key=")] == \
        [line for line in diff["after"].splitlines() if line.startswith("aws_secret_access_key=")]


def test_plan_predicts_and_is_idempotent():
    data = SAMPLE.encode()
    first = plan(data, {"mode": 0o100600, "uid": 0, "gid": 0}, PARAMS)
    assert [a["action"] for a in first["actions"]] == ["update_profile"]
    second = plan(first["new_data"], {"mode": 0o100600, "uid": 0, "gid": 0}, PARAMS)
    assert second["actions"] == [] and second["new_data"] is None
    mode_only = plan(first["new_data"], {"mode": 0o100644, "uid": 0, "gid": 0}, PARAMS)
    assert [a["action"] for a in mode_only["actions"]] == ["set_mode"]
    created = plan(None, None, PARAMS)
    assert [a["action"] for a in created["actions"]] == ["create_file"]
    absent = plan(data, {"mode": 0o100600, "uid": 0, "gid": 0}, dict(PARAMS, state="absent"))
    assert [a["action"] for a in absent["actions"]] == ["remove_profile"]
    assert plan(None, None, dict(PARAMS, state="absent"))["actions"] == []


def test_new_key_drops_a_stale_session_token():
    data = b"[p]\naws_access_key_id = ASIAAAAAAAAAAAAAAAAA\naws_secret_access_key = x\naws_session_token = tok\n"
    result = plan(data, None, dict(PARAMS, profile="p"))
    assert b"aws_session_token" not in result["new_data"]


@pytest.mark.parametrize("changes, message", [
    ({"access_key_id": "AKIA-short"}, "access_key_id: the access key id is malformed"),
    ({"access_key_id": "ASIAAAAAAAAAAAAAAAAA"}, "session_token is required"),
    ({"settings": {"aws_secret_access_key": "x"}}, "through the access_key_id"),
])
def test_plan_refuses_bad_input(changes, message):
    with pytest.raises(ProfileError, match=message):
        plan(SAMPLE.encode(), None, dict(PARAMS, **changes))


def test_plan_refuses_a_corrupt_file():
    with pytest.raises(ProfileError, match="line 2"):
        plan(b"[a]\nnonsense\n", None, PARAMS)


@pytest.mark.parametrize("mode, value", [("0600", 0o600), ("600", 0o600), (0o640, 0o640), (None, 0o600)])
def test_parse_mode(mode, value):
    assert parse_mode(mode) == value


def test_describe_profiles_hides_secrets_unless_asked():
    parsed = CredentialsFile.parse((SAMPLE + "[t]\naws_session_token = T0KEN-VALUE\nsso_token_thing = hidden\n").encode())
    profiles = describe_profiles(parsed)
    text = repr(profiles)
    for secret in (SECRET1, OTHER_SECRET, "T0KEN-VALUE", "hidden"):
        assert secret not in text
    prod = [p for p in profiles if p["name"] == "prod"][0]
    assert prod == {"name": "prod", "aws_access_key_id": KEY1, "has_secret_access_key": True, "has_session_token": False,
                    "settings": {"region": "eu-west-1"}}
    shown = describe_profiles(parsed, ["prod"], return_secrets=True)
    assert len(shown) == 1 and shown[0]["secret_access_key"] == SECRET1 and shown[0]["session_token"] is None
