#include "cli/bench_report.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace chat {
namespace bench {
namespace {

// Keys in the order they are set: scripts and tests read the line as it was
// when it was written with printf.
using Json = nlohmann::ordered_json;

// The figures keep the precision printf gave them ("%.3f" and the like):
// `v` rounded to `decimals` places, which nlohmann/json prints in the
// fewest digits that read back the same ("1.5", not "1.500"; "2.0").
double Round(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

// What "%.0f" printed: a whole number (null when not finite, which printf
// printed as "nan" or "inf", invalid JSON).
Json Whole(double v) {
  if (!std::isfinite(v)) return nullptr;
  return static_cast<int64_t>(std::llround(v));
}

// What "%g" printed for the user's own figure (--rate): a whole number when
// it is one, else the number.
Json Plain(double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    return static_cast<int64_t>(v);
  }
  return v;
}

std::string Dump(const Json& j) {
  // Invalid UTF-8 in a text (a server's reason, say) becomes U+FFFD rather
  // than an exception.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Micros(uint64_t ns) {
  char buf[32];
  if (ns >= 10000000) {
    std::snprintf(buf, sizeof(buf), "%.0f ms", ns / 1e6);
  } else if (ns >= 1000000) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f us", ns / 1e3);
  }
  return buf;
}

Json ServersJson(const std::vector<ServerShare>& servers) {
  Json list = Json::array();
  for (const ServerShare& s : servers) {
    Json one;
    one["transport"] = s.transport;
    one["address"] = s.address;
    one["members"] = s.members;
    one["pid"] = s.pid;
    list.push_back(std::move(one));
  }
  return list;
}

// The summary's lines for the servers, one each (none with one server).
void PrintServers(const std::vector<ServerShare>& servers) {
  for (const ServerShare& s : servers) {
    std::printf("  server       %s %s: %d members%s\n", s.transport.c_str(),
                s.address.c_str(), s.members,
                s.pid > 0 ? absl::StrCat(", pid ", s.pid).c_str() : "");
  }
}

std::string Pids(const std::vector<int>& pids) {
  return absl::StrCat(pids.size() > 1 ? "pids " : "pid ",
                      absl::StrJoin(pids, ","),
                      pids.size() > 1 ? " (summed)" : "");
}

double PerSecond(const LoadReport& r) {
  return r.elapsed_s > 0 ? r.deliveries / r.elapsed_s : 0;
}

// Deliveries, for "per delivery" figures: at least 1.
double PerDeliveryDivisor(const LoadReport& r) {
  return std::max<double>(r.deliveries, 1);
}

}  // namespace

std::string LoadJson(const Options& o, const LoadReport& r) {
  const double d = PerDeliveryDivisor(r);
  const Histogram& lat = r.latency;
  Json j;
  j["transport"] = o.transport;
  j["receivers"] = o.receivers;
  j["senders"] = o.senders;
  j["messages"] = o.messages;
  j["size"] = o.size;
  j["rate"] = Plain(o.rate);
  j["window"] = o.window;
  j["channels"] = r.channels;
  j["join_s"] = Round(r.join_s, 3);
  j["sent"] = r.sent;
  j["expected"] = r.expected;
  j["deliveries"] = r.deliveries;
  j["elapsed_s"] = Round(r.elapsed_s, 4);
  j["deliveries_per_s"] = Whole(PerSecond(r));
  Json& latency = j["latency_us"];
  latency["p50"] = Round(lat.Percentile(50) / 1e3, 1);
  latency["p90"] = Round(lat.Percentile(90) / 1e3, 1);
  latency["p99"] = Round(lat.Percentile(99) / 1e3, 1);
  latency["p999"] = Round(lat.Percentile(99.9) / 1e3, 1);
  latency["max"] = Round(lat.max() / 1e3, 1);
  latency["mean"] = Round(lat.mean() / 1e3, 1);
  j["lost"] = r.lost;
  j["duplicated"] = r.duplicated;
  j["out_of_order"] = r.out_of_order;
  j["unknown"] = r.unknown;
  j["server_pid"] = r.server_pid;
  j["server_cpu_s"] = Round(r.server_cpu_s, 3);
  j["server_cpu_us_per_delivery"] = Round(r.server_cpu_s * 1e6 / d, 4);
  j["server_cpu_s_per_million"] = Round(r.server_cpu_s * 1e6 / d, 3);
  j["client_cpu_s"] = Round(r.client_cpu_s, 3);
  j["client_cpu_us_per_delivery"] = Round(r.client_cpu_s * 1e6 / d, 4);
  j["ok"] = r.ok();
  j["failure"] = r.failure;
  if (!r.servers.empty()) {
    j["servers"] = ServersJson(r.servers);
    j["server_pids"] = r.server_pids;
    j["order_mismatch"] = r.order_mismatch;
  }
  return Dump(j);
}

