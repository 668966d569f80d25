#pragma once
#include <cstddef>
#include <string>

namespace pyqml {

// Bytes of RAM currently available to this process (MemAvailable on Linux, physical pages elsewhere).
double available_memory_bytes();

// The limit every method checks its estimated peak against: a fraction of available memory unless the
// caller set one explicitly (set_memory_limit(bytes); 0 restores the default).
double memory_limit_bytes();
void set_memory_limit(double bytes);

// Throws MemoryLimitExceeded naming `what`, the estimate and the limit when bytes > memory_limit_bytes().
void check_memory(double bytes, const std::string& what);

}  // namespace pyqml
