#include "process.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "fault_report.hpp"
#include "syscalls.hpp"

#include <sys/syscall.h>

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>

namespace emu {

using namespace mmu;

Process::Process(const RunOptions& options, const std::string& program,
                 std::vector<std::string> argv, std::vector<std::string> envp)
    : options_(options), program_(program), ram_(options.ram_bytes),
      as_(std::make_unique<AddressSpace>(ram_, tlb_)) {
    as_->set_checked(options.check);
    if (!options.trace_path.empty()) {
        recorder_ = std::make_unique<TraceRecorder>(options.trace_path);
        recorder_->attach(*as_);
    }
    const auto bytes = read_program(program);
    const LoadedImage image = load_elf(*as_, bytes, program);
    as_->set_brk_base(image.brk_start);
    stack_ = build_stack(*as_, image, argv, envp, program);

    cpu_.map_ram(ram_.host_base(), ram_.size_bytes());
    cpu_.on_tlb_fill(&Process::tlb_fill_hook, this);
    cpu_.on_syscall(&Process::syscall_hook, this);
    cpu_.on_interrupt(&Process::interrupt_hook, this);
    if (options.max_instructions) cpu_.on_code(&Process::count_hook, this);
    if (options.check) {
        cpu_.on_code(&Process::check_code_hook, this);
        cpu_.on_memory(&Process::check_memory_hook, this);
    }
    // Every invalidation the MMU commits is mirrored onto Unicorn's soft TLB before the guest
    // runs again (Unicorn can only flush everything).
    tlb_.set_listener([this](const FlushEvent& e) {
        if (recorder_) recorder_->flush(e);
        if (e.asid == as_->asid()) on_mmu_flush();
    });
    if (recorder_ && options.trace_accesses) cpu_.on_code(&Process::trace_access_hook, this);
    install_host_signal_forwarding();
    if (options.gdb) {
        gdb_ = std::make_unique<GdbStub>(*this, *options.gdb);
        cpu_.on_code(&Process::debug_code_hook, this);
        cpu_.on_memory(&Process::debug_memory_hook, this);
    }
    cpu_.set_reg(UC_X86_REG_RSP, stack_.rsp);
    cpu_.set_reg(UC_X86_REG_RIP, image.entry);
}

Process::~Process() = default;

void Process::on_mmu_flush() {
    if (options_.skip_tlb_flush) return;
    cpu_.flush_tlb();
    handed_out_.clear();
    checked_code_page_ = checked_data_frame_ = ~0ull;
    ++stats_.unicorn_flushes;
}

bool Process::tlb_fill_hook(uc_engine*, std::uint64_t vaddr, uc_mem_type type, uc_tlb_entry* out,
                            void* self) {
    auto& p = *static_cast<Process*>(self);
    ++p.stats_.tlb_fills;
    p.checked_code_page_ = p.checked_data_frame_ = ~0ull;  // the page table may change now
    const Access access = type == UC_MEM_WRITE ? Access::Write
                          : type == UC_MEM_FETCH ? Access::Execute
                                                 : Access::Read;
    // The user access: TLB, walk, and the page-fault handler for what Linux resolves.
    const Translated t = p.as_->access(vaddr, access);
    if (p.recorder_ && p.options_.trace_fills)
        p.recorder_->fill(*p.as_, page_down(vaddr), access, t.ok, page_down(t.translation.paddr),
                          t.translation.writable, t.translation.executable);
    if (!t.ok) {
        p.refused_ = t.fault;
        return false;  // Unicorn stops with UC_ERR_EXCEPTION, RIP at the faulting instruction
    }
    out->paddr = page_down(t.translation.paddr);
    int perms = UC_PROT_READ;
    if (t.translation.writable) perms |= UC_PROT_WRITE;
    if (t.translation.executable) perms |= UC_PROT_EXEC;
    out->perms = static_cast<uc_prot>(perms);
    if (p.options_.check) p.handed_out_[t.translation.paddr >> kPageShift].push_back(page_down(vaddr));
    return true;
}

void Process::syscall_hook(uc_engine*, void* self) {
    auto& p = *static_cast<Process*>(self);
    try {
        p.on_syscall();
    } catch (...) {
        // Never unwind through Unicorn: stop and let run() see what happened.
        p.violation_ = "internal error in a system call";
        p.cpu_.stop();
        throw;
    }
}

void Process::interrupt_hook(uc_engine*, std::uint32_t intno, void* self) {
    auto& p = *static_cast<Process*>(self);
    p.pending_interrupt_ = static_cast<int>(intno);
    p.cpu_.stop();
}

std::string Process::start_trace(const std::string& path) {
    if (recorder_ && recorder_->active()) return "a trace is already being recorded\n";
    try {
        recorder_ = std::make_unique<TraceRecorder>(path, *as_);
    } catch (const TraceError& e) {
        return std::string(e.what()) + "\n";
    }
    return "recording the MMU trace to " + path + " (it starts with a snapshot of the address space)\n";
}

std::string Process::stop_trace() {
    if (!recorder_ || !recorder_->active()) return "no trace is being recorded\n";
    recorder_->stop(*as_);
    return "trace stopped\n";
}

void Process::keep_other_side(std::unique_ptr<AddressSpace> child) {
    ram_.keep_share(PhysicalMemory::ForkSide::Parent);
    other_sides_.push_back(std::move(child));
}

// The guest RAM is shared with the parent process: the parent's address space stays here,
// unused, holding its references, exactly as the parent keeps the child's.
void Process::adopt_forked_address_space(std::unique_ptr<AddressSpace> child) {
    ram_.keep_share(PhysicalMemory::ForkSide::Child);
    if (recorder_) recorder_->abandon();  // the parent records; this child does not
    child->set_checked(options_.check);
    other_sides_.push_back(std::move(as_));
    as_ = std::move(child);
    on_mmu_flush();  // a new page table: nothing Unicorn cached is valid
}

void Process::on_syscall() {
    ++stats_.syscalls;
    checked_code_page_ = checked_data_frame_ = ~0ull;  // the page table may change now
    const std::uint64_t rip = cpu_.reg(UC_X86_REG_RIP);  // the syscall instruction itself
    SyscallArgs args{cpu_.reg(UC_X86_REG_RAX),
                     {cpu_.reg(UC_X86_REG_RDI), cpu_.reg(UC_X86_REG_RSI), cpu_.reg(UC_X86_REG_RDX),
                      cpu_.reg(UC_X86_REG_R10), cpu_.reg(UC_X86_REG_R8), cpu_.reg(UC_X86_REG_R9)}};
    const std::int64_t result = do_syscall(*this, args);
    if (recorder_) {
        if (args.nr == SYS_rt_sigreturn) recorder_->sigreturn(*as_);
        else if (result != kNoReturn) recorder_->syscall(*as_, args.nr, result);
    }
    stats_.peak_rss_pages = std::max(stats_.peak_rss_pages, as_->rss_pages());
    take_host_signals();
    if (result == kNoReturn) return;
    if (result == kRestart) {  // the handler runs first, then the syscall instruction again
        cpu_.set_reg(UC_X86_REG_RAX, args.nr);
        redirect(rip);
        return;
    }
    cpu_.set_reg(UC_X86_REG_RAX, static_cast<std::uint64_t>(result));
    // What the syscall instruction itself does: RCX = return address, R11 = RFLAGS.
    cpu_.set_reg(UC_X86_REG_RCX, rip + 2);
    cpu_.set_reg(UC_X86_REG_R11, cpu_.reg(UC_X86_REG_EFLAGS));
    if (signals_.pending & ~signals_.blocked) redirect(rip + 2);
}

void Process::exit(int status) {
    exited_ = true;
    exit_status_ = status;
    cpu_.stop();
}

void Process::redirect(std::uint64_t rip) {
    redirect_ = rip;
    cpu_.stop();
}

void Process::send_signal(int sig, int code) {
    SigInfo info;
    info.signo = sig;
    info.code = code;
    info.pid = static_cast<int>(::getpid());
    info.from_kill = true;
    signals_.queue(info);
}

namespace {

// Written by host signal handlers, read by the run loop.
std::atomic<std::uint64_t> host_pending{0};
std::array<siginfo_t, kNsig + 1> host_info{};
std::atomic<uc_engine*> running_engine{nullptr};

void on_host_signal(int sig, siginfo_t* info, void*) {
    host_info[sig] = *info;
    host_pending.fetch_or(sig_bit(sig));
    if (uc_engine* uc = running_engine.load()) uc_emu_stop(uc);
}

}  // namespace

void Process::install_host_signal_forwarding() {
    running_engine = cpu_.handle();
    struct sigaction sa {};
    sa.sa_sigaction = on_host_signal;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: blocking host calls return EINTR
    sigfillset(&sa.sa_mask);
    for (int sig = 1; sig <= kNsig; ++sig) {
        // Faults and traps of the emulator itself stay fatal; KILL/STOP cannot be caught; 32 and
        // 33 belong to the C library.
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
            sig == SIGFPE || sig == SIGTRAP || sig == SIGABRT || sig == 32 || sig == 33)
            continue;
        ::sigaction(sig, &sa, nullptr);
    }
}

