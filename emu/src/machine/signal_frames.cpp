// Signal frames: what Linux pushes on the user stack to run a handler (struct rt_sigframe on
// x86-64) and what rt_sigreturn restores from it.
#include "kernel/signals.hpp"

#include <cstring>

#include "machine/cpu_state.hpp"
#include "machine/process.hpp"

namespace emu {

using namespace mmu;

namespace {

// Kernel layouts (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h, siginfo.h) on x86-64.
struct KernelSigcontext {
    std::uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    std::uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
    std::uint16_t cs, gs, fs, ss;
    std::uint64_t err, trapno, oldmask, cr2;
    std::uint64_t fpstate;
    std::uint64_t reserved1[8];
};
static_assert(sizeof(KernelSigcontext) == 256);

struct KernelUcontext {
    std::uint64_t uc_flags;
    std::uint64_t uc_link;
    std::uint64_t ss_sp;
    std::int32_t ss_flags;
    std::int32_t pad;
    std::uint64_t ss_size;
    KernelSigcontext mcontext;
    std::uint64_t sigmask;
};
static_assert(sizeof(KernelUcontext) == 304);

struct KernelSiginfo {
    std::int32_t signo, errno_, code, pad;
    std::uint64_t field0;  // si_addr, or si_pid | si_uid << 32
    std::uint8_t rest[128 - 24];
};
static_assert(sizeof(KernelSiginfo) == 128);

struct RtSigframe {
    std::uint64_t pretcode;
    KernelUcontext uc;
    KernelSiginfo info;
};
static_assert(sizeof(RtSigframe) == 440);

// UC_FP_XSTATE (the FPU area has the XSAVE layout) | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS.
constexpr std::uint64_t kUcFlags = 0x1 | 0x2 | 0x4;
// The RFLAGS bits a frame gives back (FIX_EFLAGS): AC OF DF TF SF ZF AF PF CF RF.
constexpr std::uint64_t kFixEflags = 0x50dd5;

struct RegMap {
    int id;
    std::uint64_t KernelSigcontext::*field;
};
constexpr RegMap kRegs[] = {
    {UC_X86_REG_R8, &KernelSigcontext::r8},   {UC_X86_REG_R9, &KernelSigcontext::r9},
    {UC_X86_REG_R10, &KernelSigcontext::r10}, {UC_X86_REG_R11, &KernelSigcontext::r11},
    {UC_X86_REG_R12, &KernelSigcontext::r12}, {UC_X86_REG_R13, &KernelSigcontext::r13},
    {UC_X86_REG_R14, &KernelSigcontext::r14}, {UC_X86_REG_R15, &KernelSigcontext::r15},
    {UC_X86_REG_RDI, &KernelSigcontext::rdi}, {UC_X86_REG_RSI, &KernelSigcontext::rsi},
    {UC_X86_REG_RBP, &KernelSigcontext::rbp}, {UC_X86_REG_RBX, &KernelSigcontext::rbx},
    {UC_X86_REG_RDX, &KernelSigcontext::rdx}, {UC_X86_REG_RAX, &KernelSigcontext::rax},
    {UC_X86_REG_RCX, &KernelSigcontext::rcx}, {UC_X86_REG_RSP, &KernelSigcontext::rsp},
    {UC_X86_REG_RIP, &KernelSigcontext::rip}, {UC_X86_REG_EFLAGS, &KernelSigcontext::eflags},
};

}  // namespace

std::array<std::uint8_t, 128> encode_siginfo(const SigInfo& info) {
    KernelSiginfo k{};
    k.signo = info.signo;
    k.code = info.code;
    k.field0 = info.from_kill
                   ? (static_cast<std::uint64_t>(info.uid) << 32) | static_cast<std::uint32_t>(info.pid)
                   : info.addr;
    if (info.signo == 17) std::memcpy(k.rest, &info.status, sizeof info.status);  // si_status
    else if (info.from_kill && info.code < 0) std::memcpy(k.rest, &info.value, sizeof info.value);
    std::array<std::uint8_t, 128> out;
    std::memcpy(out.data(), &k, sizeof k);
    return out;
}

// Builds the handler's frame on the (alternate) stack and points the CPU at the handler.
bool Process::setup_frame(const SigInfo& info, const SigAction& action) {
    Cpu& cpu_ = cpu();
    SignalState& signals_ = current_->signals;
    AddressSpace* as_ = &as();
    // rt_sigsuspend: the frame saves the mask from before the call; sigreturn restores it.
    const std::uint64_t saved_mask = current_->saved_mask.value_or(signals_.blocked);
    current_->saved_mask.reset();
    const std::uint64_t rsp = cpu_.reg(UC_X86_REG_RSP);
    const AltStack& alt = signals_.altstack;
    const bool on_alt = alt.flags != 2 && rsp > alt.sp && rsp <= alt.sp + alt.size;
    std::uint64_t sp = rsp - 128;  // the red zone
    if ((action.flags & sa::kOnStack) && alt.flags != 2 && !on_alt) sp = alt.sp + alt.size;

    // The FPU/SSE state first, 64-byte aligned (fpu__alloc_mathframe).
    sp = (sp - kSigFpuBytes) & ~(kSigFpuAlign - 1);
    const std::uint64_t fpstate = sp;
    const SigFpuImage fx = save_fpu_image(cpu_);
    // The frame: aligned so that the handler starts as after a call (rsp % 16 == 8).
    sp = ((sp - sizeof(RtSigframe)) & ~std::uint64_t{15}) - 8;

    RtSigframe frame{};
    frame.pretcode = action.restorer;
    frame.uc.uc_flags = kUcFlags;
    frame.uc.ss_sp = alt.sp;
    frame.uc.ss_flags = alt.flags == 2 ? 2 : (on_alt ? 1 : 0);
    frame.uc.ss_size = alt.size;
    KernelSigcontext& sc = frame.uc.mcontext;
    for (const RegMap& r : kRegs) sc.*r.field = cpu_.reg(r.id);
    sc.cs = 0x33;
    sc.ss = 0x2b;
    sc.err = info.error_code;
    sc.trapno = info.trapno;
    sc.oldmask = saved_mask;
    sc.cr2 = info.trapno == 14 ? info.addr : 0;
    sc.fpstate = fpstate;
    frame.uc.sigmask = saved_mask;
    const auto encoded = encode_siginfo(info);
    std::memcpy(&frame.info, encoded.data(), sizeof frame.info);
    if (!as_->copy_to_user(fpstate, fx.data(), fx.size()) || !as_->copy_to_user(sp, &frame, sizeof frame))
        return false;

    // The handler runs with sa_mask and (unless SA_NODEFER) the signal itself blocked.
    signals_.blocked |= action.mask;
    if (!(action.flags & sa::kNoDefer)) signals_.blocked |= sig_bit(info.signo);
    signals_.blocked &= ~kUnblockable;
    const std::uint64_t handler = action.handler;
    if (action.flags & sa::kResetHand) signals_.action(info.signo) = SigAction{};

    cpu_.set_reg(UC_X86_REG_RSP, sp);
    cpu_.set_reg(UC_X86_REG_RDI, static_cast<std::uint64_t>(info.signo));
    cpu_.set_reg(UC_X86_REG_RSI, sp + offsetof(RtSigframe, info));
    cpu_.set_reg(UC_X86_REG_RDX, sp + offsetof(RtSigframe, uc));
    cpu_.set_reg(UC_X86_REG_RAX, 0);
    cpu_.set_reg(UC_X86_REG_EFLAGS, cpu_.reg(UC_X86_REG_EFLAGS) & ~std::uint64_t{0x400 | 0x100});
    cpu_.set_reg(UC_X86_REG_RIP, handler);
    // The handler starts from Linux's initial FPU/SSE state (fpu__clear_user_states); the
    // interrupted one is in the frame and comes back on rt_sigreturn.
    reset_fpu(cpu_);
    redirect_ = handler;
    return true;
}

// rt_sigreturn: the restorer runs with rsp just past pretcode, i.e. at the ucontext.
bool restore_sigframe(Process& p) {
    const std::uint64_t uc_addr = p.cpu().reg(UC_X86_REG_RSP);
    KernelUcontext uc{};
    if (!p.as().copy_from_user(&uc, uc_addr, sizeof uc)) return false;
    const KernelSigcontext& sc = uc.mcontext;
    // The FPU/SSE image first: a frame rt_sigreturn refuses changes no register.
    SigFpuImage fx{};
    if (sc.fpstate && !p.as().copy_from_user(fx.data(), sc.fpstate, fx.size())) return false;
    if (sc.fpstate && !load_fpu_image(p.cpu(), fx)) return false;
    if (!sc.fpstate) reset_fpu(p.cpu());  // no fpstate: the initial state (fpu__restore_sig)
    const std::uint64_t eflags = p.cpu().reg(UC_X86_REG_EFLAGS);
    for (const RegMap& r : kRegs) p.cpu().set_reg(r.id, sc.*r.field);
    // Only the user-visible flags come back; IF and the rest stay as they are.
    p.cpu().set_reg(UC_X86_REG_EFLAGS, (eflags & ~kFixEflags) | (sc.eflags & kFixEflags));
    p.signals().blocked = uc.sigmask & ~kUnblockable;
    p.redirect(sc.rip);
    return true;
}

}  // namespace emu
