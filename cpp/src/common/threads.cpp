#include "pyqml/common/threads.hpp"

#ifdef PYQML_HAVE_OPENMP
#include <omp.h>
#endif

namespace pyqml {

int max_threads() {
#ifdef PYQML_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace pyqml
