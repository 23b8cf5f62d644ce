// Hooks that watch the guest run: --check coherence checking, --trace-accesses, --max-insns.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "machine/fault_report.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

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
    p.access_tracer_.trace(p.as(), p.cpu(), *p.recorder_, address);
}

// Decided once per translation of the instruction: its bytes alone decide whether it has memory
// operands, and new bytes at its address are translated (and asked about) again.
bool Process::trace_access_filter(std::uint64_t address, void* self) {
    auto& p = *static_cast<Process*>(self);
    return p.access_tracer_.may_access_memory(p.as(), address);
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

namespace {

std::string describe_translation(const ShadowEntry& e) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "frame 0x%" PRIx64 " (r%c%c)", e.pfn, e.writable ? 'w' : '-',
                  e.executable ? 'x' : '-');
    return buf;
}

// Does the leaf entry still grant what was handed out? Same frame, and no permission the entry
// no longer gives. A writable TLB entry also needs Dirty: the hardware sets it only on a walk, so
// an entry cleaned (MADV_FREE, write-back) without a flush would let writes bypass it.
bool still_granted(Pte leaf, const ShadowEntry& e) {
    return leaf.present() && leaf.pfn() == e.pfn && (!e.writable || (leaf.writable() && leaf.dirty())) &&
           (!e.executable || leaf.executable());
}

}  // namespace

std::string Process::describe_last_operation() const {
    std::string what = last_operation_;
    if (std::strcmp(last_operation_, "system call") == 0) what += " " + sys::syscall_name(last_syscall_);
    return what + " on CPU " + std::to_string(cpu_index_);
}

// Every page-table edit goes through PageTable::ensure or walk_range, which advance the RAM's
// page-table epoch: while it is unchanged, every translation verified before is still granted,
// and the translations handed out since were each verified as they were handed out.
bool Process::verify_shadow_tlbs() {
    if (!verify_code_caches()) return false;
    if (ram_.page_table_epoch() == verified_epoch_) return true;
    ++stats_.shadow_checks;
    // Since the last check, entries changed only in the ranges the page tables list as edited
    // (all of them when the list overflowed, or before the first check).
    const auto* edits = verified_epoch_ == ~0ull ? nullptr : ram_.page_table_edits();
    for (unsigned i = 0; i < cpus_.size(); ++i) {
        const ShadowTlb& shadow = cpus_[i].shadow;
        if (shadow.empty()) continue;
        AddressSpace* mm = find_address_space(shadow.asid());
        // The address space is gone: its asid is never given again, so a CPU that still holds
        // its translations flushes before it runs anything (switch_to loads another asid).
        if (!mm) continue;
        auto verify = [&](VirtAddr vpage, const ShadowEntry& entry) {
            ++stats_.shadow_entries;
            return verify_translation(i, *mm, vpage, entry);
        };
        const bool coherent = edits ? verify_edited(shadow, *mm, *edits, verify) : shadow.all_of(verify);
        if (!coherent) return false;
    }
    verified_epoch_ = ram_.page_table_epoch();
    ram_.forget_page_table_edits();
    return true;
}

// The shadow entries of `mm`'s pages inside the edited ranges: looked up page by page in a
// small range, or picked out of all the entries for a large one.
template <class Verify>
bool Process::verify_edited(const ShadowTlb& shadow, const AddressSpace& mm,
                            const std::vector<mmu::PhysicalMemory::PageTableEdit>& edits, Verify& verify) {
    constexpr std::uint64_t kLookedUpPages = 64;
    for (const auto& e : edits) {
        if (e.root != mm.page_table_root()) continue;
        if ((e.end - e.start) / kPageSize <= kLookedUpPages) {
            for (VirtAddr vpage = e.start; vpage < e.end; vpage += kPageSize)
                if (const auto entry = shadow.find(vpage); entry && !verify(vpage, *entry)) return false;
        } else if (!shadow.all_of([&](VirtAddr vpage, const ShadowEntry& entry) {
                       return vpage < e.start || vpage >= e.end || verify(vpage, entry);
                   })) {
            return false;
        }
    }
    return true;
}

// A page fault edits the faulting page's entry only (the MMU's rule, which its own checked mode
// relies on too): the translations of that page are the only ones it can have made stale.
bool Process::verify_shadow_page(const AddressSpace& mm, VirtAddr vpage, std::uint64_t epoch_before) {
    if (!verify_code_caches()) return false;
    const bool nothing_else_changed = epoch_before == verified_epoch_;
    for (unsigned i = 0; i < cpus_.size(); ++i) {
        const ShadowTlb& shadow = cpus_[i].shadow;
        if (shadow.empty() || shadow.asid() != mm.asid()) continue;
        if (const auto entry = shadow.find(vpage); entry && !verify_translation(i, mm, vpage, *entry))
            return false;
    }
    if (!nothing_else_changed) return verify_shadow_tlbs();
    verified_epoch_ = ram_.page_table_epoch();
    ram_.forget_page_table_edits();
    return true;
}

bool Process::verify_translation(unsigned cpu, const AddressSpace& mm, VirtAddr vpage, const ShadowEntry& entry) {
    const Pte leaf = mm.leaf(vpage);
    if (still_granted(leaf, entry)) return true;
    char buf[160];
    std::snprintf(buf, sizeof buf, "CPU %u still holds page 0x%" PRIx64 " -> ", cpu, vpage);
    violation_ = "after " + describe_last_operation() + ": " + buf + describe_translation(entry) +
                 ", not flushed since it was handed out; the page table now gives: " + describe(leaf);
    return false;
}

// QEMU keys translated code by the physical page it came from and notices only the guest's own
// stores into it: after the emulator writes a frame (a frame handed out again included), each
// engine that translated code from it must drop that code before it runs again.
void Process::note_frame_written(Pfn pfn) {
    for (VirtualCpu& c : cpus_)
        if (auto it = c.code_frames.find(pfn); it != c.code_frames.end()) c.stale_code.insert(*it);
}

bool Process::verify_code_caches() {
    for (unsigned i = 0; i < cpus_.size(); ++i) {
        if (cpus_[i].stale_code.empty()) continue;
        const auto stale = cpus_[i].stale_code.begin();
        char buf[224];
        std::snprintf(buf, sizeof buf,
                      "CPU %u may run code it translated from frame 0x%" PRIx64
                      " (executable at page 0x%" PRIx64
                      "), which the emulator has written since; its translated code was not dropped",
                      i, stale->first, stale->second);
        violation_ = "after " + describe_last_operation() + ": " + buf;
        return false;
    }
    return true;
}

AddressSpace* Process::find_address_space(Asid asid) const {
    if (current_ && current_->group && current_->group->mm && current_->group->mm->asid() == asid)
        return current_->group->mm.get();
    for (const auto& [tgid, g] : groups_)
        if (g->mm && g->mm->asid() == asid) return g->mm.get();
    return nullptr;
}

}  // namespace emu
