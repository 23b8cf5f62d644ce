// The 4-level x86-64 radix page table. Table pages are frames of PhysicalMemory, so their memory
// is counted like any other. All range operations go through one walker (walk_range) driven by a
// visitor; the visitor decides what to do with each PTE, the walker allocates or frees tables.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "mmu/physical_memory.hpp"
#include "mmu/pte.hpp"
#include "mmu/result.hpp"

namespace mmu {

inline constexpr int kLevels = 4;
inline constexpr unsigned kEntriesPerTable = 512;

// Bits of the virtual address that index the table at `level` (1 = PT ... 4 = PML4).
constexpr unsigned level_shift(int level) { return kPageShift + 9u * unsigned(level - 1); }
constexpr unsigned table_index(VirtAddr va, int level) { return (va >> level_shift(level)) & 511u; }
constexpr std::uint64_t level_span(int level) { return 1ull << level_shift(level); }

// What a visitor tells the walker after looking at one PTE.
enum class WalkAction : std::uint8_t { Continue, Stop };
// Whether the walker creates missing tables (for operations that install entries).
enum class MissingTables : std::uint8_t { Skip, Allocate };
// Whether tables left all-empty by the visitor are freed on the way back up.
enum class EmptyTables : std::uint8_t { Keep, Free };

struct WalkLevel {
    int level;       // 4 = PML4E ... 1 = PTE
    Pte entry;       // the entry read at this level
    Pfn table_pfn;   // the table page holding the entry
    unsigned index;  // index in that table
};

// The four entries translating one address, top level first; stops early at a non-present entry.
struct PageWalk {
    std::array<WalkLevel, kLevels> levels{};
    int depth = 0;  // how many of `levels` are filled
};

class PageTable {
public:
    explicit PageTable(PhysicalMemory& memory);  // throws std::system_error(ENOMEM)
    ~PageTable();
    PageTable(const PageTable&) = delete;
    PageTable& operator=(const PageTable&) = delete;

    Pfn root() const { return root_; }
    std::uint64_t table_pages() const { return table_pages_; }

    // The leaf entry for `va`, or nullptr when an intermediate table is missing. For reading it,
    // or setting Accessed/Dirty; any other edit goes through ensure or walk_range, which count
    // as edits (PhysicalMemory::page_table_epoch).
    Pte* find(VirtAddr va);
    // The leaf entry for `va`, creating intermediate tables; ENOMEM when RAM is exhausted.
    Result<Pte*> ensure(VirtAddr va);
    PageWalk walk(VirtAddr va) const;
    // The leaf entry for `va` (none when an intermediate table is missing): a walk's last step.
    Pte leaf(VirtAddr va) const;

    // Calls visitor(va, Pte&) -> WalkAction for every leaf slot in [start, end) that exists (or,
    // with MissingTables::Allocate, for every slot). Ranges whose tables are missing are skipped
    // as holes. Returns ENOMEM if a table cannot be allocated; the visitor's work so far stays.
    template <class Visitor>
    Status walk_range(VirtAddr start, VirtAddr end, MissingTables missing, EmptyTables empty,
                      Visitor&& visitor);

private:
    Pte* entries(Pfn table) { return reinterpret_cast<Pte*>(memory_.frame(table)); }
    const Pte* entries(Pfn table) const {
        return reinterpret_cast<const Pte*>(memory_.frame(table));
    }
    Result<Pfn> allocate_table();
    void free_table(Pfn table);
    bool table_empty(Pfn table) const;
    void free_subtree(Pfn table, int level);

    template <class Visitor>
    Status walk_table(Pfn table, int level, VirtAddr start, VirtAddr end, MissingTables missing,
                      EmptyTables empty, Visitor& visitor, bool& stop);

    PhysicalMemory& memory_;
    Pfn root_;
    std::uint64_t table_pages_ = 0;
};

template <class Visitor>
Status PageTable::walk_range(VirtAddr start, VirtAddr end, MissingTables missing, EmptyTables empty,
                             Visitor&& visitor) {
    bool stop = false;
    if (start >= end) return Ok{};
    memory_.note_page_table_edit(root_, start, end);
    return walk_table(root_, kLevels, start, end, missing, empty, visitor, stop);
}

template <class Visitor>
Status PageTable::walk_table(Pfn table, int level, VirtAddr start, VirtAddr end,
                             MissingTables missing, EmptyTables empty, Visitor& visitor,
                             bool& stop) {
    Pte* slots = entries(table);
    const std::uint64_t span = level_span(level);
    for (VirtAddr va = start; va < end && !stop;) {
        const VirtAddr slot_end = std::min(end, (va & ~(span - 1)) + span);
        Pte& slot = slots[table_index(va, level)];
        if (level == 1) {
            if (visitor(va, slot) == WalkAction::Stop) stop = true;
        } else {
            if (!slot.present()) {
                if (missing == MissingTables::Skip) {
                    va = slot_end;
                    continue;
                }
                auto child = allocate_table();
                if (!child) return Errno{child.error()};
                slot = Pte::table(child.value());
            }
            const Pfn child = slot.pfn();
            MMU_TRY(walk_table(child, level - 1, va, slot_end, missing, empty, visitor, stop));
            if (empty == EmptyTables::Free && table_empty(child)) {
                slot = Pte::none();
                free_table(child);
            }
        }
        va = slot_end;
    }
    return Ok{};
}

}  // namespace mmu