int PrintLoadReport(const Options& o, const LoadReport& r) {
  const double per_s = PerSecond(r);
  const double d = PerDeliveryDivisor(r);
  const Histogram& lat = r.latency;
  if (o.json) {
    std::printf("%s\n", LoadJson(o, r).c_str());
  } else {
    std::printf("chatctl bench: %s, %d receivers, %d sender%s, %" PRIu64
                " messages each of %zu bytes, %s, channels %zu\n",
                o.transport.c_str(), o.receivers, o.senders,
                o.senders == 1 ? "" : "s", o.messages, o.size,
                o.rate > 0
                    ? absl::StrCat("rate ", o.rate, "/s").c_str()
                    : absl::StrCat("rate max (window ", o.window, ")").c_str(),
                r.channels);
    std::printf("  joined       %d receivers and %d senders in %.2f s\n",
                o.receivers, o.senders, r.join_s);
    PrintServers(r.servers);
    std::printf("  deliveries   %" PRIu64 " of %" PRIu64 " in %.3f s = %s/s\n",
                r.deliveries, r.expected, r.elapsed_s,
                FormatRate(per_s).c_str());
    std::printf(
        "  latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
        Micros(lat.Percentile(50)).c_str(), Micros(lat.Percentile(90)).c_str(),
        Micros(lat.Percentile(99)).c_str(),
        Micros(lat.Percentile(99.9)).c_str(), Micros(lat.max()).c_str());
    std::printf("  checks       lost %" PRIu64 "  duplicated %" PRIu64
                "  out of order %" PRIu64 "\n",
                r.lost, r.duplicated, r.out_of_order);
    if (!r.servers.empty() || r.order_mismatch > 0) {
      std::printf("  one order    %" PRIu64
                  " receivers saw another interleaving of the senders\n",
                  r.order_mismatch);
    }
    if (r.server_cpu_s >= 0) {
      std::printf(
          "  server cpu   %.2f s = %.3f us/delivery (%.2f s per million), "
          "%s\n",
          r.server_cpu_s, r.server_cpu_s * 1e6 / d, r.server_cpu_s * 1e6 / d,
          r.server_pids.empty() ? absl::StrCat("pid ", r.server_pid).c_str()
                                : Pids(r.server_pids).c_str());
    } else {
      std::printf("  server cpu   unknown (pass --server_pid)\n");
    }
    std::printf("  client cpu   %.2f s = %.3f us/delivery\n", r.client_cpu_s,
                r.client_cpu_s * 1e6 / d);
  }
  std::fflush(stdout);
  if (!r.ok()) {
    std::fprintf(
        stderr,
        "chatctl bench: FAILED: %" PRIu64 " lost, %" PRIu64
        " duplicated, %" PRIu64 " out of order%s%s%s%s\n",
        r.lost, r.duplicated, r.out_of_order,
        r.order_mismatch > 0
            ? absl::StrCat(", ", r.order_mismatch,
                           " receivers saw the senders' messages interleaved "
                           "in another order")
                  .c_str()
            : "",
        r.failure.empty() ? "" : "; ", r.failure.c_str(),
        r.disconnected > 0
            ? absl::StrCat("; ", r.disconnected,
                           " receivers were disconnected: ", r.disconnected_why)
                  .c_str()
            : "");
    return 1;
  }
  if (!o.json) std::printf("  OK: every delivery arrived once, in order\n");
  return 0;
}

std::string IdleJson(const Options& o, const IdleReport& r) {
  Json j;
  j["transport"] = o.transport;
  j["connections"] = o.connections;
  j["rooms"] = o.rooms;
  j["connect_s"] = Round(r.connect_s, 3);
  j["join_s"] = Round(r.join_s, 3);
  j["joins_per_s"] = Whole(o.connections / r.join_s);
  j["server_pid"] = r.server_pid;
  j["server_rss_before_kib"] = Whole(r.server_rss_before_kib);
  j["server_rss_after_kib"] = Whole(r.server_rss_after_kib);
  j["server_kib_per_member"] = Round(r.server_kib_per_member, 2);
  j["server_cpu_s"] = Round(r.server_cpu_s, 3);
  j["client_cpu_s"] = Round(r.client_cpu_s, 3);
  j["client_kib_per_member"] = Round(r.client_kib_per_member, 2);
  j["ok"] = true;
  if (!r.servers.empty()) {
    j["servers"] = ServersJson(r.servers);
    j["server_pids"] = r.server_pids;
  }
  return Dump(j);
}

void PrintIdleReport(const Options& o, const IdleReport& r) {
  if (o.json) {
    std::printf("%s\n", IdleJson(o, r).c_str());
  } else {
    std::printf("chatctl bench --idle: %d %s members in %d room%s\n",
                o.connections, o.transport.c_str(), o.rooms,
                o.rooms == 1 ? "" : "s");
    std::printf(
        "  joined       all in %.2f s (%.0f joins/s; connects took "
        "%.2f s)\n",
        r.join_s, o.connections / r.join_s, r.connect_s);
    PrintServers(r.servers);
    if (r.server_known) {
      std::printf(
          "  server rss   %.1f MiB -> %.1f MiB = %.2f KiB per member "
          "(%s)\n",
          r.server_rss_before_kib / 1024, r.server_rss_after_kib / 1024,
          r.server_kib_per_member,
          r.server_pids.empty() ? absl::StrCat("pid ", r.server_pid).c_str()
                                : Pids(r.server_pids).c_str());
      std::printf("  server cpu   %.2f s for the joins\n", r.server_cpu_s);
    } else {
      std::printf("  server rss   unknown (pass --server_pid)\n");
    }
    std::printf(
        "  client       %.2f KiB RSS per member, %.2f s CPU for the joins\n",
        r.client_kib_per_member, r.client_cpu_s);
  }
  std::fflush(stdout);
}

}  // namespace bench
}  // namespace chat
