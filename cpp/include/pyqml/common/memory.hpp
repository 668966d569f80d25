#pragma once
#include <cstddef>
#include <new>
#include <string>
#include <vector>

namespace pyqml {

// An allocator on 64-byte boundaries, for scratch that 512-bit kernels read a vector at a time (an unaligned
// 64-byte access touches two cache lines).
template <class T>
struct Align64 {
    typedef T value_type;
    Align64() = default;
    template <class U>
    Align64(const Align64<U>&) {}
    T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
    void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
    template <class U>
    bool operator==(const Align64<U>&) const { return true; }
    template <class U>
    bool operator!=(const Align64<U>&) const { return false; }
};
template <class T>
using avec = std::vector<T, Align64<T>>;

// Bytes of RAM currently available to this process (MemAvailable on Linux, physical pages elsewhere).
double available_memory_bytes();

// The limit every method checks its estimated peak against: a fraction of available memory unless the
// caller set one explicitly (set_memory_limit(bytes); 0 restores the default).
double memory_limit_bytes();
void set_memory_limit(double bytes);

// Throws MemoryLimitExceeded naming `what`, the estimate and the limit when bytes plus the bytes this
// thread has reserved (ResultReservation: the call's result arrays) exceed memory_limit_bytes().
void check_memory(double bytes, const std::string& what);

// Bytes this thread currently holds in ResultReservations.
double reserved_bytes();

// A call's results counted before they are allocated: the constructor checks `bytes` (with what is already
// reserved) against the limit and throws MemoryLimitExceeded naming `what`; while it lives, every
// check_memory on this thread (the engine's workspaces) counts these bytes too, so results and workspaces
// are refused together, before either is allocated. Thread-local: concurrent calls count their own.
class ResultReservation {
public:
    ResultReservation(double bytes, const std::string& what);
    ~ResultReservation();
    ResultReservation(const ResultReservation&) = delete;
    ResultReservation& operator=(const ResultReservation&) = delete;

private:
    double bytes_;
    std::string what_;
    const std::string* outer_;
};

}  // namespace pyqml
