# SPDX-License-Identifier: Apache-2.0
"""Builds canary_shm._native with the project's CMake build (pybind11, Debian's python3-pybind11).

    /usr/bin/python3 -m venv --system-site-packages venv
    venv/bin/pip install --no-build-isolation ./python

From a checkout: the extension links the writer and the report library of ../core. The CMake build
goes to python/build/cmake, or, when CANARY_CMAKE_BUILD_DIR names a tree already configured with
-DCANARY_BUILD_PYTHON=ON (the test suite's), only the extension is built there.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def project_version() -> str:
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(canary_shm VERSION ([0-9.]+)", text).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        build_dir = os.environ.get("CANARY_CMAKE_BUILD_DIR")
        if build_dir:
            build_dir = Path(build_dir).resolve()
        else:
            build_dir = HERE / "build" / "cmake"
            subprocess.run(
                ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                 "-DCANARY_BUILD_PYTHON=ON", "-DCANARY_BUILD_TOOLS=OFF", "-DCANARY_BUILD_EXAMPLES=OFF",
                 "-DCANARY_BUILD_TESTS=OFF", "-DCANARY_BUILD_BENCH=OFF", "-DCANARY_INSTALL=OFF",
                 f"-DPYTHON_EXECUTABLE={sys.executable}"],
                check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "canary_shm_native", "-j", str(os.cpu_count() or 2)],
                       check=True)
        built = next((build_dir / "python").glob("_native*.so"))
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)


setup(
    version=project_version(),
    packages=["canary_shm"],
    ext_modules=[Extension("canary_shm._native", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
