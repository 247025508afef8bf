# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role keyops.aws.key_pair_rotation against the bed: three sshd hosts and three moto regions.

Every outcome is checked outside the role: EC2 key pairs through boto3 in each region, the hosts'
authorized_keys files, and real ssh logins with the controller's private keys (``bed.ssh``).
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import uuid

import pytest

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
HOSTS = ["host1", "host2", "host3"]
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


# --------------------------------------------------------------------------- helpers
def recap(proc):
    """{host: {"ok", "changed", "unreachable", "failed"}} from the PLAY RECAP."""
    stats = {}
    for host, ok, changed, unreachable, failed in RECAP_RE.findall(proc.stdout):
        stats[host] = {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
    assert stats, proc.stdout[-3000:]
    return stats


def total_changed(proc):
    return sum(entry["changed"] for entry in recap(proc).values())


def canonical(public_key_line):
    return " ".join(public_key_line.split()[:2])


def fingerprint(public_key_line):
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def authorized_canonicals(bed, host):
    path = bed.host(host)["authorized_keys"]
    if not os.path.exists(path):
        return set()
    return {canonical(line) for line in read(path).splitlines() if line.strip() and not line.startswith("#")}


def region_material(bed, region, name):
    """The public key EC2 holds under name in region (canonical), or None."""
    ec2 = bed.client("ec2", region)
    pairs = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}], IncludePublicKey=True)["KeyPairs"]
    if not pairs:
        return None
    return canonical(pairs[0]["PublicKey"])


def snapshot(path):
    """Every file under path with its bytes and mode (for 'nothing changed' assertions)."""
    found = {}
    if not os.path.exists(path):
        return found
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as handle:
                found[os.path.relpath(full, path)] = (handle.read(), os.stat(full).st_mode)
    return found


def private_key_secrets(key_dir):
    """Lines of every private key body under key_dir: none of them may appear in any output."""
    secrets = []
    for root, _dirs, files in os.walk(key_dir):
        for name in files:
            if name.endswith(".pub") or name.endswith(".json"):
                continue
            for line in read(os.path.join(root, name)).splitlines():
                if line and not line.startswith("-----"):
                    secrets.append(line)
    return secrets


