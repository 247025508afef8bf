# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. Proof that a host accepts a given SSH key.

A real ``ssh`` login from the controller with only the key under test:

- no connection sharing (``ControlPath=none``, ``ControlMaster=no``): a multiplexed master that
  authenticated with another key would otherwise make any key look accepted;
- only that key (``IdentitiesOnly=yes``, ``IdentityAgent=none``, public key authentication only,
  ``BatchMode=yes``);
- our options come first on the command line (ssh keeps the first value of an option), then the
  host's own ssh arguments (known hosts file, proxy, ...);
- the login counts as verified only when ssh's own log (``-v``) says the server accepted a key with
  the expected fingerprint and the user authenticated with it: an ``IdentityFile`` from an ssh
  config file that the server accepted instead is caught.

``build_command`` and ``interpret`` are pure; ``verify`` runs ssh.
"""

import os
import re
import shlex
import subprocess

from ansible_collections.keyops.aws.plugins.module_utils._fileops import FileOpError, read_regular_file
from ansible_collections.keyops.aws.plugins.module_utils._ssh_private_keys import PrivateKeyError, public_key_of_private
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import openssh_fingerprint

_ACCEPTS_RE = re.compile(r"^debug1: Server accepts key: .*?(SHA256:[A-Za-z0-9+/]+)")
_AUTHENTICATED_RE = re.compile(r'^Authenticated to .* using "publickey"')
_UNREACHABLE_HINTS = (
    "Connection refused",
    "Connection timed out",
    "No route to host",
    "Could not resolve hostname",
    "Network is unreachable",
    "Connection closed by",
    "Connection reset",
    "kex_exchange_identification",
    "Host key verification failed",
)


class VerifyError(Exception):
    """A problem described for a user."""


def build_command(host, private_key_path, port=None, user=None, ssh_args="", ssh_executable="ssh", timeout=10,
                  command="true"):
    """argv of the verification login (pure)."""
    if not host:
        raise VerifyError("host is empty")
    try:
        extra = shlex.split(ssh_args or "")
    except ValueError as exc:
        raise VerifyError("cannot split ssh_args: %s" % exc) from None
    argv = [
        ssh_executable, "-v", "-T",
        "-o", "ControlMaster=no",
        "-o", "ControlPath=none",
        "-o", "ControlPersist=no",
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", "PreferredAuthentications=publickey",
        "-o", "PubkeyAuthentication=yes",
        "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no",
        "-o", "ConnectTimeout=%d" % int(timeout),
        "-o", "ConnectionAttempts=1",
        "-i", private_key_path,
    ]
    if port:
        argv += ["-p", str(int(port))]
    if user:
        argv += ["-l", user]
    argv += extra
    argv += ["--", host, command]
    return argv


def interpret(returncode, stderr, expected_fingerprint):
    """(verified, reason, accepted_fingerprint, message) from ssh's exit code and log (pure).

    reason: ok, rejected (the server refused the key), wrong_key (the login used another key),
    unreachable (no ssh session), error (anything else).
    """
    accepted = None
    authenticated = False
    for line in (stderr or "").splitlines():
        match = _ACCEPTS_RE.match(line)
        if match:
            accepted = match.group(1)
        elif _AUTHENTICATED_RE.match(line):
            authenticated = True
    problems = [
        line for line in (stderr or "").splitlines()
        if line and not line.startswith(("debug", "OpenSSH_", "Warning: Permanently added"))
    ]
    tail = "; ".join(problems[-3:])
    if authenticated and accepted == expected_fingerprint:
        return True, "ok", accepted, "the host accepted %s" % expected_fingerprint
    if authenticated:
        return False, "wrong_key", accepted, (
            "the login succeeded with another key (%s), not %s: check IdentityFile settings in ssh config files" % (accepted, expected_fingerprint)
        )
    if "Permission denied" in (stderr or ""):
        return False, "rejected", None, "the host refused the key %s (%s)" % (expected_fingerprint, tail or "permission denied")
    if any(hint in (stderr or "") for hint in _UNREACHABLE_HINTS):
        return False, "unreachable", None, "cannot reach the host over ssh: %s" % (tail or "exit code %s" % returncode)
    return False, "error", None, "ssh exited %s: %s" % (returncode, tail or "no message")


def key_fingerprint(path):
    """SHA256 fingerprint of the private key file at path."""
    try:
        data = read_regular_file(path)
    except FileOpError as exc:
        raise VerifyError(str(exc)) from None
    if data is None:
        raise VerifyError("the private key %s does not exist" % path)
    try:
        return openssh_fingerprint(public_key_of_private(path, data))
    except PrivateKeyError as exc:
        raise VerifyError(str(exc)) from None


def connection_key_fingerprint(path):
    """Fingerprint of the key Ansible connects with, or None when it cannot be read (never an error)."""
    if not path:
        return None
    try:
        return key_fingerprint(os.path.expanduser(path))
    except VerifyError:
        return None


def _login(params, path, expected, run):
    """One login with only the key at path; returns interpret()'s tuple."""
    argv = build_command(
        params["host"], path, port=params.get("port"), user=params.get("user"),
        ssh_args=params.get("ssh_args") or "", ssh_executable=params.get("ssh_executable") or "ssh",
        timeout=params.get("timeout") or 10,
    )
    try:
        proc = run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                   timeout=(params.get("timeout") or 10) * 3 + 5, check=False)
        returncode, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        returncode, stderr = None, "Connection timed out (ssh did not finish)"
    except OSError as exc:
        raise VerifyError("cannot run %s: %s" % (argv[0], exc.strerror or exc)) from None
    return interpret(returncode, stderr, expected)


def verify(params, run=subprocess.run):
    """Log in with private_key_path; when refused, with each fallback key in turn (first accepted wins)."""
    expected = key_fingerprint(params["private_key_path"])
    if params.get("fingerprint") and params["fingerprint"] != expected:
        raise VerifyError(
            "the private key %s has the fingerprint %s, not the expected %s" % (params["private_key_path"], expected, params["fingerprint"])
        )
    verified, reason, accepted, message = _login(params, params["private_key_path"], expected, run)
    accepted_path = params["private_key_path"] if verified else None
    if not verified and reason in ("rejected", "wrong_key"):
        for path in params.get("fallback_private_key_paths") or []:
            try:
                fallback = key_fingerprint(path)
            except VerifyError:
                continue
            ok, _reason, got, _message = _login(params, path, fallback, run)
            if ok:
                verified, accepted, accepted_path = True, got, path
                reason, message = "fallback", "the host refused %s but accepted %s (%s)" % (expected, got, path)
                break
    return {
        "verified": verified,
        "reason": reason,
        "fingerprint": expected,
        "accepted_fingerprint": accepted,
        "accepted_private_key_path": accepted_path,
        "msg": message,
        "connection_key_fingerprint": connection_key_fingerprint(params.get("connection_private_key_path")),
    }


def check_params(params):
    """Bounds checked before ssh is started; VerifyError names the option."""
    port = params.get("port")
    if port is not None and not 1 <= port <= 65535:
        raise VerifyError("port must be between 1 and 65535, got %d" % port)
    timeout = params.get("timeout")
    if timeout is not None and not 1 <= timeout <= 3600:
        raise VerifyError("timeout must be between 1 and 3600 seconds, got %d" % timeout)


def run_module(module):
    result = None
    error = None
    try:
        check_params(module.params)
        result = verify(module.params)
    except VerifyError as exc:
        error = str(exc)
    if error is not None:
        module.fail_json(msg=error, verified=False, reason="error")
    failed = not result["verified"] and module.params["fail_on_error"]
    if failed:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=False, **result)
