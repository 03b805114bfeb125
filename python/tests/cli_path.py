"""Where the `larmor` command line program is, for the tests that run it: LARMOR_CLI, else the newest build*/larmor."""
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_cli():
    env = os.environ.get("LARMOR_CLI")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = [p for p in glob.glob(os.path.join(ROOT, "build*", "larmor")) if os.access(p, os.X_OK)]
    return max(found, key=os.path.getmtime) if found else None