class Rotation:
    """One rotated key pair name with its own key directory and inventories."""

    def __init__(self, bed, ansible_playbook, tmp_path):
        self.bed = bed
        self.run_playbook = ansible_playbook
        self.tmp = tmp_path
        self.name = "kpr-%s" % uuid.uuid4().hex[:10]
        self.key_dir = str(tmp_path / "keys")
        self.summary_path = str(tmp_path / "summary.json")
        self.inventory = self.write_inventory("inventory.yml")

    @property
    def current(self):
        return os.path.join(self.key_dir, self.name)

    def current_public(self):
        return read(self.current + ".pub").strip()

    def copy_current(self, file_name):
        """A 0600 copy of the current private key (to log in with it after it is rotated away)."""
        path = str(self.tmp / file_name)
        with open(self.current, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        os.chmod(path, 0o600)
        return path

    def write_inventory(self, file_name, hostvars=None, common=None):
        per_host = {}
        for host in HOSTS:
            entry = {"key_pair_rotation_authorized_keys_path": self.bed.host(host)["authorized_keys"],
                     "ansible_pipelining": True}
            entry.update(common or {})
            entry.update((hostvars or {}).get(host, {}))
            per_host[host] = entry
        return self.bed.write_inventory(str(self.tmp / file_name), hostvars=per_host)

    def run(self, check=False, force=False, inventory=None, playbook="key_pair_rotation/rotate.yml",
            expect_rc=0, verbosity=0, extra=None, env=None):
        extra_vars = {
            "key_pair_rotation_name": self.name,
            "key_pair_rotation_regions": REGIONS,
            "key_pair_rotation_key_dir": self.key_dir,
            "key_pair_rotation_force": force,
            "summary_path": self.summary_path,
        }
        extra_vars.update(extra or {})
        if os.path.exists(self.summary_path):
            os.unlink(self.summary_path)
        return self.run_playbook(playbook, inventory=inventory or self.inventory, extra_vars=extra_vars,
                                 check=check, expect_rc=expect_rc, verbosity=verbosity, env=env)

    def summary(self):
        with open(self.summary_path, encoding="utf-8") as handle:
            return json.load(handle)

    def assert_converged(self, hosts=tuple(HOSTS)):
        public = canonical(self.current_public())
        for region in REGIONS:
            assert region_material(self.bed, region, self.name) == public, region
        for host in hosts:
            assert public in authorized_canonicals(self.bed, host), host
            login = self.bed.ssh(host, self.current, "echo ok")
            assert login.returncode == 0 and login.stdout.strip() == "ok", (host, login.stderr)


@pytest.fixture
def rotation(bed, ansible_playbook, tmp_path):
    return Rotation(bed, ansible_playbook, tmp_path)


# --------------------------------------------------------------------------- tests
def test_first_rotation_check_run_check_run(rotation, bed, no_secrets):
    before_hosts = {host: read(bed.host(host)["authorized_keys"]) if os.path.exists(bed.host(host)["authorized_keys"]) else None
                    for host in HOSTS}

    first_check = rotation.run(check=True)
    assert total_changed(first_check) > 0
    assert not os.path.exists(rotation.current) and not os.path.exists(rotation.current + ".new")
    assert all(region_material(bed, region, rotation.name) is None for region in REGIONS)
    for host in HOSTS:
        path = bed.host(host)["authorized_keys"]
        assert (read(path) if os.path.exists(path) else None) == before_hosts[host]
    assert rotation.summary()["rotation"] == "would rotate (no_key)"

    first = rotation.run(verbosity=4)
    stats = recap(first)
    assert all(stats[host]["changed"] > 0 for host in HOSTS), stats
    rotation.assert_converged()
    assert not os.path.exists(rotation.current + ".new")
    assert oct(os.stat(rotation.current).st_mode & 0o777) == "0o600"
    assert oct(os.stat(rotation.key_dir).st_mode & 0o777) == "0o700"
    summary = rotation.summary()
    assert summary["rotation"] == "rotated (no_key)"
    assert summary["pending_hosts"] == []
    assert summary["regions"] == {region: "import" for region in REGIONS}
    assert summary["current_key"]["fingerprint"] == fingerprint(rotation.current_public())
    no_secrets(first.stdout + first.stderr, bed.known_secrets() + private_key_secrets(rotation.key_dir))

    second_check = rotation.run(check=True)
    assert total_changed(second_check) == 0, recap(second_check)
    second = rotation.run()
    assert total_changed(second) == 0, recap(second)
    assert rotation.summary()["rotation"] == "not due"
    rotation.assert_converged()


def test_forced_rotation_removes_old_key(rotation, bed):
    rotation.run()
    old_public = rotation.current_public()
    old_copy = rotation.copy_current("old_key")

    # check mode predicts the rotation and changes nothing anywhere
    keys_before = snapshot(rotation.key_dir)
    hosts_before = {host: read(bed.host(host)["authorized_keys"]) for host in HOSTS}
    regions_before = {region: region_material(bed, region, rotation.name) for region in REGIONS}
    checked = rotation.run(check=True, force=True)
    assert total_changed(checked) > 0
    assert rotation.summary()["rotation"] == "would rotate (force)"
    assert snapshot(rotation.key_dir) == keys_before
    assert {host: read(bed.host(host)["authorized_keys"]) for host in HOSTS} == hosts_before
    assert {region: region_material(bed, region, rotation.name) for region in REGIONS} == regions_before

    forced = rotation.run(force=True)
    assert total_changed(forced) > 0
    new_public = rotation.current_public()
    assert canonical(new_public) != canonical(old_public)
    rotation.assert_converged()
    for host in HOSTS:
        assert canonical(old_public) not in authorized_canonicals(bed, host), host
        assert bed.ssh(host, old_copy).returncode != 0, host
    summary = rotation.summary()
    assert summary["rotation"] == "rotated (force)"
    assert summary["regions"] == {region: "replace" for region in REGIONS}
    assert summary["retired_fingerprints"] == [fingerprint(old_public)]
    for host in HOSTS:
        assert summary["hosts"][host]["removed"] == [fingerprint(old_public)]
    # the retired private key is kept (0600) in the key directory
    retired_dir = rotation.current + ".retired"
    retired = [name for name in os.listdir(retired_dir) if not name.endswith(".pub")]
    assert len(retired) == 1
    assert canonical(read(os.path.join(retired_dir, retired[0] + ".pub"))) == canonical(old_public)
    assert oct(os.stat(os.path.join(retired_dir, retired[0])).st_mode & 0o777) == "0o600"


def test_unreachable_host_keeps_old_key_then_converges(rotation, bed):
    rotation.run()
    old_public = rotation.current_public()
    old_copy = rotation.copy_current("old_key")
    host2_before = read(bed.host("host2")["authorized_keys"])

    # host2 is down for this run: its port is wrong in a copy of the inventory
    down = rotation.write_inventory("down.yml", hostvars={"host2": {"ansible_port": 1}})
    forced = rotation.run(force=True, inventory=down, expect_rc=4)
    stats = recap(forced)
    assert stats["host2"]["unreachable"] == 1
    new_public = rotation.current_public()
    assert canonical(new_public) != canonical(old_public)
    rotation.assert_converged(hosts=["host1", "host3"])
    for host in ("host1", "host3"):
        assert canonical(old_public) not in authorized_canonicals(bed, host)
    # host2 keeps its old key (still accepted) and is reported as pending
    assert read(bed.host("host2")["authorized_keys"]) == host2_before
    assert bed.ssh("host2", old_copy).returncode == 0
    assert bed.ssh("host2", rotation.current).returncode != 0
    summary = rotation.summary()
    assert summary["pending_hosts"] == ["host2"]
    assert summary["hosts"]["host2"]["pending"] is True
    assert summary["hosts"]["host1"]["pending"] is False
    # the key host2 still accepts is kept on the controller
    retired_dir = rotation.current + ".retired"
    kept = [os.path.join(retired_dir, n) for n in os.listdir(retired_dir) if not n.endswith(".pub")]
    assert bed.ssh("host2", kept[0]).returncode == 0

    # host2 is back: a normal (not due) run converges it and removes the retired key there
    back = rotation.run()
    stats = recap(back)
    assert stats["host2"]["changed"] > 0 and stats["host1"]["changed"] == 0 and stats["host3"]["changed"] == 0, stats
    rotation.assert_converged()
    assert canonical(old_public) not in authorized_canonicals(bed, "host2")
    assert bed.ssh("host2", old_copy).returncode != 0
    assert rotation.summary()["hosts"]["host2"]["removed"] == [fingerprint(old_public)]


def test_host_that_missed_a_rotation_is_reached_with_the_retired_key(rotation, bed):
    """Ansible logs in with <key_dir>/<name> itself; host2 missed the rotation, so that file (now the
    new key) no longer opens it: the role logs in with the retired key host2 still accepts and converges it."""
    rotation.run()
    old_public = rotation.current_public()
    down = rotation.write_inventory("down.yml", hostvars={"host2": {"ansible_port": 1}})
    rotation.run(force=True, inventory=down, expect_rc=4)
    assert canonical(old_public) in authorized_canonicals(bed, "host2")
    assert bed.ssh("host2", rotation.current).returncode != 0

    direct = rotation.write_inventory("direct.yml", common={"ansible_ssh_private_key_file": rotation.current})
    back = rotation.run(inventory=direct)
    stats = recap(back)
    assert all(stats[host]["failed"] == 0 and stats[host]["unreachable"] == 0 for host in HOSTS), stats
    rotation.assert_converged()
    assert canonical(old_public) not in authorized_canonicals(bed, "host2")
    summary = rotation.summary()
    assert summary["pending_hosts"] == []
    assert summary["hosts"]["host2"]["connection_switched"] is True
    assert summary["hosts"]["host1"]["connection_switched"] is False


def test_connection_switches_to_new_key(rotation, bed):
    rotation.run()
    old_public = rotation.current_public()
    # Ansible logs in with a copy of the current key (only that key: IdentitiesOnly in the bed's args)
    connection_key = rotation.copy_current("connection_key")
    inventory = rotation.write_inventory("as_rotated.yml", common={"ansible_ssh_private_key_file": connection_key})
    keys_path = str(rotation.tmp / "connection_keys.json")

    proc = rotation.run(force=True, inventory=inventory, playbook="key_pair_rotation/switch.yml",
                        extra={"connection_keys_path": keys_path})
    stats = recap(proc)
    assert all(stats[host]["failed"] == 0 and stats[host]["unreachable"] == 0 for host in HOSTS), stats
    rotation.assert_converged()
    for host in HOSTS:
        assert canonical(old_public) not in authorized_canonicals(bed, host)
        assert bed.ssh(host, connection_key).returncode != 0
    with open(keys_path, encoding="utf-8") as handle:
        assert json.load(handle) == {host: rotation.current for host in HOSTS}

    # inventory pointing at <key_dir>/<name> itself: the play carries on through the rotation too
    direct = rotation.write_inventory("direct.yml", common={"ansible_ssh_private_key_file": rotation.current})
    proc = rotation.run(force=True, inventory=direct, playbook="key_pair_rotation/switch.yml",
                        extra={"connection_keys_path": keys_path})
    assert all(entry["failed"] == 0 and entry["unreachable"] == 0 for entry in recap(proc).values())
    rotation.assert_converged()


def test_drifted_region_is_repaired_when_not_due(rotation, bed, tmp_path):
    rotation.run()
    other = str(tmp_path / "other")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "drift", "-f", other], check=True)
    ec2 = bed.client("ec2", "eu-west-1")
    ec2.delete_key_pair(KeyName=rotation.name)
    ec2.import_key_pair(KeyName=rotation.name, PublicKeyMaterial=read(other + ".pub").encode())
    assert region_material(bed, "eu-west-1", rotation.name) == canonical(read(other + ".pub"))
    keys_before = snapshot(rotation.key_dir)

    repaired = rotation.run()
    assert total_changed(repaired) == 1, recap(repaired)
    summary = rotation.summary()
    assert summary["rotation"] == "not due"
    assert summary["regions"] == {"us-east-1": "none", "eu-west-1": "replace", "ap-southeast-2": "none"}
    rotation.assert_converged()
    assert snapshot(rotation.key_dir) == keys_before
    assert total_changed(rotation.run()) == 0


