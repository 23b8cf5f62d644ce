// libFuzzer target: any bytes read as a trace file (text or zstd) are replayed, counted by
// `trace stats` and diffed with themselves; each ends in a status (replay: 0 match,
// 1 divergence, 2 malformed; stats: 0 or 2), never a crash, a hang or an unbounded allocation.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "trace/trace_replay.hpp"

namespace {

// The reader takes a path: each input is written to one scratch file per fuzzing process,
// removed when the fuzzer exits.
struct ScratchFile {
    std::string path;
    ~ScratchFile() { std::remove(path.c_str()); }
};

const std::string& scratch_path() {
    static const ScratchFile file{[] {
        const char* dir = std::getenv("TMPDIR");
        return std::string(dir && *dir ? dir : "/tmp") + "/mmuemu_trace_fuzz." + std::to_string(::getpid()) +
               ".trace";
    }()};
    return file.path;
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) std::abort();
}

// The replay's guest RAM (--ram): small, so that each input sets up little and a trace that
// fills the RAM does so quickly.
constexpr std::uint64_t kFuzzRam = 64ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string& path = scratch_path();
    write_file(path, data, size);
    const int replayed = emu::replay_trace(path, kFuzzRam);
    if (replayed < 0 || replayed > 2) std::abort();
    // Stats replay without checking outcomes: a malformed trace fails there at the same line.
    const int counted = replayed == 2 ? 2 : emu::trace_stats(path, kFuzzRam);
    if (counted != 0 && counted != 2) std::abort();
    const int diffed = emu::diff_traces(path, path);
    if (diffed != 0 && diffed != 2) std::abort();  // a trace is identical to itself, or unreadable
    return 0;
}
