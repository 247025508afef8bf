# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EC2 key pair planner, driven with fake region states (no AWS)."""

import base64
import hashlib
import struct

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _ec2_key_pair_planner as planner


def _string(data):
    return struct.pack(">I", len(data)) + data


def _mpint(value):
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return _string(raw)


def ed25519_line(seed, comment="me@host"):
    blob = _string(b"ssh-ed25519") + _string(hashlib.sha256(seed.encode()).digest())
    return "ssh-ed25519 %s %s" % (base64.b64encode(blob).decode(), comment)


def rsa_line(bits=2048, comment=""):
    modulus = (1 << (bits - 1)) | 0x1234567 | 1
    blob = _string(b"ssh-rsa") + _mpint(65537) + _mpint(modulus)
    return ("ssh-rsa %s %s" % (base64.b64encode(blob).decode(), comment)).strip()


OURS = ed25519_line("ours")
THEIRS = ed25519_line("theirs")
KEY = planner.desired_key(OURS)


def described(line, tags=None, key_id="key-0123456789abcdef0", name="deploy"):
    return {
        "KeyName": name, "KeyPairId": key_id, "KeyType": "ed25519", "PublicKey": line,
        "KeyFingerprint": "moto-does-its-own-thing", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }


def policy(**overrides):
    base = {"state": "present", "key": KEY, "force": False, "tags": None, "purge_tags": False}
    base.update(overrides)
    return base


# --------------------------------------------------------------------------- desired key
def test_desired_key_ed25519_fingerprints_are_computed_locally():
    key = planner.desired_key(OURS)
    blob = base64.b64decode(OURS.split()[1])
    assert key["canonical"] == " ".join(OURS.split()[:2])
    assert key["fingerprint"] == base64.b64encode(hashlib.sha256(blob).digest()).decode()
    assert key["fingerprint"].endswith("=")
    assert key["openssh_fingerprint"] == "SHA256:" + key["fingerprint"].rstrip("=")
    assert key["comment"] == "me@host"


def test_desired_key_rsa_fingerprint_is_colon_md5():
    key = planner.desired_key(rsa_line())
    assert key["key_type"] == "ssh-rsa"
    assert len(key["fingerprint"].split(":")) == 16


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("ssh-ed25519", "no key data"),
    (OURS[:40], "truncated"),
    ("ssh-ed25519 AAAAC3Nz!!", "base64"),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "unsupported"),
    ("ecdsa-sha2-nistp256 " + base64.b64encode(
        _string(b"ecdsa-sha2-nistp256") + _string(b"nistp256") + _string(bytes.fromhex(  # the P-256 base point: a valid key (cryptography checks the point)
            "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
            "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"))).decode(),
     "EC2 imports only"),
    (rsa_line(bits=768), "1024 bits"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "malformed"),
])
def test_desired_key_refuses_bad_input(text, words):
    with pytest.raises(planner.PlanError) as info:
        planner.desired_key(text)
    assert words in str(info.value)
    assert str(info.value).startswith("public_key: ")


# --------------------------------------------------------------------------- input checks
@pytest.mark.parametrize("name", ["", " lead", "trail ", "tab\tname", "x" * 256, "caf\u00e9"])
def test_bad_key_names(name):
    with pytest.raises(planner.PlanError):
        planner.check_key_name(name)


def test_region_names_are_checked_and_deduplicated():
    assert planner.check_region_names(["us-east-1", "eu-west-1", "us-east-1"]) == ["us-east-1", "eu-west-1"]
    assert planner.check_region_names(["us-gov-west-1", "eusc-de-east-1"]) == ["us-gov-west-1", "eusc-de-east-1"]
    for bad in (["US-EAST-1"], ["us-east"], ["us east 1"], [""], [], [None]):
        with pytest.raises(planner.PlanError):
            planner.check_region_names(bad)


def test_tags_are_strings_and_aws_prefix_refused():
    assert planner.check_tags({"a": 1, "b": None}) == {"a": "1", "b": ""}
    assert planner.check_tags(None) is None
    with pytest.raises(planner.PlanError):
        planner.check_tags({"aws:cloudformation:x": "y"})
    with pytest.raises(planner.PlanError):
        planner.check_tags({"k" * 129: "y"})


