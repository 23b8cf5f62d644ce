// The CPU state as Linux sets it, on a real Unicorn engine: the exec state, the signal frame's
// FPU/SSE image and how rt_sigreturn reads back an image a handler edited (or broke).
#include <gtest/gtest.h>

#include <cstring>

#include "machine/cpu_state.hpp"

namespace emu {
namespace {

constexpr std::size_t kSwBytes = 464, kMxcsr = 24, kXmm = 160, kHeader = 512, kMagic2 = 576;

std::uint32_t u32_at(const SigFpuImage& image, std::size_t offset) {
    std::uint32_t v;
    std::memcpy(&v, image.data() + offset, sizeof v);
    return v;
}

void put_u32(SigFpuImage& image, std::size_t offset, std::uint32_t v) {
    std::memcpy(image.data() + offset, &v, sizeof v);
}

void put_u64(SigFpuImage& image, std::size_t offset, std::uint64_t v) {
    std::memcpy(image.data() + offset, &v, sizeof v);
}

Xmm pattern(std::uint8_t seed) {
    Xmm x;
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::uint8_t>(seed + i);
    return x;
}

// A Unicorn engine starts with FCW 0 (single precision) and MXCSR 0: exec must not.
TEST(CpuState, ExecStateIsLinuxs) {
    Cpu cpu;
    cpu.set_reg(UC_X86_REG_RDX, 7);
    set_exec_state(cpu);
    EXPECT_EQ(cpu.reg(UC_X86_REG_FPCW), 0x37fu);
    EXPECT_EQ(cpu.reg(UC_X86_REG_FPSW), 0u);
    EXPECT_EQ(cpu.reg(UC_X86_REG_FPTAG), 0xffffu);
    EXPECT_EQ(cpu.reg(UC_X86_REG_MXCSR), 0x1f80u);
    EXPECT_EQ(cpu.reg(UC_X86_REG_EFLAGS), 0x202u);
    EXPECT_EQ(cpu.reg(UC_X86_REG_CS), 0x33u);
    EXPECT_EQ(cpu.reg(UC_X86_REG_SS), 0x2bu);
    EXPECT_EQ(cpu.reg(UC_X86_REG_RDX), 0u);
}

// The image carries Linux's software bytes and magic numbers, and round-trips the state.
TEST(CpuState, ImageRoundTrips) {
    Cpu cpu;
    set_exec_state(cpu);
    cpu.set_reg(UC_X86_REG_MXCSR, 0x7f80);
    cpu.set_reg(UC_X86_REG_FPCW, 0x27f);
    cpu.set_xmm(5, pattern(1));
    const Fp80 one = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
    cpu.set_reg(UC_X86_REG_FPSW, 0x3800);  // TOP = 7: ST(0) is R7, as after one fld
    cpu.set_st(0, one);
    cpu.set_reg(UC_X86_REG_FPTAG, 0x3fff);
    const SigFpuImage image = save_fpu_image(cpu);
    EXPECT_EQ(image[4], 0x80);  // abridged tag: R7 in use
    EXPECT_EQ(u32_at(image, kSwBytes), 0x46505853u);
    EXPECT_EQ(u32_at(image, kSwBytes + 4), kSigFpuBytes);  // extended_size
    EXPECT_EQ(u32_at(image, kSwBytes + 16), 576u);         // xstate_size
    EXPECT_EQ(u32_at(image, kMagic2), 0x46505845u);
    EXPECT_EQ(u32_at(image, kMxcsr), 0x7f80u);
    reset_fpu(cpu);
    ASSERT_TRUE(load_fpu_image(cpu, image));
    EXPECT_EQ(cpu.reg(UC_X86_REG_MXCSR), 0x7f80u);
    EXPECT_EQ(cpu.reg(UC_X86_REG_FPCW), 0x27fu);
    EXPECT_EQ(cpu.xmm(5), pattern(1));
    EXPECT_EQ(cpu.reg(UC_X86_REG_FPSW), 0x3800u);
    EXPECT_EQ(cpu.st(0), one);
    EXPECT_EQ(cpu.reg(UC_X86_REG_FPTAG) >> 14, 0u);  // R7 valid again
}

// xstate_bv without SSE: XRSTOR gives the XMM registers their initial state, MXCSR still loads.
TEST(CpuState, ClearedXstateBvInitialisesXmm) {
    Cpu cpu;
    set_exec_state(cpu);
    cpu.set_xmm(2, pattern(9));
    SigFpuImage image = save_fpu_image(cpu);
    put_u64(image, kHeader, 0x1);
    put_u32(image, kMxcsr, 0x3f80);
    ASSERT_TRUE(load_fpu_image(cpu, image));
    EXPECT_EQ(cpu.xmm(2), Xmm{});
    EXPECT_EQ(cpu.reg(UC_X86_REG_MXCSR), 0x3f80u);
}

// Without FP_XSTATE_MAGIC1 the image is plain FXSAVE: all of it loads, the header is ignored.
TEST(CpuState, NoMagicMeansFxsaveOnly) {
    Cpu cpu;
    set_exec_state(cpu);
    cpu.set_xmm(2, pattern(3));
    SigFpuImage image = save_fpu_image(cpu);
    put_u32(image, kSwBytes, 0);
    put_u64(image, kHeader, 0);
    std::memcpy(image.data() + kXmm + 16 * 2, pattern(4).data(), 16);
    ASSERT_TRUE(load_fpu_image(cpu, image));
    EXPECT_EQ(cpu.xmm(2), pattern(4));
}

// What XRSTOR/FXRSTOR fault on makes rt_sigreturn fail, and changes nothing.
TEST(CpuState, RefusedImagesChangeNothing) {
    Cpu cpu;
    set_exec_state(cpu);
    SigFpuImage reserved_mxcsr = save_fpu_image(cpu);
    put_u32(reserved_mxcsr, kMxcsr, 0x11f80);
    SigFpuImage compacted = save_fpu_image(cpu);
    put_u64(compacted, kHeader + 8, 1ull << 63 | 3);
    SigFpuImage avx = save_fpu_image(cpu);
    put_u64(avx, kHeader, 0x7);
    cpu.set_reg(UC_X86_REG_FPCW, 0x7f);
    for (const SigFpuImage& image : {reserved_mxcsr, compacted, avx}) {
        EXPECT_FALSE(load_fpu_image(cpu, image));
        EXPECT_EQ(cpu.reg(UC_X86_REG_FPCW), 0x7fu);
    }
}

}  // namespace
}  // namespace emu
