# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durable rotation state (issue 13): the Secrets Manager store at the create path, as AWX runs jobs.

Every job runs through ansible-runner (the library AWX uses) with its own private data dir on a
fresh controller: a new HOME, TMPDIR and Ansible temp dirs, nothing kept from the previous job.
Outcomes are asserted through boto3 (IAM keys, Secrets Manager secrets, STS with the new key).
The EE definition is checked with ansible-builder (introspect + create; no container build).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "tests", "integration", "playbooks", "durable_state", "rotate.yml")
PREFIX = "keyops/access-keys/"


def _descendants(pid):
    """Every process below pid (ansible-core 2.19 workers call setsid: walk /proc, not the group)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(proc):
    pids = [proc.pid] + _descendants(proc.pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


class Job:
    """One ansible-runner job on a fresh controller (its own HOME, TMPDIR, Ansible temp dirs, data dir)."""

    def __init__(self, bed, base, extravars, verbosity=3):
        self.bed = bed
        self.dir = os.path.join(str(base), "job-%s" % uuid.uuid4().hex[:8])
        self.home = os.path.join(self.dir, "controller-home")
        tmp = os.path.join(self.home, "tmp")
        for sub in ("project", "inventory", "env", tmp):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        shutil.copy(PLAYBOOK, os.path.join(self.dir, "project", "rotate.yml"))
        with open(os.path.join(self.dir, "inventory", "hosts"), "w", encoding="utf-8") as handle:
            handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        self.result_file = os.path.join(self.dir, "result.json")
        with open(os.path.join(self.dir, "env", "extravars"), "w", encoding="utf-8") as handle:
            json.dump(dict(extravars, result_file=self.result_file), handle)
        self.env = bed.env(HOME=self.home, TMPDIR=tmp, ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "ansible-local"),
                           ANSIBLE_REMOTE_TEMP=os.path.join(tmp, "ansible-remote"), ANSIBLE_NOCOLOR="1")
        runner = shutil.which("ansible-runner", path=os.path.dirname(sys.executable)) or shutil.which("ansible-runner")
        self.argv = [runner, "run", self.dir, "-p", "rotate.yml"] + (["-" + "v" * verbosity] if verbosity else [])
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        return self

    def wait(self, timeout=180):
        out = self.proc.communicate(timeout=timeout)[0]
        self.output = out
        with open(self.result_file, encoding="utf-8") as handle:
            return json.load(handle)

    def run(self):
        return self.start().wait()

    def everything_written(self):
        """All output and every file the job left (artifacts, the controller's HOME), as text.

        Left out: env/ and artifacts/*/command, ansible-runner's copy of the environment the job was
        given (the bed's admin credentials, as AWX injects a credential), which no module writes.
        """
        parts = [getattr(self, "output", "")]
        for top, _dirs, files in os.walk(self.dir):
            if os.path.basename(top) == "env":
                continue
            for name in files:
                if name == "command" and os.path.basename(os.path.dirname(top)) == "artifacts":
                    continue
                try:
                    with open(os.path.join(top, name), "rb") as handle:
                        parts.append(handle.read().decode("utf-8", "replace"))
                except OSError:
                    pass
        return "\n".join(parts)


def _user(iam, prefix):
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    iam.create_user(UserName=name)
    return name, iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]


def _keys(iam, name):
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}


def _stored(sm, name, prefix=PREFIX):
    try:
        return json.loads(sm.get_secret_value(SecretId=prefix + name)["SecretString"])
    except sm.exceptions.ResourceNotFoundException:
        return None


def _works(bed, access_key_id, secret):
    sts = bed.client("sts", access_key_id=access_key_id, secret_access_key=secret)
    return bool(sts.get_caller_identity()["Arn"])


@pytest.fixture
def delay(bed):
    def _set(prefix, seconds):
        with open(bed.create_delay_file, "w", encoding="utf-8") as handle:
            json.dump({"prefix": prefix, "seconds": seconds}, handle)

    yield _set
    if os.path.exists(bed.create_delay_file):
        os.unlink(bed.create_delay_file)


def test_store_on_fresh_controllers_resume_retire_and_rotate_again(bed, tmp_path, no_secrets):
    """Create (recorded at once), a fresh controller converges (no new key), retire deletes the secret, a later rotation works."""
    iam, sm = bed.client("iam"), bed.client("secretsmanager")
    name, old = _user(iam, "ds-life")
    first = Job(bed, tmp_path, {"users": [name], "force": True})
    result = first.run()
    assert result["failed"] == [] and result["decisions"] == {name: "create"}
    doc = _stored(sm, name)
    new = doc["access_key_id"]
    assert set(_keys(iam, name)) == {old, new} and result["escrowed"] == [new]
    assert doc["claimed_by"] and doc["claimed_at"] and _works(bed, new, doc["secret_access_key"])
    # a fresh controller, forced again: resumes the recorded key, no third key
    second = Job(bed, tmp_path, {"users": [name], "force": True}).run()
    assert second["decisions"] == {name: "converge"} and set(_keys(iam, name)) == {old, new}
    # retire onto the new key: the old one is deleted, the secret is gone
    third = Job(bed, tmp_path, {"users": [{"name": name, "current_key_id": new}], "state": "retired"}).run()
    assert third["failed"] == [] and _keys(iam, name) == {new: "Active"} and _stored(sm, name) is None
    # a later rotation of the same user works (a fresh claim under the same name)
    sm.create_secret(Name=PREFIX + name, SecretString="{}")
    sm.delete_secret(SecretId=PREFIX + name, RecoveryWindowInDays=7)  # a name scheduled for deletion
    fourth = Job(bed, tmp_path, {"users": [name], "force": True}).run()
    assert fourth["failed"] == [] and fourth["decisions"] == {name: "create"}
    assert _stored(sm, name)["access_key_id"] in _keys(iam, name)
    no_secrets(first.everything_written(), bed.known_secrets())


def test_job_killed_during_create_leaves_an_orphan_the_next_run_removes(bed, tmp_path, delay, no_secrets):
    """Killed inside CreateAccessKey (IAM made the key, no answer yet): the claim has no key; TTL 0 removes the orphan."""
    iam, sm = bed.client("iam"), bed.client("secretsmanager")
    name, old = _user(iam, "ds-kill")
    delay("ds-kill-", 8)
    job = Job(bed, tmp_path, {"users": [name], "force": True}).start()
    deadline = time.time() + 60
    while len(_keys(iam, name)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    _kill_tree(job.proc)
    delay("nobody", 0)
    keys = _keys(iam, name)
    assert len(keys) == 2, "the create did not land before the kill"
    orphan = (set(keys) - {old}).pop()
    claim = _stored(sm, name)
    assert claim and claim["access_key_id"] is None  # claimed before the create, no key recorded
    # within the TTL the user is busy: nothing is created or deleted
    busy_job = Job(bed, tmp_path, {"users": [name], "force": True})
    busy = busy_job.run()
    assert busy["busy"] == [name] and busy["failed"] == [] and set(_keys(iam, name)) == {old, orphan}
    # TTL 0: the orphan is deleted, then a new key is created and recorded
    again_job = Job(bed, tmp_path, {"users": [{"name": name, "held_key_ids": [old]}], "force": True, "ttl": 0})
    again = again_job.run()
    assert again["failed"] == [], again["msg"]
    keys = _keys(iam, name)
    assert orphan not in keys and old in keys and len(keys) == 2
    assert _stored(sm, name)["access_key_id"] in keys
    no_secrets(busy_job.everything_written() + again_job.everything_written(), bed.known_secrets())


def test_two_concurrent_runs_never_make_a_third_key(bed, tmp_path, delay):
    """Two jobs over the same users at once: each user is created by one, the other reports it busy."""
    iam, sm = bed.client("iam"), bed.client("secretsmanager")
    users = [_user(iam, "ds-race") for _index in range(3)]
    names = [u[0] for u in users]
    delay("ds-race-", 1.5)
    jobs = [Job(bed, tmp_path, {"users": names, "force": True}, verbosity=0).start() for _index in range(2)]
    samples = 0
    while any(j.proc.poll() is None for j in jobs):
        for name in names:
            assert len(_keys(iam, name)) <= 2
        samples += 1
        time.sleep(0.1)
    delay("nobody", 0)
    results = [j.wait() for j in jobs]
    assert samples > 3
    for name, old in users:
        keys = _keys(iam, name)
        assert len(keys) == 2 and old in keys
        doc = _stored(sm, name)
        assert doc["access_key_id"] in keys and doc["access_key_id"] != old  # nothing lost: the new secret is stored
        made = [r for r in results if r["decisions"].get(name) == "create"]
        assert len(made) == 1
        assert any(name in r["busy"] for r in results)  # the other run named it busy
    assert all(r["failed"] == [] for r in results)


@pytest.mark.parametrize("extra, message", [
    ({"prefix": "bad prefix/"}, "escrow_prefix"),
    ({"kms_key_id": "not a key!"}, "escrow_kms_key_id"),
    ({"ttl": -1}, "claim_ttl_minutes"),
])
def test_bad_store_settings_are_clear_errors_with_nothing_created(bed, tmp_path, extra, message):
    iam = bed.client("iam")
    name, old = _user(iam, "ds-bad")
    result = Job(bed, tmp_path, dict({"users": [name], "force": True}, **extra), verbosity=0).run()
    assert message in result["msg"] and "Traceback" not in result["msg"]
    assert _keys(iam, name) == {old: "Active"}


def test_execution_environment_definition(tmp_path):
    """meta/execution-environment.yml is introspected (boto3, botocore, cryptography, bcrypt, ssh client);
    the EE definition users build is accepted by ansible-builder create (no container build)."""
    builder = shutil.which("ansible-builder", path=os.path.dirname(sys.executable)) or shutil.which("ansible-builder")
    galaxy = shutil.which("ansible-galaxy", path=os.path.dirname(sys.executable)) or shutil.which("ansible-galaxy")
    ee_dir = tmp_path / "ee"
    shutil.copytree(os.path.join(ROOT, "examples", "execution-environment"), ee_dir)
    subprocess.run([galaxy, "collection", "build", "--output-path", str(ee_dir), ROOT], check=True, capture_output=True)
    tarballs = [n for n in os.listdir(ee_dir) if n.endswith(".tar.gz")]
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        version = [line.split(":", 1)[1].strip() for line in handle if line.startswith("version:")][0]
    assert tarballs == ["keyops-aws-%s.tar.gz" % version]
    with open(ee_dir / "execution-environment.yml", encoding="utf-8") as handle:
        assert "collections/keyops-aws-%s.tar.gz" % version in handle.read()  # the definition names this version
    cols = tmp_path / "cols"
    subprocess.run([galaxy, "collection", "install", "--force", "--no-deps", "-p", str(cols), str(ee_dir / tarballs[0])],
                   check=True, capture_output=True)
    intro = subprocess.run([builder, "introspect", "--sanitize", str(cols)], check=True, capture_output=True, text=True).stdout
    for needed in ("boto3", "botocore", "cryptography", "bcrypt", "openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]"):
        assert needed in intro
    subprocess.run([builder, "create", "-f", "execution-environment.yml", "-c", "context"], check=True, capture_output=True, cwd=ee_dir)
    context = ee_dir / "context"
    assert (context / "_build" / "collections" / tarballs[0]).exists()
    requirements = (context / "_build" / "requirements.yml").read_text()
    assert "collections/%s" % tarballs[0] in requirements and "amazon.aws" in requirements
    containerfile = [p for p in ("Containerfile", "Dockerfile") if (context / p).exists()][0]
    text = (context / containerfile).read_text()
    assert "ansible-galaxy collection install" in text and "introspect" in text