void Process::take_host_signals() {
    std::uint64_t bits = host_pending.exchange(0);
    while (bits) {
        const int sig = __builtin_ctzll(bits) + 1;
        bits &= bits - 1;
        const siginfo_t& hi = host_info[sig];
        SigInfo info;
        info.signo = sig;
        info.code = hi.si_code;
        info.pid = hi.si_pid;
        info.uid = static_cast<int>(hi.si_uid);
        info.status = sig == SIGCHLD ? hi.si_status : 0;
        info.from_kill = true;
        signals_.queue(info);
    }
}

bool Process::restart_after_interrupt() {
    take_host_signals();
    const auto sig = signals_.next_deliverable();
    if (!sig) return true;  // nothing for the guest (an ignored host signal): just retry
    const SigAction& action = signals_.actions[*sig];
    if (action.handler == 1) return true;
    return action.handler > 1 && (action.flags & sa::kRestart);
}

void Process::debugger_stop(int signo, const SigInfo* info, const std::string& extra) {
    resume_ = gdb_->stopped(signo, info, extra);
    if (resume_ == Resume::Kill) {
        exited_ = true;
        killed_by_ = 9;
        exit_status_ = 128 + 9;
    } else if (resume_ == Resume::Detach) {
        gdb_.reset();
        resume_ = Resume::Continue;
    }
}

