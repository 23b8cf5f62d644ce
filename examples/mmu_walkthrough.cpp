// A tour of the mmu library without a CPU: map memory, write to it, install a guard region,
// watch an access fault, and look at the page walk, /proc/self/maps and the TLB counters.
#include <cinttypes>
#include <cstdio>

#include "mmu/address_space.hpp"

using namespace mmu;

namespace {

void show_access(AddressSpace& as, VirtAddr va, Access access) {
    const Translated t = as.access(va, access);
    if (t.ok)
        std::printf("  %-5s 0x%" PRIx64 " -> physical 0x%" PRIx64 "\n", access_name(access), va,
                    t.translation.paddr);
    else
        std::printf("  %-5s 0x%" PRIx64 " -> SIGSEGV si_code %d (%s)\n", access_name(access), va,
                    t.fault.si_code, fault_reason_name(t.fault.reason));
}

void show_walk(const AddressSpace& as, VirtAddr va) {
    static const char* names[] = {"", "PTE  ", "PDE  ", "PDPTE", "PML4E"};
    const PageWalk w = as.walk(va);
    for (int i = 0; i < w.depth; ++i)
        std::printf("    %s[%3u] %s\n", names[w.levels[i].level], w.levels[i].index,
                    describe(w.levels[i].entry, w.levels[i].level).c_str());
}

}  // namespace

int main() {
    PhysicalMemory ram(64ull << 20);
    Tlb tlb;
    AddressSpace as(ram, tlb);

    auto base = as.mmap(0, 4 * kPageSize, kProtRead | kProtWrite, map::kPrivate | map::kAnonymous);
    if (!base) return 1;
    const VirtAddr b = base.value();
    std::printf("mmap(4 pages) = 0x%" PRIx64 "\n", b);
    for (int i = 0; i < 4; ++i) show_access(as, b + i * kPageSize, Access::Write);

    std::printf("madvise(page 1, MADV_GUARD_INSTALL) = %d\n",
                as.madvise(b + kPageSize, kPageSize, madv::kGuardInstall).error());
    show_access(as, b + kPageSize + 8, Access::Read);
    show_access(as, b + 2 * kPageSize, Access::Read);
    std::printf("  page walk of 0x%" PRIx64 ":\n", b + kPageSize);
    show_walk(as, b + kPageSize);
    std::printf("/proc/self/maps (still one VMA):\n%s", as.maps().c_str());

    std::printf("madvise(page 1, MADV_GUARD_REMOVE) = %d\n",
                as.madvise(b + kPageSize, kPageSize, madv::kGuardRemove).error());
    show_access(as, b + kPageSize + 8, Access::Read);

    const TlbCounters& c = tlb.counters();
    std::printf("TLB: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " walks, %" PRIu64
                " page flushes, %" PRIu64 " full flushes\n",
                c.hits, c.misses, c.walks, c.page_flushes, c.full_flushes);
    return 0;
}
