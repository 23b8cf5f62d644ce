// One emulated Linux process: its address space (mmu), its CPU (Unicorn), files, signals, and
// the run loop that connects them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu.hpp"
#include "elf_loader.hpp"
#include "gdb_stub.hpp"
#include "guest_files.hpp"
#include "mmu/address_space.hpp"
#include "signals.hpp"
#include "trace_recorder.hpp"

namespace emu {

struct RunOptions {
    std::uint64_t ram_bytes = mmu::PhysicalMemory::kDefaultBytes;
    bool check = false;             // verify every access against the page table
    std::string root = "/";         // the guest's view of the file system
    std::uint64_t max_instructions = 0;
    bool stats = false;
    std::optional<GdbOptions> gdb;
    std::string trace_path;       // --trace FILE (.zst: compressed)
    bool trace_accesses = false;  // --trace-accesses: every memory access too
    // --trace-fills: Unicorn's TLB fills too. Off by default: when they happen depends on
    // Unicorn's soft-TLB sizing, which follows wall-clock time, so they differ between runs.
    bool trace_fills = false;  // --gdb: wait for a debugger before the first instruction
    // Fault injection for the checker's own test: do not mirror MMU flushes onto Unicorn.
    bool skip_tlb_flush = false;
};

// Statistics printed by --stats.
struct RunStats {
    std::uint64_t syscalls = 0;
    std::uint64_t tlb_fills = 0;
    std::uint64_t unicorn_flushes = 0;
    std::uint64_t signals_delivered = 0;
    std::uint64_t peak_rss_pages = 0;
};

class Process {
public:
    Process(const RunOptions& options, const std::string& program, std::vector<std::string> argv,
            std::vector<std::string> envp);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    // Runs to the end; returns the exit status a shell would see (128 + signal when killed).
    int run();

    // Used by the syscall layer.
    mmu::AddressSpace& as() { return *as_; }
    Cpu& cpu() { return cpu_; }
    GuestFiles& files() { return files_; }
    SignalState& signals() { return signals_; }
    const RunOptions& options() const { return options_; }
    const StackImage& stack_image() const { return stack_; }
    const std::string& program_path() const { return program_; }
    const RunStats& stats() const { return stats_; }
    void print_stats() const;

    // Ends the process after the current instruction with `status` (exit/exit_group).
    void exit(int status);
    // Sends a signal to the guest (kill/tgkill on itself): delivered when unblocked.
    void send_signal(int sig, int code);
    // After a host call returned EINTR: should the interrupted call be restarted (SA_RESTART)?
    bool restart_after_interrupt();
    // Continues at `rip` once the current hook returns (rt_sigreturn, signal delivery).
    void redirect(std::uint64_t rip);
    // In the child of a fork: run on the copied address space from now on.
    void adopt_forked_address_space(std::unique_ptr<mmu::AddressSpace> child);
    // In the parent of a fork: the child's address space is kept (never run, never freed) so
    // that frames shared copy-on-write keep a reference here and are copied, not written.
    void keep_other_side(std::unique_ptr<mmu::AddressSpace> child);
    // gdb's `monitor trace on FILE` / `off`; returns a message for the user.
    std::string start_trace(const std::string& path);
    std::string stop_trace();
    // The signal that killed the guest, or 0 if it exited.
    int killed_by() const { return killed_by_; }

private:
    static bool tlb_fill_hook(uc_engine*, std::uint64_t vaddr, uc_mem_type type, uc_tlb_entry* out,
                              void* self);
    static void syscall_hook(uc_engine*, void* self);
    static void interrupt_hook(uc_engine*, std::uint32_t intno, void* self);
    static void debug_code_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void debug_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int size,
                                  std::int64_t value, void* self);
    // Reports a debugger stop and applies what the client answers (kill, detach, step...).
    void debugger_stop(int signo, const SigInfo* info, const std::string& extra);
    void prepare_watchpoints();
    static void trace_access_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void count_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void check_code_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void check_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int size,
                                  std::int64_t value, void* self);

    void on_syscall();
    // Host signals sent to the emulator (by other processes, by a child's exit) become guest
    // signals: the host handlers record them and stop the CPU; this queues them for the guest.
    void install_host_signal_forwarding();
    void take_host_signals();
    void on_mmu_flush();
    // Handles the stop of uc_emu_start; returns false when the process is over.
    bool handle_stop(uc_err err);
    SigInfo fault_signal(const mmu::Fault& fault, std::uint64_t rip);
    // Delivers `info` now: runs the handler, or applies the default action.
    void deliver(const SigInfo& info, bool synchronous);
    void deliver_pending();
    bool setup_frame(const SigInfo& info, const SigAction& action);
    void kill_by_signal(const SigInfo& info, bool report);
    void coherence_violation(const std::string& what);

    RunOptions options_;
    std::string program_;
    mmu::PhysicalMemory ram_;
    mmu::Tlb tlb_;
    std::unique_ptr<mmu::AddressSpace> as_;
    std::vector<std::unique_ptr<mmu::AddressSpace>> other_sides_;  // see keep_other_side
    Cpu cpu_;
    GuestFiles files_;
    SignalState signals_;
    StackImage stack_;
    RunStats stats_;

    bool exited_ = false;
    std::uint64_t instructions_ = 0;  // counted only with --max-insns
    int killed_by_ = 0;
    int exit_status_ = 0;
    std::optional<std::uint64_t> redirect_;
    // The last translation the TLB-fill hook refused, and why.
    std::optional<mmu::Fault> refused_;
    std::optional<int> pending_interrupt_;
    // Checked mode: what the CPU was handed since Unicorn's TLB was last flushed
    // (frame -> virtual pages), to verify accesses that hooks report by physical address.
    std::unordered_map<mmu::Pfn, std::vector<mmu::VirtAddr>> handed_out_;
    // The last page each check verified; valid until the next flush or page-table change.
    std::uint64_t checked_code_page_ = ~0ull;
    std::uint64_t checked_data_frame_ = ~0ull;
    bool checked_data_write_ = false;
    std::string violation_;

    std::unique_ptr<TraceRecorder> recorder_;
    std::unique_ptr<GdbStub> gdb_;
    Resume resume_ = Resume::Continue;
    bool stepping_ = false, step_started_ = false, step_done_ = false;
    std::optional<std::string> debug_stop_;  // set by the hooks: a breakpoint or watchpoint hit
    struct WatchedFrame {
        mmu::Pfn pfn;
        std::uint64_t begin, end;  // offsets in the frame
        char kind;
        std::uint64_t vaddr;
    };
    std::vector<WatchedFrame> watched_;
};

}  // namespace emu

namespace emu {
// rt_sigreturn: restores the registers, FPU/SSE state and mask saved by setup_frame.
bool restore_sigframe(Process& p);
}  // namespace emu
