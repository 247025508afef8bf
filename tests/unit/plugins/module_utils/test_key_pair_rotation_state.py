# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key set of an EC2 key pair rotation: due decision, promotion, and recovery from interrupted runs."""

import datetime
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _key_pair_rotation_state as state
from ansible_collections.keyops.aws.plugins.module_utils import _ssh_private_keys
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import openssh_fingerprint

NOW = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)
PRESENT = {"state": "present", "max_age_days": 90, "force": False, "fingerprint": None}

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def keygen(path, key_type="ed25519", comment="test"):
    argv = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(path)]
    if key_type == "rsa":
        argv[4:4] = ["-b", "2048"]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    with open(str(path) + ".pub", encoding="utf-8") as handle:
        return handle.read().strip()


def set_age(path, days):
    stamp = (NOW - datetime.timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))


def run(key_dir, now=NOW, check_mode=False, **policy):
    merged = dict(PRESENT)
    merged.update(policy)
    return state.run(str(key_dir), "deploy", merged, check_mode=check_mode, now=now)


# --------------------------------------------------------------------------- pure parts
@pytest.mark.parametrize("name", ["../x", ".hidden", "-x", "a/b", "", "a..b", "x" * 256, "sp ace"])
def test_bad_names_are_refused(name):
    with pytest.raises(state.KeyRotationStateError, match="invalid key pair name"):
        state.check_name(name)


@pytest.mark.parametrize("name", ["deploy", "prod-eu_1", "team.key@2026", "a"])
def test_good_names(name):
    assert state.check_name(name) == name


@needs_ssh_keygen
@pytest.mark.parametrize("key_type", ["ed25519", "rsa"])
def test_public_blob_read_from_openssh_private_key(tmp_path, key_type):
    public = keygen(tmp_path / "k", key_type)
    with open(tmp_path / "k", "rb") as handle:
        blob = _ssh_private_keys.private_key_public_blob(handle.read())
    assert openssh_fingerprint(blob) == openssh_fingerprint(public)


