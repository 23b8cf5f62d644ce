// Trace events: how MMU operations, faults, TLB fills and flushes, syscalls and signals are
// written as text lines, and the small parsers replay uses to read them back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mmu/address_space.hpp"
#include "mmu/observer.hpp"

namespace emu {

inline constexpr const char* kTraceHeader = "mmuemu-trace 1";

std::string hex(std::uint64_t v);
std::string prot_text(std::uint32_t prot);
std::string mmap_flags_text(std::uint32_t flags);
std::string mremap_flags_text(std::uint32_t flags);
std::string advice_text(int advice);
std::string errno_text(int err);  // "ENOMEM"
std::string result_text(std::int64_t r, bool address);  // "0", "-ENOMEM", "0x7f..."
std::string access_text(mmu::Access a);
std::string fault_outcome_text(std::int64_t encoded);  // "resolved", "userfault", "SIGSEGV:SEGV_MAPERR"
// A fault's outcome as traces encode it: 0 resolved, -1 handed to userfaultfd, signo << 8 | si_code.
std::int64_t fault_outcome(const mmu::Fault& f);

// One line for an operation of address space `as_id` (child_id: the id given to a fork child).
std::string operation_line(int as_id, const mmu::OperationRecord& r, int child_id);

// Parsing (throw std::invalid_argument with what was expected).
std::uint64_t parse_u64(std::string_view token);
std::uint32_t parse_prot(std::string_view token);
std::uint32_t parse_mmap_flags(std::string_view token);
std::uint32_t parse_mremap_flags(std::string_view token);
int parse_advice(std::string_view token);
std::int64_t parse_result(std::string_view token);
mmu::Access parse_access(std::string_view token);
std::int64_t parse_fault_outcome(std::string_view token);

// A line split into tokens; `result` holds what follows "->" (empty when absent).
struct TraceLine {
    std::vector<std::string_view> tokens;
    std::vector<std::string_view> result;
};
// Splits `line` into `out` (comments and blank lines give no tokens); reuses out's storage.
void tokenize(std::string_view line, TraceLine& out);

}  // namespace emu
