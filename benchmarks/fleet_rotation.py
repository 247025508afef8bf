#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time the role keyops.aws.access_key_rotation over a fleet on the local test bed.

For every N (``--ns``), a fresh bed (moto with auth on, ``--hosts`` real sshd hosts) is started and
seeded with N IAM users with one Active key each, held round-robin by one credentials file per host
(profile = user name). Then, in the same run:

  role, forced       access_key_rotation_force + delete_after_days 0 (a new key each, old one deleted)
  role, steady       the same inventory again: nothing is due (no AWS write, changed=0)
  loop baseline      (at N = ``--baseline-n`` only; linear by construction) what users write today:
                     amazon.aws.iam_access_key with rotate_keys looped per user, then
                     community.general.ini_file per profile (key id and secret), on other N users
  boto3 floor        a bare boto3 script doing the role's AWS calls (ListAccessKeys, CreateAccessKey,
                     3 STS calls, UpdateAccessKey, DeleteAccessKey) with 16 threads and one local write
                     per credentials file, no Ansible, no waiting between STS calls

Each run is checked through boto3 and the files (every user ends with one Active key, the one its
profile holds). Printed per run: seconds, ms per user, AWS requests per user (lines in the bed's
moto request log during the run), peak controller RSS (resource.getrusage(RUSAGE_CHILDREN) of a
wrapper around ansible-playbook), the ratio to the loop baseline (per user) and to the floor.

  python benchmarks/fleet_rotation.py [--ns 200,1000,3000] [--hosts 3] [--baseline-n 200]
                                      [--no-baseline] [--no-floor] [--profile]

Run from the repository root with the project venv (. scripts/lib.sh; keyops_ensure_venv;
keyops_collection_path). Prints figures only; asserts nothing about time.
"""

import argparse
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.bed.bed import Bed  # noqa: E402  pylint: disable=wrong-import-position

ROLE_PLAYBOOK = """---
- name: Rotate (benchmark)
  hosts: all
  gather_facts: false
  roles:
    - role: keyops.aws.access_key_rotation
"""

BASELINE_PLAYBOOK = """---
- name: The loop users write today (benchmark baseline)
  hosts: all
  gather_facts: false
  tasks:
    - name: A new key per user (amazon.aws.iam_access_key, rotate_keys)
      amazon.aws.iam_access_key:
        user_name: "{{ item.iam_user }}"
        state: present
        rotate_keys: true
      loop: "{{ access_key_rotation_credentials }}"
      delegate_to: localhost
      register: new_keys
      no_log: true

    - name: Write it to the profile (community.general.ini_file, key id and secret)
      community.general.ini_file:
        path: "{{ item.0.item.path }}"
        section: "{{ item.0.item.profile }}"
        option: "{{ item.1 }}"
        value: "{{ item.0.access_key.access_key_id if item.1 == 'aws_access_key_id' else item.0.secret_access_key }}"
        mode: "0600"
      loop: "{{ new_keys.results | product(['aws_access_key_id', 'aws_secret_access_key']) | list }}"
      no_log: true
