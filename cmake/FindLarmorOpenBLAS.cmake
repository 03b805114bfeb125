# Finds the single-threaded OpenBLAS (Debian: libopenblas-serial-dev) and defines LarmorOpenBLAS::openblas.
# The GRAPPA-size complex matrix products (cgemm/cherk) go to it: its kernels are selected at run time for
# the CPU (SSE .. AVX-512). Serial on purpose: larmor threads its own loops (OpenMP) and calls BLAS from
# inside them; OpenBLAS's OpenMP build serialises such concurrent calls on one buffer (measured: 40 ms ->
# 7-21 s for a GRAPPA fill on 2 threads) and its pthread build would oversubscribe the cores.
# Installed with larmor so consumers find the same library.
include(FindPackageHandleStandardArgs)
find_path(LARMOR_OPENBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas-serial x86_64-linux-gnu/openblas-serial aarch64-linux-gnu/openblas-serial)
find_library(LARMOR_OPENBLAS_LIBRARY NAMES openblas
  PATH_SUFFIXES openblas-serial x86_64-linux-gnu/openblas-serial aarch64-linux-gnu/openblas-serial)
find_package_handle_standard_args(LarmorOpenBLAS REQUIRED_VARS LARMOR_OPENBLAS_INCLUDE_DIR LARMOR_OPENBLAS_LIBRARY)
if(LarmorOpenBLAS_FOUND AND NOT TARGET LarmorOpenBLAS::openblas)
  add_library(LarmorOpenBLAS::openblas UNKNOWN IMPORTED)
  set_target_properties(LarmorOpenBLAS::openblas PROPERTIES
    IMPORTED_LOCATION "${LARMOR_OPENBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LARMOR_OPENBLAS_INCLUDE_DIR}")
endif()
