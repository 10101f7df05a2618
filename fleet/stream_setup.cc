#include "fleet/stream_setup.h"

#include "fleet/internal/nats.h"
#include "fleet/stream.h"

#include <chrono>
#include <vector>

namespace fj::fleet {
namespace {

constexpr std::chrono::milliseconds kSetupTimeout{10000};

StreamSetup summary(const jsStreamInfo& info, bool created) {
  return StreamSetup{created, int(info.Config->Replicas), info.State.Msgs, info.Config->Duplicates};
}

// The stream's subjects as a list for a message, at most a few of them.
std::string subject_list(const jsStreamConfig& have) {
  if (have.SubjectsLen <= 0) return "none";
  constexpr int kShown = 4;
  std::string text;
  for (int i = 0; i < have.SubjectsLen && i < kShown; ++i)
    text += (i == 0 ? "" : " ") + std::string(have.Subjects[i]);
  if (have.SubjectsLen > kShown)
    text += " and " + std::to_string(have.SubjectsLen - kShown) + " more";
  return text;
}

// What differs between an existing stream and the one init_stream makes,
// each with the value it has; empty when nothing does.
std::string differences(const jsStreamConfig& have, int replicas) {
  std::vector<std::string> out;
  const bool subjects_match =
      have.SubjectsLen == 1 && std::string_view(have.Subjects[0]) == kStreamSubjects;
  if (!subjects_match) {
    out.push_back("subjects " + subject_list(have) + ", not only " + std::string(kStreamSubjects));
  }
  if (have.Storage != js_FileStorage) out.push_back("memory storage, not file");
  if (have.Replicas != replicas) {
    out.push_back("replicas " + std::to_string(have.Replicas) + ", not " +
                  std::to_string(replicas));
  }
  if (have.Retention != js_LimitsPolicy) out.push_back("retention is not limits");
  if (!have.AllowDirect) out.push_back("direct gets are not allowed");
  if (have.MaxMsgs > 0 || have.MaxBytes > 0 || have.MaxAge > 0 || have.MaxMsgsPerSubject > 0)
    out.push_back("it has limits that drop messages");
  std::string text;
  for (const std::string& d : out) text += (text.empty() ? "" : "; ") + d;
  return text;
}

}  // namespace

Result<StreamSetup> init_stream(const std::string& urls, int replicas) {
  if (replicas < 1 || replicas > 5)
    return make_error(Errc::invalid_argument,
                      "--replicas " + std::to_string(replicas) + " is not from 1 to 5");
  // Creating a file-backed stream (in a cluster, electing its group) can
  // take longer than a publish: a loaded server took over the client's
  // 2 s default. A one-off command can wait.
  nats::ConnectOptions options;
  options.timeout = kSetupTimeout;
  auto conn = nats::Connection::open(urls, options);
  if (!conn) return conn.error();
  const std::string name(kStreamName);

  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&raw, conn->js(), name.c_str(), nullptr, &jerr);
  if (s == NATS_OK) {
    nats::StreamInfoPtr info(raw);
    if (const std::string diff = differences(*info->Config, replicas); !diff.empty()) {
      // What to do depends on the difference: some (replicas, subjects) the
      // nats tool can change in place, storage only by deleting the stream.
      return make_error(Errc::already_exists,
                        "stream " + name + " exists with another configuration: " + diff +
                            " (change it with 'nats stream edit " + name +
                            "', or, if it holds nothing to keep, delete it with 'nats stream rm " +
                            name + "' and run this again)");
    }
    return summary(*info, false);
  }
  if (jerr != JSStreamNotFoundErr) return nats::error_from("reading stream " + name, s, jerr);

  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const std::string subjects(kStreamSubjects);
  const char* subject_list[] = {subjects.c_str()};
  cfg.Name = name.c_str();
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.Replicas = replicas;
  // Readers walk a subject by direct gets, answered by any replica.
  cfg.AllowDirect = true;
  jerr = jsErrCode(0);
  s = js_AddStream(&raw, conn->js(), &cfg, nullptr, &jerr);
  if (s != NATS_OK) return nats::error_from("creating stream " + name, s, jerr);
  nats::StreamInfoPtr info(raw);
  return summary(*info, true);
}

}  // namespace fj::fleet
