// The user CPU state as Linux sets it: at exec (start_thread, fpu_flush_thread), when a signal
// handler starts (fpu__clear_user_states), and the FPU/SSE image of a signal frame
// (arch/x86/kernel/fpu/signal.c) that rt_sigreturn loads back.
#pragma once

#include <array>
#include <cstdint>

#include "cpu/cpu.hpp"

namespace emu {

// At exec: general registers zero (rsp and rip are the loader's), RFLAGS.IF, cs 0x33 / ss 0x2b
// and null data segments with zero bases, Linux's initial FPU state.
void set_exec_state(Cpu& cpu);

// Linux's init_fpstate: FCW 0x037F, FSW 0, empty x87 stack, MXCSR 0x1F80, vector registers zero.
void reset_fpu(Cpu& cpu);

// The signal frame's FPU area in XSAVE format, as Linux writes it on a CPU whose CPUID has
// XSAVE and OSXSAVE (Unicorn's does, with XCR0 = x87|SSE): the 512-byte FXSAVE image with
// struct _fpx_sw_bytes in its software bytes, the XSAVE header, FP_XSTATE_MAGIC2 after it.
inline constexpr std::uint64_t kSigFpuAlign = 64;
inline constexpr std::size_t kSigFpuBytes = 512 + 64 + 4;
using SigFpuImage = std::array<std::uint8_t, kSigFpuBytes>;

SigFpuImage save_fpu_image(const Cpu& cpu);

// Loads an image that a handler may have edited. False where Linux's XRSTOR/FXRSTOR would fault
// and rt_sigreturn fail (reserved MXCSR bits, an XSAVE header the CPU refuses).
bool load_fpu_image(Cpu& cpu, const SigFpuImage& image);

}  // namespace emu
