import { describe, expect, it } from "vitest";
import { parsePrometheusText, sumMetric } from "../../../components/ops/prometheusText";

/** The shape prometheus_client writes for SGLang (HELP/TYPE, labels, _created samples). */
const SGLANG = `# HELP sglang:num_requests_total Number of requests processed.
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{model_name="qwen",engine_type="unified",tp_rank="0"} 12.0
sglang:num_requests_total{model_name="qwen",engine_type="unified",tp_rank="1"} 3.0
# HELP sglang:num_requests_created Number of requests processed.
# TYPE sglang:num_requests_created gauge
sglang:num_requests_created{model_name="qwen",engine_type="unified",tp_rank="0"} 1.7653e+09
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="qwen"} 0.0
sglang:e2e_request_latency_seconds_bucket{le="+Inf",model_name="qwen"} 15
`;

describe("parsePrometheusText", () => {
  it("reads samples with labels, types, exponents and +Inf; sums a metric over its label sets", () => {
    const scrape = parsePrometheusText(SGLANG);
    expect(scrape.types["sglang:num_requests_total"]).toBe("counter");
    expect(sumMetric(scrape, "sglang:num_requests_total")).toBe(15);
    expect(sumMetric(scrape, "sglang:num_requests_created")).toBe(1.7653e9);
    expect(sumMetric(scrape, "sglang:num_running_reqs")).toBe(0);
    expect(scrape.samples.find((s) => s.name.endsWith("_bucket"))?.labels).toEqual({ le: "+Inf", model_name: "qwen" });
    expect(sumMetric(scrape, "smg_router_requests_total")).toBeUndefined();
  });

  it("reads escaped label values, a trailing comma, a timestamp and CRLF line ends", () => {
    const scrape = parsePrometheusText('smg_router_requests_total{route="/v1/chat/completions",model="a\\"b,c}",} 7 1733612400000\r\n');
    expect(scrape.samples).toEqual([{ name: "smg_router_requests_total", labels: { route: "/v1/chat/completions", model: 'a"b,c}' }, value: 7 }]);
  });

  it("refuses what it cannot read, naming the line, instead of guessing a counter", () => {
    expect(() => parsePrometheusText("ok 1\n<html>502 Bad Gateway</html>")).toThrow(/line 2 is not a Prometheus sample/);
    expect(() => parsePrometheusText("x{a=unquoted} 1")).toThrow(/line 1: cannot read the labels/);
    expect(() => parsePrometheusText("x 12abc")).toThrow(/line 1/);
  });
});
