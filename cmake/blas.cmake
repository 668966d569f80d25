# BLAS for the tensor-network contractions: OpenBLAS from the scipy-openblas32 wheel (a build requirement
# and a run-time dependency), found through the Python interpreter that drives the build.
if(NOT Python_EXECUTABLE)
  find_package(Python COMPONENTS Interpreter REQUIRED)
endif()
execute_process(
  COMMAND ${Python_EXECUTABLE} -c
          "import scipy_openblas32 as s; print(s.get_include_dir()); print(s.get_lib_dir()); print(s.get_library(True))"
  OUTPUT_VARIABLE _pyqml_blas_out
  RESULT_VARIABLE _pyqml_blas_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pyqml_blas_rc EQUAL 0)
  message(FATAL_ERROR "pyqml needs the scipy-openblas32 wheel at build time (pip install scipy-openblas32)")
endif()
string(REPLACE "\n" ";" _pyqml_blas_lines "${_pyqml_blas_out}")
list(GET _pyqml_blas_lines 0 PYQML_BLAS_INCLUDE_DIR)
list(GET _pyqml_blas_lines 1 PYQML_BLAS_LIB_DIR)
list(GET _pyqml_blas_lines 2 PYQML_BLAS_LIB_NAME)
message(STATUS "pyqml BLAS: ${PYQML_BLAS_LIB_DIR}/${PYQML_BLAS_LIB_NAME}")

# A third-party header directory: SYSTEM (its warnings are not ours, and a compiler cache can match
# builds whose Python environments put it at different paths).
target_include_directories(pyqml_engine SYSTEM PUBLIC ${PYQML_BLAS_INCLUDE_DIR})
target_link_libraries(pyqml_engine PUBLIC ${PYQML_BLAS_LIB_DIR}/${PYQML_BLAS_LIB_NAME})
target_compile_definitions(pyqml_engine PUBLIC PYQML_HAVE_BLAS=1)

# At run time the module finds the library in the installed wheel next to the pyqml package, or (editable
# and in-tree builds) where it was at build time.
list(APPEND CMAKE_BUILD_RPATH ${PYQML_BLAS_LIB_DIR})
list(APPEND CMAKE_INSTALL_RPATH "$ORIGIN/../scipy_openblas32/lib" ${PYQML_BLAS_LIB_DIR})
