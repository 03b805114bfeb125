# Finds FFTW3 (single and double precision) and its threading libraries, and defines
#   LarmorFFTW::fftw3f  LarmorFFTW::fftw3  (each linking its _threads library)
# The POSIX-threads variant, not _omp: FFTW 3.3.10's OpenMP variant compiles
# fftw[f]_make_planner_thread_safe to an empty function, so a host planning on another thread would race
# with larmor's planner (an ASan double free in FFTW's planner, tests/cpp/test_fft.cpp).
# Debian's fftw3 CMake config covers double precision only, so this module looks the libraries up
# directly. Installed with larmor so that consumers of larmor::larmor find the same libraries.
include(FindPackageHandleStandardArgs)
find_package(Threads REQUIRED)
find_path(LARMOR_FFTW_INCLUDE_DIR fftw3.h)
foreach(lib fftw3f fftw3f_threads fftw3 fftw3_threads)
  find_library(LARMOR_${lib}_LIBRARY NAMES ${lib})
endforeach()
find_package_handle_standard_args(LarmorFFTW REQUIRED_VARS LARMOR_FFTW_INCLUDE_DIR
  LARMOR_fftw3f_LIBRARY LARMOR_fftw3f_threads_LIBRARY LARMOR_fftw3_LIBRARY LARMOR_fftw3_threads_LIBRARY)
if(LarmorFFTW_FOUND)
  foreach(p fftw3f fftw3)
    if(NOT TARGET LarmorFFTW::${p})
      add_library(LarmorFFTW::${p} UNKNOWN IMPORTED)
      set_target_properties(LarmorFFTW::${p} PROPERTIES
        IMPORTED_LOCATION "${LARMOR_${p}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${LARMOR_FFTW_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${LARMOR_${p}_threads_LIBRARY};Threads::Threads")
    endif()
  endforeach()
endif()