void Process::debug_code_hook(uc_engine*, std::uint64_t address, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (!p.gdb_) return;
    // Single step: let the first instruction run, stop before the second (Unicorn's own
    // instruction count is not reliable once blocks are cached).
    if (p.stepping_) {
        if (p.step_started_) {
            p.step_done_ = true;
            p.cpu_.stop();
            return;
        }
        p.step_started_ = true;
    }
    if (p.gdb_->step_over == address) {
        p.gdb_->step_over.reset();
        return;
    }
    p.gdb_->step_over.reset();
    if (p.gdb_->breakpoint_at(address)) {
        p.debug_stop_ = "";
        p.cpu_.stop();
    }
}

// Watchpoints: the hook sees physical addresses; the watched virtual ranges were translated to
// frames when the guest was resumed.
void Process::debug_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int size,
                                std::int64_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (!p.gdb_ || p.watched_.empty()) return;
    const Pfn pfn = address >> kPageShift;
    const std::uint64_t lo = address & (kPageSize - 1), hi = lo + static_cast<std::uint64_t>(size);
    for (const WatchedFrame& w : p.watched_) {
        if (w.pfn != pfn || hi <= w.begin || lo >= w.end) continue;
        const bool write = type == UC_MEM_WRITE;
        if ((w.kind == '2' && !write) || (w.kind == '3' && write)) continue;
        const char* name = w.kind == '2' ? "watch" : w.kind == '3' ? "rwatch" : "awatch";
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s:%" PRIx64 ";", name, w.vaddr + (std::max(lo, w.begin) - w.begin));
        p.debug_stop_ = buf;
        p.cpu_.stop();
        return;
    }
}

void Process::prepare_watchpoints() {
    watched_.clear();
    if (!gdb_) return;
    for (const GdbStub::Watch& w : gdb_->watchpoints()) {
        for (std::uint64_t va = w.addr; va < w.addr + w.len;) {
            const std::uint64_t end = std::min(w.addr + w.len, page_down(va) + kPageSize);
            const PageWalk walk = as_->walk(va);
            if (walk.depth == kLevels && walk.levels[kLevels - 1].entry.present())
                watched_.push_back({walk.levels[kLevels - 1].entry.pfn(), va & (kPageSize - 1),
                                    (end - 1) % kPageSize + 1, w.kind, va});
            va = end;
        }
    }
}

