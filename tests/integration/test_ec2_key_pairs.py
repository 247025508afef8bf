# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.aws.ec2_key_pair and ec2_key_pair_info against the bed (moto), asserted through boto3.

Fingerprints are checked against ssh-keygen (ed25519) and openssl (RSA), never against moto's own
KeyFingerprint (moto computes ed25519 fingerprints differently from AWS).
"""

import hashlib
import json
import subprocess
import uuid

import boto3
import botocore.exceptions
import pytest

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
OTHER_REGION = "us-west-2"


# --------------------------------------------------------------------------- helpers
def _keygen(tmp_path, key_type, comment="keyops-test"):
    path = tmp_path / ("key_%s_%s" % (key_type, uuid.uuid4().hex[:6]))
    argv = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(path)]
    if key_type == "rsa":
        argv[4:4] = ["-b", "3072"]
    subprocess.run(argv, check=True)
    return str(path) + ".pub"


def _canonical(line):
    return " ".join(line.split()[:2])


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def held(bed, region, name):
    """The key pair ``name`` in ``region`` as boto3 sees it (with its public key), or None."""
    client = bed.client("ec2", region)
    try:
        pairs = client.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidKeyPair.NotFound":
            return None
        raise
    return pairs[0] if pairs else None


def held_tags(pair):
    return dict((tag["Key"], tag["Value"]) for tag in pair.get("Tags", []))


def ssh_keygen_ec2_ed25519(pub_path):
    """ssh-keygen's SHA256 value with base64 padding: what EC2 shows for an ed25519 key."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub_path], check=True,
                         capture_output=True, text=True).stdout
    value = out.split()[1]
    assert value.startswith("SHA256:")
    value = value[len("SHA256:"):]
    return value + "=" * (-len(value) % 4)


def openssl_ec2_rsa(pub_path):
    """MD5 of the DER SubjectPublicKeyInfo, colon hex, through ssh-keygen -e and openssl."""
    pem = subprocess.run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", pub_path], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem, check=True,
                         capture_output=True).stdout
    digest = hashlib.md5(der).hexdigest()  # nosec - EC2's fingerprint format
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


@pytest.fixture
def key_name():
    return "keyops-test-%s" % uuid.uuid4().hex[:10]


@pytest.fixture
def run(ansible_playbook, tmp_path):
    """Run a playbook of this area with extra vars; returns (process, summary dict)."""
    counter = {"n": 0}

    def _run(playbook, expect_rc=0, **extra):
        counter["n"] += 1
        summary = str(tmp_path / ("summary-%d.json" % counter["n"]))
        extra_vars = dict(("keyops_test_%s" % k, v) for k, v in extra.items() if k not in ("diff", "verbosity"))
        extra_vars["keyops_test_summary_file"] = summary
        proc = ansible_playbook("ec2_key_pairs/%s" % playbook, extra_vars=extra_vars, expect_rc=expect_rc,
                                diff=extra.get("diff", False), verbosity=extra.get("verbosity", 0))
        with open(summary, encoding="utf-8") as handle:
            return proc, json.load(handle)

    return _run


# --------------------------------------------------------------------------- present, in three regions
def test_ed25519_across_three_regions(bed, run, key_name, tmp_path, no_secrets):
    pub = _keygen(tmp_path, "ed25519")
    proc, result = run("converge.yml", name=key_name, regions=REGIONS, public_key_path=pub,
                       tags={"owner": "platform", "rotation": "2026"}, diff=True, verbosity=4)
    expected_fp = ssh_keygen_ec2_ed25519(pub)
    for region in REGIONS:
        pair = held(bed, region, key_name)
        assert pair is not None, region
        assert _canonical(pair["PublicKey"]) == _canonical(_read(pub))
        assert held_tags(pair) == {"owner": "platform", "rotation": "2026"}
        assert result["run1"]["regions"][region]["action"] == "import"
        assert result["run1"]["regions"][region]["key_pair_id"] == pair["KeyPairId"]
        assert result["run1"]["regions"][region]["fingerprint"] == expected_fp
        assert result["run2"]["regions"][region]["action"] == "none"
        assert result["check1"]["regions"][region]["key_pair_id"] is None  # cannot be known before import
    assert result["run1"]["fingerprint"] == expected_fp
    assert result["run1"]["openssh_fingerprint"] == "SHA256:" + expected_fp.rstrip("=")
    assert result["run1"]["failed_regions"] == [] and result["run1"]["drift"] == []
    # the regions not listed were not touched
    assert held(bed, OTHER_REGION, key_name) is None
    # --diff shows presence and fingerprint before/after per region
    assert '"present": false' in proc.stdout and expected_fp in proc.stdout
    no_secrets(proc.stdout + proc.stderr, bed.known_secrets())


def test_rsa_fingerprint_checked_with_openssl(bed, run, key_name, tmp_path):
    pub = _keygen(tmp_path, "rsa")
    _proc, result = run("converge.yml", name=key_name, regions=REGIONS[:2], public_key=_read(pub))
    expected_fp = openssl_ec2_rsa(pub)
    assert result["run1"]["fingerprint"] == expected_fp
    assert result["check1"]["fingerprint"] == expected_fp
    for region in REGIONS[:2]:
        pair = held(bed, region, key_name)
        assert _canonical(pair["PublicKey"]) == _canonical(_read(pub))
        assert result["run1"]["regions"][region]["fingerprint"] == expected_fp


