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

std::uint64_t ChainHasher::submit(std::span<ChainStep> batch, const std::optional<ChainHash>& start,
                                  bool more_follow) {
  if (!worker_.joinable() && !inline_ && more_follow) {
    try {
      worker_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      inline_ = true;
    }
  }
  if (!worker_.joinable()) {
    hash(chain_, batch);
    next_ = first_ticket_ = ++submitted_ + 1;
    return submitted_;
  }
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{batch, start});
    ticket = ++submitted_;
  }
  changed_.notify_all();
  return ticket;
}

void ChainHasher::wait(std::uint64_t ticket) {
  std::unique_lock lock(mutex_);
  while (next_ <= ticket) {
    if (failed_) std::rethrow_exception(failed_);
    // The newest batch the worker has not reached whose start is known.
    Job* mine = nullptr;
    for (std::uint64_t t = submitted_; t > next_; --t) {
      Job& j = job(t);
      if (j.state == State::queued && j.start) {
        mine = &j;
        break;
      }
    }
    if (mine == nullptr) {
      changed_.wait(lock);
      continue;
    }
    mine->state = State::hashing;
    ChainHash chain = *mine->start;
    lock.unlock();
    hash(chain, mine->batch);
    lock.lock();
    mine->end = chain;
    mine->state = State::hashed;
    ++hashed_by_walker_;
    changed_.notify_all();  // the worker may be waiting for it
  }
  // The worker has passed them: nothing refers to their jobs any more.
  for (; first_ticket_ <= ticket; ++first_ticket_) jobs_.pop_front();
}

void ChainHasher::hash(ChainHash& chain, std::span<ChainStep> batch) const {
  for (ChainStep& s : batch) {
    if (!s.chained) continue;
    chain = chain_next(chain, s.seq, s.record);
    s.check = CheckpointCheck::none;
    if (s.seq % kChainCheckpointEvery == 0) {
      if (!s.stored) {
        s.check = CheckpointCheck::missing;
      } else if (*s.stored != chain) {
        s.check = CheckpointCheck::mismatch;
        chain = *s.stored;
      } else {
        s.check = CheckpointCheck::good;
      }
    }
    s.chain = chain;
    if (decode_) s.decoded = decode_into(s.seq, s.record, s.event);
  }
}

void ChainHasher::run() {
  for (;;) {
    Job* current = nullptr;
    {
      std::unique_lock lock(mutex_);
      // A batch the walker is hashing out of turn is waited for.
      changed_.wait(lock, [&] {
        return stop_ || (next_ <= submitted_ && job(next_).state != State::hashing);
      });
      if (stop_) return;
      current = &job(next_);
      if (current->state == State::hashed) {  // by the walker: carry on from its end
        chain_ = current->end;
        ++next_;
        lock.unlock();
        changed_.notify_all();
        continue;
      }
      current->state = State::hashing;
    }
    try {
      hash(chain_, current->batch);
    } catch (...) {  // std::bad_alloc from a decode error's message
      std::lock_guard lock(mutex_);
      failed_ = std::current_exception();
      changed_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      current->state = State::hashed;
      ++next_;
    }
    changed_.notify_all();
  }
}

}  // namespace fj::detail
