#pragma once
#include <stdexcept>
#include <string>

namespace pyqml {

// Bad input from the caller: surfaces in Python as ValueError.
struct InvalidInput : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// A computation whose estimated memory exceeds the limit, refused before allocating.
// Surfaces in Python as pyqml.MemoryLimitError (a MemoryError).
struct MemoryLimitExceeded : std::runtime_error {
    MemoryLimitExceeded(const std::string& what, double bytes_needed, double bytes_limit)
        : std::runtime_error(what), needed(bytes_needed), limit(bytes_limit) {}
    double needed;
    double limit;
};

#define PYQML_REQUIRE(cond, msg)                        \
    do {                                                \
        if (!(cond)) throw ::pyqml::InvalidInput(msg); \
    } while (0)

}  // namespace pyqml
