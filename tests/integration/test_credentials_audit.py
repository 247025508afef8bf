# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credentials audit against the bed: every check planted once (next to clean profiles), a clean
fleet, fail_on, no secret at -vvvv, read-only (AWS calls recorded by a proxy, IAM/EC2 state and
every file's sha256 + mode compared), and the HTML report rendered in headless Chromium.

Ages cannot be planted in moto (keys are created "now"), so the recording proxy in front of moto
rewrites the CreateDate that ListAccessKeys returns for two chosen keys (400 and 120 days old).
"""

import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import socketserver
import stat
import struct
import subprocess
import threading
import urllib.parse
import uuid
import zlib
import datetime

import pytest

REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
PLAYBOOK = "credentials_audit/audit.yml"
# Read calls, and IAM's report generators (which only prepare a report to read)
READ_ONLY_ACTION = re.compile(r"^(Get|List|Describe)[A-Za-z]*$"
                              r"|^Generate(CredentialReport|ServiceLastAccessedDetails|OrganizationsAccessReport)$")
WRONG_SECRET = "Wr0ngSecretWr0ngSecretWr0ngSecretWr0ng12"


# ----------------------------------------------------------------------------- recording proxy
class _Proxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RecordingProxy:
    """Forwards every request to moto unchanged, records its service and action, and can make chosen
    access keys look older (rewrites CreateDate in ListAccessKeys answers)."""

    def __init__(self, target):
        self.target = urllib.parse.urlparse(target)
        self.calls = []
        self.created = {}  # access key id -> ISO date to show
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):  # quiet
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.record(self.command, self.path, self.headers, body)
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                headers = dict((key, value) for key, value in self.headers.items() if key.lower() not in ("connection",))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = proxy.rewrite(body, resp.read())
                self.send_response(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.server = _Proxy(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def action_of(path, headers, body):
        target = headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        query = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
        if "Action" in query:
            return query["Action"][0]
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"))
        except UnicodeDecodeError:
            form = {}
        if "Action" in form:
            return form["Action"][0]
        match = re.search(r"/operation/([A-Za-z]+)", path)
        return match.group(1) if match else "UNKNOWN %s" % path

    def record(self, method, path, headers, body):
        scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/", headers.get("Authorization") or "")
        service = scope.group(2) if scope else "?"
        with self.lock:
            self.calls.append((service, self.action_of(path, headers, body), method))

    def rewrite(self, request_body, data):
        if not self.created or b"ListAccessKeys" not in request_body:
            return data
        text = data.decode("utf-8")
        for key_id, when in self.created.items():
            text = re.sub(r"(<AccessKeyId>%s</AccessKeyId>.*?<CreateDate>)[^<]*(</CreateDate>)" % key_id,
                          lambda m, when=when: m.group(1) + when + m.group(2), text, flags=re.S)
        return text.encode("utf-8")

    def reset(self):
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


@pytest.fixture(scope="module")
def proxy(bed):
    the_proxy = RecordingProxy(bed.endpoint)
    yield the_proxy
    the_proxy.stop()


# ----------------------------------------------------------------------------- helpers
def ssh_keygen(path, comment="audit-test"):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True,
                   stdin=subprocess.DEVNULL)
    with open(str(path) + ".pub", encoding="utf-8") as handle:
        return handle.read().strip()


def write_file(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def profile_text(name, key_id, secret):
    return "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (name, key_id, secret)


def ago(days):
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_key(iam, user):
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def recap(output):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP."""
    result = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+)\s+:\s+(ok=.*)$", line.strip())
        if match:
            result[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2)))
    return result


def total_changed(output):
    return sum(item.get("changed", 0) for item in recap(output).values())


def snapshot_files(*roots):
    """{path: (sha256, mode)} of every file under roots."""
    files = {}
    for root in roots:
        for directory, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as handle:
                        files[path] = (hashlib.sha256(handle.read()).hexdigest(), stat.S_IMODE(st.st_mode))
                else:
                    files[path] = ("special", stat.S_IMODE(st.st_mode))
    return files


def snapshot_aws(bed, regions=None):
    iam = bed.client("iam")
    state = {"users": {}, "key_pairs": {}}
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            name = user["UserName"]
            keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            tags = iam.list_user_tags(UserName=name)["Tags"]
            state["users"][name] = {
                "keys": sorted((key["AccessKeyId"], key["Status"], str(key["CreateDate"])) for key in keys),
                "tags": sorted((tag["Key"], tag["Value"]) for tag in tags),
            }
    for region in regions or REGIONS:
        pairs = bed.client("ec2", region).describe_key_pairs(IncludePublicKey=True)["KeyPairs"]
        state["key_pairs"][region] = sorted((pair["KeyName"], pair.get("KeyFingerprint"), pair.get("PublicKey", "").strip(),
                                             str(pair.get("Tags"))) for pair in pairs)
    return state


