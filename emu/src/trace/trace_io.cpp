#include "trace/trace_io.hpp"

#include <sys/stat.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

namespace emu {

namespace {
constexpr std::size_t kReadChunk = 1 << 16;
bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

TraceWriter::TraceWriter(const std::string& path)
    : buffer_(kBufferBytes), compressed_(ends_with(path, ".zst")) {
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) throw TraceError(path + ": cannot create trace file: " + std::strerror(errno));
    if (compressed_) {
        zstd_ = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(static_cast<ZSTD_CCtx*>(zstd_), ZSTD_c_compressionLevel, 6);
        ZSTD_CCtx_setParameter(static_cast<ZSTD_CCtx*>(zstd_), ZSTD_c_checksumFlag, 1);
        out_.resize(ZSTD_CStreamOutSize());
    }
    writer_ = std::thread([this] { writing_loop(); });
}

TraceWriter::~TraceWriter() { close(); }

// A chunk ends once a line takes it to kChunk bytes or more.
void TraceWriter::line(std::string_view text) {
    char* out = begin_line(text.size());
    std::memcpy(out, text.data(), text.size());
    end_line(out + text.size());
}

void TraceWriter::end_chunk() {
    chunk_ends_.push_back(used_);
    if (chunk_ends_.size() > kChunksPerBatch) hand_over(false);
}

void TraceWriter::hand_over(bool last) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return queue_.size() < kBatchesInFlight; });
    queue_.push_back(Batch{std::move(buffer_), std::move(chunk_ends_), used_, last});
    if (spare_.empty()) {
        buffer_.assign(kBufferBytes, '\0');
    } else {
        buffer_ = std::move(spare_.back());
        spare_.pop_back();
    }
    used_ = 0;
    chunk_ends_.assign(1, 0);
    changed_.notify_all();
}

void TraceWriter::writing_loop() {
    for (;;) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !queue_.empty(); });
        Batch batch = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        write_out(batch);
        lock.lock();
        spare_.push_back(std::move(batch.bytes));
        changed_.notify_all();
        if (batch.last) return;
    }
}

void TraceWriter::write_out(const Batch& batch) {
    if (!compressed_) {
        std::fwrite(batch.bytes.data(), 1, batch.used, file_);
        return;
    }
    const auto& ends = batch.chunk_ends;
    for (std::size_t i = 0; i + 1 < ends.size(); ++i)
        compress(batch.bytes.data() + ends[i], ends[i + 1] - ends[i], false);
    if (batch.last) compress(batch.bytes.data() + ends.back(), batch.used - ends.back(), true);
}

void TraceWriter::compress(const char* bytes, std::size_t size, bool end) {
    ZSTD_inBuffer in{bytes, size, 0};
    const ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
    std::size_t remaining;
    do {
        ZSTD_outBuffer out{out_.data(), out_.size(), 0};
        remaining = ZSTD_compressStream2(static_cast<ZSTD_CCtx*>(zstd_), &out, &in, mode);
        if (ZSTD_isError(remaining)) break;
        std::fwrite(out_.data(), 1, out.pos, file_);
    } while (end ? remaining != 0 : in.pos < in.size);
}

void TraceWriter::close() {
    if (!writer_.joinable()) return;
    hand_over(true);
    writer_.join();
    std::fclose(file_);
    file_ = nullptr;
    if (zstd_) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(zstd_));
    zstd_ = nullptr;
}

TraceReader::TraceReader(const std::string& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) throw TraceError(path + ": cannot open trace file: " + std::strerror(errno));
    struct stat st;
    if (::fstat(::fileno(file_), &st) == 0 && S_ISDIR(st.st_mode)) {
        std::fclose(file_);
        file_ = nullptr;
        throw TraceError(path + ": is a directory, not a trace file");
    }
    in_.resize(kReadChunk);
    in_size_ = std::fread(in_.data(), 1, in_.size(), file_);
    // zstd frames start with the magic number 0xFD2FB528 (little-endian).
    static const unsigned char magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    compressed_ = in_size_ >= 4 && std::memcmp(in_.data(), magic, 4) == 0;
    if (compressed_) zstd_ = ZSTD_createDCtx();
}

TraceReader::~TraceReader() {
    if (file_) std::fclose(file_);
    if (zstd_) ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(zstd_));
}

// Appends more decoded text to pending_; false when the input is exhausted.
bool TraceReader::fill() {
    if (pending_pos_ > 0) {
        pending_.erase(0, pending_pos_);
        pending_pos_ = 0;
    }
    while (true) {
        if (in_pos_ == in_size_) {
            if (eof_) return false;
            in_size_ = std::fread(in_.data(), 1, in_.size(), file_);
            in_pos_ = 0;
            if (in_size_ == 0) {
                eof_ = true;
                if (compressed_ && frame_open_)
                    throw TraceError(path_ + ":" + std::to_string(line_number_ + 1) +
                                     ": truncated compressed trace (the zstd frame does not end)");
                return false;
            }
        }
        if (!compressed_) {
            pending_.append(in_.data() + in_pos_, in_size_ - in_pos_);
            in_pos_ = in_size_;
            return true;
        }
        char out[kReadChunk];
        ZSTD_inBuffer in{in_.data(), in_size_, in_pos_};
        ZSTD_outBuffer o{out, sizeof out, 0};
        const std::size_t r = ZSTD_decompressStream(static_cast<ZSTD_DCtx*>(zstd_), &o, &in);
        if (ZSTD_isError(r))
            throw TraceError(path_ + ":" + std::to_string(line_number_ + 1) +
                             ": corrupt compressed trace (" + ZSTD_getErrorName(r) + ")");
        frame_open_ = r != 0;
        in_pos_ = in.pos;
        pending_.append(out, o.pos);
        if (o.pos > 0) return true;
    }
}

bool TraceReader::next(std::string& line) {
    while (true) {
        const std::size_t nl = pending_.find('\n', pending_pos_);
        if (nl != std::string::npos) {
            line.assign(pending_, pending_pos_, nl - pending_pos_);
            pending_pos_ = nl + 1;
            ++line_number_;
            return true;
        }
        if (pending_.size() - pending_pos_ > (1u << 20))
            throw TraceError(path_ + ":" + std::to_string(line_number_ + 1) + ": line longer than 1 MiB");
        if (!fill()) {
            if (pending_pos_ < pending_.size()) {  // a last line without '\n'
                line.assign(pending_, pending_pos_, std::string::npos);
                pending_pos_ = pending_.size();
                ++line_number_;
                return true;
            }
            return false;
        }
    }
}

}  // namespace emu