int Process::run() {
    std::uint64_t rip = cpu_.reg(UC_X86_REG_RIP);
    if (gdb_) {
        gdb_->wait_for_client();
        resume_ = gdb_->stopped(5, nullptr, "", false);  // stopped before the first instruction
        if (resume_ == Resume::Kill) exited_ = true, killed_by_ = 9, exit_status_ = 137;
        if (resume_ == Resume::Detach) gdb_.reset(), resume_ = Resume::Continue;
    }
    while (!exited_) {
        redirect_.reset();
        refused_.reset();
        pending_interrupt_.reset();
        debug_stop_.reset();
        const bool stepping = gdb_ && resume_ == Resume::Step;
        if (gdb_) {
            if (gdb_->breakpoint_at(rip)) gdb_->step_over = rip;  // leave a breakpoint we stand on
            prepare_watchpoints();
        }
        const std::uint64_t signals_before = stats_.signals_delivered;
        stepping_ = stepping;
        step_started_ = step_done_ = false;
        const uc_err err = cpu_.run(rip, 0);
        stepping_ = false;
        if (!violation_.empty()) {
            coherence_violation(violation_);
            break;
        }
        if (exited_) break;
        if (options_.max_instructions && instructions_ >= options_.max_instructions) {
            std::fprintf(stderr, "mmuemu: stopped after %" PRIu64 " instructions (--max-insns)\n",
                         instructions_);
            exited_ = true;
            exit_status_ = 124;  // like timeout(1)
            break;
        }
        if (step_done_ && !refused_ && !redirect_ && !pending_interrupt_) debug_stop_ = "";
        if (gdb_ && debug_stop_ && !refused_) {  // a breakpoint, watchpoint or finished step
            debugger_stop(5, nullptr, *debug_stop_);
            rip = cpu_.reg(UC_X86_REG_RIP);
            continue;
        }
        if (!handle_stop(err)) break;
        rip = redirect_ ? *redirect_ : cpu_.reg(UC_X86_REG_RIP);
        // A completed single step (a step that raised a signal was reported as that signal).
        if (stepping && gdb_ && !exited_ && stats_.signals_delivered == signals_before) {
            cpu_.set_reg(UC_X86_REG_RIP, rip);
            debugger_stop(5, nullptr, "");
            rip = cpu_.reg(UC_X86_REG_RIP);
        }
    }
    if (gdb_) gdb_->exited(exit_status_, killed_by_);
    if (recorder_) recorder_->exit(*as_, exit_status_, killed_by_);
    stats_.peak_rss_pages = std::max(stats_.peak_rss_pages, as_->rss_pages());
    if (options_.stats) print_stats();
    return exit_status_;
}

// Why did uc_emu_start return? A redirect (signal delivery, sigreturn), a page fault the MMU
// refused, an interrupt (int3, divide error...), an invalid instruction, or the budget.
bool Process::handle_stop(uc_err err) {
    const std::uint64_t rip = cpu_.reg(UC_X86_REG_RIP);
    if (redirect_) {
        // The hook asked to continue elsewhere: make that the interrupted RIP a signal frame saves.
        cpu_.set_reg(UC_X86_REG_RIP, *redirect_);
        deliver_pending();
        return !exited_;
    }
    if (err == UC_ERR_EXCEPTION && refused_ && refused_->reason == FaultReason::OutOfMemory) {
        // Linux would OOM-kill the process: say why, and die by SIGKILL.
        std::fprintf(stderr, "mmuemu: the guest needs more memory than the guest RAM (--ram %" PRIu64
                     " MiB): no free frame at address 0x%" PRIx64 "\n",
                     options_.ram_bytes >> 20, refused_->addr);
        exited_ = true;
        killed_by_ = 9;
        exit_status_ = 128 + 9;
        return false;
    }
    if (err == UC_ERR_EXCEPTION && refused_) {
        deliver(fault_signal(*refused_, rip), true);
        return !exited_;
    }
    if (pending_interrupt_) {
        SigInfo info;
        info.trapno = static_cast<std::uint64_t>(*pending_interrupt_);
        switch (*pending_interrupt_) {
        case 0:  // #DE
            info.signo = 8;
            info.code = 1;  // FPE_INTDIV
            info.addr = rip;
            break;
        case 3:  // int3: RIP is already past the instruction
            info.signo = 5;
            info.code = 0x80;  // SI_KERNEL
            break;
        case 13:  // #GP (non-canonical address, privileged instruction)
            info.signo = 11;
            info.code = 0x80;
            break;
        case 6:  // #UD
            info.signo = 4;
            info.code = 2;  // ILL_ILLOPN
            info.addr = rip;
            break;
        default:
            info.signo = 11;
            info.code = 0x80;
            break;
        }
        deliver(info, true);
        return !exited_;
    }
    if (err == UC_ERR_INSN_INVALID) {
        SigInfo info;
        info.signo = 4;
        info.code = 2;  // ILL_ILLOPN
        info.addr = rip;
        info.trapno = 6;
        deliver(info, true);
        return !exited_;
    }
    if (err == UC_ERR_OK) {
        take_host_signals();
        deliver_pending();
        return !exited_;
    }
    std::fprintf(stderr, "mmuemu: CPU stopped at rip 0x%" PRIx64 ": %s\n", rip, uc_strerror(err));
    exited_ = true;
    exit_status_ = 134;
    return false;
}

