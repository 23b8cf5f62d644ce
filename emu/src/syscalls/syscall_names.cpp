// x86-64 system call names, for reports (unsupported calls, --stats).
#include "syscalls/syscall_support.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace emu::sys {

namespace {

struct NamedCall {
    std::uint64_t nr;
    const char* name;
};

constexpr NamedCall kCalls[] = {
#include "syscall_names.inc"
};

}  // namespace

std::string syscall_name(std::uint64_t nr) {
    const auto it = std::find_if(std::begin(kCalls), std::end(kCalls), [nr](const NamedCall& c) { return c.nr == nr; });
    return it == std::end(kCalls) ? "syscall_" + std::to_string(nr) : it->name;
}

}  // namespace emu::sys
