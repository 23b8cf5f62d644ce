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

// Address spaces flush the TLB as they are torn down: stop mirroring flushes (the CPU and the
// trace recorder may be gone) before they go, and tear them down before the CPU.
Process::~Process() {
    tlb_.set_listener(nullptr);
    other_sides_.clear();
    as_.reset();
}

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
        if (gdb_ && !stepping) gdb_->start_watching(cpu_.handle());
        const uc_err err = cpu_.run(rip, 0);
        if (gdb_) gdb_->stop_watching();
        stepping_ = false;
        if (gdb_ && gdb_->take_interrupt() && !refused_) {  // ^C from the debugger
            if (redirect_) cpu_.set_reg(UC_X86_REG_RIP, *redirect_);
            debugger_stop(2, nullptr, "");
            rip = cpu_.reg(UC_X86_REG_RIP);
            continue;
        }
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

void Process::coherence_violation(const std::string& what) {
    std::fprintf(stderr, "mmuemu: MMU coherence violation: %s\n", what.c_str());
    exited_ = true;
    exit_status_ = 70;
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
