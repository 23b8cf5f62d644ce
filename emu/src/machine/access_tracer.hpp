// --trace-accesses: every explicit memory operand of every instruction, with the translation the
// page table gives just before the instruction runs. Recorded from a code hook, so it must be
// cheap per instruction: each instruction is decoded once (Capstone) and kept with its bytes, and
// reused while the bytes at its address are unchanged; leaf page-table entries are kept while no
// page table has been edited (the RAM's page-table epoch) and the address space is the same. The
// events are exactly those of decoding and walking afresh (memory_operands, AddressSpace::leaf).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "machine/fault_report.hpp"
#include "mmu/address_space.hpp"

namespace emu {

class Cpu;
class TraceRecorder;

class AccessTracer {
public:
    AccessTracer();
    // Records the access events of the instruction at `rip` (about to run in `as` on `cpu`).
    void trace(mmu::AddressSpace& as, Cpu& cpu, TraceRecorder& recorder, std::uint64_t rip);

private:
    static constexpr unsigned kInlineOperands = 3;  // more: decoded afresh each time (none seen)
    struct CachedInstruction {
        std::uint64_t rip = 0;
        std::array<std::uint8_t, 15> bytes{};
        std::uint8_t length = 0;
        std::uint8_t count = 0;
        std::array<OperandForm, kInlineOperands> operands{};
    };
    struct LeafSlot {
        std::uint64_t vpage = 0;
        std::uint64_t generation = 0;  // valid when equal to generation_
        mmu::Pte leaf;
    };

    // The cached decoding of the instruction at `rip` if its bytes are still those; else nullptr.
    const CachedInstruction* cached(mmu::AddressSpace& as, std::uint64_t rip);
    bool bytes_unchanged(mmu::AddressSpace& as, const CachedInstruction& insn);
    void remember(std::uint64_t rip, const std::uint8_t* code, const DecodedOperands& decoded);
    std::uint32_t* slot_of(std::uint64_t rip);
    void grow();
    // The leaf entry for `va` now (AddressSpace::leaf), from the cache when still valid.
    mmu::Pte leaf(mmu::AddressSpace& as, std::uint64_t va);
    void revalidate_leaves(const mmu::AddressSpace& as);
    void record(mmu::AddressSpace& as, Cpu& cpu, TraceRecorder& recorder, const OperandForm& form);

    // Open addressing on the instruction's address: 0 = empty, else index + 1 in instructions_.
    std::vector<std::uint32_t> slots_;
    std::vector<CachedInstruction> instructions_;
    std::array<LeafSlot, 1024> leaves_{};
    std::uint64_t generation_ = 1;
    std::uint64_t leaves_epoch_ = 0;
    mmu::Asid leaves_asid_ = 0;
    const mmu::AddressSpace* leaves_as_ = nullptr;
};

}  // namespace emu