# --------------------------------------------------------------------------- present
def test_missing_region_imports_with_tags():
    plan = planner.plan_region(planner.region_state(None), policy(tags={"owner": "platform"}))
    assert plan["action"] == "import" and plan["changed"] and not plan["failed"]
    assert plan["import_tags"] == {"owner": "platform"}
    assert plan["before"] == {"present": False, "fingerprint": None, "tags": {}}
    assert plan["after"] == {"present": True, "fingerprint": KEY["fingerprint"], "tags": {"owner": "platform"}}
    assert plan["key_pair_id"] is None


def test_same_material_other_comment_is_unchanged():
    state = planner.region_state(described(OURS.rsplit(" ", 1)[0] + " a-different-comment\n"))
    plan = planner.plan_region(state, policy())
    assert plan["action"] == "none" and not plan["changed"]
    assert plan["before"] == plan["after"]
    assert plan["after"]["fingerprint"] == KEY["fingerprint"]  # computed locally, not moto's


def test_tags_added_and_updated_without_purge():
    state = planner.region_state(described(OURS, tags={"owner": "old", "keep": "me"}))
    plan = planner.plan_region(state, policy(tags={"owner": "new", "env": "prod"}))
    assert plan["action"] == "tag" and plan["changed"]
    assert plan["set_tags"] == {"owner": "new", "env": "prod"}
    assert plan["unset_tags"] == []
    assert plan["after"]["tags"] == {"owner": "new", "env": "prod", "keep": "me"}


def test_purge_tags_removes_unlisted_but_not_aws_tags():
    state = planner.region_state(described(OURS, tags={"owner": "x", "stale": "1", "aws:created": "y"}))
    plan = planner.plan_region(state, policy(tags={"owner": "x"}, purge_tags=True))
    assert plan["action"] == "tag"
    assert plan["set_tags"] == {} and plan["unset_tags"] == ["stale"]
    assert plan["after"]["tags"] == {"owner": "x", "aws:created": "y"}


def test_tags_none_leaves_tags_alone_even_with_purge():
    state = planner.region_state(described(OURS, tags={"a": "1"}))
    assert planner.plan_region(state, policy(purge_tags=True))["action"] == "none"


def test_drift_without_force_fails_and_changes_nothing():
    state = planner.region_state(described(THEIRS, tags={"owner": "x"}))
    plan = planner.plan_region(state, policy(tags={"owner": "y"}))
    assert plan["action"] == "drift" and plan["failed"] and not plan["changed"]
    assert plan["after"] == plan["before"]
    assert plan["set_tags"] == {} and plan["import_tags"] is None
    theirs_fp = planner.desired_key(THEIRS)["fingerprint"]
    assert theirs_fp in plan["msg"] and "force" in plan["msg"]


def test_force_replaces_and_keeps_old_tags():
    state = planner.region_state(described(THEIRS, tags={"owner": "x", "cost": "7", "aws:cloudformation": "z"}))
    plan = planner.plan_region(state, policy(force=True, tags={"owner": "y"}))
    assert plan["action"] == "replace" and plan["changed"] and not plan["failed"]
    assert plan["import_tags"] == {"owner": "y", "cost": "7"}
    assert plan["after"]["fingerprint"] == KEY["fingerprint"]
    assert plan["before"]["fingerprint"] == planner.desired_key(THEIRS)["fingerprint"]


def test_force_replace_with_purge_keeps_only_desired_tags():
    state = planner.region_state(described(THEIRS, tags={"owner": "x", "cost": "7"}))
    plan = planner.plan_region(state, policy(force=True, tags={"owner": "y"}, purge_tags=True))
    assert plan["import_tags"] == {"owner": "y"}


def test_key_type_change_is_drift_not_a_silent_delete():
    state = planner.region_state(described(rsa_line()))
    plan = planner.plan_region(state, policy())
    assert plan["action"] == "drift" and not plan["changed"]


def test_unreadable_material_counts_as_drift_with_reason():
    state = planner.region_state(described("garbage"))
    assert state["canonical"] is None and "cannot be read" in state["problem"]
    plan = planner.plan_region(state, policy())
    assert plan["action"] == "drift" and "cannot be read" in plan["msg"]
    state = planner.region_state(described(None))
    assert "no public key" in planner.plan_region(state, policy())["msg"]


