# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.aws.ssh_keypair and keyops.aws.authorized_keys against the bed: files, ssh-keygen, real ssh logins."""

import base64
import json
import os
import shutil
import stat
import struct
import subprocess
import uuid

import pytest

HOSTS = ("host1", "host2", "host3")

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")

UNRELATED = (
    "# keys added by hand: must survive byte for byte\r\n"
    'from="10.0.0.0/8,!10.1.*",command="echo a, b",environment="A=b c" {k1} ops team key\r\n'
    "\r\n"
    "   # indented comment\n"
    "restrict,cert-authority {k2} the CA, with spaces\n"
    "ssh-dss AAAAB3NzaC1kc3MAAAABAQAAAAEBAAAAAQEAAAABAQ== old dsa, ignored by sshd\n"
)


def keygen(directory, name, key_type="ed25519", comment=None):
    path = os.path.join(str(directory), name)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment or name, "-f", path],
        check=True, stdin=subprocess.DEVNULL,
    )
    with open(path + ".pub", encoding="utf-8") as handle:
        return path, handle.read().strip()


def keygen_fingerprint(path):
    out = subprocess.run(["ssh-keygen", "-l", "-f", path], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def write_bytes(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def unrelated_lines(tmp_path):
    _p1, k1 = keygen(tmp_path, "unrelated1-%s" % uuid.uuid4().hex[:6])
    _p2, k2 = keygen(tmp_path, "unrelated2-%s" % uuid.uuid4().hex[:6], "ecdsa")
    return UNRELATED.format(k1=" ".join(k1.split()[:2]), k2=" ".join(k2.split()[:2])).encode()


# ------------------------------------------------------------------------------ ssh_keypair


@pytest.mark.parametrize("key_type, size", [("ed25519", None), ("rsa", 3072)])
def test_ssh_keypair_generate_then_keep(bed, ansible_playbook, no_secrets, tmp_path, key_type, size):
    key_dir = tmp_path / "keys" / "nested"
    key_path = str(key_dir / "id_test")
    result_file = str(tmp_path / "result.json")
    extra = dict(key_path=key_path, result_file=result_file, key_type=key_type, key_comment="rotation 2026", expect_change=True)
    if size:
        extra["key_size"] = size
    ansible_playbook("ssh_keys/keypair.yml", extra_vars=extra, verbosity=4)
    with open(result_file, encoding="utf-8") as handle:
        result = json.load(handle)
    run1 = result["run1"]
    assert result["check1"]["fingerprint"] is None  # check mode generated nothing
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(key_dir)).st_mode) == 0o700
    assert keygen_fingerprint(key_path) == run1["fingerprint"]
    assert keygen_fingerprint(key_path + ".pub") == run1["fingerprint"]
    derived = subprocess.run(["ssh-keygen", "-y", "-f", key_path], check=True, capture_output=True, text=True).stdout.split()
    assert " ".join(derived[:2]) == " ".join(run1["public_key"].split()[:2])
    assert read_bytes(key_path + ".pub").decode().strip() == run1["public_key"]
    assert run1["public_key"].endswith(" rotation 2026")
    assert run1["size"] == (size or 256)
    if key_type == "ed25519":
        assert run1["ec2_fingerprint"] == run1["fingerprint"][len("SHA256:"):] + "="
    else:
        der = subprocess.run(
            "ssh-keygen -e -m PKCS8 -f %s.pub | openssl pkey -pubin -outform DER | openssl md5 -c" % key_path,
            shell=True, check=True, capture_output=True, text=True,
        ).stdout.split()[-1]
        assert run1["ec2_fingerprint"] == der

    # a second playbook run keeps the key: same bytes
    before = read_bytes(key_path)
    extra["expect_change"] = False
    ansible_playbook("ssh_keys/keypair.yml", extra_vars=extra)
    assert read_bytes(key_path) == before

    # another comment: only the public key file changes
    extra.update(key_comment="renamed", expect_change=True)
    ansible_playbook("ssh_keys/keypair.yml", extra_vars=extra)
    assert read_bytes(key_path) == before
    assert read_bytes(key_path + ".pub").decode().split()[2:] == ["renamed"]
    for output in ansible_playbook.outputs:
        no_secrets(output, bed.known_secrets())


