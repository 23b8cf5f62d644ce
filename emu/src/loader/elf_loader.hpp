// Loads an ELF64 x86-64 static or static-PIE executable into an address space, and builds the
// initial stack (argv, envp, auxv) as Linux's execve does.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmu/address_space.hpp"

namespace emu {

// A host-side problem with the program file: message for the user, exit status like a shell's
// (127: not found, 126: found but cannot be executed).
class LoadError : public std::runtime_error {
public:
    LoadError(const std::string& message, int exit_status)
        : std::runtime_error(message), exit_status_(exit_status) {}
    int exit_status() const { return exit_status_; }

private:
    int exit_status_;
};

struct LoadedImage {
    std::uint64_t entry = 0;
    std::uint64_t load_bias = 0;  // 0 for ET_EXEC, the chosen base for static-PIE
    std::uint64_t phdr = 0;       // guest address of the program headers (AT_PHDR)
    std::uint64_t phnum = 0;
    std::uint64_t brk_start = 0;  // end of the highest segment, page aligned
    bool executable_stack = false;
};

struct StackImage {
    std::uint64_t rsp = 0;  // points at argc
    std::uint64_t auxv = 0;
    std::vector<std::uint64_t> auxv_words;  // the auxiliary vector, for qXfer:auxv and /proc
    // Where the argument and environment strings are (/proc/PID/cmdline and environ read them
    // from guest memory, as Linux does: a program that rewrites its argv changes its cmdline).
    std::uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
};

// Parses and validates `bytes` (the whole file) and maps its PT_LOAD segments. Throws LoadError.
LoadedImage load_elf(mmu::AddressSpace& as, const std::vector<std::uint8_t>& bytes,
                     const std::string& path);

// Reads a whole program file; throws LoadError (127 if missing, 126 if unreadable).
std::vector<std::uint8_t> read_program(const std::string& path);

inline constexpr std::uint64_t kStackTop = 0x7ffffffff000ull;
inline constexpr std::uint64_t kPieBase = 0x555555554000ull;  // Linux ELF_ET_DYN_BASE, no ASLR

StackImage build_stack(mmu::AddressSpace& as, const LoadedImage& image,
                       const std::vector<std::string>& argv, const std::vector<std::string>& envp,
                       const std::string& execfn);

}  // namespace emu