def test_interrupted_rotation_resumes_with_pending_key(rotation, bed):
    rotation.run()
    old_public = rotation.current_public()
    # a run died after generating <name>.new (and maybe after adding it to some hosts)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pending", "-f", rotation.current + ".new"],
                   check=True)
    pending_public = read(rotation.current + ".new.pub").strip()
    with open(bed.host("host1")["authorized_keys"], "a", encoding="utf-8") as handle:
        handle.write(pending_public + "\n")

    resumed = rotation.run()  # not forced, the key is young: the pending key alone makes it due
    assert total_changed(resumed) > 0
    assert canonical(rotation.current_public()) == canonical(pending_public)
    assert not os.path.exists(rotation.current + ".new")
    assert rotation.summary()["rotation"] == "rotated (pending)"
    rotation.assert_converged()
    for host in HOSTS:
        assert canonical(old_public) not in authorized_canonicals(bed, host)


def test_verify_refuses_a_key_the_host_lacks_even_with_a_master(bed, ansible_playbook, tmp_path):
    other = str(tmp_path / "other")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    result_path = str(tmp_path / "verify.json")
    host = bed.host("host1")
    # a multiplexed master authenticated with the admin key, on a ControlPath the host's args name
    control = str(tmp_path / "cm")
    master = ["ssh", "-i", bed.admin_key, "-p", str(host["port"]), "-o", "IdentitiesOnly=yes",
              "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=%s" % os.path.join(bed.workdir, "known_hosts"),
              "-o", "ControlMaster=yes", "-o", "ControlPath=%s" % control, "-o", "ControlPersist=60",
              "-o", "BatchMode=yes", "root@127.0.0.1", "true"]
    subprocess.run(master, check=True, capture_output=True, timeout=30)
    try:
        assert os.path.exists(control)
        extra = {"key_under_test": other, "result_path": result_path,
                 "verify_extra_ssh_args": "-o ControlMaster=auto -o ControlPath=%s" % control}
        ansible_playbook("key_pair_rotation/verify.yml", extra_vars=extra, limit="host1")
        with open(result_path, encoding="utf-8") as handle:
            result = json.load(handle)
        assert result["verified"] is False and result["reason"] == "rejected", result

        extra["key_under_test"] = bed.admin_key
        ansible_playbook("key_pair_rotation/verify.yml", extra_vars=extra, limit="host1")
        with open(result_path, encoding="utf-8") as handle:
            result = json.load(handle)
        assert result["verified"] is True and result["reason"] == "ok", result
        assert result["accepted_fingerprint"] == fingerprint(read(bed.admin_key + ".pub"))
        assert result["connection_key_fingerprint"] == result["accepted_fingerprint"]
    finally:
        subprocess.run(["ssh", "-o", "ControlPath=%s" % control, "-O", "exit", "127.0.0.1"],
                       capture_output=True, timeout=30, check=False)


