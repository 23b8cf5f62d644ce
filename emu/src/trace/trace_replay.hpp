// Trace replay, diff and stats: `mmuemu replay FILE`, `mmuemu trace diff A B`,
// `mmuemu trace stats FILE`. Replay drives the mmu library directly, without a CPU or a guest
// binary, and checks every recorded outcome.
#pragma once

#include <cstdint>
#include <string>

namespace emu {

// Exit status: 0 all outcomes match, 1 first divergence printed, 2 malformed or unreadable trace.
// `ram_bytes` is the replay's guest RAM (--ram): every frame and page-table page a trace makes
// the MMU allocate comes from it, which bounds the host memory and time a trace can take.
inline constexpr std::uint64_t kDefaultReplayRam = 1ull << 30;
int replay_trace(const std::string& path, std::uint64_t ram_bytes = kDefaultReplayRam);
int diff_traces(const std::string& a, const std::string& b);
int trace_stats(const std::string& path, std::uint64_t ram_bytes = kDefaultReplayRam);

}  // namespace emu
