# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role keyops.aws.access_key_rotation with durable state (issue 13), run as AWX runs jobs.

Every job runs through ansible-runner with its own private data dir on a fresh controller (a new
HOME, TMPDIR and Ansible temp dirs): nothing is kept between jobs but what is in AWS and on the
hosts. Asserted through boto3 (IAM keys, Secrets Manager secrets and their tags), the credentials
files on the hosts and STS calls signed with what the files hold.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid


from test_access_key_rotation import Scenario  # pylint: disable=import-error
from test_durable_state import _kill_tree  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "tests", "integration", "playbooks", "access_key_rotation", "phase.yml")
PREFIX = "keyops/access-keys/"


class RoleJob:
    """One job of the role on a fresh controller (ansible-runner, own HOME/TMPDIR/data dir)."""

    def __init__(self, bed, base, inventory, extravars, limit=None, verbosity=3):
        self.dir = os.path.join(str(base), "job-%s" % uuid.uuid4().hex[:8])
        self.home = os.path.join(self.dir, "controller-home")
        tmp = os.path.join(self.home, "tmp")
        for sub in ("project", "inventory", "env", tmp):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        shutil.copy(PLAYBOOK, os.path.join(self.dir, "project", "phase.yml"))
        shutil.copy(inventory, os.path.join(self.dir, "inventory", "hosts.json"))
        self.result_file = os.path.join(self.dir, "result.json")
        variables = {"access_key_rotation_escrow_backend": "secretsmanager", "access_key_rotation_verify_successes": 2,
                     "access_key_rotation_delete_after_days": 0,
                     "access_key_rotation_escrow_dir": os.path.join(self.home, ".local", "escrow")}
        variables.update(extravars)
        with open(os.path.join(self.dir, "env", "extravars"), "w", encoding="utf-8") as handle:
            json.dump(variables, handle)
        control = "/tmp/kcp-%s" % uuid.uuid4().hex[:8]  # ssh's ControlPath must stay under 108 bytes
        self.env = bed.env(ANSIBLE_SSH_CONTROL_PATH_DIR=control, HOME=self.home, TMPDIR=tmp, ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "ansible-local"),
                           ANSIBLE_REMOTE_TEMP="/tmp/.ansible-remote-%s" % uuid.uuid4().hex[:6], ANSIBLE_NOCOLOR="1",
                           ANSIBLE_PIPELINING="True", ANSIBLE_HOST_KEY_CHECKING="False", KEYOPS_RESULT_FILE=self.result_file)
        runner = shutil.which("ansible-runner", path=os.path.dirname(sys.executable)) or shutil.which("ansible-runner")
        self.argv = [runner, "run", self.dir, "-p", "phase.yml"] + (["--limit", limit] if limit else [])
        self.argv += ["-" + "v" * verbosity] if verbosity else []
        self.proc = None
        self.output = ""

    def start(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        return self

    def wait(self, timeout=300):
        self.output = self.proc.communicate(timeout=timeout)[0]
        self.rc = self.proc.returncode
        if not os.path.exists(self.result_file):
            raise AssertionError("job %s left no result (rc %s):\n%s" % (self.dir, self.rc, self.output[-6000:]))
        with open(self.result_file, encoding="utf-8") as handle:
            return json.load(handle)

    def run(self):
        return self.start().wait()

    def started_task(self, name):
        """Whether the job has started the task of that name (ansible-runner's job events, as AWX reads them)."""
        for top, _dirs, files in os.walk(os.path.join(self.dir, "artifacts")):
            if os.path.basename(top) != "job_events":
                continue
            for file_name in files:
                if "playbook_on_task_start" not in file_name and not file_name.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(top, file_name), encoding="utf-8") as handle:
                        event = json.load(handle)
                except (OSError, ValueError):
                    continue
                if event.get("event") == "playbook_on_task_start" and (event.get("event_data") or {}).get("task", "").startswith(name):
                    return True
        return False

    def everything_written(self):
        """All output and every file the job left (artifacts, the controller's HOME), without env/ and the
        runner's copy of the command (the bed's admin credentials, as AWX injects a credential)."""
        parts = [self.output]
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


