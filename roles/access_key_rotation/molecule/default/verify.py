# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Molecule verify: the state after converge, read with boto3 and from the files themselves."""

import configparser
import json
import os
import stat
import sys

import boto3
import botocore.config

HOLDERS = {
    # user: [(host, path under the host's home, profile)]
    "molecule-app": [("host1", "credentials", "default")],
    "molecule-shared": [("host1", "credentials", "shared"), ("host2", "aws/credentials", "default")],
    "molecule-prod": [("host3", "credentials", "prod")],
}


def client(bed, service, key_id=None, secret=None):
    return boto3.session.Session().client(
        service,
        region_name="us-east-1",
        endpoint_url=bed["endpoint"],
        aws_access_key_id=key_id or bed["admin"]["access_key_id"],
        aws_secret_access_key=secret or bed["admin"]["secret_access_key"],
        config=botocore.config.Config(retries={"max_attempts": 2}),
    )


def main(ephemeral):
    with open(os.path.join(ephemeral, "bed", "bed.json"), encoding="utf-8") as handle:
        bed = json.load(handle)
    homes = {h["name"]: h["home"] for h in bed["hosts"]}
    iam = client(bed, "iam")
    problems = []
    for user, holders in HOLDERS.items():
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        active = [k["AccessKeyId"] for k in keys if k["Status"] == "Active"]
        if len(active) != 1:
            problems.append("%s: %d Active keys" % (user, len(active)))
            continue
        for host, rel, profile in holders:
            path = os.path.join(homes[host], rel)
            if stat.S_IMODE(os.stat(path).st_mode) != 0o600:
                problems.append("%s: mode %o" % (path, stat.S_IMODE(os.stat(path).st_mode)))
            parser = configparser.RawConfigParser()
            parser.read(path)
            key_id = parser.get(profile, "aws_access_key_id", fallback=None)
            secret = parser.get(profile, "aws_secret_access_key", fallback=None)
            if key_id != active[0]:
                problems.append("%s [%s] holds %s, not the Active key %s" % (path, profile, key_id, active[0]))
                continue
            arn = client(bed, "sts", key_id, secret).get_caller_identity()["Arn"]
            if not arn.endswith(":user/" + user):
                problems.append("%s [%s] authenticates as %s" % (path, profile, arn))
    escrow = os.path.join(ephemeral, "escrow")
    if os.path.isdir(escrow) and os.listdir(escrow):
        problems.append("escrow not empty: %s" % sorted(os.listdir(escrow)))
    if problems:
        print("\n".join(problems))
        return 1
    print("ok: %d users, every holder holds its user's only Active key" % len(HOLDERS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
