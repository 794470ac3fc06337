/** The native `vllm bench serve`-compatible runner: library entry point. */
export { runBenchmark, resolveRunOptions } from "./runner";
export type { BenchmarkRunOptions, BenchmarkResult, RequestOutput, ResolvedRunOptions } from "./runner";
export { toVllmResultJson, defaultResultFilename, formatSummaryTable, formatVllmDate } from "./vllmResultJson";
export type { VllmResultJson } from "./vllmResultJson";
export { computeMetrics, mean, median, populationStd, percentile, latencySummary } from "./stats";
export type { RunnerMetrics, GoodputSlo, MetricSummary, PercentileMetric } from "./stats";
export { generateRandomDataset, SeededRandom, MAX_LENGTH_ROUNDS } from "./dataset";
export type { SampleRequest, RandomDatasetOptions } from "./dataset";
export { loadTokenizer, resolveTokenizerFile, speedUpBpeMerges, BUNDLED_TOKENIZER_ID } from "./tokenizer";
export type { LoadedTokenizer, TextTokenizer } from "./tokenizer";
export { SseMessageSplitter } from "./sse";
export { buildChatRequestBody, buildRequestHeaders } from "./request";
