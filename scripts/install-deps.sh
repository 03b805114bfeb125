#!/usr/bin/env bash
# Installs every system dependency of larmor from Debian's archive (bookworm).
# Used by README.md, .ci/run and newcomers alike. Run as root (or with sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  build-essential cmake ninja-build pkg-config git ccache
  libfftw3-dev libeigen3-dev libhdf5-dev libismrmrd-dev ismrmrd-tools
  libgtest-dev libgmock-dev libbenchmark-dev libhwy-dev libpng-dev libcli11-dev libopenblas-serial-dev libssl-dev openssl
  libdcmtk-dev dcmtk dicom3tools libnifti2-dev python3-pydicom python3-nibabel orthanc
  pybind11-dev python3-dev python3-numpy python3-pytest python3-h5py python3-scipy python3-distributed python3-tqdm
  jupyter-nbconvert python3-nbclient python3-ipykernel python3-matplotlib
  bart
  clang libclang-rt-14-dev libomp-dev
)
if [ "${LARMOR_SKIP_APT_UPDATE:-0}" != 1 ]; then $SUDO apt-get update -qq; fi
$SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
echo "larmor: dependencies installed"
