import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.ts';

const options = { consecutiveFailures: 3, failureRatio: 0.5, windowSize: 10, minAttempts: 6, openMs: 1000 };

describe('CircuitBreaker', () => {
  it('opens after consecutive failures, half-opens after openMs with one probe, closes on success', () => {
    const b = new CircuitBreaker(options);
    b.failure(0);
    b.failure(1);
    expect(b.state(2)).toBe('closed');
    b.failure(2);
    expect(b.state(3)).toBe('open');
    expect(b.tryAcquire(500)).toEqual({ ok: false, why: 'circuit open' });
    expect(b.waitMs(500)).toBe(502);
    expect(b.tryAcquire(1002)).toEqual({ ok: true, probe: true });
    expect(b.tryAcquire(1003)).toMatchObject({ ok: false });
    b.success();
    expect(b.state(1004)).toBe('closed');
    expect(b.tryAcquire(1005)).toEqual({ ok: true, probe: false });
  });

  it('a failed half-open probe opens the circuit again for another openMs', () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 3; i++) b.failure(0);
    expect(b.tryAcquire(1000)).toEqual({ ok: true, probe: true });
    b.failure(1000);
    expect(b.state(1500)).toBe('open');
    expect(b.state(2000)).toBe('half-open');
  });

  it('opens on the failure ratio even without a long streak', () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 3; i++) {
      b.success();
      b.failure(i);
      b.failure(i);
    }
    expect(b.state(10)).toBe('open');
  });

  it('a released probe slot lets the next request probe', () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 3; i++) b.failure(0);
    expect(b.tryAcquire(1000)).toMatchObject({ ok: true, probe: true });
    b.release();
    expect(b.tryAcquire(1001)).toMatchObject({ ok: true, probe: true });
  });

  it('honours a Retry-After pause without opening the circuit', () => {
    const b = new CircuitBreaker(options);
    b.pause(2000);
    expect(b.tryAcquire(1999)).toMatchObject({ ok: false });
    expect(b.waitMs(1500)).toBe(500);
    expect(b.tryAcquire(2000)).toEqual({ ok: true, probe: false });
    expect(b.state(2000)).toBe('closed');
  });
});
