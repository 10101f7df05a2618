// fleet_stream_cost: what one forkjournal event costs in the FORKJOURNAL
// JetStream stream, and how fast a shipper-shaped publisher can fill it.
//
// It publishes messages of the stream contract's exact shape (subject
// forkjournal.events.<journal id>, headers Fj-Seq, Fj-Journal, Fj-Host,
// Fj-Chain, Nats-Msg-Id <journal id>:<seq>, a body of --record-bytes) for
// --journals journals, --events each, round-robin over the journals, then
// reads the stream's own byte count. With --expect every publish waits for its
// acknowledgement and carries ExpectLastSubjectSeq, as the shipper must (one
// message in flight per journal); without it, publishes are asynchronous, for
// the server's aggregate rate. Not part of the build: bench/fleet_stream_cost.sh
// compiles it against libnats and runs it against a scratch nats-server.
//
// Errors: any NATS error ends the run with exit 2 and the status text.
#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string url = "nats://127.0.0.1:4222";
  int journals = 100;
  int events = 100;
  int record_bytes = 66;
  int replicas = 1;
  bool expect = false;
  bool create = false;
  bool read = false;
  bool source = false;
  std::string host = "vmhost-04217.dc1.example.net";
};

[[noreturn]] void fail(const char* what, natsStatus s) {
  std::fprintf(stderr, "fleet_stream_cost: %s: %s\n", what, natsStatus_GetText(s));
  nats_PrintLastErrorStack(stderr);
  std::exit(2);
}

void check(const char* what, natsStatus s) {
  if (s != NATS_OK) fail(what, s);
}

std::string hex(std::mt19937_64& rng, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string out(static_cast<std::size_t>(digits), '0');
  for (auto& c : out) c = kHex[rng() & 15];
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fleet_stream_cost: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url")
      o.url = next();
    else if (a == "--journals")
      o.journals = std::stoi(next());
    else if (a == "--events")
      o.events = std::stoi(next());
    else if (a == "--record-bytes")
      o.record_bytes = std::stoi(next());
    else if (a == "--replicas")
      o.replicas = std::stoi(next());
    else if (a == "--host")
      o.host = next();
    else if (a == "--expect")
      o.expect = true;
    else if (a == "--create")
      o.create = true;
    else if (a == "--read")
      o.read = true;
    else if (a == "--source")
      o.source = true;
    else {
      std::fprintf(stderr,
                   "usage: fleet_stream_cost [--url URL] [--journals J] [--events E] "
                   "[--record-bytes B] [--expect] [--create [--replicas R]] [--read] [--source] "
                   "[--host NAME]\n");
      std::exit(2);
    }
  }
  return o;
}

// The header block as NATS sends and the file store keeps it: "NATS/1.0\r\n",
// one "Key: Value\r\n" per header, and a closing "\r\n".
std::size_t header_block_bytes(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::size_t n = std::strlen("NATS/1.0\r\n") + 2;
  for (const auto& [k, v] : headers) n += k.size() + 2 + v.size() + 2;
  return n;
}

// Reads the whole stream through a durable pull consumer in batches of 1,000,
// acknowledging each batch by its last message (AckAll), as a counting
// service that keeps its own snapshot would.
void read_all(jsCtx* js, std::uint64_t stored) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Config.AckPolicy = js_AckAll;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  check("pull subscribe",
        js_PullSubscribe(&sub, js, "forkjournal.events.>", "fleet-read", nullptr, &so, &jerr));
  std::uint64_t read = 0, body_bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  while (read < stored) {
    natsMsgList list{nullptr, 0};
    check("fetch", natsSubscription_Fetch(&list, sub, 1000, 5000, &jerr));
    for (int i = 0; i < list.Count; ++i) body_bytes += natsMsg_GetDataLength(list.Msgs[i]);
    read += static_cast<std::uint64_t>(list.Count);
    if (list.Count > 0) check("ack", natsMsg_Ack(list.Msgs[list.Count - 1], nullptr));
    natsMsgList_Destroy(&list);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "read back          %llu messages (%llu body bytes) through a pull consumer: %.0f msg/s\n",
      static_cast<unsigned long long>(read), static_cast<unsigned long long>(body_bytes),
      static_cast<double>(read) / seconds);
  natsSubscription_Destroy(sub);
}

