# `cmake --build <build> --target package`: one Debian package (CPack DEB) with what `cmake --install` puts
# under the prefix -- the static libraries, headers and CMake package files (find_package(larmor)), the CLI with
# its demo scan, and the Python package in Debian's dist-packages. Its Depends are the Debian packages of the
# shared libraries the CLI and the Python module link (dpkg-shlibdeps) plus python3-numpy; the -dev packages a
# program compiled against the headers needs are Suggested (the headers include FFTW, Eigen, Highway).
# A .deb installs under /usr whatever CMAKE_INSTALL_PREFIX this tree was configured with.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME larmor)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION "Reconstructs MRI images from raw multi-coil k-space (ISMRMRD, Siemens twix): \
coil maps, GRAPPA, SENSE, compressed sensing, NUFFT, EPI, multiband; a CLI, a stream server, a C++ library \
and Python bindings.")
set(CPACK_PACKAGE_CONTACT "larmor developers <larmor@users.noreply.github.com>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3, python3-numpy")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS
    "libfftw3-dev, libeigen3-dev, libhwy-dev, libopenblas-dev, libismrmrd-dev, libhdf5-dev, cmake")
set(CPACK_STRIP_FILES ON)
include(CPack)