class Fleet:
    """Three users on three hosts: a held by host1+host2, b by host2+host3, c by host3."""

    def __init__(self, bed, tmp_path):
        self.bed = bed
        self.tmp = tmp_path
        self.s = Scenario(bed, tmp_path, None)
        self.sm = bed.client("secretsmanager")
        self.users = {}
        for name in ("a", "b", "c"):
            self.users[name] = self.s.user("ph" + name)
        self.paths = {host: self.s.path(host) for host in ("host1", "host2", "host3")}
        self.holders = {"a": [("host1", "pa"), ("host2", "pa")], "b": [("host2", "pb"), ("host3", "pb")], "c": [("host3", "pc")]}
        by_host = {}
        for name, holders in self.holders.items():
            for host, profile in holders:
                by_host.setdefault(host, []).append((profile, name))
        hostvars = {}
        for host, entries in by_host.items():
            self.s.write(self.paths[host], [(profile, self.users[name][1][0]) for profile, name in entries])
            hostvars[host] = {"access_key_rotation_credentials": [
                {"iam_user": self.users[name][0], "path": self.paths[host], "profile": profile} for profile, name in entries]}
        self.inventory = self.s.inventory(hostvars)
        self.unreachable = self.s.inventory(hostvars, name="unreachable.json",
                                            port_override={"host1": 1, "host2": 1, "host3": 1})

    def name(self, short):
        return self.users[short][0]

    def old(self, short):
        return self.users[short][1][0]["AccessKeyId"]

    def keys(self, short):
        return self.s.keys(self.name(short))

    def held(self, short):
        return [self.s.profile(self.paths[host], profile)[0] for host, profile in self.holders[short]]

    def stored(self, short):
        try:
            return json.loads(self.sm.get_secret_value(SecretId=PREFIX + self.name(short))["SecretString"])
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        except self.sm.exceptions.InvalidRequestException:  # scheduled for deletion: gone
            return None

    def acks(self, short):
        try:
            info = self.sm.describe_secret(SecretId=PREFIX + self.name(short))
        except self.sm.exceptions.ResourceNotFoundException:
            return {}
        return {t["Key"]: t["Value"] for t in info.get("Tags") or [] if t["Key"].startswith("keyops:ack:")}

    def assert_converged(self, short):
        keys = self.keys(short)
        active = [k for k, status in keys.items() if status == "Active"]
        assert len(active) == 1 and active[0] != self.old(short), keys
        assert set(self.held(short)) == {active[0]}
        for host, profile in self.holders[short]:
            assert self.s.sts_arn(self.paths[host], profile).endswith(":user/" + self.name(short))
        assert self.stored(short) is None  # the store entry is gone once the old key is retired
        return active[0]

    def secrets(self):
        return set(self.bed.known_secrets()) | self.s.secrets


def test_prepare_three_concurrent_distribute_slices_then_retire(bed, tmp_path, no_secrets):
    """prepare (keys made and stored, no holder written) -> three distribute jobs at once, one host each (holders
    written and acknowledged; no key deactivated) -> retire on a fresh controller with every host unreachable."""
    f = Fleet(bed, tmp_path)
    jobs = []
    prepare = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "prepare", "access_key_rotation_force": True})
    jobs.append(prepare)
    result = prepare.run()
    assert prepare.rc == 0, prepare.output[-4000:]
    assert result["totals"]["rotated"] == 3, result["lines"]
    for short in "abc":
        doc = f.stored(short)
        assert doc and doc["access_key_id"] != f.old(short)
        assert f.keys(short) == {f.old(short): "Active", doc["access_key_id"]: "Active"}
        assert set(f.held(short)) == {f.old(short)}  # prepare writes no holder
    new = {short: f.stored(short)["access_key_id"] for short in "abc"}
    # a second prepare (a fresh controller, forced) makes no third key
    again = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "prepare", "access_key_rotation_force": True}, verbosity=0)
    again.run()
    assert again.rc == 0 and all(len(f.keys(s)) == 2 for s in "abc")
    # three distribute jobs at once, one slice (host) each
    slices = [RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "distribute", "access_key_rotation_force": True},
                      limit=host).start() for host in ("host1", "host2", "host3")]
    jobs += slices
    while any(j.proc.poll() is None for j in slices):
        for short in "abc":  # sampled: no old key is deactivated before retire, never a third key
            assert f.keys(short) == {f.old(short): "Active", new[short]: "Active"}
        time.sleep(0.2)
    for job in slices:
        job.wait()
        assert job.rc == 0, job.output[-4000:]
    for short in "abc":
        assert set(f.held(short)) == {new[short]} and f.keys(short)[f.old(short)] == "Active"
        assert len(f.acks(short)) == len(f.holders[short]) and set(f.acks(short).values()) == {new[short]}
    # retire: a fresh controller, every host unreachable (no host is contacted)
    retire = RoleJob(bed, tmp_path, f.unreachable, {"access_key_rotation_phase": "retire"})
    jobs.append(retire)
    result = retire.run()
    assert retire.rc == 0, retire.output[-4000:]
    for short in "abc":
        assert f.assert_converged(short) == new[short]
        assert f.keys(short) == {new[short]: "Active"}  # delete_after_days 0: the old key is gone
    assert "unreachable=1" not in retire.output
    # idempotent: a distribute and a retire now change nothing
    for phase in ("distribute", "retire"):
        job = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": phase}, verbosity=0)
        job.run()
        assert job.rc == 0 and "changed=0" in job.output.split("PLAY RECAP")[-1] and "changed=1" not in job.output.split("PLAY RECAP")[-1]
    for job in jobs:
        no_secrets(job.everything_written(), f.secrets())


