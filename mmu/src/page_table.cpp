#include "mmu/page_table.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace mmu {

PageTable::PageTable(PhysicalMemory& memory) : memory_(memory) {
    auto root = allocate_table();
    if (!root) throw std::system_error(ENOMEM, std::generic_category(), "allocating a PML4");
    root_ = root.value();
}

PageTable::~PageTable() { free_subtree(root_, kLevels); }

Result<Pfn> PageTable::allocate_table() {
    auto frame = memory_.allocate();  // zero-filled: every entry is "none"
    if (frame) ++table_pages_;
    return frame;
}

void PageTable::free_table(Pfn table) {
    --table_pages_;
    memory_.put(table);
}

bool PageTable::table_empty(Pfn table) const {
    const Pte* slots = entries(table);
    return std::all_of(slots, slots + kEntriesPerTable, [](Pte e) { return e.is_none(); });
}

// Frees the table pages only; leaf frames must have been released by the address space.
void PageTable::free_subtree(Pfn table, int level) {
    if (level > 1) {
        Pte* slots = entries(table);
        for (unsigned i = 0; i < kEntriesPerTable; ++i)
            if (slots[i].present()) free_subtree(slots[i].pfn(), level - 1);
    }
    free_table(table);
}

Pte* PageTable::find(VirtAddr va) {
    Pfn table = root_;
    for (int level = kLevels; level > 1; --level) {
        const Pte entry = entries(table)[table_index(va, level)];
        if (!entry.present()) return nullptr;
        table = entry.pfn();
    }
    return &entries(table)[table_index(va, 1)];
}

Result<Pte*> PageTable::ensure(VirtAddr va) {
    memory_.note_page_table_edit(root_, page_down(va), page_down(va) + kPageSize);
    Pfn table = root_;
    for (int level = kLevels; level > 1; --level) {
        Pte& entry = entries(table)[table_index(va, level)];
        if (!entry.present()) {
            auto child = allocate_table();
            if (!child) return Errno{child.error()};
            entry = Pte::table(child.value());
        }
        table = entry.pfn();
    }
    return &entries(table)[table_index(va, 1)];
}

Pte PageTable::leaf(VirtAddr va) const {
    Pfn table = root_;
    for (int level = kLevels; level > 1; --level) {
        const Pte entry = entries(table)[table_index(va, level)];
        if (!entry.present()) return Pte::none();
        table = entry.pfn();
    }
    return entries(table)[table_index(va, 1)];
}

PageWalk PageTable::walk(VirtAddr va) const {
    PageWalk result;
    Pfn table = root_;
    for (int level = kLevels; level >= 1; --level) {
        const unsigned index = table_index(va, level);
        const Pte entry = entries(table)[index];
        result.levels[result.depth++] = WalkLevel{level, entry, table, index};
        if (!entry.present() || level == 1) break;
        table = entry.pfn();
    }
    return result;
}

}  // namespace mmu