def test_hosts_asking_for_different_key_pairs_fail_before_any_change(rotation, bed):
    mixed = rotation.write_inventory("mixed.yml", hostvars={"host2": {"key_pair_rotation_type": "rsa"}})
    proc = rotation.run(inventory=mixed, expect_rc=2)
    assert "ask for different key pair settings" in proc.stdout
    assert not os.path.exists(rotation.key_dir)
    assert all(region_material(bed, region, rotation.name) is None for region in REGIONS)


def test_host_that_does_not_accept_the_new_key_keeps_the_old_one(rotation, bed):
    """host3's variables point at a file sshd does not read: the key lands there, the proof login
    fails (no multiplexed connection can fake it), host3 fails and keeps its old key; the others rotate."""
    rotation.run()
    old_public = rotation.current_public()
    host3_before = read(bed.host("host3")["authorized_keys"])
    unread = os.path.join(bed.host("host3")["home"], "%s_keys" % rotation.name)
    wrong = rotation.write_inventory("wrong.yml", hostvars={"host3": {"key_pair_rotation_authorized_keys_path": unread}})
    proc = rotation.run(force=True, inventory=wrong, expect_rc=2)
    stats = recap(proc)
    assert stats["host3"]["failed"] == 1 and stats["host1"]["failed"] == 0, stats
    assert "the host refused the key" in proc.stdout
    assert canonical(rotation.current_public()) in {canonical(line) for line in read(unread).splitlines()}
    assert read(bed.host("host3")["authorized_keys"]) == host3_before
    rotation.assert_converged(hosts=["host1", "host2"])
    assert bed.ssh("host3", rotation.current).returncode != 0
    retired_dir = rotation.current + ".retired"
    kept = [os.path.join(retired_dir, n) for n in os.listdir(retired_dir) if not n.endswith(".pub")]
    assert bed.ssh("host3", kept[0]).returncode == 0
    summary = rotation.summary()
    assert summary["pending_hosts"] == ["host3"] and canonical(old_public) not in authorized_canonicals(bed, "host1")


