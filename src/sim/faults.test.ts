import { describe, expect, it } from 'vitest';
import { FaultPicker, FaultSyntaxError, formatFault, parseFaults } from './faults.ts';
import { mulberry32 } from './generator.ts';

describe('fault syntax', () => {
  it.each([
    ['down', [{ kind: 'down' }]],
    ['503:retry-after=2,fraction=0.5', [{ kind: 'http-503', retryAfterSeconds: 2, fraction: 0.5 }]],
    ['429:retry-after=3s', [{ kind: 'http-429', retryAfterSeconds: 3 }]],
    ['cut:after=20,first=3', [{ kind: 'cut', afterTokens: 20, firstRequests: 3 }]],
    ['flap:down=5s,period=30s', [{ kind: 'flap', downMs: 5000, periodMs: 30000 }]],
    ['slow-decode:after=1,rate=1', [{ kind: 'slow-decode', afterTokens: 1, tokensPerSecond: 1 }]],
    [
      'stall:after=4,delay=1.5s; no-done',
      [{ kind: 'stall', afterTokens: 4, delayMs: 1500 }, { kind: 'no-done' }],
    ],
    ['500:fraction=10%,scope=all', [{ kind: 'http-500', fraction: 0.1, scope: 'all' }]],
  ])('%s', (text, expected) => {
    expect(parseFaults(text)).toEqual(expected);
  });

  it.each(['explode', '503:retry=2', 'cut:after=x', '503:fraction=2', 'flap:down=5 s'])(
    'rejects %s',
    (text) => {
      expect(() => parseFaults(text)).toThrow(FaultSyntaxError);
    },
  );

  it('formats back to something that parses to the same spec', () => {
    const [spec] = parseFaults('503:retry-after=2,first=3');
    expect(parseFaults(formatFault(spec!))).toEqual([spec]);
  });
});

describe('which requests a fault hits', () => {
  it('first K counts only requests it could hit; endpoint faults never hit a request', () => {
    const picker = new FaultPicker(mulberry32(1));
    picker.set([{ kind: 'down' }, { kind: 'http-503', firstRequests: 2 }]);
    expect(picker.pick(false)).toBeUndefined();
    expect([picker.pick(true), picker.pick(true), picker.pick(true)].map((f) => f?.kind)).toEqual([
      'http-503',
      'http-503',
      undefined,
    ]);
  });

  it('a fraction hits about that share, reproducibly for a seed', () => {
    const run = (): number => {
      const picker = new FaultPicker(mulberry32(7));
      picker.set([{ kind: 'http-500', fraction: 0.25 }]);
      let hits = 0;
      for (let i = 0; i < 4000; i++) if (picker.pick(true)) hits++;
      return hits;
    };
    const hits = run();
    expect(hits).toBe(run());
    expect(hits / 4000).toBeGreaterThan(0.22);
    expect(hits / 4000).toBeLessThan(0.28);
  });
});
