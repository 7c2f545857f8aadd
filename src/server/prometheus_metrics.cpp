#include "server/prometheus_metrics.h"

#include <cstdio>

namespace jisu::server {
namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, const std::string& name, double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  out.append(name).append(" ").append(text).append("\n");
}

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  header(out, name, type, help);
  sample(out, name, value);
}

void histogram(std::string& out, const char* name, const char* help, const LatencyHistogram& h) {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.kBounds.size(); ++i) {
    cumulative += h.counts[i];
    char bound[32];
    std::snprintf(bound, sizeof bound, "%g", h.kBounds[i]);
    sample(out, std::string(name) + "_bucket{le=\"" + bound + "\"}", static_cast<double>(cumulative));
  }
  sample(out, std::string(name) + "_bucket{le=\"+Inf\"}", static_cast<double>(h.count));
  sample(out, std::string(name) + "_sum", h.sum);
  sample(out, std::string(name) + "_count", static_cast<double>(h.count));
}

}  // namespace

std::string prometheus_text(const ServingMetrics& m) {
  std::string out;
  out.reserve(4096);
  header(out, "jisu_requests_total", "counter", "Requests by outcome.");
  sample(out, "jisu_requests_total{outcome=\"submitted\"}", static_cast<double>(m.requests_submitted));
  sample(out, "jisu_requests_total{outcome=\"finished\"}", static_cast<double>(m.requests_finished));
  sample(out, "jisu_requests_total{outcome=\"cancelled\"}", static_cast<double>(m.requests_cancelled));
  sample(out, "jisu_requests_total{outcome=\"rejected\"}", static_cast<double>(m.requests_rejected));
  metric(out, "jisu_prompt_tokens_total", "counter", "Prompt tokens of ended requests.",
         static_cast<double>(m.prompt_tokens));
  metric(out, "jisu_generation_tokens_total", "counter", "Generated tokens of ended requests.",
         static_cast<double>(m.generated_tokens));
  metric(out, "jisu_forward_tokens_total", "counter", "Tokens evaluated by forward passes.",
         static_cast<double>(m.forward_tokens));
  metric(out, "jisu_forward_steps_total", "counter", "Forward passes (engine steps).",
         static_cast<double>(m.forward_steps));
  metric(out, "jisu_prefix_cache_hit_tokens_total", "counter",
         "Prompt positions reused from the prefix cache instead of computed.",
         static_cast<double>(m.prefix_cache_hit_tokens));
  metric(out, "jisu_draft_tokens_total", "counter", "Speculative decoding: draft tokens proposed for verification.",
         static_cast<double>(m.draft_tokens));
  metric(out, "jisu_accepted_draft_tokens_total", "counter", "Speculative decoding: draft tokens accepted.",
         static_cast<double>(m.accepted_draft_tokens));
  metric(out, "jisu_preemptions_total", "counter", "Requests preempted for lack of KV blocks.",
         static_cast<double>(m.preemptions));
  metric(out, "jisu_queue_length", "gauge", "Requests waiting for admission.", static_cast<double>(m.queue_length));
  metric(out, "jisu_running_requests", "gauge", "Requests being generated.", static_cast<double>(m.running));
  metric(out, "jisu_kv_blocks_total", "gauge", "KV cache blocks.", static_cast<double>(m.kv_blocks_total));
  metric(out, "jisu_kv_blocks_used", "gauge", "KV cache blocks referenced by sequences.",
         static_cast<double>(m.kv_blocks_used));
  metric(out, "jisu_kv_blocks_cached", "gauge", "Free KV blocks still holding a reusable prefix.",
         static_cast<double>(m.kv_blocks_cached));
  histogram(out, "jisu_time_to_first_token_seconds", "Time from submission to the first token.",
            m.time_to_first_token);
  histogram(out, "jisu_inter_token_latency_seconds", "Time between consecutive tokens of a request.",
            m.inter_token_latency);
  return out;
}

}  // namespace jisu::server