def test_ssh_keypair_passphrase_never_leaks(bed, ansible_playbook, no_secrets, tmp_path):
    pytest.importorskip("bcrypt")
    passphrase = "pp-%s" % uuid.uuid4().hex
    key_path = str(tmp_path / "protected")
    secret_file = str(tmp_path / "passphrase")
    write_bytes(secret_file, passphrase.encode())
    extra = dict(key_path=key_path, result_file=str(tmp_path / "r.json"), key_passphrase_file=secret_file, expect_change=True)
    ansible_playbook("ssh_keys/keypair.yml", extra_vars=extra, verbosity=4, diff=True)
    # ssh-keygen opens it with the passphrase and refuses without
    ok = subprocess.run(["ssh-keygen", "-y", "-P", passphrase, "-f", key_path], capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    bad = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", key_path], capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    before = read_bytes(key_path)
    # a wrong passphrase: clear error, nothing changed
    wrong = "wrong-%s" % uuid.uuid4().hex
    write_bytes(secret_file, wrong.encode())
    proc = ansible_playbook("ssh_keys/keypair.yml", extra_vars=extra, expect_rc=2, verbosity=4)
    assert "cannot be opened with the passphrase given" in proc.stdout
    assert read_bytes(key_path) == before
    for output in ansible_playbook.outputs:
        no_secrets(output, bed.known_secrets() + [passphrase, wrong])


# ------------------------------------------------------------------------------ authorized_keys


def _results(result_dir, host):
    with open(os.path.join(result_dir, "%s.json" % host), encoding="utf-8") as handle:
        return json.load(handle)


def test_authorized_keys_add_login_remove(bed, ansible_playbook, no_secrets, tmp_path):
    key_path, public = keygen(tmp_path, "rotated-%s" % uuid.uuid4().hex[:8])
    fingerprint = keygen_fingerprint(key_path)
    blob = public.split()[1]
    originals = {}
    for host in HOSTS:
        originals[host] = unrelated_lines(tmp_path)
        write_bytes(bed.host(host)["authorized_keys"], originals[host])
        assert bed.ssh(host, key_path).returncode != 0  # not yet accepted

    # add (with options that still allow a login) on host1..3, check -> run -> check -> run, with --diff
    result_dir = tmp_path / "add"
    result_dir.mkdir()
    keys = [{"key": public, "options": 'no-agent-forwarding,from="127.0.0.1"', "comment": "rotation-2026"}]
    proc = ansible_playbook(
        "ssh_keys/authorized_keys.yml", extra_vars=dict(result_dir=str(result_dir), ak_keys=keys), diff=True
    )
    # the diff shows keys by fingerprint and comment, never as key data
    assert "+++ after" in proc.stdout
    assert "+no-agent-forwarding,from=\"127.0.0.1\" ssh-ed25519 %s rotation-2026" % fingerprint in proc.stdout
    assert blob not in proc.stdout
    for host in HOSTS:
        path = bed.host(host)["authorized_keys"]
        data = read_bytes(path)
        expected_line = 'no-agent-forwarding,from="127.0.0.1" %s rotation-2026\n' % " ".join(public.split()[:2])
        assert data == originals[host] + expected_line.encode()  # unrelated lines byte for byte
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        login = bed.ssh(host, key_path, "echo logged-in")
        assert login.returncode == 0 and login.stdout.strip() == "logged-in", login.stderr
        result = _results(str(result_dir), host)
        assert result["run1"]["added"] == [{"fingerprint": fingerprint, "comment": "rotation-2026"}]

    # remove by fingerprint: the login is refused, everything else unchanged byte for byte
    result_dir = tmp_path / "remove"
    result_dir.mkdir()
    ansible_playbook("ssh_keys/authorized_keys.yml", extra_vars=dict(result_dir=str(result_dir), ak_remove=[fingerprint]), verbosity=4)
    for host in HOSTS:
        assert read_bytes(bed.host(host)["authorized_keys"]) == originals[host]
        assert bed.ssh(host, key_path).returncode != 0
        assert bed.ssh(host, bed.admin_key).returncode == 0
        assert _results(str(result_dir), host)["run1"]["removed"] == [{"fingerprint": fingerprint, "comment": "rotation-2026"}]
    for output in ansible_playbook.outputs:
        no_secrets(output, bed.known_secrets())


def test_authorized_keys_options_update_in_place_and_exclusive(bed, ansible_playbook, tmp_path):
    old_path, old = keygen(tmp_path, "old-%s" % uuid.uuid4().hex[:8])
    new_path, new = keygen(tmp_path, "new-%s" % uuid.uuid4().hex[:8])
    new = " ".join(new.split()[:2])  # without its comment
    host = "host2"
    path = bed.host(host)["authorized_keys"]
    original = unrelated_lines(tmp_path)
    write_bytes(path, original + ("no-pty %s keyops:old\n" % " ".join(old.split()[:2])).encode())
    result_dir = tmp_path / "r"
    result_dir.mkdir()
    # the new key in, the old managed one out (managed by comment prefix), the rest untouched
    inventory = bed.write_inventory(str(tmp_path / "inv.json"), hosts=[host])
    ansible_playbook(
        "ssh_keys/authorized_keys.yml",
        inventory=inventory,
        extra_vars=dict(result_dir=str(result_dir), ak_keys=["%s keyops:new" % new], ak_exclusive=True, ak_managed_comment="keyops:"),
    )
    assert read_bytes(path) == original + ("%s keyops:new\n" % " ".join(new.split()[:2])).encode()
    assert bed.ssh(host, new_path).returncode == 0
    assert bed.ssh(host, old_path).returncode != 0
    # same key, other options: one line, updated in place (a forced command proves sshd reads them)
    ansible_playbook(
        "ssh_keys/authorized_keys.yml",
        inventory=inventory,
        extra_vars=dict(result_dir=str(result_dir), ak_keys=[{"key": new, "options": 'command="echo forced, yes"'}]),
    )
    data = read_bytes(path)
    assert data == original + ('command="echo forced, yes" %s keyops:new\n' % " ".join(new.split()[:2])).encode()
    assert bed.ssh(host, new_path, "echo mine").stdout.strip() == "forced, yes"
    result = _results(str(result_dir), host)
    assert [a["action"] for a in result["run1"]["actions"]] == ["update"]


def test_authorized_keys_new_file_in_new_directory(bed, ansible_playbook, tmp_path):
    """A custom path (as AuthorizedKeysFile allows) whose directory does not exist yet."""
    _path, public = keygen(tmp_path, "fresh-%s" % uuid.uuid4().hex[:8])
    host = bed.host("host1")
    directory = os.path.join(host["home"], "fresh-%s" % uuid.uuid4().hex[:6], ".ssh")
    target = os.path.join(directory, "authorized_keys")
    inventory = bed.write_inventory(str(tmp_path / "inv.json"), hosts=["host1"])
    result_dir = tmp_path / "r"
    result_dir.mkdir()
    ansible_playbook(
        "ssh_keys/authorized_keys.yml", inventory=inventory,
        extra_vars=dict(result_dir=str(result_dir), ak_path=target, ak_keys=[public]),
    )
    assert read_bytes(target) == (public + "\n").encode()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.dirname(directory)).st_mode) == 0o700
    assert os.listdir(directory) == ["authorized_keys"]


