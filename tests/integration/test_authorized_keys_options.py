# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every authorized_keys option form keyops.aws.authorized_keys accepts, proven with real sshd logins.

One key per form is written by the module (check -> run -> check -> run) into a bed host's
authorized_keys; then a real ssh login with each key shows that sshd read the line as the module
wrote it: the forms that must let the key in do (a forced command's output proves the option took
effect), ``from=`` patterns that do not match 127.0.0.1 are refused. Lines written by hand show the
refusals the module protects from (an expiry-time in the past, principals= on a key without
cert-authority): sshd reads them and refuses the login, which is why the module refuses to write
them (see the bad-input table). A cert-authority line with principals= is proven with a user
certificate signed by ssh-keygen: the listed principal logs in, another is refused.

Semantics checked against OpenSSH's auth-options.c (sshauthopt_parse, handle_permit) and auth.c
(auth_authorise_keyopts); the differences are listed in docs/bad-input.md.
"""

import json
import os
import shutil
import subprocess
import uuid

import pytest

HOST = "host1"

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")

# (options, login accepted, text the login's output must hold)
FORMS = [
    ('from="127.0.0.1"', True, None),
    ('from="10.0.0.1"', False, None),
    ('from="127.0.0.0/8,!10.1.*"', True, None),
    ('from="!127.0.0.1,*"', False, None),
    ('command="echo forced-$SSH_ORIGINAL_COMMAND"', True, "forced-true"),
    # sshd turns \" into ": the shell then sees "a  b" quoted (two blanks kept)
    ('command="echo \\"a  b\\""', True, "a  b"),
    ('environment="KEYOPS_X=1"', True, None),
    ('expiry-time="20991231"', True, None),
    ('expiry-time="20991231235959Z"', True, None),
    ('permitopen="127.0.0.1:80"', True, None),
    ('permitopen="[::1]:22",permitopen="localhost:*"', True, None),
    ('permitlisten="8080"', True, None),
    ('permitlisten="localhost:8080"', True, None),
    ('tunnel="0"', True, None),
    ('tunnel="any"', True, None),
    ("no-pty", True, None),
    ("restrict", True, None),
    ("restrict,pty", True, None),
    ("no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc", True, None),
    ("RESTRICT,No-Pty", True, None),
    ('restrict,command="echo restricted"', True, "restricted"),
]

# Written by hand (the module refuses them): sshd reads the line and refuses every login.
HAND_WRITTEN_REFUSED = ['expiry-time="20000101"', 'principals="alice"']


def keygen(directory, name, key_type="ed25519"):
    path = os.path.join(str(directory), name)
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", name, "-f", path],
                   check=True, stdin=subprocess.DEVNULL)
    with open(path + ".pub", encoding="utf-8") as handle:
        return path, " ".join(handle.read().split()[:2])


def ssh(bed, key_path, command="true", extra=()):
    host = bed.host(HOST)
    return subprocess.run(
        ["ssh", "-i", key_path, "-p", str(host["port"]), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=%s" % os.path.join(bed.workdir, "known_hosts"),
         "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"] + list(extra) + ["root@127.0.0.1", command],
        capture_output=True, text=True, timeout=30, check=False,
    )


def write_playbook(path, keys, result_file):
    task = {"path": "{{ bed_host_dir }}/authorized_keys", "keys": keys}
    tasks = []
    for number, check in enumerate((True, False, True, False)):
        tasks.append({"name": "Authorized keys %d" % number, "keyops.aws.authorized_keys": task,
                      "check_mode": check, "register": "run%d" % number})
    tasks.append({"name": "Keep the results", "ansible.builtin.copy": {
        "content": "{{ [run0, run1, run2, run3] | to_json }}", "dest": result_file, "mode": "0600"},
        "delegate_to": "localhost"})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([{"name": "Option forms", "hosts": HOST, "gather_facts": False, "tasks": tasks}], handle)
    return path


def test_every_accepted_option_form_logs_in_as_sshd_reads_it(bed, tmp_path):
    tag = uuid.uuid4().hex[:6]
    host = bed.host(HOST)
    keys, lines = [], []
    for index, (options, _accepted, _output) in enumerate(FORMS):
        path, public = keygen(tmp_path, "form%02d-%s" % (index, tag))
        keys.append(path)
        lines.append("%s %s form %d" % (options, public, index))
    refused_by_hand = []
    for index, options in enumerate(HAND_WRITTEN_REFUSED):
        path, public = keygen(tmp_path, "hand%02d-%s" % (index, tag))
        refused_by_hand.append((path, "%s %s hand %d" % (options, public, index)))
    # a CA, with one user certificate for principal alice and one for bob
    ca_path, ca_public = keygen(tmp_path, "ca-%s" % tag)
    certs = {}
    for principal in ("alice", "bob"):
        user_path, _public = keygen(tmp_path, "user-%s-%s" % (principal, tag))
        subprocess.run(["ssh-keygen", "-q", "-s", ca_path, "-I", "id-%s" % principal, "-n", principal,
                        "-V", "-5m:+1h", user_path + ".pub"], check=True, stdin=subprocess.DEVNULL)
        certs[principal] = user_path
    lines.append('cert-authority,principals="alice" %s the CA' % ca_public)

    before = "# kept by hand\n" + "".join(line + "\n" for _path, line in refused_by_hand)
    with open(host["authorized_keys"], "w", encoding="utf-8") as handle:
        handle.write(before)
    result_file = str(tmp_path / "result.json")
    playbook = write_playbook(str(tmp_path / "forms.yml"), lines, result_file)
    proc = subprocess.run(["ansible-playbook", "-i", bed.inventory, "--limit", HOST, playbook], env=bed.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    with open(result_file, encoding="utf-8") as handle:
        check1, run1, check2, run2 = json.load(handle)
    assert check1["changed"] and run1["changed"] and not check2["changed"] and not run2["changed"]

    # the file: the hand-written lines kept byte for byte, then every line exactly as given
    with open(host["authorized_keys"], encoding="utf-8") as handle:
        assert handle.read() == before + "".join(line + "\n" for line in lines)

    failures = []
    for (options, accepted, output), key_path in zip(FORMS, keys):
        login = ssh(bed, key_path)
        if (login.returncode == 0) != accepted:
            outcome = "refused" if accepted else "accepted"
            failures.append("%s: login %s (rc %s: %s)" % (options, outcome, login.returncode, login.stderr.strip()[-200:]))
        elif output and output not in login.stdout:
            failures.append("%s: output %r lacks %r" % (options, login.stdout[-200:], output))
    for key_path, line in refused_by_hand:
        if ssh(bed, key_path).returncode == 0:
            failures.append("hand-written %r: sshd let the key in" % line.split()[0])
    if ssh(bed, certs["alice"]).returncode != 0:
        failures.append("cert-authority: the certificate for principal alice was refused")
    if ssh(bed, certs["bob"]).returncode == 0:
        failures.append("cert-authority: the certificate for principal bob was accepted")
    assert not failures, "\n".join(failures)


def test_no_pty_is_enforced_by_sshd(bed, tmp_path):
    """A key written with no-pty gets no terminal even when ssh asks for one; without it, it does."""
    host = bed.host(HOST)
    tag = uuid.uuid4().hex[:6]
    with_pty, public1 = keygen(tmp_path, "pty-%s" % tag)
    without_pty, public2 = keygen(tmp_path, "nopty-%s" % tag)
    lines = ["%s pty" % public1, "no-pty %s nopty" % public2]
    with open(host["authorized_keys"], "w", encoding="utf-8") as handle:
        handle.write("")
    result_file = str(tmp_path / "result.json")
    playbook = write_playbook(str(tmp_path / "pty.yml"), lines, result_file)
    proc = subprocess.run(["ansible-playbook", "-i", bed.inventory, "--limit", HOST, playbook], env=bed.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert ssh(bed, with_pty, "tty", extra=["-tt"]).stdout.strip().startswith("/dev/")
    refused = ssh(bed, without_pty, "tty", extra=["-tt"])
    assert refused.returncode != 0 or "not a tty" in refused.stdout