# ----------------------------------------------------------------------------- the seeded fleet
class Fleet:
    """A bed fleet with every check planted (and clean profiles next to them)."""

    def __init__(self, bed, tmp, clean=False):
        self.bed = bed
        self.tmp = tmp
        self.sfx = uuid.uuid4().hex[:8]
        self.secrets = [WRONG_SECRET]
        self.old_keys = {}
        self.known_secrets = []
        self.key_dir = os.path.join(tmp, "keys")
        self.report_dir = os.path.join(tmp, "report")
        self.name = "kp-%s" % self.sfx
        self.expected = set()
        self.hostvars = {}
        if clean:
            self._clean()
        else:
            self._planted()

    def u(self, base):
        return "%s-%s" % (base, self.sfx)

    def home(self, host):
        return self.bed.host(host)["home"]

    def cred_path(self, host, name="credentials"):
        return os.path.join(self.home(host), self.sfx, name)

    def expect(self, check, env=None, host=None, path=None, profile=None, iam_user=None, key=None, region=None):
        self.expected.add((check, env, host, path, profile, iam_user, key, region))

    def _key_pair_files(self, private_mode=0o600, retired=False):
        os.makedirs(self.key_dir, mode=0o700)
        current = ssh_keygen(os.path.join(self.key_dir, self.name), self.name)
        os.chmod(os.path.join(self.key_dir, self.name), private_mode)
        old = None
        if retired:
            os.makedirs(os.path.join(self.key_dir, self.name + ".retired"), mode=0o700)
            old = ssh_keygen(os.path.join(self.key_dir, self.name + ".retired", "20260101T000000Z"), "retired")
        other = ssh_keygen(os.path.join(self.tmp, "other"), "other")
        return current, old, other

    def _planted(self):
        bed, iam = self.bed, self.bed.client("iam")
        for base in ("ok", "dev", "gone", "inact", "mism", "split", "limit", "old"):
            iam.create_user(UserName=self.u(base))
        ok_id, ok_secret = new_key(iam, self.u("ok"))
        dev_id, dev_secret = new_key(iam, self.u("dev"))
        gone_id, gone_secret = new_key(iam, self.u("gone"))
        iam.delete_access_key(UserName=self.u("gone"), AccessKeyId=gone_id)
        inact_id, inact_secret = new_key(iam, self.u("inact"))
        iam.update_access_key(UserName=self.u("inact"), AccessKeyId=inact_id, Status="Inactive")
        mism_id, mism_secret = new_key(iam, self.u("mism"))
        split1_id, split1_secret = new_key(iam, self.u("split"))
        split2_id, split2_secret = new_key(iam, self.u("split"))
        limit1_id, limit1_secret = new_key(iam, self.u("limit"))
        limit2_id, _limit2_secret = new_key(iam, self.u("limit"))
        old_id, old_secret = new_key(iam, self.u("old"))
        self.old_keys = {old_id: ago(400), limit2_id: ago(120)}
        # the old key is in use (last used now): it is too old, not unused
        bed.client("sts", access_key_id=old_id, secret_access_key=old_secret).get_caller_identity()
        # both keys of the split user are held: the next rotation retires the older (ties: the smaller id)
        split_keys = iam.list_access_keys(UserName=self.u("split"))["AccessKeyMetadata"]
        split_retire = sorted((key["CreateDate"].replace(microsecond=0), key["AccessKeyId"]) for key in split_keys)[0][1]
        self.secrets += [ok_secret, dev_secret, gone_secret, inact_secret, mism_secret, split1_secret, split2_secret,
                         limit1_secret, old_secret]

        h1 = self.cred_path("host1")
        write_file(h1, profile_text("default", ok_id, ok_secret) + profile_text("personal", dev_id, dev_secret)
                   + profile_text("typo", "AKIA123", "x" * 40) + "region = eu-west-1\n")
        h1_gone = self.cred_path("host1", "gone")
        write_file(h1_gone, profile_text("default", gone_id, gone_secret))
        h1_split = self.cred_path("host1", "split")
        write_file(h1_split, "# split holder\n" + profile_text("default", split1_id, split1_secret))
        h2 = self.cred_path("host2")
        write_file(h2, profile_text("default", ok_id, ok_secret) + profile_text("inactive", inact_id, inact_secret)
                   + profile_text("mismatch", mism_id, WRONG_SECRET) + profile_text("split", split2_id, split2_secret), mode=0o644)
        h3 = self.cred_path("host3")
        write_file(h3, profile_text("default", limit1_id, limit1_secret) + profile_text("old", old_id, old_secret))

        self.hostvars = {
            "host1": {"access_key_rotation_credentials": [
                {"iam_user": self.u("ok"), "path": h1},
                {"iam_user": self.u("gone"), "path": h1_gone, "profile": "default"},
                {"iam_user": self.u("split"), "path": h1_split}]},
            "host2": {"access_key_rotation_credentials": [
                {"iam_user": self.u("ok"), "path": h2},
                {"iam_user": self.u("inact"), "path": h2, "profile": "inactive"},
                {"iam_user": self.u("mism"), "path": h2, "profile": "mismatch"},
                {"iam_user": self.u("split"), "path": h2, "profile": "split"}]},
            "host3": {"access_key_rotation_credentials": [
                {"iam_user": self.u("limit"), "path": h3},
                {"iam_user": self.u("old"), "path": h3, "profile": "old"}]},
        }
        current, retired, other = self._key_pair_files(private_mode=0o644, retired=True)
        bed.client("ec2", "us-east-1").import_key_pair(KeyName=self.name, PublicKeyMaterial=current.encode())
        bed.client("ec2", "us-west-2").import_key_pair(KeyName=self.name, PublicKeyMaterial=other.encode())
        self._authorized_keys({"host1": [current], "host2": [other], "host3": [current, retired]})

        self.expect("malformed_key_id", "prod", "host1", h1, "typo", None, "AKIA123")
        self.expect("key_not_found", "prod", "host1", h1_gone, "default", self.u("gone"), gone_id)
        self.expect("file_mode_open", "prod", "host2", h2)
        self.expect("key_inactive", "prod", "host2", h2, "inactive", self.u("inact"), inact_id)
        self.expect("secret_mismatch", "prod", "host2", h2, "mismatch", self.u("mism"), mism_id)
        self.expect("holders_disagree", "prod", iam_user=self.u("split"))
        self.expect("key_limit_reached", "prod", iam_user=self.u("split"), key=split_retire)
        self.expect("key_limit_reached", "staging", iam_user=self.u("limit"), key=limit2_id)
        self.expect("key_unused", "staging", iam_user=self.u("limit"), key=limit2_id)
        self.expect("key_too_old", "staging", iam_user=self.u("old"), key=old_id)
        for env in ("prod", "staging"):
            self.expect("key_pair_missing", env, region="eu-west-1")
            self.expect("key_pair_drift", env, region="us-west-2")
        self.expect("authorized_key_missing", "prod", "host2", self.bed.host("host2")["authorized_keys"])
        self.expect("retired_key_present", "staging", "host3", self.bed.host("host3")["authorized_keys"])
        self.expect("private_key_mode_open", path=os.path.join(self.key_dir, self.name))

    def _clean(self):
        bed, iam = self.bed, self.bed.client("iam")
        iam.create_user(UserName=self.u("app"))
        iam.create_user(UserName=self.u("ci"))
        app_id, app_secret = new_key(iam, self.u("app"))
        ci_id, ci_secret = new_key(iam, self.u("ci"))
        self.secrets += [app_secret, ci_secret]
        self.hostvars = {}
        for host in ("host1", "host2", "host3"):
            path = self.cred_path(host)
            write_file(path, profile_text("default", app_id, app_secret) + profile_text("ci", ci_id, ci_secret))
            self.hostvars[host] = {"access_key_rotation_credentials": [{"iam_user": self.u("app"), "path": path}]}
        current, _retired, _other = self._key_pair_files()
        for region in REGIONS:
            bed.client("ec2", region).import_key_pair(KeyName=self.name, PublicKeyMaterial=current.encode())
        self._authorized_keys({"host1": [current], "host2": [current], "host3": [current]})

    def _authorized_keys(self, keys):
        for host, lines in keys.items():
            path = self.bed.host(host)["authorized_keys"]
            write_file(path, "# managed by the audit test\n" + "".join(line + "\n" for line in lines), mode=0o600)
            self.hostvars[host]["key_pair_rotation_authorized_keys_path"] = path

    def inventory(self, aws=None):
        """The bed inventory (prod: host1, host2; staging: host3); aws: access_key_rotation_aws for every host."""
        hostvars = dict((host, dict(values)) for host, values in self.hostvars.items())
        if aws:
            for values in hostvars.values():
                values["access_key_rotation_aws"] = aws
        return self.bed.write_inventory(os.path.join(self.tmp, "inventory.json"),
                                        groups={"prod": ["host1", "host2"], "staging": ["host3"]}, hostvars=hostvars)

    def extra_vars(self, **overrides):
        values = {
            "key_pair_rotation_name": self.name,
            "key_pair_rotation_regions": REGIONS,
            "key_pair_rotation_key_dir": self.key_dir,
            "credentials_audit_report_dir": self.report_dir,
            "credentials_audit_verify_timeout": 0,
        }
        values.update(overrides)
        return values

    def report(self):
        with open(os.path.join(self.report_dir, "report.json"), encoding="utf-8") as handle:
            return json.load(handle)

    def fleet_roots(self):
        return [os.path.join(host["dir"]) for host in self.bed.hosts] + [self.key_dir]


