#include "journal/internal/chain_hasher.h"

#include "journal/codec.h"

#include <system_error>

namespace fj::detail {

ChainHasher::~ChainHasher() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

std::uint64_t ChainHasher::submit(std::vector<ChainStep>& batch, bool more_follow) {
  if (!worker_.joinable() && !inline_ && more_follow) {
    try {
      worker_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      inline_ = true;
    }
  }
  if (!worker_.joinable()) {
    hash(batch);
    hashed_ = ++submitted_;
    return submitted_;
  }
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(&batch);
    ticket = ++submitted_;
  }
  changed_.notify_all();
  return ticket;
}

void ChainHasher::wait(std::uint64_t ticket) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return hashed_ >= ticket || failed_; });
  if (failed_) std::rethrow_exception(failed_);
}

void ChainHasher::hash(std::vector<ChainStep>& batch) {
  for (ChainStep& s : batch) {
    if (!s.chained) continue;
    chain_ = chain_next(chain_, s.seq, s.record);
    if (s.seq % kChainCheckpointEvery == 0) {
      if (!s.stored) {
        s.check = CheckpointCheck::missing;
      } else if (*s.stored != chain_) {
        s.check = CheckpointCheck::mismatch;
        chain_ = *s.stored;
      } else {
        s.check = CheckpointCheck::good;
      }
    }
    s.chain = chain_;
    if (decode_) s.decoded = decode_into(s.seq, s.record, s.event);
  }
}

void ChainHasher::run() {
  for (;;) {
    std::vector<ChainStep>* batch = nullptr;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      batch = queue_.front();
      queue_.pop_front();
    }
    bool hashed = true;
    try {
      hash(*batch);
    } catch (...) {  // std::bad_alloc from a decode error's message
      hashed = false;
      std::lock_guard lock(mutex_);
      failed_ = std::current_exception();
    }
    if (hashed) {
      std::lock_guard lock(mutex_);
      ++hashed_;
    }
    changed_.notify_all();
    if (!hashed) return;
  }
}

}  // namespace fj::detail