def test_unknown_region_fails_before_any_key_is_generated(rotation, bed):
    """issue 9: a region name no partition has fails naming the variable; no key, no host touched."""
    before = {host: snapshot(bed.host(host)["home"]) for host in HOSTS}
    proc = rotation.run(extra={"key_pair_rotation_regions": ["us-east-1", "moon-1"]}, expect_rc=2)
    assert "key_pair_rotation_regions" in proc.stdout and "'moon-1' is not an EC2 region" in proc.stdout
    assert not os.path.exists(rotation.key_dir) or not os.listdir(rotation.key_dir)
    assert {host: snapshot(bed.host(host)["home"]) for host in HOSTS} == before
    assert region_material(bed, "us-east-1", rotation.name) is None


def test_aws_settings_reach_the_import_through_module_defaults(rotation, bed, no_secrets):
    """key_pair_rotation_aws (inventory variables: ansible-playbook itself echoes -e at -vvvv) is the
    only way to the bed here (the environment points elsewhere), and its secret appears nowhere at -vvvv."""
    aws = {"endpoint_url": bed.endpoint, "access_key": bed.state["admin"]["access_key_id"],
           "secret_key": bed.state["admin"]["secret_access_key"], "region": "us-east-1"}
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    inventory = rotation.write_inventory("aws.yml", common={"key_pair_rotation_aws": aws})
    first = rotation.run(inventory=inventory, env=env, verbosity=4)
    rotation.assert_converged()
    assert rotation.summary()["regions"] == {region: "import" for region in REGIONS}
    no_secrets(first.stdout + first.stderr, bed.known_secrets() + private_key_secrets(rotation.key_dir))
    assert total_changed(rotation.run(inventory=inventory, env=env)) == 0


