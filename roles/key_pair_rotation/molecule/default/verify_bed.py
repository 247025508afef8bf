# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Molecule verifier: check the rotated key pair outside Ansible (boto3 per region, real ssh logins).

usage: verify_bed.py BED_DIR PRIVATE_KEY REGION...   (run from the repository root)
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.getcwd())

from tests.bed.bed import Bed  # noqa: E402  pylint: disable=wrong-import-position


def canonical(line):
    return " ".join(line.split()[:2])


def main(bed_dir, key, *regions):
    bed = Bed.load(bed_dir)
    with open(key + ".pub", encoding="utf-8") as handle:
        public = canonical(handle.read())
    problems = []
    for region in regions:
        pairs = bed.client("ec2", region).describe_key_pairs(
            Filters=[{"Name": "key-name", "Values": [os.path.basename(key)]}], IncludePublicKey=True
        )["KeyPairs"]
        if len(pairs) != 1 or canonical(pairs[0]["PublicKey"]) != public:
            problems.append("%s: the key pair does not hold the controller's public key" % region)
    with tempfile.TemporaryDirectory() as tmp:
        stranger = os.path.join(tmp, "stranger")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger], check=True)
        for host in bed.hosts:
            with open(host["authorized_keys"], encoding="utf-8") as handle:
                if public not in {canonical(line) for line in handle if line.strip()}:
                    problems.append("%s: the public key is not in authorized_keys" % host["name"])
            if bed.ssh(host["name"], key).returncode != 0:
                problems.append("%s: ssh login with the rotated key refused" % host["name"])
            if bed.ssh(host["name"], stranger).returncode == 0:
                problems.append("%s: a key never distributed was accepted" % host["name"])
    for problem in problems:
        print(problem)
    print("checked %d regions and %d hosts" % (len(regions), len(bed.hosts)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
