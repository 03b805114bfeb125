"""The `larmor` command of a pip-installed larmor: runs the CLI built into the package (larmor/bin/larmor)."""
import os
import sys


def main():
    exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "larmor")
    if not os.path.exists(exe):
        sys.exit("larmor: the command-line tool is not part of this installation (" + exe + " is missing); "
                 "it comes with `pip install .` or the .deb")
    os.execv(exe, [exe] + sys.argv[1:])


if __name__ == "__main__":
    main()
