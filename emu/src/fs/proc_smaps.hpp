// /proc/PID/smaps and /proc/PID/smaps_rollup, generated from the MMU's VMAs and page table.
#pragma once

#include <string>

namespace mmu {
class AddressSpace;
}

namespace emu {

// One block per VMA (its maps line, then the fields of Linux 6.18's show_smap), then the
// vsyscall page's, as Linux lists the gate VMA last.
std::string proc_smaps(const mmu::AddressSpace& as, const char* vsyscall_maps_line);
// The header "FIRST-LAST ---p 00000000 00:00 0 ... [rollup]" and the fields summed over every VMA.
std::string proc_smaps_rollup(const mmu::AddressSpace& as);

}  // namespace emu
