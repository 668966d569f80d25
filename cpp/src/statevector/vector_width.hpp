#pragma once
// The two vector widths of the row-vectorised kernels (the lanes, the shared suffix's chunk kernels): a kernel
// K (a struct with `template <int H> static void run(...)`, H doubles per vector) runs through vector_run,
// which picks, once per process, a build for the x86-64-v4 level at H = 8 (AVX-512: one 512-bit vector of
// eight doubles per value, 32 registers; a CPU with two 512-bit FMA units does twice the 256-bit arithmetic
// per cycle) or the multi-versioned AVX2 / baseline build at H = 4 (sixteen 256-bit registers).
// PYQML_LANE_VECTOR_BITS=256 in the environment keeps H = 4. A build for one target (PYQML_NATIVE, other
// compilers) takes the width its target allows.
#include <utility>

namespace pyqml::sv {

// Whether this process runs the 512-bit builds (lanes.cpp; read once, when the library loads).
bool detect_wide_vectors();
inline const bool kWideVectors = detect_wide_vectors();

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PYQML_NATIVE_BUILD) && __GNUC__ >= 12
#define PYQML_WIDE_BUILD 1
template <class K, class... A>
__attribute__((target("arch=x86-64-v4"))) void vector_run_wide(A&&... a) {
    K::template run<8>(std::forward<A>(a)...);
}
template <class K, class... A>
__attribute__((target_clones("arch=x86-64-v3", "default"))) void vector_run_narrow(A&&... a) {
    K::template run<4>(std::forward<A>(a)...);
}
template <class K, class... A>
inline void vector_run(A&&... a) {
    if (kWideVectors) vector_run_wide<K>(std::forward<A>(a)...);
    else vector_run_narrow<K>(std::forward<A>(a)...);
}
#else
template <class K, class... A>
inline void vector_run(A&&... a) {
#ifdef __AVX512F__
    K::template run<8>(std::forward<A>(a)...);
#else
    K::template run<4>(std::forward<A>(a)...);
#endif
}
#endif

}  // namespace pyqml::sv