# --------------------------------------------------------------------------- several environments (issue 12)
ENVIRONMENTS = {"dev": {"hosts": ["host1"], "regions": ["us-east-1"]},
                "prod": {"hosts": ["host2", "host3"], "regions": ["eu-west-1", "ap-southeast-2"]}}


class Environments:
    """dev and prod groups with their own key pair name and regions (group variables), one play."""

    def __init__(self, bed, ansible_playbook, tmp_path):
        self.bed = bed
        self.run_playbook = ansible_playbook
        self.tmp = tmp_path
        suffix = uuid.uuid4().hex[:8]
        self.names = {env: "kpr-%s-%s" % (env, suffix) for env in ENVIRONMENTS}
        self.key_dir = str(tmp_path / "keys")
        self.summary_path = str(tmp_path / "summary.json")

    def key(self, env):
        return os.path.join(self.key_dir, self.names[env])

    def write_inventory(self, file_name="environments.yml", regions=None):
        path = str(self.tmp / file_name)
        hostvars = {host: {"key_pair_rotation_authorized_keys_path": self.bed.host(host)["authorized_keys"],
                           "ansible_pipelining": True} for host in HOSTS}
        self.bed.write_inventory(path, groups={env: spec["hosts"] for env, spec in ENVIRONMENTS.items()},
                                 hostvars=hostvars)
        with open(path, encoding="utf-8") as handle:
            inventory = json.load(handle)
        for env, spec in ENVIRONMENTS.items():
            inventory["all"]["children"][env]["vars"] = {
                "key_pair_rotation_name": self.names[env],
                "key_pair_rotation_regions": (regions or {}).get(env, spec["regions"]),
            }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(inventory, handle, indent=2)
        return path

    def run(self, check=False, inventory=None, expect_rc=0, verbosity=0):
        if os.path.exists(self.summary_path):
            os.unlink(self.summary_path)
        return self.run_playbook("key_pair_rotation/environments.yml", inventory=inventory or self.write_inventory(),
                                 extra_vars={"key_pair_rotation_key_dir": self.key_dir, "summary_path": self.summary_path},
                                 check=check, expect_rc=expect_rc, verbosity=verbosity)

    def summary(self):
        with open(self.summary_path, encoding="utf-8") as handle:
            return json.load(handle)

    def assert_converged(self):
        for env, spec in ENVIRONMENTS.items():
            name, key = self.names[env], self.key(env)
            public = canonical(read(key + ".pub"))
            for region in REGIONS:
                expected = public if region in spec["regions"] else None
                assert region_material(self.bed, region, name) == expected, (env, region)
            for host in HOSTS:
                login = self.bed.ssh(host, key, "echo ok")
                if host in spec["hosts"]:
                    assert public in authorized_canonicals(self.bed, host), (env, host)
                    assert login.returncode == 0 and login.stdout.strip() == "ok", (env, host, login.stderr)
                else:
                    assert public not in authorized_canonicals(self.bed, host), (env, host)
                    assert login.returncode != 0, (env, host)