def test_non_openssh_private_key_gives_none_and_damaged_raises():
    assert _ssh_private_keys.private_key_public_blob(b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n") is None
    with pytest.raises(ValueError):
        _ssh_private_keys.private_key_public_blob(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n")


def _key(fp, days_old=1, mode=0o600, pub_ok=True, path="/k/deploy"):
    return {
        "path": path, "public_key_path": path + ".pub", "public_key": "ssh-ed25519 AAAA" + fp,
        "public_key_file_ok": pub_ok, "fingerprint": fp, "ec2_fingerprint": None, "type": "ssh-ed25519",
        "mode": mode, "mtime": NOW - datetime.timedelta(days=days_old),
    }


def _key_set(current=None, pending=None, retired=(), recorded=None):
    return {
        "current": current, "pending": pending, "retired": list(retired), "orphan_public_keys": [],
        "state": {"keys": recorded if recorded is not None else {}},
        "dir_exists": True,
        "paths": {"current": "/k/deploy", "pending": "/k/deploy.new", "retired_dir": "/k/deploy.retired"},
    }


@pytest.mark.parametrize(
    "current_age, policy, due, reason",
    [
        (None, {}, True, "no_key"),
        (10, {}, False, "none"),
        (89, {}, False, "none"),
        (90, {}, True, "max_age"),
        (10, {"force": True}, True, "force"),
        (10, {"max_age_days": 0}, True, "max_age"),
    ],
)
def test_due_decision(current_age, policy, due, reason):
    current = _key("SHA256:cur", current_age) if current_age is not None else None
    merged = dict(PRESENT)
    merged.update(policy)
    recorded = {"SHA256:cur": {"created": state.iso(current["mtime"])}} if current else {}
    result = state.plan(_key_set(current, recorded=recorded), merged, NOW)
    assert (result["due"], result["reason"]) == (due, reason)


def test_recorded_creation_date_wins_over_file_time():
    current = _key("SHA256:cur", days_old=1)  # file touched yesterday (copied, restored from backup...)
    recorded = {"SHA256:cur": {"created": "2026-01-01T00:00:00Z"}}
    result = state.plan(_key_set(current, recorded=recorded), PRESENT, NOW)
    assert result["due"] and result["reason"] == "max_age"
    assert result["current"]["created"] == "2026-01-01T00:00:00Z"


def test_pending_key_is_the_target_and_the_current_key_is_old():
    current, pending = _key("SHA256:cur"), _key("SHA256:new", path="/k/deploy.new")
    retired = _key("SHA256:ret", path="/k/deploy.retired/1")
    result = state.plan(_key_set(current, pending, [retired]), PRESENT, NOW)
    assert result["due"] and result["reason"] == "pending"
    assert result["target"]["fingerprint"] == "SHA256:new"
    assert result["old_fingerprints"] == ["SHA256:cur", "SHA256:ret"]


def test_not_due_target_is_current_and_retired_keys_are_old():
    current = _key("SHA256:cur")
    retired = [_key("SHA256:ret", path="/k/deploy.retired/1"), _key("SHA256:cur", path="/k/deploy.retired/2")]
    result = state.plan(_key_set(current, None, retired, {"SHA256:cur": {"created": "2026-11-20T00:00:00Z"},
                                                          "SHA256:ret": {"created": "x", "retired": "y"}}), PRESENT, NOW)
    assert result["target"]["fingerprint"] == "SHA256:cur"
    # a retired copy of the current key (interrupted promotion) is not an old key
    assert result["old_fingerprints"] == ["SHA256:ret"]
    assert result["actions"] == []


def test_promote_refuses_another_key():
    key_set = _key_set(_key("SHA256:cur"), _key("SHA256:new", path="/k/deploy.new"))
    with pytest.raises(state.KeyRotationStateError, match="refusing to promote"):
        state.plan(key_set, dict(PRESENT, state="promoted", fingerprint="SHA256:other"), NOW)


def test_promote_plans_retire_then_promote():
    key_set = _key_set(_key("SHA256:cur"), _key("SHA256:new", path="/k/deploy.new"))
    result = state.plan(key_set, dict(PRESENT, state="promoted", fingerprint="SHA256:new"), NOW)
    assert [a["action"] for a in result["actions"] if a["action"] != "record"] == ["retire", "promote"]
    assert result["current"]["fingerprint"] == "SHA256:new" and result["current"]["path"] == "/k/deploy"
    assert result["pending"] is None
    assert [r["fingerprint"] for r in result["retired"]] == ["SHA256:cur"]
    assert not result["due"]


def test_live_retired_drops_copies_of_active_keys_and_duplicates():
    current = _key("SHA256:cur")
    retired = [_key("SHA256:ret", path="/k/r/1"), _key("SHA256:cur", path="/k/r/2"), _key("SHA256:ret", path="/k/r/3")]
    kept = state._live_retired(_key_set(current, None, retired), current, None)
    assert [k["path"] for k in kept] == ["/k/r/1"]


def test_promotion_needs_a_fingerprint():
    with pytest.raises(state.KeyRotationStateError, match="needs the fingerprint"):
        state._promotion(_key_set(_key("SHA256:cur")), None, NOW, [], [])


def test_promotion_of_the_current_key_is_a_no_op():
    current = _key("SHA256:cur")
    actions, retired = [], []
    result = state._promotion(_key_set(current), "SHA256:cur", NOW, retired, actions)
    assert result == (current, None, False) and actions == [] and retired == []


def test_promotion_reuses_a_retired_copy_of_the_current_key():
    current, pending = _key("SHA256:cur"), _key("SHA256:new", path="/k/deploy.new")
    copy = _key("SHA256:cur", path="/k/deploy.retired/1")
    actions, retired = [], []
    new_current, new_pending, promoted = state._promotion(
        _key_set(current, pending, [copy]), "SHA256:new", NOW, retired, actions)
    assert [a["action"] for a in actions] == ["promote"] and retired == [copy]
    assert promoted and new_pending is None and new_current["path"] == "/k/deploy" and new_current["mode"] == 0o600


def test_file_actions_skip_a_promoted_current_key():
    loose = _key("SHA256:cur", mode=0o644, pub_ok=False)
    assert [a["action"] for a in state._file_actions(loose, None, False)] == ["fix_mode", "write_public_key"]
    assert state._file_actions(loose, None, True) == []


def test_record_actions_for_unrecorded_keys_and_unrecorded_retirements():
    current, old = _key("SHA256:cur"), _key("SHA256:old", path="/k/r/1")
    recorded = {"SHA256:cur": {"created": "x"}, "SHA256:old": {"created": "x"}}
    assert [a["fingerprint"] for a in state._record_actions(current, None, [old], recorded)] == ["SHA256:old"]
    recorded["SHA256:old"]["retired"] = "y"
    assert state._record_actions(current, None, [old], recorded) == []


def test_old_fingerprints_never_include_the_target():
    cur, ret = {"fingerprint": "a"}, [{"fingerprint": "b"}, {"fingerprint": "a"}]
    assert state._old_fingerprints(cur, None, ret, cur) == ["b"]
    assert state._old_fingerprints(cur, {"fingerprint": "n"}, ret, {"fingerprint": "n"}) == ["a", "b", "a"]
    assert state._old_fingerprints(None, None, [], None) == []


# --------------------------------------------------------------------------- on disk
@needs_ssh_keygen
def test_full_cycle_on_disk(tmp_path):
    key_dir = tmp_path / "keys"
    first = run(key_dir)
    assert first["due"] and first["reason"] == "no_key" and first["target"] is None
    assert oct(os.stat(key_dir).st_mode & 0o777) == "0o700"

    new_public = keygen(key_dir / "deploy.new", comment="deploy")
    pending = run(key_dir)
    assert pending["reason"] == "pending" and pending["changed"]  # its creation date is recorded
    fp = pending["pending"]["fingerprint"]
    assert fp == openssh_fingerprint(new_public)
    assert not run(key_dir)["changed"]

    promoted = run(key_dir, state="promoted", fingerprint=fp)
    assert promoted["changed"] and promoted["current"]["fingerprint"] == fp
    assert not os.path.exists(key_dir / "deploy.new") and not os.path.exists(key_dir / "deploy.new.pub")
    with open(key_dir / "deploy.pub", encoding="utf-8") as handle:
        assert handle.read() == new_public + "\n"
    again = run(key_dir, state="promoted", fingerprint=fp)
    assert not again["changed"]
    assert not run(key_dir)["changed"]

    # second rotation: the replaced key is kept, private and 0600, in deploy.retired/
    second_public = keygen(key_dir / "deploy.new", comment="deploy")
    run(key_dir)
    second_fp = openssh_fingerprint(second_public)
    later = NOW + datetime.timedelta(days=1)
    result = run(key_dir, now=later, state="promoted", fingerprint=second_fp)
    assert result["current"]["fingerprint"] == second_fp
    assert [r["fingerprint"] for r in result["retired"]] == [fp]
    retired_dir = key_dir / "deploy.retired"
    names = sorted(os.listdir(retired_dir))
    assert names == ["20261124T120000Z", "20261124T120000Z.pub"]
    assert oct(os.stat(retired_dir / names[0]).st_mode & 0o777) == "0o600"
    with open(key_dir / "deploy.state.json", encoding="utf-8") as handle:
        recorded = json.load(handle)["keys"]
    assert recorded[fp]["retired"] == "2026-11-24T12:00:00Z"
    final = run(key_dir, now=later)
    assert not final["changed"] and final["old_fingerprints"] == [fp]


@needs_ssh_keygen
def test_check_mode_writes_nothing(tmp_path):
    key_dir = tmp_path / "keys"
    result = run(key_dir, check_mode=True)
    assert result["changed"] and not os.path.exists(key_dir)
    os.mkdir(key_dir)
    public = keygen(key_dir / "deploy.new")
    before = sorted(os.listdir(key_dir))
    result = run(key_dir, check_mode=True, state="promoted", fingerprint=openssh_fingerprint(public))
    assert result["changed"] and result["current"]["path"] == str(key_dir / "deploy")
    assert sorted(os.listdir(key_dir)) == before


@needs_ssh_keygen
def test_interrupted_after_retire_copy(tmp_path):
    """Crash after step 1: the current key also sits in deploy.retired/; the next run promotes normally."""
    key_dir = tmp_path / "keys"
    os.mkdir(key_dir)
    old = keygen(key_dir / "deploy")
    new = keygen(key_dir / "deploy.new")
    os.mkdir(key_dir / "deploy.retired")
    shutil.copy(key_dir / "deploy", key_dir / "deploy.retired" / "20261123T000000Z")
    shutil.copy(key_dir / "deploy.pub", key_dir / "deploy.retired" / "20261123T000000Z.pub")
    result = run(key_dir)
    assert result["reason"] == "pending" and result["retired"] == []
    assert result["old_fingerprints"] == [openssh_fingerprint(old)]
    promoted = run(key_dir, state="promoted", fingerprint=openssh_fingerprint(new))
    assert [a["action"] for a in promoted["actions"]].count("retire") == 0  # the copy is reused
    assert [r["fingerprint"] for r in promoted["retired"]] == [openssh_fingerprint(old)]
    assert len(os.listdir(key_dir / "deploy.retired")) == 2


@needs_ssh_keygen
def test_interrupted_after_rename(tmp_path):
    """Crash after step 3: deploy is the new key, deploy.pub still the old one, deploy.new.pub left over."""
    key_dir = tmp_path / "keys"
    os.mkdir(key_dir)
    old = keygen(key_dir / "deploy")
    new = keygen(key_dir / "deploy.new")
    os.mkdir(key_dir / "deploy.retired")
    shutil.copy(key_dir / "deploy", key_dir / "deploy.retired" / "20261123T000000Z")
    shutil.copy(key_dir / "deploy.pub", key_dir / "deploy.retired" / "20261123T000000Z.pub")
    os.replace(key_dir / "deploy.new", key_dir / "deploy")
    result = run(key_dir)
    assert result["current"]["fingerprint"] == openssh_fingerprint(new)
    assert result["pending"] is None and result["old_fingerprints"] == [openssh_fingerprint(old)]
    assert {a["action"] for a in result["actions"]} >= {"write_public_key", "remove_orphan"}
    with open(key_dir / "deploy.pub", encoding="utf-8") as handle:
        assert openssh_fingerprint(handle.read()) == openssh_fingerprint(new)
    assert not os.path.exists(key_dir / "deploy.new.pub")
    assert not run(key_dir)["changed"]


@needs_ssh_keygen
def test_private_key_mode_is_fixed_and_missing_pub_rewritten(tmp_path):
    key_dir = tmp_path / "keys"
    os.mkdir(key_dir)
    public = keygen(key_dir / "deploy")
    os.chmod(key_dir / "deploy", 0o644)
    os.unlink(key_dir / "deploy.pub")
    result = run(key_dir)
    assert {"fix_mode", "write_public_key"} <= {a["action"] for a in result["actions"]}
    assert oct(os.stat(key_dir / "deploy").st_mode & 0o777) == "0o600"
    with open(key_dir / "deploy.pub", encoding="utf-8") as handle:
        assert handle.read().split()[:2] == public.split()[:2]


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    key_dir = tmp_path / "keys"
    os.mkdir(key_dir)
    with open(key_dir / "deploy.state.json", "w", encoding="utf-8") as handle:
        handle.write("{not json")
    with pytest.raises(state.KeyRotationStateError, match="not valid JSON"):
        run(key_dir)


def test_garbage_private_key_is_a_clear_error_without_content(tmp_path):
    key_dir = tmp_path / "keys"
    os.mkdir(key_dir)
    with open(key_dir / "deploy", "w", encoding="utf-8") as handle:
        handle.write("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LXN0dWZm\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(state.KeyRotationStateError) as info:
        run(key_dir)
    assert "c2VjcmV0" not in str(info.value) and "deploy" in str(info.value)


def test_pem_key_readable_by_others_is_still_read(tmp_path):
    """A PEM private key with an open mode is read (so its mode can be reported and repaired)."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import rsa  # pylint: disable=import-outside-toplevel

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    path = tmp_path / "pem_key"
    path.write_bytes(data)
    os.chmod(path, 0o644)
    expected = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert _ssh_private_keys.public_key_of_private(str(path), data) == expected


# --------------------------------------------------------------------------- the role's decisions, several key pairs
KNOWN = {"us-east-1", "eu-west-1"}


def entry(name, key_dir, **extra):
    out = {"name": name, "key_dir": str(key_dir), "max_age_days": 90, "force": False, "regions": ["us-east-1"]}
    out.update(extra)
    return out


def test_no_key_yet_means_generate_and_nothing_to_distribute(tmp_path):
    result = run(tmp_path / "keys", check_mode=True)
    assert result["generate"] is True and result["distribute"] is False
    assert result["fallback_private_key_paths"] == []
    assert result["current_realpath"] == os.path.realpath(str(tmp_path / "keys" / "deploy"))


@needs_ssh_keygen
def test_pending_key_is_distributed_and_retired_keys_are_fallbacks_newest_first(tmp_path):
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o700)
    keygen(key_dir / "deploy")
    run(key_dir)
    assert run(key_dir)["distribute"] is True and run(key_dir)["generate"] is False
    assert run(key_dir, force=True)["generate"] is True and run(key_dir, force=True)["distribute"] is False
    for stamp in ("20260101T000000Z", "20260201T000000Z"):
        (key_dir / "deploy.retired").mkdir(mode=0o700, exist_ok=True)
        keygen(key_dir / "deploy.retired" / stamp)
    keygen(key_dir / "deploy.new")
    result = run(key_dir)
    assert result["generate"] is False and result["distribute"] is True
    assert result["target"]["path"] == str(key_dir / "deploy.new")
    assert result["fallback_private_key_paths"] == [str(key_dir / "deploy.retired" / "20260201T000000Z"),
                                                    str(key_dir / "deploy.retired" / "20260101T000000Z")]


@needs_ssh_keygen
def test_run_many_plans_each_key_pair_in_its_own_files(tmp_path):
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o700)
    keygen(key_dir / "deploy-prod")
    out = state.run_many([entry("deploy-dev", key_dir), entry("deploy-prod", key_dir, force=True)],
                         check_mode=True, now=NOW, known_regions=KNOWN)
    assert set(out["key_pairs"]) == {"deploy-dev", "deploy-prod"}
    assert out["key_pairs"]["deploy-dev"]["reason"] == "no_key"
    assert out["key_pairs"]["deploy-prod"]["reason"] == "force"
    assert out["key_pairs"]["deploy-prod"]["paths"]["pending"] == str(key_dir / "deploy-prod.new")
    assert out["changed"] is True  # the dates of deploy-prod are not recorded yet
    assert set(out["diff"]["before"]) == {"deploy-dev", "deploy-prod"}
    assert not os.path.exists(str(key_dir / "deploy-prod.state.json"))  # check mode


@pytest.mark.parametrize("entries, message", [
    ([{"name": "a", "key_dir": "/k", "regions": ["moon-1"]}], r"key pair a: regions \(key_pair_rotation_regions\): 'moon-1'"),
    ([{"name": "../x", "key_dir": "/k"}], "key_pairs: invalid key pair name"),
    ([{"name": "a", "key_dir": "/k", "max_age_days": -1}], "key_pairs: a: max_age_days must be 0 or more"),
    ([{"name": "a", "key_dir": "/k"}, {"name": "a", "key_dir": "/j"}], "lists a key pair name twice"),
])
def test_run_many_checks_every_entry_before_touching_any_directory(tmp_path, entries, message):
    first = entry("first", tmp_path / "first")
    with pytest.raises(state.KeyRotationStateError, match=message):
        state.run_many([first] + entries, now=NOW, known_regions=KNOWN)
    assert not os.path.exists(str(tmp_path / "first"))
