#include "machine/fault_report.hpp"

#include <algorithm>
#include <capstone/capstone.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "machine/process.hpp"

namespace emu {

using namespace mmu;

namespace {

// RAII for a Capstone handle and one decoded instruction.
class Disassembler {
public:
    Disassembler() {
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK) handle_ = 0;
        if (handle_) cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
    }
    ~Disassembler() {
        if (insn_) cs_free(insn_, 1);
        if (handle_) cs_close(&handle_);
    }
    Disassembler(const Disassembler&) = delete;
    Disassembler& operator=(const Disassembler&) = delete;

    const cs_insn* decode(const std::uint8_t* code, std::size_t size, std::uint64_t address) {
        if (!handle_) return nullptr;
        if (insn_) cs_free(insn_, 1);
        insn_ = nullptr;
        if (cs_disasm(handle_, code, size, address, 1, &insn_) != 1) return nullptr;
        return insn_;
    }
    csh handle() const { return handle_; }

private:
    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

struct RegisterSource {
    std::uint16_t uc_reg = OperandForm::kNoRegister;
    bool low32 = false;
};

// The Unicorn register holding a Capstone register; registers missing from the table (eip, the
// byte registers) read as 0, and the 32-bit ones are cut to their low half.
RegisterSource register_source(x86_reg reg) {
    static const std::pair<x86_reg, int> table[] = {
        {X86_REG_RAX, UC_X86_REG_RAX}, {X86_REG_RBX, UC_X86_REG_RBX}, {X86_REG_RCX, UC_X86_REG_RCX},
        {X86_REG_RDX, UC_X86_REG_RDX}, {X86_REG_RSI, UC_X86_REG_RSI}, {X86_REG_RDI, UC_X86_REG_RDI},
        {X86_REG_RBP, UC_X86_REG_RBP}, {X86_REG_RSP, UC_X86_REG_RSP}, {X86_REG_R8, UC_X86_REG_R8},
        {X86_REG_R9, UC_X86_REG_R9},   {X86_REG_R10, UC_X86_REG_R10}, {X86_REG_R11, UC_X86_REG_R11},
        {X86_REG_R12, UC_X86_REG_R12}, {X86_REG_R13, UC_X86_REG_R13}, {X86_REG_R14, UC_X86_REG_R14},
        {X86_REG_R15, UC_X86_REG_R15}, {X86_REG_EAX, UC_X86_REG_RAX}, {X86_REG_EBX, UC_X86_REG_RBX},
        {X86_REG_ECX, UC_X86_REG_RCX}, {X86_REG_EDX, UC_X86_REG_RDX}, {X86_REG_ESI, UC_X86_REG_RSI},
        {X86_REG_EDI, UC_X86_REG_RDI}, {X86_REG_EBP, UC_X86_REG_RBP}, {X86_REG_ESP, UC_X86_REG_RSP},
        // The narrower names (segment loads take 16 bits: the caller masks).
        {X86_REG_AX, UC_X86_REG_RAX},  {X86_REG_BX, UC_X86_REG_RBX},  {X86_REG_CX, UC_X86_REG_RCX},
        {X86_REG_DX, UC_X86_REG_RDX},  {X86_REG_SI, UC_X86_REG_RSI},  {X86_REG_DI, UC_X86_REG_RDI},
        {X86_REG_BP, UC_X86_REG_RBP},  {X86_REG_SP, UC_X86_REG_RSP},  {X86_REG_R8D, UC_X86_REG_R8},
        {X86_REG_R9D, UC_X86_REG_R9},  {X86_REG_R10D, UC_X86_REG_R10}, {X86_REG_R11D, UC_X86_REG_R11},
        {X86_REG_R12D, UC_X86_REG_R12}, {X86_REG_R13D, UC_X86_REG_R13}, {X86_REG_R14D, UC_X86_REG_R14},
        {X86_REG_R15D, UC_X86_REG_R15}, {X86_REG_R8W, UC_X86_REG_R8},  {X86_REG_R9W, UC_X86_REG_R9},
        {X86_REG_R10W, UC_X86_REG_R10}, {X86_REG_R11W, UC_X86_REG_R11}, {X86_REG_R12W, UC_X86_REG_R12},
        {X86_REG_R13W, UC_X86_REG_R13}, {X86_REG_R14W, UC_X86_REG_R14}, {X86_REG_R15W, UC_X86_REG_R15},
    };
    // A 32-bit register forms a 32-bit address (the address-size prefix): its low half counts.
    static const x86_reg low32[] = {X86_REG_EAX,  X86_REG_EBX,  X86_REG_ECX,  X86_REG_EDX,  X86_REG_ESI,
                                    X86_REG_EDI,  X86_REG_EBP,  X86_REG_ESP,  X86_REG_R8D,  X86_REG_R9D,
                                    X86_REG_R10D, X86_REG_R11D, X86_REG_R12D, X86_REG_R13D, X86_REG_R14D,
                                    X86_REG_R15D};
    for (const auto& [cs_reg, uc_reg] : table)
        if (cs_reg == reg)
            return {static_cast<std::uint16_t>(uc_reg),
                    std::find(std::begin(low32), std::end(low32), reg) != std::end(low32)};
    return {};
}

// How `op`, a memory operand of `insn` (decoded at `rip`), forms its effective address.
OperandForm operand_form(const cs_insn& insn, const cs_x86_op& op, std::uint64_t rip) {
    OperandForm form;
    form.constant = static_cast<std::uint64_t>(op.mem.disp);
    if (op.mem.base == X86_REG_RIP) {
        form.constant += rip + insn.size;
    } else if (op.mem.base != X86_REG_INVALID) {
        const RegisterSource base = register_source(static_cast<x86_reg>(op.mem.base));
        form.base = base.uc_reg;
        form.base32 = base.low32;
    }
    if (op.mem.index != X86_REG_INVALID) {
        const RegisterSource index = register_source(static_cast<x86_reg>(op.mem.index));
        form.index = index.uc_reg;
        form.index32 = index.low32;
        form.scale = static_cast<std::uint8_t>(op.mem.scale);
    }
    if (op.mem.segment == X86_REG_FS) form.segment = OperandForm::Segment::Fs;
    if (op.mem.segment == X86_REG_GS) form.segment = OperandForm::Segment::Gs;
    form.size = op.size;
    form.read = (op.access & CS_AC_READ) || !(op.access & (CS_AC_READ | CS_AC_WRITE));
    form.write = (op.access & CS_AC_WRITE) != 0;
    return form;
}

// The value of a Capstone register operand (0 for one missing from register_source's table).
std::uint64_t register_value(Cpu& cpu, x86_reg reg) {
    const RegisterSource source = register_source(reg);
    if (source.uc_reg == OperandForm::kNoRegister) return 0;
    const std::uint64_t v = cpu.reg(source.uc_reg);
    return source.low32 ? (v & 0xffffffffu) : v;
}

}  // namespace


std::size_t read_code(AddressSpace& as, std::uint64_t rip, std::uint8_t (&buf)[16]) {
    std::size_t n = 0;
    for (; n < 15; ++n) {
        const Pte leaf = as.leaf(rip + n);
        if (!leaf.present()) break;
        buf[n] = std::to_integer<std::uint8_t>(as.memory().frame(leaf.pfn())[(rip + n) & (kPageSize - 1)]);
    }
    return n;
}

std::optional<DecodedOperands> decode_memory_operands(const std::uint8_t* code, std::size_t n,
                                                      std::uint64_t rip) {
    static Disassembler dis;  // one handle for the whole run: decoding is per instruction
    const cs_insn* insn = dis.decode(code, n, rip);
    if (!insn || !insn->detail) return std::nullopt;
    DecodedOperands out;
    out.length = insn->size;
    if (insn->id == X86_INS_LEA || insn->id == X86_INS_NOP) return out;  // address only
    const cs_x86& x86 = insn->detail->x86;
    for (int i = 0; i < x86.op_count; ++i) {
        const cs_x86_op& op = x86.operands[i];
        if (op.type != X86_OP_MEM) continue;
        out.operands.push_back(operand_form(*insn, op, rip));
    }
    return out;
}

std::uint64_t exact_fault_address(Process& p, const Fault& fault, std::uint64_t rip) {
    const std::uint64_t page = page_down(fault.addr);
    auto clamp = [&](std::uint64_t ea, std::uint64_t size) -> std::optional<std::uint64_t> {
        if (ea >= page && ea < page + kPageSize) return ea;                // starts in the page
        if (ea < page && ea + size > page) return page;                  // crosses into it
        return std::nullopt;
    };
    if (fault.access == Access::Execute) return rip >= page ? rip : page;
    for (const MemoryOperand& op : memory_operands(p, rip)) {
        if (!is_canonical(op.addr)) return op.addr;  // a #GP, not a page fault: the caller tells
        if (auto hit = clamp(op.addr, op.size ? op.size : 1)) return *hit;
    }
    // Implicit operands: the stack (push, call, pop, ret) and the string registers.
    const std::uint64_t rsp = p.cpu().reg(UC_X86_REG_RSP);
    for (std::uint64_t ea : {rsp - 8, rsp, p.cpu().reg(UC_X86_REG_RDI), p.cpu().reg(UC_X86_REG_RSI)})
        if (auto hit = clamp(ea, 8)) return *hit;
    return page;
}

std::uint64_t first_instruction_reaching(Process& p, std::uint64_t rip, std::uint64_t page) {
    static Disassembler dis;
    std::uint64_t at = rip;
    while (at < page) {
        std::uint8_t code[16];
        const std::size_t n = read_code(p.as(), at, code);
        const cs_insn* insn = dis.decode(code, n, at);
        // Undecodable: its bytes run into a page that cannot be read, or it is invalid (it
        // would have ended the block, so it is the last one the CPU tried to fetch either way).
        if (!insn || at + insn->size > page) return at;
        at += insn->size;
    }
    return at;
}

std::optional<SegmentLoad> decode_segment_load(Process& p, std::uint64_t rip) {
    static Disassembler dis;
    static const std::pair<x86_reg, int> segments[] = {{X86_REG_ES, UC_X86_REG_ES}, {X86_REG_SS, UC_X86_REG_SS},
                                                       {X86_REG_DS, UC_X86_REG_DS}, {X86_REG_FS, UC_X86_REG_FS},
                                                       {X86_REG_GS, UC_X86_REG_GS}};
    std::uint8_t code[16];
    const std::size_t n = read_code(p.as(), rip, code);
    const cs_insn* insn = dis.decode(code, n, rip);
    if (!insn || !insn->detail || insn->id != X86_INS_MOV || insn->detail->x86.op_count != 2) return std::nullopt;
    const cs_x86_op& to = insn->detail->x86.operands[0];
    const cs_x86_op& from = insn->detail->x86.operands[1];
    if (to.type != X86_OP_REG) return std::nullopt;
    const auto seg = std::find_if(std::begin(segments), std::end(segments),
                                  [&to](const auto& s) { return s.first == to.reg; });
    if (seg == std::end(segments)) return std::nullopt;
    std::uint16_t selector = 0;
    if (from.type == X86_OP_REG) {
        selector = static_cast<std::uint16_t>(register_value(p.cpu(), static_cast<x86_reg>(from.reg)));
    } else if (from.type == X86_OP_MEM) {
        const std::uint64_t ea = effective_address(p.cpu(), operand_form(*insn, from, rip));
        if (!p.as().copy_from_user(&selector, ea, sizeof selector))
            return std::nullopt;
    } else {
        return std::nullopt;
    }
    return SegmentLoad{seg->second, selector, insn->size};
}

std::vector<MemoryOperand> memory_operands(Process& p, std::uint64_t rip) {
    std::uint8_t code[16];
    const std::size_t n = read_code(p.as(), rip, code);
    std::vector<MemoryOperand> out;
    const auto decoded = decode_memory_operands(code, n, rip);
    if (!decoded) return out;
    for (const OperandForm& form : decoded->operands) {
        const std::uint64_t ea = effective_address(p.cpu(), form);
        if (form.read) out.push_back({ea, form.size, Access::Read});
        if (form.write) out.push_back({ea, form.size, Access::Write});
    }
    return out;
}

std::string disassemble_at(Process& p, std::uint64_t rip) {
    std::uint8_t code[16];
    const std::size_t n = read_code(p.as(), rip, code);
    Disassembler dis;
    const cs_insn* insn = dis.decode(code, n, rip);
    auto hex = [](const std::uint8_t* bytes, std::size_t size) {
        std::string text;
        char byte[4];
        for (std::size_t i = 0; i < size; ++i) {
            std::snprintf(byte, sizeof byte, i ? " %02x" : "%02x", bytes[i]);
            text += byte;
        }
        return text;
    };
    if (!insn && n < 15)  // it runs into a page that is not there (a fetch that crossed into it)
        return "(no instruction could be decoded: " + (n ? hex(code, n) + ", then " : std::string()) +
               "a page that is not present)";
    if (!insn) return "(no instruction could be decoded)";
    return std::string(insn->mnemonic) + " " + insn->op_str + "  (" + hex(insn->bytes, insn->size) + ")";
}

void print_fault_report(Process& p, const SigInfo& info) {
    const std::uint64_t rip = p.cpu().reg(UC_X86_REG_RIP);
    std::FILE* out = stderr;
    std::fprintf(out, "\nmmuemu: guest killed by %s (%s)", signal_name(info.signo),
                 si_code_name(info.signo, info.code));
    if (!info.from_kill) std::fprintf(out, " at address 0x%" PRIx64, info.addr);
    std::fprintf(out, "\n  instruction  0x%" PRIx64 ": %s\n", rip, disassemble_at(p, rip).c_str());
    if (info.trapno == 14) {
        std::fprintf(out, "  access       %s%s%s (x86 error code 0x%" PRIx64 ")\n",
                     (info.error_code & 0x10) ? "instruction fetch" : (info.error_code & 2) ? "write" : "read",
                     (info.error_code & 1) ? ", page present" : ", page not present",
                     (info.error_code & 0x20) ? ", protection key" : "", info.error_code);
        static const char* names[] = {"", "PTE  ", "PDE  ", "PDPTE", "PML4E"};
        const PageWalk w = p.as().walk(info.addr);
        std::fprintf(out, "  page walk of 0x%" PRIx64 ":\n", info.addr);
        for (int i = 0; i < w.depth; ++i)
            std::fprintf(out, "    %s[%3u] %s\n", names[w.levels[i].level], w.levels[i].index,
                         describe(w.levels[i].entry, w.levels[i].level).c_str());
        if (w.depth < kLevels) std::fprintf(out, "    (no lower-level table)\n");
        const Vma* vma = p.as().vmas().find(info.addr);
        if (vma) {
            std::fprintf(out, "  mapping      %08" PRIx64 "-%08" PRIx64 " %c%c%c %s%s\n", vma->start,
                         vma->end, (vma->prot & kProtRead) ? 'r' : '-', (vma->prot & kProtWrite) ? 'w' : '-',
                         (vma->prot & kProtExec) ? 'x' : '-', vma->name.empty() ? "[anon]" : vma->name.c_str(),
                         vma->has(vma_flag::kHasGuards) ? " (has guard regions)" : "");
            if (w.depth == kLevels && w.levels[kLevels - 1].entry.is_guard())
                std::fprintf(out, "  why          the page is a guard region (MADV_GUARD_INSTALL): "
                                  "every access faults\n");
        } else {
            const Vma* above = p.as().vmas().find_at_or_above(info.addr);
            std::fprintf(out, "  mapping      none: the address is not mapped");
            if (above) std::fprintf(out, " (next mapping starts at 0x%" PRIx64 ")", above->start);
            std::fprintf(out, "\n");
        }
    }
    static const std::pair<const char*, int> regs[] = {
        {"rax", UC_X86_REG_RAX}, {"rbx", UC_X86_REG_RBX}, {"rcx", UC_X86_REG_RCX},
        {"rdx", UC_X86_REG_RDX}, {"rsi", UC_X86_REG_RSI}, {"rdi", UC_X86_REG_RDI},
        {"rbp", UC_X86_REG_RBP}, {"rsp", UC_X86_REG_RSP}, {"r8", UC_X86_REG_R8},
        {"r9", UC_X86_REG_R9},   {"r10", UC_X86_REG_R10}, {"r11", UC_X86_REG_R11},
        {"r12", UC_X86_REG_R12}, {"r13", UC_X86_REG_R13}, {"r14", UC_X86_REG_R14},
        {"r15", UC_X86_REG_R15}, {"rip", UC_X86_REG_RIP}, {"eflags", UC_X86_REG_EFLAGS},
    };
    std::fprintf(out, "  registers");
    int column = 0;
    for (const auto& [name, id] : regs) {
        if (column++ % 4 == 0) std::fprintf(out, "\n   ");
        std::fprintf(out, " %-6s 0x%016" PRIx64, name, p.cpu().reg(id));
    }
    std::fprintf(out, "\n");
}

}  // namespace emu
