#include "machine/access_tracer.hpp"

#include <cstring>

#include "cpu/cpu.hpp"
#include "trace/trace_recorder.hpp"

namespace emu {

using namespace mmu;

namespace {
constexpr std::size_t kInitialSlots = 1 << 14;
std::size_t hash_rip(std::uint64_t rip) { return static_cast<std::size_t>((rip * 0x9e3779b97f4a7c15ull) >> 20); }
}  // namespace

AccessTracer::AccessTracer() : slots_(kInitialSlots, 0) {}

void AccessTracer::trace(AddressSpace& as, Cpu& cpu, TraceRecorder& recorder, std::uint64_t rip) {
    revalidate_leaves(as);
    if (const CachedInstruction* insn = cached(as, rip)) {
        for (unsigned i = 0; i < insn->count; ++i) record(as, cpu, recorder, insn->operands[i]);
        return;
    }
    std::uint8_t code[16];
    const std::size_t n = read_code(as, rip, code);
    const auto decoded = decode_memory_operands(code, n, rip);
    if (!decoded) return;  // undecodable: no operands (it will fault)
    if (decoded->operands.size() <= kInlineOperands) remember(rip, code, *decoded);
    for (const OperandForm& form : decoded->operands) record(as, cpu, recorder, form);
}

void AccessTracer::record(AddressSpace& as, Cpu& cpu, TraceRecorder& recorder, const OperandForm& form) {
    const std::uint64_t ea = effective_address(cpu, form);
    const Pte entry = leaf(as, ea);
    const std::uint64_t paddr = (entry.pfn() << kPageShift) | (ea & (kPageSize - 1));
    if (form.read) recorder.access(as, ea, form.size, Access::Read, entry.present(), paddr, 0);
    if (form.write)
        recorder.access(as, ea, form.size, Access::Write, entry.present() && entry.writable(), paddr, 0);
}

const AccessTracer::CachedInstruction* AccessTracer::cached(AddressSpace& as, std::uint64_t rip) {
    const std::uint32_t index = *slot_of(rip);
    if (index == 0) return nullptr;
    const CachedInstruction& insn = instructions_[index - 1];
    return bytes_unchanged(as, insn) ? &insn : nullptr;
}

// The decoding of an instruction depends on its own bytes only: if they are all still there,
// decoding afresh (with whatever follows them) gives the same instruction.
bool AccessTracer::bytes_unchanged(AddressSpace& as, const CachedInstruction& insn) {
    const std::uint64_t offset = insn.rip & (kPageSize - 1);
    if (offset + insn.length <= kPageSize) {
        const Pte code_page = leaf(as, insn.rip);
        if (!code_page.present()) return false;
        return std::memcmp(as.memory().frame(code_page.pfn()) + offset, insn.bytes.data(), insn.length) == 0;
    }
    std::uint8_t code[16];  // it crosses into the next page
    return read_code(as, insn.rip, code) >= insn.length &&
           std::memcmp(code, insn.bytes.data(), insn.length) == 0;
}

void AccessTracer::remember(std::uint64_t rip, const std::uint8_t* code, const DecodedOperands& decoded) {
    CachedInstruction insn;
    insn.rip = rip;
    insn.length = static_cast<std::uint8_t>(decoded.length);
    std::memcpy(insn.bytes.data(), code, decoded.length);
    insn.count = static_cast<std::uint8_t>(decoded.operands.size());
    std::copy(decoded.operands.begin(), decoded.operands.end(), insn.operands.begin());
    std::uint32_t& slot = *slot_of(rip);
    if (slot != 0) {  // the code there changed: replace the old decoding
        instructions_[slot - 1] = insn;
        return;
    }
    instructions_.push_back(insn);
    slot = static_cast<std::uint32_t>(instructions_.size());
    if (instructions_.size() * 2 > slots_.size()) grow();
}

// The slot holding `rip`, or the empty slot where it would go.
std::uint32_t* AccessTracer::slot_of(std::uint64_t rip) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash_rip(rip) & mask;; i = (i + 1) & mask)
        if (slots_[i] == 0 || instructions_[slots_[i] - 1].rip == rip) return &slots_[i];
}

void AccessTracer::grow() {
    slots_.assign(slots_.size() * 2, 0);
    for (std::uint32_t i = 0; i < instructions_.size(); ++i) *slot_of(instructions_[i].rip) = i + 1;
}

void AccessTracer::revalidate_leaves(const AddressSpace& as) {
    const std::uint64_t epoch = as.memory().page_table_epoch();
    if (epoch == leaves_epoch_ && &as == leaves_as_ && as.asid() == leaves_asid_) return;
    ++generation_;  // every entry read before may be stale
    leaves_epoch_ = epoch;
    leaves_as_ = &as;
    leaves_asid_ = as.asid();
}

Pte AccessTracer::leaf(AddressSpace& as, std::uint64_t va) {
    const std::uint64_t vpage = va >> kPageShift;
    LeafSlot& slot = leaves_[vpage & (leaves_.size() - 1)];
    if (slot.generation != generation_ || slot.vpage != vpage) {
        slot.vpage = vpage;
        slot.generation = generation_;
        slot.leaf = as.leaf(va);
    }
    return slot.leaf;
}

}  // namespace emu
