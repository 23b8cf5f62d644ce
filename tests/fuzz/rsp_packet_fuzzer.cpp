// libFuzzer target: what a gdb client sends is framed, acknowledged and served by the RSP
// session (registers, memory, breakpoints, watchpoints, threads, qXfer, monitor commands,
// resumes) over a small fake machine: never a crash, a hang, an exception, or an address space
// that breaks the MMU's invariants.
//
// An input is a session, one line per packet: a line is a packet body, sent with its checksum
// (a fuzzer rarely guesses checksums, so the commands would go unexercised), except a line that
// starts with '$', which is sent as it is (framing, bad checksums, acknowledgements, ^C).
#include <unicorn/unicorn.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gdb/rsp_session.hpp"

namespace {

using namespace mmu;

// Two threads, a register file per thread, and an address space with code, data, a stack and a
// guard page; tracing is not available (`monitor trace on FILE` must not write files here).
class FakeTarget final : public emu::DebugTarget {
public:
    FakeTarget(PhysicalMemory& ram, Tlb& tlb) : as_(ram, tlb) {
        map(0x400000, 0x2000, kProtRead | kProtExec, "fuzz");
        map(0x600000, 0x3000, kProtRead | kProtWrite, "fuzz");
        map(0x7ffffffde000, 0x21000, kProtRead | kProtWrite, "[stack]");
        static const char hello[] = "hello from the fuzzed stub";
        (void)as_.poke(0x600100, hello, sizeof hello);
        (void)as_.madvise(0x601000, 0x1000, madv::kGuardInstall);
    }

    std::vector<int> debugger_threads() const override { return {1, 2}; }
    bool debugger_has_thread(int tid) const override { return tid == 1 || tid == 2; }
    std::string debugger_thread_name(int tid) const override { return "fuzz thread " + std::to_string(tid); }
    int debugger_thread() const override { return 1; }
    void debugger_read_register(int tid, int uc_id, void* value) override {
        std::memcpy(value, registers_[key(tid, uc_id)].data(), 16);
    }
    void debugger_write_register(int tid, int uc_id, const void* value) override {
        std::memcpy(registers_[key(tid, uc_id)].data(), value, 16);
    }
    AddressSpace& debugger_memory() override { return as_; }
    void debugger_code_changed() override {}
    std::string debugger_exec_file() const override { return "/fuzz/program"; }
    std::vector<std::uint64_t> debugger_auxv() const override { return {6, 4096, 25, 0x7fffffffe000, 0, 0}; }
    std::string debugger_cpu_summary() const override { return "CPUs: 1\n"; }
    std::string start_trace(const std::string&) override { return "no tracing in the fuzzer\n"; }
    std::string stop_trace() override { return "no trace\n"; }

private:
    void map(VirtAddr addr, std::uint64_t len, std::uint32_t prot, const char* name) {
        if (!as_.mmap(addr, len, prot, map::kPrivate | map::kAnonymous | map::kFixed, name)) std::abort();
    }
    static std::uint64_t key(int tid, int uc_id) {
        return (static_cast<std::uint64_t>(tid ? tid : 1) << 32) | static_cast<std::uint32_t>(uc_id);
    }
    AddressSpace as_;
    std::map<std::uint64_t, std::array<std::uint8_t, 16>> registers_;
};

}  // namespace

namespace {

std::string frame(const std::string& body) {
    unsigned sum = 0;
    for (const char c : body) sum += static_cast<unsigned char>(c);
    char tail[4];
    std::snprintf(tail, sizeof tail, "#%02x", sum & 0xff);
    return "$" + body + tail;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static PhysicalMemory ram(64ull << 20);
    static Tlb tlb;
    FakeTarget target(ram, tlb);
    emu::RspSession session(target, [](const std::string&) {});
    session.stop(5, nullptr, "");
    const std::string input(reinterpret_cast<const char*>(data), size);
    std::string pending;
    for (std::size_t at = 0; at <= input.size();) {
        const std::size_t end = std::min(input.find('\n', at), input.size());
        const std::string line = input.substr(at, end - at);
        at = end + 1;
        pending += !line.empty() && line[0] == '$' ? line : frame(line);
        while (auto packet = session.take_packet(pending)) {
            // A resume ends the stop; no guest runs here, so the next packet is served as if it
            // had stopped again.
            if (session.handle(*packet)) session.stop(5, nullptr, "");
        }
    }
    target.debugger_memory().check_invariants();
    return 0;
}
