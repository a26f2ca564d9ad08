import { describe, expect, it } from 'vitest';
import { parseLoadGauges } from './server-state.ts';

describe('parseLoadGauges', () => {
  it('reads vLLM running, waiting and KV-cache usage, summed over engines', () => {
    const text = [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{engine="0",model_name="qwen3-coder"} 2.0',
      'vllm:num_requests_running{engine="1",model_name="qwen3-coder"} 1.0',
      'vllm:num_requests_waiting{engine="0",model_name="qwen3-coder"} 3.0',
      'vllm:kv_cache_usage_perc{engine="0",model_name="qwen3-coder"} 0.125',
      'vllm:num_requests_running_total 99',
    ].join('\n');
    expect(parseLoadGauges(text)).toEqual({ requestsRunning: 3, requestsWaiting: 3, kvCacheUsage: 0.125 });
  });

  it('falls back to the deprecated gpu_cache_usage_perc name', () => {
    expect(parseLoadGauges('vllm:gpu_cache_usage_perc{model_name="m"} 0.5\n').kvCacheUsage).toBe(0.5);
  });

  it('leaves what the server does not expose undefined', () => {
    expect(parseLoadGauges('')).toEqual({
      kvCacheUsage: undefined,
      requestsRunning: undefined,
      requestsWaiting: undefined,
    });
  });
});