def found(report):
    return set((item["check"], item["environment"], item["host"], item["path"], item["profile"], item["iam_user"],
                item["access_key_id"], item["region"]) for item in report["findings"])


def expected_tuples(fleet):
    return set(fleet.expected)


@pytest.fixture(scope="module")
def planted(bed, proxy, tmp_path_factory):
    fleet = Fleet(bed, str(tmp_path_factory.mktemp("audit-planted")))
    proxy.created.update(fleet.old_keys)
    # Every secret moto holds, read once before any audit: moto's state dump grows large (and slow)
    # once EC2 has been read in every region, which ec2_key_pair_info does to find a missing name.
    fleet.known_secrets = bed.known_secrets()
    return fleet


# ----------------------------------------------------------------------------- tests
def test_planted_fleet_reports_exactly_the_planted_findings_and_changes_nothing(bed, proxy, planted, ansible_playbook, no_secrets):
    files_before = snapshot_files(*planted.fleet_roots())
    aws_before = snapshot_aws(bed)
    # Each environment's AWS settings come from access_key_rotation_aws (as the rotation role reads them);
    # the AWS_* credentials of the environment are refused by AWS, so nothing may fall back on them.
    admin = bed.admin_credentials
    inventory = planted.inventory(aws={"access_key": admin["access_key_id"], "secret_key": admin["secret_access_key"],
                                       "endpoint_url": proxy.url, "region": "us-east-1"})
    extra = planted.extra_vars(credentials_audit_max_age_days=365, credentials_audit_unused_days=90)
    env = {"AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": "AKIA" + "Z" * 16, "AWS_SECRET_ACCESS_KEY": "z" * 40}
    proxy.reset()

    check = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, check=True, env=env)
    assert not os.path.exists(planted.report_dir), "check mode wrote the report"
    assert total_changed(check.stdout) == 1  # the report it would write
    first = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, env=env)
    assert total_changed(first.stdout) == 1
    second = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, env=env, check=True)
    assert total_changed(second.stdout) == 0
    third = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, env=env, verbosity=4)
    assert total_changed(third.stdout) == 0

    report = planted.report()
    got = found(report)
    want = expected_tuples(planted)
    assert got - want == set(), "unexpected findings: %s" % sorted(got - want, key=str)
    assert want - got == set(), "missing findings: %s" % sorted(want - got, key=str)
    assert len(report["findings"]) == len(want)
    assert report["errors"] == []
    assert report["summary"]["findings"] == len(want)
    high = ("key_not_found", "key_inactive", "secret_mismatch", "malformed_key_id", "file_mode_open", "private_key_mode_open",
            "retired_key_present")
    medium = ("holders_disagree", "key_pair_missing", "key_pair_drift", "authorized_key_missing", "key_too_old", "key_limit_reached")
    assert report["summary"]["by_severity"] == {
        "high": sum(1 for item in want if item[0] in high),
        "medium": sum(1 for item in want if item[0] in medium),
        "low": sum(1 for item in want if item[0] == "key_unused"),
    }
    assert {item[0] for item in want} == set(high + medium + ("key_unused",)), "every check is planted"
    for item in report["findings"]:
        assert item["message"] and item["fix"], item
    assert oct(stat.S_IMODE(os.stat(os.path.join(planted.report_dir, "report.json")).st_mode)) == "0o600"
    # the play output carries the summary
    assert "credentials audit: %d finding(s)" % len(want) in first.stdout

    # read-only: only Get/List/Describe calls, no file or AWS state changed
    calls = proxy.reset()
    assert calls, "the audit made no AWS call through the proxy"
    writes = sorted(set((service, action) for service, action, _method in calls if not READ_ONLY_ACTION.match(action)))
    assert writes == [], "non-read AWS calls: %s" % writes
    services = set(service for service, _action, _method in calls)
    assert {"iam", "sts", "ec2"} <= services
    assert snapshot_aws(bed) == aws_before
    assert snapshot_files(*planted.fleet_roots()) == files_before

    # nothing secret anywhere: play output at every verbosity, the report files
    secrets = planted.known_secrets + planted.secrets
    for output in ansible_playbook.outputs:
        no_secrets(output, secrets)
    for name in ("report.json", "report.html"):
        with open(os.path.join(planted.report_dir, name), encoding="utf-8") as handle:
            no_secrets(handle.read(), secrets)


