"""`pip install --no-build-isolation .`: builds the pybind11 module (_larmor) and the `larmor` CLI with CMake
and installs the `larmor` package with both inside it -- the CLI as larmor/bin/larmor (run by the `larmor`
console script) and the demo scan beside it under larmor/share/larmor, where the CLI looks for it.

CMAKE_ARGS (environment) adds CMake options, e.g. CMAKE_ARGS="-DLARMOR_WERROR=ON"; LARMOR_PIP_BUILD_DIR keeps
the CMake build tree in a folder of your choice (default: setuptools' temporary build folder).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
VERSION = re.search(r"project\(larmor VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text()).group(1)
DEMO_SCAN = Path("pulseq_invivo_brain_16ch")


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = Path(os.environ.get("LARMOR_PIP_BUILD_DIR") or Path(self.build_temp).resolve() / "cmake")
        configure = ["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                     "-DLARMOR_BUILD_TESTS=OFF", "-DLARMOR_BUILD_BENCH=OFF", f"-DPython_EXECUTABLE={sys.executable}"]
        if shutil.which("ninja") and not (build / "CMakeCache.txt").exists():
            configure += ["-G", "Ninja"]
        configure += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", str(build), "--target", "_larmor", "larmor_cli"])
        module = Path(self.get_ext_fullpath(ext.name)).resolve()
        package = module.parent
        package.mkdir(parents=True, exist_ok=True)
        built = sorted((build / "python" / "larmor").glob("_larmor*.so"))
        if not built:
            raise RuntimeError(f"larmor: CMake built no _larmor module in {build / 'python' / 'larmor'}")
        shutil.copy2(built[0], module)
        (package / "bin").mkdir(exist_ok=True)
        shutil.copy2(build / "larmor", package / "bin" / "larmor")
        scans = package / "share" / "larmor" / DEMO_SCAN
        scans.mkdir(parents=True, exist_ok=True)
        for f in (ROOT / "data" / "scans" / DEMO_SCAN).iterdir():
            shutil.copy2(f, scans / f.name)


setup(
    version=VERSION,
    packages=["larmor"],
    package_dir={"larmor": "python/larmor"},
    ext_modules=[Extension("larmor._larmor", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
