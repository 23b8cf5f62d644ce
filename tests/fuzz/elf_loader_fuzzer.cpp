// libFuzzer target: any bytes given to the ELF loader as a program file end in a loaded image
// (with its initial stack) or a LoadError naming the file; never a crash, a hang, another
// exception, or an address space that breaks the MMU's invariants.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "loader/elf_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // One machine for every input: each address space gives its frames back when it ends.
    static mmu::PhysicalMemory ram(64ull << 20);
    static mmu::Tlb tlb;
    const std::vector<std::uint8_t> file(data, data + size);
    mmu::AddressSpace as(ram, tlb);
    try {
        const emu::LoadedImage image = emu::load_elf(as, file, "fuzz.elf");
        (void)emu::build_stack(as, image, {"fuzz.elf", "arg"}, {"K=V"}, "fuzz.elf");
    } catch (const emu::LoadError& e) {
        if (e.exit_status() != 126 && e.exit_status() != 127) std::abort();
    }
    as.check_invariants();  // throws (and so crashes the fuzzer) on a broken invariant
    return 0;
}
