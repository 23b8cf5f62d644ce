// Hooks that watch the guest run: --check coherence checking, --trace-accesses, --max-insns.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "machine/fault_report.hpp"
#include "machine/process.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>

namespace emu {

using namespace mmu;

// --trace-accesses: every explicit memory operand of every instruction, with the translation the
// page table gives at that moment ("unmapped": the access is about to fault, see the next events).
void Process::trace_access_hook(uc_engine*, std::uint64_t address, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (!p.recorder_ || !p.recorder_->traces(p.as())) return;
    for (const MemoryOperand& op : memory_operands(p, address)) {
        const PageWalk w = p.as().walk(op.addr);
        const Pte leaf = w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
        const bool ok = leaf.present() && (op.access != Access::Write || leaf.writable());
        p.recorder_->access(p.as(), op.addr, op.size, op.access, ok,
                            (leaf.pfn() << kPageShift) | (op.addr & (kPageSize - 1)), 0);
    }
}

void Process::count_hook(uc_engine*, std::uint64_t, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (++p.instructions_ >= p.options_.max_instructions) p.cpu().stop();
}

void Process::check_code_hook(uc_engine*, std::uint64_t address, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (page_down(address) == p.cpus_[p.cpu_index_].checked_code_page) return;
    const PageWalk w = p.as().walk(address);
    const Pte leaf = w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
    if (!leaf.present() || !leaf.executable()) {
        char buf[160];
        std::snprintf(buf, sizeof buf,
                      "instruction fetch at 0x%" PRIx64 " executed but the page table says: %s",
                      address, describe(leaf).c_str());
        p.violation_ = buf;
        p.cpu().stop();
        return;
    }
    p.cpus_[p.cpu_index_].checked_code_page = page_down(address);
}

// Memory hooks see physical addresses in virtual-TLB mode: an access is coherent when some
// translation handed to the CPU since the last flush maps that frame and is still in the page
// table with the needed permission.
void Process::check_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int,
                                std::int64_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    const Pfn pfn = address >> kPageShift;
    const bool write = type == UC_MEM_WRITE;
    if (pfn == p.cpus_[p.cpu_index_].checked_data_frame && (!write || p.cpus_[p.cpu_index_].checked_data_write)) return;
    if (auto it = p.cpus_[p.cpu_index_].handed_out.find(pfn); it != p.cpus_[p.cpu_index_].handed_out.end()) {
        for (auto vpage = it->second.rbegin(); vpage != it->second.rend(); ++vpage) {
            const PageWalk w = p.as().walk(*vpage);
            const Pte leaf = w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
            if (leaf.present() && leaf.pfn() == pfn && (!write || leaf.writable())) {
                p.cpus_[p.cpu_index_].checked_data_frame = pfn;
                p.cpus_[p.cpu_index_].checked_data_write = leaf.writable();
                return;
            }
        }
    }
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%s of physical 0x%" PRIx64 " through a translation the page table no longer has",
                  write ? "write" : "read", address);
    p.violation_ = buf;
    p.cpu().stop();
}

}  // namespace emu
