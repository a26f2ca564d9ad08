import { describe, expect, it } from 'vitest';
import type { Fleet } from '../fleet/index.ts';
import { loadFleet } from '../fleet/index.ts';
import type { MinuteBucket } from './buckets.ts';
import type { Fingerprint } from './fingerprint.ts';
import { hardwareDescription } from './fingerprint.ts';
import type { TriggerInputs } from './triggers.ts';
import { recalibrationTriggers } from './triggers.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} }); // sustained: 5% over 1h, ≥ 100 requests
const coder = fleet.endpoints.find((e) => e.name === 'coder')!;
const MIN = 60_000;
const NOW = 1000 * MIN;

const calibrated: Fingerprint = {
  endpoint: 'coder',
  model: 'Qwen/Qwen3-Coder-30B-A3B-Instruct-AWQ',
  maxModelLen: 65536,
  serverVersion: 'vllm 0.11.0',
  hostHardware: hardwareDescription(fleet, coder),
  atMs: 10 * MIN,
};

function p95Buckets(total: number, bad: number, fromMinute = 940): MinuteBucket[] {
  return [
    {
      endpoint: 'coder',
      objectiveId: 'coder-ttft-p95',
      minuteStartMs: fromMinute * MIN,
      good: total - bad,
      total,
    },
  ];
}

function triggers(over: Partial<TriggerInputs>, f: Fleet = fleet) {
  return recalibrationTriggers(
    f,
    f.endpoints.find((e) => e.name === 'coder')!,
    {
      buckets: [],
      calibrated: [calibrated],
      observed: [{ ...calibrated, hostHardware: undefined, atMs: NOW - MIN }],
      marks: [],
      nowMs: NOW,
      ...over,
    },
  );
}

describe('recalibration triggers', () => {
  it('none while nothing changed and the P95 target holds', () => {
    expect(triggers({ buckets: p95Buckets(200, 10) })).toEqual([]); // exactly 5% is not more than 5%
  });

  it('sustained violations: more than 5% over the P95 target within the hour, with enough requests', () => {
    const [t, ...rest] = triggers({ buckets: p95Buckets(200, 11) });
    expect(rest).toEqual([]);
    expect(t?.kind).toBe('sustained-violations');
    expect(t?.violations).toEqual({ bad: 11, total: 200, ratio: 0.055, windowMs: 3_600_000 });
    expect(t?.evidence).toBe(
      '11 of 200 requests (5.5%) over the P95 target 2000 ms in the last 1 h; limit 5% with at least 100 requests',
    );
  });

  it('not with fewer requests than the minimum, nor for violations older than the window', () => {
    expect(triggers({ buckets: p95Buckets(99, 50) })).toEqual([]);
    expect(triggers({ buckets: p95Buckets(200, 100, 939) })).toEqual([]); // minute 939 < now − 60
  });

  it('changed fingerprint: model, context or server version differ from calibration', () => {
    const observed = [
      {
        ...calibrated,
        model: 'Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8',
        serverVersion: 'vllm 0.12.0',
        atMs: NOW - MIN,
      },
    ];
    const [t] = triggers({ observed });
    expect(t?.kind).toBe('fingerprint-changed');
    expect(t?.changes?.map((c) => c.field)).toEqual(['model', 'serverVersion']);
    expect(t?.evidence).toBe(
      'since calibration on 1970-01-01T00:10:00Z: model "Qwen/Qwen3-Coder-30B-A3B-Instruct-AWQ" → "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8", serverVersion "vllm 0.11.0" → "vllm 0.12.0"',
    );
  });

  it('a field the server does not report is not a change', () => {
    expect(triggers({ observed: [{ endpoint: 'coder', atMs: NOW }] })).toEqual([]);
  });

  it('changed host hardware in the fleet file', () => {
    const edited: Fleet = {
      ...fleet,
      hosts: fleet.hosts.map((h) =>
        h.name === 'gpu-server' ? { ...h, hardware: 'RTX 6000 Pro (port 8000) + RTX 4090 (port 8001)' } : h,
      ),
    };
    const [t] = triggers({}, edited);
    expect(t?.kind).toBe('hardware-changed');
    expect(t?.changes?.[0]?.current).toBe(
      'Linux GPU server; RTX 6000 Pro (port 8000) + RTX 4090 (port 8001); RTX 5090',
    );
  });

  it('a manual "after optimisation work" mark newer than the last calibration', () => {
    const marks = [
      { endpoint: 'coder', atMs: 5 * MIN, note: 'before calibration: ignored' },
      { atMs: 500 * MIN, note: 'KV cache tuning on every host' },
      { endpoint: 'coder-fast', atMs: 600 * MIN, note: 'other endpoint' },
    ];
    const [t, ...rest] = triggers({ marks });
    expect(rest).toEqual([]);
    expect(t?.kind).toBe('optimisation-work');
    expect(t?.mark?.note).toBe('KV cache tuning on every host');
  });

  it('respects the fleet file switching a trigger off', () => {
    const off: Fleet = {
      ...fleet,
      recalibration: { ...fleet.recalibration, optimizationWork: false, modelChange: false },
    };
    expect(
      triggers(
        { marks: [{ atMs: 500 * MIN, note: 'x' }], observed: [{ ...calibrated, model: 'other', atMs: NOW }] },
        off,
      ),
    ).toEqual([]);
  });
});