def test_fail_on_fails_the_play_naming_the_worst_finding(planted, proxy, ansible_playbook):
    inventory = planted.inventory()
    env = {"AWS_ENDPOINT_URL": proxy.url}
    proc = ansible_playbook(PLAYBOOK, inventory=inventory, env=env, expect_rc=2,
                            extra_vars=planted.extra_vars(credentials_audit_max_age_days=365, credentials_audit_fail_on="high"))
    output = proc.stdout + proc.stderr
    assert re.search(r"worst: high key_not_found prod/host1 \S+ \[default\] %s" % planted.u("gone"), output), output[-3000:]
    assert "fatal: [host1]" in output and "failed=1" in output


def test_clean_fleet_has_zero_findings(bed, proxy, planted, tmp_path, ansible_playbook, no_secrets):
    fleet = Fleet(bed, str(tmp_path), clean=True)
    proc = ansible_playbook(PLAYBOOK, inventory=fleet.inventory(), env={"AWS_ENDPOINT_URL": proxy.url},
                            extra_vars=fleet.extra_vars(credentials_audit_fail_on="low"))
    report = fleet.report()
    assert report["findings"] == [], report["findings"]
    assert report["errors"] == []
    assert report["summary"]["findings"] == 0
    assert report["scope"]["hosts"] == ["host1", "host2", "host3"]
    assert report["scope"]["environments"] == ["prod", "staging"]
    assert report["scope"]["profiles"] == 6
    assert "credentials audit: 0 finding(s)" in proc.stdout
    no_secrets(proc.stdout + proc.stderr, planted.known_secrets + fleet.secrets)