SigInfo Process::fault_signal(const Fault& fault, std::uint64_t rip) {
    SigInfo info;
    info.signo = fault.signo;
    info.code = fault.si_code;
    info.addr = exact_fault_address(*this, fault, rip);
    info.trapno = 14;  // #PF
    if (!is_canonical(info.addr)) {
        // A non-canonical address is a general-protection fault: SI_KERNEL, no address.
        info.code = 0x80;
        info.addr = 0;
        info.trapno = 13;
        return info;
    }
    // The x86 page-fault error code: P (protection violation on a present page), W, U, I.
    const PageWalk walk = as_->walk(info.addr);
    // Kernel addresses are mapped (supervisor-only), so the fault is a protection violation.
    const bool present = info.addr >= (1ull << 47) ||
                         (walk.depth == kLevels && walk.levels[kLevels - 1].entry.present());
    info.error_code = 4 | (present ? 1 : 0) | (fault.access == Access::Write ? 2 : 0) |
                      (fault.access == Access::Execute ? 0x10 : 0) |
                      (fault.si_code == kSegvPkuErr ? 0x20 : 0);
    return info;
}

void Process::deliver_pending() {
    while (!exited_) {
        auto info = signals_.take_deliverable();
        if (!info) return;
        deliver(*info, false);
    }
}

void Process::deliver(const SigInfo& original, bool synchronous) {
    ++stats_.signals_delivered;
    SigInfo info = original;
    if (gdb_) {
        // As under ptrace: the debugger sees the signal before any handler runs, and decides
        // whether it is delivered (continue), replaced, or suppressed (signal 0).
        debugger_stop(info.signo, &info, "");
        if (exited_) return;
        if (gdb_) {
            const int sig = gdb_->signal_to_deliver();
            if (sig == 0) return;
            info.signo = sig;
        }
    }
    SigAction& action = signals_.actions[info.signo];
    const bool blocked = signals_.blocked & sig_bit(info.signo);
    // A fault that is blocked or ignored cannot be delivered: Linux resets it to the default
    // action and the process dies (force_sig_fault).
    if (synchronous && (blocked || action.handler == 1)) {
        action = SigAction{};
        signals_.blocked &= ~sig_bit(info.signo);
    }
    if (action.handler == 1) return;  // ignored
    if (action.handler == 0) {
        const DefaultAction d = default_action(info.signo);
        if (d == DefaultAction::Ignore || d == DefaultAction::Continue || d == DefaultAction::Stop)
            return;
        if (recorder_) recorder_->signal(*as_, info);
        kill_by_signal(info, synchronous);
        return;
    }
    if (recorder_) recorder_->signal(*as_, info);  // only signals that run a handler or kill
    if (!setup_frame(info, action)) {
        // The frame could not be written (no stack): SIGSEGV with the default action.
        SigInfo segv;
        segv.signo = 11;
        segv.code = 0x80;
        signals_.actions[11] = SigAction{};
        kill_by_signal(segv, true);
    }
}

void Process::kill_by_signal(const SigInfo& info, bool report) {
    if (report) print_fault_report(*this, info);
    exited_ = true;
    killed_by_ = info.signo;
    exit_status_ = 128 + info.signo;
}

