// Micro-benchmarks of the MMU library: translation (TLB hit, page walk), demand fault-in, guard
// regions (MADV_GUARD_INSTALL / MADV_GUARD_REMOVE) on empty and populated memory, fork, and
// top-down placement of many small mappings.
// The guard and fault-in names match native_guard_bench's, which measures the same sequences on
// the host kernel; compare_guard_ops.sh puts the two side by side.
//
// Operations that need a fresh state (a never-touched page, an unguarded range) work through a
// region in batches: the timer is paused only between batches, to reset the region and to check
// that the batch did what it should. Every failure ends the benchmark with SkipWithError.
#include <benchmark/benchmark.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "mmu/address_space.hpp"
#include "mmu/physical_memory.hpp"
#include "mmu/tlb.hpp"
#include "mmu/types.hpp"

namespace {

using mmu::Access;
using mmu::kPageSize;
using mmu::VirtAddr;

constexpr std::uint64_t kRamBytes = 1ull << 30;  // reserved with MAP_NORESERVE: cheap

// One emulated process: guest RAM, a TLB, and an address space using both (destroyed first).
struct Process {
    std::unique_ptr<mmu::PhysicalMemory> memory = std::make_unique<mmu::PhysicalMemory>(kRamBytes);
    std::unique_ptr<mmu::Tlb> tlb = std::make_unique<mmu::Tlb>();
    std::unique_ptr<mmu::AddressSpace> space = std::make_unique<mmu::AddressSpace>(*memory, *tlb);
};

std::string errno_message(const char* what, int error) {
    return std::string(what) + " failed with errno " + std::to_string(error);
}

// A private read-write anonymous mapping of `count` pages.
mmu::Result<VirtAddr> map_pages(mmu::AddressSpace& space, std::uint64_t count) {
    return space.mmap(0, count * kPageSize, mmu::kProtRead | mmu::kProtWrite,
                      mmu::map::kPrivate | mmu::map::kAnonymous);
}

// A guest store to `va`: the write fault if the page needs one, then the byte written to the host
// frame, so the frame is backed by host memory as it would be under a running guest.
bool store(Process& p, VirtAddr va) {
    const mmu::Translated t = p.space->access(va, Access::Write);
    if (!t.ok) return false;
    p.memory->host_base()[t.translation.paddr] = std::byte{1};
    return true;
}

bool populate(Process& p, VirtAddr start, std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i)
        if (!store(p, start + i * kPageSize)) return false;
    return true;
}

bool counted(std::uint64_t delta, const benchmark::State& state) {
    return delta == static_cast<std::uint64_t>(state.iterations());
}

// --- translation ---

// translate() of a page whose translation is already cached: the TLB lookup alone.
void translate_tlb_hit(benchmark::State& state) {
    Process p;
    const auto addr = map_pages(*p.space, 1);
    if (!addr || !store(p, addr.value())) return state.SkipWithError("setup: mmap or store failed");
    const VirtAddr va = addr.value();
    const std::uint64_t hits_before = p.tlb->counters().hits;
    for (auto _ : state) {
        const mmu::Translated t = p.space->translate(va, Access::Read);
        benchmark::DoNotOptimize(t.translation.paddr);
        if (!t.ok) {
            state.SkipWithError("translate of a mapped page failed");
            break;
        }
    }
    if (!state.error_occurred() && !counted(p.tlb->counters().hits - hits_before, state))
        state.SkipWithError("a translation missed the TLB");
}

// translate() with a page walk every time. The TLB is direct-mapped on the page number, so pages
// kEntries apart share a slot: cycling through 2 * kEntries consecutive pages evicts each entry
// before it is used again.
constexpr std::uint64_t kWalkPages = 2 * mmu::Tlb::kEntries;

void translate_walk(benchmark::State& state) {
    Process p;
    const auto addr = map_pages(*p.space, kWalkPages);
    if (!addr || !populate(p, addr.value(), kWalkPages))
        return state.SkipWithError("setup: mmap or populate failed");
    const VirtAddr base = addr.value();
    const std::uint64_t walks_before = p.tlb->counters().walks;
    std::uint64_t next = 0;
    for (auto _ : state) {
        const mmu::Translated t = p.space->translate(base + next * kPageSize, Access::Read);
        benchmark::DoNotOptimize(t.translation.paddr);
        if (!t.ok) {
            state.SkipWithError("translate of a populated page failed");
            break;
        }
        next = next + 1 == kWalkPages ? 0 : next + 1;
    }
    if (!state.error_occurred() && !counted(p.tlb->counters().walks - walks_before, state))
        state.SkipWithError("a translation hit the TLB instead of walking");
}

// --- demand fault-in ---

// Whether a fault-in also stores a byte into the new frame (the host then backs it: the cost a
// running guest pays, and what the host kernel's fault includes by zeroing the page).
enum class StoreByte : std::uint8_t { No, Yes };

