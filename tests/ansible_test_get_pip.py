# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the pip bootstrap script ansible-test downloads (get-pip.py).

ansible-test reads ~/.ansible/test/cache/get_pip_<version>.py before downloading one; the test command
copies this file there. It installs pip from the interpreter's bundled wheel (ensurepip, in a
subprocess so the machine's pip settings survive), then installs the requested packages with pip.
"""

import subprocess
import sys


def main():
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)


if __name__ == "__main__":
    main()