// Copies the stream into a second one that sources it, as a hub stream
// gathering the sites' streams would, and reports what a copy costs there.
void source_copy(jsCtx* js, std::uint64_t stored, int replicas) {
  jsStreamSource origin{};
  origin.Name = "FORKJOURNAL";
  jsStreamSource* sources[] = {&origin};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = "FORKJOURNAL_HUB";
  sc.Storage = js_FileStorage;
  sc.Replicas = replicas;
  sc.Sources = sources;
  sc.SourcesLen = 1;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* si = nullptr;
  check("create the sourcing stream", js_AddStream(&si, js, &sc, nullptr, &jerr));
  jsStreamInfo_Destroy(si);
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    check("stream info", js_GetStreamInfo(&si, js, "FORKJOURNAL_HUB", nullptr, &jerr));
    const std::uint64_t msgs = si->State.Msgs, bytes = si->State.Bytes;
    jsStreamInfo_Destroy(si);
    if (msgs >= stored) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("sourced copy       %llu messages, %llu bytes = %.1f bytes/msg, in %.1f s\n",
                  static_cast<unsigned long long>(msgs), static_cast<unsigned long long>(bytes),
                  static_cast<double>(bytes) / static_cast<double>(msgs), seconds);
      return;
    }
    nats_Sleep(100);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  check("connect", natsConnection_ConnectTo(&nc, o.url.c_str()));
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 10000;
  jo.PublishAsync.MaxPending = 4096;
  check("jetstream context", natsConnection_JetStream(&js, nc, &jo));

  if (o.create) {
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char* subjects[] = {"forkjournal.events.>"};
    sc.Name = "FORKJOURNAL";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = o.replicas;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    jsStreamInfo* si = nullptr;
    check("create stream FORKJOURNAL", js_AddStream(&si, js, &sc, nullptr, &jerr));
    jsStreamInfo_Destroy(si);
  }

  std::mt19937_64 rng(20261129);
  std::vector<std::string> ids;
  for (int j = 0; j < o.journals; ++j) ids.push_back(hex(rng, 32));
  std::vector<std::uint64_t> last_stream_seq(ids.size(), 0);
  std::string body(static_cast<std::size_t>(o.record_bytes), '\0');
  for (auto& c : body) c = static_cast<char>(rng());
  const std::string chain = hex(rng, 64);

  std::size_t wire_headers = 0, wire_subject = 0;
  std::vector<double> latency_us;
  if (o.expect) latency_us.reserve(static_cast<std::size_t>(o.journals) * o.events);
  const auto start = std::chrono::steady_clock::now();
  for (int seq = 1; seq <= o.events; ++seq) {
    for (std::size_t j = 0; j < ids.size(); ++j) {
      const std::string subject = "forkjournal.events." + ids[j];
      const std::string seq_text = std::to_string(seq);
      const std::string msg_id = ids[j] + ":" + seq_text;
      natsMsg* msg = nullptr;
      check("message", natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(),
                                      static_cast<int>(body.size())));
      check("header", natsMsgHeader_Set(msg, "Fj-Seq", seq_text.c_str()));
      check("header", natsMsgHeader_Set(msg, "Fj-Journal", ids[j].c_str()));
      check("header", natsMsgHeader_Set(msg, "Fj-Host", o.host.c_str()));
      check("header", natsMsgHeader_Set(msg, "Fj-Chain", chain.c_str()));
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = msg_id.c_str();
      std::vector<std::pair<std::string, std::string>> sent = {{"Fj-Seq", seq_text},
                                                               {"Fj-Journal", ids[j]},
                                                               {"Fj-Host", o.host},
                                                               {"Fj-Chain", chain},
                                                               {"Nats-Msg-Id", msg_id}};
      if (o.expect) {
        po.ExpectLastSubjectSeq = last_stream_seq[j];
        if (last_stream_seq[j] != 0)
          sent.emplace_back("Nats-Expected-Last-Subject-Sequence",
                            std::to_string(last_stream_seq[j]));
        jsPubAck* ack = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        const auto t0 = std::chrono::steady_clock::now();
        check("publish", js_PublishMsg(&ack, js, msg, &po, &jerr));
        latency_us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
        last_stream_seq[j] = ack->Sequence;
        jsPubAck_Destroy(ack);
        natsMsg_Destroy(msg);
      } else {
        check("publish async", js_PublishMsgAsync(js, &msg, &po));
      }
      wire_headers += header_block_bytes(sent);
      wire_subject += subject.size();
    }
  }
  if (!o.expect) {
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 120000;
    check("publish async complete", js_PublishAsyncComplete(js, &wait));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  check("stream info", js_GetStreamInfo(&si, js, "FORKJOURNAL", nullptr, &jerr));
  const double n = static_cast<double>(o.journals) * o.events;
  std::printf("published          %.0f messages, %d journals x %d events, %s\n", n, o.journals,
              o.events,
              o.expect ? "acknowledged one at a time with ExpectLastSubjectSeq" : "asynchronous");
  std::printf("rate               %.0f msg/s (%.2f s)\n", n / seconds, seconds);
  if (o.expect && !latency_us.empty()) {
    std::sort(latency_us.begin(), latency_us.end());
    auto at = [&](double q) {
      return latency_us[static_cast<std::size_t>(q * (latency_us.size() - 1))];
    };
    std::printf("ack latency        median %.0f us, p99 %.0f us\n", at(0.5), at(0.99));
  }
  std::printf("body               %d bytes\n", o.record_bytes);
  std::printf("subject            %.1f bytes\n", static_cast<double>(wire_subject) / n);
  std::printf("header block       %.1f bytes\n", static_cast<double>(wire_headers) / n);
  std::printf("stream msgs        %llu (subjects %lld)\n",
              static_cast<unsigned long long>(si->State.Msgs),
              static_cast<long long>(si->State.NumSubjects));
  std::printf("stream bytes       %llu = %.1f bytes/msg\n",
              static_cast<unsigned long long>(si->State.Bytes),
              static_cast<double>(si->State.Bytes) / static_cast<double>(si->State.Msgs));
  const std::uint64_t stored = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  if (o.read) read_all(js, stored);
  if (o.source) source_copy(js, stored, o.replicas);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_Close();
  return 0;
}
