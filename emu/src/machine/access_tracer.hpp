// --trace-accesses: every explicit memory operand of every instruction, with the translation the
// page table gives just before the instruction runs. Recorded from a code hook, so it must be
// cheap per instruction: each instruction is decoded once (Capstone) and kept with its bytes, and
// reused while the bytes at its address are unchanged (compared each time it runs: this sees
// self-modifying code, the emulator's writes and remapping alike); leaf page-table entries are
// kept while no page table has been edited (the RAM's page-table epoch) in the same address
// space. The events are exactly those of decoding and walking afresh (memory_operands).
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
    // False when the instruction at `rip` has no memory operand to record (trace would record
    // nothing for it); true when it has, or cannot be decoded.
    bool may_access_memory(mmu::AddressSpace& as, std::uint64_t rip);

private:
    // More memory operands than this (none seen): decoded afresh each time.
    static constexpr unsigned kInlineOperands = 2;
    struct CachedInstruction {
        std::uint64_t rip = 0;
        std::array<std::uint64_t, 2> bytes{};  // its bytes as little-endian words, zero after them
        // Where its bytes are in RAM, found in generation `code_generation` (nullptr: near the end
        // of a page, read through the page table each time).
        const std::byte* code = nullptr;
        std::uint64_t code_generation = 0;
        std::uint8_t length = 0;  // 0: an empty slot
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
    bool bytes_unchanged(mmu::AddressSpace& as, CachedInstruction& insn);
    void remember(std::uint64_t rip, const std::uint8_t* code, const DecodedOperands& decoded);
    CachedInstruction& slot_of(std::uint64_t rip);
    void grow();
    // The leaf entry for `va` now (AddressSpace::leaf), from the cache when still valid.
    mmu::Pte leaf(mmu::AddressSpace& as, std::uint64_t va);
    void revalidate_leaves(const mmu::AddressSpace& as);
    void record(mmu::AddressSpace& as, Cpu& cpu, TraceRecorder& recorder, const OperandForm& form);

    // Open addressing on the instruction's address, hashed so that neighbours stay close.
    std::vector<CachedInstruction> table_;
    std::size_t used_ = 0;
    std::array<LeafSlot, 1024> leaves_{};
    // Advanced whenever a page table changed or another address space runs: every leaf and code
    // location found before must be looked up again.
    std::uint64_t generation_ = 1;
    std::uint64_t leaves_epoch_ = 0;
    mmu::Asid leaves_asid_ = 0;
    const mmu::AddressSpace* leaves_as_ = nullptr;
};

}  // namespace emu
