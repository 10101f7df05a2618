// forkjournal-microbench: Google Benchmark micro-benchmarks of the pieces a
// replay and a write are made of: encode, decode+checksum, evolve, decide.
//
// The evolve benchmarks run a steady state that never ends: K templates and
// L live forks out of a pool of 2L fork ids; step i adds fork i and removes
// fork i - L (mod 2L), so every event is valid and the live set stays at L.
#include "bench/workload.h"
#include "journal/codec.h"
#include "journal/internal/crc32c.h"
#include "projector/decide.h"
#include "projector/projection.h"

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

namespace {

using namespace fj;

constexpr std::uint64_t kTimeNs = 1'764'000'000'000'000'000ull;
constexpr std::size_t kTemplates = 100;

// The steady-state fixture described at the top of the file.
class SteadyState {
 public:
  explicit SteadyState(std::size_t live) : live_(live) {
    std::mt19937_64 rng(7);
    for (std::size_t t = 0; t < kTemplates; ++t) {
      templates_.push_back(bench::make_id("tpl", rng));
      sources_.push_back(bench::make_id("src", rng));
    }
    for (std::size_t f = 0; f < 2 * live; ++f) forks_.push_back(bench::make_id("frk", rng));
    for (std::size_t t = 0; t < kTemplates; ++t) {
      EventView e = base(EventType::template_registered, t);
      e.source = sources_[t];
      e.name = "standby";
      state_.apply(++seq_, e);
    }
    for (std::size_t f = 0; f < live; ++f)
      state_.apply(++seq_, fork_event(EventType::fork_added, f));
    for (std::size_t i = live; i < 3 * live; ++i) {
      cycle_.push_back(fork_event(EventType::fork_added, i % (2 * live)));
      cycle_.push_back(fork_event(EventType::fork_removed, (i - live) % (2 * live)));
    }
  }

  Projection& state() { return state_; }
  std::uint64_t next_seq() { return ++seq_; }
  const std::vector<EventView>& cycle() const { return cycle_; }
  EventView fork_event(EventType type, std::size_t f) const {
    EventView e = base(type, f % kTemplates);
    e.fork = forks_[f];
    return e;
  }
  const std::string& template_of(std::size_t f) const { return templates_[f % kTemplates]; }
  const std::string& fork(std::size_t f) const { return forks_[f]; }
  std::size_t live() const { return live_; }

 private:
  EventView base(EventType type, std::size_t t) const {
    EventView e;
    e.type = type;
    e.origin = Origin::api;
    e.time_ns = kTimeNs;
    e.template_id = templates_[t];
    return e;
  }

  std::size_t live_;
  std::vector<std::string> templates_, sources_, forks_;
  std::vector<EventView> cycle_;  // 2 events per step, 2L steps: one full turn of the pool
  Projection state_;
  std::uint64_t seq_ = 0;
};

EventView sample_fork_added() {
  static const SteadyState s(1);
  return s.fork_event(EventType::fork_added, 0);
}

void BM_Encode(benchmark::State& st) {
  const EventView e = sample_fork_added();
  std::string out;
  for (auto _ : st) {
    out.clear();
    encode(e, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetLabel(std::to_string(out.size()) + "-byte fork_added");
}
BENCHMARK(BM_Encode);

void BM_Crc32c(benchmark::State& st) {
  const std::string record = encode(sample_fork_added());
  for (auto _ : st) benchmark::DoNotOptimize(crc32c(record.data(), record.size() - 4));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * (record.size() - 4)));
}
BENCHMARK(BM_Crc32c);

void BM_DecodeChecksum(benchmark::State& st) {
  const std::string record = encode(sample_fork_added());
  std::uint64_t seq = 0;
  for (auto _ : st) {
    auto e = decode(++seq, record);
    benchmark::DoNotOptimize(e);
  }
  st.SetLabel(std::to_string(record.size()) + "-byte fork_added");
}
BENCHMARK(BM_DecodeChecksum);

// evolve alone, on a steady state of Arg(0) live forks.
void BM_Evolve(benchmark::State& st) {
  SteadyState s(static_cast<std::size_t>(st.range(0)));
  const auto& cycle = s.cycle();
  std::size_t i = 0;
  for (auto _ : st) {
    s.state().apply(s.next_seq(), cycle[i]);
    if (++i == cycle.size()) i = 0;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}
BENCHMARK(BM_Evolve)->Arg(100)->Arg(10'000)->Arg(100'000);

// decode + checksum + evolve over encoded records held in memory: a replay
// without LMDB.
void BM_DecodeEvolve(benchmark::State& st) {
  SteadyState s(static_cast<std::size_t>(st.range(0)));
  std::vector<std::string> records;
  for (const EventView& e : s.cycle()) records.push_back(encode(e));
  std::size_t i = 0;
  for (auto _ : st) {
    const std::uint64_t seq = s.next_seq();
    auto e = decode(seq, records[i]);
    if (!e) {
      st.SkipWithError("decode failed");
      break;
    }
    s.state().apply(seq, *e);
    if (++i == records.size()) i = 0;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}
BENCHMARK(BM_DecodeEvolve)->Arg(10'000);

// decide on a steady state of 10,000 live forks: a fork of a new instance.
void BM_DecideFork(benchmark::State& st) {
  SteadyState s(10'000);
  const Command fork = AddFork{s.template_of(s.live()), s.fork(s.live())};
  for (auto _ : st) {
    auto d = decide(s.state(), fork, Origin::api, kTimeNs);
    if (!d) {
      st.SkipWithError(d.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideFork);

// decide: an unfork of a live fork.
void BM_DecideUnfork(benchmark::State& st) {
  SteadyState s(10'000);
  const Command unfork = RemoveFork{s.template_of(0), s.fork(0)};
  for (auto _ : st) {
    auto d = decide(s.state(), unfork, Origin::api, kTimeNs);
    if (!d) {
      st.SkipWithError(d.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideUnfork);

}  // namespace

BENCHMARK_MAIN();
