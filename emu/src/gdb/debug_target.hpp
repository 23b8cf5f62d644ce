// What the GDB protocol sees of the machine it debugs: threads, registers, memory through the
// MMU, and the few facts qXfer and the monitor commands report. mmuemu's Process implements it;
// the RSP fuzzer implements it over a bare address space, without a CPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmu/address_space.hpp"

namespace emu {

class DebugTarget {
public:
    virtual ~DebugTarget() = default;

    // The debugged process's live threads, in ascending order.
    virtual std::vector<int> debugger_threads() const = 0;
    virtual bool debugger_has_thread(int tid) const = 0;
    virtual std::string debugger_thread_name(int tid) const = 0;
    // The thread a stop reports.
    virtual int debugger_thread() const = 0;
    // Registers by Unicorn id of a thread (0: the one debugger_thread() names); `value` holds
    // up to 16 bytes.
    virtual void debugger_read_register(int tid, int uc_id, void* value) = 0;
    virtual void debugger_write_register(int tid, int uc_id, const void* value) = 0;
    // The debugged process's memory, as ptrace sees it.
    virtual mmu::AddressSpace& debugger_memory() = 0;
    // The debugger wrote memory: the bytes may be code, translated by any CPU.
    virtual void debugger_code_changed() = 0;
    virtual std::string debugger_exec_file() const = 0;          // qXfer:exec-file
    virtual std::vector<std::uint64_t> debugger_auxv() const = 0;  // qXfer:auxv
    virtual std::string debugger_cpu_summary() const = 0;        // monitor tlb's CPU line
    // `monitor trace on FILE` / `off`; a message for the user.
    virtual std::string start_trace(const std::string& path) = 0;
    virtual std::string stop_trace() = 0;
};

}  // namespace emu