def test_each_environment_rotates_its_own_key_pair_on_its_own_hosts(bed, ansible_playbook, tmp_path, no_secrets):
    envs = Environments(bed, ansible_playbook, tmp_path)
    hosts_before = {host: snapshot(bed.host(host)["home"]) for host in HOSTS}

    checked = envs.run(check=True)
    assert total_changed(checked) > 0
    assert not os.path.exists(envs.key_dir) or not os.listdir(envs.key_dir)
    assert {host: snapshot(bed.host(host)["home"]) for host in HOSTS} == hosts_before
    for env in ENVIRONMENTS:
        assert all(region_material(bed, region, envs.names[env]) is None for region in REGIONS)
    summary = envs.summary()
    assert {name: entry["rotation"] for name, entry in summary["key_pairs"].items()} == {
        envs.names["dev"]: "would rotate (no_key)", envs.names["prod"]: "would rotate (no_key)"}

    first = envs.run(verbosity=4)
    stats = recap(first)
    assert all(stats[host]["changed"] > 0 and stats[host]["failed"] == 0 for host in HOSTS), stats
    envs.assert_converged()
    for env in ENVIRONMENTS:
        assert oct(os.stat(envs.key(env)).st_mode & 0o777) == "0o600"
        assert not os.path.exists(envs.key(env) + ".new")
    summary = envs.summary()
    assert summary["pending_hosts"] == []
    for env, spec in ENVIRONMENTS.items():
        entry = summary["key_pairs"][envs.names[env]]
        assert entry["rotation"] == "rotated (no_key)"
        assert entry["regions"] == {region: "import" for region in spec["regions"]}
        assert sorted(entry["hosts"]) == spec["hosts"]
        assert entry["current_key"]["fingerprint"] == fingerprint(read(envs.key(env) + ".pub"))
    no_secrets(first.stdout + first.stderr, bed.known_secrets() + private_key_secrets(envs.key_dir))

    keys_before = snapshot(envs.key_dir)
    second_check = envs.run(check=True)
    assert total_changed(second_check) == 0, recap(second_check)
    second = envs.run()
    assert total_changed(second) == 0, recap(second)
    assert snapshot(envs.key_dir) == keys_before
    assert {entry["rotation"] for entry in envs.summary()["key_pairs"].values()} == {"not due"}
    envs.assert_converged()

    # drift in prod only (host3 lost the key, ap-southeast-2 lost the key pair): check mode predicts
    # exactly the changes of the run, per host, and the run repairs prod alone
    prod_public = read(envs.key("prod") + ".pub").strip()
    keys_path = bed.host("host3")["authorized_keys"]
    with open(keys_path, encoding="utf-8") as handle:
        kept = [line for line in handle if canonical(line) != canonical(prod_public)]
    with open(keys_path, "w", encoding="utf-8") as handle:
        handle.writelines(kept)
    bed.client("ec2", "ap-southeast-2").delete_key_pair(KeyName=envs.names["prod"])
    predicted = recap(envs.run(check=True))
    assert predicted["host3"]["changed"] > 0 and predicted["host2"]["changed"] == 0, predicted
    assert envs.summary()["key_pairs"][envs.names["prod"]]["regions"]["ap-southeast-2"] == "import"
    assert region_material(bed, "ap-southeast-2", envs.names["prod"]) is None
    repaired = recap(envs.run())
    assert {host: entry["changed"] for host, entry in repaired.items()} == \
        {host: entry["changed"] for host, entry in predicted.items()}
    assert envs.summary()["key_pairs"][envs.names["dev"]]["regions"] == {"us-east-1": "none"}
    envs.assert_converged()
    assert total_changed(envs.run()) == 0


def test_unknown_region_of_one_environment_fails_before_any_key_is_generated(bed, ansible_playbook, tmp_path):
    envs = Environments(bed, ansible_playbook, tmp_path)
    before = {host: snapshot(bed.host(host)["home"]) for host in HOSTS}
    inventory = envs.write_inventory("bad.yml", regions={"prod": ["eu-west-1", "moon-1"]})
    proc = envs.run(inventory=inventory, expect_rc=2)
    assert "key_pair_rotation_regions" in proc.stdout and "'moon-1' is not an EC2 region" in proc.stdout
    assert envs.names["prod"] in proc.stdout
    assert not os.path.exists(envs.key_dir) or not os.listdir(envs.key_dir)
    assert {host: snapshot(bed.host(host)["home"]) for host in HOSTS} == before
    for env in ENVIRONMENTS:
        assert all(region_material(bed, region, envs.names[env]) is None for region in REGIONS)
