#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time keyops.aws.iam_access_key_rotation over a fleet of IAM users on the local test bed.

Starts its own bed (moto only, no ssh hosts), creates N users with one Active key each, then times
one-task runs of the modules over all of them:

  rotate (force)        every user gets a new key (read + CreateAccessKey per user)
  rotate (steady)       nothing to do (the idempotent run: reads only)
  retire (0 days)       the old key of every user is deactivated, tagged, deleted and untagged
  info (all users)      iam_access_key_info with all_users (+ GetAccessKeyLastUsed per key)

and, for comparison, amazon.aws.iam_access_key with rotate_keys looped over a few users (the
baseline measured earlier was ~0.8 s per user). Prints figures only; asserts nothing.

  python benchmarks/iam_rotation.py [--users 1000] [--concurrency 16] [--baseline-users 20]

Run from the repository root with the project venv (. scripts/lib.sh; keyops_ensure_venv;
keyops_collection_path).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.bed.bed import Bed  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = """---
- name: Benchmark
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run
      {module}:
{args}
"""

BASELINE = """---
- name: Baseline
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: amazon.aws.iam_access_key in a loop
      amazon.aws.iam_access_key:
        user_name: "{{ item }}"
        rotate_keys: true
        state: present
      loop: "{{ bench_users }}"
      no_log: true
"""


def run_playbook(bed, workdir, name, module, args):
    text = PLAYBOOK.format(module=module, args="\n".join("        " + line for line in _yaml(args)))
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return _timed(bed, workdir, path, {})


def _yaml(args):
    # the arguments as YAML lines (values as JSON, which YAML reads)
    return ["%s: %s" % (key, json.dumps(value)) for key, value in args.items()]


def _timed(bed, workdir, path, extra_vars):
    vars_file = os.path.join(workdir, os.path.basename(path) + ".vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(dict(extra_vars, ansible_python_interpreter=sys.executable), handle)
    env = bed.env(ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", path, "-e", "@" + vars_file],
                          env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit("playbook %s failed (rc %s)" % (path, proc.returncode))
    return elapsed


def keys_of(bed, users):
    """{user: {key id: status}} read with boto3 (to check each run did what it should)."""
    iam = bed.client("iam")

    def read(name):
        return name, {k["AccessKeyId"]: (k["Status"], k["CreateDate"]) for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(read, users))


def create_users(bed, prefix, count, keys=1):
    iam = bed.client("iam")

    def make(index):
        name = "%s-%05d" % (prefix, index)
        iam.create_user(UserName=name)
        for _number in range(keys):
            iam.create_access_key(UserName=name)
        return name

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(make, range(count)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline-users", type=int, default=20)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="keyops-bench-")
    bed = Bed(os.path.join(workdir, "bed"))
    try:
        bed.start(host_count=0)
        start = time.monotonic()
        users = create_users(bed, "bench", args.users)
        print("setup: %d users with one key each in %.1f s" % (len(users), time.monotonic() - start))
        rows = []

        common = {"users": users, "concurrency": args.concurrency}
        overhead = run_playbook(bed, workdir, "overhead", "keyops.aws.iam_access_key_rotation", {"users": users[:1]})

        elapsed = run_playbook(bed, workdir, "rotate-force", "keyops.aws.iam_access_key_rotation", dict(common, force=True))
        state = keys_of(bed, users)
        assert all(len(keys) == 2 for keys in state.values()), "force did not create one key per user"
        rows.append(("rotate (force: a new key each)", elapsed))

        elapsed = run_playbook(bed, workdir, "rotate-steady", "keyops.aws.iam_access_key_rotation", common)
        assert keys_of(bed, users) == state
        rows.append(("rotate (steady state, no change)", elapsed))

        newest = {user: max(keys, key=lambda kid, keys=keys: keys[kid][1]) for user, keys in state.items()}
        retire = {"users": [{"name": u, "current_key_id": newest[u]} for u in users],
                  "state": "retired", "delete_after_days": 0, "concurrency": args.concurrency}
        elapsed = run_playbook(bed, workdir, "retire", "keyops.aws.iam_access_key_rotation", retire)
        assert all(list(keys) == [newest[u]] for u, keys in keys_of(bed, users).items()), "retire left old keys"
        rows.append(("retire (deactivate+tag+delete+untag)", elapsed))

        elapsed = run_playbook(bed, workdir, "info", "keyops.aws.iam_access_key_info",
                               {"all_users": True, "concurrency": args.concurrency})
        rows.append(("info (all users, with last use)", elapsed))

        baseline_per_user = None
        if args.baseline_users:
            base_users = create_users(bed, "base", args.baseline_users)
            path = os.path.join(workdir, "baseline.yml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(BASELINE)
            elapsed = _timed(bed, workdir, path, {"bench_users": base_users}) - overhead
            baseline_per_user = elapsed / len(base_users)

        print("users: %d  concurrency: %d  fixed cost (ansible-playbook + module, 1 user): %.1f s"
              % (len(users), args.concurrency, overhead))
        print("%-40s %10s %12s" % ("run (one task over all users)", "seconds", "ms per user"))
        for label, elapsed in rows:
            print("%-40s %10.1f %12.1f" % (label, elapsed, 1000.0 * elapsed / len(users)))
        if baseline_per_user is not None:
            print("%-40s %10s %12.1f   (measured over %d users)" % ("amazon.aws.iam_access_key loop", "-", 1000.0 * baseline_per_user, args.baseline_users))
        rotate = rows[0][1]
        references = [("the loop as measured in facts.md", 0.8)]
        if baseline_per_user is not None:
            references.append(("the loop measured just now", baseline_per_user))
        for label, per_user in references:
            print("rotation of %d users: %.1f s vs %.0f s for %s (%.2f s/user): %.0fx faster"
                  % (len(users), rotate, per_user * len(users), label, per_user, per_user * len(users) / rotate))
    finally:
        bed.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