def test_authorized_keys_bad_input_changes_nothing(bed, ansible_playbook, tmp_path):
    _path, good = keygen(tmp_path, "good-%s" % uuid.uuid4().hex[:8])
    path = bed.host("host1")["authorized_keys"]
    original = unrelated_lines(tmp_path)
    write_bytes(path, original)
    mtime = os.stat(path).st_mtime_ns
    blob = base64.b64decode(good.split()[1])
    truncated = "ssh-ed25519 " + base64.b64encode(blob[:-6]).decode()
    dsa = "ssh-dss " + base64.b64encode(struct.pack(">I", 7) + b"ssh-dss" + (struct.pack(">I", 1) + b"\x01") * 4).decode()
    symlink = str(tmp_path / "link_to_authorized_keys")
    os.symlink(path, symlink)
    before_listing = sorted(os.listdir(bed.host("host1")["dir"]))
    ansible_playbook(
        "ssh_keys/bad_input.yml", extra_vars=dict(good_key=good, truncated_key=truncated, dsa_key=dsa, symlink_path=symlink)
    )
    assert read_bytes(path) == original
    assert os.stat(path).st_mtime_ns == mtime
    assert sorted(os.listdir(bed.host("host1")["dir"])) == before_listing  # no temp file left behind


def test_authorized_keys_parallel_edits_all_survive(bed, ansible_playbook, tmp_path):
    """Ten inventory aliases of host3 add ten keys at once: the lock keeps every edit."""
    host = bed.host("host3")
    original = unrelated_lines(tmp_path)
    write_bytes(host["authorized_keys"], original)
    with open(bed.inventory, encoding="utf-8") as handle:
        inventory = json.load(handle)
    base = dict(inventory["all"]["hosts"]["host3"])
    aliases = {}
    keys = {}
    for index in range(10):
        key_path, public = keygen(tmp_path, "parallel%d-%s" % (index, uuid.uuid4().hex[:6]))
        keys[key_path] = public
        entry = dict(base)
        entry["alias_key"] = public
        aliases["alias%d" % index] = entry
    inventory["all"]["hosts"] = aliases
    inventory["all"]["children"] = {}
    inventory_path = str(tmp_path / "aliases.json")
    with open(inventory_path, "w", encoding="utf-8") as handle:
        json.dump(inventory, handle)
    ansible_playbook("ssh_keys/parallel.yml", inventory=inventory_path, env={"ANSIBLE_FORKS": "10"})
    data = read_bytes(host["authorized_keys"])
    assert data.startswith(original)
    lines = data[len(original):].decode().splitlines()
    assert sorted(lines) == sorted(keys.values())
    for key_path in keys:
        assert bed.ssh("host3", key_path).returncode == 0


