#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time keyops.aws.ec2_key_pair over a growing number of regions on the local test bed.

Starts its own bed (moto only, no ssh hosts), then for 1, 3, 8 regions and every enabled region
times one-task runs of:

  import        the key pair is missing everywhere (DescribeKeyPairs + ImportKeyPair per region)
  steady        nothing to do (the idempotent run: DescribeRegions + one read per region)
  info          ec2_key_pair_info for the name over the same regions
  absent        the key pair is deleted everywhere

and, for comparison, amazon.aws.ec2_key looped over the same regions (one task per region; it
compares by importing a temporary key). Each figure includes ansible-playbook's own start-up,
printed separately as "empty playbook". Prints figures only; asserts nothing.

  python benchmarks/ec2_key_pairs.py [--concurrency 16] [--no-baseline]

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
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.bed.bed import Bed  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = """---
- name: Benchmark
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
{tasks}
"""


def task(module, args, loop=None):
    text = "    - name: Run\n      %s: %s\n" % (module, json.dumps(args))
    if loop is not None:
        text += "      loop: %s\n" % json.dumps(loop)
    return text


def timed_playbook(bed, workdir, tasks, label):
    path = os.path.join(workdir, "%s.yml" % uuid.uuid4().hex[:8])
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(PLAYBOOK.format(tasks=tasks or "    - name: Nothing\n      ansible.builtin.meta: noop\n"))
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, path], env=bed.env(), capture_output=True,
                          text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (label, proc.stdout[-3000:] + proc.stderr[-2000:]))
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="keyops-bench-ec2-")
    bed = Bed(os.path.join(workdir, "bed"))
    try:
        bed.start(host_count=0)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(workdir, "key")], check=True)
        pub = os.path.join(workdir, "key.pub")
        listing = bed.client("ec2").describe_regions(AllRegions=True)["Regions"]
        import boto3  # pylint: disable=import-outside-toplevel

        partition = boto3.session.Session().get_partition_for_region
        enabled = sorted(r["RegionName"] for r in listing
                         if r["OptInStatus"] != "not-opted-in" and partition(r["RegionName"]) == "aws")
        startup = timed_playbook(bed, workdir, "", "empty")
        print("empty playbook (ansible start-up): %.2f s" % startup)
        print("%-8s %-9s %-9s %-9s %-9s %-20s" % ("regions", "import", "steady", "info", "absent", "amazon.aws.ec2_key loop"))
        for count in (1, 3, 8, len(enabled)):
            regions = enabled[:count]
            name = "bench-%s" % uuid.uuid4().hex[:8]
            base = {"name": name, "regions": regions, "concurrency": args.concurrency}
            present = dict(base, public_key_path=pub)
            figures = [
                timed_playbook(bed, workdir, task("keyops.aws.ec2_key_pair", present), "import"),
                timed_playbook(bed, workdir, task("keyops.aws.ec2_key_pair", present), "steady"),
                timed_playbook(bed, workdir, task("keyops.aws.ec2_key_pair_info", base), "info"),
                timed_playbook(bed, workdir, task("keyops.aws.ec2_key_pair", dict(base, state="absent")), "absent"),
            ]
            baseline = "-"
            if not args.no_baseline:
                with open(pub, encoding="utf-8") as handle:
                    material = handle.read().strip()
                seconds = timed_playbook(
                    bed, workdir,
                    task("amazon.aws.ec2_key", {"name": name + "-aa", "key_material": material, "region": "{{ item }}"},
                         loop=regions),
                    "baseline")
                baseline = "%.2f s" % seconds
            print("%-8d %-9s %-9s %-9s %-9s %-20s" % tuple([count] + ["%.2f s" % f for f in figures] + [baseline]))
    finally:
        bed.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