def test_force_with_same_material_does_nothing():
    state = planner.region_state(described(OURS))
    assert planner.plan_region(state, policy(force=True))["action"] == "none"


# --------------------------------------------------------------------------- absent
def test_absent_deletes_present_and_ignores_missing():
    plan = planner.plan_region(planner.region_state(described(THEIRS)), policy(state="absent", key=None))
    assert plan["action"] == "delete" and plan["changed"]
    assert plan["after"] == {"present": False, "fingerprint": None, "tags": {}}
    plan = planner.plan_region(planner.region_state(None), policy(state="absent", key=None))
    assert plan["action"] == "none" and not plan["changed"] and not plan["failed"]


# --------------------------------------------------------------------------- check mode prediction
def _apply_fake(state, plan, key):
    """What a region looks like after applying a plan (the fake AWS of the prediction test)."""
    if plan["action"] == "delete":
        return None
    if plan["action"] in ("import", "replace"):
        return described(key["canonical"], tags=plan["import_tags"], key_id="key-new")
    if plan["action"] == "tag":
        tags = dict((k, v) for k, v in state["tags"].items() if k not in plan["unset_tags"])
        tags.update(plan["set_tags"])
        return described(state["canonical"], tags=tags)
    return described(state["canonical"], tags=state["tags"]) if state.get("present") else None


@pytest.mark.parametrize("start", [None, OURS, THEIRS])
@pytest.mark.parametrize("pol", [
    dict(), dict(force=True), dict(tags={"a": "1"}), dict(tags={}, purge_tags=True),
    dict(force=True, tags={"b": "2"}, purge_tags=True), dict(state="absent", key=None),
])
def test_prediction_matches_application_and_second_plan_is_idempotent(start, pol):
    tags = {"old": "tag"}
    state = planner.region_state(described(start, tags=tags) if start else None)
    plan = planner.plan_region(state, policy(**pol))
    after_state = planner.region_state(_apply_fake(state, plan, KEY)) if not plan["failed"] else state
    observed = {"present": after_state["present"], "fingerprint": after_state.get("fingerprint"),
                "tags": after_state.get("tags", {})}
    assert observed == plan["after"]
    second = planner.plan_region(after_state, policy(**pol))
    assert not second["changed"]
    if plan["failed"]:
        assert second["failed"]


# --------------------------------------------------------------------------- info summary
def test_summary_against_reference():
    ours, theirs = KEY["canonical"], planner.desired_key(THEIRS)["canonical"]
    summary = planner.summarize(["a-east-1", "b-west-1", "c-north-1"], {"a-east-1": ours, "b-west-1": theirs}, ours)
    assert summary["present_in"] == ["a-east-1", "b-west-1"]
    assert summary["missing_in"] == ["c-north-1"]
    assert summary["drift"] == ["b-west-1"]
    assert summary["reference_source"] == "public_key"


def test_summary_against_majority_and_tie():
    ours, theirs = KEY["canonical"], planner.desired_key(THEIRS)["canonical"]
    summary = planner.summarize(["r-a-1", "r-b-1", "r-c-1"], {"r-a-1": ours, "r-b-1": ours, "r-c-1": theirs})
    assert summary["reference"] == ours and summary["reference_source"] == "majority"
    assert summary["drift"] == ["r-c-1"]
    tie = planner.summarize(["r-a-1", "r-b-1"], {"r-a-1": ours, "r-b-1": theirs})
    assert tie["reference_source"] == "tie" and tie["drift"] == ["r-a-1", "r-b-1"]
    single = planner.summarize(["r-a-1", "r-b-1"], {"r-a-1": ours})
    assert single["drift"] == [] and single["reference_source"] == "majority" and single["missing_in"] == ["r-b-1"]
    nothing = planner.summarize(["r-a-1"], {})
    assert nothing["reference_source"] == "none" and nothing["present_in"] == []
    unreadable = planner.summarize(["r-a-1", "r-b-1", "r-c-1"], {"r-a-1": ours, "r-b-1": ours, "r-c-1": None})
    assert unreadable["drift"] == ["r-c-1"]
