// /proc/PID/smaps and smaps_rollup in Linux 6.18's format (fs/proc/task_mmu.c: show_smap,
// show_smaps_rollup): sizes in kB, each name padded to 16 columns and each value to 8.
#include "fs/proc_smaps.hpp"

#include <cinttypes>
#include <cstdio>

#include "mmu/address_space.hpp"

namespace emu {

namespace {

void field(std::string& out, const char* name, std::uint64_t bytes) {
    char line[64];
    const int n = std::snprintf(line, sizeof line, "%-16s%8" PRIu64 " kB\n", name, bytes >> 10);
    out.append(line, static_cast<std::size_t>(n));
}

std::uint64_t pss_bytes(std::uint64_t fixed) { return fixed >> mmu::VmaUsage::kPssShift; }

enum class Rollup : bool { No, Yes };

// The fields from Rss to Locked (__show_smap); the rollup adds the Pss split by kind. Values
// mmuemu does not model (KSM, lazy free, huge pages, swap) are 0.
void usage_fields(std::string& out, const mmu::VmaUsage& u, Rollup rollup) {
    field(out, "Rss:", u.resident);
    field(out, "Pss:", pss_bytes(u.pss));
    field(out, "Pss_Dirty:", pss_bytes(u.pss_dirty));
    if (rollup == Rollup::Yes) {
        field(out, "Pss_Anon:", pss_bytes(u.pss_anon));
        field(out, "Pss_File:", pss_bytes(u.pss_file));
        field(out, "Pss_Shmem:", pss_bytes(u.pss_shmem));
    }
    field(out, "Shared_Clean:", u.shared_clean);
    field(out, "Shared_Dirty:", u.shared_dirty);
    field(out, "Private_Clean:", u.private_clean);
    field(out, "Private_Dirty:", u.private_dirty);
    field(out, "Referenced:", u.referenced);
    field(out, "Anonymous:", u.anonymous);
    for (const char* zero : {"KSM:", "LazyFree:", "AnonHugePages:", "ShmemPmdMapped:", "FilePmdMapped:",
                             "Shared_Hugetlb:", "Private_Hugetlb:", "Swap:", "SwapPss:"})
        field(out, zero, 0);
    field(out, "Locked:", pss_bytes(u.pss_locked));
}

// The lines after a VMA's maps line (show_smap). No THP here, and x86 protection keys are not
// modelled (Linux prints ProtectionKey only on hosts that have them).
void vma_block(std::string& out, std::uint64_t size, const mmu::VmaUsage& u, const std::string& flags) {
    field(out, "Size:", size);
    field(out, "KernelPageSize:", mmu::kPageSize);
    field(out, "MMUPageSize:", mmu::kPageSize);
    usage_fields(out, u, Rollup::No);
    out += "THPeligible:           0\n";
    out += "VmFlags: " + flags + "\n";
}

}  // namespace

std::string proc_smaps(const mmu::AddressSpace& as, const char* vsyscall_maps_line) {
    std::string out;
    for (const auto& [start, v] : as.vmas().all()) {
        out += mmu::maps_line(v);
        vma_block(out, v.size(), as.usage(v), mmu::vm_flag_names(v));
    }
    // The gate VMA: execute-only, nothing resident, VM_EXEC alone.
    out += vsyscall_maps_line;
    vma_block(out, mmu::kPageSize, {}, "ex ");
    return out;
}

std::string proc_smaps_rollup(const mmu::AddressSpace& as) {
    const auto& all = as.vmas().all();
    if (all.empty()) return {};
    mmu::VmaUsage total;
    for (const auto& [start, v] : all) total += as.usage(v);
    char line[128];
    int n = std::snprintf(line, sizeof line, "%08" PRIx64 "-%08" PRIx64 " ---p 00000000 00:00 0",
                          all.begin()->second.start, all.rbegin()->second.end);
    std::string out(line, static_cast<std::size_t>(n));
    // seq_pad: the name starts at column 73, after at least one space.
    out.append(n < 72 ? static_cast<std::size_t>(73 - n) : 1, ' ');
    out += "[rollup]\n";
    usage_fields(out, total, Rollup::Yes);
    return out;
}

}  // namespace emu
