// --strace: each system call with its decoded arguments and result on stderr, in strace's style
// ("openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3"). Pointers are read through the
// MMU; one that points into a guard region or at nothing mapped is shown as such.
#pragma once

#include <cstdint>
#include <string>

#include "syscalls/syscalls.hpp"

namespace emu {

class Process;

namespace sys {

// The call and its arguments, decoded before it runs (execve replaces the memory they are in).
std::string strace_call(Process& p, const SyscallArgs& s);
// Prints the call with its result (and what a read returned) once it has completed.
void strace_result(Process& p, const SyscallArgs& s, const std::string& call, std::int64_t result);

}  // namespace sys
}  // namespace emu
