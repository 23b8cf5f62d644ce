// mmuemu: the command line.
//   mmuemu run [options] PROGRAM [ARGS...]
#include <arpa/inet.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "machine/process.hpp"
#include "trace/trace_io.hpp"
#include "trace/trace_replay.hpp"

namespace po = boost::program_options;

namespace {

constexpr const char* kVersion = "mmuemu 0.1.0";

// "512M", "1G", "65536" -> bytes; throws std::invalid_argument naming the value.
std::uint64_t parse_size(const std::string& text) {
    std::size_t used = 0;
    unsigned long long n = 0;
    try {
        n = std::stoull(text, &used);
    } catch (...) {
        throw std::invalid_argument("--ram: '" + text + "' is not a size (e.g. 512M, 2G)");
    }
    std::string suffix = text.substr(used);
    for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::uint64_t scale = 1;
    if (suffix == "K" || suffix == "KB" || suffix == "KIB") scale = 1ull << 10;
    else if (suffix == "M" || suffix == "MB" || suffix == "MIB") scale = 1ull << 20;
    else if (suffix == "G" || suffix == "GB" || suffix == "GIB") scale = 1ull << 30;
    else if (!suffix.empty()) throw std::invalid_argument("--ram: unknown unit in '" + text + "'");
    if (n > (64ull << 30) / scale)
        throw std::invalid_argument("--ram: '" + text + "' must be between 1M and 64G");
    const std::uint64_t bytes = n * scale;
    if (bytes < (1ull << 20) || bytes > (64ull << 30))
        throw std::invalid_argument("--ram: '" + text + "' must be between 1M and 64G");
    return bytes;
}

// A TCP port: 1 to 65535, digits only.
int parse_port(const char* flag, const std::string& text) {
    if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
        throw std::invalid_argument(std::string(flag) + ": '" + text + "' is not a port (1-65535)");
    const int port = std::stoi(text);
    if (port < 1 || port > 65535)
        throw std::invalid_argument(std::string(flag) + ": port " + text + " is out of range (1-65535)");
    return port;
}

// An IPv4 or IPv6 address (IPv6 may be written in brackets: [::1]).
std::string parse_listen_address(const char* flag, std::string text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    in6_addr v6;
    in_addr v4;
    if (::inet_pton(AF_INET, text.c_str(), &v4) != 1 && ::inet_pton(AF_INET6, text.c_str(), &v6) != 1)
        throw std::invalid_argument(std::string(flag) + ": '" + text + "' is not an IPv4 or IPv6 address");
    return text;
}

bool is_loopback(const std::string& address) {
    in_addr v4;
    if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    return address == "::1";
}

void usage(std::ostream& out, const po::options_description& opts) {
    out << "usage: mmuemu run [options] PROGRAM [ARGS...]\n"
           "       mmuemu replay TRACE          replay a trace against the MMU and check every outcome\n"
           "       mmuemu trace diff A B        the first semantic difference between two traces\n"
           "       mmuemu trace stats TRACE     event, fault and flush counts, peak RSS and VMA count\n"
           "       mmuemu --help | --version\n\n"
           "Runs an x86-64 Linux executable with every memory access through mmuemu's MMU.\n\n"
        << opts;
}

// Text for roff: a leading dot or quote would be a request, a backslash an escape, a '-' a hyphen.
std::string roff(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\\') out += "\\e";
        else if (c == '-') out += "\\-";
        else out += c;
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out;
}

// The manual page, written from the same option descriptions as --help.
void man_page(std::ostream& out, const po::options_description& opts) {
    out << ".TH MMUEMU 1 \"\" \"" << kVersion << "\" \"User Commands\"\n"
        << ".SH NAME\nmmuemu \\- x86\\-64 Linux programs under an emulated MMU with guard regions\n"
        << ".SH SYNOPSIS\n.B mmuemu run\n[\\fIoptions\\fR] \\fIPROGRAM\\fR [\\fIARGS\\fR...]\n.br\n"
        << ".B mmuemu replay\n[\\fB\\-\\-ram\\fR \\fISIZE\\fR] \\fITRACE\\fR\n.br\n"
        << ".B mmuemu trace diff\n\\fIA B\\fR\n.br\n.B mmuemu trace stats\n\\fITRACE\\fR\n"
        << ".SH DESCRIPTION\nRuns an x86\\-64 Linux executable (static or dynamic) with every memory "
           "access through mmuemu's MMU: its own page table, VMAs, page\\-fault handler and TLB model, "
           "with Linux's guard regions (MADV_GUARD_INSTALL, MADV_GUARD_REMOVE). Traces of memory events "
           "can be recorded, replayed against the MMU without a CPU, and compared.\n"
        << ".SH OPTIONS\n";
    for (const auto& option : opts.options()) {
        out << ".TP\n.B " << roff(option->format_name());
        const std::string parameter = option->format_parameter();
        if (!parameter.empty()) out << " " << roff(parameter);
        out << "\n" << roff(option->description()) << "\n";
    }
    out << ".SH EXIT STATUS\nThe guest's exit status; a guest killed by a signal kills mmuemu with the "
           "same signal. 2: a command\\-line or input error; 70: an MMU coherence violation "
           "(\\fB\\-\\-check\\fR); 126 and 127: the program cannot be executed or found.\n"
        << ".SH SEE ALSO\n.BR madvise (2),\n.BR proc (5),\n.BR strace (1),\n.BR qemu\\-x86_64 (1)\n";
}

// Everything after PROGRAM belongs to the guest: splits argv into mmuemu's part and the guest's
// command line (PROGRAM and its arguments) before Boost parses mmuemu's part.
struct SplitCommandLine {
    std::vector<std::string> own;
    std::vector<std::string> guest;
};

SplitCommandLine split_command_line(int argc, char** argv) {
    static const std::vector<std::string> with_value = {"--ram", "--root", "--env", "--max-insns",
                                                        "--gdb", "--gdb-listen", "--trace", "--cpus",
                                                        "--sched-seed"};
    SplitCommandLine out;
    bool seen_command = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (seen_command && arg == "--") {
            for (++i; i < argc; ++i) out.guest.emplace_back(argv[i]);
            break;
        }
        if (!arg.empty() && arg[0] == '-') {
            out.own.push_back(arg);
            const bool needs_value = std::find(with_value.begin(), with_value.end(), arg) != with_value.end();
            if (needs_value && i + 1 < argc) out.own.emplace_back(argv[++i]);
            continue;
        }
        if (!seen_command) {
            out.own.push_back(arg);
            seen_command = true;
            continue;
        }
        for (; i < argc; ++i) out.guest.emplace_back(argv[i]);
    }
    return out;
}

