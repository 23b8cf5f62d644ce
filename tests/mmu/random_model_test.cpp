// Randomized sequences of memory-management operations, each run on three targets: the mmu
// library, a trivially correct per-page reference model (contents, faults, errno), and the host
// kernel (everything, including the VMA count). Seeded and reproducible: a failure names its seed;
// MMU_MODEL_SEED=N reruns only that sequence.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "targets.hpp"

namespace mmu::testing {
namespace {

constexpr std::uint64_t P = 4096;
constexpr int kPages = 16;
constexpr int kGuardInstall = 102;
constexpr int kGuardRemove = 103;

// The obviously correct model: one record per page, operations applied page by page in address
// order, which is how Linux's per-VMA loops behave for these calls.
class ReferenceModel {
public:
    struct Page {
        bool mapped = false;
        int prot = 0;
        bool locked = false;
        bool guard = false;
        std::uint8_t value = 0;
        // MAP_SHARED|MAP_ANONYMOUS: the value lives in the shmem object, so discarding the page
        // (DONTNEED, a guard) keeps it; only MADV_REMOVE punches it out.
        bool shared = false;
        // A mapping of the test file (page i at file page i): private ones read the file until
        // a write (or a write fault of mlock's population) gives the page its own copy, which
        // discarding drops again; shared ones read and write the file itself.
        bool file = false;
        bool copied = false;
    };

    ReferenceModel() {
        for (int i = 0; i < kPages; ++i) file_[i] = static_cast<std::uint8_t>(i + 1);
    }

    std::int64_t mmap_fixed(int first, int n, int prot, bool shared, bool file = false) {
        for (int i = first; i < first + n; ++i) pages_[i] = Page{true, prot, false, false, 0, shared, file, false};
        return first * static_cast<std::int64_t>(P);
    }
    std::int64_t munmap(int first, int n) {
        for (int i = first; i < first + n; ++i) pages_[i] = Page{};
        return 0;
    }
    // mbind changes no page: EFAULT when a page of the range is unmapped, or for MPOL_DEFAULT
    // when all are.
    std::int64_t mbind(int first, int n, int mode) const {
        int mapped = 0;
        for (int i = first; i < first + n; ++i) mapped += pages_[i].mapped;
        return (mode == 0 ? mapped > 0 : mapped == n) ? 0 : -EFAULT;
    }
    std::int64_t mprotect(int first, int n, int prot) {
        for (int i = first; i < first + n; ++i) {
            Page& p = pages_[i];
            if (!p.mapped) return -ENOMEM;  // pages before the hole stay changed
            // Locked private memory made writable is faulted in for writing at once.
            if (p.locked && !(p.prot & PROT_WRITE) && (prot & PROT_WRITE) && !p.guard) copy_in(i);
            p.prot = prot;
        }
        return 0;
    }
    std::int64_t madvise(int first, int n, int advice) {
        std::int64_t result = 0;
        for (int i = first; i < first + n; ++i) {
            Page& p = pages_[i];
            if (!p.mapped) {
                result = -ENOMEM;  // remembered; the rest is still advised
                continue;
            }
            if (advice == MADV_DONTNEED) {
                if (p.locked) return -EINVAL;
                discard(p);  // the guard marker, if any, stays
            } else if (advice == MADV_REMOVE) {
                if (p.locked || (!p.shared && !p.file)) return -EINVAL;  // anonymous private memory has no file
                if (!p.shared) return -EACCES;  // a private mapping of a file may not punch it
                if (p.file) file_[i] = 0;
                else p.value = 0;
            } else if (advice == kGuardInstall) {
                if (p.locked) return -EINVAL;
                p.guard = true;
                discard(p);
            } else if (advice == kGuardRemove) {
                p.guard = false;
            }
        }
        return result;
    }
    std::int64_t mlock(int first, int n) {
        for (int i = first; i < first + n; ++i) {
            if (!pages_[i].mapped) return -ENOMEM;
            pages_[i].locked = true;
        }
        // Population stops at the first page that cannot be faulted in: ENOMEM, locks kept.
        // Private writable memory is populated by write faults (a file page gets its copy).
        for (int i = first; i < first + n; ++i) {
            if (pages_[i].prot == PROT_NONE || pages_[i].guard) return -ENOMEM;
            if (pages_[i].prot & PROT_WRITE) copy_in(i);
        }
        return 0;
    }
    std::int64_t munlock(int first, int n) {
        for (int i = first; i < first + n; ++i) {
            if (!pages_[i].mapped) return -ENOMEM;
            pages_[i].locked = false;
        }
        return 0;
    }
    std::int64_t mremap_shrink(int first, int n, int m) {
        if (!pages_[first].mapped) return -EFAULT;
        for (int i = first + m; i < first + n; ++i) pages_[i] = Page{};
        return first * static_cast<std::int64_t>(P);
    }
    Probe write(int i, std::uint8_t v) {
        Page& p = pages_[i];
        if (!p.mapped) return Probe{false, 0, SEGV_MAPERR};
        if (!(p.prot & PROT_WRITE)) return Probe{false, 0, SEGV_ACCERR};
        if (p.guard) return Probe{false, 0, SEGV_MAPERR};
        if (p.file && p.shared) {
            file_[i] = v;
        } else {
            p.value = v;
            p.copied = true;
        }
        return Probe{true, v, 0};
    }
    Probe read(int i) const {
        const Page& p = pages_[i];
        if (!p.mapped) return Probe{false, 0, SEGV_MAPERR};
        if (p.prot == PROT_NONE) return Probe{false, 0, SEGV_ACCERR};
        if (p.guard) return Probe{false, 0, SEGV_MAPERR};
        return Probe{true, p.file && !p.copied ? file_[i] : p.value, 0};
    }
    bool guard(int i) const { return pages_[i].guard; }

private:
    // What discarding a page (DONTNEED, installing a guard) leaves: anonymous private memory reads
    // zero, a private file page its file page again; shared pages keep their object's contents.
    static void discard(Page& p) {
        if (p.shared) return;
        p.value = 0;
        p.copied = false;
    }
    // A write fault without a write: a private file page gets its own copy of the file page.
    void copy_in(int i) {
        Page& p = pages_[i];
        if (p.file && !p.shared && !p.copied) {
            p.value = file_[i];
            p.copied = true;
        }
    }

