// Shared test scaffolding: one guest RAM, one TLB, one address space, and helpers that perform
// user accesses the way the CPU + fault handler would.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "mmu/address_space.hpp"

namespace mmu::testing {

// The outcome of one user access: the byte read/written, or the signal it raised.
struct AccessOutcome {
    bool ok = false;
    std::uint8_t value = 0;
    int signo = 0;
    int si_code = 0;
    bool faulted_with(int code) const { return !ok && signo == kSigSegv && si_code == code; }
};

class MmuTest : public ::testing::Test {
protected:
    static constexpr std::uint64_t kRam = 256ull << 20;
    static constexpr std::uint32_t kAnon = map::kPrivate | map::kAnonymous;
    static constexpr std::uint32_t kRw = kProtRead | kProtWrite;

    PhysicalMemory memory{kRam};
    Tlb tlb;
    std::unique_ptr<AddressSpace> as = make_checked();

    std::unique_ptr<AddressSpace> make_checked() {
        auto space = std::make_unique<AddressSpace>(memory, tlb);
        space->set_checked(true);
        return space;
    }

    void TearDown() override {
        if (as) as->check_invariants();
    }

    VirtAddr map(std::uint64_t npages, std::uint32_t prot = kRw, std::uint32_t flags = kAnon,
                 VirtAddr at = 0) {
        auto r = as->mmap(at, npages * kPageSize, prot, flags | (at ? map::kFixed : 0));
        EXPECT_TRUE(r.ok()) << "mmap errno " << r.error();
        return r.ok() ? r.value() : 0;
    }

    static AccessOutcome touch(AddressSpace& space, VirtAddr va, Access access,
                               std::uint8_t value = 0) {
        Translated t = space.access(va, access);
        AccessOutcome out;
        if (!t.ok) {
            out.signo = t.fault.signo;
            out.si_code = t.fault.si_code;
            return out;
        }
        std::byte* host = space.memory().host_base() + t.translation.paddr;
        if (access == Access::Write) *host = std::byte{value};
        out.ok = true;
        out.value = std::to_integer<std::uint8_t>(*host);
        return out;
    }
    AccessOutcome read(VirtAddr va) { return touch(*as, va, Access::Read); }
    AccessOutcome write(VirtAddr va, std::uint8_t v) { return touch(*as, va, Access::Write, v); }
    bool is_guard(VirtAddr va) { return as->pagemap(va).guard; }
};

}  // namespace mmu::testing