def test_authorized_keys_many_concurrent_module_runs_lose_nothing(bed, tmp_path):
    """Thirty runs of the module started at once on one file (no Ansible fork spreading them out).

    Without the lock about half of the edits were lost in this test (measured: 12-19 of 30 kept).
    """
    roots = [p for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p]
    if not roots:
        pytest.skip("ANSIBLE_COLLECTIONS_PATH is not set (scripts/test sets it)")
    import sys  # pylint: disable=import-outside-toplevel

    host = bed.host("host3")
    original = unrelated_lines(tmp_path)
    write_bytes(host["authorized_keys"], original)
    keys, procs = [], []
    for index in range(30):
        key_path, public = keygen(tmp_path, "burst%d-%s" % (index, uuid.uuid4().hex[:6]))
        keys.append((key_path, public))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(roots))
    for index, (_key_path, public) in enumerate(keys):
        args = tmp_path / ("args%d.json" % index)
        args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"path": host["authorized_keys"], "keys": [public]}}))
        procs.append(
            subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-m", "ansible_collections.keyops.aws.plugins.modules.authorized_keys", str(args)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        )
    results = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    assert all(result["changed"] and not result.get("failed") for result in results)
    data = read_bytes(host["authorized_keys"])
    assert data.startswith(original)
    assert sorted(data[len(original):].decode().splitlines()) == sorted(public for _path, public in keys)
    assert stat.S_IMODE(os.stat(host["authorized_keys"]).st_mode) == 0o600
    assert not [name for name in os.listdir(host["dir"]) if name.endswith(".tmp")]
    for key_path, _public in keys[:3]:
        assert bed.ssh("host3", key_path).returncode == 0
