// Trace replay, diff and stats: `mmuemu replay FILE`, `mmuemu trace diff A B`,
// `mmuemu trace stats FILE`. Replay drives the mmu library directly, without a CPU or a guest
// binary, and checks every recorded outcome.
#pragma once

#include <string>

namespace emu {

// Exit status: 0 all outcomes match, 1 first divergence printed, 2 malformed or unreadable trace.
int replay_trace(const std::string& path);
int diff_traces(const std::string& a, const std::string& b);
int trace_stats(const std::string& path);

}  // namespace emu