# ----------------------------------------------------------------------------- HTML rendering
def _png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG, decoded with the standard library."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def _chromium(args, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed (scripts/test installs it)")
    profile = tmp_path / ("profile-%s" % uuid.uuid4().hex[:6])
    profile.mkdir()
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=%s" % profile] + args
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_html_report_renders_in_headless_chromium(planted, proxy, ansible_playbook, tmp_path):
    if not os.path.exists(os.path.join(planted.report_dir, "report.html")):
        ansible_playbook(PLAYBOOK, inventory=planted.inventory(), env={"AWS_ENDPOINT_URL": proxy.url},
                         extra_vars=planted.extra_vars(credentials_audit_max_age_days=365))
    report = planted.report()
    url = "file://" + os.path.join(planted.report_dir, "report.html")
    png = tmp_path / "report.png"
    proc = _chromium(["--screenshot=%s" % png, "--window-size=1280,2000", url], tmp_path)
    assert png.exists(), proc.stderr[-2000:]
    width, height, bpp, rows = _png_pixels(str(png))
    assert (width, height) == (1280, 2000)
    colours = set()
    for row in rows[::8]:
        for x in range(0, width * bpp, bpp * 4):
            colours.add(row[x:x + 3])
    assert len(colours) >= 12, "the screenshot looks blank (%d colours)" % len(colours)
    assert b"\xd9\x30\x25" in colours, "no high-severity red in the matrix"  # #d93025
    dom = _chromium(["--dump-dom", url], tmp_path).stdout
    summary = report["summary"]
    assert '<span class="n" id="count-total">%d</span>' % summary["findings"] in dom
    for severity, count in summary["by_severity"].items():
        assert '<span class="n" id="count-%s">%d</span>' % (severity, count) in dom
    assert dom.count('<tr class="finding"') == summary["findings"]
    assert "<svg" in dom


# ----------------------------------------------------------------------------- accounts, other holder types, scheduled deletions
ENV_FILE = """# app environment (systemd EnvironmentFile= and docker --env-file)
APP_NAME=billing

export AWS_ACCESS_KEY_ID={cross_id}
AWS_SECRET_ACCESS_KEY="{cross_secret}"
AWS_ACCESS_KEY_ID_OLD=AKIAOLDOLDOLDOLDOLD1
GREETING='hello world'
DB_PASSWORD={db_password}
BACKUP_AWS_ACCESS_KEY_ID={inact_id}
BACKUP_AWS_SECRET_ACCESS_KEY={inact_secret}
REPORTS_AWS_ACCESS_KEY_ID={mism_id}
REPORTS_AWS_SECRET_ACCESS_KEY={wrong_secret}
"""
DB_PASSWORD = "Db-Pa55word-never-in-output"


def _store_versions(bed, secret_ids, parameters):
    sm, ssm = bed.client("secretsmanager"), bed.client("ssm")
    versions = {}
    for secret_id in secret_ids:
        versions[secret_id] = sorted(v["VersionId"] for v in sm.list_secret_version_ids(SecretId=secret_id)["Versions"])
    for name in parameters:
        versions[name] = ssm.get_parameter(Name=name)["Parameter"]["Version"]
    return versions


