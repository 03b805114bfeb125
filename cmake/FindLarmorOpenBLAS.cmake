# Finds OpenBLAS built for OpenMP (Debian: libopenblas-openmp-dev) and defines LarmorOpenBLAS::openblas.
# The GRAPPA/ESPIRiT-size complex matrix products (cgemm/cherk) go to it: its kernels are selected at run
# time for the CPU (SSE .. AVX-512), and the OpenMP build runs single-threaded inside our parallel loops
# instead of oversubscribing the cores. Installed with larmor so consumers find the same library.
include(FindPackageHandleStandardArgs)
find_path(LARMOR_OPENBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas-openmp x86_64-linux-gnu/openblas-openmp aarch64-linux-gnu/openblas-openmp openblas)
find_library(LARMOR_OPENBLAS_LIBRARY NAMES openblas
  PATH_SUFFIXES openblas-openmp x86_64-linux-gnu/openblas-openmp aarch64-linux-gnu/openblas-openmp)
find_package_handle_standard_args(LarmorOpenBLAS REQUIRED_VARS LARMOR_OPENBLAS_INCLUDE_DIR LARMOR_OPENBLAS_LIBRARY)
if(LarmorOpenBLAS_FOUND AND NOT TARGET LarmorOpenBLAS::openblas)
  add_library(LarmorOpenBLAS::openblas UNKNOWN IMPORTED)
  set_target_properties(LarmorOpenBLAS::openblas PROPERTIES
    IMPORTED_LOCATION "${LARMOR_OPENBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LARMOR_OPENBLAS_INCLUDE_DIR}")
endif()