def test_a_missing_slice_keeps_its_users_pending_until_it_runs(bed, tmp_path, no_secrets):
    """distribute runs for host1 and host2 only: retire retires a (all its holders acknowledged) and keeps b and c
    pending with the old key Active; once host3's slice runs, retire converges them."""
    f = Fleet(bed, tmp_path)
    jobs = [RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "prepare", "access_key_rotation_force": True})]
    assert jobs[0].run()["totals"]["rotated"] == 3
    new = {short: f.stored(short)["access_key_id"] for short in "abc"}
    for host in ("host1", "host2"):
        job = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "distribute", "access_key_rotation_force": True}, limit=host)
        jobs.append(job)
        job.run()
        assert job.rc == 0, job.output[-4000:]
    retire = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "retire"})
    jobs.append(retire)
    result = retire.run()
    assert retire.rc == 0, retire.output[-4000:]
    assert f.assert_converged("a") == new["a"]
    for short in "bc":
        assert f.keys(short) == {f.old(short): "Active", new[short]: "Active"}
        assert f.stored(short)["access_key_id"] == new[short]
        assert result["summary"][f.name(short)]["status"] == "pending"
        assert any(h.startswith("host3:") for h in result["summary"][f.name(short)]["holders_pending"])
    assert result["totals"]["pending"] == 2
    last = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "distribute", "access_key_rotation_force": True}, limit="host3")
    jobs.append(last)
    last.run()
    assert last.rc == 0, last.output[-4000:]
    final = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_phase": "retire"})
    jobs.append(final)
    final.run()
    assert final.rc == 0, final.output[-4000:]
    for short in "abc":
        assert f.assert_converged(short) == new[short]
    for job in jobs:
        no_secrets(job.everything_written(), f.secrets())


def test_job_killed_after_the_rotation_task_then_a_fresh_controller_converges(bed, tmp_path, no_secrets):
    """phase all with the Secrets Manager store: killed once the rotation task is done (before any holder got a key);
    a new job on a fresh controller converges on the stored keys: no third key, every holder works, old keys gone."""
    f = Fleet(bed, tmp_path)
    first = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_force": True}).start()
    deadline = time.time() + 240
    while not first.started_task("Decide the target key") and time.time() < deadline and first.proc.poll() is None:
        time.sleep(0.05)
    assert first.proc.poll() is None, "the job ended before it could be killed"
    _kill_tree(first.proc)
    first.output = first.proc.stdout.read() if first.proc.stdout else ""
    recorded = {}
    for short in "abc":
        doc = f.stored(short)
        assert doc and doc["access_key_id"] in f.keys(short)  # stored before the rotation task ended
        recorded[short] = doc["access_key_id"]
        assert set(f.held(short)) == {f.old(short)} and len(f.keys(short)) == 2
    second = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_force": True})
    result = second.run()
    assert second.rc == 0, second.output[-4000:]
    assert result["totals"]["converged"] == 3, result["lines"]
    for short in "abc":
        assert f.assert_converged(short) == recorded[short]
    for job in (first, second):
        no_secrets(job.everything_written(), f.secrets())


def test_bad_store_variables_fail_naming_the_variable_with_nothing_created(bed, tmp_path):
    f = Fleet(bed, tmp_path)
    for extra, name in (({"access_key_rotation_escrow_prefix": "bad prefix/"}, "access_key_rotation_escrow_prefix"),
                        ({"access_key_rotation_escrow_kms_key_id": "not a key!"}, "access_key_rotation_escrow_kms_key_id"),
                        ({"access_key_rotation_phase": "later"}, "access_key_rotation_phase"),
                        ({"access_key_rotation_escrow_backend": "s3"}, "access_key_rotation_escrow_backend")):
        job = RoleJob(bed, tmp_path, f.inventory, dict(extra, access_key_rotation_force=True), verbosity=0)
        job.run()
        assert job.rc != 0 and name in job.output and "Traceback" not in job.output
        for short in "abc":
            assert f.keys(short) == {f.old(short): "Active"} and f.stored(short) is None


def test_two_concurrent_all_runs_never_make_a_third_key(bed, tmp_path, no_secrets):
    """Two role jobs (phase all, Secrets Manager store) over the same users at once, CreateAccessKey slowed down:
    at most two keys per user at every sample; each user is rotated by one job, the other names it busy; a
    later job converges everything (nothing lost)."""
    f = Fleet(bed, tmp_path)
    with open(bed.create_delay_file, "w", encoding="utf-8") as handle:
        json.dump({"prefix": "akr-ph", "seconds": 6}, handle)
    try:
        jobs = [RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_force": True}, verbosity=0).start() for _index in range(2)]
        samples = 0
        while any(j.proc.poll() is None for j in jobs):
            for short in "abc":
                assert len(f.keys(short)) <= 2
            samples += 1
            time.sleep(0.1)
    finally:
        os.unlink(bed.create_delay_file)
    results = [j.wait() for j in jobs]
    assert samples > 3
    for short in "abc":
        statuses = [r["summary"].get(f.name(short), {}).get("status") for r in results]
        assert "busy" in statuses, statuses  # the other job named it busy (not a failure)
    # nothing lost: a later job converges every user on the key the winner stored
    last = RoleJob(bed, tmp_path, f.inventory, {"access_key_rotation_force": True})
    last.run()
    assert last.rc == 0, last.output[-4000:]
    for short in "abc":
        f.assert_converged(short)
    for job in jobs + [last]:
        no_secrets(job.everything_written(), f.secrets())
