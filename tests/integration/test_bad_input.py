# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bad-input table (tests/integration/bad_input_cases.py) against the test bed.

Module cases run as tasks of one playbook (each ``ignore_errors`` and registered), role cases as
``include_role`` blocks with a rescue: one round of playbooks (three side by side, see PARALLEL) for
every case expected to pass, then one for the open (xfail) cases, so that a gap in one module never
blames the others. IAM, EC2, Secrets Manager, SSM, the controller's case directory and host1's files are
read through boto3 and the filesystem before and after each run; every case then checks its own
message and the parts of that state it could have touched. Most of the run time is module start-up
(about 110 tasks): under 2 minutes at load 3, about 8 minutes at load 11 on 2 cores.
"""

import json
import os
import stat
import subprocess
import uuid

import pytest

from tests.integration import bad_input_cases as table

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
HOST = "host1"
PARALLEL = 3  # ansible-playbook runs at a time: the role cases, and two halves of the module cases


# --------------------------------------------------------------------------- state snapshot
def _walk(root):
    out = {}
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in dirs:
            path = os.path.join(directory, name)
            out[os.path.relpath(path, root) + "/"] = stat.S_IMODE(os.lstat(path).st_mode)
        for name in sorted(files):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    out[os.path.relpath(path, root)] = (stat.S_IMODE(info.st_mode), handle.read())
            else:
                out[os.path.relpath(path, root)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode))
    return out


def snapshot(bed, bi_dir):
    iam = bed.client("iam")
    users = {}
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            name = user["UserName"]
            keys = sorted((k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"])
            tags = sorted((t["Key"], t["Value"]) for t in iam.list_user_tags(UserName=name)["Tags"])
            users[name] = (keys, tags)
    ec2 = {}
    for region in REGIONS:
        pairs = bed.client("ec2", region=region).describe_key_pairs()["KeyPairs"]
        ec2[region] = sorted((p["KeyName"], p.get("KeyFingerprint")) for p in pairs)
    sm = bed.client("secretsmanager")
    secrets = {}
    for entry in sm.list_secrets(IncludePlannedDeletion=True, MaxResults=100)["SecretList"]:
        versions = sm.list_secret_version_ids(SecretId=entry["ARN"], IncludeDeprecated=True)["Versions"]
        secrets[entry["Name"]] = sorted(v["VersionId"] for v in versions)
    ssm = bed.client("ssm")
    parameters = {}
    for page in ssm.get_paginator("describe_parameters").paginate():
        for entry in page["Parameters"]:
            parameters[entry["Name"]] = (entry["Type"], entry.get("Version"))
    host = bed.host(HOST)
    host_files = _walk(host["home"])
    with open(host["authorized_keys"], "rb") as handle:
        host_files["<authorized_keys>"] = handle.read()
    return {"iam": users, "ec2": ec2, "secrets": secrets, "parameters": parameters,
            "files": _walk(bi_dir), "host": host_files}


# --------------------------------------------------------------------------- the playbook
def _task_for(index, entry):
    if "module" in entry:
        args = {k: v for k, v in entry["args"].items() if v is not None}
        return [{"name": "case %d: %s" % (index, entry["id"]), entry["module"]: args,
                 "register": "bi_%d" % index, "ignore_errors": True}]
    tasks = []
    facts = dict({"access_key_rotation_credentials": []}, **(entry.get("facts") or {}))
    tasks.append({"name": "case %d: host variables" % index, "ansible.builtin.set_fact": facts})
    tasks.append({
        "name": "case %d: %s" % (index, entry["id"]),
        "block": [
            {"name": "case %d: the role" % index, "ansible.builtin.include_role": {"name": entry["role"]},
             "vars": entry["vars"]},
            {"name": "case %d: the role did not fail" % index,
             "ansible.builtin.set_fact": {"bi_%d" % index: {"failed": False, "msg": "the role did not fail"}}},
        ],
        "rescue": [
            {"name": "case %d: keep the failure" % index,
             "ansible.builtin.set_fact": {"bi_%d" % index: "{{ ansible_failed_result }}"}},
        ],
    })
    return tasks


def _collect(indexes, path):
    content = "{{ {%s} | to_json }}" % ", ".join(
        "'%d': (bi_%d | default({'failed': False, 'msg': 'no result'}))" % (i, i) for i in indexes)
    return {"name": "Keep every case's result", "ansible.builtin.copy": {"content": content, "dest": path, "mode": "0600"},
            "delegate_to": "localhost"}


def build_playbook(path, variables, results_dir, selected):
    """One playbook for the cases ``selected`` ([(index, case)]): a play per kind of target."""
    plays = []
    groups = [
        ("localhost", [(i, e) for i, e in selected if "module" in e and e["host"] == "localhost"]),
        (HOST, [(i, e) for i, e in selected if "module" in e and e["host"] == HOST]),
        (HOST, [(i, e) for i, e in selected if "role" in e]),
    ]
    for number, (hosts, cases) in enumerate(groups):
        if not cases:
            continue
        tasks = []
        for index, entry in cases:
            tasks.extend(_task_for(index, entry))
        tasks.append(_collect([i for i, _e in cases], os.path.join(results_dir, "%s-play%d.json" % (os.path.basename(path), number))))
        plays.append({"name": "Bad input %d" % number, "hosts": hosts, "gather_facts": False,
                      "vars": variables, "tasks": tasks})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(plays, handle, indent=1)
    return path


# --------------------------------------------------------------------------- fixture: one run
class Outcome:
    """Results by case index; ``states[kind]`` = (before, after) of the run of that kind of case
    (``fixed``: every case expected to pass, ``open``: the xfail ones, run afterwards)."""

    def __init__(self, results, states, output, secrets):
        self.results = results
        self.states = states
        self.output = output
        self.secrets = secrets


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bad-input", "-f", path],
                   check=True, stdin=subprocess.DEVNULL)
    with open(path + ".pub", encoding="utf-8") as handle:
        return handle.read().strip()


def _write(path, text, mode=0o600):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


@pytest.fixture(scope="module")
def outcome(bed, tmp_path_factory):
    work = tmp_path_factory.mktemp("bad-input")
    tag = uuid.uuid4().hex[:8]
    bi_dir = str(work / "case")
    results_dir = str(work / "results")
    os.makedirs(bi_dir, mode=0o700)
    os.makedirs(results_dir, mode=0o700)

    iam = bed.client("iam")
    user = "bi-%s" % tag
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    profile = "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (key["AccessKeyId"], key["SecretAccessKey"])
    _write(os.path.join(bi_dir, "credentials"), "# hand-written\n" + profile + "\n[other]\nregion = eu-west-1\n")
    _write(os.path.join(bi_dir, "app.env"), "# app\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nOTHER=1\n"
           % (key["AccessKeyId"], key["SecretAccessKey"]))
    _write(os.path.join(bi_dir, "orphan_setting"), "region = eu-west-1\n[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    os.makedirs(os.path.join(bi_dir, "adir"), mode=0o700)
    pub = _keygen(str(work / "bi_key"))

    host = bed.host(HOST)
    _write(os.path.join(host["home"], "credentials"), profile)
    with open(host["authorized_keys"], "a", encoding="utf-8") as handle:
        handle.write("# kept by hand\n%s\n" % pub)

    secret_name = "bi-%s" % tag
    bed.client("secretsmanager").create_secret(
        Name=secret_name, SecretString=json.dumps({"aws_access_key_id": key["AccessKeyId"],
                                                   "aws_secret_access_key": key["SecretAccessKey"], "extra": "x"}))
    param = "/bi/%s" % tag
    ssm = bed.client("ssm")
    ssm.put_parameter(Name=param + "/id", Value=key["AccessKeyId"], Type="String")
    ssm.put_parameter(Name=param + "/secret", Value=key["SecretAccessKey"], Type="SecureString")

    variables = {"bi_dir": bi_dir, "bi_user": user, "bi_key_id": key["AccessKeyId"], "bi_pub": pub,
                 "bi_secret_name": secret_name, "bi_param": param, "bi_host_home": host["home"], "bi_tag": tag}
    inventory = bed.write_inventory(str(work / "inventory.yml"), hosts=[HOST])
    env = bed.env(BI_SECRET=key["SecretAccessKey"], ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_PIPELINING="True",
                  ANSIBLE_HOST_KEY_CHECKING="False")
    states, outputs = {}, []
    for kind in ("fixed", "open"):
        selected = [(i, e) for i, e in enumerate(table.CASES) if bool(e.get("xfail")) == (kind == "open")]
        if not selected:
            continue
        # PARALLEL playbooks side by side (the cases are independent refusals): role cases in one,
        # module cases shared out among the others
        modules = [item for item in selected if "module" in item[1]]
        chunks = [[item for item in selected if "role" in item[1]]] + [modules[n::PARALLEL - 1] for n in range(PARALLEL - 1)]
        before = snapshot(bed, bi_dir)
        procs = []
        for number, chunk in enumerate(c for c in chunks if c):
            playbook = build_playbook(str(work / ("bad_input_%s_%d.yml" % (kind, number))), variables, results_dir, chunk)
            log = open(str(work / ("ansible_%s_%d.log" % (kind, number))), "w+", encoding="utf-8")  # pylint: disable=consider-using-with
            procs.append((subprocess.Popen(["ansible-playbook", "-i", inventory, playbook], env=env,  # pylint: disable=consider-using-with
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=str(work)), log))
        failed = []
        for proc, log in procs:
            proc.wait()
            log.seek(0)
            output = log.read()
            log.close()
            outputs.append(output)
            if proc.returncode != 0:
                failed.append(output[-4000:])
        states[kind] = (before, snapshot(bed, bi_dir))
        assert not failed, "a bad-input playbook itself failed (logs in %s):\n%s" % (work, "\n".join(failed))
    results = {}
    for name in sorted(os.listdir(results_dir)):
        with open(os.path.join(results_dir, name), encoding="utf-8") as handle:
            results.update({int(k): v for k, v in json.load(handle).items()})
    return Outcome(results, states, "\n".join(outputs), bed.known_secrets() + [key["SecretAccessKey"]])


def _params():
    out = []
    for index, entry in enumerate(table.CASES):
        marks = [pytest.mark.xfail(reason=entry["xfail"], strict=False)] if entry.get("xfail") else []
        out.append(pytest.param(index, entry, id=entry["id"], marks=marks))
    return out


@pytest.mark.parametrize("index, entry", _params())
def test_bad_input_is_refused_and_changes_nothing(outcome, index, entry):
    result = outcome.results.get(index)
    assert result is not None, "case %d did not run" % index
    message = str(result.get("msg", ""))
    assert result.get("failed") is True, "not refused: %s" % message[:500]
    for text in entry["expect"]:
        assert text in message, "the message does not name %r: %s" % (text, message[:800])
    for text in table.FORBIDDEN:
        assert text not in message, "Python exception text %r in the message: %s" % (text, message[:800])
    before, after = outcome.states["open" if entry.get("xfail") else "fixed"]
    for section in entry["unchanged"]:
        assert after[section] == before[section], "%s changed" % section


def test_the_whole_table_changed_nothing_and_leaked_nothing(outcome, no_secrets):
    """Everything the table could touch is as before after the run of every case expected to pass (a
    stricter check than any one case's), and no secret is in the output of either run."""
    assert table.check_table() >= 60
    before, after = outcome.states["fixed"]
    for section in before:
        if after[section] != before[section]:
            added = sorted(set(map(str, after[section])) ^ set(map(str, before[section])))
            changed = sorted(str(k) for k in before[section] if after[section].get(k) != before[section][k])
            raise AssertionError("%s changed: added/removed %s, changed %s" % (section, added[:10], changed[:10]))
    no_secrets(outcome.output, outcome.secrets)
