# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the integration tests: one test bed per pytest session, playbook runner, leak search.

Tests assert results through boto3 (``bed.client``), the filesystem and real ssh logins
(``bed.ssh``), never through a module's return values alone.
"""

import atexit
import os
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.bed.bed import Bed  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOKS = os.path.join(ROOT, "tests", "integration", "playbooks")


@pytest.fixture(scope="session")
def bed(tmp_path_factory):
    """A running test bed (moto + 3 sshd hosts), stopped by PID at the end, also on failure."""
    the_bed = Bed(str(tmp_path_factory.mktemp("bed")))

    def _stop():
        the_bed.stop()

    def _on_sigterm(_signum, _frame):
        the_bed.stop()
        raise SystemExit(143)

    atexit.register(_stop)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        the_bed.start(host_count=int(os.environ.get("KEYOPS_BED_HOSTS", "3")))
        yield the_bed
    finally:
        the_bed.stop()
        signal.signal(signal.SIGTERM, previous)


class Runner:
    """Runs ansible-playbook against the bed and keeps every output for the leak search."""

    def __init__(self, the_bed, log_dir):
        self.bed = the_bed
        self.log_dir = log_dir
        self.outputs = []
        self.count = 0

    def __call__(self, playbook, inventory=None, extra_vars=None, check=False, diff=False,
                 verbosity=0, expect_rc=0, env=None, limit=None, tags=None):
        path = playbook if os.path.isabs(playbook) else os.path.join(PLAYBOOKS, playbook)
        argv = ["ansible-playbook", "-i", inventory or self.bed.inventory, path]
        if extra_vars:
            import json  # pylint: disable=import-outside-toplevel

            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if limit:
            argv += ["--limit", limit]
        if tags:
            argv += ["--tags", tags]
        if verbosity:
            argv.append("-" + "v" * verbosity)
        run_env = self.bed.env(**(env or {}))
        run_env.setdefault("ANSIBLE_HOST_KEY_CHECKING", "False")
        run_env["ANSIBLE_NOCOLOR"] = "1"
        run_env["ANSIBLE_FORCE_COLOR"] = "0"
        run_env["ANSIBLE_RETRY_FILES_ENABLED"] = "False"
        proc = subprocess.run(argv, env=run_env, capture_output=True, text=True, check=False, cwd=os.path.dirname(path),
                              stdin=subprocess.DEVNULL)
        self.count += 1
        output = proc.stdout + proc.stderr
        self.outputs.append(output)
        log = os.path.join(self.log_dir, "%03d-%s.log" % (self.count, os.path.basename(path)))
        with open(log, "w", encoding="utf-8") as handle:
            handle.write(" ".join(argv) + "\n" + output)
        if expect_rc is not None and proc.returncode != expect_rc:
            raise AssertionError(
                "ansible-playbook %s exited %s (expected %s); log %s\n%s" % (path, proc.returncode, expect_rc, log, output[-6000:])
            )
        return proc


@pytest.fixture(autouse=True)
def blocking_stdin():
    """ansible-core refuses to start with a non-blocking stdin; a child process (ansible-runner's pexpect) may
    leave the worker's inherited stdin non-blocking, so put it back before and after every test."""
    def _fix():
        try:
            if not os.get_blocking(0):
                os.set_blocking(0, True)
        except OSError:
            pass

    _fix()
    yield
    _fix()


@pytest.fixture
def ansible_playbook(bed, tmp_path):
    """Call with a playbook path (relative to tests/integration/playbooks) and options."""
    return Runner(bed, str(tmp_path))


def assert_no_secrets(text, secrets):
    """Fail naming where (not what) a secret appears in text."""
    for secret in secrets:
        if secret and secret in text:
            index = text.index(secret)
            line = text.count("\n", 0, index) + 1
            raise AssertionError("a secret (ending ...%s) appears in the output at line %d" % (secret[-4:], line))


@pytest.fixture
def no_secrets():
    return assert_no_secrets
