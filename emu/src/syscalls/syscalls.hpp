// The Linux x86-64 system-call layer: `syscall` is our hypercall into the emulated kernel.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace emu {

class Process;

struct SyscallArgs {
    std::uint64_t nr;
    std::array<std::uint64_t, 6> a;  // rdi, rsi, rdx, r10, r8, r9
};

// Result of a system call: the value for RAX, or kNoReturn when the call set the registers
// itself (rt_sigreturn) or ended the process.
inline constexpr std::int64_t kNoReturn = INT64_MIN;
// A blocking call interrupted by a signal whose handler has SA_RESTART: re-executed after it.
inline constexpr std::int64_t kRestart = INT64_MIN + 1;

// The call must wait (Process::block was called): it is executed again when the task wakes.
inline constexpr std::int64_t kBlock = INT64_MIN + 2;

std::int64_t do_syscall(Process& p, const SyscallArgs& args);

}  // namespace emu
