#include "machine/access_tracer.hpp"

#include <cstring>

#include "cpu/cpu.hpp"
#include "trace/trace_recorder.hpp"

namespace emu {

using namespace mmu;

namespace {

constexpr std::size_t kInitialSlots = 1 << 14;

// Instructions of one 32-byte piece of code land in neighbouring slots; the pieces are spread.
std::size_t slot_hash(std::uint64_t rip) {
    return static_cast<std::size_t>((((rip >> 5) * 0x9e3779b97f4a7c15ull) >> 16 << 5) | (rip & 31));
}

// kByteMasks[n]: which bytes of two little-endian words an instruction of n bytes has.
constexpr auto kByteMasks = [] {
    std::array<std::array<std::uint64_t, 2>, 16> masks{};
    auto low_bytes = [](unsigned n) { return n >= 8 ? ~0ull : (1ull << (8 * n)) - 1; };
    for (unsigned n = 0; n < masks.size(); ++n) masks[n] = {low_bytes(n), n > 8 ? low_bytes(n - 8) : 0};
    return masks;
}();

}  // namespace

AccessTracer::AccessTracer() : table_(kInitialSlots) {}

inline void AccessTracer::record(AddressSpace& as, Cpu& cpu, TraceRecorder& recorder, const OperandForm& form) {
    const std::uint64_t ea = effective_address(cpu, form);
    const Pte entry = leaf(as, ea);
    const std::uint64_t paddr = (entry.pfn() << kPageShift) | (ea & (kPageSize - 1));
    if (form.read) recorder.access(as, ea, form.size, Access::Read, entry.present(), paddr, 0);
    if (form.write)
        recorder.access(as, ea, form.size, Access::Write, entry.present() && entry.writable(), paddr, 0);
}

inline const AccessTracer::CachedInstruction* AccessTracer::cached(AddressSpace& as, std::uint64_t rip) {
    CachedInstruction& insn = slot_of(rip);
    if (insn.length == 0) return nullptr;
    return bytes_unchanged(as, insn) ? &insn : nullptr;
}

// The decoding of an instruction depends on its own bytes only: if they are all still there,
// decoding afresh (with whatever follows them) gives the same instruction.
inline bool AccessTracer::bytes_unchanged(AddressSpace& as, CachedInstruction& insn) {
    const std::uint64_t offset = insn.rip & (kPageSize - 1);
    std::array<std::uint64_t, 2> now;
    if (offset + sizeof now <= kPageSize) {  // 16 bytes from the instruction's own page
        if (insn.code_generation != generation_) {
            const Pte code_page = leaf(as, insn.rip);
            if (!code_page.present()) return false;
            insn.code = as.memory().frame(code_page.pfn()) + offset;
            insn.code_generation = generation_;
        }
        std::memcpy(now.data(), insn.code, sizeof now);
    } else {  // near the end of the page, perhaps crossing into the next one
        std::uint8_t code[16] = {};
        if (read_code(as, insn.rip, code) < insn.length) return false;
        std::memcpy(now.data(), code, sizeof now);
    }
    const auto& mask = kByteMasks[insn.length];
    return (((now[0] ^ insn.bytes[0]) & mask[0]) | ((now[1] ^ insn.bytes[1]) & mask[1])) == 0;
}

void AccessTracer::remember(std::uint64_t rip, const std::uint8_t* code, const DecodedOperands& decoded) {
    CachedInstruction insn;
    insn.rip = rip;
    insn.length = static_cast<std::uint8_t>(decoded.length);
    std::uint8_t bytes[16] = {};
    std::memcpy(bytes, code, decoded.length);
    std::memcpy(insn.bytes.data(), bytes, sizeof bytes);
    insn.count = static_cast<std::uint8_t>(decoded.operands.size());
    std::copy(decoded.operands.begin(), decoded.operands.end(), insn.operands.begin());
    CachedInstruction& slot = slot_of(rip);
    const bool fresh = slot.length == 0;  // else the code there changed: the old decoding goes
    slot = insn;
    if (fresh && ++used_ * 2 > table_.size()) grow();
}

// The slot holding `rip`, or the empty slot where it would go.
inline AccessTracer::CachedInstruction& AccessTracer::slot_of(std::uint64_t rip) {
    const std::size_t mask = table_.size() - 1;
    for (std::size_t i = slot_hash(rip) & mask;; i = (i + 1) & mask)
        if (table_[i].length == 0 || table_[i].rip == rip) return table_[i];
}

void AccessTracer::grow() {
    std::vector<CachedInstruction> old(table_.size() * 2);
    old.swap(table_);
    for (const CachedInstruction& insn : old)
        if (insn.length != 0) slot_of(insn.rip) = insn;
}

inline void AccessTracer::revalidate_leaves(const AddressSpace& as) {
    const std::uint64_t epoch = as.memory().page_table_epoch();
    if (epoch == leaves_epoch_ && &as == leaves_as_ && as.asid() == leaves_asid_) return;
    ++generation_;  // every entry read before may be stale
    leaves_epoch_ = epoch;
    leaves_as_ = &as;
    leaves_asid_ = as.asid();
}

inline Pte AccessTracer::leaf(AddressSpace& as, std::uint64_t va) {
    const std::uint64_t vpage = va >> kPageShift;
    LeafSlot& slot = leaves_[vpage & (leaves_.size() - 1)];
    if (slot.generation != generation_ || slot.vpage != vpage) {
        slot.vpage = vpage;
        slot.generation = generation_;
        slot.leaf = as.leaf(va);
    }
    return slot.leaf;
}

bool AccessTracer::may_access_memory(AddressSpace& as, std::uint64_t rip) {
    std::uint8_t code[16];
    const std::size_t n = read_code(as, rip, code);
    const auto decoded = decode_memory_operands(code, n, rip);
    return !decoded || !decoded->operands.empty();
}

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

}  // namespace emu
