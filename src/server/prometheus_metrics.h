#pragma once
// ServingMetrics in Prometheus' text exposition format (version 0.0.4), for GET /metrics.
#include <jisu/serving_metrics.h>

#include <string>

namespace jisu::server {

std::string prometheus_text(const ServingMetrics& metrics);

}  // namespace jisu::server