"""

# Runs a command and prints the peak RSS (KiB) of its process tree's largest process.
RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'w'), stderr=subprocess.STDOUT).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(rc)\n"
)
RECAP_RE = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def requests_so_far(bed):
    """Requests moto has answered (one log line per request)."""
    count = 0
    with open(os.path.join(bed.workdir, "moto.log"), "rb") as handle:
        for line in handle:
            if b'"POST ' in line or b'"GET ' in line:
                count += 1
    return count


def seed(bed, prefix, count, hosts, workdir):
    """N users with one key each; one credentials file per host holding its users (round-robin)."""
    iam = bed.client("iam")

    def make(index):
        name = "%s-%05d" % (prefix, index)
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return name, key["AccessKeyId"], key["SecretAccessKey"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        users = list(pool.map(make, range(count)))
    hostvars = {}
    paths = {}
    for number, host in enumerate(hosts):
        directory = os.path.join(bed.host(host)["home"], prefix)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = os.path.join(directory, "credentials")
        mine = users[number::len(hosts)]
        text = "".join("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n" % u for u in mine)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        paths[host] = path
        hostvars[host] = {"access_key_rotation_credentials": [{"iam_user": u[0], "path": path, "profile": u[0]} for u in mine]}
    inventory = bed.write_inventory(os.path.join(workdir, "%s-inventory.json" % prefix), hostvars=hostvars)
    return users, paths, inventory


def run_playbook(bed, workdir, name, text, inventory, extra_vars, env=None):
    """(seconds, peak RSS MiB, output)."""
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    vars_file = os.path.join(workdir, name + ".vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(extra_vars, handle)
    log = os.path.join(workdir, name + ".log")
    environment = bed.env(ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True", ANSIBLE_FORKS="10", **(env or {}))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", RSS_WRAPPER, log, "ansible-playbook", "-i", inventory, path, "-e", "@" + vars_file],
                          env=environment, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    with open(log, encoding="utf-8", errors="replace") as handle:
        output = handle.read()
    if proc.returncode != 0:
        sys.stderr.write(output[-4000:] + proc.stderr[-2000:])
        raise SystemExit("playbook %s failed (rc %s)" % (name, proc.returncode))
    rss_mib = int(proc.stdout.strip().splitlines()[-1]) / 1024.0
    return elapsed, rss_mib, output


def changed_total(output):
    return sum(int(m[2]) for m in RECAP_RE.findall(output.split("PLAY RECAP")[-1]))


def state(bed, users, paths):
    """({user: {key id: status}}, {profile: key id} over every file)."""
    iam = bed.client("iam")

    def read(user):
        return user[0], {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user[0])["AccessKeyMetadata"]}

    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = dict(pool.map(read, users))
    held = {}
    for path in paths.values():
        parser = configparser.RawConfigParser()
        parser.read(path)
        for section in parser.sections():
            held[section] = parser.get(section, "aws_access_key_id", fallback=None)
    return keys, held


def check_rotated(before, after, users, deleted=True):
    keys, held = after
    bad = []
    for name, old_id, _secret in users:
        active = [k for k, status in keys[name].items() if status == "Active"]
        if deleted and (len(active) != 1 or held.get(name) != active[0] or old_id in keys[name]):
            bad.append(name)
        elif held.get(name) not in active or held.get(name) == old_id:  # the loop keeps the old key Active
            bad.append(name)
    if bad:
        raise SystemExit("rotation incomplete for %d users, e.g. %s" % (len(bad), bad[:3]))
    del before


def floor(bed, users, paths, hosts, concurrency=16, successes=3):
    """The same AWS calls and one write per file with bare boto3: (seconds, requests)."""
    import boto3  # pylint: disable=import-outside-toplevel
    import botocore.config  # pylint: disable=import-outside-toplevel

    config = botocore.config.Config(max_pool_connections=concurrency + 4, retries={"mode": "standard"})
    session = boto3.session.Session()
    admin = bed.admin_credentials
    iam = session.client("iam", endpoint_url=bed.endpoint, region_name="us-east-1", config=config,
                         aws_access_key_id=admin["access_key_id"], aws_secret_access_key=admin["secret_access_key"])
    before = requests_so_far(bed)
    start = time.monotonic()

    def rotate(user):
        name = user[0]
        old = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]]
        new = iam.create_access_key(UserName=name)["AccessKey"]
        return name, old, new["AccessKeyId"], new["SecretAccessKey"]

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        rotated = list(pool.map(rotate, users))
    by_name = {r[0]: r for r in rotated}
    for number, host in enumerate(hosts):
        mine = users[number::len(hosts)]
        text = "".join("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n" % (u[0], by_name[u[0]][2], by_name[u[0]][3]) for u in mine)
        tmp = paths[host] + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, paths[host])
    clients = [session.client("sts", endpoint_url=bed.endpoint, region_name="us-east-1", config=config,
                              aws_access_key_id=r[2], aws_secret_access_key=r[3]) for r in rotated]

    def check(client):
        for _attempt in range(successes):
            client.get_caller_identity()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(check, clients))

    def retire(item):
        name, old, _new, _secret = item
        for kid in old:
            iam.update_access_key(UserName=name, AccessKeyId=kid, Status="Inactive")
            iam.delete_access_key(UserName=name, AccessKeyId=kid)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(retire, rotated))
    return time.monotonic() - start, requests_so_far(bed) - before


def measure(n, args, workdir):
    bed = Bed(os.path.join(workdir, "bed-%d" % n))
    rows = []
    try:
        bed.start(host_count=args.hosts)
        hosts = [h["name"] for h in bed.hosts]
        start = time.monotonic()
        users, paths, inventory = seed(bed, "fleet%d" % n, n, hosts, workdir)
        print("N=%d: seeded %d users on %d hosts in %.1f s" % (n, n, len(hosts), time.monotonic() - start), flush=True)
        extra = {"access_key_rotation_escrow_dir": os.path.join(workdir, "escrow-%d" % n), "access_key_rotation_delete_after_days": 0,
                 "access_key_rotation_concurrency": args.concurrency}
        env = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"} if args.profile else {}

        before = state(bed, users, paths)
        count = requests_so_far(bed)
        elapsed, rss, output = run_playbook(bed, workdir, "role-forced-%d" % n, ROLE_PLAYBOOK, inventory,
                                            dict(extra, access_key_rotation_force=True), env)
        requests = requests_so_far(bed) - count
        check_rotated(before, state(bed, users, paths), users)
        rows.append((n, "role, forced (delete_after_days 0)", elapsed, requests, rss))
        if args.profile:
            # profile_tasks pads a long task name with only "--": match any run of dashes before the time
            print("\n".join(line for line in output.splitlines() if re.search(r" -+ \d+\.\d+s$", line))[:4000], flush=True)

        steady_before = state(bed, users, paths)
        count = requests_so_far(bed)
        elapsed, rss, output = run_playbook(bed, workdir, "role-steady-%d" % n, ROLE_PLAYBOOK, inventory, extra, env)
        requests = requests_so_far(bed) - count
        if state(bed, users, paths) != steady_before or changed_total(output) != 0:
            raise SystemExit("steady run changed something (changed=%d)" % changed_total(output))
        rows.append((n, "role, steady (nothing due, changed=0)", elapsed, requests, rss))

        if not args.no_baseline and n == args.baseline_n:
            base_users, base_paths, base_inventory = seed(bed, "base%d" % n, n, hosts, workdir)
            base_before = state(bed, base_users, base_paths)
            count = requests_so_far(bed)
            elapsed, rss, _output = run_playbook(bed, workdir, "baseline-%d" % n, BASELINE_PLAYBOOK, base_inventory, {})
            requests = requests_so_far(bed) - count
            check_rotated(base_before, state(bed, base_users, base_paths), base_users, deleted=False)
            rows.append((n, "loop: iam_access_key + ini_file", elapsed, requests, rss))

        if not args.no_floor:
            floor_users, floor_paths, _inventory = seed(bed, "floor%d" % n, n, hosts, workdir)
            floor_before = state(bed, floor_users, floor_paths)
            elapsed, requests = floor(bed, floor_users, floor_paths, hosts, args.concurrency)
            check_rotated(floor_before, state(bed, floor_users, floor_paths), floor_users)
            rows.append((n, "bare boto3 floor", elapsed, requests, None))
    finally:
        bed.stop()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ns", default="200,1000,3000", help="comma-separated user counts (e.g. 20 for a quick run)")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--baseline-n", type=int, default=200, help="the N at which the loop baseline runs")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="print the role's slowest tasks (ansible.posix.profile_tasks)")
    args = parser.parse_args()
    ns = [int(v) for v in args.ns.split(",") if v.strip()]
    workdir = tempfile.mkdtemp(prefix="keyops-fleet-bench-")
    rows = []
    try:
        for n in ns:
            rows.extend(measure(n, args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with open("/proc/loadavg", encoding="utf-8") as handle:
        load = handle.read().split()[:3]
    print("\nhosts: %d  concurrency: %d  load average at the end: %s" % (args.hosts, args.concurrency, " ".join(load)))
    print("| N | run | seconds | ms/user | AWS requests/user | peak controller RSS MiB | vs loop (per user) | vs floor |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    loop = {n: t / n for n, label, t, _r, _m in rows if label.startswith("loop")}
    loop_per_user = next(iter(loop.values()), None)
    floors = {n: t for n, label, t, _r, _m in rows if label.startswith("bare")}
    for n, label, elapsed, requests, rss in rows:
        ratio = "%.1fx faster" % (loop_per_user * n / elapsed) if loop_per_user and not label.startswith("loop") else "-"
        vs_floor = "%.1fx" % (elapsed / floors[n]) if n in floors and not label.startswith("bare") else "-"
        print("| %d | %s | %.1f | %.1f | %.1f | %s | %s | %s |" % (
            n, label, elapsed, 1000.0 * elapsed / n, requests / float(n), "%.0f" % rss if rss else "-", ratio, vs_floor))
    forced = {n: t for n, label, t, _r, _m in rows if label.startswith("role, forced")}
    if 1000 in forced and 3000 in forced:
        print("time(3000) / time(1000), forced: %.2f" % (forced[3000] / forced[1000]))
    if loop_per_user:
        print("the loop is linear by construction (one task call per user and per profile): it ran at N=%d only;"
              " 'vs loop' scales its per-user time" % args.baseline_n)


if __name__ == "__main__":
    main()
