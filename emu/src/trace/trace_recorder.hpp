// Records what a guest did to the MMU as a trace (emu/TRACE_FORMAT.md): every address-space
// operation and fault (reported by the mmu observer), TLB fills and flushes, syscalls with their
// results, signals, and optionally every memory access. Deterministic: the same program and input
// give the same bytes (no host addresses, times or pids).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mmu/address_space.hpp"
#include "kernel/signals.hpp"
#include "trace/trace_io.hpp"

namespace emu {

class TraceRecorder final : public mmu::Observer {
public:
    explicit TraceRecorder(const std::string& path);
    // A trace started while the guest runs (gdb's `monitor trace on FILE`): it begins with a
    // snapshot that rebuilds the address space as far as a trace can describe it.
    TraceRecorder(const std::string& path, mmu::AddressSpace& running);
    ~TraceRecorder() override;

    void attach(mmu::AddressSpace& as);  // "as N": a new address space (exec)
    void on_operation(const mmu::AddressSpace& as, const mmu::OperationRecord& record) override;
    void fill(const mmu::AddressSpace& as, std::uint64_t vpage, mmu::Access access, bool ok,
              std::uint64_t paddr, bool writable, bool executable);
    void flush(const mmu::FlushEvent& event);
    void access(const mmu::AddressSpace& as, std::uint64_t addr, unsigned size, mmu::Access access,
                bool ok, std::uint64_t paddr, int si_code);
    void syscall(const mmu::AddressSpace& as, std::uint64_t nr, std::int64_t result);
    void signal(const mmu::AddressSpace& as, const SigInfo& info);
    void sigreturn(const mmu::AddressSpace& as);
    void exit(const mmu::AddressSpace& as, int status, int signo);
    // Another process's address space (a forked child's) goes away; the trace goes on.
    void release(const mmu::AddressSpace& as, int status, int signo);
    // Whether events of `as` are recorded (the first task's, and those forked from a traced one).
    bool traces(const mmu::AddressSpace& as) const {
        return active_ && (&as == last_as_ || ids_.count(&as) != 0);
    }
    // A forked child's address space: its operations are recorded from now on (under the id its
    // fork line gave it).
    void follow(mmu::AddressSpace& child);
    // A comment line (the run's settings that shape it, such as the scheduler's).
    void note(const std::string& text);
    // The task whose events follow (0: a single task, no tags).
    void set_task(int task);
    // gdb's `monitor trace off`: the trace ends here.
    void stop(mmu::AddressSpace& as);
    bool active() const { return active_; }

private:
    int id_of(const mmu::AddressSpace& as);
    void write_snapshot(mmu::AddressSpace& as);
    void write_limits(const mmu::AddressSpace& as);
    // Flushes happen inside an operation but are written after its line, where replay makes them.
    void write_flushes();
    std::vector<std::string> flushes_;
    void emit(std::string_view line);
    void write_task_tag();  // "task N" before the first event of another task
    int task_ = 0, written_task_ = 0;
    TraceWriter writer_;
    std::map<const mmu::AddressSpace*, int> ids_;
    // The last address space looked up in ids_ (most events are of the same one).
    const mmu::AddressSpace* last_as_ = nullptr;
    int last_id_ = 0;
    std::map<mmu::Asid, int> asid_ids_;
    int next_id_ = 1;
    bool active_ = true;
};

}  // namespace emu