void Process::coherence_violation(const std::string& what) {
    std::fprintf(stderr, "mmuemu: MMU coherence violation: %s\n", what.c_str());
    exited_ = true;
    exit_status_ = 70;
}

// --trace-accesses: every explicit memory operand of every instruction, with the translation the
// page table gives at that moment ("unmapped": the access is about to fault, see the next events).
void Process::trace_access_hook(uc_engine*, std::uint64_t address, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (!p.recorder_ || !p.recorder_->active()) return;
    for (const MemoryOperand& op : memory_operands(p, address)) {
        const PageWalk w = p.as_->walk(op.addr);
        const Pte leaf = w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
        const bool ok = leaf.present() && (op.access != Access::Write || leaf.writable());
        p.recorder_->access(*p.as_, op.addr, op.size, op.access, ok,
                            (leaf.pfn() << kPageShift) | (op.addr & (kPageSize - 1)), 0);
    }
}

void Process::count_hook(uc_engine*, std::uint64_t, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (++p.instructions_ >= p.options_.max_instructions) p.cpu_.stop();
}

void Process::check_code_hook(uc_engine*, std::uint64_t address, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (page_down(address) == p.checked_code_page_) return;
    const PageWalk w = p.as_->walk(address);
    const Pte leaf = w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
    if (!leaf.present() || !leaf.executable()) {
        char buf[160];
        std::snprintf(buf, sizeof buf,
                      "instruction fetch at 0x%" PRIx64 " executed but the page table says: %s",
                      address, describe(leaf).c_str());
        p.violation_ = buf;
        p.cpu_.stop();
        return;
    }
    p.checked_code_page_ = page_down(address);
}

// Memory hooks see physical addresses in virtual-TLB mode: an access is coherent when some
// translation handed to the CPU since the last flush maps that frame and is still in the page
// table with the needed permission.
void Process::check_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int,
                                std::int64_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    const Pfn pfn = address >> kPageShift;
    const bool write = type == UC_MEM_WRITE;
    if (pfn == p.checked_data_frame_ && (!write || p.checked_data_write_)) return;
    if (auto it = p.handed_out_.find(pfn); it != p.handed_out_.end()) {
        for (auto vpage = it->second.rbegin(); vpage != it->second.rend(); ++vpage) {
            const PageWalk w = p.as_->walk(*vpage);
            const Pte leaf = w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
            if (leaf.present() && leaf.pfn() == pfn && (!write || leaf.writable())) {
                p.checked_data_frame_ = pfn;
                p.checked_data_write_ = leaf.writable();
                return;
            }
        }
    }
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%s of physical 0x%" PRIx64 " through a translation the page table no longer has",
                  write ? "write" : "read", address);
    p.violation_ = buf;
    p.cpu_.stop();
}

void Process::print_stats() const {
    const TlbCounters& t = tlb_.counters();
    const FaultCounters& f = as_->fault_counters();
    std::fprintf(stderr,
                 "mmuemu stats:\n"
                 "  syscalls %" PRIu64 ", signals delivered %" PRIu64 "\n"
                 "  page faults %" PRIu64 " (demand-zero %" PRIu64 ", zero page %" PRIu64
                 ", COW copies %" PRIu64 ", write-enable %" PRIu64 ", guard %" PRIu64
                 ", signals %" PRIu64 ")\n"
                 "  TLB model: hits %" PRIu64 ", misses %" PRIu64 ", walks %" PRIu64
                 ", page flushes %" PRIu64 ", full flushes %" PRIu64 "\n"
                 "  Unicorn: TLB fills %" PRIu64 ", TLB flushes %" PRIu64 "\n"
                 "  VMAs %zu, RSS %" PRIu64 " KiB (peak frames in use %" PRIu64
                 "), page-table pages %" PRIu64 "\n",
                 stats_.syscalls, stats_.signals_delivered, f.faults, f.demand_zero, f.zero_page_maps,
                 f.cow_copies, f.write_enables, f.guard_faults, f.signals, t.hits, t.misses, t.walks,
                 t.page_flushes, t.full_flushes, stats_.tlb_fills, stats_.unicorn_flushes,
                 as_->vma_count(), as_->rss_pages() * 4, ram_.stats().frames_peak,
                 as_->page_table_pages());
}

}  // namespace emu
