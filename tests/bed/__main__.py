# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start or stop the test bed by hand.

  python -m tests.bed start [--dir DIR] [--hosts N]   prints the endpoint, env file and inventory
  python -m tests.bed stop  [--dir DIR]               stops every process it started, by PID
  python -m tests.bed status [--dir DIR]
"""

import argparse
import os
import sys

from .bed import Bed

DEFAULT_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "keyops-aws", "bed")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.bed")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--dir", default=DEFAULT_DIR)
    parser.add_argument("--hosts", type=int, default=3)
    args = parser.parse_args(argv)

    if args.action == "start":
        if os.path.exists(os.path.join(args.dir, "bed.json")):
            old = Bed.load(args.dir)
            if old.state.get("pids"):
                print("a bed is already running in %s: stop it first" % args.dir, file=sys.stderr)
                return 1
        if os.path.isdir(args.dir):
            import shutil  # pylint: disable=import-outside-toplevel

            shutil.rmtree(args.dir)
        bed = Bed(args.dir).start(host_count=args.hosts)
        print("endpoint:  %s" % bed.endpoint)
        print("env file:  %s   (set -a; . %s; set +a)" % (os.path.join(bed.workdir, "bed.env"), os.path.join(bed.workdir, "bed.env")))
        print("inventory: %s" % bed.inventory)
        for host in bed.hosts:
            print("host:      %s 127.0.0.1:%s (pid %s) dir %s" % (host["name"], host["port"], host["pid"], host["dir"]))
        print("pids:      %s" % " ".join(str(pid) for pid in bed.state["pids"]))
        return 0
    if not os.path.exists(os.path.join(args.dir, "bed.json")):
        print("no bed in %s" % args.dir)
        return 0 if args.action == "stop" else 1
    bed = Bed.load(args.dir)
    if args.action == "stop":
        bed.stop()
        print("stopped")
        return 0
    print("endpoint: %s  pids: %s" % (bed.state.get("endpoint"), bed.state.get("pids")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