constexpr std::uint64_t kFaultBatchPages = 16384;  // 64 MiB mapped per batch

// access(Write) of a never-touched page: TLB miss, fault, fresh frame, PTE, walk again.
void fault_in_write(benchmark::State& state, StoreByte store_byte) {
    Process p;
    VirtAddr base = 0;
    std::uint64_t next = kFaultBatchPages;  // maps the first batch on the first iteration
    const std::uint64_t faults_before = p.space->fault_counters().demand_zero;
    for (auto _ : state) {
        if (next == kFaultBatchPages) {
            state.PauseTiming();
            if (base != 0) {
                const mmu::Status unmapped = p.space->munmap(base, kFaultBatchPages * kPageSize);
                if (!unmapped) {
                    state.SkipWithError(errno_message("munmap", unmapped.error()).c_str());
                    break;
                }
            }
            const auto addr = map_pages(*p.space, kFaultBatchPages);
            if (!addr) {
                state.SkipWithError(errno_message("mmap", addr.error()).c_str());
                break;
            }
            base = addr.value();
            next = 0;
            state.ResumeTiming();
        }
        const mmu::Translated t = p.space->access(base + next++ * kPageSize, Access::Write);
        if (!t.ok) {
            state.SkipWithError("write fault-in of a fresh page failed");
            break;
        }
        if (store_byte == StoreByte::Yes) p.memory->host_base()[t.translation.paddr] = std::byte{1};
    }
    if (!state.error_occurred() &&
        !counted(p.space->fault_counters().demand_zero - faults_before, state))
        state.SkipWithError("not every access was a demand-zero fault");
}

// --- guard regions ---

enum class Contents : std::uint8_t { Empty, Populated };  // populated: every page written
enum class GuardOp : std::uint8_t { Install, Remove, InstallRemove };

struct GuardCase {
    std::uint64_t pages;  // per madvise call
    Contents contents;
    GuardOp op;
};

// The region a batch works through, one call per `pages`-sized chunk.
constexpr std::uint64_t kGuardRegionPages = 4096;
// How many batches guard_remove on populated memory runs (see register_benchmarks).
constexpr std::uint64_t kPopulatedRemoveBatches = 100;

// Puts the region in the state the timed calls expect: populated if asked, then guarded if the
// timed call is a remove (installing over populated pages zaps them first).
mmu::Status prepare_guard_batch(Process& p, VirtAddr base, const GuardCase& c) {
    if (c.contents == Contents::Populated && !populate(p, base, kGuardRegionPages))
        return mmu::Errno{EFAULT};
    if (c.op == GuardOp::Remove)
        return p.space->madvise(base, kGuardRegionPages * kPageSize, mmu::madv::kGuardInstall);
    return mmu::Ok{};
}

// Checks the chunks a batch went through: guarded exactly when the last call installed, and no
// page left (an install zaps what it covers). Then clears the guards an install batch left.
const char* finish_guard_batch(Process& p, VirtAddr base, std::uint64_t done_pages,
                               const GuardCase& c) {
    const bool guarded = c.op == GuardOp::Install;
    for (std::uint64_t i = 0; i < done_pages; ++i) {
        const mmu::PagemapEntry e = p.space->pagemap(base + i * kPageSize);
        if (e.guard != guarded) return guarded ? "a page is not guarded" : "a guard is left";
        if (e.present) return "a populated page survived guard install";
    }
    if (c.op == GuardOp::Install &&
        !p.space->madvise(base, kGuardRegionPages * kPageSize, mmu::madv::kGuardRemove))
        return "MADV_GUARD_REMOVE of the whole region failed";
    return nullptr;
}

void guard_bench(benchmark::State& state, GuardCase c) {
    Process p;
    const auto addr = map_pages(*p.space, kGuardRegionPages);
    if (!addr) return state.SkipWithError(errno_message("mmap", addr.error()).c_str());
    const VirtAddr base = addr.value();
    const std::uint64_t len = c.pages * kPageSize;
    const std::uint64_t chunks = kGuardRegionPages / c.pages;
    std::uint64_t next = chunks;
    bool first_batch = true;
    for (auto _ : state) {
        if (next == chunks) {
            state.PauseTiming();
            const char* failure =
                first_batch ? nullptr : finish_guard_batch(p, base, chunks * c.pages, c);
            if (!failure && !prepare_guard_batch(p, base, c))
                failure = "preparing the region failed";
            if (failure) {
                state.SkipWithError(failure);
                break;
            }
            first_batch = false;
            next = 0;
            state.ResumeTiming();
        }
        const VirtAddr va = base + next++ * len;
        if (c.op != GuardOp::Remove) {
            const mmu::Status s = p.space->madvise(va, len, mmu::madv::kGuardInstall);
            if (!s) {
                state.SkipWithError(errno_message("MADV_GUARD_INSTALL", s.error()).c_str());
                break;
            }
        }
        if (c.op != GuardOp::Install) {
            const mmu::Status s = p.space->madvise(va, len, mmu::madv::kGuardRemove);
            if (!s) {
                state.SkipWithError(errno_message("MADV_GUARD_REMOVE", s.error()).c_str());
                break;
            }
        }
    }
    if (state.error_occurred()) return;
    if (const char* failure = finish_guard_batch(p, base, next * c.pages, c))
        state.SkipWithError(failure);
}

