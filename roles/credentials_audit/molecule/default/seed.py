# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed a running bed for the credentials_audit molecule scenario: one IAM user whose key three hosts
hold (host2's file is 0644: the one planted finding), a key pair in every region, the current public key
on every host. Writes audit-inventory.json and audit-vars.json into the bed directory.

Usage (from the repository root): python roles/credentials_audit/molecule/default/seed.py BED_DIR
"""

import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.getcwd())

from tests.bed.bed import Bed  # noqa: E402  pylint: disable=wrong-import-position

REGIONS = ["us-east-1", "eu-west-1"]


def write(path, text, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def main(bed_dir):
    bed = Bed.load(bed_dir)
    iam = bed.client("iam")
    iam.create_user(UserName="molecule-app")
    key = iam.create_access_key(UserName="molecule-app")["AccessKey"]
    key_dir = os.path.join(bed_dir, "keys")
    os.makedirs(key_dir, mode=0o700, exist_ok=True)
    private = os.path.join(key_dir, "molecule-deploy")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "molecule-deploy", "-f", private], check=True)
    with open(private + ".pub", encoding="utf-8") as handle:
        public = handle.read().strip()
    for region in REGIONS:
        bed.client("ec2", region).import_key_pair(KeyName="molecule-deploy", PublicKeyMaterial=public.encode())
    hostvars = {}
    open_file = None
    for host in bed.hosts:
        path = os.path.join(host["home"], ".aws", "credentials")
        mode = 0o644 if host["name"] == "host2" else 0o600
        write(path, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (key["AccessKeyId"], key["SecretAccessKey"]), mode)
        if mode == 0o644:
            open_file = path
        write(host["authorized_keys"], public + "\n", 0o600)
        hostvars[host["name"]] = {
            "access_key_rotation_credentials": [{"iam_user": "molecule-app", "path": path}],
            "key_pair_rotation_authorized_keys_path": host["authorized_keys"],
        }
    bed.write_inventory(os.path.join(bed_dir, "audit-inventory.json"),
                        groups={"prod": ["host1", "host2"], "staging": ["host3"]}, hostvars=hostvars)
    with open(open_file, "rb") as handle:
        sha1 = hashlib.sha1(handle.read()).hexdigest()  # nosec - compared with stat's checksum
    env = bed.aws_env()
    seed = {
        "key_pair_rotation_name": "molecule-deploy",
        "key_pair_rotation_regions": REGIONS,
        "key_pair_rotation_key_dir": key_dir,
        "credentials_audit_report_dir": os.path.join(bed_dir, "report"),
        "environment": env,
        "open_file": open_file,
        "open_file_sha1": sha1,
    }
    write(os.path.join(bed_dir, "audit-vars.json"), json.dumps(seed, indent=2), 0o600)


if __name__ == "__main__":
    main(sys.argv[1])
