# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local test bed: moto (IAM, STS, EC2, Secrets Manager) plus real sshd hosts, all on loopback.

Everything lives in one work directory:

  bed.json              state: endpoint, admin credentials, PIDs, hosts
  bed.env               the AWS_* variables for a shell (``set -a; . bed.env``)
  inventory.yml         the sshd hosts as an ordinary Ansible inventory
  admin_ed25519[.pub]   the admin SSH key Ansible logs in with (separate from any rotated key)
  hosts/<name>/         per host: sshd config, host key, authorized_keys, admin_authorized_keys,
                        home/ (a directory for credential files)

Every process started here is recorded by PID and stopped by PID (process group) in stop().
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

BED_DIR = os.path.dirname(os.path.abspath(__file__))
ACCOUNT_ID = "123456789012"
ADMIN_USER = "bed-admin"
DEFAULT_REGION = "us-east-1"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=30.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %s" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on 127.0.0.1:%s after %ss" % (port, timeout))


def stop_pid(pid, timeout=5.0):
    """Stop a process (and its process group, which it leads) by PID."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return
            except ChildProcessError:
                # not our child (stopped from another process): poll for existence
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.05)


class Bed:
    """A running (or stopped) test bed in a work directory."""

    def __init__(self, workdir, state=None):
        self.workdir = os.path.abspath(workdir)
        self.state = state or {}

    # ----------------------------------------------------------------- properties
    @property
    def endpoint(self):
        return self.state["endpoint"]

    @property
    def hosts(self):
        return self.state["hosts"]

    @property
    def inventory(self):
        return os.path.join(self.workdir, "inventory.yml")

    @property
    def admin_key(self):
        return os.path.join(self.workdir, "admin_ed25519")

    @property
    def admin_credentials(self):
        return dict(self.state["admin"])

    def host(self, name):
        for host in self.hosts:
            if host["name"] == name:
                return host
        raise KeyError(name)

    def env(self, **overrides):
        """Environment for any process that talks to the bed (ansible, aws CLI, boto3).

        An override whose value is None removes that variable.
        """
        env = dict(os.environ)
        for name in list(env):
            if name.startswith("AWS_"):
                del env[name]
        env.update(self.aws_env())
        env.update(overrides)
        return {name: value for name, value in env.items() if value is not None}

    def aws_env(self):
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.state["admin"]["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.state["admin"]["secret_access_key"],
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
            "AWS_REGION": DEFAULT_REGION,
            "AWS_CONFIG_FILE": os.path.join(self.workdir, "aws_config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.workdir, "aws_credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    # ----------------------------------------------------------------- clients
    def client(self, service, region=DEFAULT_REGION, access_key_id=None, secret_access_key=None, session_token=None):
        import boto3  # pylint: disable=import-outside-toplevel
        import botocore.config  # pylint: disable=import-outside-toplevel

        if access_key_id is None:
            access_key_id = self.state["admin"]["access_key_id"]
            secret_access_key = self.state["admin"]["secret_access_key"]
        return boto3.session.Session().client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    @property
    def create_delay_file(self):
        """A JSON file {"prefix": user-name prefix, "seconds": N}: moto then answers CreateAccessKey for
        such users N seconds after creating the key (a crash inside the call can be simulated)."""
        return os.path.join(self.workdir, "create_delay.json")

    def known_secrets(self):
        """Every secret access key moto has created (recorded by moto_server_bed.py), for leak searches."""
        secrets = {self.state["admin"]["secret_access_key"]}
        try:
            with open(os.path.join(self.workdir, "secrets.log"), encoding="utf-8") as handle:
                secrets.update(line.strip() for line in handle if line.strip())
        except FileNotFoundError:
            pass
        return sorted(secrets)

    def ssh(self, host_name, key_path, command="true", timeout=20):
        """A real ssh login to a bed host; returns the CompletedProcess (returncode 0 = accepted)."""
        host = self.host(host_name)
        return subprocess.run(
            [
                "ssh", "-i", key_path, "-p", str(host["port"]),
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=%s" % os.path.join(self.workdir, "known_hosts"),
                "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "root@127.0.0.1", command,
            ],
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def load(cls, workdir):
        with open(os.path.join(workdir, "bed.json"), encoding="utf-8") as handle:
            return cls(workdir, json.load(handle))

    def save(self):
        path = os.path.join(self.workdir, "bed.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.state, handle, indent=2, sort_keys=True)

    def start(self, host_count=3, python=None):
        python = python or sys.executable
        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.state = {"pids": [], "hosts": [], "python": python}
        try:
            self._start_moto(python)
            self._seed_admin()
            self._write_env()
            self._make_admin_key()
            for index in range(1, host_count + 1):
                self._start_host("host%d" % index)
            self._write_inventory(python)
        except BaseException:
            self.stop()
            raise
        self.save()
        return self

    def stop(self):
        for pid in reversed(self.state.get("pids", [])):
            stop_pid(pid)
        self.state["pids"] = []
        if os.path.isdir(self.workdir):
            self.save()

    def _spawn(self, argv, log_name, env=None):
        log = open(os.path.join(self.workdir, log_name), "ab")  # pylint: disable=consider-using-with
        try:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=env,
            )
        finally:
            log.close()
        self.state["pids"].append(proc.pid)
        self.save()
        return proc

    def _start_moto(self, python):
        port = free_port()
        env = dict(os.environ)
        for name in list(env):
            if name.startswith("AWS_"):
                del env[name]
        env["MOTO_ENABLE_ISO_REGIONS"] = "false"
        env["KEYOPS_BED_SECRETS_LOG"] = os.path.join(self.workdir, "secrets.log")
        env["KEYOPS_BED_CREATE_DELAY_FILE"] = self.create_delay_file
        proc = self._spawn([python, os.path.join(BED_DIR, "moto_server_bed.py"), str(port)], "moto.log", env=env)
        wait_for_port(port, proc=proc)
        self.state["endpoint"] = "http://127.0.0.1:%d" % port
        self.state["moto_pid"] = proc.pid

    def _seed_admin(self):
        # Credential checking is still off: create the admin that every later request is signed with.
        self.state["admin"] = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "unused"}
        iam = self.client("iam")
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(UserName=ADMIN_USER, PolicyName="allow-all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        self.state["admin"] = {
            "user": ADMIN_USER,
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
        }
        # Credential checking on from now on (0 unauthenticated requests left).
        request = urllib.request.Request(
            self.endpoint + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def _write_env(self):
        for name in ("aws_config", "aws_credentials"):
            path = os.path.join(self.workdir, name)
            with open(path, "w", encoding="utf-8"):
                pass
            os.chmod(path, 0o600)
        fd = os.open(os.path.join(self.workdir, "bed.env"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for name, value in sorted(self.aws_env().items()):
                handle.write("%s=%s\n" % (name, value))

    def _make_admin_key(self):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bed-admin", "-f", self.admin_key],
            check=True, stdin=subprocess.DEVNULL,
        )

    def _start_host(self, name):
        host_dir = os.path.join(self.workdir, "hosts", name)
        home = os.path.join(host_dir, "home")
        os.makedirs(home, mode=0o700)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(host_dir, "ssh_host_ed25519_key")],
            check=True, stdin=subprocess.DEVNULL,
        )
        with open(self.admin_key + ".pub", encoding="utf-8") as handle:
            admin_pub = handle.read()
        admin_keys = os.path.join(host_dir, "admin_authorized_keys")
        with open(admin_keys, "w", encoding="utf-8") as handle:
            handle.write(admin_pub)
        os.chmod(admin_keys, 0o600)
        port = free_port()
        config = os.path.join(host_dir, "sshd_config")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(
                "\n".join(
                    [
                        "Port %d" % port,
                        "ListenAddress 127.0.0.1",
                        "HostKey %s" % os.path.join(host_dir, "ssh_host_ed25519_key"),
                        # the admin key Ansible logs in with, then the file the collection manages
                        "AuthorizedKeysFile %s %s" % (admin_keys, os.path.join(host_dir, "authorized_keys")),
                        "PidFile %s" % os.path.join(host_dir, "sshd.pid"),
                        "UsePAM no",
                        "StrictModes no",
                        "PermitRootLogin prohibit-password",
                        "PasswordAuthentication no",
                        "KbdInteractiveAuthentication no",
                        "Subsystem sftp internal-sftp",
                        "SetEnv KEYOPS_BED_HOST=%s" % name,
                        "",
                    ]
                )
            )
        proc = self._spawn([SSHD, "-D", "-e", "-f", config], "sshd-%s.log" % name)
        wait_for_port(port, proc=proc)
        self.state["hosts"].append(
            {
                "name": name,
                "port": port,
                "pid": proc.pid,
                "dir": host_dir,
                "home": home,
                "authorized_keys": os.path.join(host_dir, "authorized_keys"),
            }
        )

    def _write_inventory(self, python):
        self.write_inventory(self.inventory, python=python)

    def write_inventory(self, path, groups=None, hostvars=None, python=None, hosts=None):
        """Write an inventory of bed hosts.

        groups: {group: [host names]} (hosts not in any group go under ``all``);
        hostvars: {host name: {var: value}} merged over the connection variables.
        """
        python = python or self.state.get("python") or sys.executable
        hostvars = hostvars or {}
        names = hosts or [host["name"] for host in self.hosts]
        entries = {}
        for name in names:
            host = self.host(name)
            entry = {"ansible_port": host["port"], "bed_host_dir": host["dir"], "bed_home": host["home"]}
            entry.update(hostvars.get(name, {}))
            entries[name] = entry
        inventory = {
            "all": {
                "vars": {
                    "ansible_host": "127.0.0.1",
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": self.admin_key,
                    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=%s -o IdentitiesOnly=yes"
                    % os.path.join(self.workdir, "known_hosts"),
                    "ansible_python_interpreter": python,
                },
                "hosts": {},
                "children": {},
            }
        }
        grouped = set()
        for group, members in (groups or {}).items():
            inventory["all"]["children"][group] = {"hosts": {name: entries[name] for name in members}}
            grouped.update(members)
        for name in names:
            if name not in grouped:
                inventory["all"]["hosts"][name] = entries[name]
        # JSON is valid YAML: no YAML library needed here.
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(inventory, handle, indent=2)
        return path
