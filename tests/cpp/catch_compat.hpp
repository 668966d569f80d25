#pragma once
// One include for Catch2 v2 (single header, main defined in test_main.cpp) and v3.
#ifdef PYQML_CATCH3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#else
#include <catch2/catch.hpp>
#endif
