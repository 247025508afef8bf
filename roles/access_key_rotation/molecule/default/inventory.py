#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dynamic inventory of the molecule scenario: the test bed's hosts (empty until create ran).

dev = host1 + host2, prod = host3, each environment with its own AWS settings (same local moto,
different region) so the role batches its AWS calls per environment.
"""

import json
import os
import sys

BED_DIR = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"), "bed")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print("{}")
        return 0
    try:
        with open(os.path.join(BED_DIR, "bed.json"), encoding="utf-8") as handle:
            bed = json.load(handle)
    except (OSError, ValueError):
        print(json.dumps({"_meta": {"hostvars": {}}}))
        return 0
    admin = bed["admin"]

    def aws(region):
        return {
            "endpoint_url": bed["endpoint"],
            "access_key": admin["access_key_id"],
            "secret_key": admin["secret_access_key"],
            "region": region,
        }

    hosts = {h["name"]: h for h in bed["hosts"]}
    credentials = {
        "host1": [
            {"iam_user": "molecule-app", "path": os.path.join(hosts["host1"]["home"], "credentials")},
            {"iam_user": "molecule-shared", "path": os.path.join(hosts["host1"]["home"], "credentials"), "profile": "shared"},
        ],
        "host2": [
            {"iam_user": "molecule-shared", "path": os.path.join(hosts["host2"]["home"], "aws", "credentials")},
        ],
        "host3": [
            {"iam_user": "molecule-prod", "path": os.path.join(hosts["host3"]["home"], "credentials"), "profile": "prod"},
        ],
    }
    hostvars = {}
    for name, host in hosts.items():
        hostvars[name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": host["port"],
            "ansible_user": "root",
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": os.path.join(BED_DIR, "admin_ed25519"),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=%s -o IdentitiesOnly=yes"
            % os.path.join(BED_DIR, "known_hosts"),
            "ansible_python_interpreter": bed.get("python") or sys.executable,
            "bed_home": host["home"],
            "access_key_rotation_credentials": credentials.get(name, []),
        }
    inventory = {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["dev", "prod"]},
        "dev": {"hosts": [n for n in ("host1", "host2") if n in hosts], "vars": {"access_key_rotation_aws": aws("us-east-1")}},
        "prod": {"hosts": [n for n in ("host3",) if n in hosts], "vars": {"access_key_rotation_aws": aws("us-west-2")}},
    }
    print(json.dumps(inventory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
