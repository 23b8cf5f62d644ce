// Loads an ELF64 x86-64 executable into an address space as Linux's binfmt_elf does (static,
// static-PIE, or dynamic with its PT_INTERP interpreter), and builds the initial stack (argv, envp,
// auxv) as Linux's execve does.
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmu/address_space.hpp"

namespace emu {

// A host-side problem with the program file: message for the user, exit status like a shell's
// (127: not found, 126: found but cannot be executed), and the errno execve returns for it.
class LoadError : public std::runtime_error {
public:
    LoadError(const std::string& message, int exit_status, int error = ENOEXEC)
        : std::runtime_error(message), exit_status_(exit_status), errno_(error) {}
    int exit_status() const { return exit_status_; }
    int error() const { return errno_; }

private:
    int exit_status_;
    int errno_;
};

struct LoadedImage {
    std::uint64_t entry = 0;
    std::uint64_t load_bias = 0;  // 0 for ET_EXEC, the chosen base for static-PIE
    std::uint64_t phdr = 0;       // guest address of the program headers (AT_PHDR)
    std::uint64_t phnum = 0;
    std::uint64_t brk_start = 0;  // end of the highest segment, page aligned
    bool executable_stack = false;
    std::uint64_t interp_base = 0;  // AT_BASE: where the interpreter was loaded (0: none)
    std::uint64_t start = 0;        // where the CPU starts: the interpreter's entry, or `entry`
};

// The interpreter a program names (PT_INTERP), as found in the guest's root.
struct InterpreterFile {
    std::vector<std::uint8_t> bytes;
    std::string host_path;  // the file opened (the name /proc/PID/maps shows)
};
// Opens the interpreter path inside the guest's root; throws LoadError (127 when missing).
using InterpreterOpener = std::function<InterpreterFile(const std::string& interp)>;

struct StackImage {
    std::uint64_t rsp = 0;  // points at argc
    std::uint64_t auxv = 0;
    std::vector<std::uint64_t> auxv_words;  // the auxiliary vector, for qXfer:auxv and /proc
    // Where the argument and environment strings are (/proc/PID/cmdline and environ read them
    // from guest memory, as Linux does: a program that rewrites its argv changes its cmdline).
    std::uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
};

// Parses and validates `bytes` (the whole file at host path `path`), maps its PT_LOAD segments
// and, when it names one, its interpreter (got from `open_interp`). Throws LoadError.
LoadedImage load_elf(mmu::AddressSpace& as, const std::vector<std::uint8_t>& bytes,
                     const std::string& path, const InterpreterOpener& open_interp = {});

// Reads a whole program file; throws LoadError (127 if missing, 126 if unreadable or not a
// regular file).
std::vector<std::uint8_t> read_program(const std::string& path);

// The "#!" line of a script (Linux's binfmt_script): the interpreter and its one optional
// argument, both trimmed; nullopt when `bytes` does not start with "#!". An empty `path` means
// a line without an interpreter (ENOEXEC).
struct ScriptInterpreter {
    std::string path, arg;
};
std::optional<ScriptInterpreter> script_interpreter(const std::vector<std::uint8_t>& bytes);
// The argv a script runs with: the interpreter, its argument if any, the script's path, then
// the script's own arguments after argv[0].
std::vector<std::string> script_argv(const ScriptInterpreter& script, const std::string& script_path,
                                     const std::vector<std::string>& argv);
// How deep scripts may name scripts as their interpreters (Linux: BINPRM_MAX_RECURSION 4).
inline constexpr int kMaxScriptDepth = 4;

inline constexpr std::uint64_t kStackTop = 0x7ffffffff000ull;
// Linux's ELF_ET_DYN_BASE on x86-64 (2/3 of TASK_SIZE): where a PIE with an interpreter is loaded
// (aligned down to its segments' alignment; no ASLR), and where the brk of an ET_DYN run without
// one (ld.so run directly, static-PIE) starts, page aligned up.
inline constexpr std::uint64_t kElfEtDynBase = 0x555555554aaaull;
inline constexpr std::uint64_t kPieBase = 0x555555554000ull;

// `vvar`: gives the [vvar] pages every process shares (the clock data), asked for when they are
// mapped (after the stack's first page: the order frames are taken in, which a trace replay
// repeats); none: private zeros.
using VvarPages = std::function<std::shared_ptr<mmu::SharedMemoryObject>()>;
StackImage build_stack(mmu::AddressSpace& as, const LoadedImage& image,
                       const std::vector<std::string>& argv, const std::vector<std::string>& envp,
                       const std::string& execfn, const VvarPages& vvar = {});

}  // namespace emu
