// Fault analysis with Capstone: the exact faulting byte address, and the report printed when a
// fault kills the guest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mmu/address_space.hpp"
#include "kernel/signals.hpp"

namespace emu {

class Process;

// x86-64 with 48-bit virtual addresses: bits 63..47 must all equal bit 47.
constexpr bool is_canonical(std::uint64_t va) {
    const std::uint64_t top = va >> 47;
    return top == 0 || top == 0x1ffff;
}

// The TLB-fill hook only sees the page; Linux reports the faulting byte. Decodes the instruction
// at `rip` and computes which of its memory operands touched the refused page.
std::uint64_t exact_fault_address(Process& p, const mmu::Fault& fault, std::uint64_t rip);

// The address of the first instruction, decoding straight on from `rip`, whose bytes reach
// `page` (an instruction that starts on it counts). The instructions before it must not branch:
// they are those of one translated block.
std::uint64_t first_instruction_reaching(Process& p, std::uint64_t rip, std::uint64_t page);

// One instruction, disassembled: "mov byte ptr [rax + 0x1000], 0x41  (c6 80 00 10 00 00 41)".
std::string disassemble_at(Process& p, std::uint64_t rip);

void print_fault_report(Process& p, const SigInfo& info);

// The explicit memory operands of the instruction at `rip` (effective address, size, access).
struct MemoryOperand {
    std::uint64_t addr;
    unsigned size;
    mmu::Access access;
};
std::vector<MemoryOperand> memory_operands(Process& p, std::uint64_t rip);

// The instruction at `rip` when it is `mov Sreg, r/m16` into ES, SS, DS, FS or GS: the segment
// register (Unicorn's id), the selector it loads (read through the MMU for a memory operand)
// and the instruction's length.
struct SegmentLoad {
    int segment;
    std::uint16_t selector;
    unsigned length;
};
std::optional<SegmentLoad> decode_segment_load(Process& p, std::uint64_t rip);

}  // namespace emu