def test_accounts_other_holder_types_and_scheduled_deletions(bed, proxy, tmp_path, ansible_playbook, no_secrets):
    """dev (host1), staging (host2) and prod (host3) share one AWS account: a user held in staging and prod is one
    user (holders_disagree across environments, one key_limit_reached); env files, Secrets Manager secrets and SSM
    parameter pairs are read as holders; a key the rotation deactivated and tagged is reported as scheduled for
    deletion, not as key_limit_reached."""
    sfx = uuid.uuid4().hex[:8]
    iam, sm, ssm = bed.client("iam"), bed.client("secretsmanager"), bed.client("ssm")

    def u(base):
        return "%s-%s" % (base, sfx)

    for base in ("cross", "twoenv", "rotated", "gone", "inact", "mism"):
        iam.create_user(UserName=u(base))
    cross1_id, cross1_secret = new_key(iam, u("cross"))
    cross2_id, cross2_secret = new_key(iam, u("cross"))
    cross_keys = iam.list_access_keys(UserName=u("cross"))["AccessKeyMetadata"]
    cross_retire = sorted((key["CreateDate"].replace(microsecond=0), key["AccessKeyId"]) for key in cross_keys)[0][1]
    two1_id, two1_secret = new_key(iam, u("twoenv"))
    two2_id, _two2_secret = new_key(iam, u("twoenv"))
    rot1_id, rot1_secret = new_key(iam, u("rotated"))
    rot2_id, _rot2_secret = new_key(iam, u("rotated"))
    iam.update_access_key(UserName=u("rotated"), AccessKeyId=rot2_id, Status="Inactive")
    deactivated = ago(2)
    iam.tag_user(UserName=u("rotated"), Tags=[{"Key": "keyops:deactivated:%s" % rot2_id, "Value": deactivated}])
    gone_id, gone_secret = new_key(iam, u("gone"))
    iam.delete_access_key(UserName=u("gone"), AccessKeyId=gone_id)
    inact_id, inact_secret = new_key(iam, u("inact"))
    iam.update_access_key(UserName=u("inact"), AccessKeyId=inact_id, Status="Inactive")
    mism_id, mism_secret = new_key(iam, u("mism"))
    secrets = bed.known_secrets() + [cross1_secret, cross2_secret, two1_secret, rot1_secret, gone_secret, inact_secret,
                                     mism_secret, WRONG_SECRET, DB_PASSWORD]

    # dev (host1): a credentials file holding twoenv's key, an SSM pair holding rotated's current key
    home = dict((host, os.path.join(bed.host(host)["home"], sfx)) for host in ("host1", "host2", "host3"))
    h1_creds = os.path.join(home["host1"], "credentials")
    write_file(h1_creds, profile_text("default", two1_id, two1_secret))
    prefix = "/audit-%s" % sfx
    ssm.put_parameter(Name=prefix + "/id", Value=rot1_id, Type="String")
    ssm.put_parameter(Name=prefix + "/secret", Value=rot1_secret, Type="SecureString")
    # staging (host2): a credentials file holding one key of cross, a secret holding twoenv's key
    h2_creds = os.path.join(home["host2"], "credentials")
    write_file(h2_creds, profile_text("default", cross1_id, cross1_secret))
    two_secret_id = "audit-%s/twoenv" % sfx
    sm.create_secret(Name=two_secret_id, SecretString=json.dumps(
        {"aws_access_key_id": two1_id, "aws_secret_access_key": two1_secret, "db_password": DB_PASSWORD}))
    # prod (host3): an env file holding the other key of cross and the Inactive key of inact; a secret holding a
    # deleted key
    env_path = os.path.join(home["host3"], "app.env")
    write_file(env_path, ENV_FILE.format(cross_id=cross2_id, cross_secret=cross2_secret, db_password=DB_PASSWORD,
                                         inact_id=inact_id, inact_secret=inact_secret, mism_id=mism_id,
                                         wrong_secret=WRONG_SECRET))
    gone_secret_id = "audit-%s/gone" % sfx
    sm.create_secret(Name=gone_secret_id, SecretString=json.dumps(
        {"AccessKeyId": gone_id, "SecretAccessKey": gone_secret}))

    admin = bed.admin_credentials
    aws = {"access_key": admin["access_key_id"], "secret_key": admin["secret_access_key"], "endpoint_url": proxy.url,
           "region": "us-east-1"}
    hostvars = {
        "host1": {"access_key_rotation_credentials": [
            {"iam_user": u("twoenv"), "path": h1_creds},
            {"iam_user": u("rotated"), "type": "ssm_parameter", "id_parameter": prefix + "/id",
             "secret_parameter": prefix + "/secret"}]},
        "host2": {"access_key_rotation_credentials": [
            {"iam_user": u("cross"), "path": h2_creds},
            {"iam_user": u("twoenv"), "type": "secretsmanager", "secret_id": two_secret_id}]},
        "host3": {"access_key_rotation_credentials": [
            {"iam_user": u("cross"), "type": "env_file", "path": env_path},
            {"iam_user": u("inact"), "type": "env_file", "path": env_path, "id_var": "BACKUP_AWS_ACCESS_KEY_ID",
             "secret_var": "BACKUP_AWS_SECRET_ACCESS_KEY"},
            {"iam_user": u("mism"), "type": "env_file", "path": env_path, "id_var": "REPORTS_AWS_ACCESS_KEY_ID",
             "secret_var": "REPORTS_AWS_SECRET_ACCESS_KEY"},
            {"iam_user": u("gone"), "type": "secretsmanager", "secret_id": gone_secret_id, "id_key": "AccessKeyId",
             "secret_key": "SecretAccessKey"}]},
    }
    for values in hostvars.values():
        values["access_key_rotation_aws"] = aws
    inventory = bed.write_inventory(str(tmp_path / "inventory.json"), hostvars=hostvars,
                                    groups={"dev": ["host1"], "staging": ["host2"], "prod": ["host3"]})
    report_dir = str(tmp_path / "report")
    extra = {"credentials_audit_report_dir": report_dir, "credentials_audit_verify_timeout": 0}
    env = {"AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": "AKIA" + "Z" * 16, "AWS_SECRET_ACCESS_KEY": "z" * 40}

    roots = [home[host] for host in home]
    files_before = snapshot_files(*roots)
    aws_before = snapshot_aws(bed, regions=["us-east-1"])
    stores = ([two_secret_id, gone_secret_id], [prefix + "/id", prefix + "/secret"])
    versions_before = _store_versions(bed, *stores)
    proxy.reset()

    check = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, check=True, env=env)
    assert not os.path.exists(report_dir), "check mode wrote the report"
    assert total_changed(check.stdout) == 1
    first = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, env=env, verbosity=4)
    assert total_changed(first.stdout) == 1
    second = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, env=env, check=True)
    assert total_changed(second.stdout) == 0

    with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    account = bed.client("sts").get_caller_identity()["Account"]
    assert report["scope"]["accounts"] == [account]
    assert report["errors"] == [], report["errors"]
    got = found(report)
    want = {
        # staging and prod hold different keys of cross: one finding across the environments
        ("holders_disagree", "prod,staging", None, None, None, u("cross"), None, None),
        # one key_limit_reached per user, not one per environment
        ("key_limit_reached", "prod,staging", None, None, None, u("cross"), cross_retire, None),
        ("key_limit_reached", "dev,staging", None, None, None, u("twoenv"), two2_id, None),
        # the new holder types
        ("key_not_found", "prod", "host3", gone_secret_id, "AccessKeyId", u("gone"), gone_id, None),
        ("key_inactive", "prod", "host3", env_path, "BACKUP_AWS_ACCESS_KEY_ID", u("inact"), inact_id, None),
        # the env file's key pairs are verified with STS too
        ("secret_mismatch", "prod", "host3", env_path, "REPORTS_AWS_ACCESS_KEY_ID", u("mism"), mism_id, None),
    }
    assert got == want, "unexpected: %s; missing: %s" % (sorted(got - want, key=str), sorted(want - got, key=str))
    disagree = [item for item in report["findings"] if item["check"] == "holders_disagree"][0]
    assert disagree["account"] == account
    assert "host2 holds %s" % cross1_id in disagree["message"] and "host3 holds %s" % cross2_id in disagree["message"]
    assert "env file %s" % env_path in disagree["message"]
    # the key the rotation deactivated and tagged: expected state with its deletion date, no finding
    assert [item for item in report["findings"] if item["iam_user"] == u("rotated")] == []
    deletion = (datetime.datetime.strptime(deactivated, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [item for item in report["scheduled_deletions"] if item["iam_user"] == u("rotated")] == [{
        "environment": "dev", "account": account, "iam_user": u("rotated"), "access_key_id": rot2_id,
        "deactivated_date": deactivated, "delete_after_days": 7, "deletion_date": deletion, "due": False}]
    assert "scheduled for deletion (expected)" in first.stdout and deletion[:10] in first.stdout
    with open(os.path.join(report_dir, "report.html"), encoding="utf-8") as handle:
        page = handle.read()
    assert "Keys scheduled for deletion (1)" in page and rot2_id in page

    # read-only: only read calls, nothing changed in files, IAM, Secrets Manager or SSM
    calls = proxy.reset()
    writes = sorted(set((service, action) for service, action, _method in calls if not READ_ONLY_ACTION.match(action)))
    assert writes == [], "non-read AWS calls: %s" % writes
    assert {"iam", "sts", "secretsmanager", "ssm"} <= set(service for service, _action, _method in calls)
    assert snapshot_files(*roots) == files_before
    assert snapshot_aws(bed, regions=["us-east-1"]) == aws_before
    assert _store_versions(bed, *stores) == versions_before
    # no secret anywhere: the play output (also at -vvvv), the report files
    for output in ansible_playbook.outputs:
        no_secrets(output, secrets)
    no_secrets(page, secrets)
    with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as handle:
        no_secrets(handle.read(), secrets)


def test_store_holders_secret_mismatch(bed, proxy, tmp_path, ansible_playbook, no_secrets):
    """A Secrets Manager secret and an SSM pair that hold the right key id but a wrong secret are secret_mismatch;
    the ones holding the right secret have no finding and verify as ok; the run at -vvvv shows no secret and
    writes nothing to IAM, Secrets Manager or SSM."""
    sfx = uuid.uuid4().hex[:8]
    iam, sm, ssm = bed.client("iam"), bed.client("secretsmanager"), bed.client("ssm")

    def u(base):
        return "%s-%s" % (base, sfx)

    keys = {}
    for base in ("smok", "smbad", "ssmok", "ssmbad"):
        iam.create_user(UserName=u(base))
        keys[base] = new_key(iam, u(base))
    secrets = bed.known_secrets() + [secret for _key_id, secret in keys.values()] + [WRONG_SECRET, DB_PASSWORD]
    held = dict((base, (key_id, WRONG_SECRET if base.endswith("bad") else secret)) for base, (key_id, secret) in keys.items())
    secret_ids = {}
    for base in ("smok", "smbad"):
        secret_ids[base] = "audit-%s/%s" % (sfx, base)
        sm.create_secret(Name=secret_ids[base], SecretString=json.dumps(
            {"aws_access_key_id": held[base][0], "aws_secret_access_key": held[base][1], "db_password": DB_PASSWORD}))
    params = {}
    for base in ("ssmok", "ssmbad"):
        params[base] = ("/audit-%s/%s/id" % (sfx, base), "/audit-%s/%s/secret" % (sfx, base))
        ssm.put_parameter(Name=params[base][0], Value=held[base][0], Type="String")
        ssm.put_parameter(Name=params[base][1], Value=held[base][1], Type="SecureString")

    admin = bed.admin_credentials
    aws = {"access_key": admin["access_key_id"], "secret_key": admin["secret_access_key"], "endpoint_url": proxy.url,
           "region": "us-east-1"}
    holders = [{"iam_user": u(base), "type": "secretsmanager", "secret_id": secret_ids[base]} for base in ("smok", "smbad")]
    holders += [{"iam_user": u(base), "type": "ssm_parameter", "id_parameter": params[base][0],
                 "secret_parameter": params[base][1]} for base in ("ssmok", "ssmbad")]
    hostvars = dict((host, {"access_key_rotation_aws": aws}) for host in ("host1", "host2", "host3"))
    hostvars["host1"]["access_key_rotation_credentials"] = holders
    inventory = bed.write_inventory(str(tmp_path / "inventory.json"), hostvars=hostvars, groups={"prod": ["host1", "host2", "host3"]})
    report_dir = str(tmp_path / "report")
    extra = {"credentials_audit_report_dir": report_dir, "credentials_audit_verify_timeout": 0}
    env = {"AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": "AKIA" + "Z" * 16, "AWS_SECRET_ACCESS_KEY": "z" * 40}
    stores = (list(secret_ids.values()), [name for pair in params.values() for name in pair])
    versions_before = _store_versions(bed, *stores)
    aws_before = snapshot_aws(bed, regions=["us-east-1"])
    proxy.reset()

    run = ansible_playbook(PLAYBOOK, inventory=inventory, extra_vars=extra, env=env, verbosity=4)
    with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as handle:
        text = handle.read()
    report = json.loads(text)
    assert report["errors"] == [], report["errors"]
    got = set(item for item in found(report) if item[5] in [u(base) for base in keys])
    want = {
        ("secret_mismatch", "prod", "host1", secret_ids["smbad"], "aws_access_key_id", u("smbad"), keys["smbad"][0], None),
        ("secret_mismatch", "prod", "host1", params["ssmbad"][0], None, u("ssmbad"), keys["ssmbad"][0], None),
    }
    assert got == want, "unexpected: %s; missing: %s" % (sorted(got - want, key=str), sorted(want - got, key=str))
    # the right secrets were verified (STS signed with each), not skipped: every holder was checked
    calls = proxy.reset()
    assert sum(1 for service, action, _method in calls if service == "sts" and action == "GetCallerIdentity") >= 4
    writes = sorted(set((service, action) for service, action, _method in calls if not READ_ONLY_ACTION.match(action)))
    assert writes == [], "non-read AWS calls: %s" % writes
    assert snapshot_aws(bed, regions=["us-east-1"]) == aws_before
    assert _store_versions(bed, *stores) == versions_before
    assert "secret_mismatch" in run.stdout
    # no secret (right or wrong, nor the secrets' other JSON values) at -vvvv, nor in the report files
    for output in ansible_playbook.outputs:
        no_secrets(output, secrets)
    no_secrets(text, secrets)
    with open(os.path.join(report_dir, "report.html"), encoding="utf-8") as handle:
        no_secrets(handle.read(), secrets)


def test_key_pair_variables_set_as_play_variables(bed, proxy, tmp_path, ansible_playbook):
    """Play (or role) variables are not in hostvars: the audit still checks the key pair they name."""
    fleet = Fleet(bed, str(tmp_path), clean=True)
    bed.client("ec2", "us-west-2").delete_key_pair(KeyName=fleet.name)
    extra = fleet.extra_vars()
    extra.update(audit_key_pair_name=extra.pop("key_pair_rotation_name"), audit_key_pair_regions=extra.pop("key_pair_rotation_regions"),
                 audit_key_pair_key_dir=extra.pop("key_pair_rotation_key_dir"))
    ansible_playbook("credentials_audit/audit_play_vars.yml", inventory=fleet.inventory(), env={"AWS_ENDPOINT_URL": proxy.url},
                     extra_vars=extra)
    report = fleet.report()
    assert report["errors"] == []
    assert report["scope"]["key_pair"] == fleet.name and report["scope"]["regions"] == sorted(REGIONS)
    assert sorted((item["check"], item["environment"], item["region"]) for item in report["findings"]) == [
        ("key_pair_missing", "prod", "us-west-2"), ("key_pair_missing", "staging", "us-west-2")]
