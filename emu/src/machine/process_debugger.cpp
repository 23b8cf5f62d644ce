// The debugger side of the run loop: stops reported to gdb, breakpoints, single steps and
// watchpoints.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "machine/fault_report.hpp"
#include "machine/process.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>

namespace emu {

using namespace mmu;

void Process::debugger_stop(int signo, const SigInfo* info, const std::string& extra) {
    last_operation_ = "debugger stop";
    resume_ = gdb_->stopped(signo, info, extra);
    // A step of another thread than the one that stopped: that thread runs next.
    if (gdb_ && resume_ == Resume::Step && gdb_->resume_thread() && gdb_->resume_thread() != current_->tid) {
        forced_next_ = gdb_->resume_thread();
        cpu().stop();
    }
    if (resume_ == Resume::Kill) {
        exit_group(0, 9);
        finished_ = true;
        killed_by_ = 9;
        exit_status_ = 128 + 9;
    } else if (resume_ == Resume::Detach) {
        gdb_.reset();
        resume_ = Resume::Continue;
    }
}

void Process::debug_code_hook(uc_engine*, std::uint64_t address, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (!p.gdb_ || !p.is_debugged(*p.current_)) return;  // forked children are not followed
    // Single step: let the first instruction run, stop before the second (Unicorn's own
    // instruction count is not reliable once blocks are cached).
    if (p.stepping_) {
        if (p.step_started_) {
            p.step_done_ = true;
            p.cpu().stop();
            return;
        }
        p.step_started_ = true;
    }
    if (p.gdb_->step_over == address) {
        p.gdb_->step_over.reset();
        return;
    }
    p.gdb_->step_over.reset();
    if (p.gdb_->breakpoint_at(address)) {
        p.debug_stop_ = "";
        p.cpu().stop();
    }
}

// Watchpoints: the hook sees physical addresses; the watched virtual ranges were translated to
// frames when the guest was resumed.
void Process::debug_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int size,
                                std::int64_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (!p.gdb_ || p.watched_.empty() || !p.is_debugged(*p.current_)) return;
    const Pfn pfn = address >> kPageShift;
    const std::uint64_t lo = address & (kPageSize - 1), hi = lo + static_cast<std::uint64_t>(size);
    for (const WatchedFrame& w : p.watched_) {
        if (w.pfn != pfn || hi <= w.begin || lo >= w.end) continue;
        const bool write = type == UC_MEM_WRITE;
        if ((w.kind == '2' && !write) || (w.kind == '3' && write)) continue;
        const char* name = w.kind == '2' ? "watch" : w.kind == '3' ? "rwatch" : "awatch";
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s:%" PRIx64 ";", name, w.vaddr + (std::max(lo, w.begin) - w.begin));
        p.debug_stop_ = buf;
        p.cpu().stop();
        return;
    }
}

void Process::prepare_watchpoints() {
    watched_.clear();
    if (!gdb_) return;
    for (const GdbStub::Watch& w : gdb_->watchpoints()) {
        for (std::uint64_t va = w.addr; va < w.addr + w.len;) {
            const std::uint64_t end = std::min(w.addr + w.len, page_down(va) + kPageSize);
            const PageWalk walk = as().walk(va);
            if (walk.depth == kLevels && walk.levels[kLevels - 1].entry.present())
                watched_.push_back({walk.levels[kLevels - 1].entry.pfn(), va & (kPageSize - 1),
                                    (end - 1) % kPageSize + 1, w.kind, va});
            va = end;
        }
    }
}

}  // namespace emu

namespace emu {

std::vector<int> Process::debugger_threads() const {
    std::vector<int> out;
    if (!init_) return out;
    for (const auto& w : init_->threads)
        if (auto t = w.lock(); t && t->alive()) out.push_back(t->tid);
    std::sort(out.begin(), out.end());
    return out;
}

bool Process::debugger_has_thread(int tid) const {
    const auto t = find_task(tid);
    return t && is_debugged(*t);
}

std::string Process::debugger_thread_name(int tid) const {
    const auto t = find_task(tid);
    if (!t) return "";
    std::string state = t->state == TaskState::Blocked ? "blocked" : "runnable";
    if (t->group->stopped) state = "stopped";
    return t->group->comm + " (" + state + ", CPU " + std::to_string(t->last_cpu) + ")";
}

std::string Process::debugger_exec_file() const {
    char real[4096];
    return ::realpath(program_path().c_str(), real) ? real : program_path();
}

std::string Process::debugger_cpu_summary() const {
    return "CPUs: " + std::to_string(cpu_count()) + " (this thread on CPU " + std::to_string(cpu_index()) +
           "), context switches " + std::to_string(stats_.context_switches) + ", CR3 loads " +
           std::to_string(stats_.cr3_loads) + ", shootdowns " + std::to_string(stats_.shootdowns) +
           ", Unicorn TLB flushes " + std::to_string(stats_.unicorn_flushes) + " (and " +
           std::to_string(stats_.unicorn_page_flushes) + " of one page)\n";
}

int Process::debugger_thread() const {
    if (current_ && current_->alive() && is_debugged(*current_)) return current_->tid;
    const auto threads = debugger_threads();
    return threads.empty() ? (current_ ? current_->tid : 0) : threads.front();
}

// Where a thread's registers are: in the engine of the CPU that holds it, or in its saved context
// (with the values a new clone will start with).
Process::RegisterHome Process::register_home(int tid) {
    const auto t = find_task(tid ? tid : debugger_thread());
    if (!t) return {};
    for (auto& c : cpus_)
        if (c.task == t && !t->registers) return {c.engine->handle(), nullptr, t};
    return {nullptr, t->registers.get(), t};
}

void Process::debugger_read_register(int tid, int uc_id, void* value) {
    const RegisterHome home = register_home(tid);
    if (home.engine) {
        check(uc_reg_read(home.engine, uc_id, value), "gdb register read");
    } else if (home.context) {
        for (const auto& [id, v] : home.task->register_overrides)
            if (id == uc_id) {
                std::memcpy(value, &v, sizeof v);
                return;
            }
        check(uc_context_reg_read(home.context->get(), uc_id, value), "gdb register read");
    }
}

void Process::debugger_write_register(int tid, int uc_id, const void* value) {
    const RegisterHome home = register_home(tid);
    if (home.engine) {
        check(uc_reg_write(home.engine, uc_id, value), "gdb register write");
    } else if (home.context) {
        std::erase_if(home.task->register_overrides, [&](const auto& o) { return o.first == uc_id; });
        check(uc_context_reg_write(home.context->get(), uc_id, value), "gdb register write");
    }
}

}  // namespace emu
