# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification login: its command line and how ssh's log is read."""

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _key_pair_rotation_verify as verify

FP = "SHA256:Rqq8Jiy7yElxxh+SqRPJP6YpJez/8gboYVxgnFPnchI"
OTHER = "SHA256:FFD1Rn8ejE+/mRy0flNgVAX/c1ct5hS3T/+RJpNxnec"

ACCEPTED = """OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026
debug1: Offering public key: /keys/deploy.new ED25519 %s explicit
debug1: Server accepts key: /keys/deploy.new ED25519 %s explicit
Authenticated to 127.0.0.1 ([127.0.0.1]:2222) using "publickey".
""" % (FP, FP)

REFUSED = """debug1: Offering public key: /keys/deploy.new ED25519 %s explicit
debug1: Authentications that can continue: publickey
debug1: No more authentication methods to try.
root@127.0.0.1: Permission denied (publickey).
""" % FP

OTHER_KEY = """debug1: Offering public key: /keys/deploy.new ED25519 %s explicit
debug1: Authentications that can continue: publickey
debug1: Offering public key: /root/.ssh/id_ed25519 ED25519 %s
debug1: Server accepts key: /root/.ssh/id_ed25519 ED25519 %s
Authenticated to 127.0.0.1 ([127.0.0.1]:2222) using "publickey".
""" % (FP, OTHER, OTHER)


def test_command_disables_multiplexing_before_the_hosts_args():
    argv = verify.build_command("10.0.0.1", "/keys/k", port=2222, user="ec2-user",
                                ssh_args="-o ControlMaster=auto -o ControlPath=/tmp/cm -o 'ProxyCommand=ssh -W %h:%p jump'")
    joined = " ".join(argv)
    assert joined.index("ControlPath=none") < joined.index("ControlPath=/tmp/cm")
    assert joined.index("ControlMaster=no") < joined.index("ControlMaster=auto")
    assert "IdentitiesOnly=yes" in argv and "IdentityAgent=none" in argv and "BatchMode=yes" in argv
    assert argv[argv.index("-i") + 1] == "/keys/k"
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "ec2-user"
    assert "ProxyCommand=ssh -W %h:%p jump" in argv
    assert argv[-3:] == ["--", "10.0.0.1", "true"]


def test_unbalanced_quotes_are_a_clear_error():
    with pytest.raises(verify.VerifyError, match="ssh_args"):
        verify.build_command("h", "/k", ssh_args="-o 'broken")


@pytest.mark.parametrize(
    "returncode, stderr, verified, reason",
    [
        (0, ACCEPTED, True, "ok"),
        (1, ACCEPTED, True, "ok"),  # authenticated; the remote command itself may fail (nologin shell)
        (255, REFUSED, False, "rejected"),
        (0, OTHER_KEY, False, "wrong_key"),
        (255, "ssh: connect to host 10.0.0.1 port 22: Connection refused\n", False, "unreachable"),
        (255, "ssh: Could not resolve hostname nowhere: Name or service not known\n", False, "unreachable"),
        (255, "something odd\n", False, "error"),
        (0, "", False, "error"),
    ],
)
def test_interpret(returncode, stderr, verified, reason):
    got = verify.interpret(returncode, stderr, FP)
    assert got[0] is verified and got[1] == reason


def test_wrong_key_names_the_accepted_key():
    _verified, _reason, accepted, message = verify.interpret(0, OTHER_KEY, FP)
    assert accepted == OTHER and OTHER in message


def test_messages_skip_debug_lines():
    message = verify.interpret(255, REFUSED, FP)[3]
    assert "debug1" not in message and "Permission denied" in message


class _Proc:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr, self.stdout = returncode, stderr, ""


def test_fallback_keys_are_tried_in_order_when_refused(monkeypatch):
    fingerprints = {"/k/current": FP, "/k/retired1": OTHER, "/k/retired0": "SHA256:zzz"}
    monkeypatch.setattr(verify, "key_fingerprint", lambda path: fingerprints[path])
    tried = []

    def fake_run(argv, **_kwargs):
        key = argv[argv.index("-i") + 1]
        tried.append(key)
        if key == "/k/retired1":
            return _Proc(0, ACCEPTED.replace(FP, OTHER))
        return _Proc(255, REFUSED)

    params = {"host": "h", "private_key_path": "/k/current", "fallback_private_key_paths": ["/k/retired1", "/k/retired0"]}
    result = verify.verify(params, run=fake_run)
    assert tried == ["/k/current", "/k/retired1"]
    assert result["verified"] and result["reason"] == "fallback"
    assert result["accepted_private_key_path"] == "/k/retired1" and result["accepted_fingerprint"] == OTHER


def test_no_fallback_when_unreachable(monkeypatch):
    monkeypatch.setattr(verify, "key_fingerprint", lambda path: FP)
    tried = []

    def fake_run(argv, **_kwargs):
        tried.append(argv[argv.index("-i") + 1])
        return _Proc(255, "ssh: connect to host h port 22: Connection refused\n")

    result = verify.verify({"host": "h", "private_key_path": "/k/a", "fallback_private_key_paths": ["/k/b"]}, run=fake_run)
    assert tried == ["/k/a"] and not result["verified"] and result["reason"] == "unreachable"
    assert result["accepted_private_key_path"] is None
