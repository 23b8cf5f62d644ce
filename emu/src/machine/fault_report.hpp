// Fault analysis with Capstone: the exact faulting byte address, and the report printed when a
// fault kills the guest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cpu/cpu.hpp"
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

// How one explicit memory operand's effective address is formed, decoded once:
// constant + base + index * scale + segment base, each register a Unicorn id (kNoRegister: adds
// nothing). A 32-bit register counts its low half only. The access events it gives, in order:
// a read if it is read, a write if it is written, a read if Capstone says neither.
struct OperandForm {
    static constexpr std::uint16_t kNoRegister = 0;
    enum class Segment : std::uint8_t { None, Fs, Gs };  // fs:/gs: add that segment's base
    std::uint64_t constant = 0;  // displacement, plus the next instruction's address if rip-relative
    std::uint16_t base = kNoRegister, index = kNoRegister;
    Segment segment = Segment::None;
    std::uint8_t scale = 1, size = 0;
    bool base32 : 1 = false, index32 : 1 = false, read : 1 = false, write : 1 = false;
};

// The memory operands of one instruction, decoded from its bytes (at most 15, starting at `rip`),
// and how many bytes it is long; nullopt when the bytes do not decode.
struct DecodedOperands {
    unsigned length = 0;
    std::vector<OperandForm> operands;
};
std::optional<DecodedOperands> decode_memory_operands(const std::uint8_t* code, std::size_t n,
                                                      std::uint64_t rip);

static_assert(UC_X86_REG_INVALID == OperandForm::kNoRegister);
static_assert(UC_X86_REG_ENDING <= 0xffff);  // Unicorn ids fit OperandForm

// The effective address `form` gives with `cpu`'s registers now (inline: --trace-accesses
// computes one per memory operand of every instruction).
inline std::uint64_t effective_address(Cpu& cpu, const OperandForm& form) {
    auto value = [&cpu](std::uint16_t uc_reg, bool low32) -> std::uint64_t {
        if (uc_reg == OperandForm::kNoRegister) return 0;
        const std::uint64_t v = cpu.reg(uc_reg);
        return low32 ? (v & 0xffffffffu) : v;
    };
    std::uint64_t ea = form.constant + value(form.base, form.base32);
    if (form.index != OperandForm::kNoRegister) ea += value(form.index, form.index32) * form.scale;
    if (form.segment == OperandForm::Segment::Fs) ea += cpu.reg(UC_X86_REG_FS_BASE);
    if (form.segment == OperandForm::Segment::Gs) ea += cpu.reg(UC_X86_REG_GS_BASE);
    return ea;
}

// Reads up to 15 code bytes at `rip` through the page table (what a debugger would see).
std::size_t read_code(mmu::AddressSpace& as, std::uint64_t rip, std::uint8_t (&buf)[16]);
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