def test_all_regions(bed, run, key_name, tmp_path):
    pub = _keygen(tmp_path, "ed25519")
    listing = bed.client("ec2").describe_regions(AllRegions=True)["Regions"]
    # moto lists the regions of every partition; credentials of the aws partition work in it only
    partition = boto3.session.Session().get_partition_for_region
    enabled = sorted(r["RegionName"] for r in listing if r["OptInStatus"] in ("opt-in-not-required", "opted-in")
                     and partition(r["RegionName"]) == "aws")
    disabled = sorted(r["RegionName"] for r in listing if r["RegionName"] not in enabled)
    _proc, result = run("converge.yml", name=key_name, all_regions=True, public_key_path=pub)
    assert sorted(result["run1"]["regions"]) == enabled
    for region in enabled:
        assert _canonical(held(bed, region, key_name)["PublicKey"]) == _canonical(_read(pub)), region
    for region in disabled[:3]:
        assert held(bed, region, key_name) is None
    _proc, result = run("converge.yml", name=key_name, all_regions=True, state="absent")
    for region in enabled:
        assert held(bed, region, key_name) is None, region


# --------------------------------------------------------------------------- drift and force
def test_drift_fails_without_force_and_is_replaced_with_force_keeping_tags(bed, run, key_name, tmp_path):
    ours = _keygen(tmp_path, "ed25519")
    theirs = _keygen(tmp_path, "rsa")
    drift_region = REGIONS[1]
    # ours everywhere but the drift region, which holds another key with its own tags
    for region in (REGIONS[0], REGIONS[2]):
        bed.client("ec2", region).import_key_pair(KeyName=key_name, PublicKeyMaterial=_read(ours).encode())
    bed.client("ec2", drift_region).import_key_pair(
        KeyName=key_name, PublicKeyMaterial=_read(theirs).encode(),
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "blue"}]}])
    before = dict((region, held(bed, region, key_name)) for region in REGIONS)

    for check in (True, False):
        _proc, (result,) = run("attempt.yml", name=key_name, regions=REGIONS, public_key_path=ours,
                               tags={"owner": "platform"}, check=check)
        assert result["failed"] is True
        assert drift_region in result["msg"] and "drift" in result["msg"]
        assert result["failed_regions"] == [drift_region] and result["drift"] == [drift_region]
        assert result["regions"][drift_region]["action"] == "drift"
        assert result["regions"][drift_region]["fingerprint"] == openssl_ec2_rsa(theirs)
        # nothing changed in the drift region (same key pair, same material, same tags)
        now = held(bed, drift_region, key_name)
        assert now["KeyPairId"] == before[drift_region]["KeyPairId"]
        assert _canonical(now["PublicKey"]) == _canonical(_read(theirs))
        assert held_tags(now) == {"team": "blue"}
    # the other regions got their tags (the drift region does not hide them)
    for region in (REGIONS[0], REGIONS[2]):
        assert held_tags(held(bed, region, key_name)) == {"owner": "platform"}
        assert result["regions"][region]["action"] == "tag"

    _proc, result = run("converge.yml", name=key_name, regions=REGIONS, public_key_path=ours,
                        tags={"owner": "platform"}, force=True)
    assert result["run1"]["regions"][drift_region]["action"] == "replace"
    assert [result["run1"]["regions"][r]["action"] for r in (REGIONS[0], REGIONS[2])] == ["none", "none"]
    now = held(bed, drift_region, key_name)
    assert now["KeyPairId"] != before[drift_region]["KeyPairId"]
    assert _canonical(now["PublicKey"]) == _canonical(_read(ours))
    assert held_tags(now) == {"team": "blue", "owner": "platform"}  # kept across the replacement
    for region in (REGIONS[0], REGIONS[2]):
        assert held(bed, region, key_name)["KeyPairId"] == before[region]["KeyPairId"]


# --------------------------------------------------------------------------- absent
def test_absent_across_regions(bed, run, key_name, tmp_path):
    pub = _keygen(tmp_path, "ed25519")
    for region in REGIONS[:2]:  # the third region has none: missing is fine
        bed.client("ec2", region).import_key_pair(KeyName=key_name, PublicKeyMaterial=_read(pub).encode())
    bed.client("ec2", OTHER_REGION).import_key_pair(KeyName=key_name, PublicKeyMaterial=_read(pub).encode())
    _proc, result = run("converge.yml", name=key_name, regions=REGIONS, state="absent")
    assert [result["run1"]["regions"][r]["action"] for r in REGIONS] == ["delete", "delete", "none"]
    for region in REGIONS:
        assert held(bed, region, key_name) is None
    # a region not listed keeps its key pair; once nothing is left in the listed regions, the
    # hint says where the name still exists
    assert held(bed, OTHER_REGION, key_name) is not None
    assert OTHER_REGION in result["run2"]["hint"]