// --- fork ---

// Whether the parent writes every page again before each fork. Fork write-protects private pages
// for copy-on-write; without a rewrite, later forks find them read-only already (as on Linux).
enum class Redirty : std::uint8_t { No, Yes };

constexpr std::uint64_t kForkPages = 10000;

// fork() of a process with kForkPages populated private pages, then the child's exit.
void fork_bench(benchmark::State& state, Redirty redirty) {
    Process p;
    const auto addr = map_pages(*p.space, kForkPages);
    if (!addr || !populate(p, addr.value(), kForkPages))
        return state.SkipWithError("setup: mmap or populate failed");
    for (auto _ : state) {
        if (redirty == Redirty::Yes) {
            state.PauseTiming();
            if (!populate(p, addr.value(), kForkPages)) {
                state.SkipWithError("rewriting the parent's pages failed");
                break;
            }
            state.ResumeTiming();
        }
        auto child = p.space->fork();
        if (!child) {
            state.SkipWithError(errno_message("fork", child.error()).c_str());
            break;
        }
        if (child.value()->rss_pages() != kForkPages) {
            state.SkipWithError("the child does not map every page");
            break;
        }
        child.value().reset();  // the child exits
    }
    if (!state.error_occurred() && p.space->rss_pages() != kForkPages)
        state.SkipWithError("the parent lost pages");
}

// --- placement ---

// N one-page anonymous mmaps with alternating protections (so that nothing merges), top-down
// placement without a hint: with the gap search cache each costs O(log n), so the time per
// mapping (items/s) stays nearly flat from 1k to 60k mappings. One iteration maps all N in a
// fresh address space; building and tearing it down is not timed.
void place_pages(benchmark::State& state) {
    const auto n = static_cast<std::uint64_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        auto p = std::make_unique<Process>();
        state.ResumeTiming();
        for (std::uint64_t i = 0; i < n; ++i) {
            const std::uint32_t prot = i % 2 ? mmu::kProtRead : mmu::kProtRead | mmu::kProtWrite;
            if (!p->space->mmap(0, kPageSize, prot, mmu::map::kPrivate | mmu::map::kAnonymous)) {
                state.SkipWithError("mmap failed");
                break;
            }
        }
        state.PauseTiming();
        if (p->space->vma_count() != n) state.SkipWithError("the mappings merged");
        p.reset();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

// --- registration ---

const char* contents_name(Contents c) { return c == Contents::Empty ? "empty" : "populated"; }

const char* guard_op_name(GuardOp op) {
    switch (op) {
    case GuardOp::Install: return "guard_install";
    case GuardOp::Remove: return "guard_remove";
    case GuardOp::InstallRemove: return "guard_install+remove";
    }
    return "?";
}

void register_benchmarks() {
    using benchmark::RegisterBenchmark;
    RegisterBenchmark("translate/tlb_hit", translate_tlb_hit);
    RegisterBenchmark("translate/walk", translate_walk);
    RegisterBenchmark("fault_in/write", fault_in_write, StoreByte::No);
    RegisterBenchmark("fault_in/write+store", fault_in_write, StoreByte::Yes);
    for (GuardOp op : {GuardOp::Install, GuardOp::Remove, GuardOp::InstallRemove})
        for (Contents contents : {Contents::Empty, Contents::Populated})
            for (std::uint64_t pages : {1u, 512u}) {
                char name[64];
                std::snprintf(name, sizeof name, "%s/%" PRIu64 "/%s", guard_op_name(op), pages,
                              contents_name(contents));
                auto* b = RegisterBenchmark(name, guard_bench, GuardCase{pages, contents, op});
                // Each batch repopulates the whole region for a few cheap removes: a fixed
                // number of batches instead of a minimum time (native_guard_bench does the same).
                if (op == GuardOp::Remove && contents == Contents::Populated)
                    b->Iterations(static_cast<benchmark::IterationCount>(
                        kPopulatedRemoveBatches * (kGuardRegionPages / pages)));
            }
    RegisterBenchmark("fork/10000/redirty", fork_bench, Redirty::Yes);
    RegisterBenchmark("fork/10000/steady", fork_bench, Redirty::No);
    RegisterBenchmark("mmap/place_pages", place_pages)
        ->Arg(1000)->Arg(10000)->Arg(60000)->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
    register_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
