import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import type { buildConnector } from 'undici';
import { describe, expect, it } from 'vitest';
import { assertOutboundAllowed, guardedConnector, isLoopbackHost, LoopbackOnlyError } from './guard.ts';

const ON = { LLM_FLEET_LOOPBACK_ONLY: '1' };

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['[::1]', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['192.168.86.201', false],
    ['10.0.0.1', false],
    ['example.com', false],
    ['127.0.0.1.nip.io', false],
    ['::', false],
  ])('%s → %s', (host, expected) => expect(isLoopbackHost(host)).toBe(expected));
});

describe('the loopback guard', () => {
  it('refuses a non-loopback URL at once when LLM_FLEET_LOOPBACK_ONLY is set, and allows it otherwise', () => {
    expect(() => assertOutboundAllowed('http://192.168.86.201:8000', ON)).toThrow(LoopbackOnlyError);
    expect(() => assertOutboundAllowed('http://127.0.0.1:8000', ON)).not.toThrow();
    expect(() =>
      assertOutboundAllowed('http://192.168.86.201:8000', { LLM_FLEET_LOOPBACK_ONLY: '0' }),
    ).not.toThrow();
  });

  it('never lets the connector dial a non-loopback address', async () => {
    const dialled: string[] = [];
    const inner: buildConnector.connector = (opts, callback) => {
      dialled.push(opts.hostname);
      callback(new Error('not dialled in this test'), null);
    };
    const connect = guardedConnector({}, ON, inner);
    const attempt = (hostname: string) =>
      new Promise<Error | null>((resolve) =>
        connect(
          {
            hostname,
            host: hostname,
            protocol: 'http:',
            port: '8000',
            servername: undefined,
            localAddress: null,
            httpSocket: undefined,
          },
          (...args: [null, unknown] | [Error, null]) => resolve(args[0]),
        ),
      );
    const refused = await attempt('192.168.86.201');
    expect(refused).toBeInstanceOf(LoopbackOnlyError);
    expect(refused?.message).toContain('refusing to connect to 192.168.86.201:8000');
    await attempt('127.0.0.1');
    expect(dialled).toEqual(['127.0.0.1']);
  });

  it('lets real loopback traffic through an undici Agent built with it', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new Agent({ connect: guardedConnector({}, ON) });
    try {
      const res = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
        dispatcher: agent,
      });
      expect(await res.body.text()).toBe('ok');
    } finally {
      await agent.close();
      server.close();
    }
  });
});