# --------------------------------------------------------------------------- info
def test_info_present_missing_drift_and_hint(bed, run, key_name, tmp_path):
    ours = _keygen(tmp_path, "ed25519")
    theirs = _keygen(tmp_path, "ed25519")
    regions = REGIONS + [OTHER_REGION]
    for region in REGIONS[:2]:
        bed.client("ec2", region).import_key_pair(KeyName=key_name, PublicKeyMaterial=_read(ours).encode())
    bed.client("ec2", REGIONS[2]).import_key_pair(KeyName=key_name, PublicKeyMaterial=_read(theirs).encode())
    lost = key_name + "-lost"
    bed.client("ec2", "ca-central-1").import_key_pair(KeyName=lost, PublicKeyMaterial=_read(theirs).encode())

    _proc, result = run("info.yml", name=key_name, regions=regions, public_key_path=ours, lost_name=lost)
    ref = result["reference"]
    assert ref["present_in"] == sorted(REGIONS)
    assert ref["missing_in"] == [OTHER_REGION]
    assert ref["drift"] == [REGIONS[2]]
    assert ref["reference"] == "public_key"
    assert ref["fingerprint"] == ssh_keygen_ec2_ed25519(ours)
    by_region = dict((entry["region"], entry) for entry in ref["key_pairs"])
    assert by_region[REGIONS[2]]["fingerprint"] == ssh_keygen_ec2_ed25519(theirs)
    assert by_region[REGIONS[0]]["public_key"] == _canonical(_read(ours))
    assert sorted(m["region"] for m in ref["matches"]) == sorted(REGIONS[:2])

    maj = result["majority"]
    assert maj["drift"] == [REGIONS[2]] and maj["reference"] == "majority"
    assert maj["fingerprint"] == ssh_keygen_ec2_ed25519(ours)

    names = result["all"]["key_names"]
    assert names[key_name]["drift"] == [REGIONS[2]]
    assert lost not in names  # it lives in a region not listed

    hint = result["lost"]
    assert hint["present_in"] == [] and hint["missing_in"] == sorted(regions)
    assert hint["found_elsewhere"] == ["ca-central-1"]
    assert "ca-central-1" in hint["hint"]


# --------------------------------------------------------------------------- failures and bad input
def test_failing_regions_do_not_hide_the_others(bed, run, key_name, tmp_path):
    """ap-east-1 is not enabled for the account; cn-north-1 refuses the aws partition's credentials."""
    pub = _keygen(tmp_path, "ed25519")
    _proc, (result,) = run("attempt.yml", name=key_name, regions=["us-east-1", "ap-east-1", "cn-north-1"],
                           public_key_path=pub)
    assert result["failed"] is True and "ap-east-1" in result["msg"] and "cn-north-1" in result["msg"]
    assert result["failed_regions"] == ["ap-east-1", "cn-north-1"]
    assert "not enabled" in result["regions"]["ap-east-1"]["msg"]
    assert result["regions"]["cn-north-1"]["error_code"] == "AuthFailure"
    assert result["regions"]["us-east-1"]["action"] == "import" and result["changed"] is True
    assert _canonical(held(bed, "us-east-1", key_name)["PublicKey"]) == _canonical(_read(pub))
    assert held(bed, "ap-east-1", key_name) is None


def _bad_inputs(tmp_path):
    good = _keygen(tmp_path, "ed25519")
    line = _read(good)
    ecdsa = _keygen(tmp_path, "ecdsa")
    private = good[:-len(".pub")]
    return good, [
        ("malformed", dict(public_key="ssh-ed25519 this-is-not-base64!"), "base64"),
        ("truncated", dict(public_key=line.split()[0] + " " + line.split()[1][:40]), "truncated"),
        ("ecdsa", dict(public_key_path=ecdsa), "EC2 imports only"),
        ("private", dict(public_key_path=private), "private key"),
        ("missing path", dict(public_key_path=str(tmp_path / "nope.pub")), "does not exist"),
        ("directory", dict(public_key_path=str(tmp_path)), "not a regular file"),
        ("unknown region", dict(public_key_path=good, regions=REGIONS + ["xx-nowhere-9"]), "unknown region xx-nowhere-9"),
        ("bad region name", dict(public_key_path=good, regions=["US East"]), "not an AWS region name"),
        ("no key", dict(), "needs public_key or public_key_path"),
        ("aws tag", dict(public_key_path=good, tags={"aws:x": "1"}), "reserved"),
    ]


def test_bad_input_changes_nothing(bed, run, key_name, tmp_path):
    _good, cases = _bad_inputs(tmp_path)
    attempts = [dict(args, label=label) for label, args, _words in cases]
    _proc, results = run("attempt.yml", name=key_name, regions=REGIONS, cases=attempts)
    assert len(results) == len(cases)
    for (label, _args, words), result in zip(cases, results):
        assert result["failed"] is True, label
        assert words in result["msg"], (label, result["msg"])
        assert result.get("changed") is False, label
    for region in REGIONS:
        assert held(bed, region, key_name) is None
