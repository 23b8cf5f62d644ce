// A bounded mutation fuzzer for the ELF loader: hostile program files (flipped bytes, absurd
// header fields, truncations) must end in a LoadError or a loaded image, never a crash, a hang or
// another exception. Runs under AddressSanitizer/UBSan in CI. Seeded: failures name the seed.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "loader/elf_loader.hpp"

namespace emu {
namespace {

std::vector<std::uint8_t> seed_file() { return read_program(MMUEMU_FUZZ_SEED_ELF); }

// One hostile variant of `seed`.
std::vector<std::uint8_t> mutate(const std::vector<std::uint8_t>& seed, std::mt19937_64& rng) {
    std::vector<std::uint8_t> out = seed;
    auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
    static const std::uint64_t interesting[] = {0, 1, 0x40, 0x1000, 0x7fffffff, 0x80000000,
                                                0xffffffff, 0x7ffffffff000, 0x800000000000,
                                                ~0ull, ~0ull - 0xfff};
    switch (pick(4)) {
    case 0:  // flip bytes anywhere in the first 4 KiB (headers)
        for (std::uint64_t i = 0, n = 1 + pick(8); i < n; ++i) out[pick(std::min<std::size_t>(out.size(), 4096))] ^= static_cast<std::uint8_t>(1 + pick(255));
        break;
    case 1: {  // an interesting value in a header or program-header field
        const std::size_t field = pick(64 + 56 * 8) & ~std::size_t{3};
        const std::uint64_t v = interesting[pick(std::size(interesting))];
        std::memcpy(out.data() + std::min(field, out.size() - 8), &v, pick(2) ? 8 : 4);
        break;
    }
    case 2:  // truncation
        out.resize(pick(out.size()));
        break;
    default:  // both
        out[pick(std::min<std::size_t>(out.size(), 512))] = static_cast<std::uint8_t>(pick(256));
        out.resize(out.size() - pick(out.size() / 2));
        break;
    }
    return out;
}

TEST(LoaderFuzz, HostileElfFilesNeverCrashTheLoader) {
    const auto seed = seed_file();
    ASSERT_GT(seed.size(), 4096u);
    mmu::PhysicalMemory ram(64ull << 20);
    mmu::Tlb tlb;
    int loaded = 0, refused = 0;
    for (std::uint64_t iteration = 0; iteration < 20000; ++iteration) {
        std::mt19937_64 rng(iteration);
        const auto file = mutate(seed, rng);
        mmu::AddressSpace as(ram, tlb);
        as.set_checked(iteration % 100 == 0);
        try {
            const LoadedImage image = load_elf(as, file, "fuzz.elf");
            (void)build_stack(as, image, {"fuzz.elf", "arg"}, {"K=V"}, "fuzz.elf");
            ++loaded;
        } catch (const LoadError& e) {
            ASSERT_TRUE(e.exit_status() == 126 || e.exit_status() == 127) << "seed " << iteration;
            ASSERT_NE(std::string(e.what()).find("fuzz.elf"), std::string::npos)
                << "seed " << iteration << ": the message must name the file: " << e.what();
            ++refused;
        }
        as.check_invariants();
    }
    // Both outcomes must occur, or the fuzzer is not exercising the loader.
    EXPECT_GT(loaded, 0);
    EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace emu