// Ends the emulator the way the guest ended, so that a shell (or a parent's wait4) sees the
// same status: an exit code, or death by the same signal (without a host core dump).
[[noreturn]] void finish(int status, int signal_number) {
    std::fflush(nullptr);
    if (signal_number != 0) {
        const struct rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        ::signal(signal_number, SIG_DFL);
        ::raise(signal_number);
    }
    std::exit(status);
}

}  // namespace

int main(int argc, char** argv) {
    po::options_description opts("run options");
    opts.add_options()
        ("help,h", "show this help")
        ("version", "print the version")
        ("check", po::value<std::string>()->implicit_value("shadow")->value_name("MODE"),
         "MMU coherence checking: after every system call, page fault and signal, every translation "
         "a CPU's TLB may hold must still be the page table's or have been flushed, and no CPU may "
         "keep code it translated from memory the emulator wrote since "
         "(--check or --check=shadow: costs little); --check=accesses verifies every instruction "
         "fetch and data access as it happens, and the MMU's invariants after every address-space "
         "operation (slow: 3-60x)")
        ("ram", po::value<std::string>()->default_value("1G"),
         "guest RAM size (e.g. 512M, 2G); for replay and trace stats, the RAM a trace may use")
        ("root", po::value<std::string>()->default_value("/"), "directory the guest sees as /")
        ("host-devices", "let the guest open any host device node (default: only null, zero, full, "
                         "random, urandom, tty and the terminals of mmuemu's standard streams)")
        ("env", po::value<std::vector<std::string>>()->composing(), "set K=V in the guest environment")
        ("clear-env", "start the guest with an empty environment")
        ("max-insns", po::value<std::uint64_t>()->default_value(0), "stop after N instructions (0: no limit)")
        ("stats", "print MMU and TLB counters, VMA count and RSS at exit")
        ("strace", "print each system call with its decoded arguments and result on stderr, as strace does")
        ("cpus", po::value<unsigned>()->default_value(1), "virtual CPUs (1-64), each with its own TLB")
        ("sched-seed", po::value<std::uint64_t>()->default_value(0),
         "vary the scheduler's time slices with this seed (0: fixed slices)")
        ("gdb", po::value<std::string>(), "wait for gdb on 127.0.0.1:PORT before the first instruction")
        ("gdb-listen", po::value<std::string>(), "like --gdb, on ADDR:PORT")
        ("gdb-wait", "when the debugger disconnects, wait for another instead of killing the guest")
        ("trace", po::value<std::string>(), "record an MMU trace to FILE (FILE.zst: compressed)")
        ("trace-accesses", "with --trace: record every memory access too (slow)")
        ("trace-fills", "with --trace: record Unicorn's TLB fills too (their timing varies between runs)");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())("man", "print the manual page (roff)")(
        "inject-missing-tlb-flush", "(testing) never mirror the MMU's flushes onto Unicorn, to prove --check catches it")(
        "inject-missing-shootdown", "(testing) flush only the CPU that changed a mapping")(
        "inject-missing-code-flush", "(testing) never drop translated code after the emulator writes guest memory");
    po::options_description all;
    all.add(opts).add(hidden);
    po::positional_options_description positional;
    positional.add("command", 1);

    const SplitCommandLine split = split_command_line(argc, argv);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(split.own)
                      .options(all)
                      .positional(positional)
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run(),
                  vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::fprintf(stderr, "mmuemu: %s\n", e.what());
        return 2;
    }
    if (vm.count("help")) {
        usage(std::cout, opts);
        return 0;
    }
    if (vm.count("man")) {
        man_page(std::cout, opts);
        return 0;
    }
    if (vm.count("version")) {
        std::cout << kVersion << "\n";
        return 0;
    }
    if (!vm.count("command")) {
        usage(std::cerr, opts);
        return 2;
    }
    const std::string command = vm["command"].as<std::string>();
    if (command == "replay" || command == "trace") {
        // The words after the command; `--ram SIZE` may also come after `stats` or the trace.
        std::vector<std::string> g;
        std::string ram_text = vm["ram"].as<std::string>();
        for (std::size_t i = 0; i < split.guest.size(); ++i) {
            const std::string& word = split.guest[i];
            if (word == "--ram" && i + 1 < split.guest.size()) ram_text = split.guest[++i];
            else if (word.rfind("--ram=", 0) == 0) ram_text = word.substr(6);
            else g.push_back(word);
        }
        std::uint64_t ram = 0;
        try {
            ram = parse_size(ram_text);
        } catch (const std::invalid_argument& e) {
            std::fprintf(stderr, "mmuemu: %s\n", e.what());
            return 2;
        }
        if (command == "replay" && g.size() == 1) return emu::replay_trace(g[0], ram);
        if (command == "trace" && g.size() == 3 && g[0] == "diff") return emu::diff_traces(g[1], g[2]);
        if (command == "trace" && g.size() == 2 && g[0] == "stats") return emu::trace_stats(g[1], ram);
        std::fprintf(stderr, "mmuemu: usage: mmuemu replay [--ram SIZE] TRACE | mmuemu trace diff A B | "
                             "mmuemu trace stats [--ram SIZE] TRACE\n");
        return 2;
    }
    if (command != "run") {
        std::fprintf(stderr, "mmuemu: unknown command '%s' (expected: run)\n",
                     vm["command"].as<std::string>().c_str());
        return 2;
    }
    if (split.guest.empty()) {
        std::fprintf(stderr, "mmuemu: run: missing PROGRAM\n");
        return 2;
    }

    emu::RunOptions options;
    std::vector<std::string> envp;
    try {
        options.ram_bytes = parse_size(vm["ram"].as<std::string>());
        if (vm.count("check")) {
            const std::string mode = vm["check"].as<std::string>();
            if (mode == "shadow") options.check = emu::CheckMode::Shadow;
            else if (mode == "accesses") options.check = emu::CheckMode::Accesses;
            else throw std::invalid_argument("--check: '" + mode + "' is not a mode (shadow, accesses)");
        }
        options.stats = vm.count("stats");
        options.skip_tlb_flush = vm.count("inject-missing-tlb-flush");
        options.skip_shootdown = vm.count("inject-missing-shootdown");
        options.skip_code_flush = vm.count("inject-missing-code-flush");
        options.cpus = vm["cpus"].as<unsigned>();
        if (options.cpus < 1 || options.cpus > 64)
            throw std::invalid_argument("--cpus: must be between 1 and 64");
        options.sched_seed = vm["sched-seed"].as<std::uint64_t>();
        if (vm.count("trace")) options.trace_path = vm["trace"].as<std::string>();
        options.trace_accesses = vm.count("trace-accesses");
        options.trace_fills = vm.count("trace-fills");
        if (options.trace_accesses && options.trace_path.empty())
            throw std::invalid_argument("--trace-accesses needs --trace FILE");
        if (vm.count("gdb") || vm.count("gdb-listen")) {
            emu::GdbOptions gdb;
            if (vm.count("gdb-listen")) {
                const std::string spec = vm["gdb-listen"].as<std::string>();
                const auto colon = spec.rfind(':');
                if (colon == std::string::npos)
                    throw std::invalid_argument("--gdb-listen: '" + spec + "' is not ADDR:PORT");
                gdb.listen_address = parse_listen_address("--gdb-listen", spec.substr(0, colon));
                gdb.port = parse_port("--gdb-listen", spec.substr(colon + 1));
                if (!is_loopback(gdb.listen_address))
                    std::fprintf(stderr,
                                 "mmuemu: warning: --gdb-listen %s is not a loopback address: whoever "
                                 "connects controls the guest and everything mmuemu's user can reach\n",
                                 gdb.listen_address.c_str());
            } else {
                gdb.port = parse_port("--gdb", vm["gdb"].as<std::string>());
            }
            gdb.wait_for_reconnect = vm.count("gdb-wait");
            options.gdb = gdb;
        }
        options.root = vm["root"].as<std::string>();
        options.host_devices = vm.count("host-devices") != 0;
        options.strace = vm.count("strace") != 0;
        options.max_instructions = vm["max-insns"].as<std::uint64_t>();
        if (!vm.count("clear-env"))
            for (char** e = environ; *e; ++e) envp.emplace_back(*e);
        if (vm.count("env"))
            for (const auto& kv : vm["env"].as<std::vector<std::string>>()) {
                if (kv.find('=') == std::string::npos)
                    throw std::invalid_argument("--env: '" + kv + "' is not K=V");
                envp.push_back(kv);
            }
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "mmuemu: %s\n", e.what());
        return 2;
    }
    const std::string program = split.guest.front();
    const std::vector<std::string>& guest_argv = split.guest;

    try {
        int status = 0, killed_by = 0;
        {
            emu::Process process(options, program, guest_argv, envp);
            status = process.run();
            killed_by = process.killed_by();
        }  // the machine goes down first: dirty pages of shared file mappings reach their files
        finish(status, killed_by);
    } catch (const emu::TraceError& e) {
        std::fprintf(stderr, "mmuemu: %s\n", e.what());
        return 2;
    } catch (const emu::HostSignalExit& e) {
        std::fprintf(stderr, "mmuemu: %s while waiting for gdb\n", strsignal(e.signo));
        finish(128 + e.signo, e.signo);
    } catch (const emu::LoadError& e) {
        std::fprintf(stderr, "mmuemu: %s\n", e.what());
        return e.exit_status();
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "mmuemu: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mmuemu: internal error: %s\n", e.what());
        return 1;
    }
}
