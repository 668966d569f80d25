#include "pyqml/common/memory.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <unistd.h>

#include "pyqml/common/errors.hpp"

namespace pyqml {

namespace {
std::atomic<double> g_explicit_limit{0.0};
thread_local double t_reserved = 0.0;
thread_local const std::string* t_reserved_what = nullptr;  // the innermost live reservation's name
// Leave room for the interpreter, the caller's arrays and the OS.
constexpr double kDefaultFraction = 0.8;

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (b >= 1024.0 && u < 6) {
        b /= 1024.0;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g %s", b, units[u]);
    return buf;
}
}  // namespace

namespace {
double read_available_memory() {
    // /proc/meminfo's MemAvailable, read with one fread (an ifstream costs tens of microseconds).
    if (std::FILE* f = std::fopen("/proc/meminfo", "r")) {
        char buf[4096];
        const size_t got = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        buf[got] = 0;
        if (const char* p = std::strstr(buf, "MemAvailable:")) {
            const double kib = std::strtod(p + 13, nullptr);
            if (kib > 0) return kib * 1024.0;
        }
    }
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGE_SIZE);
    return static_cast<double>(pages) * static_cast<double>(page);
}

// The last reading and when it was taken: every engine call checks its memory, and small calls come
// thousands of times a second, so the reading is reused for kMemoryTtl.
std::atomic<double> g_available{0.0};
std::atomic<int64_t> g_available_at{0};
constexpr int64_t kMemoryTtlNs = 20'000'000;  // 20 ms
}  // namespace

double available_memory_bytes() {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count();
    const int64_t at = g_available_at.load(std::memory_order_acquire);
    if (at != 0 && now - at < kMemoryTtlNs) return g_available.load(std::memory_order_relaxed);
    const double v = read_available_memory();
    g_available.store(v, std::memory_order_relaxed);
    g_available_at.store(now, std::memory_order_release);
    return v;
}

double memory_limit_bytes() {
    double lim = g_explicit_limit.load();
    return lim > 0 ? lim : kDefaultFraction * available_memory_bytes();
}

void set_memory_limit(double bytes) { g_explicit_limit.store(bytes > 0 ? bytes : 0.0); }

namespace {
[[noreturn]] void refuse(double bytes, double reserved, double limit, const std::string& what) {
    std::ostringstream msg;
    const double total = bytes + reserved;
    // Exact byte counts, not the stream's 6 significant digits.
    msg << std::fixed << std::setprecision(0);
    if (reserved > 0 && bytes > 0) {
        msg << what << " needs an estimated " << human_bytes(bytes) << " (" << bytes << " bytes), with "
            << (t_reserved_what ? *t_reserved_what : std::string("the call's results")) << " "
            << human_bytes(reserved) << " (" << reserved << " bytes) in all " << human_bytes(total) << " ("
            << total << " bytes)";
    } else {
        msg << what << " needs an estimated " << human_bytes(total) << " (" << total << " bytes)";
    }
    msg << ", over the memory limit of " << human_bytes(limit) << " (" << limit << " bytes)";
    throw MemoryLimitExceeded(msg.str(), total, limit);
}
}  // namespace

void check_memory(double bytes, const std::string& what) {
    const double limit = memory_limit_bytes();
    // NaN or negative estimates (overflowed products) are refused as well.
    if (!(bytes >= 0) || bytes + t_reserved > limit) refuse(bytes, t_reserved, limit, what);
}

double reserved_bytes() { return t_reserved; }

ResultReservation::ResultReservation(double bytes, const std::string& what)
    : bytes_(bytes), what_(what), outer_(t_reserved_what) {
    const double limit = memory_limit_bytes();
    if (!(bytes >= 0) || bytes + t_reserved > limit) refuse(0.0, bytes + t_reserved, limit, what);
    t_reserved += bytes_;
    t_reserved_what = &what_;
}

ResultReservation::~ResultReservation() {
    t_reserved -= bytes_;
    t_reserved_what = outer_;
}

}  // namespace pyqml