    std::array<Page, kPages> pages_{};
    std::array<std::uint8_t, kPages> file_{};
};

class RandomModel : public ::testing::Test {
protected:
    std::unique_ptr<Target> host = make_host_target();
    std::unique_ptr<Target> mmu = make_mmu_target();

    // Sequences with shared anonymous mappings and MADV_REMOVE among the operations, and also
    // with private and shared mappings of a file.
    bool shared_mappings = false;
    bool file_mappings = false;
    bool memory_policies = false;  // mbind among the operations
    void run_sequence(std::uint32_t seed, int ops);
    void run_sequences();  // the seeds and length the environment asks for (see below)
};

void RandomModel::run_sequence(std::uint32_t seed, int ops) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with MMU_MODEL_SEED=" +
                 std::to_string(seed) + ")");
    host->reset();
    mmu->reset();
    ReferenceModel model;
    std::mt19937 rng(seed);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const int prots[] = {PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE};
    const int advices[] = {MADV_DONTNEED, kGuardInstall, kGuardInstall, kGuardRemove, MADV_REMOVE};

    std::string log;
    for (int step = 0; step < ops; ++step) {
        const int first = pick(0, kPages - 1);
        const int n = pick(1, kPages - first);
        const std::uint64_t off = first * P, len = n * P;
        std::int64_t h = 0, m = 0, r = 0;
        std::string what;
        switch (pick(0, memory_policies ? 9 : 8)) {
        case 0: {
            const int prot = prots[pick(0, 3)];
            const bool shared = shared_mappings && pick(0, 3) == 0;
            const bool file = file_mappings && pick(0, 1) == 0;
            what = std::string(shared ? "mmap shared" : "mmap") + (file ? " file" : "");
            const int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | (file ? 0 : MAP_ANONYMOUS) | MAP_FIXED;
            h = file ? host->mmap_file(off, len, prot, flags) : host->mmap(off, len, prot, flags);
            m = file ? mmu->mmap_file(off, len, prot, flags) : mmu->mmap(off, len, prot, flags);
            r = model.mmap_fixed(first, n, prot, shared, file);
            break;
        }
        case 1:
            what = "munmap";
            h = host->munmap(off, len);
            m = mmu->munmap(off, len);
            r = model.munmap(first, n);
            break;
        case 2: {
            const int prot = prots[pick(0, 3)];
            what = "mprotect";
            h = host->mprotect(off, len, prot);
            m = mmu->mprotect(off, len, prot);
            r = model.mprotect(first, n, prot);
            break;
        }
        case 3:
        case 4: {
            const int advice = advices[pick(0, shared_mappings ? 4 : 3)];
            what = "madvise " + std::to_string(advice);
            h = host->madvise(off, len, advice);
            m = mmu->madvise(off, len, advice);
            r = model.madvise(first, n, advice);
            break;
        }
        case 5:
            what = pick(0, 1) ? "mlock" : "munlock";
            if (what == "mlock") {
                h = host->mlock(off, len, 0);
                m = mmu->mlock(off, len, 0);
                r = model.mlock(first, n);
            } else {
                h = host->munlock(off, len);
                m = mmu->munlock(off, len);
                r = model.munlock(first, n);
            }
            break;
        case 6: {
            const int keep = pick(1, n);
            what = "mremap shrink";
            h = host->mremap(off, len, keep * P, 0, 0);
            m = mmu->mremap(off, len, keep * P, 0, 0);
            r = model.mremap_shrink(first, n, keep);
            break;
        }
        case 7: {
            const auto v = static_cast<std::uint8_t>(pick(1, 255));
            const Probe ph = host->write(off, v), pm = mmu->write(off, v), pr = model.write(first, v);
            log += "step " + std::to_string(step) + " write page " + std::to_string(first) + "\n";
            ASSERT_EQ(pm, ph) << "step " << step << " write page " << first << ": mmu "
                              << to_string(pm) << " host " << to_string(ph);
            ASSERT_EQ(pr, ph) << "step " << step << " write page " << first << ": model "
                              << to_string(pr) << " host " << to_string(ph);
            continue;
        }
        case 9: {
            static constexpr int kModes[] = {0, 1, 2, 2, 3, 4};  // DEFAULT, PREFERRED, BIND, INTERLEAVE, LOCAL
            const int mode = kModes[pick(0, 5)];
            what = "mbind " + std::to_string(mode);
            h = host->mbind(off, len, mode);
            m = mmu->mbind(off, len, mode);
            r = model.mbind(first, n, mode);
            break;
        }
        default: {
            const Probe ph = host->read(off), pm = mmu->read(off), pr = model.read(first);
            log += "step " + std::to_string(step) + " read page " + std::to_string(first) + "\n";
            ASSERT_EQ(pm, ph) << "step " << step << " read page " << first << "\n" << log;
            ASSERT_EQ(pr, ph) << "step " << step << " read page " << first;
            continue;
        }
        }
        const std::string where = "step " + std::to_string(step) + " " + what + " pages [" +
                                  std::to_string(first) + ", " + std::to_string(first + n) + ")";
        log += where + " -> " + std::to_string(h) + "\n";
        if (std::getenv("MMU_MODEL_TRACE")) std::printf("%s -> %lld\n%s", where.c_str(), static_cast<long long>(h), mmu->describe_vmas().c_str());
        ASSERT_EQ(m, h) << where << ": mmu vs host";
        ASSERT_EQ(r, h) << where << ": model vs host";
        ASSERT_EQ(mmu->vma_count(), host->vma_count())
            << where << ": VMA count\nhost:\n" << host->describe_vmas() << "mmu:\n"
            << mmu->describe_vmas() << "operations:\n" << log;
    }
    for (int i = 0; i < kPages; ++i) {
        ASSERT_EQ(mmu->guard(i * P), host->guard(i * P)) << "final guard bit, page " << i;
        ASSERT_EQ(model.guard(i), host->guard(i * P)) << "final guard bit, page " << i;
        const Probe ph = host->read(i * P), pm = mmu->read(i * P), pr = model.read(i);
        ASSERT_EQ(pm, ph) << "final read, page " << i;
        ASSERT_EQ(pr, ph) << "final read, page " << i;
    }
}

