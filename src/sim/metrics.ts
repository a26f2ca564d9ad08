// The simulated servers' Prometheus /metrics: vLLM's names and histogram buckets (v1 loggers),
// llama.cpp's `llamacpp:` counters and gauges, TEI's `te_*`. mlx_lm has none. Values come from
// the simulated requests, so a monitor that reads /metrics sees the same story a client sees.
import type { Dialect } from '../fleet/types.ts';

// vllm/v1/metrics/loggers.py
const TTFT_BUCKETS_S = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
  80.0, 160.0, 640.0, 2560.0,
];
const ITL_BUCKETS_S = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const REQUEST_LATENCY_BUCKETS_S = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
  960.0, 1920.0, 7680.0,
];
const TE_DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class Histogram {
  readonly buckets: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
    this.counts = buckets.map(() => 0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    // Counts per bucket (not cumulative) so one increment per observation; cumulated when rendered.
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    if (i < this.counts.length) this.counts[i]!++;
  }
  render(name: string, labels: string, help: string): string {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
    let cumulative = 0;
    this.buckets.forEach((b, i) => {
      cumulative += this.counts[i] as number;
      out += `${name}_bucket{${labels},le="${formatLe(b)}"} ${cumulative}\n`;
    });
    out += `${name}_bucket{${labels},le="+Inf"} ${this.count}\n`;
    out += `${name}_count{${labels}} ${this.count}\n${name}_sum{${labels}} ${this.sum}\n`;
    return out;
  }
}

function formatLe(b: number): string {
  return Number.isInteger(b) ? `${b}.0` : String(b);
}

export class SimMetrics {
  readonly startedAtS = Date.now() / 1000;
  /** The engine's gauges (vLLM running/waiting, llama.cpp processing/deferred), set by the engine. */
  running = 0;
  waiting = 0;
  /** Used KV blocks / all blocks (vLLM). */
  kvCacheUsage = 0;
  preemptions = 0;
  promptTokens = 0;
  cachedPromptTokens = 0;
  generationTokens = 0;
  prefixQueries = 0;
  prefixHits = 0;
  promptSeconds = 0;
  decodeSeconds = 0;
  readonly success = { stop: 0, length: 0, abort: 0 };
  readonly ttft = new Histogram(TTFT_BUCKETS_S);
  readonly itl = new Histogram(ITL_BUCKETS_S);
  readonly e2e = new Histogram(REQUEST_LATENCY_BUCKETS_S);
  readonly queue = new Histogram(REQUEST_LATENCY_BUCKETS_S);
  readonly teDuration = new Histogram(TE_DURATION_BUCKETS_S);
  teRequests = 0;
  teSuccess = 0;
  teFailure = 0;

  render(dialect: Dialect, model: string): string | undefined {
    if (dialect === 'vllm') return this.renderVllm(model);
    if (dialect === 'llamacpp') return this.renderLlamacpp();
    if (dialect === 'tei') return this.renderTei();
    return undefined;
  }

  private renderVllm(model: string): string {
    const l = `engine="0",model_name=${JSON.stringify(model)}`;
    const gauge = (name: string, help: string, v: number): string =>
      `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}{${l}} ${v}\n`;
    const counter = (name: string, help: string, v: number, extra = ''): string =>
      `# HELP ${name} ${help}\n# TYPE ${name} counter\n${name}{${l}${extra}} ${v}\n`;
    let out = '';
    out += gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', this.running);
    out += gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', this.waiting);
    out += gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', this.kvCacheUsage);
    out += counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', this.promptTokens);
    out += counter(
      'vllm:generation_tokens_total',
      'Number of generation tokens processed.',
      this.generationTokens,
    );
    out += counter(
      'vllm:prefix_cache_queries_total',
      'Prefix cache queries, in terms of number of queried tokens.',
      this.prefixQueries,
    );
    out += counter(
      'vllm:prefix_cache_hits_total',
      'Prefix cache hits, in terms of number of cached tokens.',
      this.prefixHits,
    );
    out += counter(
      'vllm:num_preemptions_total',
      'Cumulative number of preemption from the engine.',
      this.preemptions,
    );
    out += `# HELP vllm:request_success_total Count of successfully processed requests.\n# TYPE vllm:request_success_total counter\n`;
    for (const reason of ['stop', 'length', 'abort'] as const) {
      out += `vllm:request_success_total{${l},finished_reason="${reason}"} ${this.success[reason]}\n`;
    }
    out += this.ttft.render(
      'vllm:time_to_first_token_seconds',
      l,
      'Histogram of time to first token in seconds.',
    );
    out += this.itl.render(
      'vllm:inter_token_latency_seconds',
      l,
      'Histogram of inter-token latency in seconds.',
    );
    out += this.itl.render(
      'vllm:time_per_output_token_seconds',
      l,
      'Histogram of time per output token in seconds. DEPRECATED: Use vllm:inter_token_latency_seconds instead.',
    );
    out += this.e2e.render(
      'vllm:e2e_request_latency_seconds',
      l,
      'Histogram of e2e request latency in seconds.',
    );
    out += this.queue.render(
      'vllm:request_queue_time_seconds',
      l,
      'Histogram of time spent in WAITING phase for request.',
    );
    return out;
  }

  private renderLlamacpp(): string {
    const line = (type: string, name: string, help: string, v: number): string =>
      `# HELP llamacpp:${name} ${help}\n# TYPE llamacpp:${name} ${type}\n llamacpp:${name} ${v}\n`.replace(
        '\n llamacpp',
        '\nllamacpp',
      );
    let out = '';
    out += line('counter', 'prompt_tokens_total', 'Number of prompt tokens processed.', this.promptTokens);
    out += line(
      'counter',
      'prompt_tokens_cached_total',
      'Number of prompt tokens served from the cache.',
      this.cachedPromptTokens,
    );
    out += line('counter', 'prompt_seconds_total', 'Prompt process time', this.promptSeconds);
    out += line(
      'counter',
      'tokens_predicted_total',
      'Number of generation tokens processed.',
      this.generationTokens,
    );
    out += line('counter', 'tokens_predicted_seconds_total', 'Predict process time', this.decodeSeconds);
    out += line('counter', 'n_decode_total', 'Total number of llama_decode() calls', this.generationTokens);
    out += line(
      'gauge',
      'prompt_tokens_seconds',
      'Average prompt throughput in tokens/s.',
      this.promptSeconds > 0 ? this.promptTokens / this.promptSeconds : 0,
    );
    out += line(
      'gauge',
      'predicted_tokens_seconds',
      'Average generation throughput in tokens/s.',
      this.decodeSeconds > 0 ? this.generationTokens / this.decodeSeconds : 0,
    );
    out += line('gauge', 'requests_processing', 'Number of requests processing.', this.running);
    out += line('gauge', 'requests_deferred', 'Number of requests deferred.', this.waiting);
    return out;
  }

  private renderTei(): string {
    let out = '';
    out += `# TYPE te_request_count counter\nte_request_count{method="batch"} ${this.teRequests}\n`;
    out += `# TYPE te_request_success counter\nte_request_success{method="batch"} ${this.teSuccess}\n`;
    out += `# TYPE te_request_failure counter\nte_request_failure{err="overloaded"} ${this.teFailure}\n`;
    out += this.teDuration
      .render('te_request_duration', 'method="batch"', 'Request duration')
      .replace(/^# HELP.*\n/, '');
    out += `# TYPE te_queue_size gauge\nte_queue_size ${this.waiting}\n`;
    return out;
  }
}
