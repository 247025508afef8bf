# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keyops.aws demo, on the local test bed (run it with scripts/demo).

1. The modules end to end: create a key, write it into a credentials file on an sshd host, verify
   it there through STS, and show that a second run reports no change.
2. A seeded three-environment fleet (dev, staging, prod): the audit before, a rotation of both
   kinds (IAM access keys on every holder: credentials files, an env file with a reload_command and
   a Secrets Manager secret; the EC2 key pair in three regions and the hosts' authorized_keys), a
   second run showing no change, and the audit after.

Everything runs against moto and sshd processes on 127.0.0.1, started here and stopped by PID.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.bed.bed import Bed  # noqa: E402  pylint: disable=wrong-import-position

DEMO = os.path.join(ROOT, "demo")
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
ENVIRONMENTS = {"dev": "host1", "staging": "host2", "prod": "host3"}
PROD_SECRET = "demo/prod/app"


def banner(text):
    print("\n" + "=" * 78 + "\n" + text + "\n" + "=" * 78, flush=True)


def playbook(bed, path, inventory=None, extra_vars=None, expect_rc=0, quiet=False):
    argv = ["ansible-playbook", "-i", inventory or bed.inventory, path]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    print("\n$ " + " ".join(os.path.basename(a) if a == path else a for a in argv[:4]) + (" -e ..." if extra_vars else ""), flush=True)
    proc = subprocess.run(argv, env=bed.env(ANSIBLE_NOCOLOR="1"), capture_output=True, text=True, check=False, cwd=ROOT)
    output = proc.stdout + proc.stderr
    if quiet:
        print(recap(output))
    else:
        print(output.rstrip())
    if expect_rc is not None and proc.returncode != expect_rc:
        print(output[-4000:] if quiet else "", file=sys.stderr)
        raise SystemExit("demo step failed: %s exited %s" % (os.path.basename(path), proc.returncode))
    return output


def recap(output):
    index = output.rfind("PLAY RECAP")
    return output[index:].rstrip() if index >= 0 else output[-2000:]


def changed_counts(output):
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", recap(output), re.M)}


def assert_no_change(output, what):
    counts = changed_counts(output)
    if not counts or any(counts.values()):
        raise SystemExit("demo: the second run of %s changed something: %s" % (what, counts))
    print("\n--> second run of %s: changed=0 on every host (%s)" % (what, ", ".join(sorted(counts))), flush=True)


def part_modules(bed):
    banner("1. The modules end to end: create, write on host1, verify, run again")
    bed.client("iam").create_user(UserName="demo-modules")
    extra = {"demo_user": "demo-modules", "demo_host": "host1"}
    playbook(bed, os.path.join(DEMO, "modules.yml"), extra_vars=extra)
    second = playbook(bed, os.path.join(DEMO, "modules.yml"), extra_vars=extra, quiet=True)
    assert_no_change(second, "the modules play")


def seed_fleet(bed, workdir):
    """IAM users with keys already written on their holders; one user held by two hosts."""
    iam = bed.client("iam")
    holders = {
        "host1": [("demo-dev-app", "default"), ("demo-ci", "ci")],
        "host2": [("demo-staging-app", "default"), ("demo-ci", "ci")],
        "host3": [("demo-prod-app", "default")],
    }
    keys = {}
    for user in sorted({user for entries in holders.values() for user, _profile in entries}):
        iam.create_user(UserName=user)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
    hostvars = {}
    for host, entries in holders.items():
        home = bed.host(host)["home"]
        path = os.path.join(home, ".aws", "credentials")
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        lines = ["# credentials written by hand long ago", ""]
        for user, profile in entries:
            lines += ["[%s]" % profile, "aws_access_key_id = %s" % keys[user]["AccessKeyId"],
                      "aws_secret_access_key = %s" % keys[user]["SecretAccessKey"], ""]
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
        if host == "host2":
            # a profile nobody manages, for a key deleted long ago: the audit finds it, rotation leaves it alone
            stale = iam.create_access_key(UserName="demo-staging-app")["AccessKey"]
            iam.delete_access_key(UserName="demo-staging-app", AccessKeyId=stale["AccessKeyId"])
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("[old-deploy]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                             % (stale["AccessKeyId"], stale["SecretAccessKey"]))
        # prod's file was left world-readable: the audit finds it
        os.chmod(path, 0o644 if host == "host3" else 0o600)
        hostvars[host] = {
            "access_key_rotation_credentials": [{"iam_user": user, "path": path, "profile": profile} for user, profile in entries],
            "key_pair_rotation_authorized_keys_path": bed.host(host)["authorized_keys"],
        }
    # dev's app also reads its key from a systemd EnvironmentFile (restarted after a change), and prod's
    # from a Secrets Manager secret next to its database password
    env_file = os.path.join(bed.host("host1")["home"], "app.env")
    dev = keys["demo-dev-app"]
    with open(env_file, "w", encoding="utf-8") as handle:
        handle.write("# /etc/app/app.env (systemd EnvironmentFile=)\nAPP_NAME=\"demo app\"\nexport AWS_ACCESS_KEY_ID=%s\n"
                     "AWS_SECRET_ACCESS_KEY=\"%s\"\nDB_PASSWORD='not-for-output'\n" % (dev["AccessKeyId"], dev["SecretAccessKey"]))
    os.chmod(env_file, 0o600)
    restarts = os.path.join(workdir, "app-restarts.log")
    hostvars["host1"]["access_key_rotation_credentials"].append({
        "iam_user": "demo-dev-app", "type": "env_file", "path": env_file,
        "reload_command": [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write('restarted\\n')", restarts]})
    prod = keys["demo-prod-app"]
    bed.client("secretsmanager").create_secret(Name=PROD_SECRET, SecretString=json.dumps({
        "aws_access_key_id": prod["AccessKeyId"], "aws_secret_access_key": prod["SecretAccessKey"], "db_password": "not-for-output"}))
    hostvars["host3"]["access_key_rotation_credentials"].append({"iam_user": "demo-prod-app", "type": "secretsmanager", "secret_id": PROD_SECRET})
    groups = {env: [host] for env, host in ENVIRONMENTS.items()}
    inventory = bed.write_inventory(os.path.join(workdir, "fleet.yml"), groups=groups, hostvars=hostvars)
    return inventory, env_file, restarts


def fleet_vars(workdir, reports):
    return {
        "key_pair_rotation_name": "demo-fleet",
        "key_pair_rotation_regions": REGIONS,
        "key_pair_rotation_key_dir": os.path.join(workdir, "keys"),
        "access_key_rotation_escrow_dir": os.path.join(workdir, "escrow"),
        "credentials_audit_report_dir": reports,
    }


def audit(bed, inventory, variables, reports, label):
    os.makedirs(reports, exist_ok=True)
    playbook(bed, "keyops.aws.audit_credentials", inventory=inventory, extra_vars=dict(variables, credentials_audit_report_dir=reports), quiet=True)
    with open(os.path.join(reports, "report.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    print("\n--> audit %s: %s findings %s" % (label, report["summary"]["findings"], json.dumps(report["summary"]["by_severity"])))
    for finding in report["findings"]:
        print("    [%-6s] %-24s %-8s %-6s %s" % (finding["severity"], finding["check"], finding.get("environment") or "-",
                                                 finding.get("host") or "-", finding["message"]))
    print("    report: %s (and report.html)" % os.path.join(reports, "report.json"))
    return report


def part_fleet(bed, workdir, output_dir):
    banner("2. A three-environment fleet: audit, rotate both kinds, run again, audit")
    inventory, env_file, restarts = seed_fleet(bed, workdir)
    print("inventory: %s (groups dev=host1, staging=host2, prod=host3)" % inventory)
    variables = fleet_vars(workdir, output_dir)
    audit(bed, inventory, variables, os.path.join(output_dir, "audit-before"), "before rotation")

    banner("2a. Rotate IAM access keys on every holder (forced: the seeded keys are young)")
    playbook(bed, "keyops.aws.rotate_access_keys", inventory=inventory, extra_vars=dict(variables, access_key_rotation_force=True))
    banner("2b. Rotate the EC2 key pair in %s and the hosts' authorized_keys" % ", ".join(REGIONS))
    playbook(bed, "keyops.aws.rotate_key_pairs", inventory=inventory, extra_vars=variables)

    banner("2c. The same two plays again: nothing is due, nothing changes")
    assert_no_change(playbook(bed, "keyops.aws.rotate_access_keys", inventory=inventory, extra_vars=variables, quiet=True), "rotate_access_keys")
    assert_no_change(playbook(bed, "keyops.aws.rotate_key_pairs", inventory=inventory, extra_vars=variables, quiet=True), "rotate_key_pairs")

    banner("2d. Proof from outside the collection")
    key = os.path.join(variables["key_pair_rotation_key_dir"], "demo-fleet")
    for env, host in ENVIRONMENTS.items():
        login = bed.ssh(host, key, "echo logged in as $(id -un)")
        print("    %-8s %s: ssh -i keys/demo-fleet -> %s" % (env, host, (login.stdout.strip() or login.stderr.strip())))
    for region in REGIONS:
        pairs = bed.client("ec2", region=region).describe_key_pairs(KeyNames=["demo-fleet"])["KeyPairs"]
        print("    %-15s key pair demo-fleet: %s" % (region, "present" if pairs else "missing"))
    iam = bed.client("iam")
    for user in ("demo-ci", "demo-dev-app", "demo-staging-app", "demo-prod-app"):
        statuses = ["%s %s" % (k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
        print("    %-17s %s" % (user, "; ".join(statuses)))
    env_values = {}
    with open(env_file, encoding="utf-8") as handle:
        for line in handle:
            name, sep, value = line.strip().partition("=")
            if sep and not name.startswith("#"):
                env_values[name.replace("export ", "")] = value.strip("\"'")
    secret = json.loads(bed.client("secretsmanager").get_secret_value(SecretId=PROD_SECRET)["SecretString"])
    for label, key_id, key_secret in (("env file app.env", env_values["AWS_ACCESS_KEY_ID"], env_values["AWS_SECRET_ACCESS_KEY"]),
                                      ("secret " + PROD_SECRET, secret["aws_access_key_id"], secret["aws_secret_access_key"])):
        arn = bed.client("sts", access_key_id=key_id, secret_access_key=key_secret).get_caller_identity()["Arn"]
        print("    %-30s holds %s -> STS: %s" % (label, key_id, arn))
    with open(restarts, encoding="utf-8") as handle:
        print("    reload_command of app.env ran %d time(s) (once, on the run that changed it)" % handle.read().count("restarted"))
    print("    secret %s keeps its other keys: %s" % (PROD_SECRET, ", ".join(sorted(k for k in secret if not k.startswith("aws_")))))

    audit(bed, inventory, variables, os.path.join(output_dir, "audit-after"), "after rotation")


def main():
    workdir = tempfile.mkdtemp(prefix="keyops-demo.")
    output_dir = os.path.join(os.environ.get("KEYOPS_CACHE", os.path.expanduser("~/.cache/keyops-aws")), "demo-output",
                              time.strftime("%Y%m%dT%H%M%S"))
    bed = Bed(os.path.join(workdir, "bed"))
    banner("Starting the local test bed (moto + 3 sshd hosts on 127.0.0.1)")
    try:
        bed.start()
        print("endpoint %s, hosts %s" % (bed.endpoint, ", ".join("%s:%s" % (h["name"], h["port"]) for h in bed.hosts)))
        part_modules(bed)
        part_fleet(bed, workdir, output_dir)
    finally:
        bed.stop()
        print("\nTest bed stopped (every process it started, by PID). Reports kept in %s" % output_dir)
    banner("Demo complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