// How many sequences and operations: MMU_MODEL_SEEDS=FIRST-LAST (default 1-2000) and
// MMU_MODEL_OPS=N (default 40); MMU_MODEL_SEED=N runs that one sequence. The long run of the
// bench (tests/bench/random_model_long.sh) uses 100,000 sequences of 80 operations.
std::uint64_t env_number(const char* name, std::uint64_t fallback) {
    const char* text = std::getenv(name);
    return text && *text ? std::strtoull(text, nullptr, 10) : fallback;
}

void RandomModel::run_sequences() {
    const int ops = static_cast<int>(env_number("MMU_MODEL_OPS", 40));
    std::uint64_t first = 1, last = 2000;
    if (const char* only = std::getenv("MMU_MODEL_SEED")) {
        first = last = std::strtoull(only, nullptr, 10);
    } else if (const char* range = std::getenv("MMU_MODEL_SEEDS")) {
        char* dash = nullptr;
        first = std::strtoull(range, &dash, 10);
        last = dash && *dash == '-' ? std::strtoull(dash + 1, nullptr, 10) : first;
    }
    std::uint64_t failures = 0;
    const bool keep_going = env_number("MMU_MODEL_KEEP_GOING", 0) != 0;  // count every divergence
    for (std::uint64_t seed = first; seed <= last; ++seed) {
        const auto* result = ::testing::UnitTest::GetInstance()->current_test_info()->result();
        const int parts_before = result->total_part_count();
        run_sequence(static_cast<std::uint32_t>(seed), ops);
        if (result->total_part_count() != parts_before) {  // a failed assertion adds a part
            ++failures;
            if (!keep_going) return;
        }
    }
    if (keep_going) std::printf("random model%s: %llu sequences of %d operations, %llu divergent\n",
                                memory_policies ? " (policies)" : file_mappings ? " (files)" : shared_mappings ? " (shared)" : "", static_cast<unsigned long long>(last - first + 1),
                                ops, static_cast<unsigned long long>(failures));
}

TEST_F(RandomModel, SequencesAgreeWithModelAndHost) { run_sequences(); }

// The same with MAP_SHARED|MAP_ANONYMOUS (shmem) mappings mixed in: discarding keeps their
// pages, MADV_REMOVE punches them, and separate shared mappings never merge.
TEST_F(RandomModel, SequencesWithSharedMemoryAgreeWithModelAndHost) {
    shared_mappings = true;
    run_sequences();
}

// And with private and shared mappings of a file (half of the mmaps): private pages read the
// file until copied, shared writes reach the file (and every private page not yet copied),
// MADV_REMOVE punches the file (EACCES for a private mapping), VMAs of the file merge by offset.
TEST_F(RandomModel, SequencesWithFileMappingsAgreeWithModelAndHost) {
    shared_mappings = true;
    file_mappings = true;
    run_sequences();
}

// And with mbind: a NUMA policy is a VMA attribute, so it splits VMAs and keeps different
// policies apart (the host has one node, as the mmu library's machine).
TEST_F(RandomModel, SequencesWithMemoryPoliciesAgreeWithModelAndHost) {
    shared_mappings = true;
    memory_policies = true;
    run_sequences();
}

}  // namespace
}  // namespace mmu::testing
